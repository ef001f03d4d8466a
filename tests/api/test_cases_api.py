"""Cases, assessments, services and referrals in the API: who reaches what, and what they see."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client
from django.utils import timezone

from saebom.accounts.models import Agency, User
from saebom.accounts.services import api_token_create
from saebom.core import vocab
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.registry.models import Person
from saebom.support import exporting, selectors, services
from saebom.support.exporting import case_document
from saebom.support.models import Assessment, Case, Referral, Service
from saebom.support.selectors import SECTIONS
from tests.factories import AgencyFactory, ArrivalFactory

pytestmark = pytest.mark.django_db

API = "/api/v1"
NOTE = "밤에 잠을 못 잠"  # an encrypted need note
SERVICE_NOTE = "상담사 김"  # an encrypted service note
CASE_NOTE = "가족 연락 시도"  # an encrypted case note


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def person(agency: Agency) -> Person:
    return ArrivalFactory(agency=agency).person


@pytest.fixture
def caseworker(make_user: Callable[..., User]) -> User:
    return make_user(Role.CASEWORKER, username="alice")


@pytest.fixture
def colleague(make_user: Callable[..., User]) -> User:
    """A caseworker of the same agency who is not a member of the case."""
    return make_user(Role.CASEWORKER, username="bob")


@pytest.fixture
def outsider(make_user: Callable[..., User], other_agency: Agency) -> User:
    """A caseworker of another agency."""
    return make_user(Role.CASEWORKER, username="charlie", agency=other_agency)


@pytest.fixture
def open_case(caseworker: User, person: Person) -> Case:
    case = services.case_open(
        actor=caseworker,
        person=person,
        opened_on=date(2024, 1, 10),
        protection_start=date(2024, 1, 15),
    )
    services.note_add(actor=caseworker, case=case, text=CASE_NOTE)
    services.service_add(actor=caseworker, case=case, kind="medical_referral", note=SERVICE_NOTE)
    services.assessment_record(
        actor=caseworker, case=case, assessed_on=date(2024, 2, 1), needs=needs_of(health=(3, NOTE))
    )
    services.household_add(
        actor=caseworker, case=case, name="림철", relation="parent", location="north"
    )
    return case


def auth(user: User) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(actor=user, name='t').secret}"}


def call(client: Client, user: User | None, method: str, path: str, body: Any = None) -> Any:
    headers = auth(user) if user is not None else {}
    send = getattr(client, method.lower())
    if method == "GET":
        return send(API + path, **headers)
    return send(API + path, json.dumps(body or {}), content_type="application/json", **headers)


def needs_of(**given: tuple[int, str]) -> dict[str, services.Need]:
    """Severity 0 everywhere but the domains given."""
    needs = {d: services.Need(0) for d in vocab.codes("need_domain")}
    needs.update({d: services.Need(s, n) for d, (s, n) in given.items()})
    return needs


def needs_body(**given: tuple[int, str]) -> dict[str, dict[str, Any]]:
    return {d: {"severity": n.severity, "note": n.note} for d, n in needs_of(**given).items()}


def today() -> date:
    return timezone.localdate()


def referral_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "to_agency": "beta",
        "kind": "referral",
        "sections": ["profile", "needs"],
        "purpose": "employment support",
        "consent_given_on": today().isoformat(),
        "valid_until": (today() + timedelta(days=90)).isoformat(),
    }
    return body | overrides


def service_id(case: Case) -> int:
    return Service.objects.filter(case=case).values_list("pk", flat=True)[0]


def case_endpoints(case: Case) -> list[tuple[str, str, Any]]:
    """Every endpoint on one case, with a valid body."""
    cid = case.public_id
    return [
        ("GET", f"/cases/{cid}", None),
        ("PATCH", f"/cases/{cid}", {"version": case.version, "status": "active"}),
        ("GET", f"/cases/{cid}/assessments", None),
        (
            "POST",
            f"/cases/{cid}/assessments",
            {"assessed_on": "2024-03-01", "needs": needs_body()},
        ),
        ("GET", f"/cases/{cid}/services", None),
        ("POST", f"/cases/{cid}/services", {"kind": "job_placement"}),
        (
            "PATCH",
            f"/cases/{cid}/services/{service_id(case)}",
            {"version": 1, "status": "cancelled"},
        ),
        ("POST", f"/cases/{cid}/referrals", referral_body()),
    ]


def snapshot(case: Case) -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    fresh = Case.objects.get(pk=case.pk)
    return (
        fresh.version,
        fresh.status,
        Assessment.objects.filter(case=case).count(),
        list(Service.objects.filter(case=case).values_list("pk", "version", "status")),
        Referral.objects.filter(case=case).count(),
    )


def problem_of(response: Any) -> dict[str, Any]:
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


# --- who reaches what -----------------------------------------------------------------------


def test_openapi_schema_has_the_case_operations(client: Client, db: None) -> None:
    schema = client.get(f"{API}/openapi.json").json()
    paths = schema["paths"]
    expected = {
        f"{API}/cases": {"get", "post"},
        f"{API}/cases/{{public_id}}": {"get", "patch"},
        f"{API}/cases/{{public_id}}/assessments": {"get", "post"},
        f"{API}/cases/{{public_id}}/services": {"get", "post"},
        f"{API}/cases/{{public_id}}/services/{{service_id}}": {"patch"},
        f"{API}/cases/{{public_id}}/referrals": {"post"},
        f"{API}/referrals": {"get"},
        f"{API}/referrals/{{referral_id}}/accept": {"post"},
        f"{API}/referrals/{{referral_id}}/decline": {"post"},
        f"{API}/referrals/{{referral_id}}/revoke": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
        assert all(paths[path][m]["tags"] == ["cases"] for m in methods)
    assert "409" in paths[f"{API}/cases/{{public_id}}"]["patch"]["responses"]


def test_no_token_is_a_401_everywhere(client: Client, open_case: Case) -> None:
    before = snapshot(open_case)
    endpoints = [
        *case_endpoints(open_case),
        ("GET", "/cases", None),
        ("POST", "/cases", {"person_public_id": open_case.person.public_id}),
        ("GET", "/referrals", None),
        ("POST", "/referrals/1/accept", None),
        ("POST", "/referrals/1/decline", None),
        ("POST", "/referrals/1/revoke", None),
    ]
    for method, path, body in endpoints:
        response = call(client, None, method, path, body)
        assert response.status_code == 401, (method, path)
        assert open_case.public_id not in response.content.decode()
    assert snapshot(open_case) == before


@pytest.mark.parametrize(
    "role", [Role.RESEARCHER, Role.STATISTICIAN, Role.INTAKE_OFFICER, Role.AUDITOR]
)
def test_roles_without_case_access_get_403_and_no_content(
    client: Client, open_case: Case, make_user: Callable[..., User], role: str
) -> None:
    user = make_user(role)
    referral = services.referral_send(
        actor=open_case.members.get().user,
        case=open_case,
        to_agency=AgencyFactory(code="beta"),
        sections=["profile"],
        purpose="p",
        consent_given_on=today(),
        valid_until=today() + timedelta(days=1),
    )
    before = snapshot(open_case)
    endpoints = [
        *case_endpoints(open_case),
        ("GET", "/cases", None),
        ("POST", "/cases", {"person_public_id": open_case.person.public_id}),
        ("GET", "/referrals", None),
        ("POST", f"/referrals/{referral.pk}/accept", None),
        ("POST", f"/referrals/{referral.pk}/decline", {"reason": "x"}),
        ("POST", f"/referrals/{referral.pk}/revoke", {"reason": "x"}),
    ]
    for method, path, body in endpoints:
        response = call(client, user, method, path, body)
        assert response.status_code == 403, (method, path)
        text = response.content.decode()
        assert problem_of(response)["status"] == 403
        for secret in (open_case.public_id, open_case.person.public_id, NOTE, CASE_NOTE):
            assert secret not in text
    assert snapshot(open_case) == before
    assert Referral.objects.get(pk=referral.pk).status == Referral.Status.PENDING


def test_other_agency_gets_404_on_every_case_endpoint(
    client: Client, open_case: Case, outsider: User
) -> None:
    before = snapshot(open_case)
    for method, path, body in case_endpoints(open_case):
        response = call(client, outsider, method, path, body)
        assert response.status_code == 404, (method, path)
        assert problem_of(response)["detail"]["message"] == "Not found."
        assert NOTE not in response.content.decode()
    assert call(client, outsider, "GET", "/cases").json() == []
    assert snapshot(open_case) == before


def test_missing_case_is_the_same_404(client: Client, caseworker: User) -> None:
    response = call(client, caseworker, "GET", "/cases/C-00000000")
    assert response.status_code == 404
    assert problem_of(response)["detail"]["message"] == "Not found."


# --- caseload -------------------------------------------------------------------------------


def test_caseload_rows_and_filters(
    client: Client, open_case: Case, caseworker: User, colleague: User, agency: Agency
) -> None:
    quiet = services.case_open(actor=colleague, person=ArrivalFactory(agency=agency).person)
    rows = call(client, caseworker, "GET", "/cases").json()
    by_id = {r["public_id"]: r for r in rows}
    assert set(by_id) == {open_case.public_id, quiet.public_id}
    row = by_id[open_case.public_id]
    assert row["person_public_id"] == open_case.person.public_id
    assert row["status"] == "open"
    assert row["protection_start"] == "2024-01-15" and row["protection_end"] == "2029-01-15"
    assert row["unmet_needs"] == 0  # the medical referral answers the health need
    assert row["overdue_followups"] == 0
    assert row["lead_caseworker"] == "alice"

    mine = call(client, caseworker, "GET", "/cases?mine=true").json()
    assert [r["public_id"] for r in mine] == [open_case.public_id]
    assert [r["public_id"] for r in call(client, colleague, "GET", "/cases?mine=1").json()] == [
        quiet.public_id
    ]
    services.followup_schedule(
        actor=caseworker, case=open_case, due_on=today() - timedelta(days=3), channel="phone"
    )
    services.assessment_record(
        actor=colleague, case=quiet, assessed_on=today(), needs=needs_of(housing=(2, ""))
    )
    flagged = {
        r["public_id"]: r for r in call(client, colleague, "GET", "/cases?attention=true").json()
    }
    assert flagged[open_case.public_id]["overdue_followups"] == 1
    assert flagged[quiet.public_id]["unmet_needs"] == 1
    paged = call(client, caseworker, "GET", "/cases?limit=1&offset=1").json()
    assert len(paged) == 1 and paged[0]["public_id"] == rows[1]["public_id"]


def test_caseload_with_no_attention_needed_is_empty_under_the_filter(
    client: Client, caseworker: User, person: Person
) -> None:
    services.case_open(actor=caseworker, person=person)
    assert len(call(client, caseworker, "GET", "/cases").json()) == 1
    assert call(client, caseworker, "GET", "/cases?attention=true").json() == []


# --- open a case ----------------------------------------------------------------------------


def test_open_a_case_for_a_person_of_ones_agency(
    client: Client, caseworker: User, person: Person
) -> None:
    response = call(
        client,
        caseworker,
        "POST",
        "/cases",
        {
            "person_public_id": person.public_id.lower(),
            "opened_on": "2024-05-02",
            "protection_start": "2024-05-03",
            "household_size": 2,
        },
    )
    assert response.status_code == 201
    body = response.json()
    case = Case.objects.get(person=person)
    assert body["public_id"] == case.public_id and body["public_id"].startswith("C-")
    assert body["person_public_id"] == person.public_id
    assert body["protection_end"] == "2029-05-03" and body["household_size"] == 2
    assert case.lead_agency == caseworker.agency
    assert case.members.get().user == caseworker
    assert AuditEvent.objects.filter(action="create", object_id=case.public_id).exists()
    again = call(client, caseworker, "POST", "/cases", {"person_public_id": person.public_id})
    assert again.status_code == 409 and Case.objects.count() == 1


def test_open_a_case_same_agency_admin(
    client: Client, make_user: Callable[..., User], person: Person
) -> None:
    admin = make_user(Role.ADMIN)
    response = call(client, admin, "POST", "/cases", {"person_public_id": person.public_id})
    assert response.status_code == 201
    assert Case.objects.get(person=person).lead_agency_id == admin.agency_id


def test_open_a_case_for_another_agencys_person_is_404(
    client: Client, outsider: User, person: Person
) -> None:
    for public_id in (person.public_id, "P-NOTTHERE"):
        response = call(client, outsider, "POST", "/cases", {"person_public_id": public_id})
        assert response.status_code == 404
    assert not Case.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"household_size": 0}, "household_size"),
        ({"opened_on": "2024-02-30"}, "opened_on"),
        ({"protection_start": "soon"}, "protection_start"),
    ],
)
def test_open_a_case_with_bad_values_is_a_422(
    client: Client, caseworker: User, person: Person, body: dict[str, Any], field: str
) -> None:
    response = call(
        client, caseworker, "POST", "/cases", {"person_public_id": person.public_id} | body
    )
    assert response.status_code == 422
    assert field in json.dumps(problem_of(response)["detail"])
    assert not Case.objects.exists()


# --- read a case ----------------------------------------------------------------------------


def test_lead_member_sees_every_section_decrypted(
    client: Client, open_case: Case, caseworker: User
) -> None:
    body = call(client, caseworker, "GET", f"/cases/{open_case.public_id}").json()
    assert body["sections"] == list(SECTIONS)
    assert body["profile"]["version"] == 1 and body["profile"]["status"] == "open"
    assert body["protection"] == {"start": "2024-01-15", "end": "2029-01-15", "extensions": []}
    assert [n["text"] for n in body["notes"]] == [CASE_NOTE]
    assert body["household"][0]["name"] == "림철"
    assert body["needs"][0]["needs"]["health"] == {"severity": 3, "note": NOTE}
    assert body["services"][0]["note"] == SERVICE_NOTE
    assert body["referrals"] == [] and body["can_update"] is True
    event = AuditEvent.objects.filter(action="view", object_id=open_case.public_id).get()
    assert "notes" in event.changed_fields and event.actor_name == "alice"


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.ADMIN])
def test_same_agency_non_member_sees_all_but_notes(
    client: Client, open_case: Case, make_user: Callable[..., User], role: str
) -> None:
    response = call(client, make_user(role), "GET", f"/cases/{open_case.public_id}")
    body = response.json()
    assert response.status_code == 200
    assert "notes" not in body and "notes" not in body["sections"]
    assert CASE_NOTE not in response.content.decode()
    assert {"profile", "needs", "services", "household", "referrals"} <= set(body)
    event = AuditEvent.objects.filter(action="view", object_id=open_case.public_id).get()
    assert "notes" not in event.changed_fields


def test_case_detail_serves_the_case_document(
    client: Client, open_case: Case, caseworker: User
) -> None:
    """Every section of the case is the export's reading of it, field for field (a field the
    response schema does not document would be missing here)."""
    services.milestone_record(
        actor=caseworker, case=open_case, kind="hanawon_entry", reached_on=date(2023, 10, 2)
    )
    services.protection_extend(
        actor=caseworker,
        case=open_case,
        decided_on=date(2028, 12, 1),
        new_end=date(2030, 1, 15),
        reason="치료 중",
    )
    services.officer_set(actor=caseworker, case=open_case, kind="personal", name="박 경위")
    services.goal_add(actor=caseworker, case=open_case, domain="health", description="정기 검진")
    services.payment_record(
        actor=caseworker,
        case=open_case,
        kind="settlement_basic",
        amount_krw=2_000_000,
        paid_on=date(2024, 2, 1),
    )
    services.followup_schedule(
        actor=caseworker,
        case=open_case,
        due_on=date(2024, 3, 1),
        channel="phone",
        assigned_to=caseworker,
    )
    services.outcome_record(
        actor=caseworker, case=open_case, year=2024, economic_activity="unemployed"
    )
    body = call(client, caseworker, "GET", f"/cases/{open_case.public_id}").json()
    document = case_document(selectors.case_access(caseworker, open_case.public_id))
    assert all(document[section] for section in SECTIONS)  # something in every section
    for section in SECTIONS:
        assert body[section] == json.loads(json.dumps(document[section], cls=DjangoJSONEncoder))
    assert body["profile"]["members"] == [{"user": "alice", "role": "lead"}]
    assert body["benefits"]["payments"][0]["amount_krw"] == 2_000_000
    assert body["followups"][0]["assigned_to"] == "alice"
    assert set(body["notes"][0]) == {"id", "author", "created_at", "text"}


def test_hidden_sections_are_never_read(
    client: Client,
    open_case: Case,
    caseworker: User,
    outsider: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    referral = services.referral_send(
        actor=caseworker,
        case=open_case,
        to_agency=outsider.agency,
        sections=["profile", "needs"],
        purpose="employment support",
        consent_given_on=today(),
        valid_until=today() + timedelta(days=10),
    )
    services.referral_accept(actor=outsider, referral=referral)
    read: list[str] = []
    for section, reader in list(exporting.SECTION_READERS.items()):

        def reading(case: Case, section: str = section, reader: Any = reader) -> Any:
            read.append(section)
            return reader(case)

        monkeypatch.setitem(exporting.SECTION_READERS, section, reading)
    path = f"/cases/{open_case.public_id}"
    body = call(client, outsider, "GET", path).json()
    assert read == ["profile", "needs"] and body["sections"] == read
    read.clear()
    assert call(client, outsider, "GET", f"{path}/assessments").status_code == 200
    assert call(client, outsider, "GET", f"{path}/services").status_code == 404
    assert read == ["needs"]


# --- update a case --------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "colleague"])
def test_update_a_case(
    client: Client, open_case: Case, caseworker: User, colleague: User, who: str
) -> None:
    user = caseworker if who == "owner" else colleague
    response = call(
        client,
        user,
        "PATCH",
        f"/cases/{open_case.public_id}",
        {"version": 1, "status": "active", "household_size": 3},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["household_size"], body["version"]) == ("active", 3, 2)
    fresh = Case.objects.get(pk=open_case.pk)
    assert (fresh.status, fresh.household_size, fresh.version) == ("active", 3, 2)
    event = AuditEvent.objects.filter(action="update", object_type="case").get()
    assert sorted(event.changed_fields) == ["household_size", "status"]


def test_closing_a_case_sets_its_closing_date(
    client: Client, open_case: Case, caseworker: User
) -> None:
    body = call(
        client,
        caseworker,
        "PATCH",
        f"/cases/{open_case.public_id}",
        {"version": 1, "status": "closed", "closed_on": "2024-06-30"},
    ).json()
    assert body["status"] == "closed" and body["closed_on"] == "2024-06-30"


def test_stale_case_update_is_a_409_listing_the_changes(
    client: Client, open_case: Case, caseworker: User, colleague: User
) -> None:
    path = f"/cases/{open_case.public_id}"
    first = call(client, colleague, "PATCH", path, {"version": 1, "household_size": 4})
    assert first.status_code == 200
    before = snapshot(open_case)
    stale = call(client, caseworker, "PATCH", path, {"version": 1, "status": "on_hold"})
    assert stale.status_code == 409
    problem = problem_of(stale)
    assert problem["title"] == "StaleVersion" and problem["detail"]["current_version"] == 2
    assert problem["detail"]["changes"] == [{"field": "household_size", "then": 1, "now": 4}]
    assert "household_size" in problem["detail"]["message"]
    assert snapshot(open_case) == before
    fresh = Case.objects.get(pk=open_case.pk)
    assert (fresh.status, fresh.household_size) == ("open", 4)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "finished"}, "status"),
        ({"status": None}, "status"),
        ({"household_size": 0}, "household_size"),
        ({"protection_end": "2020-01-01"}, "protection_end"),
        ({"protection_end": "31/12/2030"}, "protection_end"),
    ],
)
def test_bad_case_update_is_a_422_naming_the_field(
    client: Client, open_case: Case, caseworker: User, body: dict[str, Any], field: str
) -> None:
    before = snapshot(open_case)
    response = call(
        client, caseworker, "PATCH", f"/cases/{open_case.public_id}", {"version": 1} | body
    )
    assert response.status_code == 422
    assert field in json.dumps(problem_of(response)["detail"])
    assert snapshot(open_case) == before


# --- assessments ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "colleague"])
def test_record_and_list_assessments(
    client: Client, open_case: Case, caseworker: User, colleague: User, who: str
) -> None:
    user = caseworker if who == "owner" else colleague
    path = f"/cases/{open_case.public_id}/assessments"
    created = call(
        client,
        user,
        "POST",
        path,
        {"assessed_on": "2024-04-01", "needs": needs_body(housing=(2, "곰팡이"))},
    )
    assert created.status_code == 201
    assert created.json()["needs"]["housing"] == {"severity": 2, "note": "곰팡이"}
    listed = call(client, user, "GET", path).json()
    assert [a["assessed_on"] for a in listed] == ["2024-02-01", "2024-04-01"]
    assert list(listed[1]["needs"]) == vocab.codes("need_domain")  # every domain, in order
    assert Case.objects.get(pk=open_case.pk).latest_assessment_id == listed[1]["id"]
    assert AuditEvent.objects.filter(action="view", changed_fields=["needs"]).exists()


def _break(body: dict[str, Any], how: str) -> None:
    needs = body["needs"]
    if how == "severity_out_of_range":
        needs["housing"]["severity"] = 7
    elif how == "unknown_domain":
        needs["spirituality"] = {"severity": 1, "note": ""}
    elif how == "missing_domain":
        del needs["safety"]
    elif how == "severity_not_a_number":
        needs["housing"]["severity"] = "high"
    elif how == "bad_date":
        body["assessed_on"] = "2024-04-31"


@pytest.mark.parametrize(
    ("how", "field"),
    [
        ("severity_out_of_range", "needs.housing"),
        ("unknown_domain", "needs.spirituality"),
        ("missing_domain", "needs"),
        ("severity_not_a_number", "severity"),
        ("bad_date", "assessed_on"),
    ],
)
def test_bad_assessment_is_a_422_naming_the_field(
    client: Client, open_case: Case, caseworker: User, how: str, field: str
) -> None:
    body: dict[str, Any] = {"assessed_on": "2024-04-01", "needs": needs_body()}
    _break(body, how)
    before = snapshot(open_case)
    response = call(client, caseworker, "POST", f"/cases/{open_case.public_id}/assessments", body)
    assert response.status_code == 422
    detail = problem_of(response)["detail"]
    if isinstance(detail, dict):  # refused by the service
        assert detail["field"] == field
    else:  # refused by the schema: the location names the field
        assert any(field in error["loc"] for error in detail)
    assert snapshot(open_case) == before


# --- services -------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "colleague"])
def test_add_list_and_update_services(
    client: Client,
    open_case: Case,
    caseworker: User,
    colleague: User,
    who: str,
    other_agency: Agency,
) -> None:
    user = caseworker if who == "owner" else colleague
    path = f"/cases/{open_case.public_id}/services"
    created = call(
        client,
        user,
        "POST",
        path,
        {"kind": "job_placement", "provider": "beta", "due_on": "2024-05-01", "note": "면접"},
    )
    assert created.status_code == 201
    service = created.json()
    assert (service["domain"], service["provider"], service["status"]) == (
        "employment",
        "beta",
        "planned",
    )
    assert service["note"] == "면접" and service["version"] == 1
    listed = call(client, user, "GET", path).json()
    assert [s["kind"] for s in listed] == ["medical_referral", "job_placement"]
    updated = call(
        client,
        user,
        "PATCH",
        f"{path}/{service['id']}",
        {"version": 1, "status": "delivered", "delivered_on": "2024-05-02", "provider": None},
    )
    assert updated.status_code == 200
    body = updated.json()
    assert (body["status"], body["delivered_on"], body["provider"], body["version"]) == (
        "delivered",
        "2024-05-02",
        None,
        2,
    )
    stored = Service.objects.get(pk=service["id"])
    assert stored.status == "delivered" and stored.provider_id is None
    event = AuditEvent.objects.filter(action="update", object_type="service").get()
    assert set(event.changed_fields) == {"status", "delivered_on", "provider_id"}


def test_stale_service_update_is_a_409_listing_the_changes(
    client: Client, open_case: Case, caseworker: User, colleague: User, other_agency: Agency
) -> None:
    path = f"/cases/{open_case.public_id}/services/{service_id(open_case)}"
    first = call(
        client,
        colleague,
        "PATCH",
        path,
        {"version": 1, "status": "in_progress", "provider": "beta"},
    )
    assert first.status_code == 200
    before = snapshot(open_case)
    stale = call(client, caseworker, "PATCH", path, {"version": 1, "status": "cancelled"})
    assert stale.status_code == 409
    changes = problem_of(stale)["detail"]["changes"]
    assert {c["field"]: (c["then"], c["now"]) for c in changes} == {
        "status": ("planned", "in_progress"),
        "provider": (None, "beta"),
    }
    assert snapshot(open_case) == before
    assert Service.objects.get(pk=service_id(open_case)).status == "in_progress"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "done"}, "status"),
        ({"status": None}, "status"),
        ({"provider": "nowhere"}, "provider"),
        ({"delivered_on": "2024-05-02"}, "delivered_on"),  # not delivered
        ({"due_on": "tomorrow"}, "due_on"),
    ],
)
def test_bad_service_update_is_a_422_naming_the_field(
    client: Client, open_case: Case, caseworker: User, body: dict[str, Any], field: str
) -> None:
    before = snapshot(open_case)
    response = call(
        client,
        caseworker,
        "PATCH",
        f"/cases/{open_case.public_id}/services/{service_id(open_case)}",
        {"version": 1} | body,
    )
    assert response.status_code == 422
    assert field in json.dumps(problem_of(response)["detail"])
    assert snapshot(open_case) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [({"kind": "teleport"}, "kind"), ({"kind": "counselling", "domain": "x"}, "domain")],
)
def test_bad_new_service_is_a_422(
    client: Client, open_case: Case, caseworker: User, body: dict[str, Any], field: str
) -> None:
    before = snapshot(open_case)
    response = call(client, caseworker, "POST", f"/cases/{open_case.public_id}/services", body)
    assert response.status_code == 422 and problem_of(response)["detail"]["field"] == field
    assert snapshot(open_case) == before


def test_a_service_is_reached_only_through_its_own_case(
    client: Client, open_case: Case, caseworker: User, colleague: User, agency: Agency
) -> None:
    other = services.case_open(actor=colleague, person=ArrivalFactory(agency=agency).person)
    theirs = services.service_add(actor=colleague, case=other, kind="legal_aid")
    response = call(
        client,
        caseworker,
        "PATCH",
        f"/cases/{open_case.public_id}/services/{theirs.pk}",
        {"version": 1, "status": "cancelled"},
    )
    assert response.status_code == 404
    assert Service.objects.get(pk=theirs.pk).status == "planned"


# --- referrals ------------------------------------------------------------------------------


def test_referral_flow_shows_exactly_the_consented_sections(
    client: Client, open_case: Case, caseworker: User, outsider: User
) -> None:
    case_path = f"/cases/{open_case.public_id}"
    sent = call(client, caseworker, "POST", f"{case_path}/referrals", referral_body())
    assert sent.status_code == 201
    referral = sent.json()
    assert (referral["status"], referral["to_agency"], referral["sections"]) == (
        "pending",
        "beta",
        ["needs", "profile"],
    )
    # Before acceptance the other agency sees the referral, not the case.
    assert call(client, outsider, "GET", case_path).status_code == 404
    incoming = call(client, outsider, "GET", "/referrals").json()
    assert [(r["id"], r["case"]) for r in incoming] == [(referral["id"], open_case.public_id)]
    assert call(client, caseworker, "GET", "/referrals").json() == []  # sent, not received
    # The sender cannot accept its own referral.
    assert (
        call(client, caseworker, "POST", f"/referrals/{referral['id']}/accept").status_code == 404
    )

    accepted = call(client, outsider, "POST", f"/referrals/{referral['id']}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    seen = call(client, outsider, "GET", case_path)
    body = seen.json()
    assert seen.status_code == 200
    assert body["sections"] == ["profile", "needs"]
    assert body["profile"]["person_public_id"] == open_case.person.public_id
    assert body["needs"][0]["assessed_on"] == "2024-02-01"
    absent = {"protection", "milestones", "officers", "household", "plan", "services"}
    absent |= {"benefits", "followups", "notes", "outcomes", "referrals"}
    assert not absent & set(body)
    text = seen.content.decode()
    assert CASE_NOTE not in text and SERVICE_NOTE not in text and "림철" not in text
    assert body["can_update"] is False
    # Sub-records: only those of consented sections; writes stay with the lead agency.
    assert call(client, outsider, "GET", f"{case_path}/assessments").status_code == 200
    assert call(client, outsider, "GET", f"{case_path}/services").status_code == 404
    refused = call(client, outsider, "PATCH", case_path, {"version": 1, "status": "closed"})
    assert refused.status_code == 403
    assert Case.objects.get(pk=open_case.pk).status == "open"
    # The lead agency sees its referral on the case.
    lead_view = call(client, caseworker, "GET", case_path).json()
    assert [r["status"] for r in lead_view["referrals"]] == ["accepted"]

    revoked = call(
        client,
        caseworker,
        "POST",
        f"/referrals/{referral['id']}/revoke",
        {"reason": "consent withdrawn", "for_person": True},
    )
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoked_for_person"] is True
    assert call(client, outsider, "GET", case_path).status_code == 404
    assert call(client, outsider, "GET", f"{case_path}/assessments").status_code == 404
    assert AuditEvent.objects.filter(action="revoke", object_id=open_case.public_id).exists()


def test_referred_partner_sees_notes_only_when_consented_and_a_member(
    client: Client,
    open_case: Case,
    caseworker: User,
    outsider: User,
    make_user: Callable[..., User],
    other_agency: Agency,
) -> None:
    referral = services.referral_send(
        actor=caseworker,
        case=open_case,
        to_agency=other_agency,
        sections=["notes", "services"],
        purpose="counselling",
        consent_given_on=today(),
        valid_until=today() + timedelta(days=10),
    )
    call(client, outsider, "POST", f"/referrals/{referral.pk}/accept")
    member = call(client, outsider, "GET", f"/cases/{open_case.public_id}").json()
    assert member["sections"] == ["services", "notes"]
    assert [n["text"] for n in member["notes"]] == [CASE_NOTE]
    assert member["services"][0]["note"] == SERVICE_NOTE
    other = make_user(Role.CASEWORKER, agency=other_agency)
    not_member = call(client, other, "GET", f"/cases/{open_case.public_id}").json()
    assert not_member["sections"] == ["services"] and "notes" not in not_member


def test_decline_keeps_the_case_hidden(
    client: Client, open_case: Case, caseworker: User, outsider: User
) -> None:
    referral = call(
        client, caseworker, "POST", f"/cases/{open_case.public_id}/referrals", referral_body()
    ).json()
    declined = call(
        client, outsider, "POST", f"/referrals/{referral['id']}/decline", {"reason": "no capacity"}
    )
    assert declined.status_code == 200
    assert (declined.json()["status"], declined.json()["decline_reason"]) == (
        "declined",
        "no capacity",
    )
    assert call(client, outsider, "GET", f"/cases/{open_case.public_id}").status_code == 404
    again = call(client, outsider, "POST", f"/referrals/{referral['id']}/accept")
    assert again.status_code == 409
    assert Referral.objects.get(pk=referral["id"]).status == "declined"


def test_a_third_agency_cannot_reach_the_referral(
    client: Client,
    open_case: Case,
    caseworker: User,
    make_user: Callable[..., User],
    other_agency: Agency,
) -> None:
    referral = call(
        client, caseworker, "POST", f"/cases/{open_case.public_id}/referrals", referral_body()
    ).json()
    third = make_user(Role.CASEWORKER, agency=AgencyFactory(code="gamma"))
    for action, body in (("accept", None), ("decline", {}), ("revoke", {"reason": "x"})):
        response = call(client, third, "POST", f"/referrals/{referral['id']}/{action}", body)
        assert response.status_code == 404, action
    assert call(client, third, "GET", "/referrals").json() == []
    assert Referral.objects.get(pk=referral["id"]).status == "pending"


def test_same_agency_colleague_may_refer_and_revoke(
    client: Client, open_case: Case, colleague: User, other_agency: Agency
) -> None:
    sent = call(
        client, colleague, "POST", f"/cases/{open_case.public_id}/referrals", referral_body()
    )
    assert sent.status_code == 201
    revoked = call(client, colleague, "POST", f"/referrals/{sent.json()['id']}/revoke", {})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"


def test_transfer_makes_the_receiving_agency_the_lead(
    client: Client, open_case: Case, caseworker: User, outsider: User
) -> None:
    referral = call(
        client,
        caseworker,
        "POST",
        f"/cases/{open_case.public_id}/referrals",
        referral_body(kind="transfer", sections=list(SECTIONS)),  # a transfer hands over all
    ).json()
    call(client, outsider, "POST", f"/referrals/{referral['id']}/accept")
    body = call(client, outsider, "GET", f"/cases/{open_case.public_id}").json()
    assert body["lead_agency"] == "beta" and body["can_update"] is True
    assert body["profile"]["status"] == "transferred"
    assert call(client, caseworker, "GET", f"/cases/{open_case.public_id}").status_code == 404


def test_incoming_referrals_show_the_purpose_only_while_they_run(
    client: Client, open_case: Case, caseworker: User, outsider: User
) -> None:
    sent = [
        call(
            client,
            caseworker,
            "POST",
            f"/cases/{open_case.public_id}/referrals",
            referral_body(purpose=f"purpose {n}"),
        ).json()["id"]
        for n in range(5)
    ]
    pending, running, expired, declined, revoked = sent
    for pk in (running, expired, revoked):
        assert call(client, outsider, "POST", f"/referrals/{pk}/accept").status_code == 200
    Referral.objects.filter(pk=expired).update(valid_until=today() - timedelta(days=1))
    call(client, outsider, "POST", f"/referrals/{declined}/decline", {"reason": "full"})
    call(client, caseworker, "POST", f"/referrals/{revoked}/revoke", {"reason": "x"})

    listed = {r["id"]: r for r in call(client, outsider, "GET", "/referrals").json()}
    shown = {pk: (r["status"], r["state"], r["purpose"]) for pk, r in listed.items()}
    assert shown == {
        pending: ("pending", "pending", "purpose 0"),
        running: ("accepted", "accepted", "purpose 1"),
        expired: ("accepted", "expired", None),
        declined: ("declined", "declined", None),
        revoked: ("revoked", "revoked", None),
    }
    assert "purpose 2" not in call(client, outsider, "GET", "/referrals").content.decode()
    # The lead agency keeps the purpose it recorded on its own case.
    lead = call(client, caseworker, "GET", f"/cases/{open_case.public_id}").json()
    assert {r["id"]: (r["state"], r["purpose"]) for r in lead["referrals"]}[expired] == (
        "expired",
        "purpose 2",
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sections": ["profile", "bank_details"]}, "sections"),
        ({"sections": []}, "sections"),
        ({"to_agency": "nowhere"}, "to_agency"),
        ({"to_agency": "alpha"}, "to_agency"),
        ({"kind": "loan"}, "kind"),
        ({"purpose": " "}, "purpose"),
        ({"valid_until": "2020-01-01"}, "valid_until"),
        ({"consent_given_on": "2999-01-01"}, "consent_given_on"),
        ({"consent_given_on": "yesterday"}, "consent_given_on"),
    ],
)
def test_bad_referral_is_a_422_naming_the_field(
    client: Client,
    open_case: Case,
    caseworker: User,
    other_agency: Agency,
    overrides: dict[str, Any],
    field: str,
) -> None:
    response = call(
        client,
        caseworker,
        "POST",
        f"/cases/{open_case.public_id}/referrals",
        referral_body(**overrides),
    )
    assert response.status_code == 422
    assert field in json.dumps(problem_of(response)["detail"])
    assert not Referral.objects.exists()


def test_the_receiving_side_never_reads_the_leads_reasons_nor_an_ended_purpose(
    client: Client, caseworker: User, outsider: User, open_case: Case
) -> None:
    sent = call(
        client, caseworker, "POST", f"/cases/{open_case.public_id}/referrals", referral_body()
    )
    referral_id = sent.json()["id"]
    assert call(client, outsider, "POST", f"/referrals/{referral_id}/accept").status_code == 200
    revoked = services.referral_revoke(
        actor=caseworker,
        referral=Referral.objects.get(pk=referral_id),
        reason="she fears her brother works there",
        for_person=True,
    )
    [row] = call(client, outsider, "GET", "/referrals").json()
    assert row["purpose"] is None and row["revoke_reason"] == "" and row["state"] == "revoked"
    lead = call(client, caseworker, "GET", f"/cases/{open_case.public_id}").json()
    [own] = lead["referrals"]
    assert own["revoke_reason"] == revoked.revoke_reason and own["purpose"] == "employment support"
