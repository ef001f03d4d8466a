"""Disclosure control for anything published: no figure small enough to point at a person.

1. Primary suppression: counts from 1 to k-1 are shown as ``<k``.
2. Elite arrivals are never broken down by category and appear only as a rounded band.
3. Secondary suppression: a suppressed value must not be recoverable from what is published.
   Besides the cells, everyone can know the table's margins (each sum over one dimension, and
   the grand total) because a coarser public query shows them; a margin is taken as unknown only
   when it is itself below k. A suppressed value is recoverable exactly when its unit vector lies
   in the row space of those linear equations restricted to the unknowns, i.e. when every
   null-space vector of the system is zero at it. Until no suppressed value is, the smallest
   non-zero cell that shares an equation with a recoverable one is suppressed as well.

The check is exact linear inference (what subtraction across rows, columns and totals gives);
bounds from non-negativity (a suppressed cell is at most its margin) remain, as in every
cell-suppression scheme, and are no tighter than the ``<k`` label already says.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from saebom.core.exceptions import SaebomError

Key = tuple[str, ...]
MINIMUM_K = 3
TRIALS_PER_STEP = 6


class Status(StrEnum):
    SHOWN = "shown"
    PRIMARY = "primary"  # 1..k-1, shown as "<k"
    SECONDARY = "secondary"  # suppressed so that a primary cannot be worked out, shown as "x"
    BAND = "band"  # an elite count, shown only as a rounded band


@dataclass(frozen=True)
class ProtectedCell:
    key: Key
    value: int
    status: Status
    display: str

    @property
    def suppressed(self) -> bool:
        return self.status is not Status.SHOWN


def elite_band(count: int) -> str:
    """The only way an elite count is published (as the Ministry does: "around 10")."""
    if count < 10:
        return "<10"
    if count <= 12:
        return "about 10"
    upper = 19 if count < 20 else 49 if count < 50 else None
    return f"{10 if count < 20 else 20 if count < 50 else 50}-{upper}" if upper else "50+"


def protect(
    cells: dict[Key, int], *, k: int, band_values: frozenset[str] = frozenset()
) -> dict[Key, ProtectedCell]:
    """Decide, for every cell, whether and how it may be published.

    Cells whose key holds one of ``band_values`` (the elite codes) are published only as a band,
    here and in every coarser table this one is checked against.
    """
    if k < MINIMUM_K:
        raise SaebomError(f"the minimum cell size k is {MINIMUM_K} at least, not {k}")
    status = {key: Status.SHOWN for key in cells}
    for key, value in cells.items():
        if 0 < value < k:
            status[key] = Status.PRIMARY
    for key in cells:
        if band_values.intersection(key):
            status[key] = Status.BAND
    _suppress_complements(cells, status, k, band_values)
    return {
        key: ProtectedCell(key, cells[key], status[key], _display(cells[key], status[key], k))
        for key in cells
    }


def _display(value: int, status: Status, k: int) -> str:
    if status is Status.PRIMARY:
        return f"<{k}"
    if status is Status.SECONDARY:
        return "x"
    if status is Status.BAND:
        return elite_band(value)
    return str(value)


@dataclass
class _System:
    """Equations sum(cells of a group) = margin, over the unknowns (suppressed cells and margins
    below k)."""

    keys: list[Key]
    groups: list[list[int]]  # cell indexes of each equation
    margin_unknown: list[bool]

    def __post_init__(self) -> None:
        self.sets = [set(group) for group in self.groups]
        self.membership: list[list[int]] = [[] for _ in self.keys]  # equations of each cell
        for n, group in enumerate(self.groups):
            for cell in group:
                self.membership[cell].append(n)
        # A cell alone in an equation with a known margin is published through that margin
        # already: hiding it protects nothing.
        self.published_anyway = {
            group[0]
            for n, group in enumerate(self.groups)
            if len(group) == 1 and not self.margin_unknown[n]
        }


def _equations(cells: dict[Key, int], k: int, band_values: frozenset[str]) -> _System:
    """One equation per margin: per cell of every coarser table (any dimensions dropped, down to
    the grand total). A margin is unknown exactly when that coarser table, protected the same
    way, hides it: that is what a coarser public report shows."""
    keys = list(cells)
    width = len(keys[0]) if keys else 0
    groups: list[list[int]] = []
    unknown: list[bool] = []
    for size in range(width):
        for kept in itertools.combinations(range(width), size):
            members: dict[Key, list[int]] = {}
            for index, key in enumerate(keys):
                members.setdefault(tuple(key[d] for d in kept), []).append(index)
            coarser = {
                margin: sum(cells[keys[i]] for i in group) for margin, group in members.items()
            }
            shown = _coarser_shown(coarser, k, band_values)
            for margin, group in members.items():
                groups.append(group)
                unknown.append(not shown[margin])
    return _System(keys, groups, unknown)


def _coarser_shown(coarser: dict[Key, int], k: int, band_values: frozenset[str]) -> dict[Key, bool]:
    if len(next(iter(coarser))) == 0:  # the grand total
        return {key: not 0 < value < k for key, value in coarser.items()}
    protected = protect(coarser, k=k, band_values=band_values)
    return {key: not cell.suppressed for key, cell in protected.items()}


def _recoverable(system: _System, hidden: set[int]) -> tuple[list[int], list[int]]:
    """Hidden cells, and hidden margins (by equation), whose value follows from what is published:
    publishing this table must not give away what a coarser table hid either."""
    unknown_cells = sorted(hidden)
    unknown_margins = [n for n, flag in enumerate(system.margin_unknown) if flag]
    if not unknown_cells and not unknown_margins:
        return [], []
    column = {cell: n for n, cell in enumerate(unknown_cells)}
    width = len(unknown_cells) + len(unknown_margins)
    matrix = np.zeros((len(system.groups), width))
    for row, group in enumerate(system.groups):
        for cell in group:
            if cell in column:
                matrix[row, column[cell]] = 1.0
    for extra, row in enumerate(unknown_margins):
        matrix[row, len(unknown_cells) + extra] = -1.0
    matrix = matrix[np.any(matrix != 0, axis=1)]
    if matrix.shape[0] == 0:
        return [], []
    _, singular, vh = np.linalg.svd(matrix)
    rank = int(np.sum(singular > 1e-9))
    null_space = vh[rank:]
    if null_space.shape[0] == 0:
        return unknown_cells, unknown_margins
    determined = np.all(np.abs(null_space) < 1e-9, axis=0)
    cells = [cell for cell, fixed in zip(unknown_cells, determined, strict=False) if fixed]
    margins = [
        n
        for n, fixed in zip(unknown_margins, determined[len(unknown_cells) :], strict=True)
        if fixed
    ]
    return cells, margins


def _suppress_complements(
    cells: dict[Key, int], status: dict[Key, Status], k: int, band_values: frozenset[str]
) -> None:
    if not cells:
        return
    system = _equations(cells, k, band_values)
    hidden = {i for i, key in enumerate(system.keys) if status[key] is not Status.SHOWN}
    while True:
        exposed_cells, exposed_margins = _recoverable(system, hidden)
        if not exposed_cells and not exposed_margins:
            return
        # One round protects every exposed value that has something left to hide beside it
        # (choices made for earlier ones in the round count for later ones), then looks again.
        added = False
        for target in exposed_cells:
            added |= _hide(_complement_for(target, system, hidden, cells), system, hidden, status)
        for group in exposed_margins:
            added |= _hide(_margin_complement(group, system, hidden, cells), system, hidden, status)
        if not added:
            raise SaebomError("this table cannot be published safely; choose fewer dimensions")


def _hide(cell: int | None, system: _System, hidden: set[int], status: dict[Key, Status]) -> bool:
    if cell is None or cell in hidden:
        return False
    hidden.add(cell)
    status[system.keys[cell]] = Status.SECONDARY
    return True


def _margin_complement(
    group: int, system: _System, hidden: set[int], cells: dict[Key, int]
) -> int | None:
    """A coarser table hid this margin, yet our cells would add up to it: hide one more of them
    (the smallest that is not yet hidden)."""
    blocked = hidden | system.published_anyway
    candidates = [c for c in system.groups[group] if c not in blocked]
    return min(candidates, key=lambda c: (cells[system.keys[c]], c)) if candidates else None


def _complement_for(
    target: int, system: _System, hidden: set[int], cells: dict[Key, int]
) -> int | None:
    """The cheapest cell to hide beside ``target``: first in an equation where ``target`` is the
    only unknown (it must get a partner there), else the one that stops the inference."""

    def cost(cell: int) -> tuple[bool, int, int]:
        # Prefer a cell whose other equations already hide something: it closes a cycle
        # instead of opening a new exposure elsewhere; then the smallest value.
        closes = any(
            system.sets[n] & hidden for n in system.membership[cell] if target not in system.sets[n]
        )
        return (not closes, cells[system.keys[cell]], cell)

    blocked = hidden | system.published_anyway
    own = system.membership[target]
    pinning = [
        system.groups[n]
        for n in own
        if not system.margin_unknown[n] and not (system.sets[n] - {target}) & hidden
    ]
    # Where the choice is forced (fewest partners) first: a lone partner must be hidden anyway.
    options = [sorted((c for c in g if c not in blocked), key=cost) for g in pinning]
    options = [partners for partners in options if partners]
    if options:
        return min(options, key=len)[0]
    candidates = sorted({c for n in own for c in system.groups[n] if c not in blocked}, key=cost)
    if not candidates:
        return None
    return next(
        (
            c
            for c in candidates[:TRIALS_PER_STEP]
            if target not in _recoverable(system, hidden | {c})[0]
        ),
        candidates[0],
    )
