"""Small rules for values that services accept from people: one place for each."""

from __future__ import annotations

from typing import Any

from saebom.core import vocab
from saebom.core.exceptions import SaebomError


def clean_text(value: str | None) -> Any:
    """Free text as stored: trimmed, and NULL (not an encrypted empty string) when empty."""
    return (value or "").strip() or None


def invalid(field: str, reason: str) -> SaebomError:
    """A bad value: the message names the field first (the web shows it next to the field)."""
    return SaebomError(f"{field}: {reason}", field=field)


def vocab_code(vocabulary: str, value: str, field: str) -> str:
    """The code for ``value`` (a code or either label) in ``vocabulary``, or an error naming
    the field and the accepted codes."""
    try:
        return vocab.resolve(vocabulary, value)
    except vocab.UnknownTerm as unknown:
        raise invalid(field, str(unknown)) from None
