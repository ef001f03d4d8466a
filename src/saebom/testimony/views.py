"""Testimony and evidence pages: search, the interview form, a testimony with its consent,
versions and coding, corroboration, evidence files with their chain of custody, and the
gazetteer.

Reads go through ``testimony.selectors`` (and ``testimony.search``), scoped to the reader;
writes through ``testimony.services`` (policy, audit event, custody). Confidential content
(transcripts, identities, names, descriptions) is shown only when
``selectors.reads_confidential`` allows it, and showing it is an audited read. Every form of a
testimony posts to its own small view: with htmx the testimony's body is swapped in place,
without it the view redirects back (POST-redirect-GET). A service's error is shown next to the
field it names, and nothing of the submission is written.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from saebom.accounts.models import User
from saebom.accounts.selectors import colleagues_of
from saebom.core import policy, vocab
from saebom.core.exceptions import NotFound, SaebomError
from saebom.core.policy import Action
from saebom.testimony import search, selectors, services
from saebom.testimony.forms import (
    ActForm,
    ConsentForm,
    CorroborateForm,
    EvidenceChoiceForm,
    EvidenceUploadForm,
    IncidentForm,
    IndividualForm,
    PlaceForm,
    SealForm,
    SearchForm,
    TestimonyChoiceForm,
    TestimonyEditForm,
    TestimonyForm,
    WithdrawForm,
    WorkingCopyForm,
    place_name,
)
from saebom.testimony.models import (
    Act,
    EvidenceFile,
    Incident,
    Individual,
    Involvement,
    Place,
    Testimony,
)
from saebom.web.requests import actor, is_htmx
from saebom.web.services_in_forms import attempt

PAGE_SIZE = 25
CANDIDATE_ACTS = 300  # acts offered on the corroboration page at once
# Shown in the browser rather than saved: types a browser displays without running anything.
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "text/plain")
FILE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"


# --- helpers --------------------------------------------------------------------------------


def _staff(user: User) -> QuerySet[User]:
    """Who may be named as an interviewer: the active accounts of the actor's agency."""
    return colleagues_of(user)


def _places() -> list[Place]:
    return list(selectors.places())


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


# --- list and search ------------------------------------------------------------------------


FACET_VOCABULARIES = {
    "act_type": "act_type",
    "coi_category": "coi_category",
    "institution": "institution",
    "province": "origin_province",
}


def _facet_choices(
    facets: dict[str, dict[str, int]], chosen: dict[str, str]
) -> dict[str, list[tuple[str, str]]]:
    """Each facet's values as choices, labelled in the reader's language, with their counts
    (a chosen value that matches nothing stays offered, with 0)."""
    codes = [code for code in facets.get("facility", {})] + [chosen.get("facility", "")]
    facilities = {p.code: place_name(p) for p in selectors.places().filter(code__in=codes)}
    choices: dict[str, list[tuple[str, str]]] = {}
    for name in search.FACETS:
        counts = dict(facets.get(name, {}))
        if chosen.get(name) and chosen[name] not in counts:
            counts[chosen[name]] = 0
        values = sorted(counts, reverse=True) if name == "year" else list(counts)
        vocabulary = FACET_VOCABULARIES.get(name)

        def label(code: str, vocabulary: str | None = vocabulary, name: str = name) -> str:
            if vocabulary:
                return vocab.label(vocabulary, code)
            return facilities.get(code, code) if name == "facility" else code

        choices[name] = [(code, f"{label(code)} ({counts[code]})") for code in values]
    return choices


@policy.route(Action.TESTIMONY_VIEW)
def testimony_list(request: HttpRequest) -> HttpResponse:
    """Search with facets over what the reader may search (never a withdrawn testimony);
    those who record testimonies find their agency's withdrawn ones listed apart."""
    user = actor(request)
    query = request.GET.get("q", "")[: SearchForm.QUERY_MAX].strip()
    filters = {
        name: value[:40] for name in search.FACETS if (value := request.GET.get(name, "").strip())
    }
    try:
        number = max(int(request.GET.get("page", "1")), 1)
    except ValueError:
        number = 1
    result = search.search(
        user, query, filters=filters, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )
    form = SearchForm(request.GET, facets=_facet_choices(result.facets, filters))
    pages = max((result.total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    params = request.GET.copy()
    params.pop("page", None)
    context: dict[str, Any] = {
        "form": form,
        "result": result,
        "searching": bool(query or filters),
        "number": number,
        "pages": pages,
        "previous": number - 1 if number > 1 else None,
        "next": number + 1 if number < pages else None,
        "params": params.urlencode(),
    }
    if policy.allows(user, Action.TESTIMONY_RECORD) and not is_htmx(request):
        context["withdrawn"] = list(
            selectors.testimonies_visible_to(user)
            .filter(consent_withdrawn_on__isnull=False)
            .defer(*search.DEFERRED)[:PAGE_SIZE]
        )
    template = "testimony/list.html#results" if is_htmx(request) else "testimony/list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])  # the fragment and the page share a URL
    return _no_store(response)


# --- recording an interview -----------------------------------------------------------------


@policy.route(Action.TESTIMONY_RECORD)
def testimony_new(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    form = TestimonyForm(
        request.POST or None,
        staff=_staff(user),
        initial={"language": "ko", "interviewers": [user.username]},
    )
    created: list[Testimony] = []

    def perform(data: dict[str, Any]) -> None:
        created.append(services.testimony_create(actor=user, **data))

    if request.method == "POST" and attempt(form, perform):
        testimony = created[0]
        messages.success(request, _("Testimony %(id)s was recorded.") % {"id": testimony.public_id})
        return redirect("testimony:testimony_detail", public_id=testimony.public_id)
    return _no_store(render(request, "testimony/new.html", {"form": form}))


# --- the testimony page ---------------------------------------------------------------------


def _edit_initial(testimony: Testimony) -> dict[str, Any]:
    return {
        "version": testimony.version,
        "witness_person": getattr(testimony.witness_person, "public_id", ""),
        "witness_identity": testimony.witness_identity or "",
        "witness_sex": testimony.witness_sex,
        "interview_date": testimony.interview_date,
        "interview_place": testimony.interview_place or "",
        "interviewers": sorted(testimony.interviewers.values_list("username", flat=True)),
        "language": testimony.language,
        "transcript": testimony.transcript or "",
        "summary": testimony.summary,
    }


def _edit_form(user: User, testimony: Testimony, data: Any = None) -> TestimonyEditForm:
    return TestimonyEditForm(
        data, prefix="edit", staff=_staff(user), initial=_edit_initial(testimony)
    )


def _act_form(
    incident: Incident,
    places: list[Place],
    individuals: list[Individual],
    data: Any = None,
) -> ActForm:
    return ActForm(
        data,
        prefix=f"act-{incident.pk}",
        places=places,
        individuals=individuals,
        names=True,
    )


def _incidents(testimony: Testimony) -> list[Incident]:
    acts = Act.objects.select_related("place", "corroboration").prefetch_related(
        "victims",
        Prefetch("involvements", queryset=Involvement.objects.select_related("perpetrator")),
    )
    return list(
        testimony.incidents.select_related("place").prefetch_related(Prefetch("acts", acts))
    )


def _versions(testimony: Testimony) -> list[Any]:
    """One history row per version, as the version was first saved (setting the interviewers
    and consent decisions leave more rows of the same version), with the reason given."""
    first: dict[int, Any] = {}
    for row in testimony.history.select_related("history_user").order_by("history_date"):
        if row.version not in first:
            row.reason = row.history_change_reason or ""
            first[row.version] = row
    return [first[version] for version in sorted(first)]


def _testimony_context(
    request: HttpRequest, testimony: Testimony, bound: dict[str, forms.Form]
) -> dict[str, Any]:
    """What the testimony page shows; confidential parts only to those who may read them."""
    user = actor(request)
    confidential = selectors.reads_confidential(user, testimony)
    edit = confidential and policy.allows(user, Action.TESTIMONY_RECORD)
    individuals = list(testimony.individuals.select_related("person"))
    incidents = _incidents(testimony)
    context: dict[str, Any] = {
        "testimony": testimony,
        "confidential": confidential,
        "edit": edit,
        "bound": set(bound),
        "individuals": individuals,
        "consents": list(testimony.consents.select_related("recorded_by")),
        "show_evidence": confidential and policy.allows(user, Action.EVIDENCE_VIEW),
    }
    if confidential:
        context["interviewers"] = list(testimony.interviewers.order_by("username"))
        context["versions"] = _versions(testimony)
    if context["show_evidence"]:
        files = selectors.evidence_visible_to(user)
        context["evidence_files"] = list(files.filter(testimonies=testimony))
    if not edit:
        context["incidents"] = [(incident, None) for incident in incidents]
        return context
    places = _places()

    def form(key: str, make: Callable[[], forms.Form]) -> forms.Form:
        return bound.get(key) or make()

    context["incidents"] = [
        (incident, form(f"act-{incident.pk}", partial(_act_form, incident, places, individuals)))
        for incident in incidents
    ]
    context["edit_form"] = form("edit", lambda: _edit_form(user, testimony))
    context["seal_form"] = form(
        "seal", lambda: SealForm(prefix="seal", initial={"version": testimony.version})
    )
    context["consent_form"] = form(
        "consent",
        lambda: ConsentForm(
            prefix="consent",
            initial={
                "scope": testimony.consent_scope,
                "mechanisms": testimony.consent_mechanisms,
                "effective_on": timezone.localdate(),
            },
        ),
    )
    context["withdraw_form"] = form("withdraw", lambda: WithdrawForm(prefix="withdraw"))
    context["incident_form"] = form(
        "incident", lambda: IncidentForm(prefix="incident", places=places)
    )
    context["individual_form"] = form("individual", lambda: IndividualForm(prefix="individual"))
    if context["show_evidence"]:
        context["link_form"] = form("link", lambda: EvidenceChoiceForm(prefix="link"))
        context["evidence_choices"] = list(
            selectors.evidence_visible_to(user).exclude(testimonies=testimony)[:100]
        )
    return context


def _render_testimony(
    request: HttpRequest,
    testimony: Testimony,
    *,
    bound: dict[str, forms.Form] | None = None,
    flash: str = "",
) -> HttpResponse:
    """The testimony page (its body alone for htmx). Every showing of confidential content is
    an audited read, after a write too (a refused or empty write records nothing itself)."""
    user = actor(request)
    context = _testimony_context(request, testimony, bound or {})
    if context["confidential"]:
        services.testimony_viewed(actor=user, testimony=testimony)
    context["flash"] = flash
    template = (
        "testimony/detail.html#testimony_body" if is_htmx(request) else "testimony/detail.html"
    )
    return _no_store(render(request, template, context))


@policy.route(Action.TESTIMONY_VIEW)
def testimony_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    testimony = selectors.testimony_get(actor(request), public_id)
    return _render_testimony(request, testimony)


def _recordable(request: HttpRequest, public_id: str) -> Testimony:
    """The testimony, if the actor may see it (404 otherwise) and record on it (404 too: a
    testimony of another agency a researcher may read is not theirs to change)."""
    user = actor(request)
    testimony = selectors.testimony_get(user, public_id)
    if not selectors.reads_confidential(user, testimony):
        raise NotFound(_("Not found."))
    return testimony


def _saved(request: HttpRequest, public_id: str, message: str, anchor: str) -> HttpResponse:
    """After a write: the testimony body again (htmx) or a redirect to the section."""
    testimony = selectors.testimony_get(actor(request), public_id)
    if is_htmx(request):
        return _render_testimony(request, testimony, flash=message)
    messages.success(request, message)
    url = reverse("testimony:testimony_detail", kwargs={"public_id": public_id})
    return redirect(f"{url}#{anchor}")


def _testimony_post(
    request: HttpRequest,
    testimony: Testimony,
    *,
    key: str,
    form: forms.Form,
    perform: Callable[[dict[str, Any]], object],
    done: str,
    anchor: str,
    aliases: dict[str, str] | None = None,
) -> HttpResponse:
    if attempt(form, perform, aliases):
        return _saved(request, testimony.public_id, done, anchor)
    return _render_testimony(request, testimony, bound={key: form})


@require_POST
@policy.route(Action.TESTIMONY_RECORD)
def testimony_update(request: HttpRequest, public_id: str) -> HttpResponse:
    testimony = _recordable(request, public_id)
    user = actor(request)
    form = _edit_form(user, testimony, request.POST)

    def perform(data: dict[str, Any]) -> None:
        # Only what the person changed; the version they started from decides staleness.
        changed = [n for n in form.changed_data if n not in ("version", "reason")]
        if not changed:
            return
        changes = {n: data[n] for n in changed if n != "interviewers"}
        services.testimony_update(
            actor=user,
            testimony=testimony,
            expected_version=data["version"],
            reason=data["reason"],
            interviewers=data["interviewers"] if "interviewers" in changed else None,
            **changes,
        )

    return _testimony_post(
        request,
        testimony,
        key="edit",
        form=form,
        perform=perform,
        done=_("The testimony was saved."),
        anchor="content",
    )


@require_POST
@policy.route(Action.TESTIMONY_RECORD)
def testimony_seal(request: HttpRequest, public_id: str) -> HttpResponse:
    testimony = _recordable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.testimony_seal(
            actor=actor(request), testimony=testimony, expected_version=data["version"]
        )

    return _testimony_post(
        request,
        testimony,
        key="seal",
        form=SealForm(request.POST, prefix="seal"),
        perform=perform,
        done=_("The testimony was sealed: from now on a change is a correction with a reason."),
        anchor="content",
    )


@require_POST
@policy.route(Action.TESTIMONY_RECORD)
def consent_change(request: HttpRequest, public_id: str) -> HttpResponse:
    testimony = _recordable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.consent_change(actor=actor(request), testimony=testimony, **data)

    return _testimony_post(
        request,
        testimony,
        key="consent",
        form=ConsentForm(request.POST, prefix="consent"),
        perform=perform,
        done=_("The new consent was recorded."),
        anchor="consent",
        aliases={
            "consent_scope": "scope",
            "consent_mechanisms": "mechanisms",
            "consent_given_on": "effective_on",
        },
    )


@require_POST
@policy.route(Action.TESTIMONY_RECORD)
def consent_withdraw(request: HttpRequest, public_id: str) -> HttpResponse:
    testimony = _recordable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.consent_withdraw(actor=actor(request), testimony=testimony, **data)

    return _testimony_post(
        request,
        testimony,
        key="withdraw",
        form=WithdrawForm(request.POST, prefix="withdraw"),
        perform=perform,
        done=_(
            "The withdrawal of consent was recorded: no search, export or sharing includes "
            "this testimony any more."
        ),
        anchor="consent",
    )


@require_POST
@policy.route(Action.TESTIMONY_RECORD)
def incident_add(request: HttpRequest, public_id: str) -> HttpResponse:
    testimony = _recordable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.incident_add(
            actor=actor(request),
            testimony=testimony,
            **{**data, "place": data["place"] or None},
        )

    return _testimony_post(
        request,
        testimony,
        key="incident",
        form=IncidentForm(request.POST, prefix="incident", places=_places()),
        perform=perform,
        done=_("The incident was added."),
        anchor="incidents",
    )


@require_POST
@policy.route(Action.TESTIMONY_RECORD)
def individual_add(request: HttpRequest, public_id: str) -> HttpResponse:
    testimony = _recordable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.individual_add(
            actor=actor(request),
            testimony=testimony,
            **{**data, "person": data["person"] or None},
        )

    return _testimony_post(
        request,
        testimony,
        key="individual",
        form=IndividualForm(request.POST, prefix="individual"),
        perform=perform,
        done=_("The individual was added."),
        anchor="individuals",
    )


@require_POST
@policy.route(Action.TESTIMONY_RECORD)
def act_add(request: HttpRequest, public_id: str, incident_id: int) -> HttpResponse:
    testimony = _recordable(request, public_id)
    incident = testimony.incidents.filter(pk=incident_id).first()
    if incident is None:
        raise NotFound(_("Not found."))
    individuals = list(testimony.individuals.all())
    form = _act_form(incident, _places(), individuals, request.POST)

    def perform(data: dict[str, Any]) -> None:
        services.act_add(
            actor=actor(request),
            incident=incident,
            act_type=data["act_type"],
            coi_category=data["coi_category"],
            place=data["place"] or None,
            connection=data["connection"],
            reliability=data["reliability"],
            credibility=data["credibility"],
            victims=[int(pk) for pk in data["victims"]],
            perpetrators=form.perpetrators(),
            notes=data["notes"],
        )

    return _testimony_post(
        request,
        testimony,
        key=f"act-{incident.pk}",
        form=form,
        perform=perform,
        done=_("The act was added."),
        anchor=f"incident-{incident.pk}",
    )


@require_POST
@policy.route(Action.TESTIMONY_RECORD)
def testimony_evidence_link(request: HttpRequest, public_id: str) -> HttpResponse:
    testimony = _recordable(request, public_id)
    user = actor(request)

    def perform(data: dict[str, Any]) -> None:
        evidence = _evidence_by_id(user, data["evidence"], "evidence")
        services.evidence_link(actor=user, evidence=evidence, testimony=testimony)

    return _testimony_post(
        request,
        testimony,
        key="link",
        form=EvidenceChoiceForm(request.POST, prefix="link"),
        perform=perform,
        done=_("The evidence file was linked."),
        anchor="evidence",
    )


def _evidence_by_id(user: User, public_id: str, field: str) -> EvidenceFile:
    """An evidence file typed into a form: the same refusal for missing and not the agency's."""
    found = selectors.evidence_visible_to(user).filter(public_id=public_id.strip()).first()
    if found is None:
        raise SaebomError(
            _("no evidence file %(id)s in your agency") % {"id": public_id}, field=field
        )
    return found


# --- corroboration --------------------------------------------------------------------------


def _candidate_acts(user: User) -> QuerySet[Act]:
    """Acts of the testimonies the actor records on, whose consent stands."""
    return (
        selectors.acts_recordable_by(user)
        .filter(incident__testimony__consent_withdrawn_on__isnull=True)
        .select_related("incident__testimony", "incident__place", "place", "corroboration")
        .order_by("act_type", "incident__date_start", "id")
    )


def _render_corroboration(
    request: HttpRequest, form: CorroborateForm | None = None
) -> HttpResponse:
    user = actor(request)
    act_type = request.GET.get("act_type", "")
    acts = _candidate_acts(user)
    if act_type:
        acts = acts.filter(act_type=act_type)
    candidates = list(acts[:CANDIDATE_ACTS])
    groups = list(
        selectors.corroborations_visible_to(user).prefetch_related(
            Prefetch(
                "acts",
                Act.objects.select_related("incident__testimony", "incident__place", "place"),
            )
        )
    )
    sources = selectors.independent_sources([g.pk for g in groups])
    context = {
        "candidates": candidates,
        "act_type": act_type,
        "act_types": vocab.choices("act_type"),
        "groups": [(group, sources.get(group.pk, 0)) for group in groups],
        "uncorroborated": selectors.uncorroborated_serious(user),
        "form": form or CorroborateForm(act_ids=[a.pk for a in candidates]),
        "chosen": set(request.POST.getlist("acts")),
    }
    return _no_store(render(request, "testimony/corroboration.html", context))


@policy.route(Action.TESTIMONY_RECORD)
def corroboration(request: HttpRequest) -> HttpResponse:
    return _render_corroboration(request)


@require_POST
@policy.route(Action.TESTIMONY_RECORD)
def corroborate(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    wanted = [pk for pk in request.POST.getlist("acts") if pk.isdecimal()]
    acts = list(_candidate_acts(user).filter(pk__in=wanted))
    form = CorroborateForm(request.POST, act_ids=[a.pk for a in acts])
    if len(acts) != len(set(wanted)):
        raise NotFound(_("Not found."))

    def perform(data: dict[str, Any]) -> None:
        services.acts_corroborate(actor=user, acts=acts, label=data["label"])

    if attempt(form, perform):
        messages.success(request, _("The acts were linked as one event."))
        return redirect("testimony:corroboration")
    return _render_corroboration(request, form)


@require_POST
@policy.route(Action.TESTIMONY_RECORD)
def uncorroborate(request: HttpRequest, act_id: int) -> HttpResponse:
    user = actor(request)
    act = (
        selectors.acts_recordable_by(user)
        .select_related("incident__testimony", "corroboration")
        .filter(pk=act_id)
        .first()
    )
    if act is None:
        raise NotFound(_("Not found."))
    services.act_uncorroborate(actor=user, act=act)
    messages.success(request, _("The act was taken out of its group."))
    return redirect("testimony:corroboration")


# --- evidence -------------------------------------------------------------------------------


@policy.route(Action.EVIDENCE_VIEW)
def evidence_list(request: HttpRequest) -> HttpResponse:
    files = (
        selectors.evidence_visible_to(actor(request))
        .select_related("uploaded_by", "original")
        .annotate(linked=Count("testimonies"))
    )
    page = Paginator(files, PAGE_SIZE).get_page(request.GET.get("page"))
    return _no_store(render(request, "testimony/evidence_list.html", {"page": page}))


def _upload(user: User, data: dict[str, Any]) -> EvidenceFile:
    upload = data["file"]
    return services.evidence_upload(
        actor=user,
        filename=upload.name or "",
        data=upload.read(),
        received_from=data["received_from"],
        received_on=data["received_on"],
        description=data["description"],
    )


@policy.route(Action.EVIDENCE_UPLOAD)
def evidence_upload(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    form = EvidenceUploadForm(request.POST or None, request.FILES or None)
    stored: list[EvidenceFile] = []

    def perform(data: dict[str, Any]) -> None:
        stored.append(_upload(user, data))

    if request.method == "POST" and attempt(form, perform, {"filename": "file"}):
        evidence = stored[0]
        messages.success(
            request, _("Evidence file %(id)s was stored.") % {"id": evidence.public_id}
        )
        return redirect("testimony:evidence_detail", public_id=evidence.public_id)
    context = {"form": form, "max_mb": settings.SAEBOM_EVIDENCE_MAX_MB}
    return _no_store(render(request, "testimony/evidence_upload.html", context))


def _render_evidence(
    request: HttpRequest, evidence: EvidenceFile, bound: dict[str, forms.Form] | None = None
) -> HttpResponse:
    """The evidence page; showing its record (source, description) is an audited read."""
    user = actor(request)
    services.evidence_record_viewed(actor=user, evidence=evidence)
    bound = bound or {}
    visible = selectors.evidence_visible_to(user)
    context: dict[str, Any] = {
        "evidence": evidence,
        "custody": list(evidence.custody.all()),
        "copies": list(visible.filter(original=evidence)),
        "testimonies": list(selectors.testimonies_visible_to(user).filter(evidence_files=evidence)),
        "inline": evidence.media_type in INLINE_TYPES,
    }
    if policy.allows(user, Action.EVIDENCE_UPLOAD) and not evidence.is_working_copy:
        context["copy_form"] = bound.get("copy") or WorkingCopyForm(prefix="copy")
    if policy.allows(user, Action.TESTIMONY_RECORD):
        context["link_form"] = bound.get("link") or TestimonyChoiceForm(prefix="link")
        context["testimony_choices"] = list(
            selectors.testimonies_visible_to(user).exclude(evidence_files=evidence)[:100]
        )
    return _no_store(render(request, "testimony/evidence_detail.html", context))


@policy.route(Action.EVIDENCE_VIEW)
def evidence_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    evidence = selectors.evidence_get(actor(request), public_id)
    return _render_evidence(request, evidence)


def _file_response(evidence: EvidenceFile, data: bytes, *, inline: bool) -> HttpResponse:
    """The file's bytes, never interpreted as anything but its detected type."""
    media_type = evidence.media_type
    if media_type == "text/plain":
        media_type = "text/plain; charset=utf-8"
    response = HttpResponse(data, content_type=media_type)
    disposition = content_disposition_header(not inline, evidence.display_name)
    response["Content-Disposition"] = disposition or "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return _no_store(response)


@require_POST
@policy.route(Action.EVIDENCE_VIEW)
def evidence_open(request: HttpRequest, public_id: str) -> HttpResponse:
    """The file in the browser when its type is safe to show there, else as an attachment;
    either way a ``viewed`` custody event."""
    user = actor(request)
    evidence = selectors.evidence_get(user, public_id)
    data = services.evidence_open(actor=user, evidence=evidence)
    return _file_response(evidence, data, inline=evidence.media_type in INLINE_TYPES)


@require_POST
@policy.route(Action.EVIDENCE_VIEW)
def evidence_download(request: HttpRequest, public_id: str) -> HttpResponse:
    user = actor(request)
    evidence = selectors.evidence_get(user, public_id)
    data = services.evidence_download(actor=user, evidence=evidence)
    return _file_response(evidence, data, inline=False)


@require_POST
@policy.route(Action.EVIDENCE_UPLOAD)
def evidence_working_copy(request: HttpRequest, public_id: str) -> HttpResponse:
    user = actor(request)
    original = selectors.evidence_get(user, public_id)
    form = WorkingCopyForm(request.POST, request.FILES, prefix="copy")
    stored: list[EvidenceFile] = []

    def perform(data: dict[str, Any]) -> None:
        upload = data["file"]
        stored.append(
            services.evidence_working_copy(
                actor=user,
                original=original,
                filename=upload.name or "",
                data=upload.read(),
                description=data["description"],
            )
        )

    if attempt(form, perform, {"filename": "file"}):
        copy = stored[0]
        messages.success(request, _("Working copy %(id)s was stored.") % {"id": copy.public_id})
        return redirect("testimony:evidence_detail", public_id=original.public_id)
    return _render_evidence(request, original, {"copy": form})


@require_POST
@policy.route(Action.TESTIMONY_RECORD)
def evidence_link(request: HttpRequest, public_id: str) -> HttpResponse:
    user = actor(request)
    evidence = selectors.evidence_get(user, public_id)
    form = TestimonyChoiceForm(request.POST, prefix="link")

    def perform(data: dict[str, Any]) -> None:
        wanted = data["testimony"].strip()
        testimony = selectors.testimonies_visible_to(user).filter(public_id=wanted).first()
        if testimony is None or not selectors.reads_confidential(user, testimony):
            raise SaebomError(
                _("no testimony %(id)s in your agency") % {"id": wanted}, field="testimony"
            )
        services.evidence_link(actor=user, evidence=evidence, testimony=testimony)

    if attempt(form, perform):
        messages.success(request, _("The evidence file was linked."))
        return redirect("testimony:evidence_detail", public_id=evidence.public_id)
    return _render_evidence(request, evidence, {"link": form})


# --- places ---------------------------------------------------------------------------------


def _render_places(request: HttpRequest, form: PlaceForm | None = None) -> HttpResponse:
    user = actor(request)
    places = _places()
    if form is None and policy.allows(user, Action.PLACE_MANAGE):
        form = PlaceForm(prefix="place", places=places)
    order = {"province": 0, "county": 1, "facility": 2}
    rows = sorted(places, key=lambda p: (order.get(p.kind, 9), p.province, place_name(p)))
    return render(request, "testimony/places.html", {"places": rows, "form": form})


@policy.route(Action.PLACE_VIEW)
def place_list(request: HttpRequest) -> HttpResponse:
    return _render_places(request)


@require_POST
@policy.route(Action.PLACE_MANAGE)
def place_create(request: HttpRequest) -> HttpResponse:
    form = PlaceForm(request.POST, prefix="place", places=_places())

    def perform(data: dict[str, Any]) -> None:
        services.place_create(actor=actor(request), **data)

    if attempt(form, perform):
        messages.success(request, _("The place was added to the gazetteer."))
        return redirect("testimony:places")
    return _render_places(request, form)
