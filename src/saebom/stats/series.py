"""Yearly arrivals by sex, the input of trend facts: from the registry or the official series."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class YearCount:
    """One period of a yearly series. Grouped periods (``~1998``, ``1999-2001``) have
    ``first_year != last_year``; trends use single years only."""

    period: str
    first_year: int | None
    last_year: int
    male: int
    female: int

    @property
    def total(self) -> int:
        return self.male + self.female

    @property
    def is_single_year(self) -> bool:
        return self.first_year == self.last_year


def official_series() -> list[YearCount]:
    """The current release of the Ministry's series."""
    from saebom.registry.official import current_series

    return [
        YearCount(r.period, r.first_year, r.last_year, r.male, r.female) for r in current_series()
    ]


def registry_series(actor: object) -> list[YearCount]:
    """The registry's arrivals by year and sex, single years only, as the actor may count them."""
    from django.db.models import Count

    from saebom.stats.selectors import arrivals_for_statistics

    arrivals = arrivals_for_statistics(actor)  # type: ignore[arg-type]
    rows = arrivals.order_by().values("arrival_year", "sex").annotate(n=Count("id"))
    by_year: dict[int, dict[str, int]] = {}
    for row in rows.values_list("arrival_year", "sex", "n"):
        year, sex, n = int(row[0]), str(row[1]), int(row[2])
        by_year.setdefault(year, {})[sex] = by_year.get(year, {}).get(sex, 0) + n
    grouped: dict[tuple[str, int | None, int], dict[str, int]] = {}
    for year, counts in by_year.items():
        period = _period(year)
        for sex, n in counts.items():
            grouped.setdefault(period, {})[sex] = grouped.get(period, {}).get(sex, 0) + n
    return [
        YearCount(name, first, last, counts.get("M", 0), counts.get("F", 0))
        for (name, first, last), counts in sorted(grouped.items(), key=lambda item: item[0][2])
    ]


def _period(year: int) -> tuple[str, int | None, int]:
    """The Ministry's periods: years before 1999 and 1999-2001 are published only grouped."""
    if year <= 1998:
        return ("~1998", None, 1998)
    if year <= 2001:
        return ("1999-2001", 1999, 2001)
    return (str(year), year, year)
