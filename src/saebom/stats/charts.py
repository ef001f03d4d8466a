"""Charts as SVG, drawn on the server with matplotlib, each with a text alternative.

Text stays text in the SVG (``svg.fonttype: none``) so that the browser draws Hangul with its own
fonts, whatever fonts the server has.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

from django.utils.translation import gettext as _
from matplotlib.figure import Figure

from saebom.stats.reports import Report, ministry_layout

MALE, FEMALE, SHARE = "#4c78a8", "#e45756", "#2f4b2f"


@dataclass(frozen=True)
class Chart:
    svg: str
    description: str


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    with (
        matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "saebom"}),
        warnings.catch_warnings(),
    ):
        # Layout measures Hangul with a Latin font; the browser draws the text itself.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def report_chart(report: Report) -> Chart:
    if report.codes == ["year", "sex"]:
        return year_sex_chart(report)
    return totals_chart(report)


def _first_totals(report: Report) -> dict[str, tuple[int | None, str]]:
    from saebom.stats.reports import published_totals

    return published_totals(report)


def year_sex_chart(report: Report) -> Chart:
    """Arrivals by period, men and women stacked, with the female share as a line."""
    rows = ministry_layout(report)
    periods = [r.period for r in rows]
    male = [int(r.male) if r.male.isdigit() else 0 for r in rows]
    female = [int(r.female) if r.female.isdigit() else 0 for r in rows]
    share = [100 * f / (m + f) if m + f else 0 for m, f in zip(male, female, strict=True)]
    figure = Figure(figsize=(10, 4.2))
    axes = figure.subplots()
    axes.bar(periods, male, color=MALE, label=_("Male"))
    axes.bar(periods, female, bottom=male, color=FEMALE, label=_("Female"))
    axes.set_ylabel(_("Arrivals"))
    axes.tick_params(axis="x", labelrotation=60)
    axes.legend(loc="upper left", frameon=False)
    twin = axes.twinx()
    twin.plot(periods, share, color=SHARE, marker="o", markersize=3, label=_("Female share (%)"))
    twin.set_ylim(0, 100)
    twin.set_ylabel(_("Female share (%)"))
    for side in ("top",):
        axes.spines[side].set_visible(False)
    shown = [r for r in rows if r.total is not None]  # hidden totals are not described
    peak = max(shown, key=lambda r: r.total or 0) if shown else None
    last = shown[-1] if shown else None
    description = (
        _(
            "Bar chart of arrivals by year, men and women stacked, with the female share as a "
            "line. The highest period is %(peak)s with %(peak_total)s arrivals; the latest, "
            "%(last)s, has %(last_total)s, of whom %(share)s are women."
        )
        % {
            "peak": peak.period,
            "peak_total": f"{peak.total or 0:,}",
            "last": last.period,
            "last_total": f"{last.total or 0:,}",
            "share": last.female_share,
        }
        if peak and last
        else _("No arrivals to chart.")
    )
    return Chart(_svg(figure), description)


def totals_chart(report: Report) -> Chart:
    """Arrivals by the first dimension, as a report by that dimension alone would publish them
    (a hidden total is left out, not drawn as zero)."""
    dimension = report.dimensions[0]
    totals = {key: n for key, (n, _shown) in _first_totals(report).items() if n is not None}
    labels = [dimension.label_of(key) for key in totals]
    figure = Figure(figsize=(8, max(2.5, 0.32 * len(labels) + 1)))
    axes = figure.subplots()
    axes.barh(labels[::-1], list(totals.values())[::-1], color=MALE)
    axes.set_xlabel(_("Arrivals"))
    biggest = max(totals, key=lambda key: totals[key]) if totals else None
    description = (
        _(
            "Horizontal bar chart of arrivals by %(dimension)s. The largest group is %(label)s "
            "with %(count)s."
        )
        % {
            "dimension": str(dimension.label),
            "label": dimension.label_of(biggest),
            "count": f"{totals[biggest]:,}",
        }
        if biggest is not None
        else _("No arrivals to chart.")
    )
    return Chart(_svg(figure), description)
