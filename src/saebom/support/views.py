"""Resettlement support pages: the caseload, a case with the sections its reader may see, the
referrals inbox, outcome indicators and benefit rates.

Reads go through ``support.selectors`` (scoped to the reader), writes through
``support.services`` (policy, audit event, versions). Every form of a case posts to its own small
view: with htmx the case's body is swapped in place, without it the view redirects back to the
case (POST-redirect-GET). A service's error is shown next to the field it names, and nothing of
the submission is written.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from saebom.accounts.models import Agency, User
from saebom.core import policy, vocab
from saebom.core.exceptions import NotFound, PermissionDenied, SaebomError
from saebom.core.policy import Action, Role, Scope
from saebom.registry import selectors as registry_selectors
from saebom.support import selectors, services
from saebom.support.benefits import ledger, rates_year
from saebom.support.forms import (
    AssessmentForm,
    CaseloadFilterForm,
    CaseOpenForm,
    CaseUpdateForm,
    DeclineForm,
    ExtensionForm,
    FollowUpForm,
    FollowUpUpdateForm,
    GoalForm,
    GoalUpdateForm,
    HouseholdForm,
    MemberForm,
    MilestoneForm,
    NoteForm,
    NotesConsentForm,
    OfficerForm,
    OutcomeFilterForm,
    OutcomeForm,
    PaymentForm,
    RateForm,
    ReferralForm,
    RevokeForm,
    ServiceForm,
    ServiceUpdateForm,
)
from saebom.support.models import Case, FollowUp, Goal, Referral, Service
from saebom.support.outcomes import national_figures, outcome_indicators
from saebom.support.selectors import CaseAccess
from saebom.web.requests import actor, is_htmx
from saebom.web.services_in_forms import attempt

PAGE_SIZE = 50

# The order of the case page: the sections, with the lead agency's own "referrals" (not a
# consented section) after the benefits.
_AFTER_BENEFITS = selectors.SECTIONS.index("benefits") + 1
SECTION_ORDER = (
    *selectors.SECTIONS[:_AFTER_BENEFITS],
    "referrals",
    *selectors.SECTIONS[_AFTER_BENEFITS:],
)


def _agencies(user: User) -> QuerySet[Agency]:
    return policy.scoped(
        user, Action.AGENCY_VIEW, Agency.objects.all(), agency_field="pk"
    ).order_by("code")


# --- caseload ------------------------------------------------------------------------------


@policy.route(Action.CASELOAD_VIEW)
def caseload(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    data = request.GET.copy()
    if not data.get("scope"):  # "my cases" for caseworkers, the agency's for the others
        data["scope"] = "mine" if user.role == Role.CASEWORKER else "agency"
    form = CaseloadFilterForm(data)
    filters = form.cleaned_data if form.is_valid() else {}
    scope = filters.get("scope") or "agency"
    member = user if scope == "mine" else None
    cases = selectors.caseload(user, member=member, attention_only=bool(filters.get("attention")))
    # The counts on top are of the whole caseload, whatever the filter shows.
    attention = bool(filters.get("attention"))
    summary = selectors.caseload_summary(
        selectors.caseload(user, member=member), with_attention=attention
    )
    paginator = Paginator(cases, PAGE_SIZE)
    # The summary has counted the rows already: no third statement to count them again.
    paginator.count = summary["needing_attention" if attention else "cases"]
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    today = selectors.today()
    context = {
        "form": form,
        "page": page,
        "summary": summary,
        "scope": scope,
        "query": query.urlencode(),
        "today": today,
        "ending_before": today + selectors.ENDING_WITHIN,
    }
    template = "support/caseload.html#results" if is_htmx(request) else "support/caseload.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])  # the fragment and the page share a URL
    return response


# --- opening a case ------------------------------------------------------------------------


@policy.route(Action.CASE_CREATE)
def case_new(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    arrival_id = request.GET.get("arrival", "")
    if not arrival_id.isdecimal():
        raise NotFound(_("Not found."))
    arrival = policy.get_visible(
        user,
        Action.CASE_CREATE,
        registry_selectors.arrivals_visible_to(user, Action.CASE_CREATE),
        pk=int(arrival_id),
    )
    existing = selectors.case_of_person(user, arrival.person_id)
    if existing is not None:
        messages.info(request, _("This person already has a case."))
        return redirect("support:case_detail", public_id=existing.public_id)
    form = CaseOpenForm(
        request.POST or None, initial={"opened_on": selectors.today(), "household_size": 1}
    )
    opened: list[Case] = []

    def perform(data: dict[str, Any]) -> None:
        opened.append(services.case_open(actor=user, person=arrival.person, **data))

    if request.method == "POST" and attempt(form, perform):
        case = opened[0]
        messages.success(request, _("Case %(id)s was opened.") % {"id": case.public_id})
        return redirect("support:case_detail", public_id=case.public_id)
    return render(request, "support/case_new.html", {"form": form, "arrival": arrival})


# --- the case page -------------------------------------------------------------------------


def _case_form(case: Case, data: QueryDict | None = None) -> CaseUpdateForm:
    initial = {
        "version": case.version,
        "status": case.status,
        "household_size": case.household_size,
        "protection_start": case.protection_start,
        "closed_on": case.closed_on,
    }
    return CaseUpdateForm(data, prefix="case", initial=initial)


def _member_form(case: Case, data: QueryDict | None = None) -> MemberForm:
    return MemberForm(data, prefix="member", staff=selectors.case_staff(case))


def _assessment_form(case: Case, data: QueryDict | None = None) -> AssessmentForm:
    initial: dict[str, Any] = {"assessed_on": selectors.today()}
    if case.latest_assessment_id is not None and data is None:
        for score in case.latest_assessment.scores.all():  # type: ignore[union-attr]
            initial[f"severity_{score.domain}"] = score.severity
    return AssessmentForm(data, prefix="assessment", initial=initial)


def _service_form(user: User, data: QueryDict | None = None) -> ServiceForm:
    return ServiceForm(data, prefix="service", agencies=_agencies(user))


def _service_update_form(service: Service, data: QueryDict | None = None) -> ServiceUpdateForm:
    initial = {
        "version": service.version,
        "status": service.status,
        "delivered_on": service.delivered_on,
    }
    return ServiceUpdateForm(data, prefix=f"service-{service.pk}", initial=initial)


def _goal_update_form(goal: Goal, data: QueryDict | None = None) -> GoalUpdateForm:
    initial = {"version": goal.version, "status": goal.status}
    return GoalUpdateForm(data, prefix=f"goal-{goal.pk}", initial=initial)


def _referral_form(user: User, case: Case, data: QueryDict | None = None) -> ReferralForm:
    agencies = _agencies(user).exclude(pk=case.lead_agency_id)
    return ReferralForm(data, prefix="referral", agencies=agencies)


def _followup_form(case: Case, data: QueryDict | None = None) -> FollowUpForm:
    return FollowUpForm(data, prefix="followup", staff=selectors.case_staff(case))


def _followup_update_form(followup: FollowUp, data: QueryDict | None = None) -> FollowUpUpdateForm:
    initial = {
        "version": followup.version,
        "status": followup.status,
        "done_on": followup.done_on,
        "outcome": followup.outcome or "",
    }
    return FollowUpUpdateForm(data, prefix=f"followup-{followup.pk}", initial=initial)


def _revoke_form(referral: Referral, data: QueryDict | None = None) -> RevokeForm:
    return RevokeForm(data, prefix=f"revoke-{referral.pk}")


def _case_context(
    request: HttpRequest, access: CaseAccess, bound: dict[str, forms.Form]
) -> dict[str, Any]:
    """What the case page shows: only the sections in ``access.sections`` are even read."""
    user = actor(request)
    case = access.case
    edit = access.can_update
    sees = access.sections
    today = selectors.today()

    def form(key: str, make: Callable[[], forms.Form]) -> forms.Form | None:
        if not edit:
            return None
        return bound.get(key) or make()

    shown = [s for s in SECTION_ORDER if s in sees or (s == "referrals" and access.is_lead_agency)]
    context: dict[str, Any] = {
        "access": access,
        "case": case,
        "sections": shown,
        "edit": edit,
        "today": today,
        "bound": set(bound),
    }
    if "profile" in sees:
        context["members"] = selectors.members_seen_by(access)
        context["case_form"] = form("case", lambda: _case_form(case))
        context["member_form"] = form("member", lambda: _member_form(case))
    if "milestones" in sees:
        context["milestones"] = case.milestones.order_by("reached_on", "pk")
        context["milestone_form"] = form("milestone", lambda: MilestoneForm(prefix="milestone"))
    if "protection" in sees:
        context["extensions"] = case.extensions.select_related("recorded_by").order_by(
            "-decided_on", "-pk"
        )
        context["extension_form"] = form(
            "extension", lambda: ExtensionForm(prefix="extension", initial={"decided_on": today})
        )
        context["ending_soon"] = (
            case.protection_end is not None
            and today <= case.protection_end <= today + selectors.ENDING_WITHIN
        )
    if "officers" in sees:
        order = {code: n for n, code in enumerate(vocab.codes("protection_officer"))}
        context["officers"] = sorted(case.officers.all(), key=lambda o: order.get(o.kind, 99))
        context["officer_form"] = form("officer", lambda: OfficerForm(prefix="officer"))
    if "household" in sees:
        context["household"] = case.household.order_by("pk")
        context["household_form"] = form("household", lambda: HouseholdForm(prefix="household"))
    if "needs" in sees:
        context.update(_needs_context(case))
        context["assessment_form"] = form("assessment", lambda: _assessment_form(case))
    if "plan" in sees:
        context["goals"] = [
            (goal, form(f"goal-{goal.pk}", partial(_goal_update_form, goal)))
            for goal in case.goals.order_by("pk")
        ]
        context["goal_form"] = form("goal", lambda: GoalForm(prefix="goal"))
    if "services" in sees:
        context["services"] = [
            (service, form(f"service-{service.pk}", partial(_service_update_form, service)))
            for service in case.services.select_related("provider").order_by("created_at", "pk")
        ]
        context["service_form"] = form("service", lambda: _service_form(user))
    if "benefits" in sees:
        context["payments"] = case.payments.select_related("recorded_by")
        context["ledger"] = ledger(case, rates_year(case))
        context["ledger_year"] = rates_year(case)
        context["payment_form"] = form(
            "payment", lambda: PaymentForm(prefix="payment", initial={"paid_on": today})
        )
    if "referrals" in shown:
        context["referrals"] = [
            (
                r,
                r.state_on(today),
                form(f"revoke-{r.pk}", partial(_revoke_form, r))
                if r.revocable() and services.referral_side(user, r) is not None
                else None,
            )
            for r in selectors.case_referrals(access, user)
        ]
        may_send = edit and policy.allows(user, Action.REFERRAL_SEND)
        context["referral_form"] = (
            (bound.get("referral") or _referral_form(user, case)) if may_send else None
        )
    if "followups" in sees:
        context["followups"] = [
            (f, form(f"followup-{f.pk}", partial(_followup_update_form, f)))
            for f in case.followups.select_related("assigned_to").order_by("due_on", "pk")
        ]
        context["followup_form"] = form("followup", lambda: _followup_form(case))
    if "notes" in sees:
        context["notes"] = case.notes.select_related("author")
        context["note_form"] = form("note", lambda: NoteForm(prefix="note"))
        context["consent_form"] = form(
            "notes-consent",
            lambda: NotesConsentForm(
                prefix="notes-consent", initial={"given_on": case.notes_export_consent_on}
            ),
        )
    if "outcomes" in sees:
        context["outcomes"] = case.outcomes.order_by("-year")
        context["outcome_form"] = form(
            "outcome", lambda: OutcomeForm(prefix="outcome", initial={"year": today.year - 1})
        )
    return context


def _needs_context(case: Case) -> dict[str, Any]:
    """The assessments and, per domain, its severity in each and the latest change."""
    assessments, changes = selectors.needs_changes(case)
    latest_notes = (
        {score.domain: score.note for score in assessments[-1].scores.all()} if assessments else {}
    )
    rows = [
        {
            "domain": change.domain,
            "severities": [
                (s, vocab.label("need_severity", str(s)) if s is not None else "")
                for s in change.severities
            ],
            "change": change.change,
            "note": latest_notes.get(change.domain) or "",
        }
        for change in changes
    ]
    return {"assessments": assessments, "need_rows": rows}


def _render_case(
    request: HttpRequest,
    access: CaseAccess,
    *,
    bound: dict[str, forms.Form] | None = None,
    flash: tuple[str, str] | None = None,
    audit: bool = True,
) -> HttpResponse:
    """The case page (its body alone for htmx). Showing it is an audited read, except right
    after a write, whose own audit event records it."""
    if audit:
        services.case_viewed(actor=actor(request), access=access)
    context = _case_context(request, access, bound or {})
    if flash:
        context["flash_section"], context["flash"] = flash
    template = (
        "support/case_detail.html#case_body" if is_htmx(request) else "support/case_detail.html"
    )
    response = render(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


@policy.route(Action.CASE_VIEW)
def case_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    access = selectors.case_access(actor(request), public_id)
    return _render_case(request, access)


def _editable(request: HttpRequest, public_id: str) -> CaseAccess:
    """The case, if the actor may see it (404 otherwise) and change it (403 otherwise)."""
    access = selectors.case_access(actor(request), public_id)
    if not access.can_update:
        raise PermissionDenied(_("Only the lead agency's caseworkers may change this case."))
    return access


def _part(parts: Any, pk: int) -> Any:
    """One record of a case (a goal, a service...) by its id, looked up in that case only."""
    found = parts.filter(pk=pk).first()
    if found is None:
        raise NotFound(_("Not found."))
    return found


def _saved(request: HttpRequest, public_id: str, section: str, message: str) -> HttpResponse:
    """After a write: the case body again (htmx) or a redirect to the section."""
    try:
        access = selectors.case_access(actor(request), public_id)
    except NotFound:  # the write ended the actor's access (a referral they gave up)
        messages.success(request, message)
        if is_htmx(request):
            return HttpResponseClientRedirect(reverse("support:referrals"))
        return redirect("support:referrals")
    if is_htmx(request):
        return _render_case(request, access, flash=(section, message), audit=False)
    messages.success(request, message)
    url = reverse("support:case_detail", kwargs={"public_id": access.case.public_id})
    return redirect(f"{url}#section-{section}")


def _case_post(
    request: HttpRequest,
    access: CaseAccess,
    *,
    key: str,
    form: forms.Form,
    perform: Callable[[dict[str, Any]], object],
    section: str,
    done: str,
    aliases: dict[str, str] | None = None,
) -> HttpResponse:
    if attempt(form, perform, aliases):
        return _saved(request, access.case.public_id, section, done)
    return _render_case(request, access, bound={key: form})


@require_POST
@policy.route(Action.CASE_UPDATE)
def case_update(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)
    case = access.case
    form = _case_form(case, request.POST)

    def perform(data: dict[str, Any]) -> None:
        # Only what the person changed; the version they started from decides staleness.
        changes = {name: data[name] for name in form.changed_data if name != "version"}
        if not changes:
            return
        services.case_update(
            actor=actor(request), case=case, expected_version=data["version"], **changes
        )

    return _case_post(
        request,
        access,
        key="case",
        form=form,
        perform=perform,
        section="profile",
        done=_("The case was saved."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def member_set(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)
    form = _member_form(access.case, request.POST)

    def perform(data: dict[str, Any]) -> None:
        services.case_member_set(
            actor=actor(request), case=access.case, user=data["user"], role=data["role"]
        )

    return _case_post(
        request,
        access,
        key="member",
        form=form,
        perform=perform,
        section="profile",
        done=_("The caseworker was assigned."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def member_remove(request: HttpRequest, public_id: str, user_id: int) -> HttpResponse:
    access = _editable(request, public_id)
    member = next(
        (
            m
            for m in selectors.members_of([access.case]).get(access.case.pk, [])
            if m.user_id == user_id
        ),
        None,
    )
    if member is None:
        raise NotFound(_("Not found."))
    services.case_member_remove(actor=actor(request), case=access.case, user=member.user)
    return _saved(request, public_id, "profile", _("The caseworker was removed from the case."))


@require_POST
@policy.route(Action.CASE_UPDATE)
def milestone_record(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.milestone_record(actor=actor(request), case=access.case, **data)

    return _case_post(
        request,
        access,
        key="milestone",
        form=MilestoneForm(request.POST, prefix="milestone"),
        perform=perform,
        section="milestones",
        done=_("The milestone was recorded."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def protection_extend(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.protection_extend(actor=actor(request), case=access.case, **data)

    return _case_post(
        request,
        access,
        key="extension",
        form=ExtensionForm(request.POST, prefix="extension"),
        perform=perform,
        section="protection",
        done=_("The extension of protection was recorded."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def officer_set(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.officer_set(actor=actor(request), case=access.case, **data)

    return _case_post(
        request,
        access,
        key="officer",
        form=OfficerForm(request.POST, prefix="officer"),
        perform=perform,
        section="officers",
        done=_("The protection officer was saved."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def household_add(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.household_add(actor=actor(request), case=access.case, **data)

    return _case_post(
        request,
        access,
        key="household",
        form=HouseholdForm(request.POST, prefix="household"),
        perform=perform,
        section="household",
        done=_("The household member was added."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def assessment_record(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)
    domains = vocab.codes("need_domain")

    def perform(data: dict[str, Any]) -> None:
        needs = {d: services.Need(data[f"severity_{d}"], data[f"note_{d}"]) for d in domains}
        services.assessment_record(
            actor=actor(request), case=access.case, assessed_on=data["assessed_on"], needs=needs
        )

    return _case_post(
        request,
        access,
        key="assessment",
        form=_assessment_form(access.case, request.POST),
        perform=perform,
        section="needs",
        done=_("The needs assessment was recorded."),
        aliases={f"needs.{d}": f"severity_{d}" for d in domains},
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def goal_add(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.goal_add(actor=actor(request), case=access.case, **data)

    return _case_post(
        request,
        access,
        key="goal",
        form=GoalForm(request.POST, prefix="goal"),
        perform=perform,
        section="plan",
        done=_("The goal was added."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def goal_update(request: HttpRequest, public_id: str, goal_id: int) -> HttpResponse:
    access = _editable(request, public_id)
    goal = _part(access.case.goals, goal_id)
    form = _goal_update_form(goal, request.POST)

    def perform(data: dict[str, Any]) -> None:
        services.goal_update(
            actor=actor(request), goal=goal, expected_version=data["version"], status=data["status"]
        )

    return _case_post(
        request,
        access,
        key=f"goal-{goal.pk}",
        form=form,
        perform=perform,
        section="plan",
        done=_("The goal was saved."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def service_add(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.service_add(actor=actor(request), case=access.case, **data)

    return _case_post(
        request,
        access,
        key="service",
        form=_service_form(actor(request), request.POST),
        perform=perform,
        section="services",
        done=_("The service was added."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def service_update(request: HttpRequest, public_id: str, service_id: int) -> HttpResponse:
    access = _editable(request, public_id)
    service = _part(access.case.services, service_id)
    form = _service_update_form(service, request.POST)

    def perform(data: dict[str, Any]) -> None:
        services.service_update(
            actor=actor(request),
            service=service,
            expected_version=data["version"],
            status=data["status"],
            delivered_on=data["delivered_on"],
        )

    return _case_post(
        request,
        access,
        key=f"service-{service.pk}",
        form=form,
        perform=perform,
        section="services",
        done=_("The service was saved."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def payment_record(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.payment_record(actor=actor(request), case=access.case, **data)

    return _case_post(
        request,
        access,
        key="payment",
        form=PaymentForm(request.POST, prefix="payment"),
        perform=perform,
        section="benefits",
        done=_("The payment was recorded."),
    )


@require_POST
@policy.route(Action.REFERRAL_SEND)
def referral_send(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)
    form = _referral_form(actor(request), access.case, request.POST)

    def perform(data: dict[str, Any]) -> None:
        services.referral_send(actor=actor(request), case=access.case, **data)

    return _case_post(
        request,
        access,
        key="referral",
        form=form,
        perform=perform,
        section="referrals",
        done=_("The referral was sent."),
    )


@require_POST
@policy.route(Action.REFERRAL_SEND)
def referral_revoke(request: HttpRequest, public_id: str, referral_id: int) -> HttpResponse:
    """The lead agency ends a referral (also when the person withdraws their consent); the
    receiving agency gives one up from its inbox (``referral_end``)."""
    access = _editable(request, public_id)
    referral = selectors.referral_for(actor(request), referral_id)
    if referral.case_id != access.case.pk:
        raise NotFound(_("Not found."))

    def perform(data: dict[str, Any]) -> None:
        services.referral_revoke(
            actor=actor(request),
            referral=referral,
            reason=data["reason"],
            for_person=data["for_person"],
        )

    return _case_post(
        request,
        access,
        key=f"revoke-{referral.pk}",
        form=_revoke_form(referral, request.POST),
        perform=perform,
        section="referrals",
        done=_("The referral was revoked: the other agency no longer sees the case."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def followup_schedule(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.followup_schedule(actor=actor(request), case=access.case, **data)

    return _case_post(
        request,
        access,
        key="followup",
        form=_followup_form(access.case, request.POST),
        perform=perform,
        section="followups",
        done=_("The follow-up was scheduled."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def followup_update(request: HttpRequest, public_id: str, followup_id: int) -> HttpResponse:
    access = _editable(request, public_id)
    followup = _part(access.case.followups, followup_id)
    form = _followup_update_form(followup, request.POST)

    def perform(data: dict[str, Any]) -> None:
        services.followup_update(
            actor=actor(request),
            followup=followup,
            expected_version=data["version"],
            status=data["status"],
            done_on=data["done_on"],
            outcome=data["outcome"],
        )

    return _case_post(
        request,
        access,
        key=f"followup-{followup.pk}",
        form=form,
        perform=perform,
        section="followups",
        done=_("The follow-up was saved."),
    )


@require_POST
@policy.route(Action.CASE_NOTES, Action.CASE_UPDATE)
def note_add(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)
    if "notes" not in access.sections:
        raise PermissionDenied(_("Only members of the case may write its notes."))

    def perform(data: dict[str, Any]) -> None:
        services.note_add(actor=actor(request), case=access.case, text=data["text"])

    return _case_post(
        request,
        access,
        key="note",
        form=NoteForm(request.POST, prefix="note"),
        perform=perform,
        section="notes",
        done=_("The note was added."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def notes_consent(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.notes_export_consent_set(
            actor=actor(request), case=access.case, given_on=data["given_on"]
        )

    return _case_post(
        request,
        access,
        key="notes-consent",
        form=NotesConsentForm(request.POST, prefix="notes-consent"),
        perform=perform,
        section="notes",
        done=_("The consent to export notes was recorded."),
    )


@require_POST
@policy.route(Action.CASE_UPDATE)
def outcome_record(request: HttpRequest, public_id: str) -> HttpResponse:
    access = _editable(request, public_id)

    def perform(data: dict[str, Any]) -> None:
        services.outcome_record(actor=actor(request), case=access.case, **data)

    return _case_post(
        request,
        access,
        key="outcome",
        form=OutcomeForm(request.POST, prefix="outcome"),
        perform=perform,
        section="outcomes",
        done=_("The outcome was recorded."),
    )


# --- referrals inbox -----------------------------------------------------------------------


def _render_inbox(
    request: HttpRequest,
    *,
    errors: dict[int, str] | None = None,
    bound: dict[int, forms.Form] | None = None,
) -> HttpResponse:
    user = actor(request)
    page = Paginator(selectors.referrals_incoming(user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    today = selectors.today()
    rows = [
        {
            "referral": r,
            "error": (errors or {}).get(r.pk, ""),
            "decline_form": (bound or {}).get(r.pk) or DeclineForm(prefix=f"decline-{r.pk}"),
            "active": r.is_active_on(today),
            "state": r.state_on(today),
            # Not offered once the sender no longer leads the case (nor is that said).
            "acceptable": r.acceptable_on(today),
            "purpose_shown": r.purpose_shown_on(today),
            "may_end": r.revocable() and services.referral_side(user, r) is not None,
        }
        for r in page
    ]
    return render(request, "support/referrals.html", {"page": page, "rows": rows})


@policy.route(Action.REFERRAL_RESPOND)
def referral_inbox(request: HttpRequest) -> HttpResponse:
    return _render_inbox(request)


def _respond(
    request: HttpRequest,
    referral_id: int,
    perform: Callable[[Referral], object],
    done: str,
    form: forms.Form | None = None,
) -> HttpResponse:
    referral = selectors.referral_for(actor(request), referral_id)
    try:
        if form is None or form.is_valid():
            perform(referral)
            messages.success(request, done % {"case": referral.case.public_id})
            return redirect("support:referrals")
    except (NotFound, PermissionDenied):
        raise
    except SaebomError as exc:
        return _render_inbox(request, errors={referral.pk: exc.message})
    return _render_inbox(request, bound={referral.pk: form} if form is not None else None)


@require_POST
@policy.route(Action.REFERRAL_RESPOND)
def referral_accept(request: HttpRequest, referral_id: int) -> HttpResponse:
    return _respond(
        request,
        referral_id,
        lambda referral: services.referral_accept(actor=actor(request), referral=referral),
        _("You accepted the referral of case %(case)s."),
    )


@require_POST
@policy.route(Action.REFERRAL_RESPOND)
def referral_decline(request: HttpRequest, referral_id: int) -> HttpResponse:
    form = DeclineForm(request.POST, prefix=f"decline-{referral_id}")
    return _respond(
        request,
        referral_id,
        lambda referral: services.referral_decline(
            actor=actor(request), referral=referral, reason=form.cleaned_data["reason"]
        ),
        _("You declined the referral of case %(case)s."),
        form,
    )


@require_POST
@policy.route(Action.REFERRAL_RESPOND)
def referral_end(request: HttpRequest, referral_id: int) -> HttpResponse:
    """The receiving agency gives up a referral: it no longer sees the case."""
    return _respond(
        request,
        referral_id,
        lambda referral: services.referral_revoke(
            actor=actor(request), referral=referral, reason=_("given up by the receiving agency")
        ),
        _("You ended the referral of case %(case)s."),
    )


# --- outcome indicators --------------------------------------------------------------------


def _default_survey_year() -> int:
    this_year = selectors.today().year
    published = [year for year in national_figures() if year < this_year]
    return max(published) if published else this_year - 1


@policy.route(Action.OUTCOME_STATS_VIEW)
def outcomes(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    every_agency = policy.scope_of(user, Action.OUTCOME_STATS_VIEW) is Scope.ALL
    year = _default_survey_year()
    form = OutcomeFilterForm(request.GET or None, initial={"year": year})
    if form.is_valid():
        year = form.cleaned_data["year"]
    report = outcome_indicators(user, year=year)
    context = {"form": form, "report": report, "every_agency": every_agency, "year": year}
    return render(request, "support/outcomes.html", context)


# --- benefit rates -------------------------------------------------------------------------


def _render_rates(request: HttpRequest, form: RateForm | None = None) -> HttpResponse:
    user = actor(request)
    if form is None and services.keeps_benefit_rates(user):
        form = RateForm(prefix="rate", initial={"year": selectors.today().year})
    return render(request, "support/rates.html", {"rates": selectors.benefit_rates(), "form": form})


@policy.route(Action.CASE_VIEW)
def rates(request: HttpRequest) -> HttpResponse:
    return _render_rates(request)


@require_POST
@policy.route(Action.BENEFIT_RATES_MANAGE)
def rate_set(request: HttpRequest) -> HttpResponse:
    form = RateForm(request.POST, prefix="rate")

    def perform(data: dict[str, Any]) -> None:
        services.benefit_rate_set(actor=actor(request), **data)

    if attempt(form, perform):
        messages.success(request, _("The rate was saved."))
        return redirect("support:rates")
    return _render_rates(request, form)
