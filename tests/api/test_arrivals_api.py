from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from saebom.accounts.models import Agency, User
from saebom.accounts.services import api_token_create
from saebom.core.policy import Role
from saebom.registry.importing import arrivals_import
from saebom.registry.models import Arrival
from tests.registry.helpers import csv_bytes, row

pytestmark = pytest.mark.django_db
BODY = {
    "record_id": "API-1",
    "arrival_date": "2024-02",
    "sex": "F",
    "birth_year": "1990",
    "name_ko": "림순희",
    "reasons": "economic_hardship",
}


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user(Role.INTAKE_OFFICER)


def auth(user: User) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {api_token_create(actor=user, name='t').secret}"}


def test_list_filters_and_never_carries_identifiers(client: Client, officer: User) -> None:
    arrivals_import(
        actor=officer, data=csv_bytes([row(1, name_ko="박영희"), row(2, sex="M")]), filename="a.csv"
    )
    response = client.get("/api/v1/arrivals?sex=M", **auth(officer))
    body = response.json()
    assert [a["record_id"] for a in body] == ["R-00002"]
    assert "박영희" not in response.content.decode()
    assert not {"name_ko", "name_en", "date_of_birth"} & set(body[0])


def test_create_then_detail_then_update(client: Client, officer: User) -> None:
    headers = auth(officer)
    created = client.post("/api/v1/arrivals", BODY, content_type="application/json", **headers)
    assert created.status_code == 201 and created.json()["public_id"].startswith("P-")
    detail = client.get("/api/v1/arrivals/API-1", **headers).json()
    assert detail["arrival_date"] == "2024-02" and detail["version"] == 1
    updated = client.put(
        "/api/v1/arrivals/API-1",
        BODY | {"sex": "M", "version": 1},
        content_type="application/json",
        **headers,
    )
    assert (
        updated.status_code == 200
        and updated.json()["sex"] == "M"
        and updated.json()["version"] == 2
    )
    stale = client.put(
        "/api/v1/arrivals/API-1", BODY | {"version": 1}, content_type="application/json", **headers
    )
    assert stale.status_code == 409 and stale["Content-Type"] == "application/problem+json"


def test_invalid_values_are_a_422_problem_naming_the_field(client: Client, officer: User) -> None:
    response = client.post(
        "/api/v1/arrivals",
        BODY | {"arrival_date": "2024-13"},
        content_type="application/json",
        **auth(officer),
    )
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "arrival_date"
    assert not Arrival.objects.exists()


def test_possible_duplicate_needs_a_decision(client: Client, officer: User) -> None:
    headers = auth(officer)
    client.post("/api/v1/arrivals", BODY, content_type="application/json", **headers)
    first = Arrival.objects.get().person.public_id
    again = BODY | {"record_id": "API-2", "name_ko": "임순희"}
    conflict = client.post("/api/v1/arrivals", again, content_type="application/json", **headers)
    assert conflict.status_code == 409 and first in conflict.json()["detail"]["message"]
    linked = client.post(
        "/api/v1/arrivals", again | {"link_to": first}, content_type="application/json", **headers
    )
    assert linked.status_code == 201 and linked.json()["public_id"] == first


def test_other_agency_records_are_404(
    client: Client, officer: User, make_user: Callable[..., User], other_agency: Agency
) -> None:
    arrivals_import(
        actor=make_user(Role.INTAKE_OFFICER, agency=other_agency),
        data=csv_bytes([row(1)]),
        filename="a.csv",
    )
    assert client.get("/api/v1/arrivals/R-00001", **auth(officer)).status_code == 404
    assert client.get("/api/v1/arrivals", **auth(officer)).json() == []


def test_researcher_cannot_list_arrivals(client: Client, make_user: Callable[..., User]) -> None:
    assert client.get("/api/v1/arrivals", **auth(make_user(Role.RESEARCHER))).status_code == 403


def test_record_ids_with_a_slash_are_reachable(client: Client, officer: User) -> None:
    arrivals_import(
        actor=officer, data=csv_bytes([row(1, record_id="2023/0001")]), filename="a.csv"
    )
    response = client.get("/api/v1/arrivals/2023/0001", **auth(officer))
    assert response.status_code == 200 and response.json()["record_id"] == "2023/0001"


def test_superscript_digits_are_a_422_not_a_crash(client: Client, officer: User) -> None:
    response = client.post(
        "/api/v1/arrivals",
        BODY | {"birth_year": "198²"},
        content_type="application/json",
        **auth(officer),
    )
    assert response.status_code == 422
