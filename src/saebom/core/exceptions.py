"""Errors a user can cause. Each carries a message fit to show them as it is."""

from __future__ import annotations

import errno


class SaebomError(Exception):
    """A domain error: the CLI prints it and exits non-zero, the API answers 4xx."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(SaebomError):
    """Missing, or not visible to this user: the same answer either way."""

    status = 404


class PermissionDenied(SaebomError):
    """For actions (not objects): the role may not do this at all."""

    status = 403


class Conflict(SaebomError):
    status = 409


def storage_full(exc: BaseException) -> str:
    """What a full disk (or an exhausted quota) said, or '' when ``exc`` is something else.
    SQLite reports it as a database error, Python as an OSError, either perhaps as the cause."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in {errno.ENOSPC, errno.EDQUOT}:
            return f"{seen.strerror} ({seen.filename})" if seen.filename else str(seen.strerror)
        text = str(seen)
        if "database or disk is full" in text or "No space left on device" in text:
            return text.strip().splitlines()[0]
        seen = seen.__cause__ or seen.__context__
    return ""
