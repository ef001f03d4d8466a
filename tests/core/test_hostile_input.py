"""Hostile input (issue 7, item 2): every importer fed random, mutated and malicious files.

The only outcomes allowed are a consistent import or the importer's own refusal
(``registry.importing.ImportRejected`` / a report with row errors, and
``testimony.importing.ImportRejected``) naming where the problem is; any other exception fails
the test with its traceback. A refusal leaves every count as it was; an import writes exactly
what it reports. Exports never hand a spreadsheet a formula, and file names from users never
name a file on disk.

Examples per property: the figure in ``fuzz_settings(...)``, or ``SAEBOM_FUZZ_EXAMPLES``;
derandomized, so every run of the same code sees the same files (the testimony archive's random
ids aside). The module prints one line per importer in pytest's closing summary
(``fuzz: registry csv 150 cases (...)``) and its own duration.
"""

from __future__ import annotations

import copy
import csv
import datetime
import hashlib
import io
import json
import re
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils.http import content_disposition_header
from hypothesis import assume, example, given
from hypothesis import strategies as st
from openpyxl.worksheet.formula import ArrayFormula

from saebom.accounts.models import User
from saebom.core import blobs
from saebom.core.exceptions import SaebomError
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.registry.exporting import arrivals_export
from saebom.registry.importing import (
    ImportRejected,
    RowError,
    arrivals_import,
    errors_csv,
    import_job_start,
)
from saebom.registry.interchange import COLUMNS, FORMULA_STARTS, REQUIRED, unneutralise
from saebom.registry.models import (
    Arrival,
    ArrivalReason,
    ImportJob,
    OfficialRelease,
    OfficialYear,
    Person,
    PersonIdentity,
)
from saebom.registry.official import SHIPPED_SERIES, official_series_import
from saebom.testimony import exporting as testimony_exporting
from saebom.testimony import filetypes, services
from saebom.testimony import importing as testimony_importing
from saebom.testimony.models import (
    Act,
    ConsentEvent,
    Corroboration,
    Incident,
    Individual,
    Place,
)
from saebom.testimony.models import (
    Testimony as Record,
)
from tests.factories import ArrivalFactory
from tests.fuzzing import (
    ENCODINGS,
    NASTY,
    SHEET,
    Hang,
    Tally,
    codes,
    fuzz_settings,
    hang_guard,
    huge_or_nasty,
    labels,
    member,
    members_of,
    mutated,
    nasty_text,
    raw_zip,
    repeated_member,
    rewrite_member,
    rolled_back,
    row_counts,
    workbook,
)
from tests.testimony.conftest import load_gazetteer

pytestmark = pytest.mark.django_db
TALLY = Tally()
GUARD = 120  # seconds before a case counts as a hang (a failure guard, not a timing assertion)
REGISTRY_MODELS = (Arrival, Person, PersonIdentity, ArrivalReason, AuditEvent, ImportJob)
SERIES_MODELS = (OfficialRelease, OfficialYear, AuditEvent)
TESTIMONY_MODELS = (Record, Individual, Incident, Act, ConsentEvent, Corroboration, AuditEvent)


class _Summary:
    """Prints the figures in pytest's closing summary (output is captured before that)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in self.lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="module", autouse=True)
def summary(request: pytest.FixtureRequest) -> Iterator[None]:
    """The figures: cases per importer and how they ended, and this module's time."""
    printer = _Summary()
    request.config.pluginmanager.register(printer, "saebom-fuzz-summary")
    started = time.monotonic()
    yield
    printer.lines = [
        *TALLY.lines(),
        f"fuzz: {time.monotonic() - started:.1f} s on {connection.vendor}",
    ]


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user(Role.INTAKE_OFFICER)


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user(Role.ADMIN)


# -- the registry: what a clean outcome is ------------------------------------------------------


def import_arrivals(
    actor: User,
    data: bytes,
    filename: str,
    *,
    importer: str,
    rows: int | None = None,
    record_ids: set[str] | None = None,
) -> str:
    """Import ``data`` in a savepoint and check the outcome; ``rows`` is the number of record
    rows the file holds, ``record_ids`` the ids it holds, when the caller knows them."""
    with rolled_back():
        before = row_counts(*REGISTRY_MODELS)
        try:
            with hang_guard(GUARD):
                report = arrivals_import(actor=actor, data=data, filename=filename)
        except ImportRejected as rejected:
            assert rejected.errors, "a refusal says why"
            for error in rejected.errors:
                assert isinstance(error, RowError) and error.message and error.row >= 0
            assert str(rejected)
            assert row_counts(*REGISTRY_MODELS) == before, "nothing is written on a refusal"
            TALLY.add(importer, "refused whole")
            return "refused"
        if rows is not None:
            assert report.rows == rows, "every record row is read: none dropped, none invented"
        if not report.written:
            assert report.errors
            for error in report.errors:
                assert error.row >= 2 and error.message  # names the row...
                assert error.column in COLUMNS or error.column == ""  # ...and the column
            assert report.skipped == len({e.row for e in report.errors})
            assert row_counts(*REGISTRY_MODELS) == before, "nothing is written on row errors"
            TALLY.add(importer, "refused with row errors")
            return "refused"
        after = row_counts(*REGISTRY_MODELS)
        assert not report.errors and report.rows == report.created + report.updated
        assert after["Arrival"] - before["Arrival"] == report.created
        assert after["Person"] - before["Person"] == report.created
        assert after["AuditEvent"] - before["AuditEvent"] == 1
        event = AuditEvent.objects.order_by("-seq").first()
        assert event is not None and event.action == "import"
        assert event.detail["created"] == report.created
        if record_ids is not None:
            stored = set(Arrival.objects.values_list("record_id", flat=True))
            assert stored == record_ids, "what is stored is what the file says"
        TALLY.add(importer, "imported")
        return "imported"


# -- registry CSV -------------------------------------------------------------------------------

VALID: dict[str, st.SearchStrategy[str]] = {
    "record_id": st.from_regex(r"\A[A-Z]{1,2}-[0-9]{1,6}\Z"),
    "sex": st.sampled_from(["", "F", "M", "여", "남", "Female"]),
    "arrival_date": st.sampled_from(["2015", "2019-05", "2018-03-04", "2023-02-28", "2024-12"]),
    "birth_year": st.sampled_from(["", "1960", "1985", "1999", "2001"]),
    "left_north_date": st.sampled_from(["", "2009", "1998-07", "2014-11-30"]),
    "transit_countries": st.sampled_from(["", "CN", "CN;LA;TH", "중국", "CN; MN"]),
    "reasons": st.sampled_from(["", "economic_hardship", "economic_hardship;other"]),
    "name_ko": st.sampled_from(["", "김철수", "리 영호", "박  순희", "'=김"]),
    "name_en": st.sampled_from(["", "Kim Chol-su", "Ri Yong Ho", "O'Brien", "-Pak"]),
    "date_of_birth": st.just(""),  # with birth_year, a full date mostly disagrees: hostile
}
for _column in ("origin_province", "occupation", "education", "elite_category", "route"):
    VALID[_column] = st.sampled_from(["", *codes(_column), *labels(_column)[:3]])
VALID["protection"] = st.sampled_from(["", *codes("protection")])
OPTIONAL = [c for c in COLUMNS if c not in REQUIRED]
HEADER_CHANGES = ("none",) * 8 + ("duplicate", "unknown", "formula", "missing", "case", "blank")


@st.composite
def arrival_table(draw: st.DrawFn) -> tuple[list[str], list[list[str]], str]:
    """A header (sometimes broken) and rows of cells (valid, or hostile at some rate)."""
    columns = [*REQUIRED, *draw(st.lists(st.sampled_from(OPTIONAL), unique=True, max_size=8))]
    header = list(draw(st.permutations(columns)))
    change = draw(st.sampled_from(HEADER_CHANGES))
    if change == "duplicate":
        header.insert(draw(st.integers(0, len(header))), draw(st.sampled_from(header)))
    elif change == "unknown":
        header.append(draw(st.sampled_from(["nickname", "Record_ID", "", "record id"])))
    elif change == "formula":
        header.append(draw(st.sampled_from(['=HYPERLINK("x")', "+cmd", "-2+3", "@A1"])))
    elif change == "missing":
        header.remove(draw(st.sampled_from(REQUIRED)))
    elif change == "case":
        header = [name.upper() if name == "arrival_date" else name for name in header]
    elif change == "blank":
        header = [f" {name}\t" for name in header]
    hostility = draw(st.sampled_from([0, 0, 0, 1, 3, 10]))  # in tenths of cells
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        cells = []
        for name in header:
            hostile = hostility and draw(st.integers(0, 9)) < hostility
            valid = VALID.get(name.strip())
            cells.append(draw(nasty_text if hostile or valid is None else valid))
        shape = draw(st.sampled_from(["same"] * 8 + ["longer", "shorter"]))
        if shape == "longer":
            cells.append(draw(nasty_text))
        elif shape == "shorter" and cells:
            cells.pop()
        rows.append(cells)
    if rows and draw(st.integers(0, 9)) == 0:  # a huge cell somewhere
        target = draw(st.sampled_from(rows))
        if target:
            target[draw(st.integers(0, len(target) - 1))] = draw(huge_or_nasty)
    return header, rows, change


def csv_text(header: list[str], rows: list[list[str]], style: int) -> str:
    buffer = io.StringIO()
    quoting, ending = [(csv.QUOTE_MINIMAL, "\r\n"), (csv.QUOTE_ALL, "\n"), (csv.QUOTE_ALL, "\r\n")][
        style
    ]
    writer = csv.writer(buffer, quoting=quoting, lineterminator=ending)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def record_rows(rows: list[list[str]]) -> int:
    """Rows the CSV reader counts: those with a cell holding more than white space."""
    return sum(1 for cells in rows if any(cell.strip() for cell in cells))


def expected_ids(header: list[str], rows: list[list[str]]) -> set[str]:
    where = [name.strip() for name in header].index("record_id")
    return {
        unneutralise(cells[where].strip() if where < len(cells) else "")
        for cells in rows
        if any(c.strip() for c in cells)
    }


@fuzz_settings(150)
@given(table=arrival_table(), style=st.integers(0, 2), encoding=st.sampled_from(ENCODINGS))
def test_registry_csv_files_import_consistently_or_are_refused_cleanly(
    officer: User, table: tuple[list[str], list[list[str]], str], style: int, encoding: str
) -> None:
    header, rows, change = table
    text = csv_text(header, rows, style)
    data = text.encode(encoding, errors="replace")
    as_read = data.decode(encoding)  # what the file says, in its own encoding
    faithful = as_read == text
    outcome = import_arrivals(
        officer,
        data,
        "arrivals.csv",
        importer="registry csv",
        rows=record_rows(rows) if faithful and encoding.startswith("utf-8") else None,
        record_ids=expected_ids(header, rows) if faithful and change != "missing" else None,
    )
    if outcome == "imported":
        # Never mojibake: a file imports only when UTF-8 reads it as its own encoding does.
        assert data.decode("utf-8-sig") == as_read.removeprefix("\ufeff")
    if change in ("duplicate", "unknown", "formula", "missing", "case"):
        assert outcome == "refused", f"a header with a {change} column is refused"


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("record_id,arrival_date,record_id", "record_id"),
        ("record_id,arrival_date,sex, sex", "sex"),
        ("record_id,arrival_date,name_ko,name_en,name_ko", "name_ko"),
    ],
)
@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_duplicated_headers_are_refused_naming_the_header(
    officer: User, header: str, named: str, kind: str
) -> None:
    names = header.split(",")
    values = ["R-1", "2020", *["x"] * (len(names) - 2)]
    if kind == "csv":
        data = f"{header}\n{','.join(values)}\n".encode()
    else:
        data = workbook([names, values])
    with pytest.raises(ImportRejected) as rejected:
        arrivals_import(actor=officer, data=data, filename=f"f.{kind}")
    assert (1, named, "this column appears twice") in [
        (e.row, e.column, e.message) for e in rejected.value.errors
    ]
    assert f"row 1, {named}: this column appears twice" in str(rejected.value)
    assert not Arrival.objects.exists()


KOREAN_NAMES = ["김철수", "리영호", "박순희", "최은정", "한국", "평양", "함경북도", "가나다라"]


@pytest.mark.parametrize("encoding", ["cp949", "euc-kr", "utf-16", "utf-16-le", "utf-16-be"])
def test_korean_text_in_a_legacy_or_wide_encoding_is_refused_not_stored_garbled(
    officer: User, encoding: str
) -> None:
    rows = "".join(f"R-{n},2020,{name}\n" for n, name in enumerate(KOREAN_NAMES))
    data = f"record_id,arrival_date,name_ko\n{rows}".encode(encoding)
    with pytest.raises(ImportRejected) as rejected:
        arrivals_import(actor=officer, data=data, filename="legacy.csv")
    assert "not UTF-8" in str(rejected.value) and rejected.value.errors[0].row >= 1  # the line
    assert not Arrival.objects.exists() and not PersonIdentity.objects.exists()


def test_latin1_text_is_refused_and_ascii_imports_as_it_is(officer: User) -> None:
    latin = "record_id,arrival_date,name_en\nR-1,2020,José Müller\n".encode("latin-1")
    with pytest.raises(ImportRejected, match=r"row 2.*not UTF-8"):
        arrivals_import(actor=officer, data=latin, filename="latin.csv")
    ascii_only = "record_id,arrival_date,name_en\nR-1,2020,Jose Muller\n".encode("latin-1")
    assert arrivals_import(actor=officer, data=ascii_only, filename="a.csv").created == 1
    assert PersonIdentity.objects.get().name_en == "Jose Muller"


VALID_CSV = (
    "record_id,arrival_date,sex,birth_year,name_ko,name_en,reasons,transit_countries\n"
    "R-1,2019-05,F,1985,김철수,Kim Chol-su,economic_hardship,CN;LA;TH\n"
    "R-2,2020,M,1970,리영호,Ri Yong-ho,other,CN\n"
    "R-3,2018-03-04,,,,,,\n"
).encode()


@fuzz_settings(100)
@given(data=st.one_of(mutated(VALID_CSV), mutated(b"\xef\xbb\xbf" + VALID_CSV), st.binary()))
def test_registry_csv_byte_mutations_and_garbage(officer: User, data: bytes) -> None:
    import_arrivals(officer, data, "mutated.csv", importer="registry csv (bytes)")


# -- registry XLSX ------------------------------------------------------------------------------

ILLEGAL_XML = "".join(map(chr, [*range(0, 9), 11, 12, *range(14, 32)]))


def xlsx_safe(text: str) -> str:
    return text.translate({ord(c): None for c in ILLEGAL_XML})


xlsx_value = st.one_of(
    st.none(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.dates(datetime.date(1900, 3, 1), datetime.date(2030, 1, 1)),
    st.datetimes(datetime.datetime(1900, 3, 1), datetime.datetime(2030, 1, 1)),
    st.times(),
    nasty_text.map(xlsx_safe),
    st.sampled_from(["=1+1", "=SUM(A1:A3)", '="김"&"철수"', '=HYPERLINK("x")']),
)
ZIP_CHANGES = ("none",) * 6 + (
    "short dimension",
    "short dimension",
    "short dimension",
    "huge dimension",
    "cut sheet",
    "flip sheet",
    "drop member",
    "garbage member",
    "cut archive",
    "array formula",
)


def _declared(size: bytes) -> Callable[[bytes], bytes]:
    return lambda xml: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="' + size + b'"', xml)


@fuzz_settings(100)
@given(table=arrival_table(), typed=st.data(), change=st.sampled_from(ZIP_CHANGES))
def test_registry_xlsx_files_import_consistently_or_are_refused_cleanly(
    officer: User, table: tuple[list[str], list[list[str]], str], typed: st.DataObject, change: str
) -> None:
    header, rows, _ = table
    cells: list[list[Any]] = [
        [xlsx_safe(v) if typed.draw(st.integers(0, 4)) else typed.draw(xlsx_value) for v in row]
        for row in rows
    ]
    data = workbook([[xlsx_safe(name) for name in header], *cells])
    known = change in ("none", "short dimension", "huge dimension")  # rows still all there
    if change == "short dimension":
        data = rewrite_member(data, SHEET, _declared(b"A1:BZ2"))  # every column, two rows
    elif change == "huge dimension":
        data = rewrite_member(data, SHEET, _declared(b"A1:XFD1048576"))
    elif change == "cut sheet":
        data = rewrite_member(data, SHEET, lambda xml: xml[: len(xml) * 2 // 3])
    elif change == "flip sheet":
        data = rewrite_member(data, SHEET, lambda xml: typed.draw(mutated(xml)))
    elif change == "drop member":
        data = rewrite_member(data, "xl/workbook.xml", lambda xml: b"")
    elif change == "garbage member":
        data = rewrite_member(data, "xl/styles.xml", lambda xml: typed.draw(st.binary()))
    elif change == "cut archive":
        data = data[: typed.draw(st.integers(0, len(data) - 1))]
    elif change == "array formula":
        data = workbook([[xlsx_safe(name) for name in header], *cells], _array_formula_in_a2)
    blank = (None, "")
    import_arrivals(
        officer,
        data,
        "arrivals.xlsx",
        importer="registry xlsx",
        rows=sum(1 for r in cells if any(v not in blank for v in r)) if known else None,
    )


def _array_formula_in_a2(sheet: Any) -> None:
    sheet["A2"] = ArrayFormula("A2", "=1+1")


def test_xlsx_formulas_of_every_kind_are_refused_naming_row_and_column(officer: User) -> None:
    def formulas(sheet: Any) -> None:
        sheet["C2"] = '=UPPER("kim")'
        sheet["C3"] = ArrayFormula("C3", '=UPPER("kim")')
        sheet["D4"] = "=1+1"

    header = ["record_id", "arrival_date", "name_en", "name_ko"]
    data = workbook([header, ["R-1", "2020"], ["R-2", "2020"], ["R-3", "2020"]], formulas)
    report = arrivals_import(actor=officer, data=data, filename="f.xlsx")
    assert not report.written
    assert [(e.row, e.column, e.message) for e in report.errors] == [
        (2, "name_en", "is a formula; import values only"),
        (3, "name_en", "is a formula; import values only"),
        (4, "name_ko", "is a formula; import values only"),
    ]
    assert not Arrival.objects.exists()


def test_xlsx_size_the_sheet_declares_is_not_trusted(officer: User) -> None:
    rows = [["record_id", "arrival_date"], *([f"R-{n}", "2020"] for n in range(300))]
    # Declared smaller than its data: openpyxl would stop at row 3 and report success.
    short = rewrite_member(workbook(rows), SHEET, _declared(b"A1:B3"))
    assert arrivals_import(actor=officer, data=short, filename="s.xlsx").created == 300
    # Declared as wide and long as a sheet can be: every row would be padded to 16,384 cells.
    huge = rewrite_member(workbook(rows), SHEET, _declared(b"A1:XFD1048576"))
    with hang_guard(GUARD):
        report = arrivals_import(actor=officer, data=huge, filename="h.xlsx")
    assert (report.rows, report.updated) == (300, 300)


def _moved(row: int, to: str) -> Callable[[bytes], bytes]:
    """The sheet with row ``row`` renumbered (``to`` is the new number)."""

    def change(xml: bytes) -> bytes:
        xml = xml.replace(f'<row r="{row}"'.encode(), f'<row r="{to}"'.encode())
        for column in "ABC":
            xml = xml.replace(f'r="{column}{row}"'.encode(), f'r="{column}{to}"'.encode())
        return xml

    return change


def _renumbered(row: int, to: str) -> Callable[[bytes], bytes]:
    """Row ``row`` numbered ``to`` (which openpyxl reads as a float), its cells unnumbered."""

    def change(xml: bytes) -> bytes:
        xml = xml.replace(f'<row r="{row}"'.encode(), f'<row r="{to}"'.encode())
        for column in "ABC":
            xml = xml.replace(f' r="{column}{row}"'.encode(), b"")
        return xml

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_moved(2, "1000000000000"), "row 1048577, all columns: the sheet has more than"),
        (_renumbered(2, "1e15"), "row 1048577, all columns: the sheet has more than"),
        (lambda xml: xml.replace(b'r="B2"', b'r="XFD2"'), "row 2, all columns: has a value"),
        (lambda xml: xml.replace(b'r="B2"', b'r="ZZZZ2"'), "not a readable XLSX workbook"),
    ],
)
def test_xlsx_rows_and_columns_out_of_range_are_refused_naming_the_row(
    officer: User, change: Callable[[bytes], bytes], message: str
) -> None:
    data = rewrite_member(workbook([["record_id", "arrival_date"], ["R-1", "2020"]]), SHEET, change)
    with hang_guard(GUARD), pytest.raises(ImportRejected) as rejected:
        arrivals_import(actor=officer, data=data, filename="r.xlsx")
    assert message in str(rejected.value)
    assert not Arrival.objects.exists()


def _measured(call: Callable[[], object]) -> tuple[object, int]:
    """``call``'s result (or the exception it raised) and the peak of Python allocations."""
    tracemalloc.start()
    try:
        with hang_guard(GUARD):
            try:
                result: object = call()
            except ImportRejected as rejected:
                result = rejected
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


BOUND = 50 * 2**20  # bytes of Python allocations a refusal may peak at (the bombs inflate to GBs)


def _sheet_parts() -> tuple[list[Any], bytes, bytes]:
    data = workbook([["record_id", "arrival_date"], ["R-1", "2020"]])
    others = [m for m in members_of(data) if m.name != SHEET]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        head, tail = archive.read(SHEET).split(b"</sheetData>")
    return others, head, b"</sheetData>" + tail


def test_a_zip_bomb_disguised_as_xlsx_is_refused_with_bounded_memory(officer: User) -> None:
    others, head, tail = _sheet_parts()
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>' * 20_000  # 1 MB, a block
    bomb = raw_zip([*others, repeated_member(SHEET, head, row, 2048, tail)])  # 2 GiB inflated
    assert len(bomb) < 8 * 2**20  # 2 GiB from under 8 MiB
    result, peak = _measured(lambda: arrivals_import(actor=officer, data=bomb, filename="b.xlsx"))
    assert isinstance(result, ImportRejected)
    assert "the workbook expands to an implausible size" in str(result)
    assert peak < BOUND, f"peaked at {peak / 2**20:.0f} MiB"
    assert not Arrival.objects.exists()


def test_a_smaller_bomb_under_the_old_limit_is_refused_too(officer: User) -> None:
    """190 MiB of sheet from under 1 MB passed the old guard (which let anything under
    200 MiB through): read row by row it costs a minute and 250 MB; read the old way, trusting
    the size the sheet declares, it imported its first row and silently ignored the rest."""
    others, head, tail = _sheet_parts()
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>' * 20_000
    bomb = raw_zip([*others, repeated_member(SHEET, head, row, 190, tail)])
    result, peak = _measured(lambda: arrivals_import(actor=officer, data=bomb, filename="b.xlsx"))
    assert "the workbook expands to an implausible size" in str(result)
    assert peak < BOUND


def test_a_bomb_that_lies_about_its_size_is_refused_with_bounded_memory(officer: User) -> None:
    """Headers claiming 100 kB for a member that inflates to 1 GiB: zipfile stops at the
    declared size and the CRC check fails."""
    others, head, tail = _sheet_parts()
    row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>' * 20_000
    honest = repeated_member(SHEET, head, row, 1024, tail)
    liar = type(honest)(honest.name, honest.deflated, honest.crc, 100_000)
    bomb = raw_zip([*others, liar])
    result, peak = _measured(lambda: arrivals_import(actor=officer, data=bomb, filename="b.xlsx"))
    assert isinstance(result, ImportRejected)
    assert "not a readable XLSX workbook" in str(result)
    assert peak < BOUND


ENTITIES = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lollollollollollollollollollol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
"""


@pytest.mark.parametrize("entity", [b"&lol9;", b"&xxe;"])
def test_xml_entity_bombs_and_external_entities_are_refused(officer: User, entity: bytes) -> None:
    def declare(xml: bytes) -> bytes:
        body = xml.split(b"?>", 1)[-1] if xml.startswith(b"<?xml") else xml
        return ENTITIES + body.replace(b"<t>R-1</t>", b"<t>" + entity + b"</t>")

    data = rewrite_member(
        workbook([["record_id", "arrival_date"], ["R-1", "2020"]]), SHEET, declare
    )
    result, peak = _measured(lambda: arrivals_import(actor=officer, data=data, filename="e.xlsx"))
    assert isinstance(result, ImportRejected), result
    assert peak < BOUND
    assert not Arrival.objects.exists()


@pytest.mark.parametrize(
    ("numbers", "row", "after"),
    [
        ((1, 2, 3, 2), 2, 3),  # repeated
        ((1, 2, 5, 4), 4, 5),  # backwards
    ],
)
def test_rows_out_of_order_are_refused_not_lost(
    officer: User, numbers: tuple[int, ...], row: int, after: int
) -> None:
    """openpyxl's read-only sheets skip such a row without a word: the file is refused, naming
    the row, and nothing is written."""
    rows = [["record_id", "arrival_date"], ["R-1", "2020"], ["R-2", "2021"], ["R-3", "2022"]]

    def renumber(xml: bytes) -> bytes:
        for written, number in zip((1, 2, 3, 4), numbers, strict=True):
            xml = xml.replace(f'<row r="{written}"'.encode(), f'<row r="#{number}"'.encode())
        return xml.replace(b'<row r="#', b'<row r="')

    data = rewrite_member(workbook(rows), SHEET, renumber)
    with pytest.raises(ImportRejected) as refused:
        arrivals_import(actor=officer, data=data, filename="o.xlsx")
    assert str(refused.value) == (
        f"row {row}, all columns: this row comes after row {after} in the file; rows out of "
        "order or repeated would be lost (save the workbook again from a spreadsheet program)"
    )
    assert not Arrival.objects.exists()
    in_order = rewrite_member(workbook(rows), SHEET, lambda xml: xml)
    assert arrivals_import(actor=officer, data=in_order, filename="o.xlsx").created == 3


# -- the official series ------------------------------------------------------------------------


@st.composite
def series_file(draw: st.DrawFn) -> tuple[bytes, bool]:
    lines = []
    if draw(st.booleans()):
        lines.append("# source: " + draw(st.sampled_from(["MoU", "통일부", *NASTY[:20]])))
    revised = draw(st.sampled_from(["2026-02-04", "2025-13-01", "yesterday", "", None]))
    if revised is not None:
        lines.append(f"# revised: {revised}")
    header = "period,first_year,last_year,male,female,total,status"
    lines.append(draw(st.sampled_from([header] * 6 + ["period,total", header + ",extra"])))
    hostility = draw(st.sampled_from([0, 0, 1, 3]))
    numbers = st.one_of(st.integers(0, 5000).map(str), huge_or_nasty)
    years = st.sampled_from(["~1998", "1999-2001", "2001", "1944", "2100", "99999", "40000"])
    for n in range(draw(st.integers(0, 6))):
        year = 2002 + n
        cells = [str(year), str(year), str(year), "100", "200", "300", "final"]
        for i in range(len(cells)):
            if hostility and draw(st.integers(0, 9)) < hostility:
                cells[i] = draw(st.one_of(nasty_text, numbers, years))
        lines.append(",".join(f'"{c}"' if draw(st.booleans()) else c for c in cells))
    text = "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))
    encoding = draw(st.sampled_from(ENCODINGS))
    return text.encode(encoding, errors="replace"), draw(st.booleans())


def import_series(actor: User, data: bytes, *, revised: bool, importer: str) -> str:
    with rolled_back():
        before = row_counts(*SERIES_MODELS)
        current = list(OfficialRelease.objects.filter(is_current=True).values_list("pk", flat=True))
        try:
            with hang_guard(GUARD):
                release = official_series_import(
                    actor=actor,
                    data=data,
                    revised_on=datetime.date(2026, 2, 4) if revised else None,
                )
        except ImportRejected as rejected:
            assert rejected.errors and all(e.message for e in rejected.errors)
            assert row_counts(*SERIES_MODELS) == before
            assert (
                list(OfficialRelease.objects.filter(is_current=True).values_list("pk", flat=True))
                == current
            )
            TALLY.add(importer, "refused")
            return "refused"
        after = row_counts(*SERIES_MODELS)
        assert after["OfficialRelease"] == before["OfficialRelease"] + 1
        assert after["OfficialYear"] - before["OfficialYear"] == release.rows.count() > 0
        assert after["AuditEvent"] == before["AuditEvent"] + 1
        assert list(OfficialRelease.objects.filter(is_current=True)) == [release]
        for row in release.rows.all():  # what was stored reads back as it was parsed
            assert row.total == row.male + row.female and 1945 <= row.last_year <= 2100
        TALLY.add(importer, "imported")
        return "imported"


@pytest.fixture
def statistician(make_user: Callable[..., User]) -> User:
    return make_user(Role.STATISTICIAN)


@fuzz_settings(150)
@given(made=series_file())
def test_official_series_files_import_consistently_or_are_refused_cleanly(
    statistician: User, made: tuple[bytes, bool]
) -> None:
    data, revised = made
    import_series(statistician, data, revised=revised, importer="official series")


@fuzz_settings(80)
@given(data=st.one_of(mutated(SHIPPED_SERIES.read_bytes()), st.binary(max_size=2000)))
def test_official_series_byte_mutations_and_garbage(statistician: User, data: bytes) -> None:
    import_series(statistician, data, revised=True, importer="official series (bytes)")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2002,2002,2002,1,2,3," + "x" * 200_000, "row 2, all columns: not readable as CSV"),
        ("2002,2002,99999,1,2,3,final", "row 2, last_year: 99999 is not a year"),
        ("2002,40000,40000,1,2,3,final", "row 2, first_year: 40000 is not a year"),
        ("20\x0002,2002,2002,1,2,3,final", "row 2, period: contains control characters"),
        ("2002,2002,2002,1,2,3,fin\x00al", "row 2, status: contains control characters"),
    ],
)
def test_official_series_values_no_column_holds_are_refused(
    statistician: User, row: str, message: str
) -> None:
    data = f"period,first_year,last_year,male,female,total,status\n{row}\n".encode()
    with pytest.raises(ImportRejected) as rejected:
        official_series_import(actor=statistician, data=data, revised_on=datetime.date(2026, 1, 1))
    assert message in str(rejected.value)
    assert not OfficialRelease.objects.filter(revised_on=datetime.date(2026, 1, 1)).exists()


def test_official_series_source_with_a_nul_is_refused(statistician: User) -> None:
    data = b"# source: Mo\x00U\nperiod,first_year,last_year,male,female,total,status\n"
    data += b"2002,2002,2002,1,2,3,final\n"
    with pytest.raises(ImportRejected, match="source: contains control characters"):
        official_series_import(actor=statistician, data=data, revised_on=datetime.date(2026, 1, 1))


# -- testimonies --------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path, settings: Any) -> Path:
    settings.SAEBOM_EVIDENCE_DIR = tmp_path / "evidence"
    return tmp_path / "evidence"


@pytest.fixture
def documenter(make_user: Callable[..., User], store: Path) -> User:
    if not Place.objects.filter(code="kwanliso_15").exists():
        load_gazetteer()
    return make_user(Role.DOCUMENTER, username="dora")


def _testimony(actor: User, **values: Any) -> Record:
    return services.testimony_create(
        actor=actor,
        interview_date=datetime.date(2024, 5, 2),
        language="ko",
        summary=values.pop("summary", "Detention at a holding centre after repatriation."),
        consent_scope=values.pop("consent_scope", "internal"),
        consent_given_on=datetime.date(2024, 5, 2),
        **values,
    )


def _coded(actor: User, testimony: Record, place: str = "north_hamgyong") -> Act:
    victim = services.individual_add(
        actor=actor, testimony=testimony, role="victim", name="Pak", sex="M", approx_age=34
    )
    perpetrator = services.individual_add(
        actor=actor, testimony=testimony, role="perpetrator", institution="mss", rank="captain"
    )
    incident = services.incident_add(
        actor=actor,
        testimony=testimony,
        date_start=datetime.date(2009, 3, 1),
        date_precision="month",
        place=place,
        place_detail="the cellar",
    )
    return services.act_add(
        actor=actor,
        incident=incident,
        act_type="arrest",
        connection="witnessed",
        reliability="b",
        credibility="2",
        victims=[victim.pk],
        perpetrators=[(perpetrator.pk, "direct")],
        notes="seen from the window",
    )


@pytest.fixture
def archive(documenter: User) -> bytes:
    """An internal export of two coded testimonies (one sealed, with an evidence file, their
    acts corroborated) and an uncoded one, made in a savepoint then rolled back."""
    with transaction.atomic():
        evidence = services.evidence_upload(
            actor=documenter,
            filename="letter.pdf",
            data=b"%PDF-1.7\na letter\n%%EOF\n",
            received_from="the witness",
            received_on=datetime.date(2024, 5, 2),
            description="a letter",
        )
        first = _testimony(documenter, interviewers=["dora"], transcript="Transcript one.")
        second = _testimony(documenter, witness_identity="Witness W-2")
        third = _testimony(documenter, consent_scope="publish_named")
        acts = [_coded(documenter, t) for t in (first, second)]
        services.acts_corroborate(actor=documenter, acts=acts, label="Onsong arrests, 2009")
        services.evidence_link(actor=documenter, evidence=evidence, testimony=first)
        services.testimony_seal(actor=documenter, testimony=first, expected_version=1)
        content = testimony_exporting.testimonies_export(actor=documenter, scope="internal")
        order = [first.public_id, second.public_id, third.public_id]
        transaction.set_rollback(True)
    assert not Record.objects.exists()
    document = json.loads(content.content)
    # The same shape on every run (ids are random), so that derandomized draws hit the same paths.
    document["testimonies"].sort(key=lambda record: order.index(record["id"]))
    document["generated_at"] = "2026-01-01T00:00:00+00:00"
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _paths(item, (*path, n))


# The free text an import stores (codes are checked against vocabularies before any write).
FREE_TEXT = {"summary", "transcript", "identity", "place", "unit", "rank", "name", "notes"}
FREE_TEXT |= {"place_detail", "description", "label"}
unstorable_text = st.sampled_from(["\ud800", "a\udfffb", "a\x00b", "\x00"])
json_value = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(10**30, 10**40),
        st.floats(),
        nasty_text,
        st.sampled_from(["\ud800", "a\udfffb", "2024-02-30", "T-00000000", "kwanliso_15"]),
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(nasty_text, children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def a_testimony_file(draw: st.DrawFn, archive: bytes) -> tuple[bytes, dict[str, Any] | None, bool]:
    """The archive with a few changes to its structure, serialised (sometimes in another
    encoding, sometimes then mutated byte by byte); the document when it is known."""
    document = json.loads(archive)
    paths = [path for path in _paths(document) if path]
    for _ in range(draw(st.integers(0, 3))):
        *parents, last = draw(st.sampled_from(paths))
        try:
            target: Any = _at(document, parents)
            kind = draw(st.sampled_from(["text"] * 4 + ["set", "set", "delete", "extra", "copy"]))
            if kind == "text":  # a text field given hostile text: what reaches the columns
                texts = [
                    path
                    for path in _paths(document)
                    if path[-1:] and path[-1] in FREE_TEXT and isinstance(_at(document, path), str)
                ]
                *parents, last = draw(st.sampled_from(texts))
                _at(document, parents)[last] = draw(st.one_of(nasty_text, unstorable_text))
            elif kind == "set":
                target[last] = draw(json_value)
            elif kind == "delete":
                del target[last]
            elif kind == "extra" and isinstance(target, dict):
                target[draw(nasty_text)] = draw(json_value)
            elif kind == "copy":  # a value from elsewhere in the file: right type, wrong place
                target[last] = copy.deepcopy(_at(document, draw(st.sampled_from(paths))))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or retyped this path
    if draw(st.integers(0, 9)) == 0 and isinstance(document.get("testimonies"), list):
        document["testimonies"] = [*document["testimonies"], *document["testimonies"][:1]]
    ascii_only = draw(st.sampled_from([True, True, False]))  # escapes keep lone surrogates
    text = json.dumps(document, ensure_ascii=ascii_only, indent=draw(st.sampled_from([None, 1])))
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "utf-16", "cp949", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 7)) == 0:
        return draw(mutated(data)), None, draw(st.booleans())
    return data, document if encoding.startswith("utf-8") else None, draw(st.booleans())


def _at(document: Any, path: Any) -> Any:
    for key in path:
        document = document[key]
    return document


def import_testimonies(
    actor: User, data: bytes, document: dict[str, Any] | None, *, dry_run: bool, importer: str
) -> str:
    with rolled_back():
        before = row_counts(*TESTIMONY_MODELS)
        try:
            with hang_guard(GUARD):
                report = testimony_importing.testimonies_import(
                    actor=actor, data=data, dry_run=dry_run
                )
        except testimony_importing.ImportRejected as rejected:
            assert rejected.errors and str(rejected)
            for error in rejected.errors:
                assert isinstance(error, testimony_importing.RecordError)
                assert error.message and isinstance(error.field, str)
                assert error.index is None or error.index >= 0  # the record, or the file
            assert row_counts(*TESTIMONY_MODELS) == before
            TALLY.add(importer, "refused")
            return "refused"
        after = row_counts(*TESTIMONY_MODELS)
        if dry_run:
            assert after == before
            TALLY.add(importer, "checked (dry run)")
            return "imported"
        written = {name: after[name] - before[name] for name in after}
        assert written["Testimony"] == len(report.testimonies)
        assert set(Record.objects.values_list("public_id", flat=True)) >= set(report.testimonies)
        if document is not None:
            records = document["testimonies"]
            assert written["Testimony"] == len(records)
            assert written["Individual"] == sum(len(t.get("individuals") or []) for t in records)
            events = [e for t in records for e in t.get("events") or []]
            assert written["Incident"] == len(events)
            assert written["Act"] == sum(len(e.get("acts") or []) for e in events)
        assert AuditEvent.objects.filter(action="import", object_type="testimony").count() == 1
        TALLY.add(importer, "imported")
        return "imported"


@fuzz_settings(250)
@given(made=st.data())
def test_testimony_json_imports_consistently_or_is_refused_cleanly(
    documenter: User, archive: bytes, made: st.DataObject
) -> None:
    data, document, dry_run = made.draw(a_testimony_file(archive))
    import_testimonies(documenter, data, document, dry_run=dry_run, importer="testimony json")


def test_the_unchanged_archive_imports(documenter: User, archive: bytes) -> None:
    """The baseline the fuzzing mutates: it imports as it is."""
    document = json.loads(archive)
    outcome = import_testimonies(
        documenter, archive, document, dry_run=False, importer="testimony json (unchanged)"
    )
    assert outcome == "imported"


def _set(path: tuple[Any, ...], value: Any) -> Callable[[str], str]:
    """Set ``value`` at ``path`` in the document; JSON escapes what ASCII cannot hold."""

    def change(text: str) -> str:
        document = json.loads(text)
        _at(document, path[:-1])[path[-1]] = value
        return json.dumps(document)

    return change


FIRST = ("testimonies", 0)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (_set((*FIRST, "summary"), "a\x00b"), "testimonies[0].summary", "cannot be stored"),
        (_set((*FIRST, "summary"), "a\ud800b"), "testimonies[0].summary", "cannot be stored"),
        (_set((*FIRST, "interview", "interviewers"), ["do\x00ra"]),
         "testimonies[0].interview.interviewers[0]", "cannot be stored"),
        (_set((*FIRST, "note\x00s"), "x"), "testimonies[0]", "cannot be stored"),
        (_set(("scope",), "in\x00ternal"), "scope", "cannot be stored"),
        (lambda t: t.replace('"count": 3', '"count": ' + "9" * 5000, 1), "",
         "holds a number too long to read"),
        (lambda t: t.replace('"version": 1', '"version": ' + "[" * 100_000, 1), "",
         "nested too deeply"),
        (lambda t: t.replace('"summary": ', '"summary": "first", "summary": ', 1), "",
         "the key 'summary' appears twice in one object"),
        (lambda t: t.replace('"consent": {', '"consent": {"scope": "publish_named", ', 1), "",
         "the key 'scope' appears twice in one object"),
    ],
)  # fmt: skip
def test_testimony_json_that_no_database_could_store_is_refused_naming_the_field(
    documenter: User, archive: bytes, change: Callable[[str], str], field: str, message: str
) -> None:
    data = change(archive.decode()).encode()
    assert data != archive
    before = row_counts(*TESTIMONY_MODELS)
    with pytest.raises(testimony_importing.ImportRejected) as rejected:
        testimony_importing.testimonies_import(actor=documenter, data=data)
    [error] = rejected.value.errors
    assert (error.field, message in error.message) == (field, True), error
    assert row_counts(*TESTIMONY_MODELS) == before


@pytest.mark.parametrize(
    ("encoding", "words"),
    [("utf-16", "증언: Müller"), ("cp949", "증언 내용"), ("euc-kr", "평양"), ("latin-1", "Müller")],
)
def test_testimony_json_in_another_encoding_is_refused(
    documenter: User, archive: bytes, encoding: str, words: str
) -> None:
    text = json.dumps(json.loads(archive)).replace("Transcript one.", words)  # ASCII but these
    with pytest.raises(testimony_importing.ImportRejected, match="not UTF-8 text"):
        testimony_importing.testimonies_import(actor=documenter, data=text.encode(encoding))
    assert not Record.objects.exists()


# -- exports ------------------------------------------------------------------------------------

EXPORTABLE = "".join(c for c in map(chr, range(32)) if c not in "\t\n\r")
formula_text = st.builds(
    lambda start, rest: start + rest,
    st.sampled_from(FORMULA_STARTS),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters=EXPORTABLE)),
)


def _xml_line_ends(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def assert_no_formula(cells: list[str], where: str) -> None:
    for value in cells:
        assert not value.startswith(FORMULA_STARTS), f"{where}: {value!r} would run"


def csv_cells(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))


def xlsx_sheets(content: bytes) -> list[list[list[str]]]:
    """Every cell of every sheet, sheet by sheet; a formula cell fails here."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(content))
    sheets = []
    for sheet in book.worksheets:
        rows = []
        for line in sheet.iter_rows():
            for cell in line:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"
            rows.append(["" if c.value is None else str(c.value) for c in line])
        sheets.append(rows)
    return sheets


def xlsx_cells(content: bytes) -> list[list[str]]:
    return [row for sheet in xlsx_sheets(content) for row in sheet]


@fuzz_settings(40)
@given(texts=st.lists(formula_text, min_size=1, max_size=4))
def test_registry_exports_neutralise_every_formula(admin: User, texts: list[str]) -> None:
    with rolled_back():
        originals = {}
        for n, text in enumerate(texts):
            record_id = f"{text[:50]}~{n}"
            arrival = ArrivalFactory(agency=admin.agency, record_id=record_id)
            PersonIdentity(person=arrival.person, name_ko=text, name_en=f"{text}~").save()
            originals[record_id] = text
        for fmt in ("csv", "xlsx"):
            # XML reads a CR as LF (openpyxl writes it as it is): compare what XML can hold.
            held = (lambda v: v) if fmt == "csv" else _xml_line_ends
            expected = {held(record_id): held(text) for record_id, text in originals.items()}
            for identifiers in (False, True):
                content = arrivals_export(actor=admin, fmt=fmt, include_identifiers=identifiers)
                if fmt == "csv":
                    rows = csv_cells(content.content)
                    table = [r for r in rows if not r[0].startswith("# ")]  # the synthetic note
                else:
                    sheets = xlsx_sheets(content.content)
                    rows, table = [r for sheet in sheets for r in sheet], sheets[0]
                for cells in rows:
                    assert_no_formula(cells, f"arrivals {fmt}")
                assert table[0][0] == "record_id" and len(table) == len(texts) + 1, "none split"
                for cells in table[1:]:
                    record_id = cells[0][1:]  # each starts with a formula character: "'" first
                    assert cells[0][:1] == "'" and record_id in expected
                    if identifiers:
                        name_ko = cells[COLUMNS.index("name_ko")]
                        assert name_ko[:1] == "'" and name_ko[1:] == expected[record_id]
    TALLY.add("export registry csv+xlsx", "checked")


@fuzz_settings(25)
@given(summary=formula_text, place=formula_text, inside=st.sampled_from(["\r", "\n", "\r\n"]))
@example(summary="=1+1", place="+2", inside="\r")
def test_testimony_csv_of_acts_neutralises_every_formula(
    documenter: User, summary: str, place: str, inside: str
) -> None:
    with rolled_back():
        named = Place.objects.create(
            code="fuzz_place", kind=codes("place_kind")[0], name_ko=place[:120], name_en=place[:120]
        )
        text = f'{summary}x{inside}=HYPERLINK("http://evil.example")'
        testimony = _testimony(documenter, summary=text, consent_scope="publish_anonymised")
        _coded(documenter, testimony, place=named.code)
        content = testimony_exporting.testimonies_export(
            actor=documenter, scope="publish_anonymised", fmt="csv"
        ).content
        rows = csv_cells(content)
        assert len(rows) == 2, "one header and one act: a line break in a cell stays in it"
        for cells in rows:
            assert_no_formula(cells, "testimony csv")
        assert unneutralise(rows[1][testimony_exporting.CSV_COLUMNS.index("summary")]) == (
            testimony.summary
        )
    TALLY.add("export testimony csv", "checked")


@fuzz_settings(40)
@given(name=st.one_of(formula_text, nasty_text), inside=st.sampled_from(["", "\r", "x\r="]))
def test_the_error_report_of_an_import_neutralises_formulas(
    officer: User, name: str, inside: str
) -> None:
    header = ["record_id", "arrival_date", name + inside + "=cmd|' /C calc'!A0"]
    text = csv_text(header, [["R-1", "2020", "x"]], 0)
    try:
        report = arrivals_import(actor=officer, data=text.encode(), filename="e.csv")
        errors = report.errors
    except ImportRejected as rejected:
        errors = rejected.errors
    assume(errors)
    rows = csv_cells(errors_csv(errors).encode())
    assert len(rows) == len(errors) + 1, "one line per problem"
    for cells in rows:
        assert_no_formula(cells, "errors csv")
    TALLY.add("export import errors csv", "checked")


def test_statistics_downloads_hold_no_formula(make_user: Callable[..., User]) -> None:
    from saebom.stats.output import render
    from saebom.stats.reports import arrivals_report

    officer = make_user(Role.INTAKE_OFFICER)
    rows = "".join(f"R-{n},20{10 + n % 14},{'FM'[n % 2]},19{60 + n % 30}\n" for n in range(60))
    arrivals_import(actor=officer, data=f"record_id,arrival_date,sex,birth_year\n{rows}".encode(),
                    filename="a.csv")  # fmt: skip
    statistician = make_user(Role.STATISTICIAN)
    for by in ("year,sex", "age_group", "sex"):
        for public in (False, True):
            report = arrivals_report(actor=statistician, by=by, public=public)
            assert_no_formula([c for r in csv_cells(render(report, "csv")) for c in r], by)
            assert_no_formula([c for r in xlsx_cells(render(report, "xlsx")) for c in r], by)


# -- file names from users ----------------------------------------------------------------------

file_names = st.one_of(
    st.text(max_size=300),
    st.text(max_size=60).map(lambda name: name + ".pdf"),
    st.sampled_from(
        [
            "../../../../etc/passwd.pdf",
            "..\\..\\windows\\win.ini.pdf",
            "/absolute/path.pdf",
            "C:\\evil.pdf",
            "CON.pdf",
            "nul",
            ".htaccess",
            "...",
            "a\x00b.pdf",
            "statement\u202efdp.exe",
            "name\r\nContent-Type: text/html.pdf",
            "x" * 5000 + ".pdf",
            "",
            " ",
            "🙂.pdf",
        ]
    ),
    st.builds(lambda a, b: f"{a}/../{b}.pdf", st.text(max_size=10), st.text(max_size=10)),
)


def files_under(directory: Path) -> set[Path]:
    return {p for p in directory.rglob("*")} if directory.exists() else set()


@fuzz_settings(60)
@given(name=file_names)
def test_evidence_file_names_never_reach_the_file_system(
    documenter: User, store: Path, name: str
) -> None:
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    data = b"%PDF-1.7\n" + digest.encode() + b"\n%%EOF\n"
    before = files_under(store.parent)
    with rolled_back():
        try:
            evidence = services.evidence_upload(
                actor=documenter,
                filename=name,
                data=data,
                received_from="",
                received_on=None,
                description="",
            )
        except SaebomError as refused:
            assert refused.field in ("filename", "file")
            assert files_under(store.parent) == before, "a refused upload leaves nothing"
            TALLY.add("evidence file names", "refused")
            return
        sha = hashlib.sha256(data).hexdigest()
        assert evidence.sha256 == sha and evidence.original_name == name
        assert blobs.path_for(sha).is_file()
        new = files_under(store.parent) - before
        assert {p for p in new if p.is_file()} <= {blobs.path_for(sha)}, "named by content"
        assert {p.name for p in new} <= {sha, sha[:2], sha[2:4], "evidence"}
        for path in files_under(store):  # whatever any example stored: hashes, in hash folders
            parts = path.relative_to(store).parts
            assert len(parts[-1]) in (2, 64) and all(c in "0123456789abcdef" for c in parts[-1])
        shown = evidence.display_name
        assert shown == filetypes.safe_display_name(name) and 0 < len(shown) <= 120
        assert not any(c in shown for c in "/\\\x00\r\n") and not shown.startswith(".")
        header = content_disposition_header(True, shown) or ""
        assert "\r" not in header and "\n" not in header
        TALLY.add("evidence file names", "stored under the content's hash")


@fuzz_settings(60)
@given(name=file_names)
def test_import_job_file_names_are_cleaned_and_never_written(
    officer: User, settings: Any, name: str, django_capture_on_commit_callbacks: Any
) -> None:
    data_dir = Path(settings.DATA_DIR)
    before = files_under(data_dir)
    with rolled_back(), django_capture_on_commit_callbacks(execute=False):
        job = import_job_start(actor=officer, filename=name, data=b"record_id,arrival_date\n")
        stored = ImportJob.objects.get(pk=job.pk).filename
        assert stored and len(stored) <= 120
        assert all(c.isalnum() or c in "-_." for c in stored), stored
        assert stored not in ("", ".", "..")
    assert files_under(data_dir) - before <= {
        p for p in files_under(data_dir) if p.name.startswith("db.sqlite3")
    }
    TALLY.add("import job file names", "cleaned")


def test_fuzzing_helpers_build_what_they_claim() -> None:
    """The bomb builder's archive is a real zip whose member inflates to the declared size."""
    built = repeated_member("a.xml", b"<a>", b"<b/>" * 1000, 3, b"</a>")
    archive = zipfile.ZipFile(io.BytesIO(raw_zip([built, member("b.txt", b"hello")])))
    assert archive.read("a.xml") == b"<a>" + b"<b/>" * 3000 + b"</a>"
    assert archive.read("b.txt") == b"hello"
    assert isinstance(Hang("x"), BaseException) and not isinstance(Hang("x"), Exception)
