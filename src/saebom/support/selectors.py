"""Reads of resettlement cases, narrowed to what the reader may see.

A caseworker sees the cases their agency leads, whole (notes only as a member of the case), and
the cases another agency referred to theirs: only while the referral is accepted and the consent
runs, and only the sections the person agreed to share. Researchers, statisticians and auditors
see no case at all; outcome indicators reach them through ``support.outcomes`` alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from saebom.accounts.models import User
from saebom.core import policy, vocab
from saebom.core.actors import Actor, SystemActor
from saebom.core.exceptions import NotFound
from saebom.core.policy import Action, Scope
from saebom.support.models import (
    Assessment,
    BenefitRate,
    Case,
    CaseMember,
    FollowUp,
    NeedScore,
    Referral,
    Service,
)

SECTIONS = (
    "profile",
    "milestones",
    "protection",
    "officers",
    "household",
    "needs",
    "plan",
    "services",
    "benefits",
    "followups",
    "notes",
    "outcomes",
)
HIGH_SEVERITY = 2
ENDING_WITHIN = timedelta(days=90)
OPEN_STATUSES = (Case.Status.OPEN, Case.Status.ACTIVE, Case.Status.ON_HOLD, Case.Status.TRANSFERRED)


def today() -> date:
    return timezone.localdate()


def active_referrals(agency_id: int, day: date | None = None) -> QuerySet[Referral]:
    """Referrals the agency has accepted whose consent still runs: the only doors into another
    agency's case. Revocation or the end of consent closes them at once."""
    return Referral.objects.filter(
        to_agency_id=agency_id,
        kind=Referral.Kind.REFERRAL,  # an accepted transfer made the agency the lead instead
        status=Referral.Status.ACCEPTED,
        valid_until__gte=day or today(),
    )


def cases_visible_to(actor: Actor) -> QuerySet[Case]:
    scope = policy.scope_of(actor, Action.CASE_VIEW)
    cases = Case.objects.select_related("person", "lead_agency")
    if scope is Scope.ALL:
        return cases
    if scope is Scope.NONE or isinstance(actor, SystemActor):
        return cases.none()
    own = Q(lead_agency_id=actor.agency_id)
    if scope is Scope.REFERRED:
        referred = active_referrals(actor.agency_id).filter(case=OuterRef("pk"))
        return cases.filter(own | Exists(referred))
    return cases.filter(own)


@dataclass(frozen=True)
class CaseAccess:
    """What one actor may see and do in one case."""

    case: Case
    sections: frozenset[str]
    is_lead_agency: bool
    is_member: bool
    can_update: bool
    referrals: tuple[Referral, ...] = field(default=())  # the active ones that let them in

    def sees(self, section: str) -> bool:
        return section in self.sections


def case_access(actor: Actor, public_id: str) -> CaseAccess:
    """The case and the actor's view of it, or :class:`NotFound` (missing and hidden alike)."""
    case = cases_visible_to(actor).filter(public_id=str(public_id).upper()).first()
    if case is None:
        raise NotFound("Not found.")
    return access_to(actor, case)


def access_to(actor: Actor, case: Case) -> CaseAccess:
    if isinstance(actor, SystemActor):
        return CaseAccess(case, frozenset(SECTIONS), True, False, True)
    is_lead = case.lead_agency_id == actor.agency_id
    is_member = any(
        _counts(m, today())
        for m in CaseMember.objects.filter(case=case, user_id=actor.pk).select_related("referral")
    )
    referrals: tuple[Referral, ...] = ()
    if is_lead:
        sections = set(SECTIONS)
    else:
        referrals = tuple(active_referrals(actor.agency_id).filter(case=case))
        sections = {s for r in referrals for s in r.section_list}
    if not (is_member and policy.allows(actor, Action.CASE_NOTES)):
        sections.discard("notes")
    return CaseAccess(
        case=case,
        sections=frozenset(sections),
        is_lead_agency=is_lead,
        is_member=is_member,
        can_update=is_lead and policy.allows(actor, Action.CASE_UPDATE),
        referrals=referrals,
    )


@dataclass(frozen=True)
class DomainChange:
    domain: str
    severities: list[int | None]  # one per assessment, oldest first (None: not assessed)
    change: int | None  # latest minus the one before (None with fewer than two)


def needs_changes(case: Case) -> tuple[list[Assessment], list[DomainChange]]:
    """Every assessment of the case and, per domain, how its severity moved between them."""
    assessments = list(case.assessments.prefetch_related("scores").order_by("assessed_on", "pk"))
    by_domain: dict[str, list[int | None]] = {}
    for domain in vocab.codes("need_domain"):
        by_domain[domain] = [
            next((s.severity for s in a.scores.all() if s.domain == domain), None)
            for a in assessments
        ]
    changes = []
    for domain, severities in by_domain.items():
        known = [s for s in severities if s is not None]
        change = known[-1] - known[-2] if len(known) >= 2 else None
        changes.append(DomainChange(domain, severities, change))
    return assessments, changes


def _count(queryset: QuerySet[Any]) -> Coalesce:
    """A correlated COUNT(*) of ``queryset`` (already filtered on OuterRef)."""
    counted = queryset.order_by().values("case_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def unmet_needs_query() -> QuerySet[NeedScore]:
    """High-severity needs of a case's latest assessment with no planned or ongoing service in
    their domain (correlated on the outer case)."""
    answered = Service.objects.filter(
        case_id=OuterRef(OuterRef("pk")), domain=OuterRef("domain"), status__in=Service.ACTIVE
    )
    return NeedScore.objects.filter(
        assessment_id=OuterRef("latest_assessment_id"), severity__gte=HIGH_SEVERITY
    ).filter(~Exists(answered))


def caseload(
    actor: Actor,
    *,
    member: User | None = None,
    attention_only: bool = False,
    day: date | None = None,
) -> QuerySet[Case]:
    """Open cases of the actor's agency (or of one caseworker), each with what needs attention:
    overdue follow-ups, high-severity needs without an active service, protection ending within
    90 days. One query, whatever the number of rows."""
    policy.require(actor, Action.CASELOAD_VIEW)
    day = day or today()
    cases = policy.scoped(
        actor, Action.CASELOAD_VIEW, Case.objects.all(), agency_field="lead_agency"
    ).filter(status__in=OPEN_STATUSES)
    if member is not None:
        cases = cases.filter(Exists(CaseMember.objects.filter(case=OuterRef("pk"), user=member)))
    overdue = FollowUp.objects.filter(
        case_id=OuterRef("pk"), status=FollowUp.Status.SCHEDULED, due_on__lt=day
    )
    unmet = (
        unmet_needs_query().order_by().values("assessment_id").annotate(n=Count("pk")).values("n")
    )
    lead = CaseMember.objects.filter(case_id=OuterRef("pk"), role=CaseMember.Role.LEAD)
    cases = cases.annotate(
        overdue_followups=_count(overdue),
        unmet_needs=Coalesce(Subquery(unmet, output_field=IntegerField()), Value(0)),
        lead_username=Subquery(lead.values("user__username")[:1]),
    ).select_related("person")
    ending = Q(protection_end__gte=day, protection_end__lte=day + ENDING_WITHIN)
    if attention_only:
        cases = cases.filter(Q(overdue_followups__gt=0) | Q(unmet_needs__gt=0) | ending)
    # Cases without a protection period last on every database (SQLite sorts NULL first).
    return cases.order_by(F("protection_end").asc(nulls_last=True), "pk")


def caseload_summary(
    cases: QuerySet[Case], day: date | None = None, *, with_attention: bool = False
) -> dict[str, int]:
    """Counts over a caseload (as returned by :func:`caseload`), in one query."""
    day = day or today()
    ending = Q(protection_end__gte=day, protection_end__lte=day + ENDING_WITHIN)
    overdue, unmet = Q(overdue_followups__gt=0), Q(unmet_needs__gt=0)
    counts = {
        "cases": Count("pk"),
        "with_overdue": Count("pk", filter=overdue),
        "with_unmet_needs": Count("pk", filter=unmet),
        "protection_ending": Count("pk", filter=ending),
    }
    if with_attention:  # what the attention filter keeps: dearer, so only when it is shown
        counts["needing_attention"] = Count("pk", filter=overdue | unmet | ending)
    return cases.order_by().aggregate(**counts)


def referrals_incoming(actor: Actor) -> QuerySet[Referral]:
    """Referrals sent to the actor's agency (all states, newest first)."""
    policy.require(actor, Action.REFERRAL_RESPOND)
    if isinstance(actor, SystemActor):
        return Referral.objects.none()
    return (
        Referral.objects.filter(to_agency_id=actor.agency_id)
        .select_related("case", "from_agency")
        .order_by("-created_at")
    )


def referral_for(actor: Actor, referral_id: int) -> Referral:
    """A referral the actor's agency sent or received, or :class:`NotFound`."""
    if isinstance(actor, SystemActor) or not (
        policy.allows(actor, Action.REFERRAL_SEND) or policy.allows(actor, Action.REFERRAL_RESPOND)
    ):
        raise NotFound("Not found.")
    found = (
        Referral.objects.filter(pk=referral_id)
        .filter(Q(to_agency_id=actor.agency_id) | Q(case__lead_agency_id=actor.agency_id))
        .select_related("case", "case__lead_agency", "from_agency", "to_agency")
        .first()
    )
    if found is None:
        raise NotFound("Not found.")
    return found


def members_of(cases: Iterable[Case]) -> dict[int, list[CaseMember]]:
    """Members of the cases; partners only while a referral still lets their agency in."""
    members: dict[int, list[CaseMember]] = {}
    day = today()
    for member in CaseMember.objects.filter(case__in=list(cases)).select_related(
        "user", "referral"
    ):
        if _counts(member, day):
            members.setdefault(member.case_id, []).append(member)
    return members


def members_seen_by(access: CaseAccess) -> list[CaseMember]:
    """The members a reader of the case may see: all of them for the lead agency; without the
    partners for a referred agency (other partners would tell it which agencies are involved,
    which the person did not agree to share with it)."""
    members = members_of([access.case]).get(access.case.pk, [])
    if access.is_lead_agency:
        return members
    return [m for m in members if m.role != CaseMember.Role.PARTNER]


def _counts(member: CaseMember, day: date) -> bool:
    """A partner is a member only while the referral that let their agency in still runs."""
    return member.referral is None or member.referral.is_active_on(day)


def holds_the_record(actor: Actor, referral: Referral) -> bool:
    """Whether the actor's agency leads the referral's case now: it reads the whole referral
    (purpose, reasons); the receiving side reads the purpose only while it runs."""
    return isinstance(actor, SystemActor) or referral.case.lead_agency_id == actor.agency_id


# --- added for the web pages ---------------------------------------------------------------


def case_staff(case: Case) -> QuerySet[User]:
    """Active accounts of the case's lead agency that may work on cases: those a case may be
    assigned to (members, follow-ups)."""
    roles = [role for role, scope in policy.POLICY[Action.CASE_VIEW].items() if scope > Scope.NONE]
    return User.objects.filter(
        agency_id=case.lead_agency_id, is_active=True, role__in=roles
    ).order_by("username")


def case_referrals(access: CaseAccess, actor: Actor) -> QuerySet[Referral]:
    """The referrals of a case the actor may list: all of them for the lead agency, the ones
    sent to the actor's own agency otherwise."""
    referrals = access.case.referrals.select_related("from_agency", "to_agency").order_by(
        "-created_at", "-pk"
    )
    if access.is_lead_agency or isinstance(actor, SystemActor):
        return referrals
    return referrals.filter(to_agency_id=actor.agency_id)


def case_of_person(actor: Actor, person_id: int) -> Case | None:
    """The person's case, when the actor may see it."""
    return cases_visible_to(actor).filter(person_id=person_id).first()


def benefit_rates() -> QuerySet[BenefitRate]:
    """The benefit rates by year (public reference figures, kept by administrators)."""
    return BenefitRate.objects.order_by("-year", "kind", "household_min")
