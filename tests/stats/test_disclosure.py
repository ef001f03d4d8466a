"""Disclosure control: no suppressed value can be worked out from what is published.

The check here is independent of the implementation (which uses a floating-point null space):
exact rational Gaussian elimination over the same published equations.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saebom.core.exceptions import SaebomError
from saebom.stats.disclosure import ProtectedCell, Status, elite_band, protect

K = 5
Key = tuple[str, ...]


Margin = tuple[tuple[int, ...], Key, list[Key]]  # the kept dimensions, the margin's key, its cells


def margins(cells: dict[Key, int], width: int) -> list[Margin]:
    """Every cell of every coarser table (any dimensions dropped, down to the grand total)."""
    found: list[Margin] = []
    for size in range(width):
        for kept in itertools.combinations(range(width), size):
            groups: dict[Key, list[Key]] = {}
            for key in cells:
                groups.setdefault(tuple(key[d] for d in kept), []).append(key)
            found += [(kept, short, members) for short, members in groups.items()]
    return found


def published(cells: dict[Key, int], margin: Margin, width: int) -> bool:
    """What a coarser public report shows: that table, protected alike."""
    kept, short, members = margin
    if not kept:
        return not 0 < sum(cells[m] for m in members) < K
    coarser: dict[Key, int] = {}
    for key, value in cells.items():
        key_short = tuple(key[d] for d in kept)
        coarser[key_short] = coarser.get(key_short, 0) + value
    return not protect(coarser, k=K)[short].suppressed


def recoverable(cells: dict[Key, int], result: dict[Key, ProtectedCell], width: int) -> set[Key]:
    """Hidden values, of this table or of the coarser ones, that follow exactly from everything
    published together (exact arithmetic: a row of the reduced system that is a unit vector)."""
    hidden = [key for key, cell in result.items() if cell.suppressed]
    all_margins = margins(cells, width)
    unknown = [n for n, margin in enumerate(all_margins) if not published(cells, margin, width)]
    equations = []
    for index, (_kept, _short, members) in enumerate(all_margins):
        row = [Fraction(1 if key in members else 0) for key in hidden] + [Fraction(0)] * len(
            unknown
        )
        if index in unknown:
            row[len(hidden) + unknown.index(index)] = Fraction(-1)
        if any(row):
            equations.append(row)
    found: set[Key] = set()
    for row in _rref(equations, len(hidden) + len(unknown)):
        nonzero = [i for i, value in enumerate(row) if value != 0]
        if len(nonzero) == 1:
            column = nonzero[0]
            found.add(
                hidden[column]
                if column < len(hidden)
                else ("margin", *all_margins[unknown[column - len(hidden)]][1])
            )
    return found


def _rref(rows: list[list[Fraction]], columns: int) -> list[list[Fraction]]:
    rows = [row[:] for row in rows]
    pivot_row = 0
    for column in range(columns):
        pivot = next((r for r in range(pivot_row, len(rows)) if rows[r][column] != 0), None)
        if pivot is None:
            continue
        rows[pivot_row], rows[pivot] = rows[pivot], rows[pivot_row]
        lead = rows[pivot_row][column]
        rows[pivot_row] = [value / lead for value in rows[pivot_row]]
        for r in range(len(rows)):
            if r != pivot_row and rows[r][column] != 0:
                factor = rows[r][column]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[pivot_row], strict=True)]
        pivot_row += 1
    return rows[:pivot_row]


def tables(max_dims: int = 3) -> st.SearchStrategy[dict[Key, int]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[Key, int]:
        width = draw(st.integers(1, max_dims))
        sizes = [draw(st.integers(1, 4 if width == 3 else 6)) for _ in range(width)]
        keys = list(itertools.product(*[[f"v{i}" for i in range(n)] for n in sizes]))
        counts = draw(
            st.lists(
                st.one_of(st.integers(0, 6), st.integers(5, 300)),
                min_size=len(keys),
                max_size=len(keys),
            )
        )
        return {key: count for key, count in zip(keys, counts, strict=True) if count > 0}

    return build()


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same tables on every run: a failure is never a roll of the dice
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(tables())
def test_no_suppressed_value_is_recoverable(cells: dict[Key, int]) -> None:
    if not cells:
        return
    width = len(next(iter(cells)))
    try:
        result = protect(cells, k=K)
    except SaebomError:
        return  # refusing to publish is safe
    for key, cell in result.items():
        if 0 < cells[key] < K:
            assert cell.status is Status.PRIMARY and cell.display == f"<{K}"
        if not cell.suppressed:
            assert cell.display == str(cells[key])
    assert recoverable(cells, result, width) == set()


def test_the_independent_check_finds_an_unprotected_table() -> None:
    """The checker is not vacuous: a primary cell left alone beside its total is caught."""
    cells = {("a",): 3, ("b",): 100, ("c",): 50}
    naive = {
        key: ProtectedCell(key, v, Status.PRIMARY if v < K else Status.SHOWN, "")
        for key, v in cells.items()
    }
    assert recoverable(cells, naive, 1) == {("a",)}


def test_two_by_two_pattern_for_a_single_small_cell() -> None:
    cells = {
        ("2021", "M"): 40,
        ("2021", "F"): 23,
        ("2022", "M"): 35,
        ("2022", "F"): 32,
        ("2023", "M"): 3,
        ("2023", "F"): 164,
    }
    result = protect(cells, k=K)
    hidden = {key for key, cell in result.items() if cell.suppressed}
    assert hidden == {("2023", "M"), ("2023", "F"), ("2022", "M"), ("2022", "F")}
    assert result[("2023", "F")].display == "x" and result[("2023", "M")].display == "<5"


def test_elite_bands() -> None:
    assert [elite_band(n) for n in (0, 7, 10, 12, 13, 25, 60)] == [
        "<10",
        "<10",
        "about 10",
        "about 10",
        "10-19",
        "20-49",
        "50+",
    ]


def test_k_below_three_is_refused() -> None:
    with pytest.raises(SaebomError):
        protect({("a",): 1}, k=2)


@pytest.mark.parametrize(
    "cells",
    [
        # a small cell alone in its row and column, the rest given away by the grand total
        {("v0", "v1"): 50, ("v1", "v0"): 3},
        # a margin the coarser table hides, that the finer table's cells would add up to
        {
            ("a", "x", "p"): 32,
            ("a", "x", "q"): 2,
            ("b", "x", "p"): 6,
            ("b", "x", "q"): 35,
            ("b", "y", "p"): 1,
            ("b", "y", "q"): 2,
            ("c", "x", "p"): 3,
            ("c", "x", "q"): 53,
            ("c", "y", "q"): 7,
        },
    ],
)
def test_found_by_review_tables_combined_with_coarser_ones(cells: dict[Key, int]) -> None:
    width = len(next(iter(cells)))
    assert recoverable(cells, protect(cells, k=K), width) == set()
