"""Statistics in the API: the same reports as the web page; public ones under the public switch."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema

from saebom.api.problems import checked_input
from saebom.api.rules import public, refuses, requires
from saebom.core.actors import AuditActor
from saebom.core.exceptions import NotFound
from saebom.core.policy import Action
from saebom.stats.reports import Report, arrivals_report, public_report

router = Router(tags=["statistics"])
public_router = Router(tags=["public statistics"], auth=None)


class CellOut(Schema):
    keys: dict[str, str]
    count: int | None
    suppressed: bool
    display: str


class ReportOut(Schema):
    dimensions: list[str]
    public: bool
    min_cell: int
    synthetic: bool
    notes: list[str]
    cells: list[CellOut]


def _out(report: Report) -> dict[str, Any]:
    return {
        "dimensions": report.codes,
        "public": report.public,
        "min_cell": report.k,
        "synthetic": report.synthetic,
        "notes": [str(n) for n in report.notes],
        "cells": [
            {
                "keys": dict(zip(report.codes, row.keys, strict=True)),
                "count": row.count,
                "suppressed": row.suppressed,
                "display": row.display,
            }
            for row in report.rows
        ],
    }


def _report(
    actor: AuditActor, by: str, year_from: int | None, year_to: int | None, public: bool
) -> dict[str, Any]:
    with checked_input():  # an unknown dimension or year: a 422, as elsewhere in the API
        report = arrivals_report(
            actor=actor, by=by, year_from=year_from, year_to=year_to, public=public
        )
    return _out(report)


@router.get("/stats/arrivals", response=ReportOut)
@requires(Action.STATS_VIEW)
def stats_arrivals(
    request: HttpRequest,
    by: str,
    year_from: int | None = None,
    year_to: int | None = None,
    public: bool = False,
) -> dict[str, Any]:
    """Arrivals counted by ``by`` (comma-separated dimensions); roles without exact counts get
    disclosure-controlled output whatever ``public`` says."""
    return _report(request.auth, by, year_from, year_to, public)  # type: ignore[attr-defined]


@public_router.get("/public/stats/arrivals", response=ReportOut)
@public
@refuses(404)  # statistics not published here
def public_stats_arrivals(
    request: HttpRequest, by: str, year_from: int | None = None, year_to: int | None = None
) -> dict[str, Any]:
    """No token needed; answers only when the installation publishes statistics
    (SAEBOM_PUBLIC_STATS=1), and only ever disclosure-controlled."""
    if not settings.SAEBOM_PUBLIC_STATS:
        raise NotFound("public statistics are not published here")
    with checked_input():
        report = public_report(by=by, year_from=year_from, year_to=year_to)
    return _out(report)
