"""The demo data match the Ministry's published figures."""

from __future__ import annotations

import collections

import pytest
from django.db.models import Count

from saebom.accounts.services import agency_ensure_default
from saebom.core.actors import system_actor
from saebom.demo.services import demo_arrivals_load
from saebom.demo.synthetic import AGE_GROUPS, cumulative_shares, reason_shares, synthetic_arrivals
from saebom.registry.interchange import ArrivalData
from saebom.registry.models import Arrival, Person
from saebom.registry.official import SHIPPED_SERIES, parse_series

SEED = 11


@pytest.fixture(scope="module")
def records() -> list[ArrivalData]:
    return synthetic_arrivals(SEED)


def official_by_year() -> dict[tuple[int, str], int]:
    """The series with the grouped periods kept grouped, keyed by their last year."""
    return {
        (row.last_year, sex): count
        for row in parse_series(SHIPPED_SERIES.read_bytes()).rows
        for sex, count in (("M", row.male), ("F", row.female))
    }


def group_year(year: int) -> int:
    return 1998 if year <= 1998 else 2001 if year <= 2001 else year


def share(items: list[str]) -> dict[str, float]:
    counts = collections.Counter(items)
    return {key: 100 * value / len(items) for key, value in counts.items()}


def assert_within_one_point(found: dict[str, float], published: dict[str, int]) -> None:
    total = sum(published.values())
    for code, count in published.items():
        assert abs(found.get(code, 0) - 100 * count / total) < 1.0, code


def test_counts_by_year_and_sex_equal_the_series(records: list[ArrivalData]) -> None:
    counts = collections.Counter((group_year(r.arrival.value.year), r.sex) for r in records)
    assert dict(counts) == official_by_year()
    assert len(records) == 34_537


def test_early_periods_are_spread_over_their_years(records: list[ArrivalData]) -> None:
    years = {r.arrival.value.year for r in records}
    assert {1999, 2000, 2001} <= years and len(years & set(range(1990, 1999))) > 3


def test_profiles_follow_the_ministrys_shares(records: list[ArrivalData]) -> None:
    def age_group(r: ArrivalData) -> str:
        age = r.arrival.value.year - (r.birth_year or 0)
        return next(
            g
            for g, (low, high) in AGE_GROUPS.items()
            if low <= age <= high or (g == "60+" and age >= 60)
        )

    assert_within_one_point(
        share([age_group(r) for r in records]), cumulative_shares("age_at_entry")
    )
    assert_within_one_point(share([r.occupation for r in records]), cumulative_shares("occupation"))
    assert_within_one_point(share([r.education for r in records]), cumulative_shares("education"))
    assert_within_one_point(share([r.reasons[0] for r in records]), reason_shares())


def test_2023_follows_its_published_profile(records: list[ArrivalData]) -> None:
    arrivals_2023 = [r for r in records if r.arrival.value.year == 2023]
    provinces = share([r.origin_province for r in arrivals_2023])
    assert 11 <= provinces["pyongyang"] <= 14
    border = provinces["ryanggang"] + provinces["north_hamgyong"] + provinces["south_hamgyong"]
    assert 65 <= border <= 75
    direct = [r for r in arrivals_2023 if r.left_north and r.left_north.value.year == 2023]
    assert 0 < len(direct) < 10
    assert sum(1 for r in arrivals_2023 if r.sex == "F") == 164


def test_elite_arrivals_are_few_and_peak_in_2023(records: list[ArrivalData]) -> None:
    elite = collections.Counter(
        r.arrival.value.year for r in records if r.elite_category not in ("", "none")
    )
    assert elite[2023] == 10 and elite[2024] < 10 and elite[2025] < elite[2024]
    assert sum(elite.values()) - elite[2023] - elite[2024] - elite[2025] > 0


def test_same_seed_same_data_and_names_from_name_parts() -> None:
    first, second = synthetic_arrivals(5)[:500], synthetic_arrivals(5)[:500]
    assert first == second
    assert synthetic_arrivals(6)[:500] != first
    assert all(2 <= len(r.name_ko) <= 4 and " " in r.name_en for r in first)


@pytest.mark.django_db
def test_loaded_demo_counts_from_the_database_equal_the_series() -> None:
    agency_ensure_default(actor=system_actor())
    assert demo_arrivals_load(actor=system_actor(), seed=SEED) == 34_537
    counts: collections.Counter[tuple[int, str]] = collections.Counter()
    for item in Arrival.objects.values("arrival_year", "sex").annotate(n=Count("id")):
        counts[(group_year(item["arrival_year"]), item["sex"])] += item["n"]
    assert dict(counts) == official_by_year()
    assert not Arrival.objects.filter(is_synthetic=False).exists()
    assert not Person.objects.filter(is_synthetic=False).exists()
    assert demo_arrivals_load(actor=system_actor(), seed=SEED) == 0  # once per installation
    # the statistics module's own report, and the trend facts, on the demo data
    from saebom.stats.reports import arrivals_report, ministry_layout
    from saebom.stats.series import registry_series
    from saebom.stats.trends import check_claim, trend_facts

    report = arrivals_report(actor=system_actor(), by="year,sex")
    assert {(r.keys[0], r.keys[1]): r.count for r in report.rows} == {
        (str(year) if year > 2001 else "~1998" if year == 1998 else "1999-2001", sex): n
        for (year, sex), n in official_by_year().items()
    }
    layout = {row.period: row.cumulative for row in ministry_layout(report)}
    assert layout["2023"] == 34_078 and layout["2025"] == 34_537
    facts = trend_facts(registry_series(system_actor()), 2023, baseline=(2017, 2019)).as_json()
    assert (
        round(facts["ratio_to_previous"], 2) == 2.93
        and round(facts["ratio_to_baseline"], 2) == 0.18
    )
    verdict = check_claim(registry_series(system_actor()), 2023, "tripled", baseline=(2017, 2019))
    assert [f.supported for f in verdict.findings] == [True, False]
