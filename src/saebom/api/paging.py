"""Limit and offset of the API's lists, in one place."""

from __future__ import annotations

MAX_LIMIT = 1000
# Further than any list reaches, and well short of 2**63, past which SQLite's integers overflow
# (that was a 500, not a page).
MAX_OFFSET = 2**31


def page(limit: int, offset: int) -> tuple[int, int]:
    """``limit`` within 1..MAX_LIMIT and ``offset`` within 0..MAX_OFFSET: a request past the
    end of a list gets an empty page, whatever number it gives."""
    return max(1, min(limit, MAX_LIMIT)), max(0, min(offset, MAX_OFFSET))
