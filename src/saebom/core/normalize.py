"""Normalisation of text before it is compared or blind-indexed."""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")


def normalise_text(value: str) -> str:
    """NFC, case-folded, with runs of white space folded to one space and the ends trimmed."""
    folded = unicodedata.normalize("NFC", value).casefold()
    return _SPACE.sub(" ", folded).strip()
