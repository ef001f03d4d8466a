"""The arrivals interchange contract: columns, parsing a row, formatting a record.

One place for every rule about a field's value, shared by the importer, the intake form and the
API. A row is a mapping of column name to text; :func:`parse_row` returns an :class:`ArrivalData`
or the list of problems, each naming the column and the reason. See docs/data-formats.md.
"""

from __future__ import annotations

import csv
import datetime
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from django.utils import timezone
from django.utils.translation import gettext

from saebom.core import vocab
from saebom.registry.models import Precision

COLUMNS = (
    "record_id",
    "sex",
    "arrival_date",
    "birth_year",
    "origin_province",
    "occupation",
    "education",
    "elite_category",
    "left_north_date",
    "transit_countries",
    "route",
    "reasons",
    "protection",
    "name_ko",
    "name_en",
    "date_of_birth",
)
REQUIRED = ("record_id", "arrival_date")
IDENTITY_COLUMNS = ("name_ko", "name_en", "date_of_birth")
VOCABULARY_OF = {
    "sex": "sex",
    "origin_province": "origin_province",
    "occupation": "occupation",
    "education": "education",
    "elite_category": "elite_category",
    "route": "route",
    "protection": "protection",
}
LIST_SEPARATOR = ";"
MAX_RECORD_ID, MAX_NAME = 64, 200
EARLIEST_YEAR = 1945  # arrivals and departures
EARLIEST_BIRTH_YEAR = 1900
_FOUR_DIGITS = re.compile(r"^[0-9]{4}$")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP: CSV injection
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # line breaks and tabs included: one line per cell


@dataclass(frozen=True)
class PartialDate:
    """A date as precise as the source gave it."""

    value: datetime.date
    precision: str

    def __str__(self) -> str:
        length = {Precision.YEAR: 4, Precision.MONTH: 7, Precision.DAY: 10}[
            Precision(self.precision)
        ]
        return self.value.isoformat()[:length]

    def latest(self) -> datetime.date:
        """The last day this date can mean (2023 → 2023-12-31), for comparisons."""
        if self.precision == Precision.YEAR:
            return self.value.replace(month=12, day=31)
        if self.precision == Precision.MONTH:
            next_month = (self.value.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
            return next_month - datetime.timedelta(days=1)
        return self.value


@dataclass
class ArrivalData:
    record_id: str
    arrival: PartialDate
    sex: str = ""
    birth_year: int | None = None
    origin_province: str = ""
    occupation: str = ""
    education: str = ""
    elite_category: str = ""
    left_north: PartialDate | None = None
    transit_countries: list[str] = field(default_factory=list)
    route: str = ""
    reasons: list[str] = field(default_factory=list)
    protection: str = ""
    name_ko: str = ""
    name_en: str = ""
    date_of_birth: datetime.date | None = None

    @property
    def has_identity(self) -> bool:
        return bool(self.name_ko or self.name_en or self.date_of_birth)


@dataclass(frozen=True)
class Problem:
    column: str
    message: str


class RowInvalid(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.column}: {p.message}" for p in problems))
        self.problems = problems


def header_problems(header: list[str]) -> list[Problem]:
    """Exact names, any order; unknown, duplicated and missing required columns are refused."""
    problems = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(Problem(name, gettext("this column appears twice")))
        elif name not in COLUMNS:
            message = gettext("unknown column; the columns are %(columns)s")
            problems.append(Problem(name, message % {"columns": ", ".join(COLUMNS)}))
        seen.add(name)
    missing = gettext("required column is missing")
    problems += [Problem(name, missing) for name in REQUIRED if name not in seen]
    return problems


def unneutralise(text: str) -> str:
    """Undo the export's formula guard: "'=x" was written for "=x"."""
    if text[:1] == "'" and len(text) > 1 and text[1] in FORMULA_STARTS:
        return text[1:]
    return text


def neutralise(text: str) -> str:
    """Keep a spreadsheet from running a cell as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _RowsEndingLF:
    """What a csv writer writes to: it ends rows with CRLF, written here as LF."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, line: str) -> int:
        return self.stream.write(line.removesuffix("\r\n") + "\n")


def csv_writer(stream: IO[str]) -> Any:
    """A ``csv.writer`` for exports: rows end with LF, and a cell holding CR or LF is quoted.
    (Told ``lineterminator="\\n"``, the csv module leaves a lone CR unquoted; a spreadsheet
    starts a new row there, with a cell the formula guard never saw.)"""
    return csv.writer(_RowsEndingLF(stream), lineterminator="\r\n")


def parse_row(row: Mapping[str, object], *, today: datetime.date | None = None) -> ArrivalData:
    """Validate one row; raises :class:`RowInvalid` listing every problem found."""
    parser = _RowParser(row, today or timezone.localdate())
    data = parser.parse()
    if parser.problems:
        raise RowInvalid(parser.problems)
    assert data is not None
    return data


class _RowParser:
    def __init__(self, row: Mapping[str, object], today: datetime.date) -> None:
        self.cells = {
            k: unneutralise(v.strip() if type(v) is str else _text(v)) for k, v in row.items()
        }
        # One search over the whole row; cell by cell only when something is there.
        self.suspect = _CONTROL.search("".join(self.cells.values())) is not None
        self.today = today
        self.problems: list[Problem] = []

    def fail(self, column: str, message: str) -> None:
        self.problems.append(Problem(column, message))

    def cell(self, column: str) -> str:
        value = self.cells.get(column, "")
        if self.suspect and _CONTROL.search(value):
            self.fail(column, gettext("contains control characters"))
            return ""
        return value

    def parse(self) -> ArrivalData | None:
        record_id = self.record_id()
        arrival = self.partial_date("arrival_date", required=True)
        data = ArrivalData(
            record_id=record_id,
            arrival=arrival or PartialDate(self.today, Precision.DAY),
            **{column: self.term(column) for column in VOCABULARY_OF},  # type: ignore[arg-type]
            left_north=self.partial_date("left_north_date"),
            transit_countries=self.term_list("transit_countries", "country", allow_repeats=True),
            reasons=self.term_list("reasons", "reason"),
            name_ko=self.name("name_ko"),
            name_en=self.name("name_en"),
            date_of_birth=self.date_of_birth(),
        )
        data.birth_year = self.birth_year(data)
        self.check_order(data)
        return None if self.problems else data

    def record_id(self) -> str:
        value = self.cell("record_id")
        if not value:
            self.fail("record_id", gettext("is required"))
        elif len(value) > MAX_RECORD_ID:
            self.fail("record_id", _longer_than(MAX_RECORD_ID))
        return value

    def partial_date(
        self, column: str, *, required: bool = False, earliest: int = EARLIEST_YEAR
    ) -> PartialDate | None:
        text = self.cell(column)
        if not text:
            if required:
                self.fail(column, gettext("is required"))
            return None
        parsed = _parse_partial_date(text)
        if not isinstance(parsed, PartialDate):
            self.fail(column, _date_problem(column, text, parsed, earliest))
            return None
        if parsed.value.year < earliest or parsed.value > self.today:
            self.fail(column, _date_problem(column, text, "out of range", earliest))
            return None
        return parsed

    def term(self, column: str) -> str:
        text = self.cell(column)
        if not text:
            return ""
        try:
            return vocab.resolve(VOCABULARY_OF[column], text)
        except vocab.UnknownTerm as exc:
            self.fail(column, str(exc))
            return ""

    def term_list(self, column: str, vocabulary: str, *, allow_repeats: bool = False) -> list[str]:
        text = self.cell(column)
        found: list[str] = []
        for item in (part.strip() for part in text.split(LIST_SEPARATOR)):
            if not item:
                continue
            try:
                code = vocab.resolve(vocabulary, item)
            except vocab.UnknownTerm as exc:
                self.fail(column, str(exc))
                continue
            if code in found and not allow_repeats:
                self.fail(column, gettext("%(item)r is listed twice") % {"item": item})
            found.append(code)
        return found

    def name(self, column: str) -> str:
        value = " ".join(self.cell(column).split())
        if len(value) > MAX_NAME:
            self.fail(column, _longer_than(MAX_NAME))
        return value

    def date_of_birth(self) -> datetime.date | None:
        parsed = self.partial_date("date_of_birth", earliest=EARLIEST_BIRTH_YEAR)
        if parsed is not None and parsed.precision != Precision.DAY:
            message = gettext("must be a full date YYYY-MM-DD (use birth_year otherwise)")
            self.fail("date_of_birth", message)
            return None
        return parsed.value if parsed else None

    def birth_year(self, data: ArrivalData) -> int | None:
        text = self.cell("birth_year")
        if not text:
            return data.date_of_birth.year if data.date_of_birth else None
        if not _FOUR_DIGITS.match(text):
            message = gettext("%(value)r is not a four-digit year") % {"value": text}
            self.fail("birth_year", message)
            return None
        year = int(text)
        if not EARLIEST_BIRTH_YEAR <= year <= data.arrival.value.year:
            message = gettext("%(year)d must be between %(earliest)d and the arrival year")
            self.fail("birth_year", message % {"year": year, "earliest": EARLIEST_BIRTH_YEAR})
        elif data.date_of_birth and data.date_of_birth.year != year:
            message = gettext("%(year)d does not match the year of date_of_birth")
            self.fail("birth_year", message % {"year": year})
        return year

    def check_order(self, data: ArrivalData) -> None:
        if data.left_north and data.left_north.value > data.arrival.latest():
            self.fail("left_north_date", gettext("is after the arrival date"))
        if data.date_of_birth and data.date_of_birth > data.arrival.latest():
            self.fail("date_of_birth", gettext("is after the arrival date"))


def _longer_than(limit: int) -> str:
    return gettext("is longer than %(n)d characters") % {"n": limit}


@functools.lru_cache(maxsize=65536)  # a file repeats its dates many times
def _parse_partial_date(text: str) -> PartialDate | str:
    """The date and its precision, or what is wrong with the text: "format" or "not real" (a
    key, not a message: the cache outlives the language it would have been written in)."""
    match = _PARTIAL_DATE.match(text)
    if match is None:
        return "format"
    year, month, day = (int(part) if part else None for part in match.groups())
    precision = Precision.DAY if day else Precision.MONTH if month else Precision.YEAR
    try:
        return PartialDate(datetime.date(year or 1, month or 1, day or 1), precision)
    except ValueError:
        return "not real"


def _date_problem(column: str, text: str, problem: str, earliest: int) -> str:
    """The message for a date that is malformed ("format"), not real or out of range.
    Identifiers are never quoted back: error reports travel further than the record."""
    if column in IDENTITY_COLUMNS:
        messages = {
            "format": gettext("the value is not YYYY, YYYY-MM or YYYY-MM-DD"),
            "not real": gettext("the value is not a real date"),
            "out of range": gettext("the value must be between %(earliest)d and today"),
        }
    else:
        messages = {
            "format": gettext("%(value)r is not YYYY, YYYY-MM or YYYY-MM-DD"),
            "not real": gettext("%(value)r is not a real date"),
            "out of range": gettext("%(value)r must be between %(earliest)d and today"),
        }
    return messages[problem] % {"value": text, "earliest": earliest}


def _text(value: object) -> str:
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def format_row(data: ArrivalData, *, include_identifiers: bool) -> dict[str, str]:
    """The interchange row for a record; the inverse of :func:`parse_row`."""
    row = {
        "record_id": data.record_id,
        "sex": data.sex,
        "arrival_date": str(data.arrival),
        "birth_year": "" if data.birth_year is None else str(data.birth_year),
        "origin_province": data.origin_province,
        "occupation": data.occupation,
        "education": data.education,
        "elite_category": data.elite_category,
        "left_north_date": str(data.left_north) if data.left_north else "",
        "transit_countries": LIST_SEPARATOR.join(data.transit_countries),
        "route": data.route,
        "reasons": LIST_SEPARATOR.join(data.reasons),
        "protection": data.protection,
    }
    if include_identifiers:
        row |= {
            "name_ko": data.name_ko,
            "name_en": data.name_en,
            "date_of_birth": data.date_of_birth.isoformat() if data.date_of_birth else "",
        }
    return row
