"""Synthetic resettlement cases for the demo: the people who arrived in the last years, followed
through Hanawon and protection, with needs, services, follow-ups and yearly outcomes whose rates
are drawn around the Korea Hana Foundation's published figures. Nobody here is a real person.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta

from django.db import transaction
from simple_history.utils import bulk_create_with_history

from saebom.accounts.models import Agency, User
from saebom.core import vocab
from saebom.core.actors import Actor
from saebom.core.audit import audit_record
from saebom.registry.models import Arrival
from saebom.support.models import (
    Assessment,
    Case,
    CaseMember,
    FollowUp,
    Milestone,
    NeedScore,
    Outcome,
    Service,
    new_case_id,
)
from saebom.support.outcomes import national_figures
from saebom.support.rules import SERVICE_DOMAIN
from saebom.support.services import protection_end_for

FIRST_YEAR = 2020  # arrivals from here on are (mostly) still in their protection period
HANAWON_WEEKS = 12
SEVERITY_WEIGHTS = (40, 30, 20, 10)  # 0 none .. 3 critical
CHANNELS = ("phone", "visit", "office", "online")


def _pick_severity(rng: random.Random) -> int:
    return rng.choices(range(4), weights=SEVERITY_WEIGHTS)[0]


def _unique_ids(count: int) -> list[str]:
    ids: set[str] = set()
    while len(ids) < count:
        ids.add(new_case_id())
    return list(ids)


def demo_cases_load(*, actor: Actor, agency: Agency, lead: User, seed: int, today: date) -> int:
    """Cases for the agency's arrivals since 2020, once (a re-run keeps the first ones)."""
    if Case.objects.filter(lead_agency=agency).exists():
        return 0
    arrivals = list(
        Arrival.objects.filter(agency=agency, arrival_year__gte=FIRST_YEAR, person__case=None)
        .select_related("person")
        .order_by("arrival_date", "pk")
    )
    rng = random.Random(seed)
    with transaction.atomic():
        cases = _cases(arrivals, agency, rng, today)
        _members(cases, lead, rng)
        _milestones(cases, arrivals, rng, today)
        _needs_and_services(cases, rng, today)
        _followups(cases, lead, rng, today)
        _outcomes(cases, arrivals, rng, today)
        audit_record(
            actor=actor,
            action="import",
            object_type="case",
            agency_code=agency.code,
            detail={"synthetic": True, "seed": seed, "created": len(cases)},
        )
    return len(cases)


def _cases(
    arrivals: Sequence[Arrival], agency: Agency, rng: random.Random, today: date
) -> list[Case]:
    cases = []
    for arrival, public_id in zip(arrivals, _unique_ids(len(arrivals)), strict=True):
        start = arrival.arrival_date + timedelta(weeks=HANAWON_WEEKS + rng.randint(2, 6))
        start = min(start, today)
        ended = protection_end_for(start) < today
        cases.append(
            Case(
                public_id=public_id,
                person=arrival.person,
                lead_agency=agency,
                status=Case.Status.CLOSED
                if ended
                else rng.choice(("active", "active", "open", "on_hold")),
                opened_on=arrival.arrival_date,
                closed_on=protection_end_for(start) if ended else None,
                protection_start=start,
                protection_end=protection_end_for(start),
                household_size=rng.choices((1, 2, 3, 4, 5), weights=(55, 20, 15, 7, 3))[0],
                is_synthetic=True,
            )
        )
    return bulk_create_with_history(cases, Case, batch_size=500)


def _members(cases: Sequence[Case], lead: User, rng: random.Random) -> None:
    CaseMember.objects.bulk_create(
        CaseMember(case=case, user=lead, role=CaseMember.Role.LEAD)
        for case in cases
        if rng.random() < 0.5
    )


def _milestones(
    cases: Sequence[Case], arrivals: Sequence[Arrival], rng: random.Random, today: date
) -> None:
    rows = []
    for case, arrival in zip(cases, arrivals, strict=True):
        entry = arrival.arrival_date + timedelta(days=rng.randint(20, 60))
        steps = [
            ("hanawon_entry", entry),
            ("hanawon_completion", entry + timedelta(weeks=HANAWON_WEEKS)),
            ("resident_registration", entry + timedelta(weeks=HANAWON_WEEKS, days=2)),
            ("housing_assigned", entry + timedelta(weeks=HANAWON_WEEKS, days=rng.randint(3, 20))),
            ("hana_center_course", entry + timedelta(weeks=HANAWON_WEEKS + 2)),
        ]
        if rng.random() < 0.6:
            steps.append(("first_job", entry + timedelta(days=rng.randint(200, 900))))
        rows += [
            Milestone(case=case, kind=kind, reached_on=day) for kind, day in steps if day <= today
        ]
    bulk_create_with_history(rows, Milestone, batch_size=1000)


def _needs_and_services(cases: Sequence[Case], rng: random.Random, today: date) -> None:
    domains = vocab.codes("need_domain")
    kinds_of = {d: [k for k, v in SERVICE_DOMAIN.items() if v == d] for d in domains}
    assessments = Assessment.objects.bulk_create(
        Assessment(
            case=case, assessed_on=min(case.protection_start + timedelta(days=30 * n), today)
        )
        for case in cases
        for n in range(rng.randint(1, 3))
        if case.protection_start is not None
    )
    scores, latest = [], {}
    for assessment in assessments:
        latest[assessment.case_id] = assessment
        scores += [
            NeedScore(assessment=assessment, domain=d, severity=_pick_severity(rng))
            for d in domains
        ]
    NeedScore.objects.bulk_create(scores, batch_size=2000)
    for case in cases:
        if case.pk in latest:
            case.latest_assessment = latest[case.pk]
    Case.objects.bulk_update(cases, ["latest_assessment"], batch_size=500)
    services = []
    for score in scores:
        if score.severity < 2 or not kinds_of[score.domain] or rng.random() < 0.2:
            continue  # about one high need in five is left without a service: the caseload shows it
        case = score.assessment.case
        status = rng.choice(("planned", "in_progress", "delivered"))
        start = score.assessment.assessed_on
        services.append(
            Service(
                case=case,
                kind=rng.choice(kinds_of[score.domain]),
                domain=score.domain,
                status=status,
                due_on=start + timedelta(days=rng.randint(14, 120)),
                delivered_on=min(start + timedelta(days=rng.randint(14, 120)), today)
                if status == "delivered"
                else None,
            )
        )
    bulk_create_with_history(services, Service, batch_size=1000)


def _followups(cases: Sequence[Case], lead: User, rng: random.Random, today: date) -> None:
    rows = []
    for case in cases:
        if case.status == Case.Status.CLOSED:
            continue
        for _ in range(rng.randint(1, 3)):
            due = today + timedelta(days=rng.randint(-45, 90))
            done = due < today and rng.random() < 0.7
            rows.append(
                FollowUp(
                    case=case,
                    due_on=due,
                    channel=rng.choice(CHANNELS),
                    assigned_to=lead,
                    status="done" if done else "scheduled",
                    done_on=due if done else None,
                )
            )
    bulk_create_with_history(rows, FollowUp, batch_size=1000)


def _outcomes(
    cases: Sequence[Case], arrivals: Sequence[Arrival], rng: random.Random, today: date
) -> None:
    """One record a year after arrival, drawn around the published national rates."""
    rows = []
    for case, arrival in zip(cases, arrivals, strict=True):
        if arrival.birth_year and arrival.arrival_year - arrival.birth_year < 15:
            continue  # the survey covers people aged 15 and over
        for year in range(arrival.arrival_year + 1, today.year):
            rows.append(_outcome(case, year, rng))
    bulk_create_with_history(rows, Outcome, batch_size=1000)


def _outcome(case: Case, year: int, rng: random.Random) -> Outcome:
    national = national_figures().get(year) or national_figures()[max(national_figures())]
    participation = float(national["participation_rate_pct"] or 63) / 100
    unemployment = float(national["unemployment_rate_pct"] or 6) / 100
    wage = float(national["monthly_wage_krw_10k"] or 240)
    if rng.random() >= participation:
        activity, status, monthly = "inactive", "", None
    elif rng.random() < unemployment:
        activity, status, monthly = "unemployed", "", None
    else:
        activity = "employed"
        status = rng.choices(
            ("wage_earner", "self_employed", "unpaid_family"), weights=(85, 12, 3)
        )[0]
        monthly = max(50, round(rng.gauss(wage, wage * 0.3))) if status == "wage_earner" else None
    return Outcome(
        case=case,
        year=year,
        economic_activity=activity,
        employment_status=status,
        monthly_wage_krw_10k=monthly,
        life_satisfaction=rng.choices((1, 2, 3, 4, 5), weights=(4, 6, 12, 45, 33))[0],
        experienced_discrimination=rng.random() < 0.17,
    )
