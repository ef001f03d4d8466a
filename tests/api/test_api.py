from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from saebom.accounts.models import Agency, ApiToken, User
from saebom.accounts.services import api_token_create, api_token_revoke
from saebom.core.audit import audit_record
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.support import selectors as support_selectors
from saebom.support import services as support_services
from saebom.support.models import Referral
from tests.factories import ArrivalFactory

PROBLEM = "application/problem+json"


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.fixture
def token_for(make_user: Callable[..., User]) -> Callable[..., str]:
    def make(role: str = Role.CASEWORKER, **kwargs: object) -> str:
        return api_token_create(actor=make_user(role, **kwargs), name="test").secret

    return make


def test_openapi_schema_is_served(client: Client, db: None) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["info"]["title"] == "Saebom API"
    assert "/api/v1/me" in schema["paths"]


def test_me_with_a_token(client: Client, token_for: Callable[..., str]) -> None:
    body = client.get("/api/v1/me", **bearer(token_for(Role.DOCUMENTER))).json()
    assert body["role"] == "documenter" and body["agency"]["code"] == "alpha"


def test_token_is_stored_as_a_digest_only(make_user: Callable[..., User]) -> None:
    issued = api_token_create(actor=make_user(), name="laptop")
    stored = ApiToken.objects.get(pk=issued.token.pk)
    assert issued.secret not in (stored.digest, stored.prefix) and len(stored.digest) == 64
    assert AuditEvent.objects.filter(action="create", object_type="api_token").exists()


@pytest.mark.parametrize("header", [{}, bearer("sb_not-a-real-token")])
def test_missing_or_wrong_token_is_a_401_problem(
    client: Client, db: None, header: dict[str, str]
) -> None:
    response = client.get("/api/v1/me", **header)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 401


def test_revoked_and_expired_tokens_stop_working(
    client: Client, make_user: Callable[..., User]
) -> None:
    user = make_user()
    revoked, expired = (
        api_token_create(actor=user, name="a"),
        api_token_create(actor=user, name="b"),
    )
    api_token_revoke(actor=user, token_id=revoked.token.pk)
    ApiToken.objects.filter(pk=expired.token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client.get("/api/v1/me", **bearer(revoked.secret)).status_code == 401
    assert client.get("/api/v1/me", **bearer(expired.secret)).status_code == 401


def test_token_of_an_account_without_mfa_is_refused(
    client: Client, token_for: Callable[..., str]
) -> None:
    secret = token_for(Role.CASEWORKER, with_totp=False)
    assert client.get("/api/v1/me", **bearer(secret)).status_code == 401


def test_token_of_a_deactivated_account_is_refused(
    client: Client, make_user: Callable[..., User]
) -> None:
    user = make_user()
    secret = api_token_create(actor=user, name="x").secret
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert client.get("/api/v1/me", **bearer(secret)).status_code == 401


def test_cannot_revoke_someone_elses_token(
    client_for: Callable[..., Client], make_user: Callable[..., User]
) -> None:
    owner = make_user()
    issued = api_token_create(actor=owner, name="mine")
    response = client_for(Role.ADMIN).post(f"/account/tokens/{issued.token.pk}/revoke")
    assert response.status_code == 404
    assert ApiToken.objects.get(pk=issued.token.pk).revoked_at is None


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.AUDITOR, 200),
        (Role.ADMIN, 200),
        (Role.CASEWORKER, 403),
        (Role.RESEARCHER, 403),
        (Role.STATISTICIAN, 403),
    ],
)
def test_audit_events_by_role(
    client: Client, token_for: Callable[..., str], role: str, status: int
) -> None:
    response = client.get("/api/v1/audit/events", **bearer(token_for(role)))
    assert response.status_code == status
    if status == 403:
        assert response["Content-Type"] == "application/problem+json"


def test_auditor_sees_only_own_agency_events(
    client: Client,
    token_for: Callable[..., str],
    make_user: Callable[..., User],
    other_agency: object,
) -> None:
    outsider = make_user(Role.CASEWORKER, agency=other_agency)
    audit_record(actor=outsider, action="view_identifiers", object_type="person", object_id="P-XYZ")
    events = client.get("/api/v1/audit/events?limit=1000", **bearer(token_for(Role.AUDITOR))).json()
    assert events and all(event["agency_code"] == "alpha" for event in events)
    assert not any(event["object_id"] == "P-XYZ" for event in events)


def test_audit_verify_and_head(client: Client, token_for: Callable[..., str]) -> None:
    secret = token_for(Role.AUDITOR)
    verdict = client.post("/api/v1/audit/verify", **bearer(secret)).json()
    head = client.get("/api/v1/audit/head", **bearer(secret)).json()
    assert verdict["ok"] is True and verdict["checked"] == head["seq"] >= 1


def test_refusals_are_audited(client: Client, token_for: Callable[..., str]) -> None:
    client.get("/api/v1/audit/events", **bearer(token_for(Role.RESEARCHER)))
    event = AuditEvent.objects.get(action="permission_denied")
    assert event.object_id == "/api/v1/audit/events"


def test_operator_agency_auditor_sees_installation_events(
    client: Client, make_user: Callable[..., User]
) -> None:
    from saebom.accounts.services import agency_ensure_default
    from saebom.core.actors import system_actor

    operator = agency_ensure_default(actor=system_actor())
    audit_record(actor=system_actor(), action="keys_rotate", agency_code="")
    auditor = api_token_create(actor=make_user(Role.AUDITOR, agency=operator), name="t").secret
    outsider = api_token_create(actor=make_user(Role.AUDITOR), name="t").secret
    seen = {e["action"] for e in client.get("/api/v1/audit/events", **bearer(auditor)).json()}
    assert "keys_rotate" in seen
    seen = {e["action"] for e in client.get("/api/v1/audit/events", **bearer(outsider)).json()}
    assert "keys_rotate" not in seen


@pytest.fixture
def sent_referral(make_user: Callable[..., User], other_agency: Agency) -> tuple[Referral, str]:
    """A pending referral a caseworker sent to another agency, and the caseworker's token."""
    caseworker = make_user(Role.CASEWORKER)
    case = support_services.case_open(
        actor=caseworker,
        person=ArrivalFactory(agency=caseworker.agency).person,
        opened_on=date(2024, 1, 10),
    )
    today = support_selectors.today()
    referral = support_services.referral_send(
        actor=caseworker,
        case=case,
        to_agency=other_agency,
        sections=["profile"],
        purpose="housing support",
        consent_given_on=today,
        valid_until=today + timedelta(days=90),
    )
    return referral, api_token_create(actor=caseworker, name="test").secret


@pytest.mark.parametrize("body", ["null", "[]", "1.5", '"x"'])
def test_a_body_that_is_not_an_object_revokes_nothing(
    client: Client, sent_referral: tuple[Referral, str], body: str
) -> None:
    """A revocation's fields all have defaults: a JSON value other than an object must not
    reach it as an object of defaults (a revocation without its reason)."""
    referral, secret = sent_referral
    response = client.post(
        f"/api/v1/referrals/{referral.pk}/revoke",
        body,
        content_type="application/json",
        **bearer(secret),
    )
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert response.json()["status"] == 400
    referral.refresh_from_db()
    assert referral.status == Referral.Status.PENDING and referral.revoked_at is None


def test_the_same_revocation_with_an_object_revokes(
    client: Client, sent_referral: tuple[Referral, str]
) -> None:
    """The control of the test above: the request, with an object, does revoke."""
    referral, secret = sent_referral
    response = client.post(
        f"/api/v1/referrals/{referral.pk}/revoke",
        {"reason": "sent to the wrong agency"},
        content_type="application/json",
        **bearer(secret),
    )
    assert response.status_code == 200
    referral.refresh_from_db()
    assert referral.status == Referral.Status.REVOKED and referral.revoked_at is not None


@pytest.mark.parametrize(
    "url", ["/api/v1/arrivals/A%00B", "/api/v1/arrivals?sex=%00", "/api/v1/me?x=a%00"]
)
def test_a_nul_character_in_an_api_path_or_query_is_a_400_problem(
    client: Client, token_for: Callable[..., str], url: str
) -> None:
    response = client.get(url, **bearer(token_for(Role.ADMIN)))
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert response.json() == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "NUL characters are not accepted",
    }


def test_a_nul_character_in_a_web_path_is_a_plain_400(client: Client, db: None) -> None:
    response = client.get("/arrivals/A%00B")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("url", ["/api/v1/arrivals/%0A", "/api/v1/no-such-operation"])
def test_an_api_path_no_operation_matches_is_a_404_problem(
    client: Client, token_for: Callable[..., str], url: str
) -> None:
    """A newline in a path parameter matches no route (Django's converters stop at one): the
    answer is still the API's problem document, not the web's page."""
    response = client.get(url, **bearer(token_for(Role.ADMIN)))
    assert response.status_code == 404 and response["Content-Type"] == PROBLEM
    assert response.json()["status"] == 404


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/arrivals", Role.INTAKE_OFFICER),
        ("/cases", Role.CASEWORKER),
        ("/referrals", Role.CASEWORKER),
        ("/testimonies", Role.DOCUMENTER),
        ("/testimonies?q=Hoeryong", Role.DOCUMENTER),
        ("/places", Role.DOCUMENTER),
        ("/evidence", Role.DOCUMENTER),
    ],
)
@pytest.mark.parametrize("offset", [2**31 + 1, 2**63, 10**22])
def test_an_offset_past_any_list_is_an_empty_page(
    client: Client, token_for: Callable[..., str], path: str, role: str, offset: int
) -> None:
    """Found by schemathesis: an offset past SQLite's integers was a 500."""
    joiner = "&" if "?" in path else "?"
    response = client.get(f"/api/v1{path}{joiner}offset={offset}", **bearer(token_for(role)))
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["results"] if isinstance(body, dict) else body) == []
