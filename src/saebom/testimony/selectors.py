"""Reads of testimony and evidence, narrowed to what the reader may see.

- Documenters and administrators see their own agency's testimonies, withdrawn ones included
  (they hold the record of the withdrawal), with transcripts, identities and names.
- Researchers see summaries and coding, never transcripts, identities or names: of their own
  agency's testimonies, and of other agencies' whose consent allows publication. Never a
  testimony whose consent was withdrawn.
- Search, exports and sharing never include a withdrawn testimony, whoever asks.
- Evidence files stay with the agency that holds them.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext

from saebom.core import policy
from saebom.core.actors import Actor, SystemActor
from saebom.core.exceptions import NotFound
from saebom.core.policy import Action, Scope
from saebom.registry.models import Person
from saebom.registry.selectors import persons_visible_to
from saebom.testimony.acttypes import serious_codes
from saebom.testimony.models import Act, Corroboration, EvidenceFile, Place, Testimony

SCOPES = [scope.value for scope in Testimony.Scope]  # narrowest first
PUBLISHED = [Testimony.Scope.PUBLISH_ANONYMISED, Testimony.Scope.PUBLISH_NAMED]
CONSENTED = Q(consent_withdrawn_on__isnull=True)


def testimonies_visible_to(actor: Actor) -> QuerySet[Testimony]:
    testimonies = Testimony.objects.order_by("-interview_date", "-id")
    scope = policy.scope_of(actor, Action.TESTIMONY_VIEW)
    if isinstance(actor, SystemActor):
        return testimonies
    if scope is Scope.NONE:
        return testimonies.none()
    if scope is Scope.AGENCY:
        return testimonies.filter(agency=actor.agency_id)
    return testimonies.filter(CONSENTED).filter(
        Q(agency=actor.agency_id) | Q(consent_scope__in=PUBLISHED)
    )


def testimonies_searchable_by(actor: Actor) -> QuerySet[Testimony]:
    """What search may return to the actor: visible, and consent not withdrawn."""
    return testimonies_visible_to(actor).filter(CONSENTED)


def testimony_get(actor: Actor, public_id: str) -> Testimony:
    """One testimony the actor may see, or ``NotFound`` (the same for missing and hidden)."""
    try:
        return testimonies_visible_to(actor).select_related("agency").get(public_id=public_id)
    except Testimony.DoesNotExist:
        raise NotFound(gettext("Not found.")) from None


def reads_confidential(actor: Actor, testimony: Testimony) -> bool:
    """May the actor read the transcript, the witness's identity and the names in it?"""
    if isinstance(actor, SystemActor):
        return True
    return (
        policy.allows(actor, Action.TESTIMONY_CONFIDENTIAL)
        and testimony.agency_id == actor.agency_id
    )


def consent_covers(testimony: Testimony, scope: str, mechanism: str | None = None) -> bool:
    """Does the consent in force allow use at ``scope``? Scopes are ordered, narrowest first:
    consent to publish covers sharing with any mechanism; consent to share covers only the
    mechanisms it names."""
    if testimony.consent_withdrawn:
        return False
    given = SCOPES.index(testimony.consent_scope)
    asked = SCOPES.index(scope)
    if given < asked:
        return False
    share = SCOPES.index(Testimony.Scope.SHARE_WITH_MECHANISMS)
    if asked == given == share:  # sharing with one of the bodies named, and no other
        return mechanism is not None and mechanism in testimony.consent_mechanisms
    return True


def consented_for(scope: str) -> Q:
    """The database half of :func:`consent_covers` (without the mechanism check)."""
    return CONSENTED & Q(consent_scope__in=SCOPES[SCOPES.index(scope) :])


FIRST_HAND = ("experienced", "witnessed")


def acts_recordable_by(actor: Actor) -> QuerySet[Act]:
    """Acts of the testimonies the actor may code: their agency's (documenters, admins)."""
    if not policy.allows(actor, Action.TESTIMONY_RECORD):
        return Act.objects.none()
    return Act.objects.filter(incident__testimony__in=testimonies_visible_to(actor))


def corroborations_visible_to(actor: Actor) -> QuerySet[Corroboration]:
    """The agency's corroboration groups (documenters and administrators)."""
    return policy.scoped(actor, Action.TESTIMONY_RECORD, Corroboration.objects.all()).order_by(
        "-created_at"
    )


def independent_sources(group_ids: list[int]) -> dict[int, int]:
    """For each corroboration group, how many different witnesses speak to it first hand
    (experienced or witnessed), counting only testimonies whose consent stands. A registered
    witness counts once however many testimonies they gave; an unregistered source is counted
    per testimony, since nothing links their testimonies."""
    witnesses: dict[int, set[str]] = {group: set() for group in group_ids}
    rows = Act.objects.filter(
        corroboration_id__in=group_ids,
        connection__in=FIRST_HAND,
        incident__testimony__consent_withdrawn_on__isnull=True,
    ).values_list(
        "corroboration_id", "incident__testimony__witness_person_id", "incident__testimony_id"
    )
    for group, person, testimony in rows:
        witnesses[group].add(f"person:{person}" if person else f"testimony:{testimony}")
    return {group: len(keys) for group, keys in witnesses.items()}


def uncorroborated_serious(actor: Actor) -> list[Act]:
    """Serious allegations (act types marked serious) that fewer than two independent sources
    support, in the testimonies the actor may record and whose consent stands."""
    policy.require(actor, Action.TESTIMONY_RECORD)
    acts = list(
        Act.objects.filter(
            incident__testimony__in=testimonies_visible_to(actor).filter(CONSENTED),
            act_type__in=serious_codes(),
        )
        .select_related("incident__testimony", "incident__place", "place", "corroboration")
        .order_by("act_type", "incident__date_start", "id")
    )
    sources = independent_sources(sorted({a.corroboration_id for a in acts if a.corroboration_id}))
    return [a for a in acts if sources.get(a.corroboration_id or 0, 0) < 2]


def persons_linkable_by(actor: Actor) -> QuerySet[Person]:
    """Registry persons a testimony of the actor may name (as witness or individual): those
    with an arrival registered by the actor's agency. A documenter names them by public id,
    from the intake officer; they cannot browse the registry."""
    return persons_visible_to(actor, Action.TESTIMONY_RECORD)


def places() -> QuerySet[Place]:
    return Place.objects.select_related("parent")


def evidence_visible_to(actor: Actor) -> QuerySet[EvidenceFile]:
    return policy.scoped(actor, Action.EVIDENCE_VIEW, EvidenceFile.objects.all()).order_by(
        "-uploaded_at", "-id"
    )


def evidence_get(actor: Actor, public_id: str) -> EvidenceFile:
    """One file the actor may see, or ``NotFound`` (the same for missing and not theirs)."""
    files = EvidenceFile.objects.select_related("agency", "original")  # custody.identity_of
    return policy.get_visible(actor, Action.EVIDENCE_VIEW, files, public_id=public_id)
