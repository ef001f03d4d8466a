"""Controlled vocabularies: codes and their Korean and English labels, from the ``Term`` table.

``resolve`` accepts what people type in files — the code, or either label — and returns the code,
or raises :class:`UnknownTerm` naming the accepted codes.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from pathlib import Path

from django.utils import translation
from django.utils.translation import gettext

from saebom.core.normalize import normalise_text

VOCABULARY_FILE = Path(__file__).parent / "data" / "vocabularies.csv"


class UnknownTerm(ValueError):
    pass


@dataclass(frozen=True)
class Entry:
    code: str
    label_ko: str
    label_en: str

    @property
    def label(self) -> str:
        return self.label_ko if translation.get_language() == "ko" else self.label_en


def shipped_terms() -> list[dict[str, str]]:
    """The vocabularies as shipped with this release (comment lines skipped)."""
    text = VOCABULARY_FILE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def load_shipped_terms(term_model: type) -> int:
    """Insert or relabel every shipped term; used by the migration and by tests that flush."""
    rows = shipped_terms()
    for row in rows:
        term_model.objects.update_or_create(  # type: ignore[attr-defined]
            vocabulary=row["vocabulary"],
            code=row["code"],
            defaults={
                "label_ko": row["label_ko"],
                "label_en": row["label_en"],
                "position": int(row["position"]),
            },
        )
    return len(rows)


@functools.cache
def entries(vocabulary: str) -> tuple[Entry, ...]:
    from saebom.core.models import Term

    terms = Term.objects.filter(vocabulary=vocabulary)
    if not terms.exists() and any(row["vocabulary"] == vocabulary for row in shipped_terms()):
        load_shipped_terms(Term)  # the table was emptied (a flushed database): restore it
    found = tuple(Entry(t.code, t.label_ko, t.label_en) for t in terms.all())
    if not found:
        raise LookupError(f"unknown vocabulary {vocabulary!r}")
    return found


@functools.cache
def _index(vocabulary: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for entry in entries(vocabulary):
        for text in (entry.code, entry.label_ko, entry.label_en):
            index.setdefault(normalise_text(text), entry.code)
    return index


def codes(vocabulary: str) -> list[str]:
    return [entry.code for entry in entries(vocabulary)]


def choices(vocabulary: str) -> list[tuple[str, str]]:
    return [(entry.code, entry.label) for entry in entries(vocabulary)]


def label(vocabulary: str, code: str | None) -> str:
    if not code:
        return ""
    for entry in entries(vocabulary):
        if entry.code == code:
            return entry.label
    return code


@functools.lru_cache(maxsize=8192)  # files repeat the same few values row after row
def resolve(vocabulary: str, value: str) -> str:
    code = _index(vocabulary).get(normalise_text(value))
    if code is None:
        known = codes(vocabulary)
        if len(known) > 20:
            raise UnknownTerm(
                gettext(
                    "%(value)r is not a known %(vocabulary)s (a code such as %(code)s, or its name)"
                )
                % {"value": value, "vocabulary": vocabulary, "code": known[0]}
            )
        raise UnknownTerm(
            gettext("%(value)r is not one of %(codes)s (or their labels)")
            % {"value": value, "codes": ", ".join(known)}
        )
    return code
