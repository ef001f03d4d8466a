"""The arrivals statistics are computed over: counts only, never identities."""

from __future__ import annotations

from django.db.models import QuerySet

from saebom.core import policy
from saebom.core.actors import AnonymousActor, AuditActor
from saebom.core.policy import Action
from saebom.registry.models import Arrival


def arrivals_for_statistics(actor: AuditActor) -> QuerySet[Arrival]:
    """The arrivals whose counts ``actor`` may see. The public (anonymous) sees every agency's,
    and only ever through disclosure control."""
    if isinstance(actor, AnonymousActor):
        return Arrival.objects.all()
    return policy.scoped(actor, Action.STATS_VIEW, Arrival.objects.all())
