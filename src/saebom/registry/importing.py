"""Importing arrivals from CSV or XLSX: every row checked before anything is written.

Any problem means nothing is written, unless the caller asks to skip invalid rows. Row numbers are
the spreadsheet's: the header is row 1, the first record row 2.
"""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import SuspiciousFileOperation
from django.db import transaction
from django.utils.text import get_valid_filename
from django.utils.translation import gettext

from saebom.accounts.models import User
from saebom.core.actors import Actor
from saebom.core.audit import audit_record
from saebom.core.exceptions import SaebomError
from saebom.core.policy import Action
from saebom.registry.exporting import SYNTHETIC_MARK
from saebom.registry.interchange import (
    ArrivalData,
    RowInvalid,
    csv_writer,
    header_problems,
    neutralise,
    parse_row,
)
from saebom.registry.models import ImportJob
from saebom.registry.services import agency_for, arrivals_save

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_XLSX_EXPANSION = 50  # uncompressed / compressed: more than this is treated as a zip bomb
MAX_XLSX_SMALL = 10 * 1024 * 1024  # ... once past this size (exports expand 4 to 16 times)
MAX_XLSX_ROWS = 1_048_576  # a spreadsheet's own limit: a row numbered further is damage
MAX_XLSX_COLUMNS = 64  # the interchange has 16 columns: a value further right is refused
MAX_CELL_CHARS = 10_000


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = gettext("row %(row)d") % {"row": self.row} if self.row else gettext("file")
        column = self.column or gettext("all columns")
        return f"{where}, {column}: {self.message}"


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: bool = False
    dry_run: bool = False


class ImportRejected(SaebomError):
    """The file itself cannot be read (format, encoding, header): nothing was written."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(str(e) for e in errors[:5]))
        self.errors = errors


@dataclass
class Table:
    header: list[str]
    rows: Iterator[tuple[int, list[object]]]
    synthetic: bool = False  # the file says it holds synthetic demo data (Saebom's own export)


class FormulaCell(str):
    """A spreadsheet formula: only values are imported, never formulas."""


def read_table(data: bytes, filename: str) -> Table:
    """Header and numbered rows of a CSV (UTF-8, BOM or not) or XLSX file."""
    if len(data) > MAX_FILE_BYTES:
        message = gettext("the file is larger than %(mb)d MiB") % {"mb": MAX_FILE_BYTES // 2**20}
        raise ImportRejected([RowError(0, "", message)])
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith(".xlsx"):
        return _read_xlsx(data)
    return _read_csv(data)


def _unreadable(line: int, what: str) -> ImportRejected:
    return ImportRejected([RowError(line, "", what)])


def _not_csv(error: csv.Error) -> str:
    return gettext("not readable as CSV: %(reason)s") % {"reason": error}


def _not_xlsx(error: Exception) -> str:
    return gettext("not a readable XLSX workbook (%(error)s)") % {"error": type(error).__name__}


def _read_csv(data: bytes) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        message = gettext("the file is not UTF-8 text (save it as CSV UTF-8)")
        raise _unreadable(line, message) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    comments: list[str] = []
    try:
        header = [name.strip() for name in next(reader)]
        while header and header[0].startswith("#"):  # comment lines, such as a synthetic-data note
            comments.append(",".join(header))
            header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise _unreadable(1, gettext("the file is empty")) from None
    except csv.Error as exc:
        raise _unreadable(reader.line_num, _not_csv(exc)) from None

    def rows() -> Iterator[tuple[int, list[object]]]:
        try:
            for values in reader:
                if any(value.strip() for value in values):  # blank lines are skipped
                    yield reader.line_num, list(values)
        except csv.Error as exc:
            raise _unreadable(reader.line_num, _not_csv(exc)) from None

    return Table(header, rows(), synthetic=any(SYNTHETIC_MARK in c for c in comments))


def _read_xlsx(data: bytes) -> Table:
    import openpyxl
    from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula

    formulas = (ArrayFormula, DataTableFormula)  # not text: they would be read as junk

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
        if expanded > MAX_XLSX_EXPANSION * max(len(data), 1) and expanded > MAX_XLSX_SMALL:
            raise _unreadable(0, gettext("the workbook expands to an implausible size"))
        # Formulas as written (not cached results), so that a formula is refused, not emptied.
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        sheet = book.worksheets[0]
        _refuse_rows_out_of_order(sheet)
        synthetic = any(
            SYNTHETIC_MARK in str(value)
            for other in book.worksheets[1:]
            for _, line, _ in _sheet_rows(other)
            for value in line
        )
    except ImportRejected:
        raise
    except Exception as exc:  # openpyxl and zipfile raise many types for a damaged file
        raise _unreadable(0, _not_xlsx(exc)) from None

    def numbered() -> Iterator[tuple[int, list[object]]]:
        try:
            for number, values, wider in _sheet_rows(sheet):
                if wider:
                    message = gettext("has a value beyond column %(n)d")
                    raise _unreadable(number, message % {"n": MAX_XLSX_COLUMNS})
                yield number, [_xlsx_value(v, formulas) for v in values]
        except ImportRejected:
            raise
        except Exception as exc:  # the sheet's XML is read lazily: damage shows up here
            raise _unreadable(0, _not_xlsx(exc)) from None

    lines = numbered()
    try:
        _, first = next(lines)
    except StopIteration:
        raise _unreadable(1, gettext("the first sheet is empty")) from None
    header = ["" if value is None else str(value).strip() for value in first]
    while header and not header[-1]:
        header.pop()

    def rows() -> Iterator[tuple[int, list[object]]]:
        for number, values in lines:
            if any(value not in (None, "") for value in values):
                yield number, values

    return Table(header, rows(), synthetic=synthetic)


def _refuse_rows_out_of_order(sheet: Any) -> None:
    """openpyxl's read-only sheets skip, without a word, a row whose number repeats or goes
    back (``<row r="3">`` after ``<row r="5">``): no spreadsheet program writes such a file,
    but a converter may. Refuse the sheet, naming the row, rather than lose the row. One pass
    of expat over the sheet's XML, holding nothing but the last row number."""
    from xml.parsers import expat

    last = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal last
        if name.rpartition(" ")[2] != "row":
            return
        number = attributes.get("r", "")
        row = int(number) if number.isdecimal() else last + 1  # as openpyxl numbers it
        if row <= last:
            message = gettext(
                "this row comes after row %(last)d in the file; rows out of order or repeated "
                "would be lost (save the workbook again from a spreadsheet program)"
            )
            raise _unreadable(row, message % {"last": last})
        last = row

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    with sheet._get_source() as source:  # openpyxl 3.1: the sheet's XML part, opened
        parser.ParseFile(source)


def _sheet_rows(sheet: Any) -> Iterator[tuple[int, tuple[object, ...], bool]]:
    """Each row's number, its first ``MAX_XLSX_COLUMNS`` values and whether a value lies
    further right. The size a sheet declares is ignored: smaller than its data, openpyxl would
    silently drop the rows past it; larger, it would pad every row to it."""
    sheet.reset_dimensions()
    for number, values in enumerate(sheet.iter_rows(values_only=True), 1):
        if number > MAX_XLSX_ROWS:  # openpyxl fills a gap in the numbering with empty rows
            message = gettext("the sheet has more than %(n)d rows")
            raise _unreadable(number, message % {"n": MAX_XLSX_ROWS})
        beyond = values[MAX_XLSX_COLUMNS:]
        wider = beyond.count(None) + beyond.count("") < len(beyond)
        yield number, values[:MAX_XLSX_COLUMNS], wider


def _xlsx_value(value: object, formulas: tuple[type, ...]) -> object:
    if isinstance(value, str) and value.startswith("="):
        return FormulaCell(value)
    if isinstance(value, formulas):
        return FormulaCell(getattr(value, "text", None) or "=")
    return value


Progress = Callable[[str, int, int], None]


def _records(table: Table, report: ImportReport, progress: Progress | None) -> list[ArrivalData]:
    header, rows = table.header, table.rows
    problems = header_problems(header)
    if problems:
        raise ImportRejected([RowError(1, p.column, p.message) for p in problems])
    records: list[ArrivalData] = []
    seen: dict[str, int] = {}
    for number, values in rows:
        report.rows += 1
        if progress:
            progress("checking", report.rows, 0)
        row_errors = _row_shape_errors(number, header, values)
        if not row_errors:
            try:
                record = parse_row(dict(zip(header, values, strict=False)))
            except RowInvalid as invalid:
                row_errors = [RowError(number, p.column, p.message) for p in invalid.problems]
            else:
                if record.record_id in seen:
                    message = gettext("repeats row %(row)d") % {"row": seen[record.record_id]}
                    row_errors = [RowError(number, "record_id", message)]
                else:
                    seen[record.record_id] = number
                    records.append(record)
        report.errors += row_errors
    return records


def _row_shape_errors(number: int, header: list[str], values: list[object]) -> list[RowError]:
    if len(values) <= len(header) and all(
        type(v) is str and len(v) <= MAX_CELL_CHARS for v in values
    ):
        return []  # the common case, a plain CSV row of the right shape, checked at once
    formulas = [name for name, v in zip(header, values, strict=False) if isinstance(v, FormulaCell)]
    if formulas:
        message = gettext("is a formula; import values only")
        return [RowError(number, name, message) for name in formulas]
    extra = [v for v in values[len(header) :] if v not in (None, "")]
    if extra:
        message = gettext("has %(cells)d cells but the header has %(columns)d")
        return [RowError(number, "", message % {"cells": len(values), "columns": len(header)})]
    long = [
        name for name, v in zip(header, values, strict=False) if len(str(v or "")) > MAX_CELL_CHARS
    ]
    message = gettext("is longer than %(n)d characters") % {"n": MAX_CELL_CHARS}
    return [RowError(number, name, message) for name in long]


def arrivals_import(
    *,
    actor: Actor,
    data: bytes,
    filename: str,
    agency_code: str | None = None,
    dry_run: bool = False,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate the whole file, then write it in one transaction (or nothing at all)."""
    agency = agency_for(actor, Action.ARRIVAL_IMPORT, agency_code)
    report = ImportReport(dry_run=dry_run)
    table = read_table(data, filename)
    records = _records(table, report, progress)
    report.skipped = len({e.row for e in report.errors})
    if dry_run or (report.errors and not skip_invalid):
        return report
    if progress:
        progress("writing", 0, len(records))
    with transaction.atomic():
        counts = arrivals_save(
            synthetic=table.synthetic,
            actor=actor,
            agency=agency,
            records=records,
            progress=(lambda done, total: progress("writing", done, total)) if progress else None,
        )
        audit_record(
            actor=actor,
            action="import",
            object_type="arrival",
            agency_code=agency.code,
            detail={
                "rows": report.rows,
                "created": counts.created,
                "updated": counts.updated,
                "skipped": report.skipped,
            },
        )
    report.created, report.updated, report.written = counts.created, counts.updated, True
    return report


def import_job_start(
    *,
    actor: User,
    filename: str,
    data: bytes,
    skip_invalid: bool = False,
    dry_run: bool = False,
    language: str = "",
) -> ImportJob:
    """Queue a web import for the background worker; it runs as ``actor``, checked again then,
    and reports in ``language`` (the uploader's; "" for the installation's)."""
    from saebom.registry.tasks import run_import  # the task module imports this one

    agency = agency_for(actor, Action.ARRIVAL_IMPORT, None)
    with transaction.atomic():
        job = ImportJob.objects.create(
            agency=agency,
            created_by=actor,
            filename=_job_filename(filename),
            content=base64.b64encode(data).decode("ascii"),
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            language=language,
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="import_job",
            object_id=job.pk,
            agency_code=agency.code,
            detail={"bytes": len(data), "dry_run": dry_run},
        )
        transaction.on_commit(lambda: run_import.enqueue(job.pk))
    return job


def _job_filename(filename: str) -> str:
    """Shown on the job's page; the upload is never written to a file under any name."""
    try:
        return get_valid_filename(filename)[:120] or "upload"
    except SuspiciousFileOperation:  # nothing usable left ("", "..", "***")
        return "upload"


def errors_csv(errors: list[RowError]) -> str:
    """The problems as CSV; a column name comes from the file, so no cell may be a formula."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(["row", "column", "message"])
    writer.writerows((e.row, neutralise(e.column), neutralise(e.message)) for e in errors)
    return buffer.getvalue()


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SaebomError(f"{path}: {exc.strerror}") from None
