from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    """Messages are checked in English here (the Korean ones have their own catalogue test)."""
    with translation.override("en"):
        yield
