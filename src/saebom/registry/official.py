"""The Ministry of Unification's published arrivals by year and sex, release by release.

A file is the shipped CSV format: ``period,first_year,last_year,male,female,total,status``, with
optional ``# source: …`` and ``# revised: YYYY-MM-DD`` lines before the header. A new release
becomes current; earlier ones are kept, so revisions (2025: 224 → 223) stay visible.
"""

from __future__ import annotations

import csv
import datetime
import io
import itertools
import re
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from saebom.core import policy
from saebom.core.actors import Actor
from saebom.core.audit import audit_record
from saebom.core.policy import Action
from saebom.registry.importing import ImportRejected, RowError
from saebom.registry.models import OfficialRelease, OfficialYear

SHIPPED_SERIES = Path(__file__).parent / "data" / "mou-arrivals-by-year.csv"
SERIES_COLUMNS = ["period", "first_year", "last_year", "male", "female", "total", "status"]
EARLIEST_YEAR = 1945
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SeriesFile:
    source: str
    revised_on: datetime.date | None
    rows: list[OfficialYear]


def parse_series(data: bytes) -> SeriesFile:
    try:
        lines = data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise ImportRejected([RowError(0, "", gettext("the file is not UTF-8 text"))]) from None
    meta = {}
    while lines and lines[0].startswith("#"):
        key, _, value = lines.pop(0).lstrip("# ").partition(":")
        meta[key.strip().lower()] = value.strip()
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    rows, errors = [], []
    try:
        if reader.fieldnames != SERIES_COLUMNS:
            message = gettext("the header must be %(columns)s") % {
                "columns": ",".join(SERIES_COLUMNS)
            }
            raise ImportRejected([RowError(1, "", message)])
        for number, record in enumerate(reader, 2):
            try:
                rows.append(_series_row(record))
            except ValueError as exc:
                column, _, message = str(exc).partition(": ")
                errors.append(RowError(number, column, message))
    except csv.Error as exc:  # a cell longer than the csv module's limit, for one
        message = gettext("not readable as CSV: %(reason)s") % {"reason": exc}
        raise ImportRejected([RowError(reader.reader.line_num, "", message)]) from None
    errors += _series_shape_errors(rows)
    if errors:
        raise ImportRejected(errors)
    return SeriesFile(meta.get("source", ""), _date(meta.get("revised", "")), rows)


def _number(record: dict[str, str], column: str) -> int:
    text = (record.get(column) or "").strip()
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise ValueError(
            f"{column}: " + gettext("%(value)r is not a whole number") % {"value": text}
        )
    return int(text)


def _year(record: dict[str, str], column: str) -> int:
    year = _number(record, column)
    if not EARLIEST_YEAR <= year <= timezone.localdate().year:
        raise ValueError(
            f"{column}: "
            + gettext("%(year)d is not a year between %(first)d and this year")
            % {"year": year, "first": EARLIEST_YEAR}
        )
    return year


def _series_row(record: dict[str, str]) -> OfficialYear:
    for column in ("period", "status"):
        if _CONTROL.search(record.get(column) or ""):
            raise ValueError(f"{column}: " + gettext("contains control characters"))
    first = (record.get("first_year") or "").strip()
    row = OfficialYear(
        period=(record.get("period") or "").strip(),
        first_year=_year(record, "first_year") if first else None,
        last_year=_year(record, "last_year"),
        male=_number(record, "male"),
        female=_number(record, "female"),
        status=(record.get("status") or "").strip()[:120],
    )
    if not row.period or len(row.period) > 16:
        raise ValueError("period: " + gettext("must have 1 to 16 characters"))
    if row.first_year is not None and row.first_year > row.last_year:
        raise ValueError("first_year: " + gettext("is after last_year"))
    if row.male + row.female != _number(record, "total"):
        message = gettext("%(total)s is not male + female (%(sum)d)")
        raise ValueError(
            "total: " + message % {"total": record["total"], "sum": row.male + row.female}
        )
    return row


def _series_shape_errors(rows: list[OfficialYear]) -> list[RowError]:
    errors = []
    seen: set[str] = set()
    for number, row in enumerate(rows, 2):
        if row.period in seen:
            message = gettext("%(period)r appears twice") % {"period": row.period}
            errors.append(RowError(number, "period", message))
        seen.add(row.period)
    for number, (before, after) in enumerate(itertools.pairwise(rows), 3):
        if after.last_year <= before.last_year:
            message = gettext("periods must be in increasing order")
            errors.append(RowError(number, "last_year", message))
    if not rows:
        errors.append(RowError(2, "", gettext("the series has no rows")))
    return errors


def _date(text: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(text) if text else None
    except ValueError:
        message = gettext("%(value)r is not YYYY-MM-DD") % {"value": text}
        raise ImportRejected([RowError(0, "revised", message)]) from None


def official_series_import(
    *, actor: Actor, data: bytes, source: str = "", revised_on: datetime.date | None = None
) -> OfficialRelease:
    policy.require(actor, Action.OFFICIAL_SERIES_IMPORT)
    parsed = parse_series(data)
    revised = revised_on or parsed.revised_on
    if revised is None:
        message = gettext("give the revision date (--revised YYYY-MM-DD)")
        raise ImportRejected([RowError(0, "revised", message)])
    named = source or parsed.source or "unnamed source"
    if _CONTROL.search(named):
        raise ImportRejected([RowError(0, "source", gettext("contains control characters"))])
    with transaction.atomic():
        OfficialRelease.objects.filter(is_current=True).update(is_current=False)
        release = OfficialRelease.objects.create(
            source=named[:300],
            revised_on=revised,
            is_current=True,
        )
        for row in parsed.rows:
            row.release = release
        OfficialYear.objects.bulk_create(parsed.rows)
        audit_record(
            actor=actor,
            action="import",
            object_type="official_series",
            object_id=release.pk,
            agency_code="",
            detail={"rows": len(parsed.rows), "revised_on": revised.isoformat()},
        )
    return release


def current_series() -> list[OfficialYear]:
    release = OfficialRelease.objects.filter(is_current=True).first()
    return list(release.rows.all()) if release else []
