from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import translation

from saebom.accounts.models import Agency, User
from saebom.core.exceptions import NotFound, PermissionDenied
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.registry.exporting import arrivals_export
from saebom.registry.importing import ImportRejected, arrivals_import
from saebom.registry.models import Arrival, ArrivalReason, Person, PersonIdentity
from tests.cli import run_cli
from tests.registry.helpers import csv_bytes, row, xlsx_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user(Role.INTAKE_OFFICER)


def test_valid_file_creates_persons_identities_and_arrivals(officer: User) -> None:
    report = arrivals_import(
        actor=officer,
        data=csv_bytes([row(1), row(2, reasons="other;economic_hardship")]),
        filename="a.csv",
    )
    assert (report.created, report.updated, report.errors, report.written) == (2, 0, [], True)
    assert Arrival.objects.filter(agency=officer.agency).count() == 2
    assert PersonIdentity.objects.count() == 2
    assert ArrivalReason.objects.count() == 3
    event = AuditEvent.objects.get(action="import")
    assert event.detail == {"rows": 2, "created": 2, "updated": 0, "skipped": 0}
    assert event.agency_code == officer.agency.code


def test_one_bad_row_in_ten_thousand_writes_nothing(officer: User) -> None:
    rows = [row(n) for n in range(10_000)]
    rows[7_321]["sex"] = "unknown-sex"
    report = arrivals_import(actor=officer, data=csv_bytes(rows), filename="big.csv")
    assert not report.written and report.rows == 10_000
    assert [(e.row, e.column) for e in report.errors] == [(7_323, "sex")]
    assert Arrival.objects.count() == 0 and Person.objects.count() == 0
    assert not AuditEvent.objects.filter(action="import").exists()


def test_skip_invalid_writes_the_rest(officer: User) -> None:
    rows = [row(n) for n in range(50)]
    rows[10]["arrival_date"] = "yesterday"
    rows[20]["birth_year"] = "3000"
    report = arrivals_import(
        actor=officer, data=csv_bytes(rows), filename="a.csv", skip_invalid=True
    )
    assert report.written and report.created == 48 and report.skipped == 2
    assert not Arrival.objects.filter(record_id__in=["R-00010", "R-00020"]).exists()


def test_reimport_updates_instead_of_duplicating(officer: User) -> None:
    arrivals_import(actor=officer, data=csv_bytes([row(1), row(2)]), filename="a.csv")
    report = arrivals_import(
        actor=officer, data=csv_bytes([row(1, sex="M", reasons="other"), row(3)]), filename="a.csv"
    )
    assert (report.created, report.updated) == (1, 1)
    arrival = Arrival.objects.get(record_id="R-00001")
    assert arrival.sex == "M" and arrival.version == 2
    assert [r.code for r in arrival.reasons.all()] == ["other"]
    assert arrival.history.filter(history_type="~").count() == 1
    assert Person.objects.count() == 3


def test_same_record_id_in_two_agencies_is_two_records(
    officer: User, make_user: Callable[..., User], other_agency: Agency
) -> None:
    stranger = make_user(Role.INTAKE_OFFICER, agency=other_agency)
    arrivals_import(actor=officer, data=csv_bytes([row(1)]), filename="a.csv")
    arrivals_import(actor=stranger, data=csv_bytes([row(1)]), filename="a.csv")
    assert Arrival.objects.filter(record_id="R-00001").count() == 2


def test_repeated_record_id_in_one_file_is_an_error(officer: User) -> None:
    report = arrivals_import(actor=officer, data=csv_bytes([row(1), row(1)]), filename="a.csv")
    assert [(e.row, e.column) for e in report.errors] == [(3, "record_id")]
    assert "repeats row 2" in report.errors[0].message


def test_bom_and_xlsx_and_column_order(officer: User) -> None:
    reordered = ("arrival_date", "record_id", "sex")
    assert (
        arrivals_import(
            actor=officer, data=csv_bytes([row(1)], reordered, bom=True), filename="a.csv"
        ).created
        == 1
    )
    assert arrivals_import(actor=officer, data=xlsx_bytes([row(2)]), filename="b.xlsx").created == 1
    assert Arrival.objects.get(record_id="R-00002").transits.count() == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"record_id,arrival_date,nickname\nR,2023,x\n", "unknown column"),
        (b"record_id,sex\nR,F\n", "required column is missing"),
        (b"record_id,arrival_date,arrival_date\nR,2023,2023\n", "appears twice"),
        ("record_id,arrival_date\nR,2023\n".encode("utf-16"), "not UTF-8"),
        (b"", "empty"),
        (b"PK\x03\x04 not really a workbook", "not a readable XLSX"),
    ],
)
def test_unreadable_files_are_rejected_whole(officer: User, data: bytes, message: str) -> None:
    with pytest.raises(ImportRejected) as rejected:
        arrivals_import(actor=officer, data=data, filename="f.csv")
    assert message in str(rejected.value)
    assert Arrival.objects.count() == 0


def test_import_problems_are_in_korean_when_the_language_is_korean(officer: User) -> None:
    with translation.override("ko"), pytest.raises(ImportRejected) as rejected:
        arrivals_import(actor=officer, data=b"record_id,sex\nR,F\n", filename="f.csv")
    assert "1행, arrival_date: 필수 열이 없습니다" in str(rejected.value)

    bad_date = csv_bytes([row(1, arrival_date="2023-02-30")])
    english = arrivals_import(actor=officer, data=bad_date, filename="a.csv")
    with translation.override("ko"):  # the same date again: no English message kept from above
        korean = arrivals_import(actor=officer, data=bad_date, filename="a.csv")
    assert english.errors[0].message == "'2023-02-30' is not a real date"
    assert korean.errors[0].message == "'2023-02-30'은(는) 실제로 있는 날짜가 아닙니다"
    assert Arrival.objects.count() == 0


def test_extra_cells_beyond_the_header_are_an_error(officer: User) -> None:
    report = arrivals_import(
        actor=officer, data=b"record_id,arrival_date\nR,2023,surprise\n", filename="a.csv"
    )
    assert report.errors[0].row == 2
    assert "has 3 cells" in report.errors[0].message


def test_roles_without_import_cannot_import(make_user: Callable[..., User]) -> None:
    with pytest.raises(PermissionDenied):
        arrivals_import(
            actor=make_user(Role.RESEARCHER), data=csv_bytes([row(1)]), filename="a.csv"
        )


def test_officer_cannot_import_into_another_agency(officer: User, other_agency: Agency) -> None:
    with pytest.raises(NotFound):
        arrivals_import(
            actor=officer, data=csv_bytes([row(1)]), filename="a.csv", agency_code=other_agency.code
        )


def parse_csv(content: bytes) -> list[dict[str, str]]:
    lines = [line for line in content.decode().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_round_trips_exactly(make_user: Callable[..., User], fmt: str) -> None:
    admin = make_user(Role.ADMIN)
    rows = [
        row(
            1,
            name_en="=HYPERLINK(evil)",
            left_north_date="2009-07-03",
            date_of_birth="1961-02-03",
            birth_year="1961",
        ),
        row(
            2,
            transit_countries="CN;VN;KH;CN",
            reasons="other;economic_hardship",
            arrival_date="2015",
        ),
        row(3, sex="", origin_province="", elite_category="", name_ko="", name_en="", route=""),
    ]
    arrivals_import(actor=admin, data=csv_bytes(rows), filename="a.csv")
    first = arrivals_export(actor=admin, fmt=fmt, include_identifiers=True)
    Arrival.objects.all().delete()
    arrivals_import(actor=admin, data=first.content, filename=f"again.{fmt}")
    second = arrivals_export(actor=admin, fmt=fmt, include_identifiers=True)
    if fmt == "csv":
        assert first.content == second.content
        exported = parse_csv(first.content)
        assert exported[0]["name_en"] == "'=HYPERLINK(evil)"  # neutralised in the file
        assert exported[1]["transit_countries"] == "CN;VN;KH;CN"
    else:
        assert xlsx_rows(first.content) == xlsx_rows(second.content)
    assert Arrival.objects.get(record_id="R-00001").person.identity.name_en == "=HYPERLINK(evil)"


def xlsx_rows(content: bytes) -> list[tuple[object, ...]]:
    from openpyxl import load_workbook

    return list(
        load_workbook(io.BytesIO(content), read_only=True).worksheets[0].iter_rows(values_only=True)
    )


def test_identifiers_only_for_admins_and_audited(
    officer: User, make_user: Callable[..., User]
) -> None:
    arrivals_import(actor=officer, data=csv_bytes([row(1)]), filename="a.csv")
    plain = arrivals_export(actor=officer, fmt="json")
    body = json.loads(plain.content)
    assert "name_ko" not in body["columns"] and "김철1" not in plain.content.decode()
    with pytest.raises(PermissionDenied):
        arrivals_export(actor=officer, fmt="csv", include_identifiers=True)
    full = arrivals_export(actor=make_user(Role.ADMIN), fmt="csv", include_identifiers=True)
    assert "김철1" in full.content.decode()
    event = AuditEvent.objects.filter(action="export").order_by("-seq").first()
    assert event is not None and event.detail["identifiers"] is True and event.detail["rows"] == 1


def test_synthetic_exports_say_so(officer: User) -> None:
    Arrival.objects.all().delete()
    arrivals_import(actor=officer, data=csv_bytes([row(1)]), filename="a.csv")
    Arrival.objects.update(is_synthetic=True)
    assert arrivals_export(actor=officer, fmt="csv").content.startswith(b"# SYNTHETIC")
    assert json.loads(arrivals_export(actor=officer, fmt="json").content)["synthetic"] is True


@pytest.mark.django_db(transaction=True)
def test_cli_import_reports_rows_and_writes_errors(tmp_path: Path) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the CLI subprocess reads the SQLite test database file")
    assert run_cli("init").returncode == 0
    rows = [row(1), row(2, sex="Q"), row(3, arrival_date="2023-13-01")]
    source, errors = tmp_path / "in.csv", tmp_path / "errors.csv"
    source.write_bytes(csv_bytes(rows))
    english = {"SAEBOM_LANGUAGE": "en"}  # the CLI speaks the installation's language, else ko
    proc = run_cli(
        "import", "arrivals", str(source), "--errors-out", str(errors), extra_env=english
    )
    assert proc.returncode == 1 and "nothing was written" in proc.stderr
    assert "row 3, sex" in proc.stderr
    assert errors.read_text().splitlines()[0] == "row,column,message"
    assert len(errors.read_text().splitlines()) == 3
    assert Arrival.objects.count() == 0
    dry = run_cli("import", "arrivals", str(source), "--dry-run")
    assert "dry run" in dry.stdout and Arrival.objects.count() == 0
    ok = run_cli("import", "arrivals", str(source), "--skip-invalid")
    assert ok.returncode == 0 and "1 created" in ok.stdout
    out = tmp_path / "out.csv"
    assert run_cli("export", "arrivals", "--out", str(out)).returncode == 0
    assert "R-00001" in out.read_text() and "김철" not in out.read_text()
    assert AuditEvent.objects.filter(action="export", actor_name__startswith="system:").exists()


def test_cli_import_speaks_the_operators_language(
    officer: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(csv_bytes([row(1), row(2, sex="Q")]))
    said = {}
    for locale in ("ko_KR.UTF-8", "C.UTF-8"):
        monkeypatch.setenv("LC_ALL", locale)
        out, err = io.StringIO(), io.StringIO()
        command = ("import", "arrivals", str(source), "--agency", officer.agency.code)
        call_command(*command, "--dry-run", "--skip-invalid", stdout=out, stderr=err)
        with pytest.raises(CommandError) as refused:
            call_command(*command, stdout=out, stderr=err)
        said[locale[:2]] = (out.getvalue(), str(refused.value))
    assert said["ko"] == (
        "시험 실행: 2개 행을 읽었습니다. 유효 1개, 오류 1개. 아무것도 저장하지 않았습니다\n",
        "1개 행에서 문제 1건이 있어 아무것도 저장하지 않았습니다",
    )
    assert said["C."] == (
        "dry run: 2 rows read, 1 valid, 1 invalid; nothing written\n",
        "1 problems in 1 rows; nothing was written",
    )
    assert not Arrival.objects.filter(agency=officer.agency).exists()


def test_unbalanced_quote_is_an_error_not_lost_rows(officer: User) -> None:
    data = b'record_id,arrival_date,name_en\nQ1,2020,"Kim Chol\nQ2,2021,Ri Yong\nQ3,2022,Pak Su\n'
    with pytest.raises(ImportRejected, match="not readable as CSV"):
        arrivals_import(actor=officer, data=data, filename="q.csv")
    assert Arrival.objects.count() == 0


def test_quoted_line_break_in_a_cell_is_refused(officer: User) -> None:
    data = b'record_id,arrival_date,name_en\nQ1,2020,"Kim\nChol"\nQ2,2021,Ri Yong\n'
    report = arrivals_import(actor=officer, data=data, filename="q.csv")
    assert not report.written and report.errors[0].column == "name_en"


def test_blank_csv_lines_are_skipped(officer: User) -> None:
    data = csv_bytes([row(1)]) + b"\n,,,\n" + csv_bytes([row(2)]).split(b"\n", 1)[1]
    assert arrivals_import(actor=officer, data=data, filename="a.csv").created == 2


def test_xlsx_formula_cells_are_refused(officer: User) -> None:
    report = arrivals_import(
        actor=officer, data=xlsx_bytes([row(1, name_ko='="김"&"철수"')]), filename="f.xlsx"
    )
    assert not report.written
    assert (report.errors[0].column, report.errors[0].message) == (
        "name_ko",
        "is a formula; import values only",
    )


def test_damaged_xlsx_sheet_is_rejected_cleanly(officer: User) -> None:
    import zipfile

    source = io.BytesIO(xlsx_bytes([row(n) for n in range(50)]))
    damaged = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(damaged, "w") as copy:
        for item in original.infolist():
            content = original.read(item.filename)
            copy.writestr(
                item,
                content[: len(content) // 2] if item.filename.endswith("sheet1.xml") else content,
            )
    with pytest.raises(ImportRejected, match="not a readable XLSX"):
        arrivals_import(actor=officer, data=damaged.getvalue(), filename="d.xlsx")
    assert Arrival.objects.count() == 0


def test_synthetic_export_imports_as_synthetic(officer: User) -> None:
    arrivals_import(actor=officer, data=csv_bytes([row(1)]), filename="a.csv")
    Arrival.objects.update(is_synthetic=True)
    first = arrivals_export(actor=officer, fmt="csv")
    Arrival.objects.all().delete()
    arrivals_import(actor=officer, data=first.content, filename="again.csv")
    assert Arrival.objects.get().is_synthetic
    assert arrivals_export(actor=officer, fmt="csv").content == first.content


def test_editing_the_birth_year_keeps_the_identity_in_step(officer: User) -> None:
    from saebom.registry.selectors import arrival_data, possible_duplicates
    from saebom.registry.services import arrival_update

    arrivals_import(
        actor=officer,
        data=csv_bytes([row(1, name_ko="리영철", birth_year="1980")]),
        filename="a.csv",
    )
    arrival = Arrival.objects.get()
    changed = arrival_data(arrival)
    changed.birth_year = 1981
    arrival_update(actor=officer, arrival=arrival, data=changed, expected_version=1)
    assert possible_duplicates(officer, name_ko="이영철", name_en="", birth_year=1981)
    assert not possible_duplicates(officer, name_ko="이영철", name_en="", birth_year=1980)
    assert Arrival.objects.get().updated_at > arrival.created_at


def test_ids_of_deleted_rows_are_not_reused(officer: User) -> None:
    from saebom.core import bulk

    arrivals_import(actor=officer, data=csv_bytes([row(1)]), filename="a.csv")
    arrival = Arrival.objects.get()
    deleted = arrival.pk
    arrival.delete()
    assert bulk.allocate_ids(Arrival, 1)[0] > deleted  # history rows keep pointing at one record


def test_list_changes_are_in_the_arrivals_history(officer: User) -> None:
    arrivals_import(actor=officer, data=csv_bytes([row(1, reasons="other")]), filename="a.csv")
    arrivals_import(
        actor=officer, data=csv_bytes([row(1, reasons="economic_hardship;other")]), filename="a.csv"
    )
    arrival = Arrival.objects.get()
    assert [h.reason_codes for h in arrival.history.order_by("history_date")] == [
        "other",
        "economic_hardship;other",
    ]
    assert sorted(r.code for r in arrival.reasons.all()) == ["economic_hardship", "other"]


def test_a_public_id_collision_is_retried_with_new_ids(
    officer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from saebom.registry import services
    from saebom.registry.models import new_public_id

    Person.objects.create(public_id="P-TAKEN000")
    drawn = iter(["P-TAKEN000"])
    monkeypatch.setattr(services, "new_public_id", lambda: next(drawn, None) or new_public_id())
    report = arrivals_import(actor=officer, data=csv_bytes([row(1)]), filename="a.csv")
    assert report.created == 1
    assert Arrival.objects.get().person.public_id != "P-TAKEN000"


def test_reimport_reads_identities_once_per_batch_not_per_row(officer: User) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from saebom.registry.interchange import COLUMNS, IDENTITY_COLUMNS

    plain = tuple(c for c in COLUMNS if c not in IDENTITY_COLUMNS)
    counts = []
    for size in (10, 40):
        rows = [row(n) for n in range(size)]
        arrivals_import(actor=officer, data=csv_bytes(rows), filename="a.csv")
        with CaptureQueriesContext(connection) as queries:
            arrivals_import(
                actor=officer,
                data=csv_bytes([row(n, sex="M") for n in range(size)], plain),
                filename="a.csv",
            )
        counts.append(len(queries))
    # bulk updates may split into a batch more; a query per row would add thirty
    assert counts[1] - counts[0] <= 2
