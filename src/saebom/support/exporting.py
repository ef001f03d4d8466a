"""Cases as documents: the sections a reader may see, for the API and for exports.

``SECTION_READERS`` is the one place that turns a case section into data: the export writes it
as JSON and the API's case endpoints serve it (``api/cases.py`` documents each shape). Dates are
``date`` objects and instants ``datetime`` objects (the export writes them in ISO 8601); a blank
text is ``""``. A section the reader may not see is neither read nor decrypted.

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

from saebom.core import policy, vocab
from saebom.core.actors import Actor
from saebom.core.audit import audit_record
from saebom.core.exceptions import NotFound
from saebom.core.policy import Action
from saebom.registry.exporting import SYNTHETIC_NOTE, Export
from saebom.support import selectors
from saebom.support.benefits import ledger, rates_year
from saebom.support.models import Assessment, Case, CaseMember, Service
from saebom.support.selectors import CaseAccess

FORMAT_VERSION = 1


def _text(value: str | None) -> str:
    """Encrypted fields read a blank value back as None: it is shown as ""."""
    return value or ""


def _profile(case: Case) -> dict[str, Any]:
    members = sorted(selectors.members_of([case]).get(case.pk, []), key=lambda m: m.pk)
    return {
        "person_public_id": case.person.public_id,
        "status": case.status,
        "opened_on": case.opened_on,
        "closed_on": case.closed_on,
        "household_size": case.household_size,
        "synthetic": case.is_synthetic,
        "version": case.version,
        "members": [{"user": m.user.username, "role": m.role} for m in members],
    }


def _milestones(case: Case) -> list[dict[str, Any]]:
    return [
        {"kind": m.kind, "reached_on": m.reached_on, "note": m.note}
        for m in case.milestones.order_by("reached_on", "pk")
    ]


def _protection(case: Case) -> dict[str, Any]:
    return {
        "start": case.protection_start,
        "end": case.protection_end,
        "extensions": [
            {
                "decided_on": e.decided_on,
                "previous_end": e.previous_end,
                "new_end": e.new_end,
                "reason": e.reason,
            }
            for e in case.extensions.order_by("decided_on", "pk")
        ],
    }


def _officers(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "kind": o.kind,
            "name": _text(o.name),
            "organisation": _text(o.organisation),
            "phone": _text(o.phone),
            "email": _text(o.email),
        }
        for o in case.officers.order_by("kind")
    ]


def _household(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "name": _text(h.name),
            "relation": h.relation,
            "location": h.location,
            "birth_year": h.birth_year,
        }
        for h in case.household.order_by("pk")
    ]


def assessment_data(assessment: Assessment) -> dict[str, Any]:
    """One needs assessment: a severity and a note per domain, in the vocabulary's order."""
    order = {domain: n for n, domain in enumerate(vocab.codes("need_domain"))}
    scores = sorted(assessment.scores.all(), key=lambda s: (order.get(s.domain, len(order)), s.pk))
    return {
        "id": assessment.pk,
        "assessed_on": assessment.assessed_on,
        "needs": {s.domain: {"severity": s.severity, "note": _text(s.note)} for s in scores},
    }


def _needs(case: Case) -> list[dict[str, Any]]:
    assessments = case.assessments.prefetch_related("scores").order_by("assessed_on", "pk")
    return [assessment_data(a) for a in assessments]


def _plan(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "id": g.pk,
            "domain": g.domain,
            "description": _text(g.description),
            "target_date": g.target_date,
            "status": g.status,
            "version": g.version,
        }
        for g in case.goals.order_by("pk")
    ]


def service_data(service: Service) -> dict[str, Any]:
    """One service of a case (its provider as an agency code)."""
    return {
        "id": service.pk,
        "kind": service.kind,
        "domain": service.domain,
        "provider": service.provider.code if service.provider else None,
        "status": service.status,
        "due_on": service.due_on,
        "delivered_on": service.delivered_on,
        "note": _text(service.note),
        "version": service.version,
    }


def _services(case: Case) -> list[dict[str, Any]]:
    services = case.services.select_related("provider").order_by("created_at", "pk")
    return [service_data(s) for s in services]


def _benefits(case: Case) -> dict[str, Any]:
    year = rates_year(case)
    return {
        "payments": [
            {
                "id": p.pk,
                "kind": p.kind,
                "amount_krw": p.amount_krw,
                "paid_on": p.paid_on,
                "note": p.note,
            }
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
            "due_on": f.due_on,
            "channel": f.channel,
            "assigned_to": f.assigned_to.username if f.assigned_to else None,
            "status": f.status,
            "done_on": f.done_on,
            "outcome": _text(f.outcome),
            "version": f.version,
        }
        for f in case.followups.select_related("assigned_to").order_by("due_on", "pk")
    ]


def _notes(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "id": n.pk,
            "author": n.author.username if n.author else None,
            "created_at": n.created_at,
            "text": _text(n.text),
        }
        for n in case.notes.select_related("author").order_by("-created_at", "-pk")
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


def read_section(access: CaseAccess, section: str) -> Any:
    """One section of the case, for a reader who may see it; :class:`NotFound` otherwise (its
    records are missing to them, and nothing of it is read)."""
    if not access.sees(section):
        raise NotFound("Not found.")
    return SECTION_READERS[section](access.case)


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
    if "profile" in document and not access.is_lead_agency:
        # As selectors.members_seen_by: a referred agency is not shown the partners.
        document["profile"]["members"] = [
            m for m in document["profile"]["members"] if m["role"] != CaseMember.Role.PARTNER
        ]
    return document


def _json_value(value: object) -> str:
    """Dates and instants in ISO 8601 (``datetime`` is a ``date`` too)."""
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


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
    content = json.dumps(body, ensure_ascii=False, indent=1, default=_json_value).encode("utf-8")
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="export",
            object_type="case",
            detail={
                "cases": len(documents),
                "case_ids": [d["case"] for d in documents],
                "with_notes": sum("notes" in d for d in documents),
                "sha256": hashlib.sha256(content).hexdigest(),
            },
        )
    return Export(content=content, rows=len(documents), media_type="application/json")
