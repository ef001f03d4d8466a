"""Reads of the audit log, narrowed to what the reader may see."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import QuerySet

from saebom.core import policy
from saebom.core.actors import Actor
from saebom.core.models import AuditEvent
from saebom.core.policy import OPERATOR_AGENCY_CODE, Action


def audit_events_visible_to(actor: Actor) -> QuerySet[AuditEvent]:
    """Events of the reader's agency. The operating agency (code ``default``) also sees the
    installation's own events — CLI work, key rotation, attempts on unknown accounts — which
    belong to no agency."""
    own = policy.scoped(
        actor,
        Action.AUDIT_VIEW,
        AuditEvent.objects.all(),
        agency_field="agency_code",
        by_agency_code=True,
    )
    agency = getattr(actor, "agency", None)
    operator = agency is not None and agency.code == OPERATOR_AGENCY_CODE
    if operator and policy.allows(actor, Action.AUDIT_VIEW):
        return own | AuditEvent.objects.filter(agency_code="")
    return own


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
