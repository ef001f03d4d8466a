"""Cases as documents: the sections a reader may see, for the API and for exports.

An export carries case notes only when the person's consent to that is recorded on the case and
the exporter may read them (a member of the case). Each export is an audit event with the SHA-256
of the file it produced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date
from typing import Any

from django.db import transaction

from saebom.core import policy
from saebom.core.actors import Actor
from saebom.core.audit import audit_record
from saebom.core.policy import Action
from saebom.registry.exporting import SYNTHETIC_NOTE, Export
from saebom.support import selectors
from saebom.support.benefits import ledger
from saebom.support.models import Case
from saebom.support.selectors import CaseAccess

FORMAT_VERSION = 1


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _profile(case: Case) -> dict[str, Any]:
    return {
        "status": case.status,
        "opened_on": _day(case.opened_on),
        "closed_on": _day(case.closed_on),
        "household_size": case.household_size,
        "version": case.version,
        "members": [
            {"user": m.user.username, "role": m.role}
            for m in case.members.select_related("user").order_by("pk")
        ],
    }


def _milestones(case: Case) -> list[dict[str, Any]]:
    return [
        {"kind": m.kind, "reached_on": _day(m.reached_on), "note": m.note}
        for m in case.milestones.order_by("reached_on", "pk")
    ]


def _protection(case: Case) -> dict[str, Any]:
    return {
        "start": _day(case.protection_start),
        "end": _day(case.protection_end),
        "extensions": [
            {
                "decided_on": _day(e.decided_on),
                "previous_end": _day(e.previous_end),
                "new_end": _day(e.new_end),
                "reason": e.reason,
            }
            for e in case.extensions.order_by("decided_on", "pk")
        ],
    }


def _officers(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "kind": o.kind,
            "name": o.name,
            "organisation": o.organisation,
            "phone": o.phone,
            "email": o.email,
        }
        for o in case.officers.order_by("kind")
    ]


def _household(case: Case) -> list[dict[str, Any]]:
    return [
        {"name": h.name, "relation": h.relation, "location": h.location, "birth_year": h.birth_year}
        for h in case.household.order_by("pk")
    ]


def _needs(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "id": a.pk,
            "assessed_on": _day(a.assessed_on),
            "needs": {s.domain: {"severity": s.severity, "note": s.note} for s in a.scores.all()},
        }
        for a in case.assessments.prefetch_related("scores").order_by("assessed_on", "pk")
    ]


def _plan(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "id": g.pk,
            "domain": g.domain,
            "description": g.description,
            "target_date": _day(g.target_date),
            "status": g.status,
            "version": g.version,
        }
        for g in case.goals.order_by("pk")
    ]


def _services(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "id": s.pk,
            "kind": s.kind,
            "domain": s.domain,
            "provider": s.provider.code if s.provider else None,
            "status": s.status,
            "due_on": _day(s.due_on),
            "delivered_on": _day(s.delivered_on),
            "note": s.note,
            "version": s.version,
        }
        for s in case.services.select_related("provider").order_by("pk")
    ]


def _benefits(case: Case) -> dict[str, Any]:
    year = (case.protection_start or case.opened_on).year
    return {
        "payments": [
            {"kind": p.kind, "amount_krw": p.amount_krw, "paid_on": _day(p.paid_on), "note": p.note}
            for p in case.payments.order_by("paid_on", "pk")
        ],
        "rates_year": year,
        "ledger": [
            {
                "rate": line.rate_kind,
                "paid_krw": line.paid_krw,
                "rate_krw": line.rate.amount_krw if line.rate else None,
                "remaining_krw": line.remaining_krw,
            }
            for line in ledger(case, year)
        ],
    }


def _followups(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "id": f.pk,
            "due_on": _day(f.due_on),
            "channel": f.channel,
            "assigned_to": f.assigned_to.username if f.assigned_to else None,
            "status": f.status,
            "done_on": _day(f.done_on),
            "outcome": f.outcome,
            "version": f.version,
        }
        for f in case.followups.select_related("assigned_to").order_by("due_on", "pk")
    ]


def _notes(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "author": n.author.username if n.author else None,
            "at": n.created_at.isoformat(),
            "text": n.text,
        }
        for n in case.notes.select_related("author")
    ]


def _outcomes(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "year": o.year,
            "economic_activity": o.economic_activity,
            "employment_status": o.employment_status,
            "monthly_wage_krw_10k": o.monthly_wage_krw_10k,
            "life_satisfaction": o.life_satisfaction,
            "experienced_discrimination": o.experienced_discrimination,
        }
        for o in case.outcomes.order_by("year")
    ]


SECTION_READERS: dict[str, Callable[[Case], Any]] = {
    "profile": _profile,
    "milestones": _milestones,
    "protection": _protection,
    "officers": _officers,
    "household": _household,
    "needs": _needs,
    "plan": _plan,
    "services": _services,
    "benefits": _benefits,
    "followups": _followups,
    "notes": _notes,
    "outcomes": _outcomes,
}


def case_document(access: CaseAccess, *, exporting: bool = False) -> dict[str, Any]:
    """The case with the sections ``access`` allows, and no key for the others.

    In an export, notes also need the person's recorded consent to leave Saebom.
    """
    case = access.case
    sections = [s for s in selectors.SECTIONS if access.sees(s)]
    if exporting and case.notes_export_consent_on is None and "notes" in sections:
        sections.remove("notes")
    document: dict[str, Any] = {
        "case": case.public_id,
        "person": case.person.public_id,
        "lead_agency": case.lead_agency.code,
        "synthetic": case.is_synthetic,
        "sections": sections,
    }
    for section in sections:
        document[section] = SECTION_READERS[section](case)
    return document


def cases_export(*, actor: Actor) -> Export:
    """Every case the actor's agency leads, as JSON (docs/support.md), audited with its hash."""
    policy.require(actor, Action.CASE_EXPORT)
    cases = selectors.cases_visible_to(actor).filter(
        lead_agency_id=getattr(actor, "agency_id", None)
    )
    documents = [
        case_document(selectors.access_to(actor, case), exporting=True)
        for case in cases.order_by("public_id")
    ]
    synthetic = any(d["synthetic"] for d in documents)
    body: dict[str, Any] = {"format": "saebom-cases", "version": FORMAT_VERSION}
    if synthetic:
        body["note"] = SYNTHETIC_NOTE
    body["cases"] = documents
    content = json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="export",
            object_type="case",
            detail={
                "cases": len(documents),
                "with_notes": sum("notes" in d for d in documents),
                "sha256": hashlib.sha256(content).hexdigest(),
            },
        )
    return Export(content=content, rows=len(documents), media_type="application/json")
