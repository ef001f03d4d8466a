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

from saebom.accounts.models import Agency, User
from saebom.core import policy, vocab
from saebom.core.actors import Actor, SystemActor
from saebom.core.audit import audit_record
from saebom.core.exceptions import Conflict, NotFound, PermissionDenied, SaebomError
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
        raise PermissionDenied("referrals are made by caseworkers of an agency")
    return actor


def _text(value: str | None) -> Any:
    """Free text as stored: trimmed, and NULL (not an encrypted empty string) when empty."""
    return (value or "").strip() or None


def _code(vocabulary: str, value: str, field: str) -> str:
    try:
        return vocab.resolve(vocabulary, value)
    except vocab.UnknownTerm as unknown:
        raise SaebomError(f"{field}: {unknown}", field=field) from None


def _writable(actor: Actor, case: Case) -> Case:
    """The case, locked for this transaction, if the actor's agency leads it."""
    policy.require(actor, Action.CASE_UPDATE)
    visible = selectors.cases_visible_to(actor).filter(pk=case.pk).first()
    if visible is None:
        raise NotFound("Not found.")
    if not isinstance(actor, SystemActor) and visible.lead_agency_id != actor.agency_id:
        raise PermissionDenied("only the lead agency's caseworkers may change this case")
    return Case.objects.select_for_update().select_related("lead_agency", "person").get(pk=case.pk)


def _audit(
    actor: Actor, action: str, case: Case, what: str, fields: Sequence[str] = (), **detail: Any
) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type=what,
        object_id=case.public_id,
        changed_fields=list(fields),
        detail=detail or None,
    )


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
        raise NotFound("Not found.")
    if household_size < 1:
        raise SaebomError("household_size: at least 1 (the person)", field="household_size")
    with transaction.atomic():
        if Case.objects.select_for_update().filter(person=person).exists():
            raise Conflict("this person already has a case", field="person")
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


def case_update(*, actor: Actor, case: Case, expected_version: int, **changes: Any) -> Case:
    """Change the case's own fields (status, household size, protection dates, closing date)."""
    unknown = set(changes) - set(CASE_FIELDS)
    if unknown:
        raise SaebomError(f"cannot change {', '.join(sorted(unknown))} here")
    with transaction.atomic():
        locked = _writable(actor, case)
        check_version(locked, expected_version, CASE_FIELDS)
        if "status" in changes:
            changes["status"] = _code("case_status", changes["status"], "status")
        start = changes.get("protection_start")
        if start and "protection_end" not in changes and locked.protection_end is None:
            changes["protection_end"] = protection_end_for(changes["protection_start"])
        if changes.get("status") == Case.Status.CLOSED and not (
            changes.get("closed_on") or locked.closed_on
        ):
            changes["closed_on"] = selectors.today()
        if "household_size" in changes and changes["household_size"] < 1:
            raise SaebomError("household_size: at least 1 (the person)", field="household_size")
        _check_dates(
            changes.get("protection_start", locked.protection_start),
            changes.get("protection_end", locked.protection_end),
        )
        changed = [n for n, v in changes.items() if getattr(locked, n) != v]
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.version += 1
        locked._history_user = _user(actor)  # type: ignore[attr-defined]
        locked.save()
        _audit(actor, "update", locked, "case", changed)
    return locked


def _check_dates(start: date | None, end: date | None) -> None:
    if start and end and end < start:
        raise SaebomError("protection_end: before the start of protection", field="protection_end")


def case_member_set(*, actor: Actor, case: Case, user: User, role: str) -> CaseMember:
    role = _code("case_member_role", role, "role")
    if role == CaseMember.Role.PARTNER:
        raise SaebomError("role: partners join through an accepted referral", field="role")
    with transaction.atomic():
        locked = _writable(actor, case)
        if user.agency_id != locked.lead_agency_id or not policy.allows(user, Action.CASE_VIEW):
            raise SaebomError("user: not a caseworker of the lead agency", field="user")
        if role == CaseMember.Role.LEAD:
            CaseMember.objects.filter(case=locked, role=CaseMember.Role.LEAD).exclude(
                user=user
            ).update(role=CaseMember.Role.CASEWORKER)
        member, _ = CaseMember.objects.update_or_create(
            case=locked, user=user, defaults={"role": role, "referral": None}
        )
        _audit(actor, "assign", locked, "case_member", [role], user=user.username)
    return member


def case_member_remove(*, actor: Actor, case: Case, user: User) -> None:
    with transaction.atomic():
        locked = _writable(actor, case)
        deleted, _ = CaseMember.objects.filter(case=locked, user=user).delete()
        if not deleted:
            raise NotFound("Not found.")
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
        milestone._history_user = _user(actor)  # type: ignore[attr-defined]
        milestone.save()
        _touch(locked)
        _audit(actor, "record", locked, "milestone", [kind])
    return milestone


def protection_extend(
    *, actor: Actor, case: Case, decided_on: date, new_end: date, reason: str
) -> ProtectionExtension:
    """Extend residence protection: a decision kept with its reason, never edited."""
    if not reason.strip():
        raise SaebomError("reason: an extension needs its reason", field="reason")
    with transaction.atomic():
        locked = _writable(actor, case)
        if locked.protection_end is None:
            raise Conflict("set the start of protection first", field="new_end")
        if new_end <= locked.protection_end:
            raise SaebomError(
                f"new_end: must be after the current end ({locked.protection_end})",
                field="new_end",
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
        officer._history_user = _user(actor)  # type: ignore[attr-defined]
        officer.save()
        _touch(locked)
        _audit(actor, "record", locked, "protection_officer", [kind])
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
        member._history_user = _user(actor)  # type: ignore[attr-defined]
        member.save()
        _touch(locked)
        _audit(actor, "create", locked, "household_member", [relation, location])
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
        raise SaebomError(f"needs: no severity for {', '.join(missing)}", field="needs")
    for domain, need in resolved.items():
        if not 0 <= need.severity <= 3:
            raise SaebomError(
                f"needs.{domain}: severity is 0-3, not {need.severity}", field=f"needs.{domain}"
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
        high = sorted(d for d, n in resolved.items() if n.severity >= selectors.HIGH_SEVERITY)
        _audit(actor, "create", locked, "assessment", domains, high=high)
    return assessment


def goal_add(
    *, actor: Actor, case: Case, domain: str, description: str, target_date: date | None = None
) -> Goal:
    domain = _code("need_domain", domain, "domain")
    if not description.strip():
        raise SaebomError("description: say what the goal is", field="description")
    with transaction.atomic():
        locked = _writable(actor, case)
        goal = Goal(
            case=locked, domain=domain, description=description.strip(), target_date=target_date
        )
        goal._history_user = _user(actor)  # type: ignore[attr-defined]
        goal.save()
        _touch(locked)
        _audit(actor, "create", locked, "goal", [domain])
    return goal


def goal_update(*, actor: Actor, goal: Goal, expected_version: int, **changes: Any) -> Goal:
    if "status" in changes:
        changes["status"] = _code("goal_status", changes["status"], "status")
    if "description" in changes:
        if not _text(changes["description"]):
            raise SaebomError("description: say what the goal is", field="description")
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
        service._history_user = _user(actor)  # type: ignore[attr-defined]
        service.save()
        _touch(locked)
        _audit(actor, "create", locked, "service", [kind, status])
    return service


def _check_delivery(status: str, delivered_on: date | None) -> None:
    if status == Service.Status.DELIVERED and delivered_on is None:
        raise SaebomError("delivered_on: give the date it was delivered", field="delivered_on")
    if delivered_on is not None and status != Service.Status.DELIVERED:
        raise SaebomError("delivered_on: only a delivered service has one", field="delivered_on")


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
        raise SaebomError(f"cannot change {', '.join(sorted(unknown))} here")
    with transaction.atomic():
        case = _writable(actor, record.case)
        locked = type(record).objects.select_for_update().get(pk=record.pk, case=case)
        check_version(locked, expected_version, fields)
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
        raise SaebomError("amount_krw: a payment of nothing", field="amount_krw")
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
        _audit(actor, "create", locked, "benefit_payment", [kind])
    return payment


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
    policy.require(actor, Action.BENEFIT_RATES_MANAGE)
    kind = _code("benefit_rate", kind, "kind")
    if amount_krw <= 0:
        raise SaebomError("amount_krw: must be positive", field="amount_krw")
    if household_min < 1 or (household_max is not None and household_max < household_min):
        raise SaebomError("household_max: the household range is empty", field="household_max")
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
        raise SaebomError("sections: name what the person agreed to share", field="sections")
    if not purpose.strip():
        raise SaebomError("purpose: say why the case is referred", field="purpose")
    if consent_given_on > selectors.today():
        raise SaebomError(
            "consent_given_on: consent cannot be given in the future", field="consent_given_on"
        )
    if valid_until < selectors.today():
        raise SaebomError("valid_until: the consent has already ended", field="valid_until")
    with transaction.atomic():
        locked = _writable(actor, case)
        if to_agency.pk == locked.lead_agency_id:
            raise SaebomError(
                "to_agency: the case is already led by that agency", field="to_agency"
            )
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
        raise NotFound("Not found.")
    if locked.status != Referral.Status.PENDING:
        raise Conflict(f"this referral is already {locked.status}")
    if accepting and locked.valid_until < selectors.today():
        raise Conflict("the person's consent for this referral has ended; decline it")
    return locked


def referral_accept(*, actor: Actor, referral: Referral) -> Referral:
    """Accept: the agency sees the consented sections at once (a transfer makes it the lead)."""
    user = _staff(actor)
    with transaction.atomic():
        locked = _pending_for(user, referral)
        case = Case.objects.select_for_update().get(pk=locked.case_id)
        if locked.from_agency_id != case.lead_agency_id:
            raise Conflict("the case is no longer led by the agency that referred it")
        locked.status = Referral.Status.ACCEPTED
        locked.responded_by, locked.responded_at = user, timezone.now()
        locked._history_user = user  # type: ignore[attr-defined]
        locked.save()
        if locked.kind == Referral.Kind.TRANSFER:
            _transfer(user, case, locked)
        else:
            CaseMember.objects.get_or_create(
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


def referral_revoke(
    *, actor: Actor, referral: Referral, reason: str = "", for_person: bool = False
) -> Referral:
    """End a referral at once: by the sending agency (also when the person withdraws consent,
    ``for_person``) or by the receiving agency giving it up."""
    user = _staff(actor)
    with transaction.atomic():
        locked = Referral.objects.select_for_update().select_related("case").get(pk=referral.pk)
        # The sender, or the agency leading the case now (after a transfer it keeps the
        # person's consent, so a withdrawal made there must end the earlier referral too).
        sender = user.agency_id in (
            locked.from_agency_id,
            locked.case.lead_agency_id,
        ) and policy.allows(user, Action.REFERRAL_SEND)
        receiver = locked.to_agency_id == user.agency_id and policy.allows(
            user, Action.REFERRAL_RESPOND
        )
        if not (sender or receiver):
            raise NotFound("Not found.")
        if locked.status not in (Referral.Status.PENDING, Referral.Status.ACCEPTED):
            raise Conflict(f"this referral is already {locked.status}")
        if locked.kind == Referral.Kind.TRANSFER and locked.status == Referral.Status.ACCEPTED:
            raise Conflict("a completed transfer cannot be revoked; the new lead may refer back")
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
            raise SaebomError(
                "assigned_to: not a caseworker of the lead agency", field="assigned_to"
            )
        followup = FollowUp(case=locked, due_on=due_on, channel=channel, assigned_to=assigned_to)
        followup._history_user = _user(actor)  # type: ignore[attr-defined]
        followup.save()
        _touch(locked)
        _audit(actor, "create", locked, "followup", [channel])
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
        elif status == FollowUp.Status.SCHEDULED and "done_on" not in changes:
            changes["done_on"] = None

    return _versioned_update(
        actor, followup, expected_version, FOLLOWUP_FIELDS, changes, "followup", check
    )


def note_add(*, actor: Actor, case: Case, text: str) -> CaseNote:
    """A case note: only members of the case may write (and read) them."""
    actor = _staff(actor)
    policy.require(actor, Action.CASE_NOTES)
    if not text.strip():
        raise SaebomError("text: the note is empty", field="text")
    with transaction.atomic():
        locked = _writable(actor, case)
        if not CaseMember.objects.filter(case=locked, user_id=actor.pk).exists():
            raise PermissionDenied("only members of the case may write its notes")
        note = CaseNote.objects.create(case=locked, author=_user(actor), text=text.strip())
        _audit(actor, "create", locked, "case_note")
    return note


def notes_export_consent_set(*, actor: Actor, case: Case, given_on: date | None) -> Case:
    """Record (or, with None, withdraw) the person's consent that notes may be exported."""
    with transaction.atomic():
        locked = _writable(actor, case)
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
        outcome._history_user = _user(actor)  # type: ignore[attr-defined]
        outcome.save()
        _touch(locked)
        _audit(actor, "record", locked, "outcome", sorted(values), year=year)
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
