"""Reports as people receive them: exact for those allowed, disclosure-controlled when public.

Every path that publishes figures (``--public`` in the CLI, the public web page and API, and every
report of a role that may not see exact counts) goes through :func:`arrivals_report` with
``public=True``, which applies :mod:`saebom.stats.disclosure` and records an audited ``export``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from saebom.core import policy
from saebom.core.actors import AnonymousActor, AuditActor
from saebom.core.audit import audit_record
from saebom.core.exceptions import PermissionDenied, SaebomError
from saebom.core.policy import Action
from saebom.registry.official import current_series
from saebom.stats import selectors
from saebom.stats.dimensions import Dimension, period_order
from saebom.stats.disclosure import Status, protect
from saebom.stats.engine import CountTable, count_arrivals, parse_dimensions


@dataclass(frozen=True)
class ReportRow:
    keys: tuple[str, ...]
    count: int | None  # None when suppressed
    display: str
    status: Status = Status.SHOWN

    @property
    def suppressed(self) -> bool:
        return self.status is not Status.SHOWN


@dataclass
class Report:
    dimensions: list[Dimension]
    rows: list[ReportRow]
    public: bool
    k: int
    synthetic: bool
    year_from: int | None = None
    year_to: int | None = None
    notes: list[str] = field(default_factory=list)
    # Totals per value of the first dimension: margins, which a coarser report shows anyway.
    first_totals: dict[str, int] = field(default_factory=dict)

    @property
    def codes(self) -> list[str]:
        return [d.code for d in self.dimensions]

    def labels(self, row: ReportRow) -> list[str]:
        return [d.label_of(key) for d, key in zip(self.dimensions, row.keys, strict=True)]


def arrivals_report(
    *,
    actor: AuditActor,
    by: str | list[str],
    year_from: int | None = None,
    year_to: int | None = None,
    public: bool = False,
) -> Report:
    dimensions = parse_dimensions(by)
    public = public or not _may_see_exact(actor)
    if public and (year_from is not None or year_to is not None):
        raise SaebomError(
            "published tables cover every year: two tables with different year ranges would "
            "give away their difference",
            field="year_from",
        )
    if "year" in [d.code for d in dimensions] and _cuts_a_grouped_period(year_from, year_to):
        raise SaebomError(
            "the years before 1999, and 1999-2001, are counted only as groups: start at 1999 or "
            "2002 and end at 1998, 2001 or later, or leave out the year dimension",
            field="year_from",
        )
    if public and len(dimensions) > MAX_PUBLIC_DIMENSIONS:
        raise SaebomError(
            f"published tables have at most {MAX_PUBLIC_DIMENSIONS} dimensions: finer ones cannot "
            "be checked against every coarser table in reasonable time",
            field="by",
        )
    _check_protected(actor, dimensions, public)
    arrivals = selectors.arrivals_for_statistics(actor)
    table = count_arrivals(arrivals, dimensions, year_from=year_from, year_to=year_to)
    k = settings.SAEBOM_STATS_MIN_CELL
    report = Report(
        dimensions=dimensions,
        rows=_public_rows(table, k) if public else _exact_rows(table),
        public=public,
        k=k,
        synthetic=arrivals.filter(is_synthetic=True).exists(),
        year_from=year_from,
        year_to=year_to,
    )
    report.notes = _notes(report, table)
    for key, value in table.cells.items():
        report.first_totals[key[0]] = report.first_totals.get(key[0], 0) + value
    if public:
        with transaction.atomic():
            audit_record(
                actor=actor,
                action="export",
                object_type="statistics",
                agency_code=_agency(actor),
                detail={"by": report.codes, "public": True, "from": year_from, "to": year_to},
            )
    return report


PUBLIC_CACHE_SECONDS = 300
MAX_PUBLIC_DIMENSIONS = 2


def public_report(*, by: str, year_from: int | None = None, year_to: int | None = None) -> Report:
    """What the public (no account) sees. Built, and audited as an export, at most once per five
    minutes per question, so anonymous visitors can neither flood the audit log nor load the
    database; figures are at most that old."""
    codes = ",".join(d.code for d in parse_dimensions(by))
    key = f"saebom:public-report:{codes}:{year_from}:{year_to}:{translation.get_language()}"
    cached = cache.get(key)
    if cached is not None:
        return _from_cache(cached)
    report = arrivals_report(
        actor=AnonymousActor(), by=codes, year_from=year_from, year_to=year_to, public=True
    )
    cache.set(key, _to_cache(report), PUBLIC_CACHE_SECONDS)
    return report


def _to_cache(report: Report) -> dict[str, object]:
    """Plain values only (dimensions hold functions, which do not pickle)."""
    return {
        "codes": report.codes,
        "rows": [(r.keys, r.count, r.display, r.status.value) for r in report.rows],
        "public": report.public,
        "k": report.k,
        "synthetic": report.synthetic,
        "year_from": report.year_from,
        "year_to": report.year_to,
        "notes": [str(n) for n in report.notes],
        "first_totals": report.first_totals,
    }


def _from_cache(data: dict[str, Any]) -> Report:
    return Report(
        dimensions=parse_dimensions(data["codes"]),
        rows=[
            ReportRow(k, count, shown, Status(status)) for k, count, shown, status in data["rows"]
        ],
        public=data["public"],
        k=data["k"],
        synthetic=data["synthetic"],
        year_from=data["year_from"],
        year_to=data["year_to"],
        notes=data["notes"],
        first_totals=data["first_totals"],
    )


def _cuts_a_grouped_period(year_from: int | None, year_to: int | None) -> bool:
    """Whether the range takes part of ``~1998`` or ``1999-2001``, whose labels would then lie."""
    starts_inside = year_from is not None and year_from <= 2001 and year_from != 1999
    ends_inside = year_to is not None and year_to <= 2001 and year_to not in (1998, 2001)
    return starts_inside or ends_inside


def _may_see_exact(actor: AuditActor) -> bool:
    return not isinstance(actor, AnonymousActor) and policy.allows(actor, Action.STATS_EXACT)


def _agency(actor: AuditActor) -> str:
    agency = getattr(actor, "agency", None)
    return agency.code if agency is not None else ""


def _check_protected(actor: AuditActor, dimensions: list[Dimension], public: bool) -> None:
    protected = [d.code for d in dimensions if d.protected]
    if not protected:
        return
    if public:
        raise SaebomError(
            f"{protected[0]} is never published; use `elite` for a rounded band", field="by"
        )
    if isinstance(actor, AnonymousActor) or not policy.allows(actor, Action.ELITE_CATEGORIES):
        raise PermissionDenied(f"{protected[0]} is shown to administrators only")


def _exact_rows(table: CountTable) -> list[ReportRow]:
    return [ReportRow(key, table.cells[key], str(table.cells[key])) for key in table.ordered_keys()]


# Codes that count elite arrivals, whatever the dimension: published only as a rounded band.
# (The intelligence service protects exactly the elite arrivals.)
ELITE_CODES = frozenset({"yes", "intelligence_service"})


def _public_rows(table: CountTable, k: int) -> list[ReportRow]:
    protected = protect(table.cells, k=k, band_values=ELITE_CODES)
    return [
        ReportRow(key, None if cell.suppressed else cell.value, cell.display, cell.status)
        for key in table.ordered_keys()
        for cell in [protected[key]]
    ]


def _notes(report: Report, table: CountTable) -> list[str]:
    notes = []
    if report.synthetic:
        notes.append(_("Synthetic demo data: these are not real persons."))
    if table.multi_valued:
        notes.append(
            _(
                "%(dims)s can hold several values per person: each person is counted once per "
                "value, so the counts add up to more than the number of arrivals."
            )
            % {"dims": ", ".join(table.multi_valued)}
        )
    if report.public:
        notes.append(
            _(
                "Disclosure control: counts from 1 to %(k)s are shown as <%(k1)s; x marks a count "
                "hidden so that another cannot be worked out; elite arrivals appear only as a "
                "rounded band."
            )
            % {"k": report.k - 1, "k1": report.k}
        )
    return notes


# --- the Ministry's layout ---------------------------------------------------------------------


@dataclass(frozen=True)
class LayoutRow:
    period: str
    male: str
    female: str
    total: int | None  # None when a public table hides it
    female_share: str
    cumulative: int | None  # not published: differences of cumulative totals give totals away
    total_display: str = ""

    @property
    def cumulative_display(self) -> str:
        return "—" if self.cumulative is None else f"{self.cumulative:,}"


def ministry_layout(report: Report) -> list[LayoutRow]:
    """Periods as the Ministry publishes them, with male, female, total, female share and the
    cumulative total. Needs a report by ``year`` and ``sex``."""
    if report.codes[:2] != ["year", "sex"] or len(report.codes) != 2:
        raise SaebomError("the Ministry layout is a report by year,sex", field="by")
    by_period: dict[str, dict[str, ReportRow]] = {}
    for row in report.rows:
        by_period.setdefault(row.keys[0], {})[row.keys[1]] = row
    totals = published_totals(report)
    rows, cumulative = [], 0
    for period in sorted(by_period, key=period_order):
        cells = by_period[period]
        total, display = totals[period]
        cumulative += report.first_totals[period]
        female = cells.get("F")
        share = (
            f"{100 * female.count / total:.1f}%"
            if female and female.count is not None and total
            else "—"
        )
        rows.append(
            LayoutRow(
                period,
                _shown(cells.get("M")),
                _shown(female),
                total,
                share,
                None if report.public else cumulative,
                display,
            )
        )
    return rows


def published_totals(report: Report) -> dict[str, tuple[int | None, str]]:
    """Period totals as a report by ``year`` alone would show them: protected when public."""
    if not report.public:
        return {key: (value, str(value)) for key, value in report.first_totals.items()}
    margins: dict[tuple[str, ...], int] = {(key,): v for key, v in report.first_totals.items()}
    protected = protect(margins, k=report.k, band_values=ELITE_CODES)
    return {
        key[0]: (None if cell.suppressed else cell.value, cell.display)
        for key, cell in protected.items()
    }


def _shown(row: ReportRow | None) -> str:
    return "0" if row is None else row.display


# --- reconciliation with the published series -------------------------------------------------


@dataclass(frozen=True)
class ReconciliationRow:
    period: str
    sex: str
    registry: int
    official: int

    @property
    def difference(self) -> int:
        return self.registry - self.official

    @property
    def coverage(self) -> float | None:
        return None if self.official == 0 else self.registry / self.official


def reconciliation(*, actor: AuditActor) -> list[ReconciliationRow]:
    """Registry counts against the current official release, by period and sex."""
    if isinstance(actor, AnonymousActor) or not policy.allows(actor, Action.STATS_EXACT):
        raise PermissionDenied(_("Reconciliation shows exact counts; your role may not see them."))
    table = count_arrivals(selectors.arrivals_for_statistics(actor), parse_dimensions("year,sex"))
    rows = []
    for official in current_series():
        for sex, expected in (("M", official.male), ("F", official.female)):
            rows.append(
                ReconciliationRow(
                    official.period, sex, table.cells.get((official.period, sex), 0), expected
                )
            )
    return rows
