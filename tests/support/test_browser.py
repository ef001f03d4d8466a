"""A case in a real browser: opened from an arrival, assessed, given a service, referred to
another agency that accepts it and sees only the consented sections, then revoked.

Expected labels come from the vocabularies and the catalogue (Korean, the browser's language),
so the test holds whatever the wording.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from saebom.accounts.models import Agency, User
from saebom.core import vocab
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.support import selectors
from saebom.support.models import Assessment, Case, Referral, Service
from tests.browser import (  # noqa: F401 (fixtures)
    ConsoleLog,
    browser_fixture,
    chromium_fixture,
    console_log_fixture,
    page_fixture,
    sign_in_by_cookie,
)
from tests.factories import ArrivalFactory

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def korean(vocabulary: str, code: str) -> str:
    with translation.override("ko"):
        return vocab.label(vocabulary, code)


def sign_in_as(page: Page, live_server: LiveServer, user: User) -> None:
    page.context.clear_cookies()
    sign_in_by_cookie(page, live_server.url, user)


def test_open_assess_serve_refer_accept_and_revoke(
    page: Page,
    live_server: LiveServer,
    make_user: Callable[..., User],
    agency: Agency,
    other_agency: Agency,
    console_log: ConsoleLog,
    tmp_path: Path,
) -> None:
    alice = make_user(Role.CASEWORKER, username="alice")
    carol = make_user(Role.CASEWORKER, username="carol", agency=other_agency)
    arrival = ArrivalFactory(agency=agency)
    today = selectors.today()

    # Agency A opens the case from the arrival.
    sign_in_as(page, live_server, alice)
    page.goto(live_server.url + reverse("registry:arrival_detail", args=[arrival.pk]))
    page.click("#case-link")
    page.fill("#id_opened_on", "2024-02-01")
    page.fill("#id_protection_start", "2024-02-10")
    page.fill("#id_household_size", "2")
    page.click("button[type=submit].primary")
    expect(page.locator("h1")).to_contain_text("C-")
    case = Case.objects.get(person=arrival.person)
    assert case.lead_agency == agency and case.household_size == 2
    case_url = live_server.url + reverse("support:case_detail", args=[case.public_id])
    assert page.url == case_url

    # A needs assessment (htmx swaps the case body in place).
    page.fill("#id_assessment-assessed_on", "2024-02-15")
    page.select_option("#id_assessment-severity_housing", "3")
    page.select_option("#id_assessment-severity_employment", "2")
    page.fill("#id_assessment-note_housing", "temporary shelter")
    page.click("#assessment-form button[type=submit]")
    needs = page.locator("#section-needs")
    expect(needs.locator("table.needs-table")).to_be_visible()
    expect(needs.locator("table.needs-table")).to_contain_text("temporary shelter")
    expect(needs.locator("p.message[role=status]")).to_be_visible()
    assert Assessment.objects.get(case=case).scores.get(domain="housing").severity == 3

    # A service answering the housing need.
    page.click("#add-service > summary")
    page.select_option("#id_service-kind", "housing_support")
    page.select_option("#id_service-status", "planned")
    page.fill("#id_service-due_on", "2024-03-01")
    page.click("#service-form button[type=submit]")
    expect(page.locator("#services-table")).to_contain_text(
        korean("service_type", "housing_support")
    )
    assert Service.objects.get(case=case).domain == "housing"

    # Referred to agency B, sharing the needs and the services only.
    page.click("#refer > summary")
    page.select_option("#id_referral-to_agency", str(other_agency.pk))
    page.select_option("#id_referral-kind", "referral")
    page.check("input[name=referral-sections][value=needs]")
    page.check("input[name=referral-sections][value=services]")
    page.fill("#id_referral-purpose", "employment support near the new home")
    page.fill("#id_referral-consent_given_on", today.isoformat())
    page.fill("#id_referral-valid_until", (today + timedelta(days=90)).isoformat())
    page.click("#referral-form button[type=submit]")
    expect(page.locator("#referrals-table")).to_contain_text(korean("referral_status", "pending"))
    referral = Referral.objects.get(case=case)
    assert referral.section_list == ["needs", "services"]
    page.screenshot(path=str(tmp_path / "case-lead.png"), full_page=True)

    # Agency B accepts it in the inbox and sees only what was shared.
    sign_in_as(page, live_server, carol)
    page.goto(live_server.url + reverse("support:referrals"))
    row = page.locator(f"#referral-{referral.pk}")
    expect(row).to_contain_text(case.public_id)
    row.locator("form.accept-form button").click()
    row = page.locator(f"#referral-{referral.pk}")
    expect(row).to_contain_text(korean("referral_status", "accepted"))
    row.locator("a.button").click()
    expect(page.locator("h1")).to_contain_text(case.public_id)
    expect(page.locator("#referred-access")).to_be_visible()
    expect(page.locator("#section-needs")).to_contain_text("temporary shelter")
    expect(page.locator("#section-services")).to_contain_text(
        korean("service_type", "housing_support")
    )
    for hidden in ("profile", "protection", "household", "benefits", "referrals", "notes"):
        expect(page.locator(f"#section-{hidden}")).to_have_count(0)
    expect(page.locator("#case-body form")).to_have_count(0)  # read only
    assert AuditEvent.objects.filter(action="view", actor_id=carol.pk).exists()
    page.screenshot(path=str(tmp_path / "case-referred.png"), full_page=True)

    # Agency A revokes: the person withdrew consent.
    sign_in_as(page, live_server, alice)
    page.goto(case_url)
    revoke = page.locator("#referrals-table details")
    revoke.locator("summary").click()
    page.fill(f"#id_revoke-{referral.pk}-reason", "withdrew consent by phone")
    page.check(f"#id_revoke-{referral.pk}-for_person")
    revoke.locator("button[type=submit]").click()
    expect(page.locator("#section-referrals p.message[role=status]")).to_be_visible()
    expect(page.locator("#referrals-table details")).to_have_count(0)  # nothing left to revoke
    referral.refresh_from_db()
    assert referral.status == Referral.Status.REVOKED and referral.revoked_for_person

    # Agency B no longer reaches the case.
    sign_in_as(page, live_server, carol)
    response = page.goto(case_url)
    assert response is not None and response.status == 404
    assert console_log.csp_violations() == []
