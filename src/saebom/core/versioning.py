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
        self, *, expected: int, current: int, changes: list[FieldChange], described: str
    ) -> None:
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


def _shown(record: models.Model | None, name: str, vocabulary: str | None) -> str:
    """A field's value as a person reads it: a coded value by its label, a reference (``*_id``)
    by the record it points to."""
    if record is None:
        return "—"
    value = (
        getattr(record, name.removesuffix("_id")) if name.endswith("_id") else getattr(record, name)
    )
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
    names = [n for n in fields if then is None or getattr(then, n) != getattr(locked, n)]
    labels = vocabularies or {}
    described = "; ".join(
        f"{n.removesuffix('_id')}: {_shown(then, n, labels.get(n))} → "
        f"{_shown(locked, n, labels.get(n))}"
        for n in names
    )
    changes = [
        FieldChange(n, getattr(then, n) if then else None, getattr(locked, n)) for n in names
    ]
    raise StaleVersion(expected=expected, current=current, changes=changes, described=described)
