from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from saebom.accounts.models import Agency, User
from saebom.accounts.services import user_create
from saebom.core.actors import SystemActor
from saebom.core.exceptions import SaebomError
from saebom.core.models import AuditEvent, Deployment
from saebom.core.policy import Role
from tests.factories import PASSWORD, activate_totp, current_code


def password_login(client: Client, username: str, password: str = PASSWORD) -> object:
    return client.post(reverse("account_login"), {"login": username, "password": password})


def test_account_without_mfa_sees_no_record_until_it_sets_one_up(
    make_user: Callable[..., User],
) -> None:
    user = make_user(Role.CASEWORKER, with_totp=False)
    client = Client()
    password_login(client, user.username)
    for url in (reverse("web:dashboard"), reverse("web:api_tokens"), reverse("web:users")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == reverse("mfa_activate_totp")
    setup = client.get(reverse("mfa_activate_totp"))  # set-up confirms the password first
    assert setup.status_code == 302 and setup["Location"].startswith(
        reverse("account_reauthenticate")
    )
    client.post(setup["Location"], {"password": PASSWORD})
    assert client.get(reverse("mfa_activate_totp")).status_code == 200


def test_login_asks_for_totp_then_reaches_dashboard(make_user: Callable[..., User]) -> None:
    user = make_user(Role.INTAKE_OFFICER, with_totp=False)
    secret = activate_totp(user)
    client = Client()
    response = password_login(client, user.username)
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")
    assert client.get(reverse("web:dashboard")).status_code == 302  # not signed in yet
    response = client.post(
        reverse("mfa_authenticate"),
        {"code": "000000" if current_code(secret) != "000000" else "111111"},
    )
    assert response.status_code == 200  # wrong code: the form again
    response = client.post(reverse("mfa_authenticate"), {"code": current_code(secret)})
    assert response.status_code == 302
    assert client.get(reverse("web:dashboard")).status_code == 200
    assert AuditEvent.objects.filter(action="login", actor_id=user.pk).exists()


def test_demo_account_is_exempt_only_in_a_demo_installation(make_user: Callable[..., User]) -> None:
    user = make_user(Role.RESEARCHER, with_totp=False, mfa_exempt=True)
    client = Client()
    client.force_login(user)
    assert client.get(reverse("web:dashboard")).status_code == 302
    Deployment.objects.update_or_create(pk=1, defaults={"is_demo": True})
    assert client.get(reverse("web:dashboard")).status_code == 200


def test_totp_cannot_be_removed(make_user: Callable[..., User]) -> None:
    user = make_user(Role.CASEWORKER)
    client = Client()
    client.force_login(user)
    client.post(reverse("mfa_deactivate_totp"))
    assert user.authenticator_set.filter(type="totp").exists()


def test_totp_secret_is_encrypted_at_rest(make_user: Callable[..., User]) -> None:
    user = make_user(Role.CASEWORKER, with_totp=False)
    secret = activate_totp(user)
    stored = user.authenticator_set.get(type="totp").data["secret"]
    assert stored.startswith("v1:") and secret not in stored


def test_lockout_after_repeated_failures(make_user: Callable[..., User]) -> None:
    user = make_user(Role.DOCUMENTER)
    client = Client()
    for _ in range(5):
        response = password_login(client, user.username, "wrong password!")
    assert response.status_code == 429  # the fifth failure locks the account
    assert "로그인 실패가 너무 많습니다" in response.content.decode()
    response = password_login(client, user.username)  # the right password, too late
    assert response.status_code in (200, 429)
    assert client.get(reverse("web:dashboard")).status_code == 302
    assert AuditEvent.objects.filter(action="login_failed", object_id=str(user.pk)).count() >= 4
    assert AuditEvent.objects.filter(action="lockout").exists()
    assert not AuditEvent.objects.filter(action="login", actor_id=user.pk).exists()


def test_lockout_is_per_account_not_global(make_user: Callable[..., User]) -> None:
    victim, other = make_user(Role.DOCUMENTER), make_user(Role.DOCUMENTER, with_totp=False)
    client = Client()
    for _ in range(6):
        password_login(client, victim.username, "wrong password!")
    response = password_login(client, other.username)
    assert response.status_code == 302


def test_passwords_are_hashed_with_argon2(make_user: Callable[..., User]) -> None:
    assert make_user().password.startswith("argon2")


def test_sign_up_is_closed(client: Client, db: None) -> None:
    response = client.post(
        reverse("account_signup"),
        {"username": "walkin", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert not User.objects.filter(username="walkin").exists()
    assert response.status_code == 200


def test_sessions_expire_when_idle(settings: object) -> None:
    from django.conf import settings as live

    assert live.SESSION_SAVE_EVERY_REQUEST and live.SESSION_COOKIE_AGE == 30 * 60
    assert live.SESSION_EXPIRE_AT_BROWSER_CLOSE


@pytest.mark.parametrize("path", ["/", "/audit/", "/users/", "/account/tokens/"])
def test_every_page_refuses_anonymous(client: Client, db: None, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_wrong_totp_codes_are_limited_and_audited(make_user: Callable[..., User]) -> None:
    user = make_user(Role.CASEWORKER, with_totp=False)
    secret = activate_totp(user)
    client = Client()
    password_login(client, user.username)
    wrong = "111111" if current_code(secret) != "111111" else "222222"
    for _ in range(5):
        client.post(reverse("mfa_authenticate"), {"code": wrong})
    response = client.post(reverse("mfa_authenticate"), {"code": current_code(secret)})
    assert response.status_code == 200  # refused: too many attempts, even with the right code
    assert client.get(reverse("web:dashboard")).status_code == 302
    assert AuditEvent.objects.filter(action="mfa_failed", object_id=str(user.pk)).count() == 5


def test_failed_login_never_records_the_typed_name(db: None, client: Client) -> None:
    password_login(client, "my secret password typed in the wrong box", "x")
    event = AuditEvent.objects.get(action="login_failed")
    assert "secret" not in str(event.detail) and event.detail == {"account": "unknown"}


def test_client_address_behind_a_proxy_is_the_last_forwarded_hop(settings: object) -> None:
    from django.test import RequestFactory

    from saebom.core.context import client_ip

    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9"
    )
    settings.BEHIND_PROXY = False  # type: ignore[attr-defined]
    assert client_ip(request) == "10.0.0.1"
    settings.BEHIND_PROXY = True  # type: ignore[attr-defined]
    assert client_ip(request) == "203.0.113.9"


def test_behind_a_proxy_failed_logins_limit_only_their_own_client(
    make_user: Callable[..., User], settings: object
) -> None:
    """allauth's rate limit must key on the forwarded client, not on the proxy every request
    comes through: otherwise ten failures anywhere refuse everyone's sign-in."""
    settings.BEHIND_PROXY = True  # type: ignore[attr-defined]
    user = make_user(Role.CASEWORKER)
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    attacker = Client(HTTP_X_FORWARDED_FOR="203.0.113.66", **proxy)
    for attempt in range(10):  # distinct names: the account lockout never comes into it
        password_login(attacker, f"nobody-{attempt}", "wrong")
    refused = password_login(attacker, user.username)  # the right password, from the attacker
    assert refused.status_code == 200 and refused.context["form"].non_field_errors()
    colleague = Client(HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy)
    response = password_login(colleague, user.username)
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")


def test_a_password_needs_twelve_characters(agency: Agency) -> None:
    """ASVS 2.1.1: eleven characters are refused, twelve accepted (any character counts)."""

    def create(password: str) -> User:
        return user_create(
            actor=SystemActor(os_user="operator"),
            username="kim",
            role=Role.CASEWORKER,
            agency_code=agency.code,
            password=password,
        )

    with pytest.raises(SaebomError, match="too short") as refused:
        create("ㄱ" * 11)
    assert refused.value.field == "password" and not User.objects.filter(username="kim").exists()
    assert create("ㄱ" * 12).check_password("ㄱ" * 12)
