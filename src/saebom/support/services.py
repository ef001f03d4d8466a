"""Writes to resettlement cases. Each checks policy and records its audit event in its
transaction; edits of shared records check the version they started from."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from saebom.accounts.models import Agency, User
from saebom.core import policy, vocab
from saebom.core.actors import Actor, SystemActor
from saebom.core.audit import audit_record
from saebom.core.exceptions import Conflict, NotFound, PermissionDenied, SaebomError
from saebom.core.inputs import clean_text, invalid, vocab_code
from saebom.core.policy import Action
from saebom.core.versioning import check_version
from saebom.registry.models import Person
from saebom.registry.selectors import persons_visible_to
from saebom.support import selectors
from saebom.support.models import (
    LIST_SEPARATOR,
    PROTECTION_YEARS,
    Assessment,
    BenefitPayment,
    BenefitRate,
    Case,
    CaseMember,
    CaseNote,
    FollowUp,
    Goal,
    HouseholdMember,
    Milestone,
    NeedScore,
    Outcome,
    ProtectionExtension,
    ProtectionOfficer,
    Referral,
    Service,
)
from saebom.support.rules import SERVICE_DOMAIN, validate_outcome

CASE_FIELDS = ("status", "household_size", "protection_start", "protection_end", "closed_on")
SERVICE_FIELDS = ("status", "provider_id", "due_on", "delivered_on", "note")
FOLLOWUP_FIELDS = ("status", "done_on", "outcome", "due_on", "assigned_to_id")
GOAL_FIELDS = ("status", "description", "target_date")


# --- shared checks -------------------------------------------------------------------------


def _user(actor: Actor) -> User | None:
    return None if isinstance(actor, SystemActor) else actor


def _staff(actor: Actor) -> User:
    """Referrals are decisions of people at agencies, not of the system operator."""
    if isinstance(actor, SystemActor):
        raise PermissionDenied(gettext("referrals are made by caseworkers of an agency"))
    return actor


_text = clean_text
_invalid = invalid


def _not_here(names: set[str]) -> SaebomError:
    return SaebomError(
        gettext("cannot change %(fields)s here") % {"fields": ", ".join(sorted(names))}
    )


_code = vocab_code


def _writable(actor: Actor, case: Case) -> Case:
    """The case, locked for this transaction, if the actor's agency leads it."""
    policy.require(actor, Action.CASE_UPDATE)
    visible = selectors.cases_visible_to(actor).filter(pk=case.pk).first()
    if visible is None:
        raise NotFound(gettext("Not found."))
    if not isinstance(actor, SystemActor) and visible.lead_agency_id != actor.agency_id:
        raise PermissionDenied(gettext("only the lead agency's caseworkers may change this case"))
    # The case's row alone: locking the joined agency too would wait for the agency's imports.
    cases = Case.objects.select_for_update(of=("self",)).select_related("lead_agency", "person")
    return cases.get(pk=case.pk)


def _audit(
    actor: Actor, action: str, case: Case, what: str, fields: Sequence[str] = (), **detail: Any
) -> None:
    """An event about a case, in the log of the agency that leads it: it answers for the
    record, so its auditors see every read and write, a partner agency's too. ``fields`` are
    names of fields, never their values (auditors see no case content)."""
    actor_agency = getattr(getattr(actor, "agency", None), "code", "")
    if actor_agency and actor_agency != case.lead_agency.code:
        detail = {**detail, "actor_agency": actor_agency}
    audit_record(
        actor=actor,
        action=action,
        object_type=what,
        object_id=case.public_id,
        agency_code=case.lead_agency.code,
        changed_fields=list(fields),
        detail=detail or None,
    )


def _save_part(
    actor: Actor,
    case: Case,
    part: Any,
    action: str,
    what: str,
    fields: Sequence[str] = (),
    **detail: Any,
) -> None:
    """Save a part of a case (a milestone, a service...) with its history's author, mark the
    case updated and record the event, in the caller's transaction."""
    part._history_user = _user(actor)
    part.save()
    _touch(case)
    _audit(actor, action, case, what, fields, **detail)


def _touch(case: Case) -> None:
    """A change inside a case (a service, a follow-up...) marks the case as updated; its own
    version stays, since the case's fields did not change."""
    Case.objects.filter(pk=case.pk).update(updated_at=timezone.now())


# --- cases ---------------------------------------------------------------------------------


def protection_end_for(start: date, years: int = PROTECTION_YEARS) -> date:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


def case_open(
    *,
    actor: Actor,
    person: Person,
    opened_on: date | None = None,
    protection_start: date | None = None,
    household_size: int = 1,
) -> Case:
    """Open the case of a person the actor's agency registered; the actor leads it."""
    policy.require(actor, Action.CASE_CREATE)
    if not persons_visible_to(actor, Action.CASE_CREATE).filter(pk=person.pk).exists():
        raise NotFound(gettext("Not found."))
    if household_size < 1:
        raise _invalid("household_size", gettext("at least 1 (the person)"))
    with transaction.atomic():
        # The person's row is the lock: two caseworkers opening the same case take turns, and
        # the second is told, instead of failing on the unique index.
        list(Person.objects.select_for_update().filter(pk=person.pk).values_list("pk"))
        existing = Case.objects.filter(person=person).first()
        if existing is not None:
            if not selectors.cases_visible_to(actor).filter(pk=existing.pk).exists():
                raise NotFound(gettext("Not found."))  # another agency's: not even that it exists
            raise Conflict(gettext("this person already has a case"), field="person")
        agency = actor.agency if not isinstance(actor, SystemActor) else _operator()
        case = Case(
            person=person,
            lead_agency=agency,
            opened_on=opened_on or selectors.today(),
            protection_start=protection_start,
            protection_end=protection_end_for(protection_start) if protection_start else None,
            household_size=household_size,
            is_synthetic=person.is_synthetic,
        )
        case._history_user = _user(actor)  # type: ignore[attr-defined]
        case.save()
        if isinstance(actor, User) and actor.role == policy.Role.CASEWORKER:
            CaseMember.objects.create(case=case, user=actor, role=CaseMember.Role.LEAD)
        _audit(actor, "create", case, "case", ["status", "protection_start", "household_size"])
    return case


def _operator() -> Agency:
    return Agency.objects.get(code=policy.OPERATOR_AGENCY_CODE)


OFFICER_FIELDS = ("name", "organisation", "phone", "email")
HOUSEHOLD_FIELDS = ("name", "relation", "location", "birth_year")
CASE_EDITABLE = ("status", "household_size", "protection_start", "closed_on")


def case_update(*, actor: Actor, case: Case, expected_version: int, **changes: Any) -> Case:
    """Change the case's own fields: status, household size, start of protection (its end
    follows, five years on), closing date. Saving what is already there changes nothing."""
    if "protection_end" in changes:
        raise _invalid(
            "protection_end",
            gettext(
                "five years from the start; a longer period is an extension, "
                "recorded with its reason"
            ),
        )
    unknown = set(changes) - set(CASE_EDITABLE)
    if unknown:
        raise _not_here(unknown)
    with transaction.atomic():
        locked = _writable(actor, case)
        check_version(locked, expected_version, CASE_FIELDS, {"status": "case_status"})
        _case_changes(locked, changes)
        changed = [n for n, v in changes.items() if getattr(locked, n) != v]
        if not changed:
            return locked
        for name in changed:
            setattr(locked, name, changes[name])
        locked.version += 1
        locked._history_user = _user(actor)  # type: ignore[attr-defined]
        locked.save()
        _audit(actor, "update", locked, "case", changed)
    return locked


def _case_changes(locked: Case, changes: dict[str, Any]) -> None:
    """Check ``changes`` against the case as it is, and add what follows from them."""
    if "status" in changes:
        if not changes["status"]:
            raise _invalid("status", gettext("required"))
        changes["status"] = _code("case_status", changes["status"], "status")
        if changes["status"] == Case.Status.TRANSFERRED != locked.status:
            raise _invalid(
                "status",
                gettext("a case is transferred by a transfer referral the other agency accepts"),
            )
    if "household_size" in changes and (changes["household_size"] or 0) < 1:
        raise _invalid("household_size", gettext("at least 1 (the person)"))
    if "protection_start" in changes and changes["protection_start"] != locked.protection_start:
        if locked.extensions.exists():
            raise _invalid(
                "protection_start",
                gettext("protection was extended by a recorded decision; it can no longer move"),
            )
        start = changes["protection_start"]
        changes["protection_end"] = protection_end_for(start) if start else None
    status = changes.get("status", locked.status)
    if status == Case.Status.CLOSED:
        if not changes.get("closed_on") and not locked.closed_on:
            changes["closed_on"] = selectors.today()
    elif changes.get("closed_on"):
        raise _invalid("closed_on", gettext("only a closed case has a closing date"))
    elif locked.closed_on:
        changes["closed_on"] = None  # reopened


def case_member_set(*, actor: Actor, case: Case, user: User, role: str) -> CaseMember:
    role = _code("case_member_role", role, "role")
    if role == CaseMember.Role.PARTNER:
        raise _invalid("role", gettext("partners join through an accepted referral"))
    with transaction.atomic():
        locked = _writable(actor, case)
        if user.agency_id != locked.lead_agency_id or not policy.allows(user, Action.CASE_VIEW):
            raise _invalid("user", gettext("not a caseworker of the lead agency"))
        if role == CaseMember.Role.LEAD:
            CaseMember.objects.filter(case=locked, role=CaseMember.Role.LEAD).exclude(
                user=user
            ).update(role=CaseMember.Role.CASEWORKER)
        member, _ = CaseMember.objects.update_or_create(
            case=locked, user=user, defaults={"role": role, "referral": None}
        )
        _audit(actor, "assign", locked, "case_member", ["role"], user=user.username)
    return member


def case_member_remove(*, actor: Actor, case: Case, user: User) -> None:
    with transaction.atomic():
        locked = _writable(actor, case)
        deleted, _ = CaseMember.objects.filter(case=locked, user=user).delete()
        if not deleted:
            raise NotFound(gettext("Not found."))
        _audit(actor, "unassign", locked, "case_member", user=user.username)


# --- milestones, protection, officers, household -------------------------------------------


def milestone_record(
    *, actor: Actor, case: Case, kind: str, reached_on: date, note: str = ""
) -> Milestone:
    kind = _code("milestone", kind, "kind")
    with transaction.atomic():
        locked = _writable(actor, case)
        milestone = Milestone.objects.filter(case=locked, kind=kind).first() or Milestone(
            case=locked, kind=kind
        )
        milestone.reached_on, milestone.note = reached_on, note
        _save_part(actor, locked, milestone, "record", "milestone", ["kind", "reached_on", "note"])
    return milestone


def protection_extend(
    *, actor: Actor, case: Case, decided_on: date, new_end: date, reason: str
) -> ProtectionExtension:
    """Extend residence protection: a decision kept with its reason, never edited."""
    if not reason.strip():
        raise _invalid("reason", gettext("an extension needs its reason"))
    with transaction.atomic():
        locked = _writable(actor, case)
        if locked.protection_end is None:
            raise Conflict(gettext("set the start of protection first"), field="new_end")
        if new_end <= locked.protection_end:
            raise _invalid(
                "new_end",
                gettext("must be after the current end (%(end)s)") % {"end": locked.protection_end},
            )
        extension = ProtectionExtension.objects.create(
            case=locked,
            decided_on=decided_on,
            previous_end=locked.protection_end,
            new_end=new_end,
            reason=reason.strip(),
            recorded_by=_user(actor),
        )
        locked.protection_end = new_end
        locked.version += 1
        locked._history_user = _user(actor)  # type: ignore[attr-defined]
        locked.save()
        _audit(actor, "extend", locked, "protection", ["protection_end"])
    return extension


def officer_set(
    *,
    actor: Actor,
    case: Case,
    kind: str,
    name: str,
    organisation: str = "",
    phone: str = "",
    email: str = "",
) -> ProtectionOfficer:
    kind = _code("protection_officer", kind, "kind")
    with transaction.atomic():
        locked = _writable(actor, case)
        officer = ProtectionOfficer.objects.filter(case=locked, kind=kind).first() or (
            ProtectionOfficer(case=locked, kind=kind)
        )
        officer.name = _text(name)
        officer.organisation = _text(organisation)
        officer.phone = _text(phone)
        officer.email = _text(email)
        _save_part(actor, locked, officer, "record", "protection_officer", OFFICER_FIELDS)
    return officer


def household_add(
    *,
    actor: Actor,
    case: Case,
    name: str,
    relation: str,
    location: str,
    birth_year: int | None = None,
) -> HouseholdMember:
    relation = _code("household_relation", relation, "relation")
    location = _code("household_location", location, "location")
    with transaction.atomic():
        locked = _writable(actor, case)
        member = HouseholdMember(
            case=locked,
            name=_text(name),
            relation=relation,
            location=location,
            birth_year=birth_year,
        )
        _save_part(actor, locked, member, "create", "household_member", HOUSEHOLD_FIELDS)
    return member


# --- needs, plan, services -----------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    severity: int
    note: str = ""


def assessment_record(
    *, actor: Actor, case: Case, assessed_on: date, needs: Mapping[str, Need]
) -> Assessment:
    """A needs assessment: a severity 0-3 for every domain, so assessments compare."""
    domains = vocab.codes("need_domain")
    resolved = {_code("need_domain", name, f"needs.{name}"): need for name, need in needs.items()}
    missing = [d for d in domains if d not in resolved]
    if missing:
        raise _invalid(
            "needs", gettext("no severity for %(domains)s") % {"domains": ", ".join(missing)}
        )
    for domain, need in resolved.items():
        if not 0 <= need.severity <= 3:
            raise _invalid(
                f"needs.{domain}",
                gettext("severity is 0-3, not %(severity)s") % {"severity": need.severity},
            )
    with transaction.atomic():
        locked = _writable(actor, case)
        assessment = Assessment.objects.create(
            case=locked, assessed_on=assessed_on, assessed_by=_user(actor)
        )
        NeedScore.objects.bulk_create(
            NeedScore(assessment=assessment, domain=d, severity=n.severity, note=_text(n.note))
            for d, n in resolved.items()
        )
        latest = locked.assessments.order_by("-assessed_on", "-pk").first()
        Case.objects.filter(pk=locked.pk).update(
            latest_assessment=latest, updated_at=timezone.now()
        )
        _audit(actor, "create", locked, "assessment", ["assessed_on", "severity", "note"])
    return assessment


def goal_add(
    *, actor: Actor, case: Case, domain: str, description: str, target_date: date | None = None
) -> Goal:
    domain = _code("need_domain", domain, "domain")
    if not description.strip():
        raise _invalid("description", gettext("say what the goal is"))
    with transaction.atomic():
        locked = _writable(actor, case)
        goal = Goal(
            case=locked, domain=domain, description=description.strip(), target_date=target_date
        )
        _save_part(actor, locked, goal, "create", "goal", ["domain", "description", "target_date"])
    return goal


def goal_update(*, actor: Actor, goal: Goal, expected_version: int, **changes: Any) -> Goal:
    if "status" in changes:
        changes["status"] = _code("goal_status", changes["status"], "status")
    if "description" in changes:
        if not _text(changes["description"]):
            raise _invalid("description", gettext("say what the goal is"))
        changes["description"] = _text(changes["description"])
    return _versioned_update(actor, goal, expected_version, GOAL_FIELDS, changes, "goal")


def service_add(
    *,
    actor: Actor,
    case: Case,
    kind: str,
    domain: str = "",
    provider: Agency | None = None,
    status: str = Service.Status.PLANNED,
    due_on: date | None = None,
    delivered_on: date | None = None,
    note: str = "",
) -> Service:
    kind = _code("service_type", kind, "kind")
    domain = _code("need_domain", domain, "domain") if domain else SERVICE_DOMAIN[kind]
    status = _code("service_status", status, "status")
    _check_delivery(status, delivered_on)
    with transaction.atomic():
        locked = _writable(actor, case)
        service = Service(
            case=locked,
            kind=kind,
            domain=domain,
            provider=provider,
            status=status,
            due_on=due_on,
            delivered_on=delivered_on,
            note=_text(note),
        )
        _save_part(
            actor, locked, service, "create", "service", ["kind", "domain", "provider", "status"]
        )
    return service


def _check_delivery(status: str, delivered_on: date | None) -> None:
    if status == Service.Status.DELIVERED and delivered_on is None:
        raise _invalid("delivered_on", gettext("give the date it was delivered"))
    if delivered_on is not None and status != Service.Status.DELIVERED:
        raise _invalid("delivered_on", gettext("only a delivered service has one"))


def service_update(
    *, actor: Actor, service: Service, expected_version: int, **changes: Any
) -> Service:
    if "status" in changes:
        changes["status"] = _code("service_status", changes["status"], "status")
    if "note" in changes:
        changes["note"] = _text(changes["note"])

    def check(locked: Service) -> None:
        status = changes.get("status", locked.status)
        if status != Service.Status.DELIVERED and "delivered_on" not in changes:
            changes["delivered_on"] = None  # no longer delivered: no delivery date either
        _check_delivery(status, changes.get("delivered_on", locked.delivered_on))

    return _versioned_update(
        actor, service, expected_version, SERVICE_FIELDS, changes, "service", check
    )


def _versioned_update(
    actor: Actor,
    record: Service | FollowUp | Goal,
    expected_version: int,
    fields: Sequence[str],
    changes: dict[str, Any],
    what: str,
    check: Callable[[Any], None] | None = None,
) -> Any:
    """Apply ``changes`` to the record, locked, if it is still at ``expected_version``;
    ``check`` validates them against the locked row before anything is written."""
    unknown = set(changes) - set(fields)
    if unknown:
        raise _not_here(unknown)
    with transaction.atomic():
        case = _writable(actor, record.case)
        locked = type(record).objects.select_for_update().get(pk=record.pk, case=case)
        check_version(locked, expected_version, fields, {"status": f"{what}_status"})
        if check is not None:
            check(locked)
        changed = [n for n, v in changes.items() if getattr(locked, n) != v]
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.version += 1
        locked._history_user = _user(actor)  # type: ignore[union-attr]
        locked.save()
        _touch(case)
        _audit(actor, "update", case, what, changed, id=locked.pk)
    return locked


# --- benefits ------------------------------------------------------------------------------


def payment_record(
    *, actor: Actor, case: Case, kind: str, amount_krw: int, paid_on: date, note: str = ""
) -> BenefitPayment:
    kind = _code("benefit", kind, "kind")
    if amount_krw == 0:
        raise _invalid("amount_krw", gettext("a payment of nothing"))
    with transaction.atomic():
        locked = _writable(actor, case)
        payment = BenefitPayment.objects.create(
            case=locked,
            kind=kind,
            amount_krw=amount_krw,
            paid_on=paid_on,
            note=note.strip(),
            recorded_by=_user(actor),
        )
        _touch(locked)
        _audit(actor, "create", locked, "benefit_payment", ["kind", "amount_krw", "paid_on"])
    return payment


def keeps_benefit_rates(actor: Actor) -> bool:
    """National figures: kept by the administrators of the agency that runs the installation,
    not by every agency's."""
    if not policy.allows(actor, Action.BENEFIT_RATES_MANAGE):
        return False
    return isinstance(actor, SystemActor) or actor.agency.code == policy.OPERATOR_AGENCY_CODE


def benefit_rate_set(
    *,
    actor: Actor,
    year: int,
    kind: str,
    amount_krw: int,
    household_min: int = 1,
    household_max: int | None = None,
    source: str = "",
) -> BenefitRate:
    if not keeps_benefit_rates(actor):
        raise PermissionDenied(gettext("benefit rates are kept by the operator's administrators"))
    kind = _code("benefit_rate", kind, "kind")
    if amount_krw <= 0:
        raise _invalid("amount_krw", gettext("must be positive"))
    if household_min < 1 or (household_max is not None and household_max < household_min):
        raise _invalid("household_max", gettext("the household range is empty"))
    with transaction.atomic():
        rate, created = BenefitRate.objects.update_or_create(
            year=year,
            kind=kind,
            household_min=household_min,
            defaults={"household_max": household_max, "amount_krw": amount_krw, "source": source},
        )
        audit_record(
            actor=actor,
            action="create" if created else "update",
            object_type="benefit_rate",
            object_id=f"{year}/{kind}/{household_min}",
            changed_fields=["amount_krw"],
            detail={"amount_krw": amount_krw},
        )
    return rate


# --- referrals -----------------------------------------------------------------------------


def referral_send(
    *,
    actor: Actor,
    case: Case,
    to_agency: Agency,
    sections: Sequence[str],
    purpose: str,
    consent_given_on: date,
    valid_until: date,
    kind: str = Referral.Kind.REFERRAL,
) -> Referral:
    """Refer the case (or hand over its lead) to another agency, on the person's consent to
    share exactly ``sections`` until ``valid_until``."""
    user = _staff(actor)
    policy.require(user, Action.REFERRAL_SEND)
    kind = _code("referral_kind", kind, "kind")
    chosen = sorted({_code("referral_section", s, "sections") for s in sections})
    if not chosen:
        raise _invalid("sections", gettext("name what the person agreed to share"))
    if kind == Referral.Kind.TRANSFER and set(chosen) != set(selectors.SECTIONS):
        raise _invalid(
            "sections",
            gettext(
                "a transfer hands over the whole case: the person's consent must cover every "
                "section"
            ),
        )
    if not purpose.strip():
        raise _invalid("purpose", gettext("say why the case is referred"))
    if consent_given_on > selectors.today():
        raise _invalid("consent_given_on", gettext("consent cannot be given in the future"))
    if valid_until < selectors.today():
        raise _invalid("valid_until", gettext("the consent has already ended"))
    with transaction.atomic():
        locked = _writable(actor, case)
        if to_agency.pk == locked.lead_agency_id:
            raise _invalid("to_agency", gettext("the case is already led by that agency"))
        referral = Referral(
            case=locked,
            kind=kind,
            from_agency=locked.lead_agency,
            to_agency=to_agency,
            sections=LIST_SEPARATOR.join(chosen),
            purpose=purpose.strip(),
            consent_given_on=consent_given_on,
            consent_recorded_by=user,
            valid_until=valid_until,
        )
        referral._history_user = _user(actor)  # type: ignore[attr-defined]
        referral.save()
        _audit(
            actor,
            "refer",
            locked,
            "referral",
            chosen,
            to=to_agency.code,
            kind=kind,
            referral=referral.pk,
            valid_until=valid_until.isoformat(),
        )
    return referral


def _pending_for(actor: User, referral: Referral, *, accepting: bool = True) -> Referral:
    policy.require(actor, Action.REFERRAL_RESPOND)
    locked = Referral.objects.select_for_update().get(pk=referral.pk)
    if locked.to_agency_id != actor.agency_id:
        raise NotFound(gettext("Not found."))
    if locked.status != Referral.Status.PENDING:
        raise Conflict(
            gettext("this referral is already %(status)s")
            % {"status": vocab.label("referral_status", locked.status)}
        )
    if accepting and locked.valid_until < selectors.today():
        raise Conflict(gettext("the person's consent for this referral has ended; decline it"))
    return locked


def referral_accept(*, actor: Actor, referral: Referral) -> Referral:
    """Accept: the agency sees the consented sections at once (a transfer makes it the lead)."""
    user = _staff(actor)
    with transaction.atomic():
        locked = _pending_for(user, referral)
        case = Case.objects.select_for_update().get(pk=locked.case_id)
        if locked.from_agency_id != case.lead_agency_id:
            # Neutral: the receiver is not told that the case changed hands.
            raise Conflict(gettext("this referral can no longer be accepted"))
        locked.status = Referral.Status.ACCEPTED
        locked.responded_by, locked.responded_at = user, timezone.now()
        locked._history_user = user  # type: ignore[attr-defined]
        locked.save()
        if locked.kind == Referral.Kind.TRANSFER:
            _transfer(user, case, locked)
        else:
            CaseMember.objects.update_or_create(  # a stale partner row follows the new referral
                case=case,
                user=user,
                defaults={"role": CaseMember.Role.PARTNER, "referral": locked},
            )
        _audit(
            actor,
            "accept",
            case,
            "referral",
            locked.section_list,
            referral=locked.pk,
            kind=locked.kind,
            **{"from": locked.from_agency.code},
        )
    return locked


def _transfer(actor: User, case: Case, referral: Referral) -> None:
    """The lead moves: the old agency's members leave, the accepting caseworker leads; partners
    of other agencies stay while their referrals run."""
    CaseMember.objects.filter(case=case).filter(
        Q(referral__isnull=True) | Q(user__agency_id=referral.to_agency_id)
    ).delete()
    # The new lead's earlier referrals are done: left running, they would let it back in once
    # it hands the case on.
    Referral.objects.filter(
        case=case,
        to_agency_id=referral.to_agency_id,
        kind=Referral.Kind.REFERRAL,
        status__in=(Referral.Status.PENDING, Referral.Status.ACCEPTED),
    ).update(
        status=Referral.Status.REVOKED,
        revoked_by=actor,
        revoked_at=timezone.now(),
        revoke_reason="superseded: the agency leads the case",
    )
    case.lead_agency_id = referral.to_agency_id
    case.status = Case.Status.TRANSFERRED
    case.version += 1
    case._history_user = actor  # type: ignore[attr-defined]
    case.save()
    CaseMember.objects.create(case=case, user=actor, role=CaseMember.Role.LEAD)


def _partners_refresh(case: Case, agency_id: int) -> None:
    """An agency's partner members of a case follow its running referrals: moved to one still
    running when theirs ends, removed when none is left."""
    running = selectors.active_referrals(agency_id).filter(case=case).order_by("pk").first()
    partners = CaseMember.objects.filter(
        case=case, role=CaseMember.Role.PARTNER, user__agency_id=agency_id
    )
    if running is None:
        partners.delete()
    else:
        partners.update(referral=running)


def referral_decline(*, actor: Actor, referral: Referral, reason: str = "") -> Referral:
    user = _staff(actor)
    with transaction.atomic():
        locked = _pending_for(user, referral, accepting=False)
        locked.status = Referral.Status.DECLINED
        locked.responded_by, locked.responded_at = user, timezone.now()
        locked.decline_reason = reason.strip()
        locked._history_user = user  # type: ignore[attr-defined]
        locked.save()
        _audit(actor, "decline", locked.case, "referral", referral=locked.pk)
    return locked


def referral_side(actor: Actor, referral: Referral) -> str | None:
    """Which end of a referral the actor may end it from: "sender" (the agency that sent it,
    or the one leading the case now: after a transfer it holds the person's consent), or
    "receiver" (giving it up); None when neither."""
    if isinstance(actor, SystemActor):
        return None
    holds_consent = actor.agency_id in (referral.from_agency_id, referral.case.lead_agency_id)
    if holds_consent and policy.allows(actor, Action.REFERRAL_SEND):
        return "sender"
    if referral.to_agency_id == actor.agency_id and policy.allows(actor, Action.REFERRAL_RESPOND):
        return "receiver"
    return None


def referral_revoke(
    *, actor: Actor, referral: Referral, reason: str = "", for_person: bool = False
) -> Referral:
    """End a referral at once: by the sending agency (also when the person withdraws consent,
    ``for_person``) or by the receiving agency giving it up."""
    user = _staff(actor)
    with transaction.atomic():
        locked = Referral.objects.select_for_update().select_related("case").get(pk=referral.pk)
        side = referral_side(user, locked)
        if side is None:
            raise NotFound(gettext("Not found."))
        if for_person and side != "sender":
            raise PermissionDenied(
                gettext("only the agency that holds the person's consent records its withdrawal")
            )
        if locked.kind == Referral.Kind.TRANSFER and locked.status == Referral.Status.ACCEPTED:
            raise Conflict(
                gettext("a completed transfer cannot be revoked; the new lead may refer back")
            )
        if not locked.revocable():
            raise Conflict(
                gettext("this referral is already %(status)s")
                % {"status": vocab.label("referral_status", locked.status)}
            )
        locked.status = Referral.Status.REVOKED
        locked.revoked_by, locked.revoked_at = user, timezone.now()
        locked.revoke_reason, locked.revoked_for_person = reason.strip(), for_person
        locked._history_user = user  # type: ignore[attr-defined]
        locked.save()
        _partners_refresh(locked.case, locked.to_agency_id)
        _audit(
            actor,
            "revoke",
            locked.case,
            "referral",
            locked.section_list,
            referral=locked.pk,
            for_person=for_person,
        )
    return locked


# --- follow-ups, notes, outcomes -----------------------------------------------------------


def followup_schedule(
    *, actor: Actor, case: Case, due_on: date, channel: str, assigned_to: User | None = None
) -> FollowUp:
    channel = _code("followup_channel", channel, "channel")
    with transaction.atomic():
        locked = _writable(actor, case)
        if assigned_to is not None and assigned_to.agency_id != locked.lead_agency_id:
            raise _invalid("assigned_to", gettext("not a caseworker of the lead agency"))
        followup = FollowUp(case=locked, due_on=due_on, channel=channel, assigned_to=assigned_to)
        _save_part(
            actor, locked, followup, "create", "followup", ["due_on", "channel", "assigned_to"]
        )
    return followup


def followup_update(
    *, actor: Actor, followup: FollowUp, expected_version: int, **changes: Any
) -> FollowUp:
    if "status" in changes:
        changes["status"] = _code("followup_status", changes["status"], "status")
    if "outcome" in changes:
        changes["outcome"] = _text(changes["outcome"])

    def check(locked: FollowUp) -> None:
        status = changes.get("status", locked.status)
        if status == FollowUp.Status.DONE and not changes.get("done_on"):
            changes["done_on"] = locked.done_on or selectors.today()
        elif status != FollowUp.Status.DONE:
            changes["done_on"] = None  # only a contact that took place has a date
        assignee = changes.get("assigned_to_id")
        if assignee is not None and not selectors.case_staff(locked.case).filter(pk=assignee):
            raise _invalid("assigned_to", gettext("not a caseworker of the lead agency"))

    return _versioned_update(
        actor, followup, expected_version, FOLLOWUP_FIELDS, changes, "followup", check
    )


def note_add(*, actor: Actor, case: Case, text: str) -> CaseNote:
    """A case note: only members of the case may write (and read) them."""
    actor = _staff(actor)
    policy.require(actor, Action.CASE_NOTES)
    if not text.strip():
        raise _invalid("text", gettext("the note is empty"))
    with transaction.atomic():
        locked = _writable(actor, case)
        if not CaseMember.objects.filter(case=locked, user_id=actor.pk).exists():
            raise PermissionDenied(gettext("only members of the case may write its notes"))
        note = CaseNote.objects.create(case=locked, author=_user(actor), text=text.strip())
        _audit(actor, "create", locked, "case_note")
    return note


def notes_export_consent_set(*, actor: Actor, case: Case, given_on: date | None) -> Case:
    """Record (or, with None, withdraw) the person's consent that notes may be exported."""
    with transaction.atomic():
        locked = _writable(actor, case)
        member = not isinstance(actor, SystemActor) and locked.members.filter(user=actor).exists()
        if not member:
            raise PermissionDenied(
                gettext("only members of the case record consent about its notes")
            )
        locked.notes_export_consent_on = given_on  # not a field of the edit form: no new version
        locked._history_user = _user(actor)  # type: ignore[attr-defined]
        locked.save()
        _audit(actor, "consent" if given_on else "withdraw_consent", locked, "case_notes_export")
    return locked


def outcome_record(*, actor: Actor, case: Case, year: int, **values: Any) -> Outcome:
    """The person's outcome for a year (one record per year; recording again replaces it)."""
    if "economic_activity" in values:
        values["economic_activity"] = _code(
            "economic_activity", values["economic_activity"], "economic_activity"
        )
    if values.get("employment_status"):
        values["employment_status"] = _code(
            "employment_status", values["employment_status"], "employment_status"
        )
    validate_outcome(values)
    with transaction.atomic():
        locked = _writable(actor, case)
        outcome = Outcome.objects.filter(case=locked, year=year).first() or Outcome(
            case=locked, year=year
        )
        for name, value in values.items():
            setattr(outcome, name, value)
        _save_part(actor, locked, outcome, "record", "outcome", sorted(values), year=year)
    return outcome


def case_viewed(*, actor: Actor, access: selectors.CaseAccess) -> None:
    """Record that a person's case was read, with the sections shown."""
    with transaction.atomic():
        _audit(
            actor,
            "view",
            access.case,
            "case",
            sorted(access.sections),
            referred=not access.is_lead_agency,
        )
