"""The benefits ledger: what was paid against the rates of the year (kept by admins)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from django.db.models import Sum

from saebom.support.models import BenefitRate, Case
from saebom.support.rules import RATE_OF_BENEFIT

RATES_FILE = Path(__file__).parent / "data" / "benefit_rates.csv"


def shipped_rates() -> list[dict[str, str]]:
    text = RATES_FILE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def load_shipped_rates(rate_model: type) -> int:
    """Insert the shipped rates that are missing; an admin's own values are kept."""
    rows = shipped_rates()
    for row in rows:
        rate_model.objects.get_or_create(  # type: ignore[attr-defined]
            year=int(row["year"]),
            kind=row["kind"],
            household_min=int(row["household_min"]),
            defaults={
                "household_max": int(row["household_max"]) if row["household_max"] else None,
                "amount_krw": int(row["amount_krw"]),
                "source": row["source"],
            },
        )
    return len(rows)


def rate_for(kind: str, year: int, household_size: int) -> BenefitRate | None:
    """The rate of ``kind`` for a household of that size: the year's, or the latest before."""
    candidates = BenefitRate.objects.filter(
        kind=kind, year__lte=year, household_min__lte=household_size
    ).order_by("-year", "-household_min")
    for rate in candidates:
        if rate.household_max is None or household_size <= rate.household_max:
            return rate
    return None


@dataclass(frozen=True)
class LedgerLine:
    rate_kind: str
    paid_krw: int
    rate: BenefitRate | None

    @property
    def remaining_krw(self) -> int | None:
        if self.rate is None or self.rate_kind.endswith("_monthly"):
            return None
        return self.rate.amount_krw - self.paid_krw


def rates_year(case: Case) -> int:
    """Entitlements follow the rates of the year the person's protection began."""
    return (case.protection_start or case.opened_on).year


def ledger(case: Case, year: int) -> list[LedgerLine]:
    """Per rate kind: the total paid so far and the rate of ``year`` for the case's household."""
    paid: dict[str, int] = {}
    for row in case.payments.values("kind").annotate(total=Sum("amount_krw")):
        rate_kind = RATE_OF_BENEFIT[row["kind"]]
        paid[rate_kind] = paid.get(rate_kind, 0) + row["total"]
    kinds = dict.fromkeys(RATE_OF_BENEFIT.values())
    return [
        LedgerLine(kind, paid.get(kind, 0), rate_for(kind, year, case.household_size))
        for kind in kinds
    ]
