"""Trend facts: what one year's arrivals mean next to the previous year, a baseline and the whole
series, and whether a headline word ("tripled", "record", "exponential"...) is supported.

Pure functions over a yearly series (:class:`saebom.stats.series.YearCount`, increasing
``last_year``); no database. Only single years count: grouped periods (``~1998``, ``1999-2001``)
are skipped and never named in a fact, a ratio or a comparison.

Definitions (``year`` is the year asked about, ``total`` its total):

- ``previous_year`` / ``previous_total``: ``year - 1`` when the series has it as a single year.
- ``ratio_to_previous``: ``total / previous_total``; ``ratio_to_baseline``: ``total /
  baseline_mean``, the mean of the totals of every year of the baseline range. A ratio to zero is
  ``None``.
- ``highest_since``: the latest earlier single year whose total is ``>= total`` ("the highest since
  2020": every year after 2020 was lower, 2020 was not). ``None`` when no earlier single year was as
  high: a record so far (or the first year of the series). ``lowest_since`` mirrors it with ``<=``.
- ``rank``: 1 + the number of single years of the whole series with a higher total (ties share a
  rank); ``rank_of``: the number of single years.
- ``cagr_3y`` / ``cagr_5y``: ``(total / total[year - n]) ** (1 / n) - 1``, ``None`` when
  ``year - n`` is missing or zero.
- ``female_share``: ``female / total``; ``female_share_change``: its change from the previous
  year in percentage points.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields

from saebom.core.exceptions import SaebomError
from saebom.stats.series import YearCount

JSONScalar = int | float | str | bool | None

# Headline words that compare a ratio with a threshold: (at least?, threshold).
RATIO_CLAIMS: dict[str, tuple[bool, float]] = {
    "doubled": (True, 1.95),
    "tripled": (True, 2.85),
    "halved": (False, 0.55),
    "surge": (True, 1.5),
}
ACCEPTED_CLAIMS = (*RATIO_CLAIMS, "record", "exponential", "highest since YEAR")
CLAIM_NAMES_KO = {
    "doubled": "두 배 증가",
    "tripled": "세 배 증가",
    "halved": "절반으로 감소",
    "surge": "급증",
    "record": "사상 최대",
    "exponential": "기하급수적 증가",
}

# "exponential": the last EXPONENTIAL_STEPS year-on-year steps must all grow, no step's growth
# rate may fall below FADE_LIMIT times the step before (steady or rising), and no single step may
# carry more than JUMP_SHARE of the growth in log terms (not one jump).
EXPONENTIAL_STEPS = 3
FADE_LIMIT = 0.5
JUMP_SHARE = 0.75

_HIGHEST_SINCE = re.compile(r"highest since (\d{4})")


@dataclass(frozen=True)
class TrendFacts:
    """The facts about one year; see the module docstring for each definition."""

    year: int
    total: int
    previous_year: int | None
    previous_total: int | None
    ratio_to_previous: float | None
    baseline: str | None
    baseline_mean: float | None
    ratio_to_baseline: float | None
    highest_since: int | None
    lowest_since: int | None
    rank: int
    rank_of: int
    cagr_3y: float | None
    cagr_5y: float | None
    female_share: float | None
    female_share_change: float | None

    def as_json(self) -> dict[str, JSONScalar]:
        """The fields by name, floats rounded to 4 decimals."""
        return {f.name: _round(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class ClaimFinding:
    """One comparison behind a verdict. ``ratio`` is the year's total over the figure compared
    with (for "exponential", the average year-on-year factor)."""

    against: str
    ratio: float | None
    supported: bool
    explanation: str
    explanation_ko: str

    def as_json(self) -> dict[str, JSONScalar]:
        return {f.name: _round(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class ClaimVerdict:
    claim: str
    supported: bool
    findings: tuple[ClaimFinding, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "claim": self.claim,
            "supported": self.supported,
            "findings": [finding.as_json() for finding in self.findings],
        }


def trend_facts(
    series: Sequence[YearCount], year: int, *, baseline: tuple[int, int] | None = None
) -> TrendFacts:
    """The facts about ``year`` in ``series``, optionally against the mean of the baseline years
    (inclusive range). Raises :class:`SaebomError` when ``year`` or a baseline year is not a single
    year of the series."""
    singles = _single_years(series)
    current = _require_year(singles, year)
    total = current.total
    previous = singles.get(year - 1)
    previous_total = previous.total if previous is not None else None

    baseline_label: str | None = None
    baseline_mean: float | None = None
    if baseline is not None:
        baseline_label, baseline_mean = _baseline(singles, baseline)

    earlier = [y for y in sorted(singles) if y < year]
    highest_since = next((y for y in reversed(earlier) if singles[y].total >= total), None)
    lowest_since = next((y for y in reversed(earlier) if singles[y].total <= total), None)

    female_share = current.female / total if total else None
    previous_share = previous.female / previous.total if previous and previous.total else None
    share_change = (
        (female_share - previous_share) * 100
        if female_share is not None and previous_share is not None
        else None
    )
    return TrendFacts(
        year=year,
        total=total,
        previous_year=previous.last_year if previous is not None else None,
        previous_total=previous_total,
        ratio_to_previous=_ratio(total, previous_total),
        baseline=baseline_label,
        baseline_mean=baseline_mean,
        ratio_to_baseline=_ratio(total, baseline_mean),
        highest_since=highest_since,
        lowest_since=lowest_since,
        rank=1 + sum(1 for yc in singles.values() if yc.total > total),
        rank_of=len(singles),
        cagr_3y=_cagr(singles, year, 3),
        cagr_5y=_cagr(singles, year, 5),
        female_share=female_share,
        female_share_change=share_change,
    )


def check_claim(
    series: Sequence[YearCount],
    year: int,
    claim: str,
    *,
    baseline: tuple[int, int] | None = None,
) -> ClaimVerdict:
    """Whether the data support a headline word about ``year``.

    Claims (case and spacing do not matter):

    - ``doubled`` (ratio >= 1.95), ``tripled`` (>= 2.85), ``halved`` (<= 0.55), ``surge``
      (>= 1.5): one finding against the previous year, which decides the verdict, and one against
      the baseline mean when a baseline is given, reported alongside ("tripled" 2023: supported
      against 2022 at 2.93×, not against the 2017-2019 mean at 0.18×). Without a previous year the
      claim is not supported.
    - ``record``: strictly higher than every other single year of the whole series (later years
      included; a tie is not a record).
    - ``exponential``: the last 3 year-on-year steps ending at ``year`` all grow (factor > 1),
      growth does not fade (each step's rate ``factor - 1`` is at least half the step before), and
      no single step carries more than 3/4 of the growth in log terms (one jump is not exponential).
    - ``highest since YEAR``: ``YEAR`` must be a single year of the series before ``year``. The
      claim is supported when ``year``'s total is strictly higher than every single year after
      ``YEAR`` and before ``year`` (or than ``YEAR`` itself when there is none between), so a year
      that did not rise above the year before is never "the highest since" anything. It is exact
      when ``YEAR`` equals :attr:`TrendFacts.highest_since`; a later ``YEAR`` is supported but
      understated (the explanation says so); an earlier one overstates and is not supported.

    Unknown words raise :class:`SaebomError` listing the accepted ones.
    """
    words = " ".join(claim.lower().split())
    since = _HIGHEST_SINCE.fullmatch(words)
    if words not in RATIO_CLAIMS and words not in ("record", "exponential") and since is None:
        raise SaebomError(
            f"Unknown claim “{claim}”: accepted claims are {', '.join(ACCEPTED_CLAIMS)}.",
            field="claim",
        )
    facts = trend_facts(series, year, baseline=baseline)
    singles = _single_years(series)
    findings: tuple[ClaimFinding, ...]
    if words in RATIO_CLAIMS:
        findings = _ratio_findings(facts, words)
    elif words == "record":
        findings = (_record_finding(facts, singles),)
    elif words == "exponential":
        findings = (_exponential_finding(facts, singles),)
    else:
        assert since is not None
        findings = (_highest_since_finding(facts, singles, int(since.group(1))),)
    return ClaimVerdict(claim=words, supported=findings[0].supported, findings=findings)


def format_text(facts: TrendFacts, verdict: ClaimVerdict | None = None, lang: str = "en") -> str:
    """A short block, one fact per line, in English (``en``) or Korean (``ko``)."""
    if lang not in ("en", "ko"):
        raise SaebomError(f"Unknown language “{lang}”: use en or ko.", field="lang")
    ko = lang == "ko"
    year, total, before = facts.year, facts.total, facts.year - 1
    lines = [f"{year}년 입국자 {total:,}명" if ko else f"{year}: {total:,} arrivals"]

    if facts.previous_total is None:
        lines.append(
            f"{before}년 단일 연도 수치 없음" if ko else f"no single-year figure for {before}"
        )
    else:
        diff = total - facts.previous_total
        ratio = facts.ratio_to_previous
        if ko:
            change = f"{abs(diff):,}명 {'증가' if diff > 0 else '감소'}" if diff else "변동 없음"
            times = f"의 {ratio:.2f}배" if ratio is not None else ""
            lines.append(f"{before}년({facts.previous_total:,}명){times}, {change}")
        else:
            change = f"{'up' if diff > 0 else 'down'} {abs(diff):,}" if diff else "unchanged"
            times = f"{ratio:.2f}× " if ratio is not None else ""
            lines.append(f"{times}{before} ({facts.previous_total:,}), {change}")

    if facts.baseline is not None and facts.baseline_mean is not None:
        mean = _number(facts.baseline_mean)
        ratio = facts.ratio_to_baseline
        if ko:
            times = f"의 {ratio:.2f}배" if ratio is not None else ""
            lines.append(f"{facts.baseline}년 평균({mean}명){times}")
        else:
            times = f"{ratio:.2f}× " if ratio is not None else ""
            lines.append(f"{times}the {facts.baseline} mean ({mean})")

    since_line = _since_line(facts, ko)
    if since_line:
        lines.append(since_line)
    lines.append(
        f"단일 연도 {facts.rank_of}개 중 {facts.rank}위"
        if ko
        else f"rank {facts.rank} of {facts.rank_of} single years"
    )

    growth = [(n, rate) for n, rate in ((3, facts.cagr_3y), (5, facts.cagr_5y)) if rate is not None]
    if growth:
        if ko:
            lines.append("연평균 증감률 " + ", ".join(f"{n}년 {r * 100:+.1f}%" for n, r in growth))
        else:
            parts = ", ".join(f"{r * 100:+.1f}% over {n} years" for n, r in growth)
            lines.append(f"compound annual growth {parts}")

    if facts.female_share is not None:
        share = f"{facts.female_share * 100:.1f}%"
        change_points = facts.female_share_change
        if ko:
            extra = f" (전년 대비 {change_points:+.1f}%p)" if change_points is not None else ""
            lines.append(f"여성 비율 {share}{extra}")
        else:
            extra = (
                f" ({change_points:+.1f} points on {before})" if change_points is not None else ""
            )
            lines.append(f"female share {share}{extra}")

    if verdict is not None:
        if ko:
            status = "뒷받침됨" if verdict.supported else "뒷받침되지 않음"
            lines.append(f"주장 ‘{_claim_name_ko(verdict.claim)}’: {status}")
            for finding in verdict.findings:
                mark = "뒷받침됨" if finding.supported else "뒷받침되지 않음"
                lines.append(f"- {mark}: {finding.explanation_ko}")
        else:
            status = "supported" if verdict.supported else "not supported"
            lines.append(f"claim “{verdict.claim}”: {status}")
            for finding in verdict.findings:
                mark = "supported" if finding.supported else "not supported"
                lines.append(f"- {mark} against {finding.against}: {finding.explanation}")
    return "\n".join(lines)


# --- facts helpers -------------------------------------------------------------------------------


def _single_years(series: Sequence[YearCount]) -> dict[int, YearCount]:
    return {yc.last_year: yc for yc in series if yc.is_single_year}


def _span(singles: dict[int, YearCount]) -> str:
    if not singles:
        return "none"
    return f"{min(singles)}-{max(singles)}"


def _require_year(singles: dict[int, YearCount], year: int) -> YearCount:
    if year not in singles:
        raise SaebomError(
            f"No single-year figure for {year}: trend facts cover the series' single years "
            f"({_span(singles)}).",
            field="year",
        )
    return singles[year]


def _baseline(singles: dict[int, YearCount], baseline: tuple[int, int]) -> tuple[str, float]:
    first, last = baseline
    if first > last:
        raise SaebomError(
            f"Baseline {first}-{last} runs backwards: give the earlier year first.",
            field="baseline",
        )
    missing = [y for y in range(first, last + 1) if y not in singles]
    if missing:
        raise SaebomError(
            f"Baseline {first}-{last} is outside the series: no single-year figure for "
            f"{', '.join(map(str, missing))} (single years {_span(singles)}).",
            field="baseline",
        )
    totals = [singles[y].total for y in range(first, last + 1)]
    label = str(first) if first == last else f"{first}-{last}"
    return label, sum(totals) / len(totals)


def _ratio(total: int, other: float | None) -> float | None:
    if other is None or other == 0:
        return None
    return total / other


def _cagr(singles: dict[int, YearCount], year: int, years: int) -> float | None:
    start = singles.get(year - years)
    if start is None or start.total == 0:
        return None
    return float((singles[year].total / start.total) ** (1 / years) - 1)


def _round(value: object) -> JSONScalar:
    if isinstance(value, float):
        return round(value, 4)
    assert value is None or isinstance(value, int | str)
    return value


# --- claims --------------------------------------------------------------------------------------


def _number(value: float) -> str:
    if value == int(value) or value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _ratio_findings(facts: TrendFacts, word: str) -> tuple[ClaimFinding, ...]:
    at_least, threshold = RATIO_CLAIMS[word]
    need = f"at least {threshold:.2f}×" if at_least else f"at most {threshold:.2f}×"
    need_ko = f"{threshold:.2f}배 {'이상' if at_least else '이하'}"
    name_ko = CLAIM_NAMES_KO[word]
    year, total, before = facts.year, facts.total, facts.year - 1

    def meets(ratio: float | None) -> bool:
        if ratio is None:
            return False
        return ratio >= threshold if at_least else ratio <= threshold

    def finding(
        against: str,
        subject: str,
        subject_ko: str,
        ratio: float | None,
        missing: str,
        missing_ko: str,
    ) -> ClaimFinding:
        if ratio is None:
            return ClaimFinding(against, None, False, missing, missing_ko)
        ok = meets(ratio)
        return ClaimFinding(
            against=against,
            ratio=ratio,
            supported=ok,
            explanation=(
                f"{year} ({total:,}) is {ratio:.2f}× {subject}, "
                f"{'and' if ok else 'but'} “{word}” needs {need}."
            ),
            explanation_ko=(
                f"{year}년({total:,}명)은 {subject_ko}의 {ratio:.2f}배로, "
                f"‘{name_ko}’ 기준({need_ko})을 "
                f"{'충족합니다' if ok else '충족하지 못합니다'}."
            ),
        )

    if facts.previous_total is None:
        missing = (
            f"The series has no single-year figure for {before}, so “{word}” cannot be checked "
            "against it."
        )
        missing_ko = f"{before}년 수치가 없어 전년 대비 ‘{name_ko}’ 여부를 확인할 수 없습니다."
        subject = subject_ko = ""
    else:
        missing = f"{before} had no arrivals, so no ratio to it exists."
        missing_ko = f"{before}년 입국자가 0명이어서 배수를 계산할 수 없습니다."
        subject = f"{before} ({facts.previous_total:,})"
        subject_ko = f"{before}년({facts.previous_total:,}명)"
    findings = [
        finding(str(before), subject, subject_ko, facts.ratio_to_previous, missing, missing_ko)
    ]
    if facts.baseline is not None and facts.baseline_mean is not None:
        mean = _number(facts.baseline_mean)
        findings.append(
            finding(
                f"{facts.baseline} mean",
                f"the {facts.baseline} mean ({mean})",
                f"{facts.baseline}년 평균({mean}명)",
                facts.ratio_to_baseline,
                f"The {facts.baseline} mean is 0, so no ratio to it exists.",
                f"{facts.baseline}년 평균이 0명이어서 배수를 계산할 수 없습니다.",
            )
        )
    return tuple(findings)


def _record_finding(facts: TrendFacts, singles: dict[int, YearCount]) -> ClaimFinding:
    year, total = facts.year, facts.total
    span = _span(singles)
    against = f"single years {span}"
    others = [singles[y] for y in sorted(singles) if y != year]
    if not others:
        return ClaimFinding(
            against,
            None,
            False,
            f"The series has no other single year to compare {year} with.",
            f"{year}년과 비교할 다른 연도가 없습니다.",
        )
    top = max(others, key=lambda yc: yc.total)
    top_year, top_total, n = top.last_year, top.total, len(singles)
    ratio = _ratio(total, top_total)
    if total > top_total:
        return ClaimFinding(
            against,
            ratio,
            True,
            f"{year} ({total:,}) is the highest of the {n} single years {span}, above the next "
            f"highest, {top_year} ({top_total:,}).",
            f"{year}년({total:,}명)은 {span}년 {n}개 연도 중 가장 많으며, 다음으로 많은 "
            f"{top_year}년({top_total:,}명)보다 많습니다.",
        )
    if total == top_total:
        explanation = (
            f"{year} ({total:,}) only equals {top_year} ({top_total:,}), the highest of the "
            f"{n} single years {span}."
        )
        explanation_ko = (
            f"{year}년({total:,}명)은 최고치인 {top_year}년({top_total:,}명)과 같을 뿐입니다."
        )
    elif facts.highest_since is None and top_year > year and facts.lowest_since is not None:
        explanation = (
            f"{year} ({total:,}) was higher than every earlier year, but {top_year} "
            f"({top_total:,}) later surpassed it; it ranks {facts.rank} of {n} single years {span}."
        )
        explanation_ko = (
            f"{year}년({total:,}명)은 당시 최고였으나 {top_year}년({top_total:,}명)이 이를 넘어, "
            f"{span}년 {n}개 연도 중 {facts.rank}위입니다."
        )
    else:
        explanation = (
            f"{year} ({total:,}) is not a record: {top_year} ({top_total:,}) is the highest of the "
            f"{n} single years {span}, and {year} ranks {facts.rank}."
        )
        explanation_ko = (
            f"{year}년({total:,}명)은 최고 기록이 아닙니다: {span}년 중 최고는 {top_year}년"
            f"({top_total:,}명)이고 {year}년은 {n}개 연도 중 {facts.rank}위입니다."
        )
    return ClaimFinding(against, ratio, False, explanation, explanation_ko)


def _exponential_finding(facts: TrendFacts, singles: dict[int, YearCount]) -> ClaimFinding:
    year = facts.year
    start = year - EXPONENTIAL_STEPS
    against = f"{start}-{year} year on year"
    needs = (
        f"“exponential” needs growth in at least {EXPONENTIAL_STEPS} consecutive years at a steady "
        "or rising rate, not a single jump"
    )
    needs_ko = (
        f"‘기하급수적 증가’는 {EXPONENTIAL_STEPS}년 이상 연속으로 일정하거나 빨라지는 "
        "증가가 필요합니다"
    )
    missing = [y for y in range(start, year + 1) if y not in singles]
    if missing:
        years = ", ".join(map(str, missing))
        return ClaimFinding(
            against,
            None,
            False,
            f"The series has no figure for {years}, and {needs}.",
            f"{years}년 수치가 없습니다. {needs_ko}.",
        )
    steps = list(range(start + 1, year + 1))
    factors = [_ratio(singles[y].total, singles[y - 1].total) for y in steps]
    shown = ", ".join(
        f"{y}: {f:.2f}×" if f is not None else f"{y}: from 0"
        for y, f in zip(steps, factors, strict=True)
    )
    shown_ko = ", ".join(
        f"{y}년 {f:.2f}배" if f is not None else f"{y}년 0명에서 증가"
        for y, f in zip(steps, factors, strict=True)
    )
    run = 0
    for factor in reversed(factors):
        if factor is None or factor <= 1:
            break
        run += 1
    if run < EXPONENTIAL_STEPS or any(f is None for f in factors):
        years_word = "year" if run == 1 else "years"
        return ClaimFinding(
            against,
            _ratio(facts.total, singles[start].total),
            False,
            f"{year} ends only {run} consecutive {years_word} of growth (year-on-year {shown}), "
            f"but {needs}.",
            f"{year}년까지 연속 증가는 {run}년뿐입니다(전년 대비 {shown_ko}). {needs_ko}.",
        )
    growth = [f for f in factors if f is not None]
    average = math.prod(growth) ** (1 / len(growth))
    logs = [math.log(f) for f in growth]
    biggest = max(range(len(logs)), key=lambda i: logs[i])
    share = logs[biggest] / sum(logs)
    if share > JUMP_SHARE:
        jump_year = steps[biggest]
        return ClaimFinding(
            against,
            average,
            False,
            f"{year} grew {run} years in a row ({shown}), but the rise in {jump_year} alone makes "
            f"{share:.0%} of it: a single jump, not exponential growth.",
            f"{year}년까지 {run}년 연속 증가했지만({shown_ko}) {jump_year}년 한 해의 증가가 "
            f"{share:.0%}를 차지합니다: 한 번의 급등이지 기하급수적 증가가 아닙니다.",
        )
    for i in range(1, len(growth)):
        if growth[i] - 1 < FADE_LIMIT * (growth[i - 1] - 1):
            return ClaimFinding(
                against,
                average,
                False,
                f"{year} grew {run} years in a row ({shown}), but growth slowed from "
                f"{growth[i - 1]:.2f}× to {growth[i]:.2f}× in {steps[i]}, so it is not steady "
                "or rising as “exponential” needs.",
                f"{year}년까지 {run}년 연속 증가했지만({shown_ko}) {steps[i]}년에 증가율이 "
                f"{growth[i - 1]:.2f}배에서 {growth[i]:.2f}배로 둔화되어 "
                "기하급수적 증가가 아닙니다.",
            )
    return ClaimFinding(
        against,
        average,
        True,
        f"{year} grew {run} years in a row at a steady or rising rate ({shown}), "
        f"{average:.2f}× a year on average.",
        f"{year}년까지 {run}년 연속 일정하거나 빨라지는 속도로 증가했습니다({shown_ko}, "
        f"연평균 {average:.2f}배).",
    )


def _highest_since_finding(
    facts: TrendFacts, singles: dict[int, YearCount], claimed: int
) -> ClaimFinding:
    year, total = facts.year, facts.total
    if claimed >= year:
        raise SaebomError(f"“highest since {claimed}” needs a year before {year}.", field="claim")
    if claimed not in singles:
        raise SaebomError(
            f"“highest since {claimed}”: no single-year figure for {claimed} "
            f"(single years {_span(singles)}).",
            field="claim",
        )
    between = [y for y in sorted(singles) if claimed < y < year]
    compared = between or [claimed]
    against = str(compared[0]) if len(compared) == 1 else f"{compared[0]}-{compared[-1]}"
    top = max((singles[y] for y in compared), key=lambda yc: yc.total)
    ratio = _ratio(total, top.total)
    real = facts.highest_since
    claimed_total = singles[claimed].total
    if total > top.total:
        if real == claimed:
            return ClaimFinding(
                against,
                ratio,
                True,
                f"{year} ({total:,}) is higher than every year after {claimed} and {claimed} "
                f"({claimed_total:,}) was at least as high, so it is exactly the highest since "
                f"{claimed}.",
                f"{year}년({total:,}명)은 {claimed}년 이후 어느 해보다 많고 {claimed}년"
                f"({claimed_total:,}명)은 그 이상이었으므로 정확히 {claimed}년 이후 최고입니다.",
            )
        truth = (
            f"the highest since {real}" if real is not None else "higher than every earlier year"
        )
        truth_ko = (
            f"{real}년 이후 최고입니다" if real is not None else "이전 모든 연도보다 많습니다"
        )
        return ClaimFinding(
            against,
            ratio,
            True,
            f"{year} ({total:,}) is higher than every year since {claimed}, so the claim holds, "
            f"but it understates: {year} is {truth}.",
            f"{year}년({total:,}명)은 {claimed}년 이후 어느 해보다 많아 주장은 맞지만 과소 "
            f"표현입니다: 실제로는 {truth_ko}.",
        )
    if real == year - 1:
        return ClaimFinding(
            against,
            ratio,
            False,
            f"{year} ({total:,}) is not higher than {year - 1} ({facts.previous_total:,}), so it "
            "is not the highest since any earlier year.",
            f"{year}년({total:,}명)은 {year - 1}년({facts.previous_total:,}명)보다 많지 않으므로 "
            "어느 해 이후 최고도 아닙니다.",
        )
    return ClaimFinding(
        against,
        ratio,
        False,
        f"{top.last_year} ({top.total:,}) was at least as high as {year} ({total:,}), which is "
        f"the highest only since {real}.",
        f"{top.last_year}년({top.total:,}명)이 {year}년({total:,}명) 이상이었으므로 {year}년은 "
        f"{real}년 이후 최고일 뿐입니다.",
    )


def _since_line(facts: TrendFacts, ko: bool) -> str | None:
    """ "highest since" when the year rose above the nearest earlier year, "lowest since" when it
    fell below it; a record (no earlier year as high, or as low) says so."""
    high, low = facts.highest_since, facts.lowest_since
    if high is None and low is None:
        return None
    if high is None:
        return "이전 모든 연도보다 많음" if ko else "higher than every earlier single year"
    if low is None:
        return "이전 모든 연도보다 적음" if ko else "lower than every earlier single year"
    if low > high:
        return f"{high}년 이후 최고" if ko else f"highest since {high}"
    if high > low:
        return f"{low}년 이후 최저" if ko else f"lowest since {low}"
    return None


def _claim_name_ko(claim: str) -> str:
    since = _HIGHEST_SINCE.fullmatch(claim)
    if since is not None:
        return f"{since.group(1)}년 이후 최고"
    return CLAIM_NAMES_KO.get(claim, claim)
