"""Reads of the audit log, narrowed to what the reader may see."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import QuerySet

from saebom.core import policy
from saebom.core.actors import Actor
from saebom.core.models import AuditEvent
from saebom.core.policy import Action


def audit_events_visible_to(actor: Actor) -> QuerySet[AuditEvent]:
    return policy.scoped(
        actor, Action.AUDIT_VIEW, AuditEvent.objects.all(), agency_field="agency_code", by_agency_code=True
    )


def audit_events_filtered(
    events: QuerySet[AuditEvent],
    *,
    action: str = "",
    actor: str = "",
    object_type: str = "",
    since: date | None = None,
    **_: Any,
) -> QuerySet[AuditEvent]:
    if action:
        events = events.filter(action=action)
    if actor:
        events = events.filter(actor_name__icontains=actor)
    if object_type:
        events = events.filter(object_type=object_type)
    if since:
        events = events.filter(at__date__gte=since)
    return events
