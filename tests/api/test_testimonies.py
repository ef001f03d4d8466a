"""Testimonies, coding, corroboration, places and evidence in the API: who reaches what, what
each reader sees, and the refusals that name their field."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from saebom.accounts.models import Agency, User
from saebom.accounts.services import api_token_create
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.testimony import services
from saebom.testimony.models import (
    Act,
    Corroboration,
    CustodyEvent,
    EvidenceFile,
    Incident,
    Individual,
    Place,
)
from saebom.testimony.models import Testimony as Record  # pytest would collect "Test..."
from tests.factories import ArrivalFactory, UserFactory
from tests.testimony.conftest import load_gazetteer

pytestmark = pytest.mark.django_db

API = "/api/v1"
# What identifies someone: none of it may reach a reader without confidential access.
TRANSCRIPT = "녹취록: 이웃 림순희가 2009년 3월 보위부에 끌려갔다 (xylophonic)"
IDENTITY = "증인 W-23, 1968년 회령 출생"
INTERVIEW_PLACE = "서울 사무소 3호실"
VICTIM_NAME = "박영철"
DESCRIPTION = "새벽에 집으로 찾아와 데려감"
PLACE_DETAIL = "역전 창고 뒤편"
ACT_NOTES = "증인의 형이 직접 봄"
CONSENT_NOTE = "전화로 동의 철회"
SECRETS = (TRANSCRIPT, IDENTITY, INTERVIEW_PLACE, VICTIM_NAME, DESCRIPTION, PLACE_DETAIL, ACT_NOTES)
SUMMARY = "Detention at a holding centre after forced repatriation in 2009."
PDF = b"%PDF-1.7\nsigned statement of the witness\n%%EOF\n"


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def gazetteer(db: None) -> None:
    if not Place.objects.filter(code="kwanliso_15").exists():
        load_gazetteer()


@pytest.fixture(autouse=True)
def store(tmp_path: Path, settings: Any) -> Path:
    """A private evidence directory per test."""
    settings.SAEBOM_EVIDENCE_DIR = tmp_path / "evidence"
    return tmp_path / "evidence"


@pytest.fixture
def documenter(make_user: Callable[..., User]) -> User:
    return make_user(Role.DOCUMENTER, username="dora")


@pytest.fixture
def researcher(make_user: Callable[..., User]) -> User:
    return make_user(Role.RESEARCHER, username="rhee")


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    return make_user(Role.ADMIN, username="ada")


@pytest.fixture
def other_documenter(other_agency: Agency) -> User:
    return UserFactory(role=Role.DOCUMENTER, agency=other_agency, username="otto")


@pytest.fixture
def other_researcher(other_agency: Agency) -> User:
    return UserFactory(role=Role.RESEARCHER, agency=other_agency, username="olga")


def make_testimony(actor: User, **kwargs: Any) -> Record:
    values: dict[str, Any] = {
        "interview_date": date(2024, 5, 2),
        "language": "ko",
        "summary": SUMMARY,
        "transcript": TRANSCRIPT,
        "witness_identity": IDENTITY,
        "witness_sex": "F",
        "interview_place": INTERVIEW_PLACE,
        "interviewers": [actor.username],
        "consent_scope": "publish_anonymised",
        "consent_given_on": date(2024, 5, 2),
    }
    return services.testimony_create(actor=actor, **(values | kwargs))


def code_act(actor: User, testimony: Record, act_type: str = "torture") -> Act:
    """An incident at Kwanliso 15 with a named victim and a perpetrator, and one act."""
    incident = services.incident_add(
        actor=actor,
        testimony=testimony,
        date_start=date(2009, 3, 1),
        date_precision="month",
        place="kwanliso_15",
        place_detail=PLACE_DETAIL,
        description=DESCRIPTION,
    )
    victim = services.individual_add(
        actor=actor, testimony=testimony, role="victim", name=VICTIM_NAME, sex="M"
    )
    perpetrator = services.individual_add(
        actor=actor, testimony=testimony, role="perpetrator", institution="mss", rank="captain"
    )
    return services.act_add(
        actor=actor,
        incident=incident,
        act_type=act_type,
        connection="witnessed",
        reliability="b",
        credibility="2",
        victims=[victim.pk],
        perpetrators=[(perpetrator.pk, "direct")],
        notes=ACT_NOTES,
    )


@pytest.fixture
def testimony(documenter: User) -> Record:
    made = make_testimony(documenter)
    code_act(documenter, made)
    return made


@pytest.fixture
def evidence(documenter: User) -> EvidenceFile:
    return services.evidence_upload(
        actor=documenter,
        filename="statement.pdf",
        data=PDF,
        received_from="Witness W-23, in person",
        received_on=date(2024, 5, 2),
        description="signed statement",
    )


def auth(user: User) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(actor=user, name='t').secret}"}


def call(
    client: Client, user: User | None, method: str, path: str, body: Any = None, lang: str = "en"
) -> Any:
    """The API as ``user`` (None: no token), reading labels and messages in ``lang``."""
    headers = (auth(user) if user is not None else {}) | {"HTTP_ACCEPT_LANGUAGE": lang}
    send = getattr(client, method.lower())
    if method == "GET":
        return send(API + path, **headers)
    return send(API + path, json.dumps(body or {}), content_type="application/json", **headers)


def upload(client: Client, user: User | None, name: str, data: bytes, **form: str) -> Any:
    headers = (auth(user) if user is not None else {}) | {"HTTP_ACCEPT_LANGUAGE": "en"}
    files = {"file": SimpleUploadedFile(name, data, content_type="application/octet-stream")}
    return client.post(f"{API}/evidence", {**files, **form}, **headers)


def problem_of(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def refused_field(response: Any) -> str:
    """The field a 422 names: the domain error's field, or pydantic's location, as text."""
    assert response.status_code == 422, response.content
    detail = problem_of(response)["detail"]
    return detail["field"] if isinstance(detail, dict) else json.dumps(detail)


def found(client: Client, user: User, query: str) -> list[str]:
    body = call(client, user, "GET", f"/testimonies?{query}").json()
    return [row["public_id"] for row in body["results"]]


def endpoints_of_testimony(testimony: Record) -> list[tuple[str, str, Any]]:
    """Every endpoint on one testimony, with a valid body."""
    tid = testimony.public_id
    incident = testimony.incidents.get()
    return [
        ("GET", f"/testimonies/{tid}", None),
        ("PATCH", f"/testimonies/{tid}", {"version": testimony.version, "summary": "Other."}),
        ("POST", f"/testimonies/{tid}/seal", {"version": testimony.version}),
        ("POST", f"/testimonies/{tid}/consent", {"scope": "internal", "given_on": "2024-06-01"}),
        ("POST", f"/testimonies/{tid}/consent/withdraw", {}),
        ("POST", f"/testimonies/{tid}/incidents", {"description": "another"}),
        ("POST", f"/testimonies/{tid}/individuals", {"role": "witness"}),
        (
            "POST",
            f"/testimonies/{tid}/incidents/{incident.pk}/acts",
            {"act_type": "arrest", "connection": "heard", "reliability": "c", "credibility": "3"},
        ),
    ]


def endpoints_of_evidence(evidence: EvidenceFile, testimony: Record) -> list[tuple[str, str, Any]]:
    eid = evidence.public_id
    return [
        ("GET", f"/evidence/{eid}", None),
        ("GET", f"/evidence/{eid}/content", None),
        ("POST", f"/evidence/{eid}/link", {"testimony": testimony.public_id}),
    ]


def general_endpoints(testimony: Record) -> list[tuple[str, str, Any]]:
    """Endpoints not about one record, with a valid body."""
    body = {
        "interview_date": "2024-05-03",
        "language": "ko",
        "summary": "Another interview.",
        "consent_scope": "internal",
        "consent_given_on": "2024-05-03",
    }
    place = {"kind": "county", "name_ko": "회령시", "name_en": "Hoeryong", "parent": "ryanggang"}
    return [
        ("GET", "/testimonies", None),
        ("GET", "/testimonies?q=holding", None),
        ("POST", "/testimonies", body),
        ("POST", "/corroborations", {"acts": [], "label": "x"}),
        ("GET", "/corroborations/uncorroborated", None),
        ("GET", "/places", None),
        ("POST", "/places", place),
        ("GET", "/evidence", None),
    ]


def snapshot() -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    return (
        list(Record.objects.order_by("pk").values_list("pk", "version", "sealed_at")),
        list(Record.objects.values_list("consent_scope", "consent_withdrawn_on")),
        Incident.objects.count(),
        Individual.objects.count(),
        Act.objects.count(),
        Corroboration.objects.count(),
        Place.objects.count(),
        EvidenceFile.objects.count(),
        CustodyEvent.objects.count(),
        list(EvidenceFile.testimonies.through.objects.values_list("pk", flat=True)),
    )


def assert_no_secrets(response: Any) -> None:
    text = response.content.decode()
    for secret in SECRETS:
        assert secret not in text, secret


# --- schema ---------------------------------------------------------------------------------


def test_openapi_schema_has_the_testimony_operations(client: Client, db: None) -> None:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        f"{API}/testimonies": {"get", "post"},
        f"{API}/testimonies/{{public_id}}": {"get", "patch"},
        f"{API}/testimonies/{{public_id}}/seal": {"post"},
        f"{API}/testimonies/{{public_id}}/consent": {"post"},
        f"{API}/testimonies/{{public_id}}/consent/withdraw": {"post"},
        f"{API}/testimonies/{{public_id}}/incidents": {"post"},
        f"{API}/testimonies/{{public_id}}/individuals": {"post"},
        f"{API}/testimonies/{{public_id}}/incidents/{{incident_id}}/acts": {"post"},
        f"{API}/corroborations": {"post"},
        f"{API}/corroborations/uncorroborated": {"get"},
        f"{API}/places": {"get", "post"},
        f"{API}/evidence": {"get", "post"},
        f"{API}/evidence/{{public_id}}": {"get"},
        f"{API}/evidence/{{public_id}}/content": {"get"},
        f"{API}/evidence/{{public_id}}/link": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
        assert all(paths[path][m]["tags"] == ["testimonies"] for m in methods)
    assert "409" in paths[f"{API}/testimonies/{{public_id}}"]["patch"]["responses"]
    upload_body = paths[f"{API}/evidence"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload_body


# --- who reaches what -----------------------------------------------------------------------


def test_no_token_is_a_401_everywhere(
    client: Client, testimony: Record, evidence: EvidenceFile
) -> None:
    before = snapshot()
    endpoints = [
        *endpoints_of_testimony(testimony),
        *endpoints_of_evidence(evidence, testimony),
        *general_endpoints(testimony),
    ]
    for method, path, body in endpoints:
        response = call(client, None, method, path, body)
        assert response.status_code == 401, (method, path)
        assert testimony.public_id not in response.content.decode()
    assert upload(client, None, "other.pdf", PDF + b" ").status_code == 401
    assert snapshot() == before


@pytest.mark.parametrize(
    "role", [Role.CASEWORKER, Role.STATISTICIAN, Role.INTAKE_OFFICER, Role.AUDITOR]
)
def test_roles_without_testimony_access_get_403_and_no_content(
    client: Client,
    testimony: Record,
    evidence: EvidenceFile,
    make_user: Callable[..., User],
    role: str,
) -> None:
    user = make_user(role)
    before = snapshot()
    endpoints = [
        *endpoints_of_testimony(testimony),
        *endpoints_of_evidence(evidence, testimony),
        *general_endpoints(testimony),
    ]
    for method, path, body in endpoints:
        response = call(client, user, method, path, body)
        assert response.status_code == 403, (method, path, response.content)
        assert problem_of(response)["status"] == 403
        assert testimony.public_id not in response.content.decode()
        assert_no_secrets(response)
    assert upload(client, user, "other.pdf", PDF + b" ").status_code == 403
    assert snapshot() == before


def test_researcher_writes_are_403(
    client: Client, testimony: Record, evidence: EvidenceFile, researcher: User
) -> None:
    before = snapshot()
    reads = {"/testimonies", "/testimonies?q=holding", "/places"}
    endpoints = [
        *endpoints_of_testimony(testimony),
        *endpoints_of_evidence(evidence, testimony),
        *general_endpoints(testimony),
    ]
    for method, path, body in endpoints:
        if path in reads or path == f"/testimonies/{testimony.public_id}":
            continue
        response = call(client, researcher, method, path, body)
        assert response.status_code == 403, (method, path, response.content)
        assert_no_secrets(response)
    assert upload(client, researcher, "other.pdf", PDF + b" ").status_code == 403
    assert snapshot() == before


def test_other_agency_documenter_gets_404_on_every_record(
    client: Client, testimony: Record, evidence: EvidenceFile, other_documenter: User
) -> None:
    before = snapshot()
    for method, path, body in [
        *endpoints_of_testimony(testimony),
        *endpoints_of_evidence(evidence, testimony),
    ]:
        response = call(client, other_documenter, method, path, body)
        assert response.status_code == 404, (method, path)
        assert problem_of(response)["title"] == "NotFound"
        assert_no_secrets(response)
    assert found(client, other_documenter, "") == []
    assert found(client, other_documenter, "q=holding") == []
    assert call(client, other_documenter, "GET", "/evidence").json() == []
    assert call(client, other_documenter, "GET", "/corroborations/uncorroborated").json() == []
    assert snapshot() == before


def test_linking_to_another_agencys_testimony_is_404(
    client: Client, evidence: EvidenceFile, other_documenter: User
) -> None:
    theirs = make_testimony(other_documenter)
    response = call(
        client,
        evidence.uploaded_by,
        "POST",
        f"/evidence/{evidence.public_id}/link",
        {"testimony": theirs.public_id},
    )
    assert response.status_code == 404
    assert not evidence.testimonies.exists()


def test_missing_testimony_is_the_same_404(client: Client, documenter: User) -> None:
    response = call(client, documenter, "GET", "/testimonies/T-00000000")
    assert response.status_code == 404
    assert problem_of(response)["title"] == "NotFound"


# --- list and search ------------------------------------------------------------------------


def test_plain_list_with_paging(client: Client, documenter: User, testimony: Record) -> None:
    older = make_testimony(documenter, interview_date=date(2023, 1, 5), summary="Older one.")
    body = call(client, documenter, "GET", "/testimonies").json()
    assert body["total"] == 2 and body["facets"] == {}
    assert [r["public_id"] for r in body["results"]] == [testimony.public_id, older.public_id]
    row = body["results"][0]
    assert row["summary"] == SUMMARY and row["agency"] == "alpha"
    assert row["language"] == {"code": "ko", "label": "Korean"}
    assert row["consent_scope"]["code"] == "publish_anonymised"
    assert row["withdrawn"] is False and row["sealed"] is False and row["version"] == 1
    paged = call(client, documenter, "GET", "/testimonies?limit=1&offset=1").json()
    assert [r["public_id"] for r in paged["results"]] == [older.public_id]
    assert paged["total"] == 2


def test_search_by_words_and_facets_with_labels(
    client: Client, documenter: User, testimony: Record
) -> None:
    other = make_testimony(documenter, summary="Forced labour in a mine.")
    code_act(documenter, other, act_type="forced_labour")
    assert found(client, documenter, "q=holding") == [testimony.public_id]
    assert set(found(client, documenter, "act_type=forced_labour")) == {other.public_id}
    assert found(client, documenter, "q=holding&act_type=forced_labour") == []
    assert set(found(client, documenter, "facility=kwanliso_15&year=2009")) == {
        testimony.public_id,
        other.public_id,
    }
    body = call(client, documenter, "GET", "/testimonies?province=south_hamgyong").json()
    assert body["total"] == 2
    facets = body["facets"]
    assert {"code": "kwanliso_15", "label": "Kwanliso No. 15 Yodok", "count": 2} in facets[
        "facility"
    ]
    assert {"code": "torture", "label": "Torture", "count": 1} in facets["act_type"]
    assert {"code": "2009", "label": "2009", "count": 2} in facets["year"]
    assert facets["institution"][0]["code"] == "mss" and facets["institution"][0]["count"] == 2


def test_documenter_finds_words_of_the_transcript_researcher_does_not(
    client: Client, documenter: User, researcher: User, testimony: Record
) -> None:
    assert found(client, documenter, "q=xylophonic") == [testimony.public_id]
    assert found(client, researcher, "q=xylophonic") == []
    assert found(client, researcher, "q=holding") == [testimony.public_id]


def test_unknown_year_filter_is_a_422_naming_it(client: Client, documenter: User) -> None:
    response = call(client, documenter, "GET", "/testimonies?year=soon")
    assert "year" in refused_field(response)


def test_researchers_list_summaries_only(
    client: Client,
    testimony: Record,
    researcher: User,
    other_researcher: User,
    other_documenter: User,
) -> None:
    internal = make_testimony(other_documenter, consent_scope="internal")
    for reader in (researcher, other_researcher):
        for query in ("", "q=holding"):
            response = call(client, reader, "GET", f"/testimonies?{query}")
            assert response.status_code == 200
            assert testimony.public_id in [r["public_id"] for r in response.json()["results"]]
            assert_no_secrets(response)
    assert internal.public_id not in found(client, researcher, "")


# --- detail ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", ["documenter", "admin"])
def test_holding_agency_reads_everything_and_the_read_is_audited(
    client: Client, testimony: Record, reader: str, request: pytest.FixtureRequest
) -> None:
    user: User = request.getfixturevalue(reader)
    response = call(client, user, "GET", f"/testimonies/{testimony.public_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["confidential"] is True
    assert body["transcript"] == TRANSCRIPT and body["witness_identity"] == IDENTITY
    assert body["interview_place"] == INTERVIEW_PLACE and body["interviewers"] == ["dora"]
    assert body["witness_person"] is None and body["evidence"] == []
    (incident,) = body["incidents"]
    assert incident["description"] == DESCRIPTION and incident["place_detail"] == PLACE_DETAIL
    assert incident["place"] == {
        "code": "kwanliso_15",
        "name_ko": "제15호 관리소 (요덕)",
        "name_en": "Kwanliso No. 15 Yodok",
    }
    assert incident["date_precision"] == {"code": "month", "label": "Month"}
    (act,) = incident["acts"]
    assert act["notes"] == ACT_NOTES
    assert act["act_type"] == {"code": "torture", "label": "Torture"}
    assert act["coi_category"]["code"] == "e" and act["connection"]["code"] == "witnessed"
    victim, perpetrator = body["individuals"]
    assert victim["name"] == VICTIM_NAME and victim["role"]["code"] == "victim"
    assert act["victims"] == [victim["id"]]
    assert act["perpetrators"] == [
        {
            "individual": perpetrator["id"],
            "degree": {"code": "direct", "label": "Direct perpetrator"},
        }
    ]
    assert perpetrator["institution"]["code"] == "mss" and perpetrator["rank"] == "captain"
    assert body["consent"]["scope"]["code"] == "publish_anonymised"
    assert body["consent"]["history"][0]["kind"] == "given"
    assert [v["number"] for v in body["versions"]] == [1]
    event = AuditEvent.objects.get(action="view", object_id=testimony.public_id)
    assert event.actor_name == user.username


def test_labels_follow_the_request_language(
    client: Client, researcher: User, testimony: Record
) -> None:
    body = call(client, researcher, "GET", f"/testimonies/{testimony.public_id}", lang="ko").json()
    act = body["incidents"][0]["acts"][0]
    assert act["act_type"] == {"code": "torture", "label": "고문"}
    assert body["language"] == {"code": "ko", "label": "한국어"}
    facets = call(client, researcher, "GET", "/testimonies?year=2009", lang="ko").json()["facets"]
    assert facets["facility"][0]["label"] == "제15호 관리소 (요덕)"


@pytest.mark.parametrize("reader", ["researcher", "other_researcher"])
def test_researchers_read_the_summary_only_and_nothing_is_audited(
    client: Client, testimony: Record, reader: str, request: pytest.FixtureRequest
) -> None:
    user: User = request.getfixturevalue(reader)
    response = call(client, user, "GET", f"/testimonies/{testimony.public_id}")
    assert response.status_code == 200
    assert_no_secrets(response)
    body = response.json()
    assert body["confidential"] is False and body["summary"] == SUMMARY
    hidden = {"transcript", "witness_identity", "witness_person", "interview_place"}
    assert not hidden & set(body) and "interviewers" not in body and "evidence" not in body
    (incident,) = body["incidents"]
    assert "description" not in incident and "place_detail" not in incident
    assert incident["acts"][0]["act_type"]["code"] == "torture"
    assert "notes" not in incident["acts"][0]
    assert all("name" not in i and "person" not in i for i in body["individuals"])
    assert all("note" not in e for e in body["consent"]["history"])
    assert not AuditEvent.objects.filter(action="view", object_type="testimony").exists()


def test_other_agencys_unpublished_testimony_is_404_to_researchers(
    client: Client, other_researcher: User, documenter: User
) -> None:
    internal = make_testimony(documenter, consent_scope="internal")
    response = call(client, other_researcher, "GET", f"/testimonies/{internal.public_id}")
    assert response.status_code == 404
    assert_no_secrets(response)


# --- create ---------------------------------------------------------------------------------


def create_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "interview_date": "2024-05-03",
        "language": "Korean",
        "summary": "Arrest at the border.",
        "consent_scope": "share_with_mechanisms",
        "consent_mechanisms": ["ohchr_seoul"],
        "consent_given_on": "2024-05-03",
        "consent_note": CONSENT_NOTE,
        "transcript": TRANSCRIPT,
        "witness_identity": IDENTITY,
        "interview_place": INTERVIEW_PLACE,
        "interviewers": ["dora"],
    }
    return body | overrides


@pytest.mark.parametrize("writer", ["documenter", "admin"])
def test_create_records_for_the_agency_and_shows_no_secrets(
    client: Client, writer: str, request: pytest.FixtureRequest, documenter: User
) -> None:
    user: User = request.getfixturevalue(writer)
    response = call(client, user, "POST", "/testimonies", create_body())
    assert response.status_code == 201
    assert_no_secrets(response)
    assert CONSENT_NOTE not in response.content.decode()
    body = response.json()
    testimony = Record.objects.get(public_id=body["public_id"])
    assert body["public_id"].startswith("T-") and body["agency"] == "alpha"
    assert body["language"]["code"] == "ko" and body["version"] == 1
    assert body["consent"]["mechanisms"] == [
        {"code": "ohchr_seoul", "label": "UN Human Rights Office (OHCHR) Seoul"}
    ]
    assert testimony.transcript == TRANSCRIPT and testimony.agency == user.agency
    assert AuditEvent.objects.filter(action="create", object_id=testimony.public_id).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"language": "klingon"}, "language"),
        ({"consent_scope": "everyone"}, "consent_scope"),
        ({"consent_mechanisms": []}, "consent_mechanisms"),
        ({"interview_date": "2999-01-01"}, "interview_date"),
        ({"interview_date": "2024-02-30"}, "interview_date"),
        ({"summary": "   "}, "summary"),
        ({"interviewers": ["otto"]}, "interviewers"),
        ({"witness_person": "P-NOTREAL0"}, "witness_person"),
    ],
)
def test_create_with_bad_values_is_a_422_naming_the_field(
    client: Client, documenter: User, other_documenter: User, change: dict[str, Any], field: str
) -> None:
    response = call(client, documenter, "POST", "/testimonies", create_body(**change))
    assert field in refused_field(response)
    assert not Record.objects.exists()


def test_registered_witness_is_shown_to_the_holding_agency_only(
    client: Client, documenter: User, researcher: User
) -> None:
    person = ArrivalFactory(agency=documenter.agency).person
    body = create_body(witness_person=person.public_id, witness_identity="")
    created = call(client, documenter, "POST", "/testimonies", body)
    assert created.status_code == 201 and person.public_id not in created.content.decode()
    path = f"/testimonies/{created.json()['public_id']}"
    assert call(client, documenter, "GET", path).json()["witness_person"] == person.public_id
    assert person.public_id not in call(client, researcher, "GET", path).content.decode()


def test_create_without_a_summary_is_a_422_naming_it(client: Client, documenter: User) -> None:
    body = create_body()
    del body["summary"]
    assert "summary" in refused_field(call(client, documenter, "POST", "/testimonies", body))


# --- update, seal, versions -----------------------------------------------------------------


def test_draft_update_makes_a_new_version(
    client: Client, documenter: User, testimony: Record
) -> None:
    path = f"/testimonies/{testimony.public_id}"
    response = call(
        client, documenter, "PATCH", path, {"version": 1, "transcript": "Corrected transcript."}
    )
    assert response.status_code == 200
    assert response.json()["version"] == 2 and "transcript" not in response.json()
    assert Record.objects.get(pk=testimony.pk).transcript == "Corrected transcript."
    assert AuditEvent.objects.filter(action="update", object_id=testimony.public_id).exists()


def test_stale_patch_is_a_409_listing_the_changes(
    client: Client, documenter: User, admin: User, testimony: Record
) -> None:
    path = f"/testimonies/{testimony.public_id}"
    first = call(client, admin, "PATCH", path, {"version": 1, "summary": "Admin's summary."})
    assert first.status_code == 200
    response = call(client, documenter, "PATCH", path, {"version": 1, "language": "en"})
    assert response.status_code == 409
    detail = problem_of(response)["detail"]
    assert detail["current_version"] == 2
    assert detail["changes"] == [{"field": "summary", "then": SUMMARY, "now": "Admin's summary."}]
    fresh = Record.objects.get(pk=testimony.pk)
    assert fresh.language == "ko" and fresh.version == 2


def test_stale_patch_showing_the_transcript_is_a_recorded_read(
    client: Client, documenter: User, admin: User, testimony: Record
) -> None:
    path = f"/testimonies/{testimony.public_id}"
    call(client, admin, "PATCH", path, {"version": 1, "transcript": "New words."})
    response = call(client, documenter, "PATCH", path, {"version": 1, "summary": "Mine."})
    assert response.status_code == 409
    changes = problem_of(response)["detail"]["changes"]
    assert {"field": "transcript", "then": TRANSCRIPT, "now": "New words."} in changes
    viewer = AuditEvent.objects.get(action="view", object_id=testimony.public_id)
    assert viewer.actor_name == "dora"


def test_sealed_testimony_takes_corrections_with_a_reason_as_new_versions(
    client: Client, documenter: User, researcher: User, testimony: Record
) -> None:
    path = f"/testimonies/{testimony.public_id}"
    sealed = call(client, documenter, "POST", f"{path}/seal", {"version": 1})
    assert sealed.status_code == 200
    assert sealed.json()["sealed"] is True and sealed.json()["version"] == 2
    refused = call(client, documenter, "PATCH", path, {"version": 2, "summary": "Changed."})
    assert refused_field(refused) == "reason"
    assert Record.objects.get(pk=testimony.pk).summary == SUMMARY
    corrected = call(
        client,
        documenter,
        "PATCH",
        path,
        {"version": 2, "summary": "Changed.", "reason": "date misheard"},
    )
    assert corrected.status_code == 200 and corrected.json()["version"] == 3
    for reader, reason in ((documenter, "date misheard"), (researcher, "")):
        # a correction's reason is free text that may name someone: recorders only
        versions = call(client, reader, "GET", path).json()["versions"]
        assert [(v["number"], v["reason"]) for v in versions] == [
            (1, ""),
            (2, "sealed"),
            (3, reason),
        ]
    assert AuditEvent.objects.filter(action="correct", object_id=testimony.public_id).exists()


def test_sealing_twice_or_from_a_stale_version_is_refused(
    client: Client, documenter: User, testimony: Record
) -> None:
    path = f"/testimonies/{testimony.public_id}/seal"
    assert call(client, documenter, "POST", path, {"version": 1}).status_code == 200
    stale = call(client, documenter, "POST", path, {"version": 1})
    assert stale.status_code == 409 and problem_of(stale)["detail"]["current_version"] == 2
    assert refused_field(call(client, documenter, "POST", path, {"version": 2})) == "sealed"


def test_patch_with_bad_values_is_a_422_naming_the_field(
    client: Client, documenter: User, testimony: Record
) -> None:
    path = f"/testimonies/{testimony.public_id}"
    for body, field in [
        ({"version": 1, "language": "klingon"}, "language"),
        ({"version": 1, "interview_date": None}, "interview_date"),
        ({"summary": "no version"}, "version"),
    ]:
        assert field in refused_field(call(client, documenter, "PATCH", path, body))
    assert Record.objects.get(pk=testimony.pk).version == 1


# --- consent --------------------------------------------------------------------------------


def test_consent_change_is_recorded_in_the_history(
    client: Client, documenter: User, testimony: Record
) -> None:
    path = f"/testimonies/{testimony.public_id}/consent"
    body = {
        "scope": "share_with_mechanisms",
        "mechanisms": ["wgad"],
        "given_on": "2024-06-01",
        "note": CONSENT_NOTE,
    }
    response = call(client, documenter, "POST", path, body)
    assert response.status_code == 200
    consent = response.json()["consent"]
    assert consent["scope"]["code"] == "share_with_mechanisms"
    assert [m["code"] for m in consent["mechanisms"]] == ["wgad"]
    assert [e["kind"] for e in consent["history"]] == ["given", "changed"]
    assert CONSENT_NOTE not in response.content.decode()
    detail = call(client, documenter, "GET", f"/testimonies/{testimony.public_id}").json()
    assert detail["consent"]["history"][1]["note"] == CONSENT_NOTE


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": "everyone", "given_on": "2024-06-01"}, "scope"),
        ({"scope": "share_with_mechanisms", "given_on": "2024-06-01"}, "mechanisms"),
        ({"scope": "internal"}, "given_on"),
        ({"scope": "internal", "given_on": "2999-01-01"}, "given_on"),
    ],
)
def test_bad_consent_is_a_422_naming_the_field(
    client: Client, documenter: User, testimony: Record, body: dict[str, Any], field: str
) -> None:
    path = f"/testimonies/{testimony.public_id}/consent"
    response = call(client, documenter, "POST", path, body)
    assert refused_field(response) == field
    assert problem_of(response)["detail"]["message"].startswith(f"{field}:")
    assert testimony.consents.count() == 1


def test_withdrawal_removes_it_from_search_for_everyone_at_once(
    client: Client,
    documenter: User,
    researcher: User,
    other_researcher: User,
    testimony: Record,
) -> None:
    readers = (documenter, researcher, other_researcher)
    for reader in readers:
        assert found(client, reader, "q=holding") == [testimony.public_id]
    path = f"/testimonies/{testimony.public_id}"
    response = call(client, documenter, "POST", f"{path}/consent/withdraw", {"note": "by phone"})
    assert response.status_code == 200
    assert response.json()["consent"]["withdrawn_on"] == timezone.localdate().isoformat()
    for reader in readers:
        assert found(client, reader, "q=holding") == [], reader.username
        assert found(client, reader, "facility=kwanliso_15") == [], reader.username
    for reader in (researcher, other_researcher):
        assert call(client, reader, "GET", path).status_code == 404
        assert found(client, reader, "") == []
    rows = call(client, documenter, "GET", "/testimonies").json()["results"]
    assert [(r["public_id"], r["withdrawn"]) for r in rows] == [(testimony.public_id, True)]
    again = call(client, documenter, "POST", f"{path}/consent/withdraw", {})
    assert refused_field(again) == "consent"


def test_withdrawal_in_the_future_is_refused(
    client: Client, documenter: User, testimony: Record
) -> None:
    future = (timezone.localdate() + timedelta(days=3)).isoformat()
    path = f"/testimonies/{testimony.public_id}/consent/withdraw"
    response = call(client, documenter, "POST", path, {"effective_on": future})
    assert refused_field(response) == "effective_on"
    assert Record.objects.get(pk=testimony.pk).consent_withdrawn_on is None


# --- coding ---------------------------------------------------------------------------------


def test_coding_an_incident_individuals_and_an_act(
    client: Client, documenter: User, documenter_testimony: Record
) -> None:
    tid = documenter_testimony.public_id
    incident = call(
        client,
        documenter,
        "POST",
        f"/testimonies/{tid}/incidents",
        {
            "date_start": "2010-01-01",
            "date_precision": "year",
            "place": "kwanliso_16",
            "description": DESCRIPTION,
        },
    )
    assert incident.status_code == 201
    assert incident.json()["place"]["code"] == "kwanliso_16" and incident.json()["acts"] == []
    victim = call(
        client,
        documenter,
        "POST",
        f"/testimonies/{tid}/individuals",
        {"role": "victim", "name": VICTIM_NAME, "approx_age": 40, "relation_to_witness": "family"},
    )
    assert victim.status_code == 201 and victim.json()["approx_age"] == 40
    act = call(
        client,
        documenter,
        "POST",
        f"/testimonies/{tid}/incidents/{incident.json()['id']}/acts",
        {
            "act_type": "disappearance",
            "coi_category": "e",
            "connection": "heard",
            "reliability": "c",
            "credibility": "3",
            "victims": [victim.json()["id"]],
            "notes": ACT_NOTES,
        },
    )
    assert act.status_code == 201
    assert act.json()["coi_category"] == {
        "code": "e",
        "label": "Arbitrary detention, torture, executions and prison camps",
    }
    assert act.json()["victims"] == [victim.json()["id"]]
    for response in (incident, victim, act):
        assert_no_secrets(response)
    stored = Act.objects.get(pk=act.json()["id"])
    assert stored.notes == ACT_NOTES and stored.incident.description == DESCRIPTION
    assert found(client, documenter, "act_type=disappearance") == [tid]


@pytest.fixture
def documenter_testimony(documenter: User) -> Record:
    return make_testimony(documenter)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("incidents", {"date_start": "2010-01-01", "date_precision": "range"}, "date_end"),
        ("incidents", {"date_start": "2010-01-01"}, "date_precision"),
        ("incidents", {"place": "atlantis"}, "place"),
        ("incidents", {"date_start": "someday", "date_precision": "day"}, "date_start"),
        ("individuals", {"role": "hero"}, "role"),
        ("individuals", {"role": "victim", "institution": "mss"}, "institution"),
        ("individuals", {"role": "victim", "approx_age": 300}, "approx_age"),
        ("individuals", {"role": "victim", "person": "P-NOTREAL0"}, "person"),
        ("individuals", {"name": "no role"}, "role"),
    ],
)
def test_bad_coding_is_a_422_naming_the_field(
    client: Client,
    documenter: User,
    documenter_testimony: Record,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    url = f"/testimonies/{documenter_testimony.public_id}/{path}"
    assert field in refused_field(call(client, documenter, "POST", url, body))
    assert not Incident.objects.exists() and not Individual.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"act_type": "jaywalking"}, "act_type"),
        ({"reliability": "z"}, "reliability"),
        ({"credibility": "9"}, "credibility"),
        ({"place": "atlantis"}, "place"),
        ({"victims": [-1]}, "victims"),
        ({"perpetrators": [{"individual": -1, "degree": "direct"}]}, "perpetrators"),
    ],
)
def test_bad_act_is_a_422_naming_the_field(
    client: Client, documenter: User, testimony: Record, change: dict[str, Any], field: str
) -> None:
    incident = testimony.incidents.get()
    body = {"act_type": "arrest", "connection": "heard", "reliability": "c", "credibility": "3"}
    url = f"/testimonies/{testimony.public_id}/incidents/{incident.pk}/acts"
    assert field in refused_field(call(client, documenter, "POST", url, body | change))
    assert Act.objects.count() == 1


def test_act_on_an_incident_of_another_testimony_is_404(
    client: Client, documenter: User, testimony: Record, documenter_testimony: Record
) -> None:
    incident = testimony.incidents.get()
    url = f"/testimonies/{documenter_testimony.public_id}/incidents/{incident.pk}/acts"
    body = {"act_type": "arrest", "connection": "heard", "reliability": "c", "credibility": "3"}
    assert call(client, documenter, "POST", url, body).status_code == 404
    assert Act.objects.count() == 1


# --- corroboration --------------------------------------------------------------------------


def test_corroborating_two_first_hand_sources_clears_the_allegation(
    client: Client, documenter: User, testimony: Record
) -> None:
    second = make_testimony(documenter, summary="Another witness of the camp.")
    act = testimony.incidents.get().acts.get()
    other = code_act(documenter, second)
    pending = call(client, documenter, "GET", "/corroborations/uncorroborated").json()
    assert {row["act"] for row in pending} == {act.pk, other.pk}
    row = next(r for r in pending if r["act"] == act.pk)
    assert row["testimony"] == testimony.public_id and row["act_type"]["code"] == "torture"
    assert row["place"]["code"] == "kwanliso_15" and row["corroboration"] is None
    response = call(
        client, documenter, "POST", "/corroborations", {"acts": [act.pk, other.pk], "label": "x"}
    )
    assert response.status_code == 201
    group = response.json()
    assert group["public_id"].startswith("G-") and group["acts"] == sorted([act.pk, other.pk])
    assert call(client, documenter, "GET", "/corroborations/uncorroborated").json() == []


def test_bad_corroborations_are_refused(
    client: Client, documenter: User, other_documenter: User, testimony: Record
) -> None:
    act = testimony.incidents.get().acts.get()
    theirs = code_act(other_documenter, make_testimony(other_documenter))
    second = code_act(documenter, make_testimony(documenter))
    cases = [
        ({"acts": [act.pk, second.pk], "label": "  "}, 422, "label"),
        ({"acts": [act.pk], "label": "one"}, 422, "acts"),
        ({"acts": [act.pk, theirs.pk], "label": "theirs"}, 404, None),
        ({"acts": [act.pk, 999_999], "label": "missing"}, 404, None),
    ]
    for body, status, field in cases:
        response = call(client, documenter, "POST", "/corroborations", body)
        assert response.status_code == status, body
        if field:
            assert refused_field(response) == field
    assert not Corroboration.objects.exists()


# --- places ---------------------------------------------------------------------------------


def test_places_are_listed_to_documenters_and_researchers(
    client: Client, documenter: User, other_researcher: User
) -> None:
    for reader in (documenter, other_researcher):
        places = call(client, reader, "GET", "/places?kind=facility").json()
        camp = next(p for p in places if p["code"] == "kwanliso_15")
        assert camp["facility_type"]["code"] == "kwanliso" and camp["parent"] == "yodok"
        assert camp["province"]["code"] == "south_hamgyong"
        assert {p["kind"]["code"] for p in places} == {"facility"}
    provinces = call(client, documenter, "GET", "/places?kind=province").json()
    assert len(provinces) == 13


def test_admins_add_places_documenters_do_not(
    client: Client, admin: User, documenter: User
) -> None:
    body = {
        "kind": "facility",
        "name_ko": "전거리 교화소",
        "name_en": "Chongori Kyohwaso",
        "parent": "north_hamgyong",
        "facility_type": "kyohwaso",
        "facility_number": "12",
        "latitude": 42.2,
        "longitude": 129.6,
    }
    assert call(client, documenter, "POST", "/places", body).status_code == 403
    response = call(client, admin, "POST", "/places", body)
    assert response.status_code == 201
    place = response.json()
    assert place["province"]["code"] == "north_hamgyong" and place["latitude"] == 42.2
    assert Place.objects.get(code=place["code"]).added_by == admin.agency


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "province"}, "kind"),
        ({"parent": "atlantis"}, "parent"),
        ({"facility_type": "spa"}, "facility_type"),
        ({"latitude": 10.0, "longitude": 10.0}, "latitude"),
        ({"latitude": 40.0}, "longitude"),
        ({"latitude": "north"}, "latitude"),
    ],
)
def test_bad_places_are_a_422_naming_the_field(
    client: Client, admin: User, change: dict[str, Any], field: str
) -> None:
    body = {"kind": "county", "name_ko": "회령시", "name_en": "Hoeryong", "parent": "ryanggang"}
    before = Place.objects.count()
    assert field in refused_field(call(client, admin, "POST", "/places", body | change))
    assert Place.objects.count() == before


# --- evidence -------------------------------------------------------------------------------


def test_upload_list_detail_and_link(
    client: Client, documenter: User, admin: User, testimony: Record
) -> None:
    response = upload(
        client,
        documenter,
        "../../witness statement.pdf",
        PDF,
        received_from="Witness W-23",
        received_on="2024-05-02",
        description="signed",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["display_name"] == "witness statement.pdf"
    assert body["media_type"] == "application/pdf" and body["size"] == len(PDF)
    assert body["received_from"] == "Witness W-23" and body["received_on"] == "2024-05-02"
    assert [e["action"] for e in body["custody"]] == ["received", "uploaded"]
    eid = body["public_id"]
    listed = call(client, admin, "GET", "/evidence").json()
    assert [e["public_id"] for e in listed] == [eid] and "received_from" not in listed[0]
    linked = call(
        client, admin, "POST", f"/evidence/{eid}/link", {"testimony": testimony.public_id}
    )
    assert linked.status_code == 200 and linked.json()["testimonies"] == [testimony.public_id]
    detail = call(client, documenter, "GET", f"/testimonies/{testimony.public_id}").json()
    assert detail["evidence"] == [eid]


def test_content_download_is_an_attachment_recorded_in_custody(
    client: Client, documenter: User, evidence: EvidenceFile
) -> None:
    response = call(client, documenter, "GET", f"/evidence/{evidence.public_id}/content")
    assert response.status_code == 200
    assert response.content == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="statement.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    last = evidence.custody.order_by("at", "id").last()
    assert last is not None and (last.action, last.actor_name) == ("downloaded", "dora")
    assert AuditEvent.objects.filter(action="download", object_id=evidence.public_id).exists()
    chain = call(client, documenter, "GET", f"/evidence/{evidence.public_id}").json()["custody"]
    assert [(e["seq"], e["action"]) for e in chain] == [
        (1, "received"),
        (2, "uploaded"),
        (3, "downloaded"),
    ]
    assert [e["prev_hash"] for e in chain] == ["0" * 64, chain[0]["hash"], chain[1]["hash"]]
    assert chain[2]["hash"] == last.hash
    record_read = AuditEvent.objects.get(action="view", object_id=evidence.public_id)
    assert record_read.detail == {"what": "record"} and record_read.actor_name == "dora"


@pytest.mark.parametrize(
    ("name", "data", "field"),
    [
        ("statement.pdf", b"MZ\x90\x00" + b"\x00" * 60, "file"),  # an executable named .pdf
        ("photo.png", PDF, "filename"),  # a PDF named .png
        ("page.txt", b"<html><script>alert(1)</script></html>", "file"),
        ("empty.pdf", b"", "file"),
    ],
)
def test_disguised_uploads_are_refused_naming_the_field(
    client: Client, documenter: User, store: Path, name: str, data: bytes, field: str
) -> None:
    response = upload(client, documenter, name, data)
    assert refused_field(response) == field
    assert not EvidenceFile.objects.exists()
    assert not store.exists() or not any(p.is_file() for p in store.rglob("*"))


def test_oversized_upload_is_refused(
    client: Client, documenter: User, store: Path, settings: Any
) -> None:
    settings.SAEBOM_EVIDENCE_MAX_MB = 1
    response = upload(client, documenter, "big.pdf", PDF + b"0" * (1024 * 1024))
    assert refused_field(response) == "file"
    assert "1 MB" in problem_of(response)["detail"]["message"]
    assert not EvidenceFile.objects.exists()
    assert not store.exists() or not any(p.is_file() for p in store.rglob("*"))


def test_upload_without_a_file_or_with_a_bad_date_names_the_field(
    client: Client, documenter: User
) -> None:
    response = client.post(f"{API}/evidence", {"description": "x"}, **auth(documenter))
    assert "file" in refused_field(response)
    bad_date = upload(client, documenter, "s.pdf", PDF, received_on="yesterday")
    assert "received_on" in refused_field(bad_date)
    future = (timezone.localdate() + timedelta(days=5)).isoformat()
    assert refused_field(upload(client, documenter, "s.pdf", PDF, received_on=future)) == (
        "received_on"
    )
    assert not EvidenceFile.objects.exists()
