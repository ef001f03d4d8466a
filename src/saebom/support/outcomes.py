"""Outcome indicators as the Korea Hana Foundation survey computes them, for the people an agency
supports, beside the published national figures.

Definitions (Statistics Korea's, which the survey uses), over the outcome records of one year:
- participation rate = (employed + unemployed) / respondents
- employment rate = employed / respondents
- unemployment rate = unemployed / (employed + unemployed)
- mean monthly wage of wage earners (10,000 KRW), over wage earners who gave a wage
- life satisfaction = satisfied or very satisfied (4-5 of 5) / those who answered
- discrimination experienced = yes / those who answered

Every indicator passes the statistics module's disclosure control: a rate is published only when
neither its numerator nor the rest of its base is a small count (``stats.disclosure.protect``),
the three activity rates only when the cells of employed, unemployed and inactive they give away
survive protection of that table as a whole, and a mean only over at least k wage earners.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from saebom.core import policy
from saebom.core.actors import Actor
from saebom.core.policy import Action, Scope
from saebom.stats.disclosure import protect
from saebom.support.models import Outcome
from saebom.support.rules import SATISFIED

SURVEY_FILE = Path(__file__).parent / "data" / "hana-foundation-survey.csv"

INDICATORS = (
    ("participation_rate", _("Economic participation rate (%)"), "participation_rate_pct"),
    ("employment_rate", _("Employment rate (%)"), "employment_rate_pct"),
    ("unemployment_rate", _("Unemployment rate (%)"), "unemployment_rate_pct"),
    ("monthly_wage", _("Mean monthly wage of wage earners (10,000 KRW)"), "monthly_wage_krw_10k"),
    ("life_satisfaction", _("Satisfied with life in the South (%)"), "life_satisfaction_pct"),
    (
        "experienced_discrimination",
        _("Experienced discrimination (%)"),
        "experienced_discrimination_pct",
    ),
)


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    value: Decimal | None  # None when withheld or without a base
    national: Decimal | None
    shown: str  # what may be published: the value, or why it is withheld


@dataclass(frozen=True)
class OutcomeReport:
    year: int
    respondents: str  # disclosure-controlled, like every figure here
    indicators: list[Indicator]
    k: int
    national_status: str
    synthetic: bool  # computed (also) from synthetic demo records


@functools.cache
def national_figures() -> dict[int, dict[str, str]]:
    text = SURVEY_FILE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return {int(row["survey_year"]): row for row in csv.DictReader(io.StringIO("\n".join(lines)))}


def outcomes_for(actor: Actor) -> QuerySet[Outcome]:
    """Outcome records the actor may aggregate: their agency's people, or every agency's
    together. Never one other agency alone: beside the total, the figures of every agency but
    one would give that one's withheld counts by subtraction."""
    scope = policy.require(actor, Action.OUTCOME_STATS_VIEW)
    if scope is Scope.ALL:
        return Outcome.objects.all()
    return Outcome.objects.filter(case__lead_agency_id=actor.agency_id)


def _rate(numerator: int, base: int) -> Decimal | None:
    if base == 0:
        return None
    return (Decimal(100 * numerator) / Decimal(base)).quantize(Decimal("0.1"), ROUND_HALF_UP)


WITHHELD = _("withheld (small numbers)")

# The activity rates share one table (employed, unemployed, inactive) whose total, the
# respondents, is published; with it each rate gives away these cells of the table.
ACTIVITY_CELLS = {
    "participation_rate": ("inactive",),
    "employment_rate": ("employed",),
    "unemployment_rate": ("employed", "unemployed"),
}


def _publishable(numerator: int, base: int, k: int) -> bool:
    """Neither the count nor the rest of its base may be small enough to point at people, and
    the rate may not be 0 or 100%: that would tell each person's answer."""
    cells = protect({("yes",): numerator, ("no",): base - numerator}, k=k)
    return 0 < numerator < base and base >= k and not any(c.suppressed for c in cells.values())


def _indicator(
    code: str, label: str, value: Decimal | None, publishable: bool, national: Decimal | None
) -> Indicator:
    if value is None:
        return Indicator(code, label, None, national, "—")
    if not publishable:
        return Indicator(code, label, None, national, str(WITHHELD))
    return Indicator(code, label, value, national, str(value))


def outcome_indicators(actor: Actor, *, year: int) -> OutcomeReport:
    outcomes = outcomes_for(actor).filter(year=year)
    employed, unemployed = Q(economic_activity="employed"), Q(economic_activity="unemployed")
    wage_earners = Q(employment_status="wage_earner", monthly_wage_krw_10k__isnull=False)
    counts = outcomes.aggregate(
        respondents=Count("pk"),
        employed=Count("pk", filter=employed),
        unemployed=Count("pk", filter=unemployed),
        wage_earners=Count("pk", filter=wage_earners),
        # A sum, not AVG: SQLite's float average turns 250.35 into 250.3499... (rounds down).
        wage_total=Sum("monthly_wage_krw_10k", filter=wage_earners),
        answered_satisfaction=Count("pk", filter=Q(life_satisfaction__isnull=False)),
        satisfied=Count("pk", filter=Q(life_satisfaction__in=SATISFIED)),
        answered_discrimination=Count("pk", filter=Q(experienced_discrimination__isnull=False)),
        discriminated=Count("pk", filter=Q(experienced_discrimination=True)),
    )
    active = counts["employed"] + counts["unemployed"]
    fractions = {
        "participation_rate": (active, counts["respondents"]),
        "employment_rate": (counts["employed"], counts["respondents"]),
        "unemployment_rate": (counts["unemployed"], active),
        "life_satisfaction": (counts["satisfied"], counts["answered_satisfaction"]),
        "experienced_discrimination": (counts["discriminated"], counts["answered_discrimination"]),
    }
    k = settings.SAEBOM_STATS_MIN_CELL
    # Protected as one table, so that two published rates never give a withheld third by
    # subtraction (employed and active known: the unemployed follow).
    activity = protect(
        {
            ("employed",): counts["employed"],
            ("unemployed",): counts["unemployed"],
            ("inactive",): counts["respondents"] - active,
        },
        k=k,
    )
    hidden = {key[0] for key, cell in activity.items() if cell.suppressed}
    national = national_figures().get(year, {})
    indicators = []
    for code, label, column in INDICATORS:
        published = Decimal(national[column]) if national.get(column) else None
        if code == "monthly_wage":
            earners, total = counts["wage_earners"], counts["wage_total"]
            value = (
                None
                if not earners
                else (Decimal(total) / earners).quantize(Decimal("0.1"), ROUND_HALF_UP)
            )
            publishable = counts["wage_earners"] >= k
        else:
            numerator, base = fractions[code]
            value = _rate(numerator, base)
            publishable = _publishable(numerator, base, k) and hidden.isdisjoint(
                ACTIVITY_CELLS.get(code, ())
            )
        indicators.append(_indicator(code, str(label), value, publishable, published))
    respondents = counts["respondents"]
    return OutcomeReport(
        year=year,
        respondents=str(respondents) if respondents == 0 or respondents >= k else f"<{k}",
        indicators=indicators,
        k=k,
        national_status=national.get("status", ""),
        synthetic=outcomes.filter(case__is_synthetic=True).exists(),
    )
