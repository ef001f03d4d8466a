"""The statistics page (statisticians, researchers, registry staff) and the optional public page."""

from __future__ import annotations

import base64

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation

from saebom.core import policy
from saebom.core.exceptions import SaebomError
from saebom.core.policy import Action
from saebom.stats.charts import report_chart
from saebom.stats.forms import DOWNLOAD_FORMATS, ReportForm
from saebom.stats.output import MEDIA_TYPES
from saebom.stats.output import render as render_report
from saebom.stats.reports import (
    Report,
    arrivals_report,
    ministry_layout,
    public_report,
    reconciliation,
)
from saebom.web.requests import actor, is_htmx

PUBLIC_REPORTS = ("year,sex", "year,origin_province", "age_group,sex", "year,elite")


def _context(report: Report) -> dict[str, object]:
    chart = report_chart(report)
    return {
        "report": report,
        "rows": [(report.labels(row), row) for row in report.rows],
        "layout": ministry_layout(report) if report.codes == ["year", "sex"] else None,
        "chart_src": "data:image/svg+xml;base64," + base64.b64encode(chart.svg.encode()).decode(),
        "chart_description": chart.description,
        "headers": [d.label for d in report.dimensions],
    }


@policy.route(Action.STATS_VIEW)
def statistics(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    form = ReportForm(
        request.GET or {"first": "year", "second": "sex"},
        include_protected=policy.allows(user, Action.ELITE_CATEGORIES),
    )
    context: dict[str, object] = {
        "form": form,
        "formats": DOWNLOAD_FORMATS,
        "exact_allowed": policy.allows(user, Action.STATS_EXACT),
    }
    if form.is_valid():
        try:
            report = arrivals_report(
                actor=user,
                by=form.dimensions(),
                year_from=form.cleaned_data["year_from"],
                year_to=form.cleaned_data["year_to"],
                public=form.cleaned_data["public"],
            )
        except SaebomError as exc:
            form.add_error(None, exc.message)
        else:
            context |= _context(report)
            context["query"] = request.GET.urlencode() or "first=year&second=sex"
    template = "stats/statistics.html#result" if is_htmx(request) else "stats/statistics.html"
    return render(request, template, context)


@policy.route(Action.STATS_VIEW)
def download(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    form = ReportForm(request.GET, include_protected=policy.allows(user, Action.ELITE_CATEGORIES))
    fmt = request.GET.get("format", "csv")
    if not form.is_valid() or fmt not in DOWNLOAD_FORMATS:
        raise SaebomError("choose dimensions and one of the formats csv, json, xlsx, html")
    report = arrivals_report(
        actor=user,
        by=form.dimensions(),
        year_from=form.cleaned_data["year_from"],
        year_to=form.cleaned_data["year_to"],
        public=form.cleaned_data["public"],
    )
    content = render_report(report, fmt, lang=translation.get_language() or "en")
    response = HttpResponse(content, content_type=MEDIA_TYPES[fmt])
    name = "-".join(report.codes) + ("-public" if report.public else "")
    response["Content-Disposition"] = f'attachment; filename="arrivals-{name}.{fmt}"'
    return response


@policy.route(Action.STATS_EXACT)
def reconciliation_view(request: HttpRequest) -> HttpResponse:
    rows = reconciliation(actor=actor(request))
    return render(request, "stats/reconciliation.html", {"rows": rows})


@policy.public_route
def public_statistics(request: HttpRequest) -> HttpResponse:
    """Off unless SAEBOM_PUBLIC_STATS=1; only ever disclosure-controlled output."""
    if not settings.SAEBOM_PUBLIC_STATS:
        raise Http404
    by = request.GET.get("by", PUBLIC_REPORTS[0])
    if by not in PUBLIC_REPORTS:
        raise Http404
    report = public_report(by=by)
    return render(
        request, "stats/public.html", _context(report) | {"choices": PUBLIC_REPORTS, "by": by}
    )
