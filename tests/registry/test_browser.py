"""Intake in a real browser: fill the form, meet the duplicate warning, link, save."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from saebom.accounts.models import User
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.registry.models import Arrival, Person
from tests.browser import (  # noqa: F401 (fixtures)
    ConsoleLog,
    browser_fixture,
    chromium_fixture,
    console_log_fixture,
    page_fixture,
    sign_in_by_cookie,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def fill_intake(page: Page, record_id: str, name_ko: str) -> None:
    page.fill("#id_record_id", record_id)
    page.fill("#id_arrival_date", "2024-03")
    page.select_option("#id_sex", "F")
    page.fill("#id_birth_year", "1992")
    page.select_option("#id_origin_province", "ryanggang")
    page.check("input[name=reasons][value=economic_hardship]")
    page.fill("#id_name_ko", name_ko)
    page.click("button[type=submit].primary")


def test_intake_warns_of_a_duplicate_and_links_it(
    page: Page,
    live_server: LiveServer,
    make_user: Callable[..., User],
    console_log: ConsoleLog,
    tmp_path: Path,
) -> None:
    officer = make_user(Role.INTAKE_OFFICER)
    sign_in_by_cookie(page, live_server.url, officer)
    page.goto(f"{live_server.url}/arrivals/new")
    fill_intake(page, "B-1", "리설희")
    expect(page.locator("h1")).to_contain_text("P-")
    first = Person.objects.get()

    page.goto(f"{live_server.url}/arrivals/new")
    fill_intake(page, "B-2", "이설희")  # the Southern spelling of the same name
    warning = page.locator("#duplicates")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(first.public_id)
    assert not Arrival.objects.filter(record_id="B-2").exists()
    page.screenshot(path=str(tmp_path / "duplicate-warning.png"), full_page=True)

    page.check(f"input[name=decision][value='link:{first.public_id}']")
    page.click("#duplicates button[type=submit]")
    expect(page.locator("h1")).to_contain_text(first.public_id)
    assert Arrival.objects.get(record_id="B-2").person == first
    assert Person.objects.count() == 1

    page.wait_for_load_state("load")  # htmx (deferred) takes over the form only then
    page.click("#identity button[type=submit]")  # show identifiers: htmx, audited
    expect(page.locator("#identity")).to_contain_text("리설희")
    expect(page.locator("#identity")).to_contain_text("이설희")  # the other spelling, as an alias
    assert AuditEvent.objects.filter(action="view_identifiers", actor_id=officer.pk).count() == 1
    assert console_log.csp_violations() == []
