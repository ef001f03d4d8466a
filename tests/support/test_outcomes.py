"""Outcome indicators on hand-built outcome records, checked against values worked out by hand,
and the disclosure control that withholds small groups."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from decimal import Decimal

import pytest
from django.conf import settings

from saebom.accounts.models import Agency, User
from saebom.core.exceptions import PermissionDenied
from saebom.core.policy import Role
from saebom.support import outcomes, services
from saebom.support.models import Case, Outcome
from saebom.support.outcomes import OutcomeReport, outcome_indicators
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def caseworker(make_staff: Callable[..., User]) -> User:
    """Alice of conftest, without password hashing or TOTP: these tests never sign in."""
    return make_staff(username="alice")


# (economic activity, employment status, monthly wage, life satisfaction, discrimination)
Row = tuple[str, str, int | None, int | None, bool | None]


def add(agency: Agency, year: int, rows: Iterable[Row]) -> None:
    """One case (and person) per outcome record, led by ``agency``."""
    for activity, status, wage, satisfaction, discrimination in rows:
        case = Case.objects.create(
            person=PersonFactory(), lead_agency=agency, opened_on=date(year - 1, 1, 1)
        )
        Outcome.objects.create(
            case=case,
            year=year,
            economic_activity=activity,
            employment_status=status,
            monthly_wage_krw_10k=wage,
            life_satisfaction=satisfaction,
            experienced_discrimination=discrimination,
        )


def employed(wage: int | None = None, sat: int | None = None, disc: bool | None = None) -> Row:
    return ("employed", "wage_earner", wage, sat, disc)


def other(activity: str, sat: int | None = None, disc: bool | None = None) -> Row:
    return (activity, "", None, sat, disc)


def withheld() -> str:
    """What a withheld figure shows, in the active language."""
    return str(outcomes.WITHHELD)


def values(report: OutcomeReport) -> dict[str, Decimal | None]:
    return {i.code: i.value for i in report.indicators}


def shown(report: OutcomeReport) -> dict[str, str]:
    return {i.code: i.shown for i in report.indicators}


# Alpha's 20 respondents of 2023, worked out by hand:
#   employed 10 (8 wage earners with a wage, 1 without, 1 self-employed), unemployed 5, inactive 5
#   participation (10 + 5) / 20 = 75.0 %; employment 10 / 20 = 50.0 %; unemployment 5 / 15 = 33.3 %
#   wage (150 + 200 + 250 + 300 + 180 + 220 + 260 + 240) / 8 = 1800 / 8 = 225.0
#   satisfied (4 or 5): 10 of the 16 who answered = 62.5 %
#   discrimination: 6 yes of the 18 who answered = 33.3 %
ALPHA_2023: list[Row] = [
    employed(150, 5, True),
    employed(200, 4, False),
    employed(250, 4, False),
    employed(300, 5, True),
    employed(180, 3, False),
    employed(220, 2, False),
    employed(260, None, False),
    employed(240, 4, None),
    employed(None, 4, False),  # a wage earner who gave no wage: not in the mean
    ("employed", "self_employed", None, 5, True),  # not a wage earner
    other("unemployed", 1, True),
    other("unemployed", 3, True),
    other("unemployed", 4, False),
    other("unemployed", None, False),
    other("unemployed", 5, False),
    other("inactive", 3, False),
    other("inactive", 2, True),
    other("inactive", None, False),
    other("inactive", None, None),
    other("inactive", 4, False),
]
# Beta's 5 of 2023: all employed wage earners (300 + 310 + 320 + 330 + 340 = 1600), all very
# satisfied, none discriminated against.
BETA_2023: list[Row] = [employed(w, 5, False) for w in (300, 310, 320, 330, 340)]


@pytest.fixture
def world(agency: Agency, other_agency: Agency) -> None:
    add(agency, 2023, ALPHA_2023)
    add(other_agency, 2023, BETA_2023)
    add(agency, 2022, [other("unemployed", 1, True)] * 6)  # another year: never counted


def test_indicators_match_the_hand_computed_values(world: None, caseworker: User) -> None:
    report = outcome_indicators(caseworker, year=2023)
    assert report.respondents == "20" and report.k == 5 and report.year == 2023
    assert values(report) == {
        "participation_rate": Decimal("75.0"),
        "employment_rate": Decimal("50.0"),
        "unemployment_rate": Decimal("33.3"),
        "monthly_wage": Decimal("225.0"),
        "life_satisfaction": Decimal("62.5"),
        "experienced_discrimination": Decimal("33.3"),
    }
    assert shown(report)["unemployment_rate"] == "33.3"


def test_national_figures_stand_beside_them(world: None, caseworker: User) -> None:
    report = outcome_indicators(caseworker, year=2023)
    national = {i.code: i.national for i in report.indicators}
    assert national == {
        "participation_rate": Decimal("63.4"),
        "employment_rate": Decimal("60.5"),
        "unemployment_rate": Decimal("4.5"),
        "monthly_wage": Decimal("245.7"),
        "life_satisfaction": Decimal("79.3"),
        "experienced_discrimination": Decimal("16.1"),
    }
    assert report.national_status == "reported"


def test_statistician_sees_every_agency_together(
    world: None, make_staff: Callable[..., User], agency: Agency
) -> None:
    statistician = make_staff(Role.STATISTICIAN)
    # Alpha and beta together: 25 respondents, employed 15, unemployed 5, inactive 5.
    #   participation 20/25 = 80.0; employment 15/25 = 60.0; unemployment 5/20 = 25.0
    #   wage (1800 + 1600) / 13 = 261.538... -> 261.5; satisfied 15/21 = 71.43 -> 71.4
    #   discrimination 6/23 = 26.09 -> 26.1
    both = outcome_indicators(statistician, year=2023)
    assert both.respondents == "25"
    assert values(both) == {
        "participation_rate": Decimal("80.0"),
        "employment_rate": Decimal("60.0"),
        "unemployment_rate": Decimal("25.0"),
        "monthly_wage": Decimal("261.5"),
        "life_satisfaction": Decimal("71.4"),
        "experienced_discrimination": Decimal("26.1"),
    }


def test_caseworker_aggregates_their_own_agency_only(
    world: None, partner: User, agency: Agency
) -> None:
    report = outcome_indicators(partner, year=2023)  # beta's 5
    assert report.respondents == "5"
    assert values(report)["monthly_wage"] == Decimal("320.0")


def test_auditor_may_not_aggregate(make_staff: Callable[..., User]) -> None:
    with pytest.raises(PermissionDenied):
        outcome_indicators(make_staff(Role.AUDITOR), year=2023)


def test_year_without_records(caseworker: User) -> None:
    report = outcome_indicators(caseworker, year=2030)
    assert report.respondents == "0" and report.national_status == ""
    assert all(i.value is None and i.shown == "—" for i in report.indicators)
    assert all(i.national is None for i in report.indicators)


def test_mean_wage_rounds_half_up_on_every_database(agency: Agency, caseworker: User) -> None:
    # 19 x 250 + 257 = 5007 over 20 wage earners = 250.35 exactly -> 250.4 (half up). A float
    # average reads 250.35 as 250.34999... and would give 250.3.
    add(agency, 2024, [employed(250)] * 19 + [employed(257)])
    assert values(outcome_indicators(caseworker, year=2024))["monthly_wage"] == Decimal("250.4")


# --- disclosure control ----------------------------------------------------------------------


def test_small_group_is_withheld_whole(agency: Agency, caseworker: User) -> None:
    add(agency, 2023, [employed(200, 5, False)] * 3 + [other("unemployed", 2, True)])
    report = outcome_indicators(caseworker, year=2023)
    assert report.respondents == "<5"
    assert all(i.value is None and i.shown == withheld() for i in report.indicators)


def test_the_threshold_comes_from_the_settings(
    agency: Agency, caseworker: User, settings: object
) -> None:
    add(agency, 2023, [employed(200, 5, False)] * 3 + [other("unemployed", 2, True)] * 3)
    assert outcome_indicators(caseworker, year=2023).respondents == "6"
    settings.SAEBOM_STATS_MIN_CELL = 7  # type: ignore[attr-defined]
    strict = outcome_indicators(caseworker, year=2023)
    assert strict.k == 7 and strict.respondents == "<7"
    assert all(i.shown == withheld() for i in strict.indicators)
    settings.SAEBOM_STATS_MIN_CELL = 3  # type: ignore[attr-defined]
    report = outcome_indicators(caseworker, year=2023)
    assert report.k == 3 and report.respondents == "6"
    # participation 6/6, employment 3/6, unemployment 3/6, wage 200 over 3 earners
    assert values(report)["employment_rate"] == Decimal("50.0")
    assert values(report)["unemployment_rate"] == Decimal("50.0")
    assert values(report)["monthly_wage"] == Decimal("200.0")


def test_a_single_unemployed_person_is_withheld_and_cannot_be_worked_out(
    agency: Agency, caseworker: User
) -> None:
    # 13 respondents: employed 6, unemployed 1, inactive 6.
    add(
        agency,
        2023,
        [employed(200)] * 6 + [other("unemployed")] + [other("inactive")] * 6,
    )
    report = outcome_indicators(caseworker, year=2023)
    assert report.respondents == "13"
    published = {i.code for i in report.indicators if i.value is not None}
    assert "unemployment_rate" not in published
    assert shown(report)["unemployment_rate"] == withheld()
    # With the respondents, the employment rate gives the employed and the participation rate
    # the economically active: their difference is the unemployed person. Never both.
    assert not {"employment_rate", "participation_rate"} <= published
    assert published & {"employment_rate", "participation_rate"}  # not withheld wholesale


@pytest.mark.parametrize(
    ("rows", "hidden"),
    [
        # The rest of the base is small: 18 of 20 employed tells about the other 2.
        (
            [employed(200)] * 18 + [other("inactive")] * 2,
            {"employment_rate", "participation_rate"},
        ),
        # Four wage earners with a wage among 10 employed: no mean over fewer than k.
        (
            [employed(200)] * 4 + [employed(None)] * 6 + [other("inactive")] * 5,
            {"monthly_wage"},
        ),
        # 17 of 20 satisfied: the 3 who are not would be exposed.
        (
            [employed(200, 5)] * 17 + [other("inactive", 1)] * 3,
            {"life_satisfaction"},
        ),
        # 2 of 10 who answered experienced discrimination.
        (
            [employed(200, disc=True)] * 2 + [other("inactive", disc=False)] * 8,
            {"experienced_discrimination"},
        ),
    ],
)
def test_small_cells_withheld(
    agency: Agency, caseworker: User, rows: list[Row], hidden: set[str]
) -> None:
    add(agency, 2023, rows)
    report = outcome_indicators(caseworker, year=2023)
    for code in hidden:
        assert shown(report)[code] == withheld(), code
        assert values(report)[code] is None


def test_recorded_through_the_service(caseworker: User, open_case: Case, agency: Agency) -> None:
    services.outcome_record(
        actor=caseworker,
        case=open_case,
        year=2025,
        economic_activity="employed",
        employment_status="wage_earner",
        monthly_wage_krw_10k=240,
        life_satisfaction=4,
        experienced_discrimination=False,
    )
    add(agency, 2025, [employed(260, 4, False)] * 4)
    report = outcome_indicators(caseworker, year=2025)
    assert report.respondents == "5"
    assert values(report)["monthly_wage"] == Decimal("256.0")  # (240 + 4 x 260) / 5
    assert report.k == settings.SAEBOM_STATS_MIN_CELL == 5


def test_rates_of_0_or_100_percent_are_withheld(agency: Agency, caseworker: User) -> None:
    """All employed, none discriminated against: the rate would tell each person's answer."""
    add(agency, 2022, [employed(200, 4, False) for _ in range(8)])
    report = outcome_indicators(caseworker, year=2022)
    assert shown(report)["employment_rate"] == withheld()
    assert shown(report)["experienced_discrimination"] == withheld()
    assert shown(report)["life_satisfaction"] == withheld()  # all 8 satisfied
    assert values(report)["monthly_wage"] == Decimal("200.0")  # a mean over 8 earners is fine
    assert not report.synthetic
    Case.objects.filter(lead_agency=agency).update(is_synthetic=True)
    assert outcome_indicators(caseworker, year=2022).synthetic  # and the page says so
