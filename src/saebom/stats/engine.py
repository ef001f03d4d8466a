"""Counting arrivals by any combination of dimensions, with GROUP BY in the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Count, QuerySet

from saebom.core.exceptions import SaebomError
from saebom.registry.models import Arrival
from saebom.stats.dimensions import DIMENSIONS, Dimension, aliases, annotation

MAX_DIMENSIONS = 4


@dataclass
class CountTable:
    """Counts keyed by one code per dimension ("" = unknown). Absent keys are zero."""

    dimensions: list[Dimension]
    cells: dict[tuple[str, ...], int] = field(default_factory=dict)

    @property
    def codes(self) -> list[str]:
        return [d.code for d in self.dimensions]

    @property
    def multi_valued(self) -> list[str]:
        return [d.code for d in self.dimensions if d.multi]

    def ordered_keys(self) -> list[tuple[str, ...]]:
        return sorted(
            self.cells,
            key=lambda key: [d.sort_key(v) for d, v in zip(self.dimensions, key, strict=True)],
        )


def parse_dimensions(text: str | Sequence[str]) -> list[Dimension]:
    codes = [c.strip() for c in (text.split(",") if isinstance(text, str) else text) if c.strip()]
    if not codes:
        raise SaebomError("name at least one dimension (--by year,sex)", field="by")
    unknown = [c for c in codes if c not in DIMENSIONS]
    if unknown:
        raise SaebomError(
            f"unknown dimension {unknown[0]!r}; choose from {', '.join(DIMENSIONS)}", field="by"
        )
    if len(set(codes)) != len(codes) or len(codes) > MAX_DIMENSIONS:
        raise SaebomError(f"name each dimension once, at most {MAX_DIMENSIONS}", field="by")
    return [DIMENSIONS[c] for c in codes]


def count_arrivals(
    arrivals: QuerySet[Arrival],
    dimensions: Sequence[Dimension],
    *,
    year_from: int | None = None,
    year_to: int | None = None,
) -> CountTable:
    """One GROUP BY query. Multi-valued dimensions count distinct arrivals per value."""
    if year_from is not None:
        arrivals = arrivals.filter(arrival_year__gte=year_from)
    if year_to is not None:
        arrivals = arrivals.filter(arrival_year__lte=year_to)
    for dimension in dimensions:
        arrivals = arrivals.alias(**aliases(dimension))
    columns: dict[str, object] = {}
    for dimension in dimensions:
        columns |= annotation(dimension)
    multi = any(d.multi for d in dimensions)
    rows = (
        arrivals.order_by()
        .annotate(**columns)
        .values(*columns)
        .annotate(n=Count("id", distinct=multi))
        .values_list(*columns, "n")
    )
    table = CountTable(list(dimensions))
    for *keys, count in rows:
        key = tuple("" if k is None else str(k) for k in keys)
        table.cells[key] = table.cells.get(key, 0) + int(count)
    return table
