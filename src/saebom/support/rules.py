"""Rules of resettlement support that more than one place needs."""

from __future__ import annotations

from typing import Any

from saebom.core.exceptions import SaebomError

# The need a service answers, unless the caseworker says otherwise.
SERVICE_DOMAIN = {
    "hana_center_course": "social_cultural",
    "vocational_training": "employment",
    "job_placement": "employment",
    "counselling": "mental_health",
    "medical_referral": "health",
    "legal_aid": "legal",
    "housing_support": "housing",
    "language_class": "language",
    "settlement_helper": "social_cultural",
    "school_enrolment": "education",
    "debt_counselling": "finance_debt",
    "family_reunification": "family",
    "safety_protection": "safety",
}

# Ledger kinds and the rate that bounds them (several incentives share one cap).
RATE_OF_BENEFIT = {
    "settlement_basic": "settlement_basic",
    "housing_subsidy": "housing_subsidy",
    "incentive_training": "incentives",
    "incentive_certificate": "incentives",
    "incentive_employment": "incentives",
    "vulnerable_addition": "vulnerable_addition",
    "matched_savings": "matched_savings_monthly",
}

SATISFIED = (4, 5)  # "satisfied" and "very satisfied" on the survey's five-point scale


def validate_outcome(values: dict[str, Any]) -> None:
    """An outcome in the survey's terms: only the employed have an employment status, only wage
    earners a monthly wage."""
    activity = values.get("economic_activity")
    if activity is None:
        raise SaebomError("economic_activity: required", field="economic_activity")
    status = values.get("employment_status") or ""
    wage = values.get("monthly_wage_krw_10k")
    if activity == "employed" and not status:
        raise SaebomError("employment_status: required when employed", field="employment_status")
    if activity != "employed" and status:
        raise SaebomError(
            "employment_status: only the employed have one", field="employment_status"
        )
    if wage is not None and status != "wage_earner":
        raise SaebomError(
            "monthly_wage_krw_10k: recorded for wage earners only", field="monthly_wage_krw_10k"
        )
    if wage is not None and not 0 < wage < 100_000:
        raise SaebomError(
            "monthly_wage_krw_10k: in units of 10,000 KRW, between 1 and 99,999",
            field="monthly_wage_krw_10k",
        )
    satisfaction = values.get("life_satisfaction")
    if satisfaction is not None and satisfaction not in range(1, 6):
        raise SaebomError("life_satisfaction: 1 to 5", field="life_satisfaction")
