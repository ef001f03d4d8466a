"""Errors a user can cause. Each carries a message fit to show them as it is."""

from __future__ import annotations


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
