"""Registry pages: arrivals, intake with the duplicate check, identifiers, import, export."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from saebom.core import policy, vocab
from saebom.core.exceptions import Conflict, SaebomError
from saebom.core.policy import Action
from saebom.registry import selectors, services
from saebom.registry.exporting import FORMATS, arrivals_export
from saebom.registry.forms import ArrivalFilterForm, ArrivalForm, ImportForm
from saebom.registry.importing import RowError, errors_csv, import_job_start
from saebom.registry.interchange import format_row
from saebom.registry.models import Arrival, ImportJob, Person
from saebom.support import selectors as support_selectors
from saebom.web.requests import actor, is_htmx

PAGE_SIZE = 50


@policy.route(Action.ARRIVAL_VIEW)
def arrival_list(request: HttpRequest) -> HttpResponse:
    form = ArrivalFilterForm(request.GET or None)
    arrivals = selectors.arrivals_visible_to(actor(request))
    filters = form.cleaned_data if form.is_valid() else {}
    page = Paginator(selectors.arrivals_filtered(arrivals, **filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    template = (
        "registry/arrival_list.html#results" if is_htmx(request) else "registry/arrival_list.html"
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, template, {"form": form, "page": page, "query": query.urlencode()})


@policy.route(Action.ARRIVAL_CREATE)
def arrival_new(request: HttpRequest) -> HttpResponse:
    form = ArrivalForm(request.POST or None)
    context: dict[str, Any] = {"form": form}
    if request.method == "POST" and form.is_valid():
        data = form.data_record
        assert data is not None
        candidates = selectors.possible_duplicates(
            actor(request),
            name_ko=data.name_ko,
            name_en=data.name_en,
            birth_year=data.birth_year,
        )
        decision = request.POST.get("decision", "")
        link_to = _chosen_person(decision, candidates)
        if candidates and not (decision == "new" or link_to):
            context["candidates"] = candidates
        else:
            try:
                arrival = services.arrival_create(actor=actor(request), data=data, link_to=link_to)
            except SaebomError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(
                    request, _("Arrival %(id)s was registered.") % {"id": arrival.person.public_id}
                )
                return redirect("registry:arrival_detail", arrival_id=arrival.pk)
    return render(request, "registry/arrival_form.html", context)


def _chosen_person(decision: str, candidates: list[Person]) -> Person | None:
    chosen = decision.removeprefix("link:")
    return next(
        (p for p in candidates if decision.startswith("link:") and p.public_id == chosen), None
    )


def _visible_arrival(
    request: HttpRequest, arrival_id: int, action: Action = Action.ARRIVAL_VIEW
) -> Arrival:
    return policy.get_visible(
        actor(request),
        action,
        selectors.arrivals_visible_to(actor(request), action),
        pk=arrival_id,
    )


@policy.route(Action.ARRIVAL_VIEW)
def arrival_detail(request: HttpRequest, arrival_id: int) -> HttpResponse:
    arrival = _visible_arrival(request, arrival_id)
    data = selectors.arrival_data(arrival)
    fields = [
        (_("Arrival date"), str(data.arrival)),
        (_("Sex"), vocab.label("sex", data.sex)),
        (_("Birth year"), data.birth_year or ""),
        (_("Age at entry"), arrival.age_at_entry if arrival.age_at_entry is not None else ""),
        (_("Province of origin"), vocab.label("origin_province", data.origin_province)),
        (_("Occupation in the North"), vocab.label("occupation", data.occupation)),
        (_("Education in the North"), vocab.label("education", data.education)),
        (_("Elite category"), vocab.label("elite_category", data.elite_category)),
        (_("Left the North"), str(data.left_north) if data.left_north else ""),
        (
            _("Years in third countries"),
            arrival.years_in_third_countries if arrival.left_north_date else "",
        ),
        (
            _("Transit countries"),
            ", ".join(vocab.label("country", c) for c in data.transit_countries),
        ),
        (_("Route"), vocab.label("route", data.route)),
        (_("Reasons for leaving"), ", ".join(vocab.label("reason", r) for r in data.reasons)),
        (_("Protection pathway"), vocab.label("protection", data.protection)),
        (_("Record status"), arrival.get_status_display()),
    ]
    history = arrival.history.select_related("history_user").order_by("-history_date")[:20]
    case = support_selectors.case_of_person(actor(request), arrival.person_id)
    return render(
        request,
        "registry/arrival_detail.html",
        {"arrival": arrival, "fields": fields, "history": history, "case": case},
    )


@require_POST
@policy.route(Action.IDENTIFIERS_VIEW)
def identifiers(request: HttpRequest, arrival_id: int) -> HttpResponse:
    arrival = _visible_arrival(request, arrival_id, Action.IDENTIFIERS_VIEW)
    identity = services.identity_view(actor=actor(request), person=arrival.person)
    return render(
        request, "registry/arrival_detail.html#identity", {"identity": identity, "arrival": arrival}
    )


@policy.route(Action.ARRIVAL_UPDATE)
def arrival_edit(request: HttpRequest, arrival_id: int) -> HttpResponse:
    arrival = _visible_arrival(request, arrival_id, Action.ARRIVAL_UPDATE)
    row = format_row(selectors.arrival_data(arrival), include_identifiers=False)
    initial: dict[str, object] = {
        **row,
        "reasons": row["reasons"].split(";") if row["reasons"] else [],
    }
    form = ArrivalForm(request.POST or None, initial=initial)
    form.fields["record_id"].disabled = True
    for name in ("name_ko", "name_en", "date_of_birth"):
        del form.fields[name]
    # The version the person started from travels with the form, through every re-display:
    # re-reading it here would let a stale edit overwrite someone else's.
    version_text = request.POST.get("version", str(arrival.version))
    version = int(version_text) if version_text.isdecimal() else 0
    if request.method == "POST" and form.is_valid():
        assert form.data_record is not None
        try:
            services.arrival_update(
                actor=actor(request),
                arrival=arrival,
                data=form.data_record,
                expected_version=version,
            )
        except Conflict as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("The arrival was saved."))
            return redirect("registry:arrival_detail", arrival_id=arrival.pk)
    context = {"form": form, "arrival": arrival, "version": version}
    return render(request, "registry/arrival_form.html", context)


@policy.route(Action.ARRIVAL_IMPORT)
def import_start(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        job = import_job_start(
            actor=actor(request),
            filename=upload.name,
            data=upload.read(),
            skip_invalid=form.cleaned_data["skip_invalid"],
            dry_run=form.cleaned_data["dry_run"],
            language=translation.get_language(),
        )
        return redirect("registry:import_status", job_id=job.pk)
    jobs = selectors.import_jobs_of(actor(request))[:10]
    return render(request, "registry/import.html", {"form": form, "jobs": jobs})


def _own_job(request: HttpRequest, job_id: int) -> ImportJob:
    return policy.get_visible(
        actor(request), Action.ARRIVAL_IMPORT, selectors.import_jobs_of(actor(request)), pk=job_id
    )


@policy.route(Action.ARRIVAL_IMPORT)
def import_status(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _own_job(request, job_id)
    report = json.loads(job.report) if job.report else {}
    template = (
        "registry/import_status.html#status" if is_htmx(request) else "registry/import_status.html"
    )
    response = render(
        request, template, {"job": job, "report": report, "errors": report.get("errors", [])[:200]}
    )
    response["Cache-Control"] = "no-store"  # error messages may quote cells
    return response


@policy.route(Action.ARRIVAL_IMPORT)
def import_errors(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _own_job(request, job_id)
    errors = [
        RowError(**e) for e in (json.loads(job.report) if job.report else {}).get("errors", [])
    ]
    response = HttpResponse(errors_csv(errors), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@policy.route(Action.ARRIVAL_EXPORT)
def export(request: HttpRequest) -> HttpResponse:
    fmt = request.POST.get("format", "csv")
    if fmt not in FORMATS:
        fmt = "csv"
    include = request.POST.get("identifiers") == "1"
    result = arrivals_export(actor=actor(request), fmt=fmt, include_identifiers=include)
    response = HttpResponse(result.content, content_type=result.media_type)
    response["Content-Disposition"] = f'attachment; filename="arrivals.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response
