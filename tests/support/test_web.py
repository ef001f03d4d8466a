"""The resettlement support pages: who reaches what (owner, same agency, other agency, wrong
role), what a referred agency sees, stale edits, errors next to their fields, audited reads, and
a caseload whose number of queries does not grow with its rows."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from saebom.accounts.models import Agency, User
from saebom.core.models import AuditEvent
from saebom.core.policy import OPERATOR_AGENCY_CODE, Role
from saebom.support import selectors, services
from saebom.support.models import (
    Assessment,
    BenefitPayment,
    BenefitRate,
    Case,
    CaseMember,
    CaseNote,
    FollowUp,
    Goal,
    HouseholdMember,
    Milestone,
    Outcome,
    ProtectionExtension,
    ProtectionOfficer,
    Referral,
    Service,
)
from tests.factories import AgencyFactory, ArrivalFactory

DOMAINS = (
    "housing",
    "employment",
    "education",
    "language",
    "health",
    "mental_health",
    "finance_debt",
    "legal",
    "family",
    "social_cultural",
    "safety",
)


# --- helpers -------------------------------------------------------------------------------


def english(user: User) -> Client:
    """A client signed in as ``user``, reading the pages in English."""
    client = Client()
    client.force_login(user)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    return client


def url(name: str, case: Case | None = None, **kwargs: Any) -> str:
    if case is not None:
        kwargs["public_id"] = case.public_id
    return reverse(f"support:{name}", kwargs=kwargs or None)


def html(response: Any) -> str:
    return response.content.decode()


def field_block(page: str, field_id: str) -> str:
    """The markup of the form field whose input has ``field_id``, with its error if any."""
    at = page.index(f'id="{field_id}"')
    start = page.rindex('<div class="field', 0, at)
    depth, position = 0, start
    for tag in re.finditer(r"<(/?)div\b", page[start:]):
        depth += -1 if tag.group(1) else 1
        if depth == 0:
            position = start + tag.end()
            break
    return page[start:position]


def assessment_data(when: str, severities: dict[str, int] | None = None) -> dict[str, str]:
    data = {"assessment-assessed_on": when}
    for domain in DOMAINS:
        data[f"assessment-severity_{domain}"] = str((severities or {}).get(domain, 0))
        data[f"assessment-note_{domain}"] = ""
    return data


def refer(
    case: Case, by: User, to: Agency, sections: list[str], *, accept_as: User | None = None
) -> Referral:
    referral = services.referral_send(
        actor=by,
        case=case,
        to_agency=to,
        sections=sections,
        purpose="employment support",
        consent_given_on=selectors.today(),
        valid_until=selectors.today() + timedelta(days=180),
    )
    if accept_as is not None:
        services.referral_accept(actor=accept_as, referral=referral)
        referral.refresh_from_db()
    return referral


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def alice(caseworker: User) -> User:
    """The lead caseworker of ``open_case``."""
    return caseworker


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    """A caseworker of the same agency, not a member of the case."""
    return make_user(Role.CASEWORKER, username="bob")


@pytest.fixture
def carol(make_user: Callable[..., User], other_agency: Agency) -> User:
    """A caseworker of another agency."""
    return make_user(Role.CASEWORKER, username="carol", agency=other_agency)


@pytest.fixture
def researcher(make_user: Callable[..., User]) -> User:
    return make_user(Role.RESEARCHER, username="rita")


@pytest.fixture
def case(open_case: Case) -> Case:
    return open_case


# --- navigation and dashboard --------------------------------------------------------------


def test_caseworkers_get_the_support_links_and_intake_officers_do_not(
    alice: User, make_user: Callable[..., User]
) -> None:
    page = html(english(alice).get(reverse("web:dashboard")))
    for name in ("caseload", "referrals", "outcomes"):
        assert f'href="{url(name)}"' in page
    officer = make_user(Role.INTAKE_OFFICER)
    page = html(english(officer).get(reverse("web:dashboard")))
    assert url("caseload") not in page and url("referrals") not in page


def test_dashboard_counts_my_cases(alice: User, case: Case) -> None:
    services.followup_schedule(
        actor=alice, case=case, due_on=selectors.today() - timedelta(days=3), channel="phone"
    )
    page = html(english(alice).get(reverse("web:dashboard")))
    assert "1 open case." in page and "With overdue follow-ups: 1" in page


# --- caseload ------------------------------------------------------------------------------


def test_caseload_of_the_owner_shows_the_case_with_what_needs_attention(
    alice: User, case: Case
) -> None:
    services.followup_schedule(
        actor=alice, case=case, due_on=selectors.today() - timedelta(days=1), channel="visit"
    )
    response = english(alice).get(url("caseload"))
    page = html(response)
    assert response.status_code == 200
    assert case.public_id in page and case.person.public_id in page
    row = re.search(rf"<tr>\s*<td><a href=\"{url('case_detail', case)}\".*?</tr>", page, re.S)
    assert row, "the case's row"
    assert "alice" in row.group(0)  # lead caseworker
    assert '<td class="number attention">1</td>' in row.group(0)  # one overdue follow-up
    assert "synthetic" in row.group(0)


def test_caseload_mine_and_agency_for_a_colleague(bob: User, case: Case) -> None:
    client = english(bob)
    assert case.public_id not in html(client.get(url("caseload")))  # "my cases" by default
    assert case.public_id in html(client.get(url("caseload"), {"scope": "agency"}))


def test_caseload_of_another_agency_does_not_list_the_case(carol: User, case: Case) -> None:
    page = html(english(carol).get(url("caseload"), {"scope": "agency"}))
    assert case.public_id not in page and "No open case matches." in page


def test_caseload_refuses_roles_without_it(researcher: User) -> None:
    assert english(researcher).get(url("caseload")).status_code == 403


def test_caseload_attention_filter_and_summary(alice: User, case: Case, agency: Agency) -> None:
    quiet = services.case_open(actor=alice, person=ArrivalFactory(agency=agency).person)
    today = selectors.today()
    Case.objects.filter(pk=case.pk).update(protection_end=today + timedelta(30))
    client = english(alice)
    page = html(client.get(url("caseload")))
    assert quiet.public_id in page and case.public_id in page
    assert "ends within 90 days" in page
    summary = re.search(r'<ul class="summary-counts".*?</ul>', page, re.S)
    assert summary and "<strong>2</strong> open cases" in summary.group(0)
    assert "<strong>1</strong> with protection ending within 90 days" in summary.group(0)
    attention = html(client.get(url("caseload"), {"attention": "on"}))
    assert case.public_id in attention and quiet.public_id not in attention
    assert "<strong>2</strong> open cases" in attention  # the counts cover the whole caseload


def test_caseload_htmx_returns_the_results_only(alice: User, case: Case) -> None:
    response = english(alice).get(url("caseload"), {"scope": "agency"}, HTTP_HX_REQUEST="true")
    page = html(response)
    assert page.lstrip().startswith('<div id="results">') and "<html" not in page
    assert case.public_id in page


def _bulk_cases(agency: Agency, member: User, count: int) -> None:
    """Cases made directly (fast), each with the member as lead and an overdue follow-up."""
    today = selectors.today()
    for n in range(count):
        person = ArrivalFactory(agency=agency).person
        case = Case.objects.create(
            person=person,
            lead_agency=agency,
            opened_on=today,
            protection_end=today + timedelta(days=n * 10),
            is_synthetic=True,
        )
        CaseMember.objects.create(case=case, user=member, role=CaseMember.Role.LEAD)
        FollowUp.objects.create(case=case, due_on=today - timedelta(days=1), channel="phone")


def test_caseload_queries_do_not_grow_with_the_rows(alice: User, agency: Agency) -> None:
    client = english(alice)
    _bulk_cases(agency, alice, 3)
    client.get(url("caseload"))  # warm the vocabulary caches
    with CaptureQueriesContext(connection) as few:
        assert client.get(url("caseload")).status_code == 200
    _bulk_cases(agency, alice, 27)
    with CaptureQueriesContext(connection) as many:
        page = html(client.get(url("caseload")))
    assert page.count('<td class="number attention">1</td>') == 30
    assert len(many.captured_queries) == len(few.captured_queries)


def test_caseload_pages_by_fifty(alice: User, agency: Agency) -> None:
    _bulk_cases(agency, alice, 51)
    client = english(alice)
    first = html(client.get(url("caseload")))
    assert "Page 1 of 2" in first and first.count("ends within 90 days") <= 50
    second = html(client.get(url("caseload"), {"page": "2"}))
    assert "Page 2 of 2" in second
    assert len(re.findall(r'href="/cases/C-', second)) == 1


# --- opening a case ------------------------------------------------------------------------


def test_open_a_case_from_an_arrival(alice: User, agency: Agency) -> None:
    arrival = ArrivalFactory(agency=agency)
    client = english(alice)
    detail = html(client.get(reverse("registry:arrival_detail", args=[arrival.pk])))
    assert f"{url('case_new')}?arrival={arrival.pk}" in detail and "Open a case" in detail
    form = client.get(url("case_new"), {"arrival": arrival.pk})
    assert form.status_code == 200 and 'name="household_size"' in html(form)
    response = client.post(
        f"{url('case_new')}?arrival={arrival.pk}",
        {"opened_on": "2024-02-01", "protection_start": "2024-02-10", "household_size": "2"},
    )
    case = Case.objects.get(person=arrival.person)
    assert response.status_code == 302 and response["Location"] == url("case_detail", case)
    assert case.lead_agency == agency and case.household_size == 2
    assert case.protection_end == date(2029, 2, 10)
    assert CaseMember.objects.get(case=case).user == alice
    assert AuditEvent.objects.filter(action="create", object_type="case").count() == 1
    detail = html(client.get(reverse("registry:arrival_detail", args=[arrival.pk])))
    assert url("case_detail", case) in detail and "Go to case" in detail
    # opening it again leads to the case
    again = client.get(url("case_new"), {"arrival": arrival.pk})
    assert again.status_code == 302 and again["Location"] == url("case_detail", case)


def test_open_a_case_shows_errors_next_to_the_fields(alice: User, agency: Agency) -> None:
    arrival = ArrivalFactory(agency=agency)
    response = english(alice).post(
        f"{url('case_new')}?arrival={arrival.pk}",
        {"opened_on": "2024-02-01", "household_size": "0"},
    )
    assert response.status_code == 200
    assert "at least 1 (the person)" in field_block(html(response), "id_household_size")
    assert not Case.objects.exists()


def test_open_a_case_of_another_agency_is_not_found(carol: User, agency: Agency) -> None:
    arrival = ArrivalFactory(agency=agency)
    client = english(carol)
    assert client.get(url("case_new"), {"arrival": arrival.pk}).status_code == 404
    response = client.post(
        f"{url('case_new')}?arrival={arrival.pk}",
        {"opened_on": "2024-02-01", "household_size": "1"},
    )
    assert response.status_code == 404 and not Case.objects.exists()
    assert client.get(url("case_new"), {"arrival": "x"}).status_code == 404


def test_open_a_case_refuses_roles_without_it(
    researcher: User, make_user: Callable[..., User], agency: Agency
) -> None:
    arrival = ArrivalFactory(agency=agency)
    assert english(researcher).get(url("case_new"), {"arrival": arrival.pk}).status_code == 403
    officer = make_user(Role.INTAKE_OFFICER)
    client = english(officer)
    assert client.get(url("case_new"), {"arrival": arrival.pk}).status_code == 403
    detail = html(client.get(reverse("registry:arrival_detail", args=[arrival.pk])))
    assert "Open a case" not in detail


# --- the case page: who sees what ----------------------------------------------------------

ALL_SECTIONS = (
    "profile",
    "milestones",
    "protection",
    "officers",
    "household",
    "needs",
    "plan",
    "services",
    "benefits",
    "referrals",
    "followups",
    "notes",
    "outcomes",
)


def test_the_lead_caseworker_sees_every_section_and_the_read_is_audited(
    alice: User, case: Case
) -> None:
    services.note_add(actor=alice, case=case, text="met at the Hana Center")
    response = english(alice).get(url("case_detail", case))
    page = html(response)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    for section in ALL_SECTIONS:
        assert f'id="section-{section}"' in page
    assert "met at the Hana Center" in page and "synthetic" in page
    assert 'name="case-version"' in page  # forms for the lead agency
    event = AuditEvent.objects.filter(action="view", object_type="case").get()
    assert event.object_id == case.public_id and event.actor_id == alice.pk
    assert "notes" in event.changed_fields and event.detail == {"referred": False}


def test_a_colleague_sees_the_case_but_not_its_notes(bob: User, alice: User, case: Case) -> None:
    services.note_add(actor=alice, case=case, text="private remark")
    page = html(english(bob).get(url("case_detail", case)))
    assert 'id="section-profile"' in page and 'id="section-services"' in page
    assert 'id="section-notes"' not in page and "private remark" not in page


def test_another_agency_gets_not_found(carol: User, case: Case) -> None:
    client = english(carol)
    assert client.get(url("case_detail", case)).status_code == 404
    assert client.get(url("case_detail", public_id="C-NOSUCH")).status_code == 404
    response = client.post(url("service_add", case), {"service-kind": "counselling"})
    assert response.status_code == 404 and not Service.objects.exists()


def test_roles_without_cases_are_refused(researcher: User, case: Case) -> None:
    client = english(researcher)
    assert client.get(url("case_detail", case)).status_code == 403
    assert client.post(url("note_add", case), {"note-text": "x"}).status_code == 403


def test_the_referred_agency_sees_only_the_consented_sections(
    alice: User, carol: User, case: Case
) -> None:
    services.note_add(actor=alice, case=case, text="private remark")
    services.household_add(
        actor=alice, case=case, name="Kim Sun-hui", relation="child", location="north"
    )
    services.service_add(actor=alice, case=case, kind="counselling")
    refer(case, alice, carol.agency, ["needs", "services"], accept_as=carol)
    response = english(carol).get(url("case_detail", case))
    page = html(response)
    assert response.status_code == 200
    assert 'id="section-needs"' in page and 'id="section-services"' in page
    assert "Counselling" in page
    for hidden in ALL_SECTIONS:
        if hidden not in ("needs", "services"):
            assert f'id="section-{hidden}"' not in page
    assert "private remark" not in page and "Kim Sun-hui" not in page
    assert case.person.public_id not in page  # the profile was not shared
    assert "<form" not in page.split('id="main"')[1].split("</main>")[0]  # read only
    assert "Your agency sees this case through a referral" in page
    event = AuditEvent.objects.filter(action="view", actor_id=carol.pk).get()
    assert event.changed_fields == ["needs", "services"]
    assert event.detail == {"referred": True, "actor_agency": "beta"}
    assert event.agency_code == "alpha"  # in the log of the agency that leads the case


def test_the_referred_agency_may_not_write(alice: User, carol: User, case: Case) -> None:
    refer(case, alice, carol.agency, ["services"], accept_as=carol)
    response = english(carol).post(
        url("service_add", case), {"service-kind": "counselling", "service-status": "planned"}
    )
    assert response.status_code == 403 and not Service.objects.exists()


def test_a_pending_referral_opens_nothing(alice: User, carol: User, case: Case) -> None:
    refer(case, alice, carol.agency, ["needs"])
    assert english(carol).get(url("case_detail", case)).status_code == 404


def test_revoking_the_referral_closes_the_case_to_the_other_agency(
    alice: User, carol: User, case: Case
) -> None:
    referral = refer(case, alice, carol.agency, ["needs"], accept_as=carol)
    other = english(carol)
    assert other.get(url("case_detail", case)).status_code == 200
    response = english(alice).post(
        url("referral_revoke", case, referral_id=referral.pk),
        {
            f"revoke-{referral.pk}-reason": "consent withdrawn",
            f"revoke-{referral.pk}-for_person": "on",
        },
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.status == Referral.Status.REVOKED and referral.revoked_for_person
    assert referral.revoke_reason == "consent withdrawn"
    assert other.get(url("case_detail", case)).status_code == 404
    assert not CaseMember.objects.filter(user=carol).exists()


def test_the_receiving_agency_cannot_revoke_through_the_case_page_of_another_case(
    alice: User, carol: User, case: Case, agency: Agency
) -> None:
    referral = refer(case, alice, carol.agency, ["needs"], accept_as=carol)
    second = services.case_open(actor=alice, person=ArrivalFactory(agency=agency).person)
    response = english(alice).post(url("referral_revoke", second, referral_id=referral.pk), {})
    assert response.status_code == 404
    referral.refresh_from_db()
    assert referral.status == Referral.Status.ACCEPTED


# --- the case page: edits ------------------------------------------------------------------


def test_a_stale_case_edit_shows_the_conflict_and_keeps_the_input(
    alice: User, bob: User, case: Case
) -> None:
    client = english(alice)
    page = html(client.get(url("case_detail", case)))
    version = re.search(r'name="case-version" value="(\d+)"', page)
    assert version and int(version.group(1)) == case.version
    # a colleague saves first
    services.case_update(actor=bob, case=case, expected_version=case.version, status="active")
    response = client.post(
        url("case_update", case),
        {
            "case-version": version.group(1),
            "case-status": "on_hold",
            "case-household_size": "4",
            "case-protection_start": "2024-01-15",
            "case-closed_on": "",
        },
    )
    page = html(response)
    assert response.status_code == 200
    assert "Someone else saved this record since you opened it" in page
    assert "status: &#x27;Open&#x27; → &#x27;Active&#x27;" in page
    form = re.search(r'<form[^>]*id="case-form".*?</form>', page, re.S)
    assert form and 'value="4"' in form.group(0)  # the user's input is kept
    assert f'name="case-version" value="{version.group(1)}"' in form.group(0)
    assert '<option value="on_hold" selected>' in form.group(0)
    case.refresh_from_db()
    assert case.status == "active" and case.household_size == 1


def test_a_case_edit_saves_only_what_changed(alice: User, case: Case) -> None:
    response = english(alice).post(
        url("case_update", case),
        {
            "case-version": str(case.version),
            "case-status": "active",
            "case-household_size": "3",
            "case-protection_start": "2024-01-15",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url("case_detail", case) + "#section-profile"
    case.refresh_from_db()
    assert case.status == "active" and case.household_size == 3 and case.version == 2
    event = AuditEvent.objects.filter(action="update", object_type="case").get()
    assert sorted(event.changed_fields) == ["household_size", "status"]


def test_service_errors_show_next_to_their_field(alice: User, case: Case) -> None:
    response = english(alice).post(
        url("case_update", case),
        {
            "case-version": str(case.version),
            "case-status": "open",
            "case-household_size": "1",
            "case-protection_start": "2024-01-15",
            "case-closed_on": "2024-05-01",  # but the case stays open
        },
    )
    page = html(response)
    assert response.status_code == 200
    block = field_block(page, "id_case-closed_on")
    assert (
        '<span class="field-error" role="alert">only a closed case has a closing date</span>'
        in block
    )
    assert '<details id="edit-case" open>' in page
    case.refresh_from_db()
    assert case.closed_on is None and case.version == 1


def test_an_htmx_post_swaps_the_case_body(alice: User, case: Case) -> None:
    response = english(alice).post(
        url("milestone_record", case),
        {"milestone-kind": "hanawon_completion", "milestone-reached_on": "2024-01-12"},
        HTTP_HX_REQUEST="true",
    )
    page = html(response)
    assert response.status_code == 200 and "<html" not in page
    assert page.lstrip().startswith('<div id="case-body"')
    assert '<p class="message" role="status">The milestone was recorded.</p>' in page
    assert Milestone.objects.get(case=case).kind == "hanawon_completion"
    # the write's own audit event records it; no extra "view" event
    assert not AuditEvent.objects.filter(action="view").exists()


def test_an_htmx_post_with_an_error_returns_the_form_with_it(alice: User, case: Case) -> None:
    response = english(alice).post(
        url("protection_extend", case),
        {
            "extension-decided_on": "2024-06-01",
            "extension-new_end": "2025-01-01",
            "extension-reason": "medical treatment",
        },
        HTTP_HX_REQUEST="true",
    )
    page = html(response)
    assert response.status_code == 200 and "<html" not in page
    assert "must be after the current end (2029-01-15)" in field_block(page, "id_extension-new_end")
    assert not ProtectionExtension.objects.exists()


@pytest.mark.parametrize(
    ("view", "data", "check"),
    [
        (
            "milestone_record",
            {"milestone-kind": "resident_registration", "milestone-reached_on": "2024-02-01"},
            lambda case: Milestone.objects.get(case=case).kind == "resident_registration",
        ),
        (
            "protection_extend",
            {
                "extension-decided_on": "2028-12-01",
                "extension-new_end": "2030-01-15",
                "extension-reason": "medical treatment",
            },
            lambda case: (
                Case.objects.get(pk=case.pk).protection_end == date(2030, 1, 15)
                and ProtectionExtension.objects.get(case=case).previous_end == date(2029, 1, 15)
            ),
        ),
        (
            "officer_set",
            {
                "officer-kind": "personal",
                "officer-name": "Officer Park",
                "officer-organisation": "Police",
                "officer-phone": "010-0000-0000",
                "officer-email": "park@example.org",
            },
            lambda case: ProtectionOfficer.objects.get(case=case).phone == "010-0000-0000",
        ),
        (
            "household_add",
            {
                "household-name": "Ri Chol",
                "household-relation": "sibling",
                "household-location": "china",
                "household-birth_year": "1988",
            },
            lambda case: HouseholdMember.objects.get(case=case).location == "china",
        ),
        (
            "goal_add",
            {"goal-domain": "employment", "goal-description": "a steady job"},
            lambda case: Goal.objects.get(case=case).description == "a steady job",
        ),
        (
            "payment_record",
            {
                "payment-kind": "settlement_basic",
                "payment-amount_krw": "3000000",
                "payment-paid_on": "2024-02-01",
            },
            lambda case: BenefitPayment.objects.get(case=case).amount_krw == 3_000_000,
        ),
        (
            "followup_schedule",
            {"followup-due_on": "2024-03-01", "followup-channel": "visit"},
            lambda case: FollowUp.objects.get(case=case).channel == "visit",
        ),
        (
            "note_add",
            {"note-text": "first visit went well"},
            lambda case: CaseNote.objects.get(case=case).text == "first visit went well",
        ),
        (
            "notes_consent",
            {"notes-consent-given_on": "2024-02-01"},
            lambda case: Case.objects.get(pk=case.pk).notes_export_consent_on == date(2024, 2, 1),
        ),
        (
            "outcome_record",
            {
                "outcome-year": "2024",
                "outcome-economic_activity": "employed",
                "outcome-employment_status": "wage_earner",
                "outcome-monthly_wage_krw_10k": "230",
                "outcome-life_satisfaction": "4",
                "outcome-experienced_discrimination": "false",
            },
            lambda case: (
                Outcome.objects.get(case=case).monthly_wage_krw_10k == 230
                and Outcome.objects.get(case=case).experienced_discrimination is False
            ),
        ),
    ],
)
def test_each_section_form_writes_through_its_service(
    alice: User,
    bob: User,
    carol: User,
    case: Case,
    view: str,
    data: dict[str, str],
    check: Callable[[Case], bool],
) -> None:
    refer(case, alice, carol.agency, ["profile"], accept_as=carol)
    # another agency (even one the case is referred to) may not write it
    assert english(carol).post(url(view, case), data).status_code == 403
    client = english(alice)
    response = client.post(url(view, case), data)
    assert response.status_code == 302, html(response)
    assert response["Location"].startswith(url("case_detail", case) + "#section-")
    assert check(case)
    page = html(client.get(url("case_detail", case)))
    assert '<p class="message success">' in page  # the confirmation


def test_notes_are_written_by_members_only(bob: User, case: Case) -> None:
    response = english(bob).post(url("note_add", case), {"note-text": "hello"})
    assert response.status_code == 403 and not CaseNote.objects.exists()


def test_outcome_errors_show_next_to_their_field(alice: User, case: Case) -> None:
    response = english(alice).post(
        url("outcome_record", case),
        {"outcome-year": "2024", "outcome-economic_activity": "employed"},
    )
    page = html(response)
    assert response.status_code == 200
    assert "required when employed" in field_block(page, "id_outcome-employment_status")
    assert not Outcome.objects.exists()


def test_members_are_assigned_and_removed(alice: User, bob: User, case: Case) -> None:
    client = english(alice)
    response = client.post(
        url("member_set", case), {"member-user": bob.pk, "member-role": "caseworker"}
    )
    assert response.status_code == 302
    assert CaseMember.objects.get(case=case, user=bob).role == "caseworker"
    response = client.post(url("member_remove", case, user_id=bob.pk))
    assert response.status_code == 302 and not CaseMember.objects.filter(user=bob).exists()
    assert client.post(url("member_remove", case, user_id=bob.pk)).status_code == 404


def test_members_of_another_agency_cannot_be_chosen(alice: User, carol: User, case: Case) -> None:
    response = english(alice).post(
        url("member_set", case), {"member-user": carol.pk, "member-role": "caseworker"}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in field_block(html(response), "id_member-user")
    assert not CaseMember.objects.filter(user=carol).exists()


def test_needs_assessments_and_their_changes(alice: User, case: Case) -> None:
    client = english(alice)
    first = assessment_data("2024-02-01", {"housing": 3, "employment": 1})
    assert client.post(url("assessment_record", case), first).status_code == 302
    second = assessment_data("2024-05-01", {"housing": 1, "employment": 2, "safety": 2})
    second["assessment-note_employment"] = "lost the job"
    assert client.post(url("assessment_record", case), second).status_code == 302
    assert Assessment.objects.filter(case=case).count() == 2
    page = html(client.get(url("case_detail", case)))
    table = re.search(r'<table class="needs-table">.*?</table>', page, re.S)
    assert table
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(r"<tr>\s*<th scope=\"row\">([^<]+)</th>.*?</tr>", table.group(0), re.S)
    }
    assert len(rows) == 11
    assert "▼ -2" in rows["Housing"]
    assert "▲ +1" in rows["Employment"] and "lost the job" in rows["Employment"]
    assert "▲ +2" in rows["Safety"]
    assert "=" in rows["Legal"]
    # the form starts from the latest severities
    assert re.search(
        r'id="id_assessment-severity_employment">.*?<option value="2" selected>', page, re.S
    )


def test_an_incomplete_assessment_is_refused_next_to_the_domain(alice: User, case: Case) -> None:
    data = assessment_data("2024-02-01")
    del data["assessment-severity_legal"]
    response = english(alice).post(url("assessment_record", case), data)
    page = html(response)
    assert response.status_code == 200 and not Assessment.objects.exists()
    row = re.search(r'<label for="id_assessment-severity_legal">.*?</tr>', page, re.S)
    assert row and "This field is required." in row.group(0)


def test_services_are_added_and_updated_with_their_version(
    alice: User, case: Case, other_agency: Agency
) -> None:
    client = english(alice)
    response = client.post(
        url("service_add", case),
        {
            "service-kind": "vocational_training",
            "service-provider": other_agency.pk,
            "service-status": "planned",
            "service-due_on": "2024-04-01",
        },
    )
    assert response.status_code == 302
    service = Service.objects.get(case=case)
    assert service.domain == "employment" and service.provider == other_agency
    page = html(client.get(url("case_detail", case)))
    assert "Vocational training" in page and "Beta Centre" in page
    prefix = f"service-{service.pk}"
    # delivered without a date: the error sits next to the date
    response = client.post(
        url("service_update", case, service_id=service.pk),
        {f"{prefix}-version": "1", f"{prefix}-status": "delivered"},
    )
    assert "give the date it was delivered" in field_block(
        html(response), f"id_{prefix}-delivered_on"
    )
    response = client.post(
        url("service_update", case, service_id=service.pk),
        {
            f"{prefix}-version": "1",
            f"{prefix}-status": "delivered",
            f"{prefix}-delivered_on": "2024-04-02",
        },
    )
    assert response.status_code == 302
    service.refresh_from_db()
    assert service.status == "delivered" and service.version == 2
    # a second edit from the old version is stale
    response = client.post(
        url("service_update", case, service_id=service.pk),
        {f"{prefix}-version": "1", f"{prefix}-status": "cancelled"},
    )
    assert "Someone else saved this record" in html(response)
    service.refresh_from_db()
    assert service.status == "delivered"


def test_service_error_from_the_service_layer(alice: User, case: Case) -> None:
    response = english(alice).post(
        url("service_add", case),
        {
            "service-kind": "counselling",
            "service-status": "planned",
            "service-delivered_on": "2024-01-01",
        },
    )
    assert "only a delivered service has one" in field_block(
        html(response), "id_service-delivered_on"
    )
    assert not Service.objects.exists()


def test_a_service_of_another_case_is_not_found(alice: User, case: Case, agency: Agency) -> None:
    other = services.case_open(actor=alice, person=ArrivalFactory(agency=agency).person)
    service = services.service_add(actor=alice, case=other, kind="counselling")
    response = english(alice).post(
        url("service_update", case, service_id=service.pk),
        {f"service-{service.pk}-version": "1", f"service-{service.pk}-status": "cancelled"},
    )
    assert response.status_code == 404


def test_followups_are_recorded_with_their_version(alice: User, case: Case) -> None:
    followup = services.followup_schedule(
        actor=alice, case=case, due_on=date(2024, 3, 1), channel="phone"
    )
    client = english(alice)
    assert "overdue" in html(client.get(url("case_detail", case)))
    prefix = f"followup-{followup.pk}"
    response = client.post(
        url("followup_update", case, followup_id=followup.pk),
        {
            f"{prefix}-version": "1",
            f"{prefix}-status": "done",
            f"{prefix}-done_on": "2024-03-02",
            f"{prefix}-outcome": "found work",
        },
    )
    assert response.status_code == 302
    followup.refresh_from_db()
    assert followup.status == "done" and followup.outcome == "found work" and followup.version == 2


def test_goals_change_status(alice: User, case: Case) -> None:
    goal = services.goal_add(actor=alice, case=case, domain="housing", description="own flat")
    response = english(alice).post(
        url("goal_update", case, goal_id=goal.pk),
        {f"goal-{goal.pk}-version": "1", f"goal-{goal.pk}-status": "achieved"},
    )
    assert response.status_code == 302
    goal.refresh_from_db()
    assert goal.status == "achieved"


def test_benefits_ledger_shows_rates_and_what_remains(alice: User, case: Case) -> None:
    year = selectors.today().year
    BenefitRate.objects.update_or_create(
        year=year, kind="settlement_basic", household_min=1, defaults={"amount_krw": 10_000_000}
    )
    services.payment_record(
        actor=alice,
        case=case,
        kind="settlement_basic",
        amount_krw=4_000_000,
        paid_on=date(2024, 2, 1),
    )
    page = html(english(alice).get(url("case_detail", case)))
    row = re.search(r"<tr><td>Basic settlement money</td>.*?</tr>", page, re.S)
    assert row and "4,000,000" in row.group(0) and "10,000,000" in row.group(0)
    assert "6,000,000" in row.group(0)


def test_referral_send_from_the_case_page(alice: User, case: Case, other_agency: Agency) -> None:
    client = english(alice)
    today = selectors.today()
    data = {
        "referral-to_agency": other_agency.pk,
        "referral-kind": "referral",
        "referral-purpose": "job placement",
        "referral-consent_given_on": today.isoformat(),
        "referral-valid_until": (today + timedelta(days=90)).isoformat(),
    }
    response = client.post(url("referral_send", case), data)
    assert "name what the person agreed to share" in field_block(
        html(response), "id_referral-sections_0"
    )
    assert not Referral.objects.exists()
    response = client.post(
        url("referral_send", case), data | {"referral-sections": ["needs", "services"]}
    )
    assert response.status_code == 302
    referral = Referral.objects.get()
    assert referral.section_list == ["needs", "services"] and referral.to_agency == other_agency
    page = html(client.get(url("case_detail", case)))
    section = page.split('id="section-referrals"')[1].split("</section>")[0]
    assert "Beta Centre" in section and "Pending" in section and "Needs assessments" in section


def test_the_lead_agency_is_not_offered_as_a_referral_target(
    alice: User, case: Case, other_agency: Agency
) -> None:
    page = html(english(alice).get(url("case_detail", case)))
    select = re.search(r'<select name="referral-to_agency".*?</select>', page, re.S)
    assert select and "Beta Centre" in select.group(0) and "Alpha Centre" not in select.group(0)


# --- referrals inbox -----------------------------------------------------------------------


def test_the_inbox_accepts_a_referral_and_links_to_the_case(
    alice: User, carol: User, case: Case
) -> None:
    referral = refer(case, alice, carol.agency, ["needs"])
    client = english(carol)
    page = html(client.get(url("referrals")))
    row = re.search(rf'<tr id="referral-{referral.pk}">.*?</tr>', page, re.S)
    assert row and "Alpha Centre" in row.group(0) and "Needs assessments" in row.group(0)
    assert url("referral_accept", referral_id=referral.pk) in row.group(0)
    assert url("case_detail", case) not in row.group(0)  # not before accepting
    response = client.post(url("referral_accept", referral_id=referral.pk))
    assert response.status_code == 302 and response["Location"] == url("referrals")
    referral.refresh_from_db()
    assert referral.status == Referral.Status.ACCEPTED and referral.responded_by == carol
    page = html(client.get(url("referrals")))
    assert f"You accepted the referral of case {case.public_id}." in page
    row = re.search(rf'<tr id="referral-{referral.pk}">.*?</tr>', page, re.S)
    assert row and url("case_detail", case) in row.group(0)
    assert client.get(url("case_detail", case)).status_code == 200
    # accepting again: the error is shown on the row, nothing changes
    response = client.post(url("referral_accept", referral_id=referral.pk))
    assert response.status_code == 200
    row = re.search(rf'<tr id="referral-{referral.pk}">.*?</tr>', html(response), re.S)
    assert row and "this referral is already Accepted" in row.group(0)


def test_the_inbox_declines_with_a_reason(alice: User, carol: User, case: Case) -> None:
    referral = refer(case, alice, carol.agency, ["needs"])
    client = english(carol)
    response = client.post(
        url("referral_decline", referral_id=referral.pk),
        {f"decline-{referral.pk}-reason": "no capacity"},
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.status == Referral.Status.DECLINED and referral.decline_reason == "no capacity"
    assert client.get(url("case_detail", case)).status_code == 404
    assert "no capacity" in html(client.get(url("referrals")))


def test_the_receiving_agency_ends_a_referral(alice: User, carol: User, case: Case) -> None:
    referral = refer(case, alice, carol.agency, ["needs"], accept_as=carol)
    client = english(carol)
    assert client.post(url("referral_end", referral_id=referral.pk)).status_code == 302
    referral.refresh_from_db()
    assert referral.status == Referral.Status.REVOKED and referral.revoked_by == carol
    assert client.get(url("case_detail", case)).status_code == 404


def test_the_inbox_shows_only_referrals_to_ones_agency(
    alice: User, bob: User, carol: User, case: Case
) -> None:
    referral = refer(case, alice, carol.agency, ["needs"])
    # the sending agency does not see it in its inbox, and cannot accept it
    client = english(bob)
    assert f'id="referral-{referral.pk}"' not in html(client.get(url("referrals")))
    assert client.post(url("referral_accept", referral_id=referral.pk)).status_code == 404
    assert client.post(url("referral_decline", referral_id=referral.pk)).status_code == 404
    referral.refresh_from_db()
    assert referral.status == Referral.Status.PENDING


def test_a_third_agency_cannot_reach_the_referral(
    alice: User, carol: User, case: Case, make_user: Callable[..., User]
) -> None:
    referral = refer(case, alice, carol.agency, ["needs"])
    third = make_user(
        Role.CASEWORKER, agency=Agency.objects.create(code="gamma", name_ko="감마", name_en="Gamma")
    )
    client = english(third)
    assert f'id="referral-{referral.pk}"' not in html(client.get(url("referrals")))
    assert client.post(url("referral_accept", referral_id=referral.pk)).status_code == 404
    assert client.post(url("referral_end", referral_id=referral.pk)).status_code == 404


def test_the_inbox_refuses_roles_without_it(
    researcher: User, alice: User, carol: User, case: Case
) -> None:
    referral = refer(case, alice, carol.agency, ["needs"])
    client = english(researcher)
    assert client.get(url("referrals")).status_code == 403
    assert client.post(url("referral_accept", referral_id=referral.pk)).status_code == 403


def test_a_transfer_makes_the_other_agency_lead(alice: User, carol: User, case: Case) -> None:
    referral = services.referral_send(
        actor=alice,
        case=case,
        to_agency=carol.agency,
        sections=list(selectors.SECTIONS),
        purpose="moving to Busan",
        consent_given_on=selectors.today(),
        valid_until=selectors.today() + timedelta(days=30),
        kind="transfer",
    )
    client = english(carol)
    assert client.post(url("referral_accept", referral_id=referral.pk)).status_code == 302
    page = html(client.get(url("case_detail", case)))
    for section in ALL_SECTIONS:
        assert f'id="section-{section}"' in page
    assert english(alice).get(url("case_detail", case)).status_code == 404


# --- outcome indicators --------------------------------------------------------------------


def _outcomes(agency: Agency, count: int, year: int = 2024) -> None:
    for n in range(count):
        person = ArrivalFactory(agency=agency).person
        case = Case.objects.create(person=person, lead_agency=agency, opened_on=date(2023, 1, 1))
        Outcome.objects.create(
            case=case,
            year=year,
            economic_activity="employed" if n % 2 == 0 else "inactive",
            employment_status="wage_earner" if n % 2 == 0 else "",
            monthly_wage_krw_10k=200 + n if n % 2 == 0 else None,
        )


def test_outcome_indicators_of_ones_agency_beside_the_national(
    alice: User, agency: Agency, other_agency: Agency
) -> None:
    _outcomes(agency, 12)
    _outcomes(other_agency, 3)
    client = english(alice)
    page = html(client.get(url("outcomes"), {"year": "2024"}))
    table = re.search(r'<table id="outcome-indicators">.*?</table>', page, re.S)
    assert table and "Alpha Centre" in table.group(0)
    assert "(12 people with an outcome record)" in table.group(0)
    employment = re.search(
        r"<th scope=\"row\">Employment rate \(%\)</th>.*?</tr>", table.group(0), re.S
    )
    assert employment and "50.0" in employment.group(0) and "60.1" in employment.group(0)
    assert "Disclosure control" in page and 'name="agency"' not in page
    # a caseworker cannot pick another agency
    page = html(client.get(url("outcomes"), {"year": "2024", "agency": "beta"}))
    assert "(12 people with an outcome record)" in page


def test_outcome_indicators_withhold_small_numbers(alice: User, agency: Agency) -> None:
    _outcomes(agency, 3)
    page = html(english(alice).get(url("outcomes"), {"year": "2024"}))
    employment = re.search(r"<th scope=\"row\">Employment rate \(%\)</th>.*?</tr>", page, re.S)
    assert employment and "withheld (small numbers)" in employment.group(0)
    assert "(&lt;5 people with an outcome record)" in page


def test_statisticians_see_all_agencies_together(
    make_user: Callable[..., User], agency: Agency, other_agency: Agency
) -> None:
    _outcomes(agency, 6)
    _outcomes(other_agency, 8)
    client = english(make_user(Role.STATISTICIAN))
    page = html(client.get(url("outcomes"), {"year": "2024"}))
    assert 'name="agency"' not in page and "All agencies" in page
    assert "(14 people with an outcome record)" in page
    page = html(client.get(url("outcomes"), {"year": "2024", "agency": "beta"}))
    assert "(14 people with an outcome record)" in page  # one agency alone is not offered


def test_outcome_indicators_refuse_roles_without_them(make_user: Callable[..., User]) -> None:
    for role in (Role.INTAKE_OFFICER, Role.AUDITOR, Role.DOCUMENTER):
        assert english(make_user(role)).get(url("outcomes")).status_code == 403


# --- benefit rates -------------------------------------------------------------------------


def test_caseworkers_read_the_rates_without_a_form(alice: User) -> None:
    BenefitRate.objects.create(year=2031, kind="housing_subsidy", amount_krw=17_500_000)
    page = html(english(alice).get(url("rates")))
    assert "Housing subsidy" in page and "17,500,000" in page
    assert 'name="rate-amount_krw"' not in page
    response = english(alice).post(
        url("rate_set"),
        {
            "rate-year": "2031",
            "rate-kind": "housing_subsidy",
            "rate-household_min": "1",
            "rate-amount_krw": "1",
        },
    )
    assert response.status_code == 403
    assert BenefitRate.objects.get(year=2031, kind="housing_subsidy").amount_krw == 17_500_000


def test_admins_set_a_rate(make_user: Callable[..., User]) -> None:
    client = english(make_user(Role.ADMIN, agency=AgencyFactory(code=OPERATOR_AGENCY_CODE)))
    data = {
        "rate-year": "2030",
        "rate-kind": "settlement_basic",
        "rate-household_min": "2",
        "rate-household_max": "1",
        "rate-amount_krw": "12000000",
    }
    response = client.post(url("rate_set"), data)
    assert response.status_code == 200
    assert "the household range is empty" in field_block(html(response), "id_rate-household_max")
    assert not BenefitRate.objects.filter(year=2030).exists()
    response = client.post(url("rate_set"), data | {"rate-household_max": "3"})
    assert response.status_code == 302
    rate = BenefitRate.objects.get(year=2030)
    assert (rate.household_min, rate.household_max, rate.amount_krw) == (2, 3, 12_000_000)
    assert "12,000,000" in html(client.get(url("rates")))
    assert AuditEvent.objects.filter(object_type="benefit_rate", action="create").exists()


def test_rates_refuse_roles_without_cases(researcher: User) -> None:
    assert english(researcher).get(url("rates")).status_code == 403


def test_the_inbox_forgets_the_purpose_once_the_referral_ends(
    alice: User, carol: User, case: Case
) -> None:
    referral = refer(case, alice, carol.agency, ["needs"], accept_as=carol)
    client = english(carol)
    assert "employment support" in html(client.get(url("referrals")))
    services.referral_revoke(actor=alice, referral=referral, for_person=True)
    page = html(client.get(url("referrals")))
    row = re.search(rf'<tr id="referral-{referral.pk}">.*?</tr>', page, re.S)
    assert row and "employment support" not in row.group(0) and "Revoked" in row.group(0)
    assert url("case_detail", case) not in row.group(0)
