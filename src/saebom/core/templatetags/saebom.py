from __future__ import annotations

from django import template

from saebom.core import vocab

register = template.Library()


@register.filter
def term(code: str | None, vocabulary: str) -> str:
    """A vocabulary code shown by its label in the current language: {{ code|term:"route" }}."""
    return vocab.label(vocabulary, code)
