"""Who sees and changes which case: own agency, referred scope with consent, nobody else.

Alice (alpha) leads the case; Bob (beta) is where it gets referred; Carol (gamma) was never
referred anything; Dave is Alice's colleague at alpha who is not a member of the case.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest

from saebom.accounts.models import Agency, User
from saebom.core.audit import audit_verify
from saebom.core.exceptions import Conflict, NotFound, PermissionDenied, SaebomError
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.support import outcomes, selectors, services
from saebom.support.models import Case, CaseMember, CaseNote, Referral, Service
from saebom.support.selectors import SECTIONS, case_access, cases_visible_to
from tests.factories import ArrivalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def caseworker(make_staff: Callable[..., User]) -> User:
    """Alice of conftest, without password hashing or TOTP: these tests never sign in."""
    return make_staff(username="alice")


Refer = Callable[..., Referral]


def assert_hidden(actor: User, case: Case) -> None:
    """Hidden answers exactly like missing: the same exception and message."""
    assert case not in cases_visible_to(actor)
    with pytest.raises(NotFound) as hidden:
        case_access(actor, case.public_id)
    with pytest.raises(NotFound) as missing:
        case_access(actor, "C-00000000")
    assert str(hidden.value) == str(missing.value)


def move_to(monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    """Let time pass: every 'today' of the support app is ``day``."""
    monkeypatch.setattr(selectors, "today", lambda: day)


# --- own agency, other agencies ------------------------------------------------------------


def test_lead_agency_member_sees_every_section_including_notes(
    caseworker: User, open_case: Case
) -> None:
    access = case_access(caseworker, open_case.public_id.lower())  # ids are case-insensitive
    assert access.case == open_case
    assert access.sections == frozenset(SECTIONS)
    assert access.is_lead_agency and access.is_member and access.can_update
    assert access.referrals == ()


def test_lead_agency_non_member_sees_everything_but_notes(
    colleague: User, make_staff: Callable[..., User], open_case: Case
) -> None:
    access = case_access(colleague, open_case.public_id)
    assert access.sections == frozenset(SECTIONS) - {"notes"}
    assert access.can_update and not access.is_member
    admin = make_staff(Role.ADMIN)
    admin_access = case_access(admin, open_case.public_id)
    assert not admin_access.sees("notes") and admin_access.can_update


def test_other_agency_cannot_see_the_case(
    partner: User, outsider: User, make_staff: Callable[..., User], open_case: Case
) -> None:
    other_admin = make_staff(Role.ADMIN, agency=partner.agency)
    for actor in (partner, outsider, other_admin):
        assert_hidden(actor, open_case)


@pytest.mark.parametrize("role", [Role.RESEARCHER, Role.STATISTICIAN, Role.AUDITOR])
def test_analysts_and_auditors_see_no_case_even_of_their_own_agency(
    make_staff: Callable[..., User], open_case: Case, role: Role
) -> None:
    analyst = make_staff(role)
    assert not cases_visible_to(analyst).exists()
    assert_hidden(analyst, open_case)
    with pytest.raises(PermissionDenied):
        selectors.caseload(analyst)
    with pytest.raises(PermissionDenied):
        services.case_update(actor=analyst, case=open_case, expected_version=1, household_size=2)
    assert Case.objects.get(pk=open_case.pk).household_size == 1


@pytest.mark.parametrize("role", [Role.RESEARCHER, Role.STATISTICIAN])
def test_analysts_get_aggregates_only(make_staff: Callable[..., User], role: Role) -> None:
    report = outcomes.outcome_indicators(make_staff(role), year=2023)
    assert set(vars(report)) == {
        "year",
        "respondents",
        "indicators",
        "k",
        "national_status",
        "synthetic",
    }


def test_auditor_gets_not_even_aggregates(make_staff: Callable[..., User]) -> None:
    with pytest.raises(PermissionDenied):
        outcomes.outcome_indicators(make_staff(Role.AUDITOR), year=2023)


def test_inactive_caseworker_sees_nothing(make_staff: Callable[..., User], open_case: Case) -> None:
    gone = make_staff(is_active=False)
    assert_hidden(gone, open_case)


def test_case_of_a_person_registered_elsewhere_cannot_be_opened(
    partner: User, person: object
) -> None:
    with pytest.raises(NotFound):
        services.case_open(actor=partner, person=person)  # type: ignore[arg-type]
    assert not Case.objects.exists()


# --- referral: pending, accepted, declined -------------------------------------------------


def test_pending_referral_opens_nothing(partner: User, open_case: Case, refer: Refer) -> None:
    refer(open_case)
    assert_hidden(partner, open_case)


def test_accepted_referral_shows_exactly_the_consented_sections(
    partner: User, make_staff: Callable[..., User], open_case: Case, refer: Refer
) -> None:
    referral = refer(open_case, sections=["needs", "Profile", "services"])  # a label-ish spelling
    services.referral_accept(actor=partner, referral=referral)
    access = case_access(partner, open_case.public_id)
    assert access.sections == {"needs", "profile", "services"}
    assert not access.is_lead_agency and not access.can_update
    assert [r.pk for r in access.referrals] == [referral.pk]
    for hidden in set(SECTIONS) - {"needs", "profile", "services"}:
        assert not access.sees(hidden)
    # The whole receiving agency's caseworkers see the same scope (the agency was referred).
    other_bob = make_staff(agency=partner.agency)
    assert case_access(other_bob, open_case.public_id).sections == access.sections


def test_admin_of_receiving_agency_does_not_see_referred_cases(
    partner: User, make_staff: Callable[..., User], open_case: Case, refer: Refer
) -> None:
    services.referral_accept(actor=partner, referral=refer(open_case))
    assert_hidden(make_staff(Role.ADMIN, agency=partner.agency), open_case)


def test_referral_to_one_agency_opens_nothing_to_another(
    partner: User, outsider: User, open_case: Case, refer: Refer
) -> None:
    services.referral_accept(actor=partner, referral=refer(open_case))
    assert_hidden(outsider, open_case)


def test_notes_only_to_the_accepting_member_and_only_when_consented(
    partner: User, make_staff: Callable[..., User], open_case: Case, refer: Refer
) -> None:
    services.referral_accept(actor=partner, referral=refer(open_case, sections=["notes"]))
    assert case_access(partner, open_case.public_id).sections == {"notes"}
    member = CaseMember.objects.get(case=open_case, user=partner)
    assert member.role == CaseMember.Role.PARTNER
    not_member = make_staff(agency=partner.agency)
    assert case_access(not_member, open_case.public_id).sections == frozenset()


def test_two_referrals_show_their_union_and_revoking_one_narrows_it(
    caseworker: User, partner: User, open_case: Case, refer: Refer
) -> None:
    first = refer(open_case, sections=["profile"])
    second = refer(open_case, sections=["services", "followups"])
    services.referral_accept(actor=partner, referral=first)
    services.referral_accept(actor=partner, referral=second)
    assert case_access(partner, open_case.public_id).sections == {
        "profile",
        "services",
        "followups",
    }
    services.referral_revoke(actor=caseworker, referral=second)
    assert case_access(partner, open_case.public_id).sections == {"profile"}


def test_declined_referral_opens_nothing(partner: User, open_case: Case, refer: Refer) -> None:
    referral = services.referral_decline(
        actor=partner, referral=refer(open_case), reason=" no capacity "
    )
    assert referral.status == Referral.Status.DECLINED
    assert referral.decline_reason == "no capacity" and referral.responded_by == partner
    assert_hidden(partner, open_case)
    with pytest.raises(Conflict, match="already Declined"):
        services.referral_accept(actor=partner, referral=referral)


def test_accepting_twice_is_a_conflict(partner: User, open_case: Case, refer: Refer) -> None:
    referral = refer(open_case)
    services.referral_accept(actor=partner, referral=referral)
    with pytest.raises(Conflict, match="already Accepted"):
        services.referral_accept(actor=partner, referral=referral)
    with pytest.raises(Conflict):
        services.referral_decline(actor=partner, referral=referral)
    assert AuditEvent.objects.filter(action="accept").count() == 1


def test_caseworker_of_another_agency_cannot_respond_to_a_referral(
    partner: User, outsider: User, third_agency: Agency, open_case: Case, refer: Refer
) -> None:
    to_gamma = refer(open_case, to=third_agency)
    for respond in (services.referral_accept, services.referral_decline):
        with pytest.raises(NotFound):
            respond(actor=partner, referral=to_gamma)
    with pytest.raises(NotFound):
        services.referral_revoke(actor=partner, referral=to_gamma)
    with pytest.raises(NotFound):
        selectors.referral_for(partner, to_gamma.pk)
    assert to_gamma.pk not in selectors.referrals_incoming(partner).values_list("pk", flat=True)
    to_gamma.refresh_from_db()
    assert to_gamma.status == Referral.Status.PENDING
    assert_hidden(partner, open_case)
    services.referral_accept(actor=outsider, referral=to_gamma)  # gamma itself can
    assert case_access(outsider, open_case.public_id).sections == {"needs", "profile"}


def test_the_sending_agency_cannot_accept_its_own_referral(
    caseworker: User, open_case: Case, refer: Refer
) -> None:
    with pytest.raises(NotFound):
        services.referral_accept(actor=caseworker, referral=refer(open_case))


@pytest.mark.parametrize("role", [Role.RESEARCHER, Role.STATISTICIAN, Role.AUDITOR])
def test_analysts_cannot_respond_to_referrals(
    make_staff: Callable[..., User], other_agency: Agency, open_case: Case, refer: Refer, role: Role
) -> None:
    analyst = make_staff(role, agency=other_agency)
    referral = refer(open_case)
    with pytest.raises(PermissionDenied):
        services.referral_accept(actor=analyst, referral=referral)
    with pytest.raises(NotFound):
        selectors.referral_for(analyst, referral.pk)


def test_referral_to_own_agency_is_refused(agency: Agency, open_case: Case, refer: Refer) -> None:
    with pytest.raises(SaebomError) as error:
        refer(open_case, to=agency)
    assert error.value.field == "to_agency"
    assert not Referral.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sections": []}, "sections"),
        ({"sections": ["profile", "diary"]}, "sections"),
        ({"purpose": "  "}, "purpose"),
        ({"kind": "loan"}, "kind"),
        ({"consent_given_on": 1}, "consent_given_on"),
        ({"valid_until": -1}, "valid_until"),
    ],
)
def test_referral_send_validates_its_input(
    caseworker: User, other_agency: Agency, open_case: Case, change: dict[str, object], field: str
) -> None:
    day = selectors.today()
    values: dict[str, object] = {
        "sections": ["profile"],
        "purpose": "housing",
        "consent_given_on": day,
        "valid_until": day + timedelta(days=30),
        "kind": "referral",
    }
    for name, value in change.items():  # integers: days from today
        values[name] = day + timedelta(days=value) if isinstance(value, int) else value
    with pytest.raises(SaebomError) as error:
        services.referral_send(
            actor=caseworker,
            case=open_case,
            to_agency=other_agency,
            **values,  # type: ignore[arg-type]
        )
    assert error.value.field == field
    assert field in str(error.value)
    assert not Referral.objects.exists()


# --- consent ends: revocation, expiry ------------------------------------------------------


@pytest.mark.parametrize("for_person", [False, True])
def test_revocation_by_the_sender_ends_access_at_once(
    caseworker: User, partner: User, open_case: Case, refer: Refer, for_person: bool
) -> None:
    referral = refer(open_case, sections=["profile", "notes"])
    services.referral_accept(actor=partner, referral=referral)
    assert case_access(partner, open_case.public_id).sees("notes")
    revoked = services.referral_revoke(
        actor=caseworker, referral=referral, reason="person withdrew", for_person=for_person
    )
    assert revoked.status == Referral.Status.REVOKED
    assert revoked.revoked_by == caseworker and revoked.revoked_for_person is for_person
    assert_hidden(partner, open_case)
    assert not CaseMember.objects.filter(case=open_case, user=partner).exists()
    event = AuditEvent.objects.get(action="revoke")
    assert event.detail == {"referral": referral.pk, "for_person": for_person}
    with pytest.raises(Conflict, match="already Revoked"):
        services.referral_revoke(actor=caseworker, referral=referral)
    with pytest.raises(Conflict):
        services.referral_accept(actor=partner, referral=referral)


def test_receiving_agency_can_give_a_referral_up(
    partner: User, open_case: Case, refer: Refer
) -> None:
    referral = refer(open_case)
    services.referral_accept(actor=partner, referral=referral)
    services.referral_revoke(actor=partner, referral=referral, reason="moved away")
    assert_hidden(partner, open_case)


def test_pending_referral_can_be_withdrawn_before_it_is_answered(
    caseworker: User, partner: User, open_case: Case, refer: Refer
) -> None:
    referral = refer(open_case)
    services.referral_revoke(actor=caseworker, referral=referral)
    with pytest.raises(Conflict):
        services.referral_accept(actor=partner, referral=referral)
    assert_hidden(partner, open_case)


def test_consent_past_valid_until_ends_access(
    monkeypatch: pytest.MonkeyPatch, partner: User, open_case: Case, refer: Refer
) -> None:
    start = selectors.today()
    referral = refer(open_case, valid_until=start + timedelta(days=10))
    services.referral_accept(actor=partner, referral=referral)
    move_to(monkeypatch, start + timedelta(days=10))  # the last day of consent
    assert case_access(partner, open_case.public_id).sections == {"needs", "profile"}
    move_to(monkeypatch, start + timedelta(days=11))
    assert_hidden(partner, open_case)
    assert not selectors.active_referrals(partner.agency_id).exists()


def test_accepting_after_the_consent_expired_is_refused(
    monkeypatch: pytest.MonkeyPatch, partner: User, open_case: Case, refer: Refer
) -> None:
    start = selectors.today()
    referral = refer(open_case, valid_until=start + timedelta(days=3))
    move_to(monkeypatch, start + timedelta(days=4))
    with pytest.raises(Conflict, match="consent"):
        services.referral_accept(actor=partner, referral=referral)
    referral.refresh_from_db()
    assert referral.status == Referral.Status.PENDING
    assert_hidden(partner, open_case)
    assert not CaseMember.objects.filter(user=partner).exists()


# --- writes by a referred agency -----------------------------------------------------------


def test_referred_agency_may_read_but_never_write(
    partner: User, third_agency: Agency, open_case: Case, refer: Refer
) -> None:
    services.referral_accept(actor=partner, referral=refer(open_case, sections=list(SECTIONS)))
    day = selectors.today()
    writes: list[Callable[[], object]] = [
        lambda: services.case_update(
            actor=partner, case=open_case, expected_version=1, household_size=4
        ),
        lambda: services.note_add(actor=partner, case=open_case, text="partner note"),
        lambda: services.service_add(actor=partner, case=open_case, kind="counselling"),
        lambda: services.followup_schedule(
            actor=partner, case=open_case, due_on=day, channel="phone"
        ),
        lambda: services.protection_extend(
            actor=partner,
            case=open_case,
            decided_on=day,
            new_end=date(2031, 1, 1),
            reason="illness",
        ),
        lambda: services.outcome_record(
            actor=partner, case=open_case, year=2024, economic_activity="inactive"
        ),
        lambda: services.payment_record(
            actor=partner, case=open_case, kind="settlement_basic", amount_krw=1, paid_on=day
        ),
        lambda: services.referral_send(
            actor=partner,
            case=open_case,
            to_agency=third_agency,
            sections=["profile"],
            purpose="onward",
            consent_given_on=day,
            valid_until=day,
        ),
        lambda: services.case_member_set(
            actor=partner, case=open_case, user=partner, role="caseworker"
        ),
        lambda: services.notes_export_consent_set(actor=partner, case=open_case, given_on=day),
    ]
    before = AuditEvent.objects.count()
    for write in writes:
        with pytest.raises(PermissionDenied):
            write()
    assert AuditEvent.objects.count() == before
    case = Case.objects.get(pk=open_case.pk)
    assert (case.household_size, case.version, case.lead_agency_id) == (
        1,
        1,
        open_case.lead_agency_id,
    )
    assert case.notes_export_consent_on is None
    assert not CaseNote.objects.exists() and not Service.objects.exists()
    assert not Referral.objects.filter(to_agency=third_agency).exists()


def test_unrelated_agency_writes_answer_not_found(outsider: User, open_case: Case) -> None:
    with pytest.raises(NotFound):
        services.case_update(actor=outsider, case=open_case, expected_version=1, status="active")
    with pytest.raises(NotFound):
        services.note_add(actor=outsider, case=open_case, text="x")


def test_notes_are_written_by_members_only(
    caseworker: User, colleague: User, open_case: Case
) -> None:
    with pytest.raises(PermissionDenied):
        services.note_add(actor=colleague, case=open_case, text="not a member")
    services.case_member_set(actor=caseworker, case=open_case, user=colleague, role="caseworker")
    assert case_access(colleague, open_case.public_id).sees("notes")
    services.note_add(actor=colleague, case=open_case, text="now a member")
    services.case_member_remove(actor=caseworker, case=open_case, user=colleague)
    assert not case_access(colleague, open_case.public_id).sees("notes")
    with pytest.raises(NotFound):
        services.case_member_remove(actor=caseworker, case=open_case, user=colleague)
    assert CaseNote.objects.count() == 1


def test_only_caseworkers_of_the_lead_agency_become_members(
    caseworker: User, partner: User, make_staff: Callable[..., User], open_case: Case
) -> None:
    for user in (partner, make_staff(Role.RESEARCHER)):
        with pytest.raises(SaebomError) as error:
            services.case_member_set(actor=caseworker, case=open_case, user=user, role="caseworker")
        assert error.value.field == "user"
    with pytest.raises(SaebomError) as error:
        services.case_member_set(actor=caseworker, case=open_case, user=caseworker, role="partner")
    assert error.value.field == "role"
    with pytest.raises(SaebomError) as error:
        services.case_member_set(actor=caseworker, case=open_case, user=caseworker, role="boss")
    assert error.value.field == "role"


def test_one_lead_per_case(caseworker: User, colleague: User, open_case: Case) -> None:
    services.case_member_set(actor=caseworker, case=open_case, user=colleague, role="lead")
    roles = dict(CaseMember.objects.filter(case=open_case).values_list("user__username", "role"))
    assert roles == {"alice": "caseworker", "dave": "lead"}


# --- transfer of lead ----------------------------------------------------------------------


def test_transfer_moves_the_lead_agency(
    caseworker: User, partner: User, open_case: Case, refer: Refer
) -> None:
    transfer = refer(open_case, kind="transfer")
    assert_hidden(partner, open_case)  # not before it is accepted
    services.referral_accept(actor=partner, referral=transfer)
    case = Case.objects.get(pk=open_case.pk)
    assert case.lead_agency_id == partner.agency_id
    assert case.status == Case.Status.TRANSFERRED and case.version == 2
    assert list(CaseMember.objects.filter(case=case).values_list("user__username", "role")) == [
        ("bob", "lead")
    ]
    access = case_access(partner, case.public_id)
    assert access.sections == frozenset(SECTIONS) and access.can_update
    assert [c.pk for c in selectors.caseload(partner, member=partner)] == [case.pk]
    assert not selectors.caseload(caseworker).exists()
    assert_hidden(caseworker, case)
    with pytest.raises(NotFound):
        services.case_update(actor=caseworker, case=case, expected_version=2, household_size=2)
    with pytest.raises(Conflict, match="completed transfer"):
        services.referral_revoke(actor=caseworker, referral=transfer)
    with pytest.raises(Conflict, match="completed transfer"):
        services.referral_revoke(actor=partner, referral=transfer)
    assert Case.objects.get(pk=case.pk).lead_agency_id == partner.agency_id


def test_a_pending_referral_dies_with_the_senders_lead(
    partner: User, outsider: User, third_agency: Agency, open_case: Case, refer: Refer
) -> None:
    to_beta = refer(open_case)
    services.referral_accept(
        actor=outsider, referral=refer(open_case, kind="transfer", to=third_agency)
    )
    with pytest.raises(Conflict, match="can no longer be accepted"):
        services.referral_accept(actor=partner, referral=to_beta)
    assert_hidden(partner, open_case)


def test_new_lead_can_revoke_an_earlier_referral_for_the_person(
    caseworker: User,
    partner: User,
    outsider: User,
    third_agency: Agency,
    open_case: Case,
    refer: Refer,
) -> None:
    """After a transfer the person's consent is kept by the new lead agency: when they withdraw
    it there, the agency the case was referred to earlier must lose access."""
    to_beta = refer(open_case)
    services.referral_accept(actor=partner, referral=to_beta)
    services.referral_accept(
        actor=outsider, referral=refer(open_case, kind="transfer", to=third_agency)
    )
    assert selectors.referral_for(outsider, to_beta.pk) == to_beta  # the new lead sees it
    services.referral_revoke(actor=outsider, referral=to_beta, for_person=True)
    assert_hidden(partner, open_case)


def test_outsider_cannot_revoke(outsider: User, open_case: Case, refer: Refer) -> None:
    referral = refer(open_case)
    with pytest.raises(NotFound):
        services.referral_revoke(actor=outsider, referral=referral)


# --- audit -----------------------------------------------------------------------------------


def test_every_referral_step_is_audited_and_the_chain_verifies(
    caseworker: User, partner: User, open_case: Case, refer: Refer
) -> None:
    declined = refer(open_case, sections=["profile"])
    services.referral_decline(actor=partner, referral=declined)
    accepted = refer(open_case, sections=["needs", "profile"])
    services.referral_accept(actor=partner, referral=accepted)
    services.case_viewed(actor=partner, access=case_access(partner, open_case.public_id))
    services.referral_revoke(actor=caseworker, referral=accepted, for_person=True)
    events = list(AuditEvent.objects.filter(object_type__in=["referral", "case"]).order_by("seq"))
    assert [(e.action, e.actor_name, e.agency_code) for e in events] == [
        ("create", "alice", "alpha"),
        ("refer", "alice", "alpha"),
        ("decline", "bob", "alpha"),  # events about a case go to its lead agency's log
        ("refer", "alice", "alpha"),
        ("accept", "bob", "alpha"),
        ("view", "bob", "alpha"),
        ("revoke", "alice", "alpha"),
    ]
    assert all(e.object_id == open_case.public_id for e in events)
    refer_event = events[3]
    assert refer_event.changed_fields == ["needs", "profile"]
    assert refer_event.detail["to"] == "beta" and refer_event.detail["referral"] == accepted.pk
    assert events[4].detail == {
        "referral": accepted.pk,
        "kind": "referral",
        "from": "alpha",
        "actor_agency": "beta",  # read in alpha's log: who outside it touched the case
    }
    assert events[5].changed_fields == ["needs", "profile"] and events[5].detail == {
        "referred": True,
        "actor_agency": "beta",
    }
    result = audit_verify()
    assert result.ok and result.checked == AuditEvent.objects.count()


def test_case_viewed_records_the_sections_shown(caseworker: User, open_case: Case) -> None:
    services.case_viewed(actor=caseworker, access=case_access(caseworker, open_case.public_id))
    event = AuditEvent.objects.get(action="view")
    assert event.object_type == "case" and event.object_id == open_case.public_id
    assert event.changed_fields == sorted(SECTIONS) and event.detail == {"referred": False}
    assert audit_verify().ok


def test_other_agencys_person_is_invisible_to_selector(
    partner: User, other_agency: Agency, open_case: Case
) -> None:
    """A case of beta's own, next to alpha's: each agency sees its own only."""
    beta_person = ArrivalFactory(agency=other_agency).person
    beta_case = services.case_open(actor=partner, person=beta_person)
    assert list(cases_visible_to(partner)) == [beta_case]
    assert open_case not in cases_visible_to(partner)


# --- found in review -------------------------------------------------------------------------


def test_handing_the_lead_on_leaves_no_door_open(
    caseworker: User, partner: User, open_case: Case, refer: Refer
) -> None:
    """A → B → A: B's accepted transfer is history, not a referral into A's case."""
    services.referral_accept(actor=partner, referral=refer(open_case, kind="transfer"))
    back = refer(open_case, actor=partner, to=caseworker.agency, kind="transfer")
    services.referral_accept(actor=caseworker, referral=back)
    assert Case.objects.get(pk=open_case.pk).lead_agency_id == caseworker.agency_id
    assert_hidden(partner, open_case)


def test_a_transfer_needs_consent_to_hand_over_everything(open_case: Case, refer: Refer) -> None:
    with pytest.raises(SaebomError) as error:
        refer(open_case, kind="transfer", sections=["profile"])
    assert error.value.field == "sections"
    assert not Referral.objects.exists()


def test_only_the_consent_holder_records_a_withdrawal(
    partner: User, open_case: Case, refer: Refer
) -> None:
    referral = refer(open_case)
    services.referral_accept(actor=partner, referral=referral)
    with pytest.raises(PermissionDenied):
        services.referral_revoke(actor=partner, referral=referral, for_person=True)
    assert Referral.objects.get(pk=referral.pk).status == Referral.Status.ACCEPTED
    services.referral_revoke(actor=partner, referral=referral)  # giving it up is theirs
    assert not Referral.objects.get(pk=referral.pk).revoked_for_person


def test_an_expired_partner_is_no_longer_listed(
    monkeypatch: pytest.MonkeyPatch, partner: User, open_case: Case, refer: Refer
) -> None:
    referral = refer(open_case, valid_until=selectors.today() + timedelta(days=3))
    services.referral_accept(actor=partner, referral=referral)
    assert partner in [m.user for m in selectors.members_of([open_case])[open_case.pk]]
    move_to(monkeypatch, selectors.today() + timedelta(days=4))
    assert partner not in [m.user for m in selectors.members_of([open_case])[open_case.pk]]
    assert referral.state_on(selectors.today()) == "expired"
    assert not referral.purpose_shown_on(selectors.today())


def test_an_agency_that_led_and_handed_on_keeps_no_earlier_referral(
    caseworker: User,
    partner: User,
    outsider: User,
    third_agency: Agency,
    open_case: Case,
    refer: Refer,
) -> None:
    """alpha refers to beta; alpha transfers to beta; beta transfers to gamma: beta is out."""
    services.referral_accept(actor=partner, referral=refer(open_case))
    services.referral_accept(actor=partner, referral=refer(open_case, kind="transfer"))
    onward = refer(open_case, actor=partner, to=third_agency, kind="transfer")
    services.referral_accept(actor=outsider, referral=onward)
    assert_hidden(partner, open_case)


def test_a_stale_partner_row_opens_no_notes(
    monkeypatch: pytest.MonkeyPatch,
    caseworker: User,
    partner: User,
    make_staff: Callable[..., User],
    other_agency: Agency,
    open_case: Case,
    refer: Refer,
) -> None:
    services.note_add(actor=caseworker, case=open_case, text="private")
    first = refer(open_case, sections=["profile"], valid_until=selectors.today() + timedelta(1))
    services.referral_accept(actor=partner, referral=first)
    move_to(monkeypatch, selectors.today() + timedelta(days=2))  # bob's referral has expired
    eve = make_staff(agency=other_agency, username="eve")
    with_notes = refer(open_case, sections=["profile", "notes"])
    services.referral_accept(actor=eve, referral=with_notes)
    assert "notes" in case_access(eve, open_case.public_id).sections
    assert "notes" not in case_access(partner, open_case.public_id).sections


def test_opening_a_case_another_agency_holds_answers_not_found(
    partner: User, other_agency: Agency, open_case: Case
) -> None:
    ArrivalFactory(
        agency=other_agency, person=open_case.person
    )  # the same person, registered there
    with pytest.raises(NotFound):
        services.case_open(actor=partner, person=open_case.person)


def test_referred_agencies_see_no_other_partners(
    caseworker: User,
    partner: User,
    outsider: User,
    third_agency: Agency,
    open_case: Case,
    refer: Refer,
) -> None:
    services.referral_accept(actor=partner, referral=refer(open_case))
    services.referral_accept(actor=outsider, referral=refer(open_case, to=third_agency))
    seen_by_beta = selectors.members_seen_by(case_access(partner, open_case.public_id))
    assert outsider not in [m.user for m in seen_by_beta]
    seen_by_alpha = selectors.members_seen_by(case_access(caseworker, open_case.public_id))
    assert {partner, outsider} <= {m.user for m in seen_by_alpha}


def test_a_transfers_purpose_is_the_receivers_only_while_it_leads(
    partner: User, outsider: User, third_agency: Agency, open_case: Case, refer: Refer
) -> None:
    transfer = refer(open_case, kind="transfer")
    services.referral_accept(actor=partner, referral=transfer)
    transfer.refresh_from_db()
    assert transfer.purpose_shown_on(selectors.today())
    onward = refer(open_case, actor=partner, to=third_agency, kind="transfer")
    services.referral_accept(actor=outsider, referral=onward)
    transfer.refresh_from_db()
    assert not transfer.purpose_shown_on(selectors.today())
