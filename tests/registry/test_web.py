from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import translation

from saebom.accounts.models import Agency, User
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.registry.importing import arrivals_import, import_job_start
from saebom.registry.models import Arrival, ImportJob, Person
from tests.registry.helpers import csv_bytes, row

FORM = {
    "record_id": "IN-1",
    "arrival_date": "2024-03-05",
    "sex": "F",
    "birth_year": "1992",
    "origin_province": "ryanggang",
    "reasons": ["economic_hardship"],
    "name_ko": "리설희",
    "name_en": "Ri Sol-hui",
    "date_of_birth": "1992-07-01",
}


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user(Role.INTAKE_OFFICER)


@pytest.fixture
def officer_client(officer: User) -> Client:
    client = Client()
    client.force_login(officer)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    return client


def test_intake_saves_and_audits(officer_client: Client) -> None:
    response = officer_client.post(reverse("registry:arrival_new"), FORM)
    assert response.status_code == 302
    arrival = Arrival.objects.get(record_id="IN-1")
    assert arrival.person.identity.name_ko == "리설희" and arrival.arrival_precision == "day"
    event = AuditEvent.objects.get(action="create", object_type="arrival")
    assert event.object_id == arrival.person.public_id
    assert "name_ko" in event.changed_fields and "리설희" not in str(event.detail)


def test_intake_shows_field_errors_and_writes_nothing(officer_client: Client) -> None:
    response = officer_client.post(
        reverse("registry:arrival_new"), FORM | {"arrival_date": "2024-13", "birth_year": "x"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "is not a real date" in html and "is not a four-digit year" in html
    assert not Arrival.objects.exists()


def test_duplicate_warning_then_link(officer_client: Client) -> None:
    officer_client.post(reverse("registry:arrival_new"), FORM)
    first = Arrival.objects.get(record_id="IN-1").person
    # the Southern spelling of the same name, same birth year, another record
    again = FORM | {"record_id": "IN-2", "name_ko": "이설희", "name_en": "", "date_of_birth": ""}
    response = officer_client.post(reverse("registry:arrival_new"), again)
    html = response.content.decode()
    assert response.status_code == 200 and "Possible duplicate" in html and first.public_id in html
    assert not Arrival.objects.filter(record_id="IN-2").exists()
    response = officer_client.post(
        reverse("registry:arrival_new"), again | {"decision": f"link:{first.public_id}"}
    )
    assert response.status_code == 302
    assert Arrival.objects.get(record_id="IN-2").person == first
    assert Person.objects.count() == 1
    first.identity.refresh_from_db()
    assert first.identity.name_ko == "리설희" and first.identity.aliases == "이설희"


def test_duplicate_confirmed_as_a_different_person(officer_client: Client) -> None:
    officer_client.post(reverse("registry:arrival_new"), FORM)
    again = FORM | {"record_id": "IN-2", "name_en": "RHEE Sol hui"}
    officer_client.post(reverse("registry:arrival_new"), again | {"decision": "new"})
    assert Person.objects.count() == 2


def test_no_duplicate_warning_across_agencies(
    officer_client: Client, make_user: Callable[..., User], other_agency: Agency
) -> None:
    arrivals_import(
        actor=make_user(Role.INTAKE_OFFICER, agency=other_agency),
        data=csv_bytes([row(1, name_ko="리설희", birth_year="1992")]),
        filename="a.csv",
    )
    response = officer_client.post(reverse("registry:arrival_new"), FORM)
    assert response.status_code == 302  # nothing revealed about the other agency's records


def test_list_shows_public_ids_never_identifiers(officer: User, officer_client: Client) -> None:
    arrivals_import(
        actor=officer,
        data=csv_bytes([row(1, name_ko="박영희", name_en="Pak Yong-hui")]),
        filename="a.csv",
    )
    html = officer_client.get(reverse("registry:arrival_list")).content.decode()
    arrival = Arrival.objects.get()
    assert arrival.person.public_id in html
    assert "박영희" not in html and "Pak Yong-hui" not in html
    detail = officer_client.get(
        reverse("registry:arrival_detail", args=[arrival.pk])
    ).content.decode()
    assert "박영희" not in detail and "North Hamgyong" in detail


def test_viewing_identifiers_is_a_separate_audited_action(
    officer: User, officer_client: Client
) -> None:
    arrivals_import(actor=officer, data=csv_bytes([row(1, name_ko="박영희")]), filename="a.csv")
    arrival = Arrival.objects.get()
    response = officer_client.post(reverse("registry:identifiers", args=[arrival.pk]))
    assert "박영희" in response.content.decode()
    event = AuditEvent.objects.get(action="view_identifiers")
    assert event.object_id == arrival.person.public_id and event.actor_id == officer.pk


def test_other_agencys_arrival_is_404(
    officer_client: Client, make_user: Callable[..., User], other_agency: Agency
) -> None:
    arrivals_import(
        actor=make_user(Role.INTAKE_OFFICER, agency=other_agency),
        data=csv_bytes([row(1)]),
        filename="a.csv",
    )
    arrival = Arrival.objects.get()
    for name in ("registry:arrival_detail", "registry:arrival_edit"):
        assert officer_client.get(reverse(name, args=[arrival.pk])).status_code == 404
    assert (
        officer_client.post(reverse("registry:identifiers", args=[arrival.pk])).status_code == 404
    )
    assert not AuditEvent.objects.filter(action="view_identifiers").exists()


@pytest.mark.parametrize(
    "role", [Role.RESEARCHER, Role.STATISTICIAN, Role.DOCUMENTER, Role.AUDITOR]
)
def test_roles_without_the_registry_are_refused(
    client_for: Callable[..., Client], role: Role
) -> None:
    client = client_for(role)
    assert client.get(reverse("registry:arrival_list")).status_code == 403
    assert client.get(reverse("registry:arrival_new")).status_code == 403


def test_caseworker_sees_but_cannot_register(client_for: Callable[..., Client]) -> None:
    client = client_for(Role.CASEWORKER)
    assert client.get(reverse("registry:arrival_list")).status_code == 200
    assert client.post(reverse("registry:arrival_new"), FORM).status_code == 403


def test_stale_edit_is_refused(officer: User, officer_client: Client) -> None:
    arrivals_import(actor=officer, data=csv_bytes([row(1)]), filename="a.csv")
    arrival = Arrival.objects.get()
    edit = FORM | {"record_id": arrival.record_id, "sex": "M", "version": "1"}
    assert (
        officer_client.post(reverse("registry:arrival_edit", args=[arrival.pk]), edit).status_code
        == 302
    )
    stale = officer_client.post(
        reverse("registry:arrival_edit", args=[arrival.pk]), edit | {"sex": "F"}
    )
    assert "someone else saved this record" in stale.content.decode()
    arrival.refresh_from_db()
    assert arrival.sex == "M" and arrival.version == 2


def test_web_import_runs_as_a_task_with_its_report(
    officer_client: Client, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("arrivals.csv", csv_bytes([row(1), row(2, sex="?")]), "text/csv")
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        response = officer_client.post(reverse("registry:import_start"), {"file": upload})
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("registry:import_status", args=[job.pk])
    assert job.state == "done" and job.content is None
    assert job.language == "en"  # the page's: the worker writes the report in it
    page = officer_client.get(response["Location"]).content.decode()
    assert "nothing was written" in page and "is not one of M, F" in page
    errors = officer_client.get(reverse("registry:import_errors", args=[job.pk])).content.decode()
    assert errors.splitlines()[1].startswith("3,sex,")
    assert not Arrival.objects.exists()


def test_a_web_import_reports_in_the_uploaders_language(
    officer: User, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    """The worker runs in the installation's language; the report is written in the language
    of whoever started the import, whichever language the worker has."""
    data = csv_bytes([row(1), row(2, sex="?")])
    jobs = {}
    for uploader, worker in (("ko", "en"), ("en", "ko")):
        with (
            translation.override(worker),
            django_capture_on_commit_callbacks(execute=True),  # type: ignore[operator]
        ):
            jobs[uploader] = import_job_start(
                actor=officer, filename="a.csv", data=data, language=uploader
            )
    messages = {
        language: json.loads(ImportJob.objects.get(pk=job.pk).report)["errors"][0]["message"]
        for language, job in jobs.items()
    }
    assert "is not one of M, F" in messages["en"]
    assert "M, F(또는 그 이름) 중 하나가 아닙니다" in messages["ko"], messages["ko"]


def test_someone_elses_import_job_is_404(
    officer_client: Client, make_user: Callable[..., User]
) -> None:
    other = make_user(Role.INTAKE_OFFICER)
    job = ImportJob.objects.create(
        agency=other.agency, created_by=other, filename="x.csv", state="done"
    )
    assert officer_client.get(reverse("registry:import_status", args=[job.pk])).status_code == 404


def test_export_download_is_post_only(officer: User, officer_client: Client) -> None:
    arrivals_import(actor=officer, data=csv_bytes([row(1)]), filename="a.csv")
    assert officer_client.get(reverse("registry:export")).status_code == 405
    response = officer_client.post(reverse("registry:export"), {"format": "csv"})
    assert response.status_code == 200 and b"R-00001" in response.content
    assert response["Content-Disposition"] == 'attachment; filename="arrivals.csv"'


@pytest.mark.django_db(transaction=True)
def test_identifiers_absent_from_the_raw_database_file(officer: User) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("reads the SQLite file's bytes")
    marker_ko, marker_en = "탈북자비밀이름", "Secretname-Xq71"
    arrivals_import(
        actor=officer,
        data=csv_bytes(
            [
                row(
                    1,
                    name_ko=marker_ko,
                    name_en=marker_en,
                    date_of_birth="1977-06-05",
                    birth_year="1977",
                )
            ]
        ),
        filename="a.csv",
    )
    database = Path(settings.DATABASES["default"]["NAME"])
    raw = b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal")) if p.exists())
    assert b"R-00001" in raw  # the record is there
    for secret in (marker_ko, marker_en, "1977-06-05"):
        assert secret.encode() not in raw


def test_stale_edit_stays_stale_through_a_validation_error(
    officer: User, officer_client: Client
) -> None:
    arrivals_import(actor=officer, data=csv_bytes([row(1)]), filename="a.csv")
    arrival = Arrival.objects.get()
    url = reverse("registry:arrival_edit", args=[arrival.pk])
    stale = FORM | {"record_id": arrival.record_id, "version": "1"}
    Arrival.objects.filter(pk=arrival.pk).update(
        version=2, origin_province="pyongyang"
    )  # someone saved
    page = officer_client.post(url, stale | {"birth_year": "19x0"}).content.decode()
    assert 'name="version" value="1"' in page  # still the version this person started from
    again = officer_client.post(url, stale)
    assert "someone else saved this record" in again.content.decode()
    assert Arrival.objects.get().origin_province == "pyongyang"


def test_nul_in_a_query_is_refused(officer_client: Client) -> None:
    assert officer_client.get(reverse("registry:arrival_list") + "?sex=%00").status_code == 400


def test_starting_a_web_import_is_audited(
    officer_client: Client, django_capture_on_commit_callbacks: Callable[..., object]
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("arrivals.csv", csv_bytes([row(1)]), "text/csv")
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        officer_client.post(reverse("registry:import_start"), {"file": upload})
    job = ImportJob.objects.get()
    assert AuditEvent.objects.filter(
        action="create", object_type="import_job", object_id=str(job.pk)
    ).exists()
    assert AuditEvent.objects.filter(action="import").exists()
