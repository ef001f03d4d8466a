"""The dimensions a report can break arrivals down by, each computed in the database.

A dimension turns an arrival into one key (a code, or "" for unknown). Multi-valued dimensions
(reasons, transit countries) join their child table: a person counts once per value, so their
cells add up to more than the number of arrivals, and reports say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import (
    Case,
    CharField,
    Expression,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    Value,
    When,
)
from django.db.models.functions import Cast, ExtractQuarter, ExtractYear
from django.utils.translation import gettext_lazy as _

from saebom.core import vocab

EARLIEST_GROUP, MIDDLE_GROUP = "~1998", "1999-2001"
AGE_GROUPS = (
    ("0-9", 0, 9),
    ("10-19", 10, 19),
    ("20-29", 20, 29),
    ("30-39", 30, 39),
    ("40-49", 40, 49),
    ("50-59", 50, 59),
    ("60+", 60, 200),
)
ABROAD_BANDS = (("0", 0, 0), ("1-2", 1, 2), ("3-5", 3, 5), ("6-10", 6, 10), ("10+", 11, 200))
UNKNOWN = ""


def period_order(period: str) -> int:
    """``~1998`` first, then ``1999-2001``, then single years."""
    return {EARLIEST_GROUP: 0, MIDDLE_GROUP: 1}.get(
        period, int(period) if period.isdigit() else 9999
    )


def _text(expression: Expression | F) -> Cast:
    return Cast(expression, output_field=CharField())


def _year() -> Expression:
    """Years grouped as the Ministry of Unification publishes them."""
    return Case(
        When(arrival_year__lte=1998, then=Value(EARLIEST_GROUP)),
        When(arrival_year__lte=2001, then=Value(MIDDLE_GROUP)),
        default=_text(F("arrival_year")),
        output_field=CharField(),
    )


def _bands(alias: str, bands: tuple[tuple[str, int, int], ...], known: Q) -> Expression:
    """The band (``code``) that the number annotated as ``alias`` falls in."""
    whens = [
        When(known & Q(**{f"{alias}__gte": low, f"{alias}__lte": high}), then=Value(code))
        for code, low, high in bands
    ]
    return Case(*whens, default=Value(UNKNOWN), output_field=CharField())


def _quarter() -> Expression:
    return Case(
        When(arrival_precision="year", then=Value(UNKNOWN)),
        default=_text(ExtractQuarter("arrival_date")),
        output_field=CharField(),
    )


def _elite() -> Expression:
    return Case(
        When(elite_category="", then=Value(UNKNOWN)),
        When(elite_category="none", then=Value("no")),
        default=Value("yes"),
        output_field=CharField(),
    )


@dataclass(frozen=True)
class Dimension:
    code: str
    label: object  # lazy translation
    expression: Callable[[], Expression | F]
    vocabulary: str | None = None
    multi: bool = False
    protected: bool = False  # never in public output, broken down for admins only
    order: tuple[str, ...] = ()

    def sort_key(self, key: str) -> tuple[int, int, str]:
        """Periods in time order, bands in their order, vocabularies in theirs; unknown last."""
        if key == UNKNOWN:
            return (2, 0, key)
        if self.code == "year":
            return (0, period_order(key), key)
        if key in self.order:
            return (0, self.order.index(key), key)
        if self.vocabulary:
            codes = vocab.codes(self.vocabulary)
            return (0, codes.index(key), key) if key in codes else (1, 0, key)
        return (1, 0, key)

    def label_of(self, key: str) -> str:
        if key == UNKNOWN:
            return str(_("unknown"))
        if self.vocabulary:
            return vocab.label(self.vocabulary, key)
        return str(FIXED_LABELS.get((self.code, key), key))


Bands = tuple[tuple[str, int, int], ...]
BANDED: dict[str, tuple[Callable[[], Expression], Q, Bands]] = {
    # dimension: (the number it bands, when that number is known, the bands)
    "age_group": (
        lambda: ExpressionWrapper(F("arrival_year") - F("birth_year"), output_field=IntegerField()),
        Q(birth_year__isnull=False),
        AGE_GROUPS,
    ),
    "years_in_third_countries": (
        lambda: ExpressionWrapper(
            F("arrival_year") - ExtractYear("left_north_date"), output_field=IntegerField()
        ),
        Q(left_north_date__isnull=False),
        ABROAD_BANDS,
    ),
}


DIMENSIONS: dict[str, Dimension] = {
    d.code: d
    for d in (
        Dimension("year", _("Year"), _year),
        Dimension("quarter", _("Quarter"), _quarter, order=("1", "2", "3", "4")),
        Dimension("sex", _("Sex"), lambda: F("sex"), vocabulary="sex"),
        Dimension(
            "age_group",
            _("Age at entry"),
            lambda: F("_n_age_group"),
            order=tuple(code for code, _low, _high in AGE_GROUPS),
        ),
        Dimension(
            "origin_province",
            _("Province of origin"),
            lambda: F("origin_province"),
            vocabulary="origin_province",
        ),
        Dimension(
            "occupation",
            _("Occupation in the North"),
            lambda: F("occupation"),
            vocabulary="occupation",
        ),
        Dimension(
            "education", _("Education in the North"), lambda: F("education"), vocabulary="education"
        ),
        Dimension("elite", _("Elite arrival"), _elite, order=("yes", "no")),
        Dimension(
            "elite_category",
            _("Elite category"),
            lambda: F("elite_category"),
            vocabulary="elite_category",
            protected=True,
        ),
        Dimension("route", _("Route"), lambda: F("route"), vocabulary="route"),
        Dimension(
            "transit_country",
            _("Transit country"),
            lambda: F("transits__country"),
            vocabulary="country",
            multi=True,
        ),
        Dimension(
            "reasons",
            _("Reasons for leaving"),
            lambda: F("reasons__code"),
            vocabulary="reason",
            multi=True,
        ),
        Dimension(
            "years_in_third_countries",
            _("Years in third countries"),
            lambda: F("_n_years_in_third_countries"),
            order=tuple(code for code, _low, _high in ABROAD_BANDS),
        ),
        Dimension(
            "protection", _("Protection pathway"), lambda: F("protection"), vocabulary="protection"
        ),
        Dimension("agency", _("Agency"), lambda: F("agency__code")),
    )
}

FIXED_LABELS = {
    ("elite", "yes"): _("elite"),
    ("elite", "no"): _("not elite"),
    ("years_in_third_countries", "10+"): _("over 10"),
    ("age_group", "60+"): _("60 and over"),
    **{("quarter", q): f"Q{q}" for q in "1234"},
}


def aliases(dimension: Dimension) -> dict[str, Expression]:
    """Numbers a banded dimension needs computed first (``_n_<code>``)."""
    if dimension.code not in BANDED:
        return {}
    number = BANDED[dimension.code][0]
    return {f"_n_{dimension.code}": number()}


def annotation(dimension: Dimension) -> dict[str, Expression | F]:
    """The expression that computes ``dimension`` as ``d_<code>``."""
    if dimension.code in BANDED:
        _number, known, bands = BANDED[dimension.code]
        return {f"d_{dimension.code}": _bands(f"_n_{dimension.code}", bands, known)}
    return {f"d_{dimension.code}": dimension.expression()}
