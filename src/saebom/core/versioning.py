"""Optimistic concurrency: an edit names the version it started from; a stale one is refused
with what changed since, so nobody overwrites a colleague's work without seeing it.

Records that use it have a ``version`` column and django-simple-history, whose rows keep each
version's values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext

from saebom.core import vocab
from saebom.core.exceptions import Conflict


@dataclass(frozen=True)
class FieldChange:
    field: str
    then: Any
    now: Any


class StaleVersion(Conflict):
    def __init__(
        self,
        *,
        expected: int,
        current: int,
        changes: list[FieldChange],
        vocabularies: Mapping[str, str] | None = None,
    ) -> None:
        labels = vocabularies or {}
        described = "; ".join(
            f"{c.field}: {_shown(c.then, labels.get(c.field))} → "
            f"{_shown(c.now, labels.get(c.field))}"
            for c in changes
        )
        message = gettext(
            "Someone else saved this record since you opened it (your version %(expected)s, "
            "now %(current)s). Nothing of yours was saved. Changed meanwhile: %(changes)s. "
            "Reload, and apply your change again."
        ) % {
            "expected": expected,
            "current": current,
            "changes": described or gettext("nothing you can see"),
        }
        super().__init__(message)
        self.changes = changes
        self.current = current


def _shown(value: Any, vocabulary: str | None) -> str:
    if value in (None, ""):
        return "—"
    return repr(vocab.label(vocabulary, str(value)) if vocabulary else str(value))


def check_version(
    locked: models.Model,
    expected: int,
    fields: Sequence[str],
    vocabularies: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`StaleVersion` unless ``locked`` (read under ``select_for_update``) is still
    at version ``expected``. ``vocabularies`` names the vocabulary of coded fields, whose
    values the message then shows by their labels."""
    current: int = locked.version  # type: ignore[attr-defined]
    if current == expected:
        return
    then = (
        locked.history.filter(version=expected).order_by("-history_id").first()  # type: ignore[attr-defined]
        if expected < current
        else None
    )
    changes = [
        FieldChange(name, getattr(then, name) if then else None, getattr(locked, name))
        for name in fields
        if then is None or getattr(then, name) != getattr(locked, name)
    ]
    raise StaleVersion(
        expected=expected, current=current, changes=changes, vocabularies=vocabularies
    )
