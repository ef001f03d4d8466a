"""Trend facts and headline claims (issue 4, item 4): pure functions, no database."""

from __future__ import annotations

import csv
import dataclasses
from functools import cache
from pathlib import Path

import pytest

from saebom.core.exceptions import SaebomError
from saebom.stats.series import YearCount
from saebom.stats.trends import check_claim, format_text, trend_facts

OFFICIAL_CSV = (
    Path(__file__).resolve().parents[2]
    / "src"
    / "saebom"
    / "registry"
    / "data"
    / "mou-arrivals-by-year.csv"
)

JSON_KEYS = [
    "year",
    "total",
    "previous_year",
    "previous_total",
    "ratio_to_previous",
    "baseline",
    "baseline_mean",
    "ratio_to_baseline",
    "highest_since",
    "lowest_since",
    "rank",
    "rank_of",
    "cagr_3y",
    "cagr_5y",
    "female_share",
    "female_share_change",
]


@cache
def official() -> tuple[YearCount, ...]:
    with OFFICIAL_CSV.open(encoding="utf-8") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return tuple(
            YearCount(
                period=row["period"],
                first_year=int(row["first_year"]) if row["first_year"] else None,
                last_year=int(row["last_year"]),
                male=int(row["male"]),
                female=int(row["female"]),
            )
            for row in rows
        )


def run(start: int, *totals: int) -> list[YearCount]:
    """Single years from ``start`` with these totals (half women, rounded down)."""
    return [
        YearCount(str(start + i), start + i, start + i, total - total // 2, total // 2)
        for i, total in enumerate(totals)
    ]


GROUPED = YearCount("1999-2001", 1999, 2001, 5000, 5000)


# --- the official series: the acceptance figures ---------------------------------------


def test_official_series_is_parsed_as_published() -> None:
    series = official()
    assert [yc.period for yc in series[:3]] == ["~1998", "1999-2001", "2002"]
    assert not series[0].is_single_year and not series[1].is_single_year
    assert sum(yc.total for yc in series if yc.last_year <= 2023) == 34_078


def test_official_2023_against_2022() -> None:
    facts = trend_facts(official(), 2023)
    assert (facts.total, facts.previous_year, facts.previous_total) == (196, 2022, 67)
    assert facts.ratio_to_previous is not None
    assert round(facts.ratio_to_previous, 2) == 2.93
    assert facts.as_json()["ratio_to_previous"] == 2.9254
    assert facts.baseline is None and facts.baseline_mean is None
    assert facts.ratio_to_baseline is None


def test_official_2023_against_the_2017_2019_mean() -> None:
    facts = trend_facts(official(), 2023, baseline=(2017, 2019))
    assert facts.baseline == "2017-2019"
    assert facts.baseline_mean == pytest.approx((1127 + 1137 + 1047) / 3)
    assert facts.ratio_to_baseline is not None
    assert round(facts.ratio_to_baseline, 2) == 0.18
    data = facts.as_json()
    assert data["baseline_mean"] == 1103.6667
    assert data["ratio_to_baseline"] == 0.1776


def test_official_2023_place_in_the_series() -> None:
    facts = trend_facts(official(), 2023)
    assert facts.highest_since == 2020  # 229 in 2020; 2021 (63) and 2022 (67) lower
    assert facts.lowest_since == 2022
    assert (facts.rank, facts.rank_of) == (22, 24)


def test_official_2023_growth_and_female_share() -> None:
    facts = trend_facts(official(), 2023)
    assert facts.cagr_3y == pytest.approx((196 / 229) ** (1 / 3) - 1)
    assert facts.cagr_5y == pytest.approx((196 / 1137) ** (1 / 5) - 1)
    assert facts.female_share == pytest.approx(164 / 196)
    assert facts.female_share_change == pytest.approx((164 / 196 - 32 / 67) * 100)
    assert facts.female_share is not None
    assert round(facts.female_share * 100, 1) == 83.7  # the MoU briefing's 83.7% women


def test_official_2023_tripled_against_2022_not_against_the_baseline() -> None:
    verdict = check_claim(official(), 2023, "tripled", baseline=(2017, 2019))
    assert verdict.claim == "tripled"
    assert verdict.supported is True
    against_2022, against_baseline = verdict.findings
    assert against_2022.against == "2022"
    assert against_2022.supported is True
    assert against_2022.ratio is not None and round(against_2022.ratio, 2) == 2.93
    assert "2.93×" in against_2022.explanation
    assert against_baseline.against == "2017-2019 mean"
    assert against_baseline.supported is False
    assert against_baseline.ratio is not None and round(against_baseline.ratio, 2) == 0.18
    assert "0.18×" in against_baseline.explanation


def test_official_grouped_periods_are_never_used() -> None:
    series = official()
    facts_2002 = trend_facts(series, 2002)
    assert facts_2002.previous_year is None  # 2001 is only inside 1999-2001
    assert facts_2002.previous_total is None
    assert facts_2002.highest_since is None and facts_2002.lowest_since is None
    assert facts_2002.rank_of == 24  # 2002-2025, not the two grouped rows
    with pytest.raises(SaebomError, match="2000"):
        trend_facts(series, 2000)
    with pytest.raises(SaebomError, match="1999, 2000, 2001"):
        trend_facts(series, 2023, baseline=(1999, 2003))
    with pytest.raises(SaebomError, match="2001"):
        check_claim(series, 2009, "highest since 2001")


def test_official_2024_is_not_exponential_but_a_single_jump() -> None:
    verdict = check_claim(official(), 2024, "exponential")
    assert verdict.supported is False
    (finding,) = verdict.findings
    assert finding.against == "2021-2024 year on year"
    assert "single jump" in finding.explanation
    assert "2023" in finding.explanation


def test_official_2023_is_not_exponential_two_years_of_growth() -> None:
    verdict = check_claim(official(), 2023, "exponential")
    assert verdict.supported is False
    assert "only 2 consecutive years" in verdict.findings[0].explanation


def test_official_records() -> None:
    assert check_claim(official(), 2009, "record").supported is True
    surpassed = check_claim(official(), 2008, "record")
    assert surpassed.supported is False
    assert "2009 (2,914) later surpassed it" in surpassed.findings[0].explanation
    assert check_claim(official(), 2023, "record").supported is False


def test_official_2023_text_in_english() -> None:
    facts = trend_facts(official(), 2023, baseline=(2017, 2019))
    verdict = check_claim(official(), 2023, "tripled", baseline=(2017, 2019))
    lines = format_text(facts, verdict).splitlines()
    assert lines[:7] == [
        "2023: 196 arrivals",
        "2.93× 2022 (67), up 129",
        "0.18× the 2017-2019 mean (1,104)",
        "highest since 2020",
        "rank 22 of 24 single years",
        "compound annual growth -5.1% over 3 years, -29.6% over 5 years",
        "female share 83.7% (+35.9 points on 2022)",
    ]
    assert lines[7] == "claim “tripled”: supported"
    assert lines[8].startswith("- supported against 2022: ")
    assert lines[9].startswith("- not supported against 2017-2019 mean: ")


def test_official_2023_text_in_korean() -> None:
    facts = trend_facts(official(), 2023, baseline=(2017, 2019))
    verdict = check_claim(official(), 2023, "tripled", baseline=(2017, 2019))
    lines = format_text(facts, verdict, lang="ko").splitlines()
    assert lines[:7] == [
        "2023년 입국자 196명",
        "2022년(67명)의 2.93배, 129명 증가",
        "2017-2019년 평균(1,104명)의 0.18배",
        "2020년 이후 최고",
        "단일 연도 24개 중 22위",
        "연평균 증감률 3년 -5.1%, 5년 -29.6%",
        "여성 비율 83.7% (전년 대비 +35.9%p)",
    ]
    assert lines[7] == "주장 ‘세 배 증가’: 뒷받침됨"
    assert lines[8].startswith("- 뒷받침됨: ") and "2.93배" in lines[8]
    assert lines[9].startswith("- 뒷받침되지 않음: ") and "0.18배" in lines[9]


# --- facts on small series ---------------------------------------------------------------------


def test_first_year_of_the_series_has_no_previous_year() -> None:
    facts = trend_facts(run(2010, 100, 200, 300), 2010)
    assert facts.previous_year is None
    assert facts.previous_total is None
    assert facts.ratio_to_previous is None
    assert facts.female_share_change is None
    assert facts.highest_since is None and facts.lowest_since is None
    assert facts.cagr_3y is None and facts.cagr_5y is None
    assert (facts.rank, facts.rank_of) == (3, 3)


def test_grouped_period_before_the_first_single_year_is_ignored() -> None:
    series = [GROUPED, *run(2002, 100, 150)]
    facts = trend_facts(series, 2003)
    assert facts.highest_since is None  # 10,000 in 1999-2001 does not count
    assert facts.lowest_since == 2002
    assert (facts.rank, facts.rank_of) == (1, 2)


def test_ratio_to_a_year_with_no_arrivals_is_none() -> None:
    series = [YearCount("2010", 2010, 2010, 0, 0), *run(2011, 40)]
    facts = trend_facts(series, 2011)
    assert facts.previous_total == 0
    assert facts.ratio_to_previous is None
    assert facts.female_share == 0.5
    assert facts.female_share_change is None
    empty = trend_facts(series, 2010)
    assert empty.female_share is None


def test_record_year_is_highest_since_nothing() -> None:
    facts = trend_facts(run(2010, 300, 100, 200, 400, 50), 2013)
    assert facts.highest_since is None
    assert facts.lowest_since == 2012
    assert facts.rank == 1
    assert "higher than every earlier single year" in format_text(facts).splitlines()


def test_all_time_low_is_lowest_since_nothing() -> None:
    facts = trend_facts(run(2010, 300, 100, 200, 50), 2013)
    assert facts.lowest_since is None
    assert facts.highest_since == 2012
    assert facts.rank == 4
    assert "lower than every earlier single year" in format_text(facts).splitlines()


def test_highest_and_lowest_since_take_the_latest_year_at_least_as_high_or_low() -> None:
    #              2010 2011 2012 2013 2014 2015
    series = run(2010, 500, 300, 100, 200, 150, 300)
    facts = trend_facts(series, 2015)
    assert facts.highest_since == 2011  # equal counts: highest since 2011, not 2010
    assert facts.lowest_since == 2014
    assert "highest since 2011" in format_text(facts).splitlines()
    falling = trend_facts(series, 2014)
    assert falling.highest_since == 2013
    assert falling.lowest_since == 2012
    assert "lowest since 2012" in format_text(falling).splitlines()


def test_rank_counts_the_whole_series_and_ties_share_a_rank() -> None:
    series = run(2010, 100, 300, 300, 200, 400)
    assert [trend_facts(series, y).rank for y in range(2010, 2015)] == [5, 2, 2, 4, 1]


def test_compound_annual_growth_over_three_and_five_years() -> None:
    series = run(2010, 100, 100, 100, 100, 100, 243)
    facts = trend_facts(series, 2015)
    assert facts.cagr_3y == pytest.approx(2.43 ** (1 / 3) - 1)
    assert facts.cagr_5y == pytest.approx(2.43**0.2 - 1)
    short = trend_facts(series, 2014)
    assert short.cagr_3y == pytest.approx(0.0)
    assert short.cagr_5y is None


def test_compound_growth_from_zero_is_none() -> None:
    series = [YearCount("2010", 2010, 2010, 0, 0), *run(2011, 10, 20, 40)]
    assert trend_facts(series, 2013).cagr_3y is None


def test_female_share_and_its_change_in_points() -> None:
    series = [YearCount("2020", 2020, 2020, 60, 40), YearCount("2021", 2021, 2021, 25, 75)]
    facts = trend_facts(series, 2021)
    assert facts.female_share == pytest.approx(0.75)
    assert facts.female_share_change == pytest.approx(35.0)
    assert "female share 75.0% (+35.0 points on 2020)" in format_text(facts).splitlines()


def test_baseline_mean_and_ratio() -> None:
    series = run(2010, 100, 200, 300, 50)
    facts = trend_facts(series, 2013, baseline=(2010, 2012))
    assert facts.baseline == "2010-2012"
    assert facts.baseline_mean == 200
    assert facts.ratio_to_baseline == 0.25
    single = trend_facts(series, 2013, baseline=(2011, 2011))
    assert single.baseline == "2011"
    assert single.baseline_mean == 200
    assert single.ratio_to_baseline == 0.25


@pytest.mark.parametrize(
    ("baseline", "message"),
    [
        ((2012, 2010), "backwards"),
        ((2005, 2007), "2005, 2006, 2007"),
        ((2012, 2014), "2014"),
    ],
)
def test_baseline_outside_the_series_is_an_error(baseline: tuple[int, int], message: str) -> None:
    with pytest.raises(SaebomError, match=message) as raised:
        trend_facts(run(2010, 100, 200, 300), 2012, baseline=baseline)
    assert raised.value.field == "baseline"


def test_unknown_year_is_an_error() -> None:
    with pytest.raises(SaebomError, match=r"2030.*2010-2012") as raised:
        trend_facts(run(2010, 100, 200, 300), 2030)
    assert raised.value.field == "year"
    with pytest.raises(SaebomError, match="none"):
        trend_facts([], 2020)


def test_as_json_has_the_documented_keys_and_rounds_floats() -> None:
    facts = trend_facts(run(2010, 3, 7, 9), 2012, baseline=(2010, 2011))
    data = facts.as_json()
    assert list(data) == JSON_KEYS
    assert data["ratio_to_previous"] == 1.2857  # 9 / 7
    assert data["ratio_to_baseline"] == 1.8
    assert data["baseline_mean"] == 5.0
    assert data["female_share"] == 0.4444  # 4 / 9
    assert data["previous_year"] == 2011
    assert data["highest_since"] is None


def test_facts_are_frozen() -> None:
    facts = trend_facts(run(2010, 100), 2010)
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.total = 5  # type: ignore[misc]


# --- claims on small series --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "current", "supported"),
    [
        ("doubled", 195, True),
        ("doubled", 194, False),
        ("doubled", 300, True),
        ("tripled", 285, True),
        ("tripled", 284, False),
        ("halved", 55, True),
        ("halved", 56, False),
        ("surge", 150, True),
        ("surge", 149, False),
    ],
)
def test_ratio_claims_at_their_thresholds(claim: str, current: int, supported: bool) -> None:
    verdict = check_claim(run(2020, 100, current), 2021, claim)
    assert verdict.supported is supported
    (finding,) = verdict.findings
    assert finding.against == "2020"
    assert finding.supported is supported
    assert finding.ratio == pytest.approx(current / 100)
    assert f"“{claim}”" in finding.explanation


def test_halved_overall_follows_the_previous_year_and_reports_the_baseline_apart() -> None:
    series = run(2018, 1000, 1000, 100, 150)
    verdict = check_claim(series, 2021, "halved", baseline=(2018, 2019))
    assert verdict.supported is False
    previous, baseline = verdict.findings
    assert (previous.against, previous.supported) == ("2020", False)
    assert previous.ratio == pytest.approx(1.5)
    assert (baseline.against, baseline.supported) == ("2018-2019 mean", True)
    assert baseline.ratio == pytest.approx(0.15)
    assert "at most 0.55×" in baseline.explanation


def test_ratio_claim_without_a_previous_year_is_not_supported() -> None:
    verdict = check_claim(run(2020, 100, 300), 2020, "tripled")
    assert verdict.supported is False
    (finding,) = verdict.findings
    assert finding.against == "2019"
    assert finding.ratio is None
    assert "no single-year figure for 2019" in finding.explanation


def test_ratio_claim_against_zero_is_not_supported() -> None:
    series = [YearCount("2020", 2020, 2020, 0, 0), *run(2021, 10)]
    verdict = check_claim(series, 2021, "surge")
    assert verdict.supported is False
    assert verdict.findings[0].ratio is None
    assert "no arrivals" in verdict.findings[0].explanation


def test_record_claims() -> None:
    series = run(2010, 100, 400, 200, 400, 500, 300)
    assert check_claim(series, 2014, "record").supported is True
    assert check_claim(series, 2014, "record").findings[0].ratio == pytest.approx(500 / 400)
    tied = check_claim(run(2010, 400, 200, 400), 2012, "record")
    assert tied.supported is False
    assert "only equals 2010" in tied.findings[0].explanation
    surpassed = check_claim(series, 2011, "record")  # a record in 2011, beaten in 2014
    assert surpassed.supported is False
    assert "later surpassed" in surpassed.findings[0].explanation
    alone = check_claim(run(2010, 100), 2010, "record")
    assert alone.supported is False


def test_exponential_on_steady_growth() -> None:
    verdict = check_claim(run(2010, 100, 200, 400, 800), 2013, "exponential")
    assert verdict.supported is True
    (finding,) = verdict.findings
    assert finding.against == "2010-2013 year on year"
    assert finding.ratio == pytest.approx(2.0)
    assert "3 years in a row" in finding.explanation


def test_exponential_on_rising_growth_rates() -> None:
    verdict = check_claim(run(2010, 100, 110, 132, 198), 2013, "exponential")  # 1.1, 1.2, 1.5
    assert verdict.supported is True


def test_exponential_rejects_a_single_jump() -> None:
    verdict = check_claim(run(2010, 100, 101, 102, 300), 2013, "exponential")
    assert verdict.supported is False
    assert "single jump" in verdict.findings[0].explanation
    assert "2013" in verdict.findings[0].explanation


def test_exponential_rejects_fading_growth() -> None:
    verdict = check_claim(run(2010, 100, 300, 600, 660), 2013, "exponential")  # 3, 2, 1.1
    assert verdict.supported is False
    assert "slowed from 2.00× to 1.10×" in verdict.findings[0].explanation


def test_exponential_needs_three_consecutive_years_of_growth() -> None:
    verdict = check_claim(run(2010, 100, 50, 100, 200), 2013, "exponential")
    assert verdict.supported is False
    assert "only 2 consecutive years" in verdict.findings[0].explanation
    short = check_claim(run(2011, 100, 200, 400), 2013, "exponential")
    assert short.supported is False
    assert short.findings[0].ratio is None
    assert "2010" in short.findings[0].explanation


SINCE = run(2010, 500, 300, 100, 200, 250)  # 2014: higher than 2012-2013, lower than 2011


def test_highest_since_the_exact_year() -> None:
    verdict = check_claim(SINCE, 2014, "highest since 2011")
    assert verdict.supported is True
    (finding,) = verdict.findings
    assert finding.against == "2012-2013"
    assert finding.ratio == pytest.approx(250 / 200)
    assert "exactly the highest since 2011" in finding.explanation


def test_highest_since_a_later_year_holds_but_understates() -> None:
    verdict = check_claim(SINCE, 2014, "Highest  Since 2012")
    assert verdict.claim == "highest since 2012"
    assert verdict.supported is True
    assert "understates" in verdict.findings[0].explanation
    assert "highest since 2011" in verdict.findings[0].explanation
    just_before = check_claim(SINCE, 2014, "highest since 2013")
    assert just_before.supported is True
    assert just_before.findings[0].against == "2013"


def test_highest_since_an_earlier_year_overstates() -> None:
    verdict = check_claim(SINCE, 2014, "highest since 2010")
    assert verdict.supported is False
    assert verdict.findings[0].against == "2011-2013"
    assert "2011 (300)" in verdict.findings[0].explanation
    assert "highest only since 2011" in verdict.findings[0].explanation


def test_a_year_that_fell_is_not_the_highest_since_anything() -> None:
    verdict = check_claim(SINCE, 2012, "highest since 2011")
    assert verdict.supported is False
    assert "not higher than 2011" in verdict.findings[0].explanation


def test_highest_since_a_year_outside_the_series_or_after_it_is_an_error() -> None:
    with pytest.raises(SaebomError, match="before 2014"):
        check_claim(SINCE, 2014, "highest since 2014")
    with pytest.raises(SaebomError, match="2005") as raised:
        check_claim(SINCE, 2014, "highest since 2005")
    assert raised.value.field == "claim"


def test_unknown_claim_lists_the_accepted_ones() -> None:
    with pytest.raises(SaebomError) as raised:
        check_claim(SINCE, 2014, "skyrocketed")
    message = raised.value.message
    for word in ("doubled", "tripled", "halved", "surge", "record", "exponential", "highest since"):
        assert word in message
    assert raised.value.field == "claim"


def test_verdict_as_json() -> None:
    verdict = check_claim(run(2020, 3, 7), 2021, "doubled")
    assert verdict.as_json() == {
        "claim": "doubled",
        "supported": True,
        "findings": [
            {
                "against": "2020",
                "ratio": 2.3333,
                "supported": True,
                "explanation": "2021 (7) is 2.33× 2020 (3), and “doubled” needs at least 1.95×.",
                "explanation_ko": verdict.findings[0].explanation_ko,
            }
        ],
    }
    assert "2.33배" in verdict.findings[0].explanation_ko


# --- text --------------------------------------------------------------------------------------


def test_text_without_baseline_or_verdict() -> None:
    facts = trend_facts(run(2020, 100, 100), 2021)
    text = format_text(facts)
    assert text.splitlines()[1] == "1.00× 2020 (100), unchanged"
    assert "mean" not in text
    assert "claim" not in text
    # equal to the year before: neither "highest since" nor "lowest since" says anything
    assert "since" not in text


def test_text_for_the_first_year_and_a_fall() -> None:
    series = run(2020, 300, 100)
    first = format_text(trend_facts(series, 2020)).splitlines()
    assert first[1] == "no single-year figure for 2019"
    assert format_text(trend_facts(series, 2020), lang="ko").splitlines()[1] == (
        "2019년 단일 연도 수치 없음"
    )
    fall = trend_facts(series, 2021)
    assert format_text(fall).splitlines()[1] == "0.33× 2020 (300), down 200"
    assert format_text(fall, lang="ko").splitlines()[1] == "2020년(300명)의 0.33배, 200명 감소"


def test_text_in_korean_for_claims() -> None:
    facts = trend_facts(SINCE, 2014)
    verdict = check_claim(SINCE, 2014, "highest since 2011")
    lines = format_text(facts, verdict, lang="ko").splitlines()
    assert "2011년 이후 최고" in lines
    assert "주장 ‘2011년 이후 최고’: 뒷받침됨" in lines
    exponential = check_claim(run(2010, 100, 200, 400, 800), 2013, "exponential")
    ko = format_text(trend_facts(run(2010, 100, 200, 400, 800), 2013), exponential, lang="ko")
    assert "주장 ‘기하급수적 증가’: 뒷받침됨" in ko.splitlines()


def test_text_in_an_unknown_language_is_an_error() -> None:
    with pytest.raises(SaebomError, match="en or ko"):
        format_text(trend_facts(run(2020, 100), 2020), lang="fr")
