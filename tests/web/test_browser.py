"""Sign-in with a password and a TOTP code in a real browser (Debian's chromium via Playwright).

Elements are found by id and URL, and expected text is translated by Django from the same
message ids as the templates, so these tests hold whichever language the catalogue is in.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    hotp_value,
)
from django.urls import reverse
from django.utils import translation
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from saebom.accounts.models import Agency, User
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from tests.browser import (  # noqa: F401 (fixtures)
    ConsoleLog,
    browser_fixture,
    chromium_fixture,
    console_log_fixture,
    page_fixture,
)
from tests.factories import PASSWORD, activate_totp, current_code

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def wrong_code(secret: str) -> str:
    """A code that is not valid now, nor in the periods around it."""
    now = int(time.time()) // mfa_settings.TOTP_PERIOD
    valid = {format_hotp_value(hotp_value(secret, now + shift)) for shift in range(-3, 4)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)


def sign_in_with_password(page: Page, live_server: LiveServer, user: User) -> None:
    login_url = reverse("account_login")
    page.goto(live_server.url + login_url)
    page.fill("#id_login", user.username)
    page.fill("#id_password", PASSWORD)
    page.locator(f'form[action="{login_url}"] button[type="submit"]').click()
    expect(page).to_have_url(live_server.url + reverse("mfa_authenticate"))


def submit_code(page: Page, code: str) -> None:
    page.fill("#id_code", code)
    # The form's own submit button; "cancel" belongs to the sign-out form (form="...").
    form = page.locator(f'form[action="{reverse("mfa_authenticate")}"]')
    form.locator('button[type="submit"]:not([form])').click()
    page.wait_for_load_state()


@pytest.fixture
def caseworker(make_user: Callable[..., User], agency: Agency) -> tuple[User, str]:
    """A caseworker of the ``agency`` with TOTP set up, and the TOTP secret."""
    user = make_user(Role.CASEWORKER, agency=agency, with_totp=False)
    return user, activate_totp(user)


def test_password_and_totp_code_reach_the_dashboard(
    page: Page,
    console_log: ConsoleLog,
    live_server: LiveServer,
    caseworker: tuple[User, str],
    tmp_path: Path,
) -> None:
    user, secret = caseworker
    sign_in_with_password(page, live_server, user)
    expect(page.locator("#id_code")).to_be_visible()

    submit_code(page, current_code(secret))

    expect(page).to_have_url(live_server.url + reverse("web:dashboard"))
    assert reverse("web:dashboard") == "/"
    language = page.locator("html").get_attribute("lang") or "ko"
    with translation.override(language):
        heading, role_label = translation.gettext("Dashboard"), str(Role(user.role).label)
        agency_name = user.agency.name  # in the page's language, whatever this thread's is
    expect(page.locator("main h1")).to_be_visible()
    expect(page.locator("main h1")).to_have_text(heading)
    expect(page.locator("main p.lead")).to_be_visible()
    expect(page.locator("main p.lead")).to_contain_text(role_label)
    expect(page.locator("main p.lead")).to_contain_text(agency_name)
    assert AuditEvent.objects.filter(action="login", actor_id=user.pk).exists()

    screenshot = tmp_path / "dashboard.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 0
    assert console_log.csp_violations() == [], console_log.messages


def test_wrong_totp_code_keeps_the_user_out(
    page: Page,
    console_log: ConsoleLog,
    live_server: LiveServer,
    caseworker: tuple[User, str],
) -> None:
    user, secret = caseworker
    sign_in_with_password(page, live_server, user)

    submit_code(page, wrong_code(secret))

    expect(page).to_have_url(live_server.url + reverse("mfa_authenticate"))
    expect(page.locator("#id_code")).to_be_visible()

    # The half-finished sign-in gets no further than the code page, whatever the address.
    response = page.goto(live_server.url + reverse("web:dashboard"))
    assert response is not None and response.request.redirected_from is not None
    first = response.request.redirected_from
    while first.redirected_from is not None:
        first = first.redirected_from
    first_response = first.response()
    assert first.url == live_server.url + "/"
    assert first_response is not None and first_response.status == 302
    sign_in_pages = "/accounts/(login|2fa/authenticate)/"
    expect(page).to_have_url(re.compile(re.escape(live_server.url) + sign_in_pages))
    expect(page.locator("#id_code, #id_login").first).to_be_visible()
    assert not AuditEvent.objects.filter(action="login", actor_id=user.pk).exists()
    assert console_log.csp_violations() == [], console_log.messages
