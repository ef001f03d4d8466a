"""The web shell: dashboard per role, audit log, API tokens, agency users."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from saebom.accounts import selectors as account_selectors
from saebom.accounts import services as account_services
from saebom.accounts.models import User
from saebom.core import policy
from saebom.core import selectors as core_selectors
from saebom.core.audit import audit_head, audit_verify
from saebom.core.exceptions import SaebomError
from saebom.core.policy import Action, Role
from saebom.support import selectors as support_selectors
from saebom.web.forms import ApiTokenForm, AuditFilterForm, UserCreateForm
from saebom.web.requests import actor, is_htmx

AUDIT_PAGE_SIZE = 50


@policy.public_route
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@policy.route(Action.DASHBOARD_VIEW)
def dashboard(request: HttpRequest) -> HttpResponse:
    user: User = actor(request)
    context = {
        "role_label": Role(user.role).label,
        "has_totp": account_selectors.has_totp(user),
        "token_count": account_selectors.api_tokens_of(user)
        .filter(revoked_at__isnull=True)
        .count(),
    }
    if policy.allows(user, Action.AUDIT_VIEW):
        context["recent_events"] = core_selectors.audit_events_visible_to(user)[:5]
        context["audit_head"] = audit_head()
    if policy.allows(user, Action.CASELOAD_VIEW):
        mine = user if user.role == Role.CASEWORKER else None
        context["caseload"] = support_selectors.caseload_summary(
            support_selectors.caseload(user, member=mine)
        )
    if policy.allows(user, Action.USER_VIEW):
        context["user_count"] = (
            account_selectors.users_visible_to(user).filter(is_active=True).count()
        )
    return render(request, "web/dashboard.html", context)


@policy.route(Action.AUDIT_VIEW)
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    events = core_selectors.audit_events_visible_to(actor(request))
    if form.is_valid():
        events = core_selectors.audit_events_filtered(events, **form.cleaned_data)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    template = "web/audit_log.html#events" if is_htmx(request) else "web/audit_log.html"
    return render(request, template, {"form": form, "page": page, "head": audit_head()})


@require_POST
@policy.route(Action.AUDIT_VERIFY)
def audit_verify_view(request: HttpRequest) -> HttpResponse:
    result = audit_verify()
    return render(request, "web/audit_log.html#verify_result", {"result": result})


@policy.route(Action.TOKEN_MANAGE)
def api_tokens(request: HttpRequest) -> HttpResponse:
    user: User = actor(request)
    form = ApiTokenForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = account_services.api_token_create(actor=user, name=form.cleaned_data["name"])
        except SaebomError as exc:
            form.add_error(exc.field or None, exc.message)
        else:
            form = ApiTokenForm()
    tokens = account_selectors.api_tokens_of(user)
    return render(
        request, "web/api_tokens.html", {"form": form, "tokens": tokens, "issued": issued}
    )


@require_POST
@policy.route(Action.TOKEN_MANAGE)
def api_token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    account_services.api_token_revoke(actor=actor(request), token_id=token_id)
    messages.success(request, _("The token was revoked."))
    return redirect("web:api_tokens")


@policy.route(Action.USER_VIEW, write=Action.USER_MANAGE)
def users(request: HttpRequest) -> HttpResponse:
    user = actor(request)
    may_manage = policy.allows(user, Action.USER_MANAGE)
    form = UserCreateForm(request.POST or None) if may_manage else None
    if request.method == "POST":
        policy.require(user, Action.USER_MANAGE)
        if form is not None and form.is_valid():
            try:
                created = account_services.user_create(
                    actor=user, agency_code=user.agency.code, **form.cleaned_data
                )
            except SaebomError as exc:
                form.add_error(exc.field or None, exc.message)
            else:
                messages.success(
                    request,
                    _(
                        "Account %(name)s was created. It must set up two-factor "
                        "authentication at first sign-in."
                    )
                    % {"name": created.username},
                )
                return redirect("web:users")
    people = account_selectors.users_visible_to(user)
    return render(
        request, "web/users.html", {"people": people, "form": form, "may_manage": may_manage}
    )


@require_POST
@policy.route(Action.USER_MANAGE)
def user_deactivate_view(request: HttpRequest, user_id: int) -> HttpResponse:
    user = actor(request)
    target = policy.get_visible(
        user, Action.USER_MANAGE, User.objects.select_related("agency"), pk=user_id
    )
    account_services.user_deactivate(actor=user, user=target)
    messages.success(request, _("Account %(name)s was deactivated.") % {"name": target.username})
    return redirect("web:users")
