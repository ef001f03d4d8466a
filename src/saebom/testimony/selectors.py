"""Reads of evidence, narrowed to what the reader may see: their own agency's files."""

from __future__ import annotations

from django.db.models import QuerySet

from saebom.core import policy
from saebom.core.actors import Actor
from saebom.core.policy import Action
from saebom.testimony.models import EvidenceFile


def evidence_visible_to(actor: Actor) -> QuerySet[EvidenceFile]:
    return policy.scoped(actor, Action.EVIDENCE_VIEW, EvidenceFile.objects.all()).order_by(
        "-uploaded_at", "-id"
    )


def evidence_get(actor: Actor, public_id: str) -> EvidenceFile:
    """One file the actor may see, or ``NotFound`` (the same for missing and not theirs)."""
    return policy.get_visible(
        actor, Action.EVIDENCE_VIEW, EvidenceFile.objects.all(), public_id=public_id
    )
