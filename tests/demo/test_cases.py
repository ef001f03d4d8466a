"""Synthetic demo cases: one per recent arrival, consistent, and marked synthetic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from saebom.accounts.models import Agency, User
from saebom.core.actors import system_actor
from saebom.core.policy import Role
from saebom.demo.cases import FIRST_YEAR, demo_cases_load
from saebom.support import selectors
from saebom.support.models import Case, FollowUp, NeedScore, Outcome, Service
from tests.factories import ArrivalFactory

TODAY = date(2026, 11, 30)


@pytest.fixture
def arrivals(agency: Agency) -> None:
    for n, year in enumerate([2018, 2019, *[2020, 2021, 2022, 2023, 2024, 2025] * 5]):
        ArrivalFactory(
            agency=agency,
            arrival_year=year,
            arrival_date=date(year, 1 + n % 12, 10),
            birth_year=year - (10 if n % 7 == 0 else 30),
        )


@pytest.mark.usefixtures("arrivals")
def test_demo_cases_follow_recent_arrivals(agency: Agency, make_user: Callable[..., User]) -> None:
    lead = make_user(Role.CASEWORKER, username="demo_caseworker")
    created = demo_cases_load(actor=system_actor(), agency=agency, lead=lead, seed=3, today=TODAY)
    cases = Case.objects.filter(lead_agency=agency)
    assert created == cases.count() == 30  # one per arrival since FIRST_YEAR, none before
    assert not cases.filter(person__arrivals__arrival_year__lt=FIRST_YEAR).exists()
    assert not cases.filter(is_synthetic=False).exists()
    for case in cases:
        assert case.protection_start is not None and case.protection_end is not None
        assert (case.status == Case.Status.CLOSED) == (case.protection_end < TODAY)
        assert case.latest_assessment is not None
        assert NeedScore.objects.filter(assessment=case.latest_assessment).count() == 11
    delivered = Service.objects.filter(case__in=cases, status="delivered")
    assert not delivered.filter(delivered_on=None).exists()
    assert not Service.objects.exclude(status="delivered").exclude(delivered_on=None).exists()
    # outcomes only for people of survey age, only for years after arrival
    for outcome in Outcome.objects.select_related("case__person"):
        arrival = outcome.case.person.arrivals.get()
        assert outcome.year > arrival.arrival_year
        assert arrival.arrival_year - arrival.birth_year >= 15
        assert (outcome.monthly_wage_krw_10k is not None) <= (
            outcome.employment_status == "wage_earner"
        )
    summary = selectors.caseload_summary(selectors.caseload(lead, day=TODAY), TODAY)
    assert summary["cases"] == cases.exclude(status=Case.Status.CLOSED).count()
    open_cases = cases.exclude(status=Case.Status.CLOSED)
    overdue = {
        f.case_id
        for f in FollowUp.objects.filter(case__in=open_cases)
        if f.status == "scheduled" and f.due_on < TODAY
    }
    assert summary["with_overdue"] == len(overdue)
    assert summary["with_unmet_needs"] > 0  # one high need in five is left unanswered
    assert demo_cases_load(actor=system_actor(), agency=agency, lead=lead, seed=3, today=TODAY) == 0
