"""Writes to cases and the reads built on them: protection, needs, services, caseload, benefits,
notes, outcomes, and the audit trail every write leaves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from django.db import connection

from saebom.accounts.models import Agency, User
from saebom.core import vocab
from saebom.core.audit import audit_verify
from saebom.core.exceptions import Conflict, NotFound, PermissionDenied, SaebomError
from saebom.core.models import AuditEvent
from saebom.core.policy import OPERATOR_AGENCY_CODE, Role
from saebom.registry.models import Person
from saebom.support import benefits, selectors, services
from saebom.support.models import (
    Assessment,
    BenefitRate,
    Case,
    CaseMember,
    CaseNote,
    FollowUp,
    Outcome,
    ProtectionExtension,
    Service,
)
from saebom.support.services import Need
from tests.factories import AgencyFactory, ArrivalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def caseworker(make_staff: Callable[..., User]) -> User:
    """Alice of conftest, without password hashing or TOTP: these tests never sign in."""
    return make_staff(username="alice")


M = 1_000_000


def needs(**severities: int) -> dict[str, Need]:
    """A complete assessment: every domain 0 unless given."""
    return {d: Need(severities.get(d, 0)) for d in vocab.codes("need_domain")}


def raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return str(cursor.fetchone()[0])


def new_person(agency: Agency) -> Person:
    return ArrivalFactory(agency=agency).person


def field_of(error: pytest.ExceptionInfo[SaebomError]) -> str | None:
    return error.value.field


# --- opening and changing a case -----------------------------------------------------------


def test_case_open_gives_five_years_of_protection_and_a_lead(
    caseworker: User, open_case: Case
) -> None:
    assert open_case.protection_end == date(2029, 1, 15)
    assert open_case.lead_agency_id == caseworker.agency_id and open_case.version == 1
    assert open_case.public_id.startswith("C-") and len(open_case.public_id) == 10
    assert list(CaseMember.objects.values_list("user__username", "role")) == [("alice", "lead")]
    event = AuditEvent.objects.get(action="create", object_type="case")
    assert event.object_id == open_case.public_id and event.actor_name == "alice"


def test_protection_starting_on_leap_day_ends_on_28_february(
    caseworker: User, agency: Agency
) -> None:
    case = services.case_open(
        actor=caseworker, person=new_person(agency), protection_start=date(2024, 2, 29)
    )
    assert case.protection_end == date(2029, 2, 28)


def test_case_without_protection_start_has_no_end_until_it_is_set(
    caseworker: User, agency: Agency
) -> None:
    case = services.case_open(actor=caseworker, person=new_person(agency))
    assert case.protection_end is None
    case = services.case_update(
        actor=caseworker, case=case, expected_version=1, protection_start=date(2025, 3, 1)
    )
    assert case.protection_end == date(2030, 3, 1)


def test_a_person_has_one_case(caseworker: User, person: Person, open_case: Case) -> None:
    with pytest.raises(Conflict) as error:
        services.case_open(actor=caseworker, person=person)
    assert error.value.field == "person"
    assert Case.objects.count() == 1


def test_household_of_nobody_is_refused(caseworker: User, person: Person) -> None:
    with pytest.raises(SaebomError) as error:
        services.case_open(actor=caseworker, person=person, household_size=0)
    assert field_of(error) == "household_size"
    assert not Case.objects.exists()


def test_case_update_changes_bumps_and_audits(caseworker: User, open_case: Case) -> None:
    case = services.case_update(
        actor=caseworker, case=open_case, expected_version=1, status="Active", household_size=3
    )
    assert (case.status, case.household_size, case.version) == ("active", 3, 2)
    event = AuditEvent.objects.filter(action="update", object_type="case").get()
    assert event.changed_fields == ["household_size", "status"]
    # Saving a value equal to the current one changes nothing: no new version, no event.
    case = services.case_update(actor=caseworker, case=case, expected_version=2, household_size=3)
    assert case.version == 2
    assert AuditEvent.objects.filter(action="update", object_type="case").count() == 1


def test_closing_a_case_dates_it(
    monkeypatch: pytest.MonkeyPatch, caseworker: User, open_case: Case
) -> None:
    monkeypatch.setattr(selectors, "today", lambda: date(2026, 4, 1))
    case = services.case_update(
        actor=caseworker, case=open_case, expected_version=1, status="closed"
    )
    assert case.closed_on == date(2026, 4, 1)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "archived"}, "status"),
        ({"household_size": 0}, "household_size"),
        ({"household_size": None}, "household_size"),
        ({"status": None}, "status"),
        ({"status": "transferred"}, "status"),  # only an accepted transfer does that
        ({"closed_on": date(2024, 5, 1)}, "closed_on"),  # the case is open
        ({"protection_end": date(2031, 1, 1)}, "protection_end"),  # an extension, with reason
    ],
)
def test_case_update_refuses_bad_values_and_writes_nothing(
    caseworker: User, open_case: Case, changes: dict[str, object], field: str
) -> None:
    before = AuditEvent.objects.count()
    with pytest.raises(SaebomError) as error:
        services.case_update(actor=caseworker, case=open_case, expected_version=1, **changes)
    assert field_of(error) == field and field in str(error.value)
    case = Case.objects.get(pk=open_case.pk)
    assert (case.version, case.status, case.household_size) == (1, "open", 1)
    assert case.protection_end == date(2029, 1, 15)
    assert AuditEvent.objects.count() == before


def test_moving_the_start_moves_the_end_until_protection_was_extended(
    caseworker: User, open_case: Case
) -> None:
    case = services.case_update(
        actor=caseworker, case=open_case, expected_version=1, protection_start=date(2024, 3, 1)
    )
    assert case.protection_end == date(2029, 3, 1)
    services.protection_extend(
        actor=caseworker,
        case=case,
        decided_on=date(2028, 1, 5),
        new_end=date(2030, 3, 1),
        reason="threats",
    )
    with pytest.raises(SaebomError) as error:
        services.case_update(
            actor=caseworker, case=case, expected_version=3, protection_start=date(2024, 6, 1)
        )
    assert field_of(error) == "protection_start"
    assert Case.objects.get(pk=case.pk).protection_end == date(2030, 3, 1)


def test_reopening_clears_the_closing_date_and_a_resave_changes_nothing(
    caseworker: User, open_case: Case
) -> None:
    closed = services.case_update(
        actor=caseworker,
        case=open_case,
        expected_version=1,
        status="closed",
        closed_on=date(2026, 1, 2),
    )
    assert (closed.closed_on, closed.version) == (date(2026, 1, 2), 2)
    reopened = services.case_update(
        actor=caseworker, case=closed, expected_version=2, status="active"
    )
    assert (reopened.closed_on, reopened.version) == (None, 3)
    events = AuditEvent.objects.count()
    same = services.case_update(
        actor=caseworker, case=reopened, expected_version=3, status="active", household_size=1
    )
    assert same.version == 3 and AuditEvent.objects.count() == events


def test_case_update_refuses_fields_it_does_not_own(caseworker: User, open_case: Case) -> None:
    for name in ("lead_agency_id", "version", "person_id", "notes_export_consent_on"):
        with pytest.raises(SaebomError, match=name):
            services.case_update(actor=caseworker, case=open_case, expected_version=1, **{name: 1})
    assert Case.objects.get(pk=open_case.pk).version == 1


# --- protection extension --------------------------------------------------------------------


def test_extension_is_a_recorded_decision(caseworker: User, open_case: Case) -> None:
    first = services.protection_extend(
        actor=caseworker,
        case=open_case,
        decided_on=date(2028, 12, 1),
        new_end=date(2030, 1, 15),
        reason="  ongoing threat from the North  ",
    )
    second = services.protection_extend(
        actor=caseworker,
        case=open_case,
        decided_on=date(2029, 12, 1),
        new_end=date(2030, 7, 15),
        reason="court case pending",
    )
    assert (first.previous_end, first.new_end) == (date(2029, 1, 15), date(2030, 1, 15))
    assert (second.previous_end, second.new_end) == (date(2030, 1, 15), date(2030, 7, 15))
    assert first.reason == "ongoing threat from the North" and first.recorded_by == caseworker
    case = Case.objects.get(pk=open_case.pk)
    assert case.protection_end == date(2030, 7, 15) and case.version == 3
    assert ProtectionExtension.objects.filter(case=case).count() == 2
    assert AuditEvent.objects.filter(action="extend", object_type="protection").count() == 2


@pytest.mark.parametrize("new_end", [date(2029, 1, 15), date(2029, 1, 14), date(2025, 1, 1)])
def test_extension_must_end_after_the_current_end(
    caseworker: User, open_case: Case, new_end: date
) -> None:
    with pytest.raises(SaebomError) as error:
        services.protection_extend(
            actor=caseworker,
            case=open_case,
            decided_on=date(2028, 1, 1),
            new_end=new_end,
            reason="x",
        )
    assert field_of(error) == "new_end" and "2029-01-15" in str(error.value)
    assert not ProtectionExtension.objects.exists()
    assert Case.objects.get(pk=open_case.pk).protection_end == date(2029, 1, 15)


def test_extension_needs_a_reason_and_a_protection_period(
    caseworker: User, agency: Agency, open_case: Case
) -> None:
    with pytest.raises(SaebomError) as error:
        services.protection_extend(
            actor=caseworker,
            case=open_case,
            decided_on=date(2028, 1, 1),
            new_end=date(2031, 1, 1),
            reason="   ",
        )
    assert field_of(error) == "reason"
    unprotected = services.case_open(actor=caseworker, person=new_person(agency))
    with pytest.raises(Conflict):
        services.protection_extend(
            actor=caseworker,
            case=unprotected,
            decided_on=date(2028, 1, 1),
            new_end=date(2031, 1, 1),
            reason="x",
        )
    assert not ProtectionExtension.objects.exists()


# --- vocabulary, needs, services -------------------------------------------------------------


def test_unknown_codes_name_their_field(caseworker: User, open_case: Case) -> None:
    day = date(2025, 1, 1)
    attempts: list[tuple[str, Callable[[], object]]] = [
        (
            "kind",
            lambda: services.milestone_record(
                actor=caseworker, case=open_case, kind="graduation", reached_on=day
            ),
        ),
        ("kind", lambda: services.service_add(actor=caseworker, case=open_case, kind="massage")),
        (
            "domain",
            lambda: services.service_add(
                actor=caseworker, case=open_case, kind="counselling", domain="astrology"
            ),
        ),
        (
            "status",
            lambda: services.service_add(
                actor=caseworker, case=open_case, kind="counselling", status="dreaming"
            ),
        ),
        (
            "channel",
            lambda: services.followup_schedule(
                actor=caseworker, case=open_case, due_on=day, channel="pigeon"
            ),
        ),
        (
            "kind",
            lambda: services.officer_set(actor=caseworker, case=open_case, kind="spy", name="x"),
        ),
        (
            "relation",
            lambda: services.household_add(
                actor=caseworker, case=open_case, name="x", relation="cousin-ish", location="north"
            ),
        ),
        (
            "location",
            lambda: services.household_add(
                actor=caseworker, case=open_case, name="x", relation="child", location="moon"
            ),
        ),
        (
            "domain",
            lambda: services.goal_add(
                actor=caseworker, case=open_case, domain="fame", description="x"
            ),
        ),
        (
            "kind",
            lambda: services.payment_record(
                actor=caseworker, case=open_case, kind="lottery", amount_krw=1, paid_on=day
            ),
        ),
        (
            "economic_activity",
            lambda: services.outcome_record(
                actor=caseworker, case=open_case, year=2024, economic_activity="retired"
            ),
        ),
        (
            "employment_status",
            lambda: services.outcome_record(
                actor=caseworker,
                case=open_case,
                year=2024,
                economic_activity="employed",
                employment_status="freelancer",
            ),
        ),
        (
            "needs.stardust",
            lambda: services.assessment_record(
                actor=caseworker,
                case=open_case,
                assessed_on=day,
                needs=needs() | {"stardust": Need(1)},
            ),
        ),
    ]
    before = AuditEvent.objects.count()
    for field, attempt in attempts:
        with pytest.raises(SaebomError) as error:
            attempt()
        assert field_of(error) == field, error.value
        assert str(error.value).startswith(f"{field}: ")
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("severity", [-1, 4, 10])
def test_severity_outside_0_to_3_is_refused(
    caseworker: User, open_case: Case, severity: int
) -> None:
    with pytest.raises(SaebomError) as error:
        services.assessment_record(
            actor=caseworker,
            case=open_case,
            assessed_on=date(2025, 1, 1),
            needs=needs(housing=severity),
        )
    assert field_of(error) == "needs.housing" and str(severity) in str(error.value)
    assert not Assessment.objects.exists()


def test_assessment_must_cover_every_domain(caseworker: User, open_case: Case) -> None:
    partial = needs()
    del partial["safety"]
    with pytest.raises(SaebomError, match="safety") as error:
        services.assessment_record(
            actor=caseworker, case=open_case, assessed_on=date(2025, 1, 1), needs=partial
        )
    assert field_of(error) == "needs"


def test_latest_assessment_is_the_latest_by_date_not_by_entry(
    caseworker: User, open_case: Case
) -> None:
    march = services.assessment_record(
        actor=caseworker, case=open_case, assessed_on=date(2025, 3, 1), needs=needs(housing=3)
    )
    services.assessment_record(  # entered later, assessed earlier
        actor=caseworker, case=open_case, assessed_on=date(2025, 1, 1), needs=needs(housing=1)
    )
    case = Case.objects.get(pk=open_case.pk)
    assert case.latest_assessment_id == march.pk
    _, changes = selectors.needs_changes(case)
    housing = next(c for c in changes if c.domain == "housing")
    assert housing.severities == [1, 3] and housing.change == 2
    event = AuditEvent.objects.filter(object_type="assessment").latest("seq")
    assert not event.detail  # no severities in the log: auditors see no case content


def test_need_notes_are_encrypted(caseworker: User, open_case: Case) -> None:
    assessment = services.assessment_record(
        actor=caseworker,
        case=open_case,
        assessed_on=date(2025, 1, 1),
        needs=needs() | {"safety": Need(3, "followed by a man from Shenyang")},
    )
    score = assessment.scores.get(domain="safety")
    assert score.note == "followed by a man from Shenyang"
    raw = raw_column("support_needscore", "note", score.pk)
    assert raw.startswith("v1:") and "Shenyang" not in raw


def test_service_domain_follows_its_kind_unless_given(caseworker: User, open_case: Case) -> None:
    service = services.service_add(actor=caseworker, case=open_case, kind="job_placement")
    assert (service.domain, service.status, service.version) == ("employment", "planned", 1)
    other = services.service_add(
        actor=caseworker, case=open_case, kind="counselling", domain="family"
    )
    assert other.domain == "family"


def test_delivered_services_have_a_date_and_only_they(caseworker: User, open_case: Case) -> None:
    with pytest.raises(SaebomError) as error:
        services.service_add(
            actor=caseworker, case=open_case, kind="counselling", status="delivered"
        )
    assert field_of(error) == "delivered_on"
    with pytest.raises(SaebomError) as error:
        services.service_add(
            actor=caseworker, case=open_case, kind="counselling", delivered_on=date(2025, 1, 1)
        )
    assert field_of(error) == "delivered_on"
    service = services.service_add(actor=caseworker, case=open_case, kind="counselling")
    with pytest.raises(SaebomError):
        services.service_update(
            actor=caseworker, service=service, expected_version=1, status="delivered"
        )
    assert Service.objects.get().status == "planned"
    done = services.service_update(
        actor=caseworker,
        service=service,
        expected_version=1,
        status="delivered",
        delivered_on=date(2025, 2, 1),
    )
    assert (done.status, done.version) == ("delivered", 2)


def test_followup_assignee_must_work_for_the_lead_agency(
    caseworker: User, partner: User, open_case: Case
) -> None:
    with pytest.raises(SaebomError) as error:
        services.followup_schedule(
            actor=caseworker,
            case=open_case,
            due_on=date(2025, 1, 1),
            channel="phone",
            assigned_to=partner,
        )
    assert field_of(error) == "assigned_to"
    assert not FollowUp.objects.exists()


def test_followup_done_gets_a_date_and_an_encrypted_outcome(
    monkeypatch: pytest.MonkeyPatch, caseworker: User, open_case: Case
) -> None:
    monkeypatch.setattr(selectors, "today", lambda: date(2025, 5, 2))
    followup = services.followup_schedule(
        actor=caseworker, case=open_case, due_on=date(2025, 5, 1), channel="Visit"
    )
    assert followup.channel == "visit"
    done = services.followup_update(
        actor=caseworker,
        followup=followup,
        expected_version=1,
        status="done",
        outcome="  met at the Hana centre  ",
    )
    assert (done.status, done.done_on, done.outcome) == (
        "done",
        date(2025, 5, 2),
        "met at the Hana centre",
    )
    assert "Hana" not in raw_column("support_followup", "outcome", done.pk)


# --- caseload ----------------------------------------------------------------------------------

DAY = date(2025, 6, 1)


def _ending(end: date) -> date:
    """The protection start that makes five years end on ``end``."""
    return end.replace(year=end.year - 5)


@pytest.fixture
def caseload_world(
    caseworker: User,
    colleague: User,
    partner: User,
    agency: Agency,
    other_agency: Agency,
    open_case: Case,
    refer: Callable[..., object],
) -> dict[str, Case]:
    """Alice leads c1 (needs attention twice over) and c2 (protection ends in 90 days) and a
    closed c5; Dave leads c3 (ends in 91 days) and c4 (ended yesterday, one overdue follow-up).
    Beta leads its own case with an overdue follow-up, and has accepted a referral of c1."""
    alice, dave, bob = caseworker, colleague, partner
    c1 = open_case
    for due, status in [
        (date(2025, 5, 1), None),  # overdue
        (date(2025, 5, 31), None),  # overdue: due yesterday
        (DAY, None),  # due today: not overdue yet
        (date(2025, 4, 1), "done"),
        (date(2025, 4, 2), "missed"),
        (date(2025, 4, 3), "cancelled"),
    ]:
        followup = services.followup_schedule(actor=alice, case=c1, due_on=due, channel="phone")
        if status:
            services.followup_update(
                actor=alice, followup=followup, expected_version=1, status=status
            )
    services.assessment_record(
        actor=alice,
        case=c1,
        assessed_on=date(2025, 1, 1),
        needs=needs(legal=3, family=3),  # superseded: not counted
    )
    services.assessment_record(
        actor=alice,
        case=c1,
        assessed_on=date(2025, 3, 1),
        needs=needs(housing=2, employment=3, health=1, mental_health=2, language=3, safety=2),
    )
    services.assessment_record(  # entered last, dated earliest: not the latest
        actor=alice, case=c1, assessed_on=date(2024, 12, 1), needs=needs(education=3)
    )
    services.service_add(actor=alice, case=c1, kind="job_placement", status="in_progress")
    services.service_add(actor=alice, case=c1, kind="language_class")  # planned: answered
    services.service_add(  # delivered: no longer answers the need
        actor=alice, case=c1, kind="counselling", status="delivered", delivered_on=DAY
    )
    housing = services.service_add(actor=alice, case=c1, kind="housing_support")
    services.service_update(actor=alice, service=housing, expected_version=1, status="cancelled")
    services.service_add(  # active, but in another domain than its kind's
        actor=alice, case=c1, kind="counselling", domain="family"
    )
    # c1 unmet: housing (2, cancelled), mental_health (2, delivered), safety (2, none) = 3

    def open_for(actor: User, end: date, owner: Agency = agency) -> Case:
        return services.case_open(
            actor=actor, person=new_person(owner), protection_start=_ending(end)
        )

    c2 = open_for(alice, DAY + timedelta(days=90))
    c3 = open_for(dave, DAY + timedelta(days=91))
    c4 = open_for(dave, DAY - timedelta(days=1))
    services.followup_schedule(
        actor=dave, case=c4, due_on=date(2025, 1, 1), channel="phone", assigned_to=dave
    )
    c5 = open_for(alice, DAY + timedelta(days=10))
    services.followup_schedule(actor=alice, case=c5, due_on=date(2025, 1, 1), channel="phone")
    services.case_update(actor=alice, case=c5, expected_version=1, status="closed")
    beta = open_for(bob, DAY + timedelta(days=5), owner=other_agency)
    services.followup_schedule(actor=bob, case=beta, due_on=date(2025, 1, 1), channel="phone")
    services.referral_accept(actor=bob, referral=refer(c1))  # type: ignore[arg-type]
    return {"c1": c1, "c2": c2, "c3": c3, "c4": c4, "c5": c5, "beta": beta}


def _rows(cases: object) -> dict[str, tuple[int, int]]:
    return {c.public_id: (c.overdue_followups, c.unmet_needs) for c in cases}  # type: ignore[attr-defined]


def test_caseload_counts_per_case(caseworker: User, caseload_world: dict[str, Case]) -> None:
    w = caseload_world
    load = selectors.caseload(caseworker, day=DAY)
    assert [c.public_id for c in load] == [w[n].public_id for n in ("c4", "c2", "c3", "c1")]
    assert _rows(load) == {
        w["c1"].public_id: (2, 3),
        w["c2"].public_id: (0, 0),
        w["c3"].public_id: (0, 0),
        w["c4"].public_id: (1, 0),
    }
    assert {c.public_id: c.lead_username for c in load} == {
        w["c1"].public_id: "alice",
        w["c2"].public_id: "alice",
        w["c3"].public_id: "dave",
        w["c4"].public_id: "dave",
    }
    assert selectors.caseload_summary(load, DAY) == {
        "cases": 4,
        "with_overdue": 2,
        "with_unmet_needs": 1,
        "protection_ending": 1,
    }
    attention = selectors.caseload(caseworker, day=DAY, attention_only=True)
    assert {c.public_id for c in attention} == {w[n].public_id for n in ("c1", "c2", "c4")}
    summary = selectors.caseload_summary(load, DAY, with_attention=True)
    assert summary["needing_attention"] == 3 == attention.count()


def test_caseload_per_member(
    caseworker: User, colleague: User, caseload_world: dict[str, Case]
) -> None:
    w = caseload_world
    alices = selectors.caseload(caseworker, member=caseworker, day=DAY)
    assert {c.public_id for c in alices} == {w["c1"].public_id, w["c2"].public_id}
    assert selectors.caseload_summary(alices, DAY) == {
        "cases": 2,
        "with_overdue": 1,
        "with_unmet_needs": 1,
        "protection_ending": 1,
    }
    daves = selectors.caseload(caseworker, member=colleague, day=DAY)
    assert selectors.caseload_summary(daves, DAY) == {
        "cases": 2,
        "with_overdue": 1,
        "with_unmet_needs": 0,
        "protection_ending": 0,
    }


def test_caseload_is_the_agencys_own_cases_only(
    partner: User, caseworker: User, caseload_world: dict[str, Case]
) -> None:
    w = caseload_world
    load = selectors.caseload(partner, day=DAY)
    assert _rows(load) == {w["beta"].public_id: (1, 0)}  # not c1, referred to beta
    # Bob is a (partner) member of c1 too, but his caseload is his agency's cases.
    bobs = selectors.caseload(partner, member=partner, day=DAY)
    assert [c.public_id for c in bobs] == [w["beta"].public_id]
    assert not selectors.caseload(partner, member=caseworker, day=DAY).exists()


def test_a_new_service_meets_the_need_at_once(
    caseworker: User, caseload_world: dict[str, Case]
) -> None:
    c1 = caseload_world["c1"]
    services.service_add(actor=caseworker, case=c1, kind="safety_protection")
    services.service_add(actor=caseworker, case=c1, kind="housing_support", status="in_progress")
    load = selectors.caseload(caseworker, day=DAY)
    assert _rows(load)[c1.public_id] == (2, 1)  # mental_health only


def test_caseload_on_another_day(caseworker: User, caseload_world: dict[str, Case]) -> None:
    w = caseload_world
    later = DAY + timedelta(days=2)  # c1's follow-up due on DAY is now overdue; c3 ends in 89
    load = selectors.caseload(caseworker, day=later)
    assert _rows(load)[w["c1"].public_id] == (3, 3)
    assert selectors.caseload_summary(load, later)["protection_ending"] == 2


# --- benefits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("household", "amount"),
    [(1, 16 * M), (2, 20 * M), (3, 20 * M), (4, 20 * M), (5, 23 * M), (9, 23 * M)],
)
def test_shipped_2024_housing_subsidy(household: int, amount: int) -> None:
    rate = benefits.rate_for("housing_subsidy", 2024, household)
    assert rate is not None and rate.amount_krw == amount and rate.year == 2024


def test_no_rate_before_the_first_year() -> None:
    assert benefits.rate_for("housing_subsidy", 2023, 1) is None


def test_ledger_sums_payments_against_the_rate(caseworker: User, open_case: Case) -> None:
    case = services.case_update(
        actor=caseworker, case=open_case, expected_version=1, household_size=3
    )
    day = date(2024, 3, 1)
    for kind, amount in [
        ("housing_subsidy", 8 * M),
        ("housing_subsidy", 8 * M),
        ("housing_subsidy", -1 * M),  # a correction is a negative line
        ("incentive_training", 1 * M),
        ("incentive_employment", 2 * M),
        ("matched_savings", 300_000),
    ]:
        services.payment_record(
            actor=caseworker, case=case, kind=kind, amount_krw=amount, paid_on=day
        )
    lines = {line.rate_kind: line for line in benefits.ledger(case, 2024)}
    assert set(lines) == {
        "settlement_basic",
        "housing_subsidy",
        "incentives",
        "vulnerable_addition",
        "matched_savings_monthly",
    }
    housing = lines["housing_subsidy"]
    assert (housing.paid_krw, housing.rate.amount_krw, housing.remaining_krw) == (  # type: ignore[union-attr]
        15 * M,
        20 * M,
        5 * M,
    )
    incentives = lines["incentives"]
    assert (incentives.paid_krw, incentives.remaining_krw) == (3 * M, 22_100_000)
    assert lines["matched_savings_monthly"].paid_krw == 300_000
    assert lines["matched_savings_monthly"].remaining_krw is None  # a monthly rate has no cap
    assert lines["vulnerable_addition"].remaining_krw == 15_400_000
    # The shipped basic settlement money is for single-person households only.
    assert (
        lines["settlement_basic"].rate is None and lines["settlement_basic"].remaining_krw is None
    )
    # A later year without its own rates falls back to the latest before it.
    assert {ln.rate_kind: ln.remaining_krw for ln in benefits.ledger(case, 2026)} == {
        ln.rate_kind: ln.remaining_krw for ln in lines.values()
    }
    assert AuditEvent.objects.filter(object_type="benefit_payment").count() == 6


def test_payment_of_nothing_is_refused(caseworker: User, open_case: Case) -> None:
    with pytest.raises(SaebomError) as error:
        services.payment_record(
            actor=caseworker,
            case=open_case,
            kind="housing_subsidy",
            amount_krw=0,
            paid_on=date(2024, 1, 1),
        )
    assert field_of(error) == "amount_krw"


def operator_admin(make_staff: Callable[..., User]) -> User:
    """An administrator of the agency that runs the installation (it keeps the rates)."""
    return make_staff(Role.ADMIN, agency=AgencyFactory(code=OPERATOR_AGENCY_CODE))


def test_admin_keeps_the_rates_table(make_staff: Callable[..., User], caseworker: User) -> None:
    admin = operator_admin(make_staff)
    rate = benefits.rate_for("housing_subsidy", 2025, 1)
    assert rate is not None and rate.amount_krw == 16 * M
    services.benefit_rate_set(
        actor=admin,
        year=2025,
        kind="housing_subsidy",
        amount_krw=17 * M,
        household_min=1,
        household_max=1,
        source="MoU 2025",
    )
    assert benefits.rate_for("housing_subsidy", 2025, 1).amount_krw == 17 * M  # type: ignore[union-attr]
    assert benefits.rate_for("housing_subsidy", 2025, 3).amount_krw == 20 * M  # type: ignore[union-attr]
    assert benefits.rate_for("housing_subsidy", 2024, 1).amount_krw == 16 * M  # type: ignore[union-attr]
    services.benefit_rate_set(
        actor=admin,
        year=2025,
        kind="housing_subsidy",
        amount_krw=17_500_000,
        household_min=1,
        household_max=1,
    )
    assert BenefitRate.objects.filter(year=2025).count() == 1
    events = list(AuditEvent.objects.filter(object_type="benefit_rate").order_by("seq"))
    assert [(e.action, e.object_id) for e in events] == [
        ("create", "2025/housing_subsidy/1"),
        ("update", "2025/housing_subsidy/1"),
    ]
    # Reloading the shipped file keeps what the admin set.
    BenefitRate.objects.filter(year=2024, kind="housing_subsidy", household_min=1).update(
        amount_krw=1
    )
    benefits.load_shipped_rates(BenefitRate)
    assert benefits.rate_for("housing_subsidy", 2024, 1).amount_krw == 1  # type: ignore[union-attr]
    with pytest.raises(PermissionDenied):
        services.benefit_rate_set(actor=caseworker, year=2025, kind="incentives", amount_krw=1)
    with pytest.raises(PermissionDenied):  # an admin of another agency: national figures
        services.benefit_rate_set(
            actor=make_staff(Role.ADMIN), year=2025, kind="incentives", amount_krw=1
        )


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"kind": "bonus"}, "kind"),
        ({"amount_krw": 0}, "amount_krw"),
        ({"amount_krw": -5}, "amount_krw"),
        ({"household_min": 3, "household_max": 2}, "household_max"),
        ({"household_min": 0}, "household_max"),
    ],
)
def test_benefit_rate_validation(
    make_staff: Callable[..., User], values: dict[str, object], field: str
) -> None:
    arguments: dict[str, object] = {"year": 2025, "kind": "incentives", "amount_krw": 1} | values
    with pytest.raises(SaebomError) as error:
        services.benefit_rate_set(actor=operator_admin(make_staff), **arguments)  # type: ignore[arg-type]
    assert field_of(error) == field
    assert not BenefitRate.objects.filter(year=2025).exists()


# --- notes and other encrypted contents ------------------------------------------------------


def test_case_note_is_encrypted_at_rest(caseworker: User, open_case: Case) -> None:
    secret = "Her brother in Hyesan 혜산 still calls on Tuesdays"
    note = services.note_add(actor=caseworker, case=open_case, text=f"  {secret}  ")
    assert CaseNote.objects.get(pk=note.pk).text == secret
    raw = raw_column("support_casenote", "text", note.pk)
    assert raw.startswith("v1:")
    for fragment in ("Hyesan", "혜산", "brother", "Tuesdays"):
        assert fragment not in raw
    event = AuditEvent.objects.get(object_type="case_note")
    assert secret not in str(event.detail) and event.changed_fields == []
    with pytest.raises(SaebomError) as error:
        services.note_add(actor=caseworker, case=open_case, text="   ")
    assert field_of(error) == "text"


def test_household_and_officers_are_encrypted_at_rest(caseworker: User, open_case: Case) -> None:
    member = services.household_add(
        actor=caseworker,
        case=open_case,
        name="Kim Sun-hee",
        relation="sibling",
        location="north",
        birth_year=1988,
    )
    officer = services.officer_set(
        actor=caseworker,
        case=open_case,
        kind="personal",
        name="Officer Park",
        organisation="Yangcheon police",
        phone="010-9999-1234",
        email="park@example.kr",
    )
    assert "Sun-hee" not in raw_column("support_householdmember", "name", member.pk)
    for column, value in [
        ("name", "Park"),
        ("phone", "9999"),
        ("email", "example.kr"),
        ("organisation", "Yangcheon"),
    ]:
        assert value not in raw_column("support_protectionofficer", column, officer.pk)
    again = services.officer_set(
        actor=caseworker, case=open_case, kind="personal", name="Officer Lee"
    )
    assert again.pk == officer.pk and again.phone is None


# --- outcomes (records) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({}, "economic_activity"),
        ({"economic_activity": "employed"}, "employment_status"),
        (
            {"economic_activity": "inactive", "employment_status": "wage_earner"},
            "employment_status",
        ),
        (
            {
                "economic_activity": "employed",
                "employment_status": "self_employed",
                "monthly_wage_krw_10k": 200,
            },
            "monthly_wage_krw_10k",
        ),
        (
            {
                "economic_activity": "employed",
                "employment_status": "wage_earner",
                "monthly_wage_krw_10k": 100_000,
            },
            "monthly_wage_krw_10k",
        ),
        ({"economic_activity": "inactive", "life_satisfaction": 6}, "life_satisfaction"),
        ({"economic_activity": "inactive", "life_satisfaction": 0}, "life_satisfaction"),
    ],
)
def test_outcome_validation(
    caseworker: User, open_case: Case, values: dict[str, object], field: str
) -> None:
    with pytest.raises(SaebomError) as error:
        services.outcome_record(actor=caseworker, case=open_case, year=2024, **values)
    assert field_of(error) == field
    assert not Outcome.objects.exists()


def test_outcome_recorded_again_replaces_that_years(caseworker: User, open_case: Case) -> None:
    services.outcome_record(
        actor=caseworker,
        case=open_case,
        year=2024,
        economic_activity="unemployed",
        life_satisfaction=2,
    )
    services.outcome_record(
        actor=caseworker,
        case=open_case,
        year=2024,
        economic_activity="Employed",
        employment_status="wage_earner",
        monthly_wage_krw_10k=230,
    )
    outcome = Outcome.objects.get()
    assert (outcome.economic_activity, outcome.monthly_wage_krw_10k) == ("employed", 230)
    assert outcome.life_satisfaction == 2  # not named again: kept
    assert AuditEvent.objects.filter(object_type="outcome").count() == 2


# --- audit of every write ----------------------------------------------------------------------


def test_every_write_is_audited_and_the_chain_verifies(
    caseworker: User, colleague: User, make_staff: Callable[..., User], open_case: Case
) -> None:
    alice, case, day = caseworker, open_case, date(2025, 1, 2)
    steps: list[tuple[str, str, Callable[[], object]]] = [
        (
            "update",
            "case",
            lambda: services.case_update(
                actor=alice, case=case, expected_version=1, status="active"
            ),
        ),
        (
            "assign",
            "case_member",
            lambda: services.case_member_set(
                actor=alice, case=case, user=colleague, role="supervisor"
            ),
        ),
        (
            "unassign",
            "case_member",
            lambda: services.case_member_remove(actor=alice, case=case, user=colleague),
        ),
        (
            "record",
            "milestone",
            lambda: services.milestone_record(
                actor=alice, case=case, kind="hanawon_completion", reached_on=day
            ),
        ),
        (
            "extend",
            "protection",
            lambda: services.protection_extend(
                actor=alice, case=case, decided_on=day, new_end=date(2030, 1, 1), reason="r"
            ),
        ),
        (
            "record",
            "protection_officer",
            lambda: services.officer_set(actor=alice, case=case, kind="residence", name="n"),
        ),
        (
            "create",
            "household_member",
            lambda: services.household_add(
                actor=alice, case=case, name="n", relation="child", location="south"
            ),
        ),
        (
            "create",
            "assessment",
            lambda: services.assessment_record(
                actor=alice, case=case, assessed_on=day, needs=needs(housing=2)
            ),
        ),
        (
            "create",
            "goal",
            lambda: services.goal_add(
                actor=alice, case=case, domain="housing", description="a flat"
            ),
        ),
        (
            "update",
            "goal",
            lambda: services.goal_update(
                actor=alice, goal=case.goals.get(), expected_version=1, status="achieved"
            ),
        ),
        (
            "create",
            "service",
            lambda: services.service_add(actor=alice, case=case, kind="housing_support"),
        ),
        (
            "update",
            "service",
            lambda: services.service_update(
                actor=alice, service=case.services.get(), expected_version=1, status="in_progress"
            ),
        ),
        (
            "create",
            "followup",
            lambda: services.followup_schedule(actor=alice, case=case, due_on=day, channel="phone"),
        ),
        (
            "update",
            "followup",
            lambda: services.followup_update(
                actor=alice, followup=case.followups.get(), expected_version=1, status="done"
            ),
        ),
        ("create", "case_note", lambda: services.note_add(actor=alice, case=case, text="t")),
        (
            "consent",
            "case_notes_export",
            lambda: services.notes_export_consent_set(actor=alice, case=case, given_on=day),
        ),
        (
            "withdraw_consent",
            "case_notes_export",
            lambda: services.notes_export_consent_set(actor=alice, case=case, given_on=None),
        ),
        (
            "create",
            "benefit_payment",
            lambda: services.payment_record(
                actor=alice, case=case, kind="settlement_basic", amount_krw=M, paid_on=day
            ),
        ),
        (
            "record",
            "outcome",
            lambda: services.outcome_record(
                actor=alice, case=case, year=2024, economic_activity="inactive"
            ),
        ),
        (
            "view",
            "case",
            lambda: services.case_viewed(
                actor=alice, access=selectors.case_access(alice, case.public_id)
            ),
        ),
    ]
    for action, object_type, step in steps:
        before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        step()
        new = list(AuditEvent.objects.filter(seq__gt=before))
        assert [(e.action, e.object_type) for e in new] == [(action, object_type)]
        assert new[0].object_id == case.public_id and new[0].actor_name == "alice"
    result = audit_verify()
    assert result.ok and result.checked == AuditEvent.objects.count()


def test_refused_writes_leave_no_trace(caseworker: User, outsider: User, open_case: Case) -> None:
    before = AuditEvent.objects.count()
    with pytest.raises(NotFound):
        services.goal_add(actor=outsider, case=open_case, domain="housing", description="x")
    with pytest.raises(SaebomError):
        services.goal_add(actor=caseworker, case=open_case, domain="housing", description=" ")
    assert AuditEvent.objects.count() == before and not open_case.goals.exists()


def test_history_tables_keep_the_ciphertext_too(caseworker: User, open_case: Case) -> None:
    """Every edit leaves a history row: those must be as unreadable as the record."""
    service = services.service_add(
        actor=caseworker, case=open_case, kind="counselling", note="trauma from Camp 16"
    )
    member = services.household_add(
        actor=caseworker, case=open_case, name="Ri Chol-su", relation="parent", location="north"
    )
    goal = services.goal_add(
        actor=caseworker, case=open_case, domain="family", description="find Ri Chol-su"
    )
    for table, column, pk, secret in [
        ("support_historicalservice", "note", service.pk, "Camp 16"),
        ("support_historicalhouseholdmember", "name", member.pk, "Chol-su"),
        ("support_historicalgoal", "description", goal.pk, "Chol-su"),
    ]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
            rows = [str(row[0]) for row in cursor.fetchall()]
        assert rows and all(r.startswith("v1:") and secret not in r for r in rows), table


def test_audit_events_name_fields_never_values(caseworker: User, open_case: Case) -> None:
    """Auditors read the log but see no case: a relative in the North must not show in it."""
    services.household_add(
        actor=caseworker, case=open_case, name="김영희", relation="spouse", location="north"
    )
    services.service_add(actor=caseworker, case=open_case, kind="counselling")
    services.milestone_record(
        actor=caseworker, case=open_case, kind="first_job", reached_on=date(2024, 5, 1)
    )
    for event in AuditEvent.objects.filter(object_id=open_case.public_id):
        shown = " ".join([*event.changed_fields, str(event.detail)])
        for value in ("north", "spouse", "counselling", "first_job", "김영희"):
            assert value not in shown, (event.object_type, shown)
