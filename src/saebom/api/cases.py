"""Resettlement cases in the API: caseload, open, read (only the sections the reader may see),
update, needs assessments, services, and referrals with the person's consent.

Cases are named by their public id (``C-XXXXXXXX``); their records by id, and always looked up
inside a case the actor may see. Writes go through ``support.services`` (policy, audit event);
reads through ``support.selectors``, and a case's sections are served as the readers of
``support.exporting`` give them (the schemas below document them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from ninja import Router, Schema, Status

from saebom.accounts.models import Agency, User
from saebom.api.paging import page
from saebom.api.problems import Invalid, checked_input
from saebom.api.rules import refuses, requires
from saebom.core import policy
from saebom.core.exceptions import NotFound, PermissionDenied
from saebom.core.policy import Action
from saebom.core.versioning import StaleVersion
from saebom.registry.selectors import persons_visible_to
from saebom.support import selectors, services
from saebom.support.exporting import assessment_data, case_document, read_section, service_data
from saebom.support.models import Case, Referral, Service
from saebom.support.selectors import CaseAccess

router = Router(tags=["cases"])


# --- input ---------------------------------------------------------------------------------


class CaseCreateIn(Schema):
    person_public_id: str
    opened_on: date | None = None
    protection_start: date | None = None
    household_size: int = 1


class CasePatchIn(Schema):
    """Send only the fields to change, with the version you read them at."""

    version: int
    status: str | None = None
    household_size: int | None = None
    protection_start: date | None = None
    protection_end: date | None = None
    closed_on: date | None = None


class NeedIn(Schema):
    severity: int  # 0 (none) to 3 (critical)
    note: str = ""


class AssessmentIn(Schema):
    """A severity for every need domain (vocabulary ``need_domain``)."""

    assessed_on: date
    needs: dict[str, NeedIn]


class ServiceIn(Schema):
    kind: str  # vocabulary "service_type"
    domain: str = ""  # the need it answers; by default the one of its kind
    provider: str | None = None  # agency code
    status: str = Service.Status.PLANNED
    due_on: date | None = None
    delivered_on: date | None = None
    note: str = ""


class ServicePatchIn(Schema):
    """Send only the fields to change, with the version you read them at."""

    version: int
    status: str | None = None
    delivered_on: date | None = None
    due_on: date | None = None
    note: str | None = None
    provider: str | None = None  # agency code; null: no provider


class ReferralIn(Schema):
    to_agency: str  # agency code
    kind: str = Referral.Kind.REFERRAL
    sections: list[str]  # vocabulary "referral_section": what the person agreed to share
    purpose: str
    consent_given_on: date
    valid_until: date


class DeclineIn(Schema):
    reason: str = ""


class RevokeIn(Schema):
    reason: str = ""
    for_person: bool = False  # the person withdrew their consent


# --- output --------------------------------------------------------------------------------


class CaseloadRowOut(Schema):
    public_id: str
    person_public_id: str
    status: str
    opened_on: date
    protection_start: date | None
    protection_end: date | None
    overdue_followups: int
    unmet_needs: int
    lead_caseworker: str | None


class CaseMemberOut(Schema):
    user: str  # username
    role: str  # lead, caseworker, supervisor or partner


class ProfileOut(Schema):
    person_public_id: str
    status: str
    opened_on: date
    closed_on: date | None
    household_size: int
    synthetic: bool
    version: int
    members: list[CaseMemberOut]  # partners only while their referral runs


class ExtensionOut(Schema):
    decided_on: date
    previous_end: date
    new_end: date
    reason: str


class ProtectionOut(Schema):
    start: date | None
    end: date | None
    extensions: list[ExtensionOut]


class MilestoneOut(Schema):
    kind: str
    reached_on: date
    note: str


class OfficerOut(Schema):
    kind: str
    name: str
    organisation: str
    phone: str
    email: str


class HouseholdMemberOut(Schema):
    name: str
    relation: str
    location: str
    birth_year: int | None


class NeedOut(Schema):
    severity: int  # 0 (none) to 3 (critical)
    note: str


class AssessmentOut(Schema):
    """A severity for every need domain, keyed by its code (vocabulary ``need_domain``), in
    the vocabulary's order: the shape of ``AssessmentIn``."""

    id: int
    assessed_on: date
    needs: dict[str, NeedOut]


class GoalOut(Schema):
    id: int
    domain: str
    description: str
    target_date: date | None
    status: str
    version: int


class ServiceOut(Schema):
    id: int
    kind: str
    domain: str
    provider: str | None
    status: str
    due_on: date | None
    delivered_on: date | None
    note: str
    version: int


class PaymentOut(Schema):
    id: int
    kind: str  # vocabulary "benefit"
    amount_krw: int  # a correction is a negative line
    paid_on: date
    note: str


class LedgerLineOut(Schema):
    rate: str  # vocabulary "benefit_rate"
    paid_krw: int
    rate_krw: int | None  # the rate for the household's size (None: no rate known)
    remaining_krw: int | None  # None for monthly rates and unknown ones


class BenefitsOut(Schema):
    """The payments, and per rate what was paid against the rates of ``rates_year``."""

    payments: list[PaymentOut]
    rates_year: int
    ledger: list[LedgerLineOut]


class FollowUpOut(Schema):
    id: int
    due_on: date
    channel: str
    assigned_to: str | None  # username
    status: str
    done_on: date | None
    outcome: str
    version: int


class NoteOut(Schema):
    id: int
    author: str | None  # username
    created_at: datetime
    text: str


class OutcomeOut(Schema):
    year: int
    economic_activity: str
    employment_status: str
    monthly_wage_krw_10k: int | None
    life_satisfaction: int | None
    experienced_discrimination: bool | None


class ReferralOut(Schema):
    id: int
    case: str
    kind: str
    from_agency: str
    to_agency: str
    sections: list[str]
    purpose: str | None  # GET /referrals: null once the referral no longer runs
    consent_given_on: date
    valid_until: date
    status: str  # as stored: pending, accepted, declined, revoked
    state: str  # as people should read it: the status, or "expired" once consent ran out
    created_at: datetime
    responded_at: datetime | None
    decline_reason: str
    revoked_at: datetime | None
    revoke_reason: str
    revoked_for_person: bool


class CaseOut(Schema):
    """A case as one reader may see it: a section the reader may not see is absent, not null.
    The sections are those of the case export (``support/exporting.py``); ``referrals`` is
    shown to the lead agency only."""

    public_id: str
    lead_agency: str
    sections: list[str]
    can_update: bool
    profile: ProfileOut | None = None
    protection: ProtectionOut | None = None
    milestones: list[MilestoneOut] | None = None
    officers: list[OfficerOut] | None = None
    household: list[HouseholdMemberOut] | None = None
    needs: list[AssessmentOut] | None = None
    plan: list[GoalOut] | None = None
    services: list[ServiceOut] | None = None
    benefits: BenefitsOut | None = None
    followups: list[FollowUpOut] | None = None
    notes: list[NoteOut] | None = None
    outcomes: list[OutcomeOut] | None = None
    referrals: list[ReferralOut] | None = None


class CaseSummaryOut(Schema):
    """A case's own fields, as a write left them (read the case for its sections)."""

    public_id: str
    person_public_id: str
    status: str
    opened_on: date
    closed_on: date | None
    protection_start: date | None
    protection_end: date | None
    household_size: int
    version: int


class StaleOut(Schema):
    """409 when the record changed since the version sent; nothing was saved."""

    type: str
    title: str
    status: int
    detail: dict[str, Any]


# --- helpers -------------------------------------------------------------------------------


def _actor(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


def _access(request: HttpRequest, public_id: str, action: Action = Action.CASE_VIEW) -> CaseAccess:
    """The case as the actor may see it: 403 for a role without ``action`` (and without case
    access at all), 404 for a case that is missing or not theirs, 403 for a change to a case
    the actor's agency does not lead (a referred agency reads), before the body is looked at."""
    actor = _actor(request)
    policy.require(actor, Action.CASE_VIEW)
    policy.require(actor, action)
    access = selectors.case_access(actor, public_id)
    if action is not Action.CASE_VIEW and not access.can_update:
        raise PermissionDenied(gettext("only the lead agency's caseworkers may change this case"))
    return access


def _section(access: CaseAccess, section: str) -> CaseAccess:
    """Records of a section the reader may not see are missing to them."""
    if not access.sees(section):
        raise NotFound("Not found.")
    return access


def _agency(code: str, field: str) -> Agency:
    agency = Agency.objects.filter(code=code).first()
    if agency is None:
        raise Invalid(f"{field}: no agency with code {code!r}", field=field)
    return agency


def _not_null(changes: dict[str, Any], *names: str) -> None:
    for name in names:
        if name in changes and changes[name] is None:
            raise Invalid(f"{name}: may not be null", field=name)


def _stale(
    request: HttpRequest, stale: StaleVersion, shown: Callable[[str, Any], tuple[str, Any]]
) -> HttpResponse:
    """The 409 problem, its detail listing each change as the API names fields and values."""
    from saebom.api.api import problem  # the API module imports this one at its end

    changes = []
    for change in stale.changes:
        field, then = shown(change.field, change.then)
        _, now = shown(change.field, change.now)
        changes.append({"field": field, "then": then, "now": now})
    detail = {"message": stale.message, "current_version": stale.current, "changes": changes}
    return problem(request, stale.status, type(stale).__name__, detail)


def _as_is(field: str, value: Any) -> tuple[str, Any]:
    return field, value


def _summary(case: Case) -> dict[str, Any]:
    case = Case.objects.select_related("person").get(pk=case.pk)
    return {
        "public_id": case.public_id,
        "person_public_id": case.person.public_id,
        "status": case.status,
        "opened_on": case.opened_on,
        "closed_on": case.closed_on,
        "protection_start": case.protection_start,
        "protection_end": case.protection_end,
        "household_size": case.household_size,
        "version": case.version,
    }


def _referral_out(referral: Referral, *, holder: bool) -> dict[str, Any]:
    """A referral as the API shows it. The agency leading the case reads all of it; the
    receiving side reads the purpose (it can name a person's need) only while the referral
    runs, and never the reasons the lead recorded for revoking it."""
    day = selectors.today()
    return {
        "id": referral.pk,
        "case": referral.case.public_id,
        "kind": referral.kind,
        "from_agency": referral.from_agency.code,
        "to_agency": referral.to_agency.code,
        "sections": referral.section_list,
        "purpose": referral.purpose if holder or referral.purpose_shown_on(day) else None,
        "consent_given_on": referral.consent_given_on,
        "valid_until": referral.valid_until,
        "status": referral.status,
        "state": referral.state_on(day),
        "created_at": referral.created_at,
        "responded_at": referral.responded_at,
        "decline_reason": referral.decline_reason,
        "revoked_at": referral.revoked_at,
        "revoke_reason": referral.revoke_reason if holder else "",
        "revoked_for_person": referral.revoked_for_person,
    }


def _referral(pk: int, actor: User) -> dict[str, Any]:
    related = ("case", "from_agency", "to_agency")
    referral = Referral.objects.select_related(*related).get(pk=pk)
    return _referral_out(referral, holder=selectors.holds_the_record(actor, referral))


def _case_out(access: CaseAccess) -> dict[str, Any]:
    """The case document of ``support.exporting`` (only the sections in ``access``: the others
    are not read at all, nor decrypted) with what the API adds around it."""
    document = case_document(access)
    out: dict[str, Any] = {
        "public_id": document["case"],
        "lead_agency": document["lead_agency"],
        "sections": document["sections"],
        "can_update": access.can_update,
    }
    out.update((section, document[section]) for section in document["sections"])
    if access.is_lead_agency:
        referrals = access.case.referrals.select_related("case", "from_agency", "to_agency")
        out["referrals"] = [
            _referral_out(r, holder=True) for r in referrals.order_by("created_at", "pk")
        ]
    return out


def _service(pk: int) -> dict[str, Any]:
    return service_data(Service.objects.select_related("provider").get(pk=pk))


# --- cases ---------------------------------------------------------------------------------


@router.get("/cases", response=list[CaseloadRowOut])
@requires(Action.CASELOAD_VIEW)
def case_list(
    request: HttpRequest,
    mine: bool = False,
    attention: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Open cases led by the actor's agency (``mine``: those the actor is a member of), each
    with what needs attention; ``attention`` keeps only those that need some."""
    actor = _actor(request)
    cases = selectors.caseload(actor, member=actor if mine else None, attention_only=attention)
    limit, offset = page(limit, offset)
    return [
        {
            "public_id": c.public_id,
            "person_public_id": c.person.public_id,
            "status": c.status,
            "opened_on": c.opened_on,
            "protection_start": c.protection_start,
            "protection_end": c.protection_end,
            "overdue_followups": c.overdue_followups,  # type: ignore[attr-defined]
            "unmet_needs": c.unmet_needs,  # type: ignore[attr-defined]
            "lead_caseworker": c.lead_username,  # type: ignore[attr-defined]
        }
        for c in cases[offset : offset + limit]
    ]


@router.post("/cases", response={201: CaseSummaryOut})
@requires(Action.CASE_CREATE)
@refuses(404, 409)  # a person not visible; a person who already has a case
def case_create(request: HttpRequest, payload: CaseCreateIn) -> Status[dict[str, Any]]:
    """Open the case of a person the actor's agency registered (any other person: 404)."""
    actor = _actor(request)
    person = (
        persons_visible_to(actor, Action.CASE_CREATE)
        .filter(public_id=payload.person_public_id.strip().upper())
        .first()
    )
    if person is None:
        raise NotFound("Not found.")
    with checked_input():
        case = services.case_open(
            actor=actor,
            person=person,
            opened_on=payload.opened_on,
            protection_start=payload.protection_start,
            household_size=payload.household_size,
        )
    return Status(201, _summary(case))


@router.get("/cases/{public_id}", response=CaseOut, exclude_unset=True)
@requires(Action.CASE_VIEW)
def case_detail(request: HttpRequest, public_id: str) -> dict[str, Any]:
    """The case with only the sections the actor may see; the read is recorded in the audit
    log with the sections shown."""
    access = _access(request, public_id)
    services.case_viewed(actor=_actor(request), access=access)
    return _case_out(access)


@router.patch("/cases/{public_id}", response={200: CaseSummaryOut, 409: StaleOut})
@requires(Action.CASE_UPDATE)
def case_update(request: HttpRequest, public_id: str, payload: CasePatchIn) -> Any:
    """Change the case's own fields. A stale ``version`` is a 409 listing what changed since
    (``detail.changes``: field, then, now); nothing is saved."""
    access = _access(request, public_id, Action.CASE_UPDATE)
    changes = payload.dict(exclude_unset=True, exclude={"version"})
    _not_null(changes, "status", "household_size")
    try:
        with checked_input():
            case = services.case_update(
                actor=_actor(request),
                case=access.case,
                expected_version=payload.version,
                **changes,
            )
    except StaleVersion as stale:
        return _stale(request, stale, _as_is)
    return _summary(case)


def _read_listed(request: HttpRequest, public_id: str, section: str) -> Any:
    """One section of a case, its read audited as a read of that section alone."""
    access = _section(_access(request, public_id), section)
    services.case_viewed(
        actor=_actor(request), access=replace(access, sections=frozenset({section}))
    )
    return read_section(access, section)


# --- needs assessments ---------------------------------------------------------------------


@router.get("/cases/{public_id}/assessments", response=list[AssessmentOut])
@requires(Action.CASE_VIEW)
def assessment_list(request: HttpRequest, public_id: str) -> list[dict[str, Any]]:
    return _read_listed(request, public_id, "needs")


@router.post("/cases/{public_id}/assessments", response={201: AssessmentOut})
@requires(Action.CASE_UPDATE)
def assessment_create(
    request: HttpRequest, public_id: str, payload: AssessmentIn
) -> Status[dict[str, Any]]:
    """Record an assessment: a severity 0-3 (and an optional note) for every need domain."""
    access = _access(request, public_id, Action.CASE_UPDATE)
    needs = {name: services.Need(n.severity, n.note) for name, n in payload.needs.items()}
    with checked_input():
        assessment = services.assessment_record(
            actor=_actor(request), case=access.case, assessed_on=payload.assessed_on, needs=needs
        )
    return Status(201, assessment_data(assessment))


# --- services ------------------------------------------------------------------------------


@router.get("/cases/{public_id}/services", response=list[ServiceOut])
@requires(Action.CASE_VIEW)
def service_list(request: HttpRequest, public_id: str) -> list[dict[str, Any]]:
    return _read_listed(request, public_id, "services")


@router.post("/cases/{public_id}/services", response={201: ServiceOut})
@requires(Action.CASE_UPDATE)
def service_create(
    request: HttpRequest, public_id: str, payload: ServiceIn
) -> Status[dict[str, Any]]:
    access = _access(request, public_id, Action.CASE_UPDATE)
    provider = _agency(payload.provider, "provider") if payload.provider else None
    with checked_input():
        service = services.service_add(
            actor=_actor(request),
            case=access.case,
            kind=payload.kind,
            domain=payload.domain,
            provider=provider,
            status=payload.status,
            due_on=payload.due_on,
            delivered_on=payload.delivered_on,
            note=payload.note,
        )
    return Status(201, _service(service.pk))


@router.patch("/cases/{public_id}/services/{service_id}", response={200: ServiceOut, 409: StaleOut})
@requires(Action.CASE_UPDATE)
def service_update(
    request: HttpRequest, public_id: str, service_id: int, payload: ServicePatchIn
) -> Any:
    """Change a service of the case. A stale ``version`` is a 409 listing what changed since."""
    access = _section(_access(request, public_id, Action.CASE_UPDATE), "services")
    service = access.case.services.filter(pk=service_id).first()
    if service is None:
        raise NotFound("Not found.")
    changes = payload.dict(exclude_unset=True, exclude={"version"})
    _not_null(changes, "status")
    if "provider" in changes:
        code = changes.pop("provider")
        changes["provider_id"] = _agency(code, "provider").pk if code else None
    try:
        with checked_input():
            services.service_update(
                actor=_actor(request),
                service=service,
                expected_version=payload.version,
                **changes,
            )
    except StaleVersion as stale:
        codes = dict(Agency.objects.values_list("pk", "code"))

        def shown(field: str, value: Any) -> tuple[str, Any]:
            return ("provider", codes.get(value)) if field == "provider_id" else (field, value)

        return _stale(request, stale, shown)
    return _service(service.pk)


# --- referrals -----------------------------------------------------------------------------


@router.post("/cases/{public_id}/referrals", response={201: ReferralOut})
@requires(Action.REFERRAL_SEND)
def referral_create(
    request: HttpRequest, public_id: str, payload: ReferralIn
) -> Status[dict[str, Any]]:
    """Refer the case (``kind`` "transfer": hand over its lead) to another agency, on the
    person's consent to share exactly ``sections`` until ``valid_until``."""
    actor = _actor(request)
    access = _access(request, public_id, Action.CASE_UPDATE)
    to_agency = _agency(payload.to_agency, "to_agency")
    with checked_input():
        referral = services.referral_send(
            actor=actor,
            case=access.case,
            to_agency=to_agency,
            sections=payload.sections,
            purpose=payload.purpose,
            consent_given_on=payload.consent_given_on,
            valid_until=payload.valid_until,
            kind=payload.kind,
        )
    return Status(201, _referral(referral.pk, _actor(request)))


@router.get("/referrals", response=list[ReferralOut])
@requires(Action.REFERRAL_RESPOND)
def referral_list(
    request: HttpRequest, status: str = "", limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """Referrals sent to the actor's agency, newest first (``status``: only those in it, as
    stored). ``state`` reads "expired" once the consent ran out, and ``purpose`` is null once
    the referral no longer runs (declined, revoked, expired)."""
    referrals = selectors.referrals_incoming(_actor(request)).select_related("to_agency")
    if status:
        referrals = referrals.filter(status=status)
    limit, offset = page(limit, offset)
    shown = referrals[offset : offset + limit]
    actor = _actor(request)
    return [_referral_out(r, holder=selectors.holds_the_record(actor, r)) for r in shown]


def _responding(request: HttpRequest, referral_id: int, *actions: Action) -> Referral:
    actor = _actor(request)
    if not any(policy.allows(actor, action) for action in actions):
        policy.require(actor, actions[0])
    return selectors.referral_for(actor, referral_id)


@router.post("/referrals/{referral_id}/accept", response=ReferralOut)
@requires(Action.REFERRAL_RESPOND)
@refuses(409)  # a referral no longer in a state to accept
def referral_accept(request: HttpRequest, referral_id: int) -> dict[str, Any]:
    """Accept a referral to the actor's agency: it sees the consented sections at once."""
    referral = _responding(request, referral_id, Action.REFERRAL_RESPOND)
    services.referral_accept(actor=_actor(request), referral=referral)
    return _referral(referral.pk, _actor(request))


@router.post("/referrals/{referral_id}/decline", response=ReferralOut)
@requires(Action.REFERRAL_RESPOND)
@refuses(409)  # a referral no longer in a state to decline
def referral_decline(request: HttpRequest, referral_id: int, payload: DeclineIn) -> dict[str, Any]:
    referral = _responding(request, referral_id, Action.REFERRAL_RESPOND)
    services.referral_decline(actor=_actor(request), referral=referral, reason=payload.reason)
    return _referral(referral.pk, _actor(request))


@router.post("/referrals/{referral_id}/revoke", response=ReferralOut)
@requires(Action.REFERRAL_SEND, Action.REFERRAL_RESPOND, any_of=True)
@refuses(409)  # a referral no longer in a state to revoke
def referral_revoke(request: HttpRequest, referral_id: int, payload: RevokeIn) -> dict[str, Any]:
    """End a referral at once: by the sending agency (``for_person``: the person withdrew their
    consent) or by the receiving agency giving it up."""
    referral = _responding(request, referral_id, Action.REFERRAL_SEND, Action.REFERRAL_RESPOND)
    services.referral_revoke(
        actor=_actor(request),
        referral=referral,
        reason=payload.reason,
        for_person=payload.for_person,
    )
    return _referral(referral.pk, _actor(request))
