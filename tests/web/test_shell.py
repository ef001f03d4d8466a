from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from saebom.accounts.models import User
from saebom.core.models import Deployment
from saebom.core.policy import Role


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reaches_its_dashboard(client_for: Callable[..., Client], role: Role) -> None:
    response = client_for(role)
    page = response.get(reverse("web:dashboard"))
    assert page.status_code == 200
    assert str(Role(role).label) in page.content.decode()


def test_anonymous_is_sent_to_login(client: Client, db: None) -> None:
    response = client.get(reverse("web:dashboard"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


def test_login_page_has_labelled_fields_and_landmarks(client: Client, db: None) -> None:
    html = client.get(reverse("account_login")).content.decode()
    assert '<label for="id_login">' in html and '<label for="id_password">' in html
    assert "<main" in html and "<header" in html and 'lang="ko"' in html


def test_language_switch_to_english(client: Client, db: None) -> None:
    client.post(reverse("set_language"), {"language": "en", "next": "/accounts/login/"})
    html = client.get(reverse("account_login")).content.decode()
    assert 'lang="en"' in html and "Sign in" in html


def test_korean_is_the_default(client: Client, db: None) -> None:
    html = client.get(reverse("account_login")).content.decode()
    assert "로그인" in html


def test_csp_has_nonces_and_no_unsafe_inline(client_for: Callable[..., Client]) -> None:
    response = client_for(Role.AUDITOR).get(reverse("web:dashboard"))
    policy = response["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert (
        "'nonce-" in policy
        and "default-src 'self'" in policy
        and "frame-ancestors 'none'" in policy
    )
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.content.decode()  # the htmx script carries it


def test_security_headers(client: Client, db: None) -> None:
    response = client.get(reverse("account_login"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_demo_banner_only_in_demo_installations(
    client_for: Callable[..., Client], db: None
) -> None:
    client = client_for(Role.CASEWORKER)
    assert "synthetic" not in client.get(reverse("web:dashboard")).content.decode()
    Deployment.objects.update_or_create(pk=1, defaults={"is_demo": True})
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert "synthetic data" in client.get(reverse("web:dashboard")).content.decode()


def test_healthz_is_public(client: Client, db: None) -> None:
    assert client.get("/healthz").content == b"ok"


def test_admin_creates_account_in_own_agency(
    client_for: Callable[..., Client], make_user: Callable[..., User]
) -> None:
    admin = make_user(Role.ADMIN)
    client = client_for(user=admin)
    response = client.post(
        reverse("web:users"),
        {"username": "newbie", "role": "documenter", "password": "a long passphrase 42"},
    )
    assert response.status_code == 302
    created = User.objects.get(username="newbie")
    assert created.agency == admin.agency and created.role == "documenter"


def test_weak_password_is_refused_next_to_the_field(client_for: Callable[..., Client]) -> None:
    client = client_for(Role.ADMIN)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    response = client.post(
        reverse("web:users"), {"username": "weak", "role": "documenter", "password": "123456789012"}
    )
    assert response.status_code == 200
    assert "entirely numeric" in response.content.decode()
    assert not User.objects.filter(username="weak").exists()


def test_non_admin_cannot_create_accounts(client_for: Callable[..., Client]) -> None:
    response = client_for(Role.AUDITOR).post(
        reverse("web:users"),
        {"username": "sneaky", "role": "admin", "password": "a long passphrase 42"},
    )
    assert response.status_code == 403
    assert not User.objects.filter(username="sneaky").exists()


def test_deactivating_another_agencys_user_is_404(
    client_for: Callable[..., Client], make_user: Callable[..., User], other_agency: object
) -> None:
    stranger = make_user(Role.CASEWORKER, agency=other_agency)
    response = client_for(Role.ADMIN).post(reverse("web:user_deactivate", args=[stranger.pk]))
    assert response.status_code == 404
    stranger.refresh_from_db()
    assert stranger.is_active
