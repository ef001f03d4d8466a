"""Exporting testimonies: only what the witness's consent covers for the scope asked.

An export is made for one scope (``consent_scope``, narrowest first: internal,
share_with_mechanisms, publish_anonymised, publish_named) and holds the agency's testimonies
whose consent covers it (:func:`selectors.consent_covers`); a withdrawn consent is never covered.
What each record carries depends on the scope and on the witness's consent (:class:`Level`):

- ``internal``: everything the agency holds (its own backup and the round-trip source of
  ``saebom import testimonies``): transcript, the witness's identity or registry link, the
  interview place and interviewers, names of the individuals, descriptions and notes.
- otherwise de-identified: summary, coded values, places, institutions, units and ranks, dates,
  the grading of the source; no transcript, identity, registry link, interview place, names,
  descriptions, notes or evidence file names.
- except that a witness whose consent is ``publish_named`` is named (their recorded identity,
  nothing more) in ``share_with_mechanisms`` and ``publish_named`` exports. A
  ``publish_anonymised`` export promises an anonymised file and names no one.

JSON carries whole records (docs/testimony.md, "Export format"); CSV one row per act, coded values
and summaries only, whatever the scope. Each export is one audit event with the SHA-256 of the
file; each evidence file a JSON export lists gets an ``exported`` link in its chain of custody.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from saebom.accounts.models import Agency
from saebom.core import policy, vocab
from saebom.core.actors import Actor
from saebom.core.audit import audit_record
from saebom.core.inputs import invalid, vocab_code
from saebom.core.policy import Action
from saebom.registry.exporting import SYNTHETIC_NOTE, Export
from saebom.registry.interchange import csv_writer, neutralise
from saebom.registry.services import agency_for
from saebom.testimony import selectors, services
from saebom.testimony.acttypes import act_types
from saebom.testimony.models import (
    Act,
    Corroboration,
    EvidenceFile,
    Incident,
    Individual,
    Place,
    Testimony,
)

FORMAT = "saebom-testimonies"
FORMAT_VERSION = 1
FORMATS = ("json", "csv")
Scopes = Testimony.Scope


class Level(enum.Enum):
    """How much of a testimony an export carries."""

    FULL = "full"  # internal: everything
    NAMED = "named"  # de-identified, but the witness's identity is given
    DEIDENTIFIED = "deidentified"


def level_for(scope: str, testimony: Testimony) -> Level:
    if scope == Scopes.INTERNAL:
        return Level.FULL
    if testimony.consent_scope == Scopes.PUBLISH_NAMED and scope != Scopes.PUBLISH_ANONYMISED:
        return Level.NAMED
    return Level.DEIDENTIFIED


# -- choosing what leaves -----------------------------------------------------------------------


def _request(scope: str, mechanism: str | None, fmt: str) -> tuple[str, str | None]:
    """The scope and mechanism codes asked for, checked."""
    if fmt not in FORMATS:
        raise invalid("format", gettext("use json or csv"))
    if not scope:
        raise invalid("scope", gettext("required: the use the export is for"))
    scope = vocab_code("consent_scope", scope, "scope")
    code = vocab_code("mechanism", mechanism, "mechanism") if mechanism else None
    if scope == Scopes.SHARE_WITH_MECHANISMS and code is None:
        raise invalid("mechanism", gettext("name the mechanism the export is shared with"))
    if scope != Scopes.SHARE_WITH_MECHANISMS and code is not None:
        raise invalid("mechanism", gettext("only an export to share with mechanisms names one"))
    return scope, code


def testimonies_for_export(agency: Agency, scope: str, mechanism: str | None) -> list[Testimony]:
    """The agency's testimonies whose consent covers ``scope`` (and ``mechanism``), by id."""
    candidates: QuerySet[Testimony] = (
        Testimony.objects.filter(agency=agency)
        .filter(selectors.consented_for(scope))
        .select_related("agency", "witness_person")
        .order_by("public_id")
    )
    return [t for t in candidates if selectors.consent_covers(t, scope, mechanism)]


# -- the JSON document --------------------------------------------------------------------------


def term(vocabulary: str, code: str | None) -> dict[str, str] | None:
    """A coded value with its labels: ``{"code", "label_ko", "label_en"}``; None when blank."""
    if not code:
        return None
    entry = next((e for e in vocab.entries(vocabulary) if e.code == code), None)
    return {
        "code": code,
        "label_ko": entry.label_ko if entry else "",
        "label_en": entry.label_en if entry else "",
    }


def _text(value: str | None) -> str:
    """Encrypted fields read a blank value back as None: it is written as ""."""
    return value or ""


@dataclass
class _Parts:
    """A testimony's rows, read once, with the local references the document uses: ``i1``...
    for individuals, ``e1``... for events (incidents), ``a1``... for acts."""

    individuals: list[Individual]
    incidents: list[Incident]
    acts: dict[int, list[Act]]  # by incident
    evidence: list[EvidenceFile]
    individual_refs: dict[int, str]
    act_refs: dict[int, str]

    def all_acts(self) -> list[Act]:
        return [act for incident in self.incidents for act in self.acts.get(incident.pk, [])]


def _parts(testimony: Testimony) -> _Parts:
    individuals = list(testimony.individuals.select_related("person").order_by("id"))
    incidents = list(
        testimony.incidents.select_related("place").order_by(
            F("date_start").asc(nulls_first=True), "id"
        )
    )
    acts: dict[int, list[Act]] = {}
    for act in (
        Act.objects.filter(incident__in=incidents)
        .select_related("place", "corroboration")
        .prefetch_related("victims", "involvements")
        .order_by("id")
    ):
        acts.setdefault(act.incident_id, []).append(act)
    ordered = [act for incident in incidents for act in acts.get(incident.pk, [])]
    return _Parts(
        individuals=individuals,
        incidents=incidents,
        acts=acts,
        evidence=list(testimony.evidence_files.select_related("original").order_by("public_id")),
        individual_refs={i.pk: f"i{n}" for n, i in enumerate(individuals, 1)},
        act_refs={act.pk: f"a{n}" for n, act in enumerate(ordered, 1)},
    )


def _interview(testimony: Testimony, level: Level) -> dict[str, Any]:
    interview: dict[str, Any] = {
        "date": testimony.interview_date,
        "language": term("interview_language", testimony.language),
    }
    if level is Level.FULL:
        interview["place"] = _text(testimony.interview_place)
        interview["interviewers"] = sorted(u.username for u in testimony.interviewers.all())
    return interview


def _witness(testimony: Testimony, level: Level) -> dict[str, Any]:
    witness: dict[str, Any] = {"sex": term("sex", testimony.witness_sex)}
    if level is Level.FULL:
        person = testimony.witness_person
        witness["person"] = person.public_id if person else None
    if level in (Level.FULL, Level.NAMED):
        # A registered witness's name stays in the registry: only the identity recorded on
        # the testimony leaves.
        witness["identity"] = _text(testimony.witness_identity)
    return witness


def _consent(testimony: Testimony) -> dict[str, Any]:
    return {
        "scope": term("consent_scope", testimony.consent_scope),
        "mechanisms": [term("mechanism", m) for m in testimony.consent_mechanisms],
        "given_on": testimony.consent_given_on,
    }


def _individual(parts: _Parts, individual: Individual, level: Level) -> dict[str, Any]:
    document: dict[str, Any] = {
        "ref": parts.individual_refs[individual.pk],
        "role": term("individual_role", individual.role),
        "sex": term("sex", individual.sex),
        "approx_age": individual.approx_age,
        "relation_to_witness": term("witness_relation", individual.relation_to_witness),
        "institution": term("institution", individual.institution),
        "unit": individual.unit,
        "rank": individual.rank,
    }
    if level is Level.FULL:
        document["name"] = _text(individual.name)
        document["person"] = individual.person.public_id if individual.person else None
    return document


def _act(parts: _Parts, act: Act, level: Level) -> dict[str, Any]:
    known = act_types().get(act.act_type)
    refs = parts.individual_refs
    document: dict[str, Any] = {
        "ref": parts.act_refs[act.pk],
        "act_type": term("act_type", act.act_type),
        "coi_category": term("coi_category", act.coi_category),
        "huridocs_code": known.huridocs_code if known else "",
        "place": act.place.code if act.place else None,
        "victims": [refs[v.pk] for v in sorted(act.victims.all(), key=lambda v: v.pk)],
        "perpetrators": [
            {
                "individual": refs[i.perpetrator_id],
                "degree": term("involvement", i.degree),
            }
            for i in sorted(act.involvements.all(), key=lambda i: i.perpetrator_id)
        ],
        "connection": term("source_connection", act.connection),
        "reliability": term("reliability", act.reliability),
        "credibility": term("credibility", act.credibility),
        "corroboration": act.corroboration.public_id if act.corroboration else None,
    }
    if level is Level.FULL:
        document["notes"] = _text(act.notes)
    return document


def _event(parts: _Parts, incident: Incident, number: int, level: Level) -> dict[str, Any]:
    document: dict[str, Any] = {
        "ref": f"e{number}",
        "date_start": incident.date_start,
        "date_precision": term("date_precision", incident.date_precision),
        "date_end": incident.date_end,
        "place": incident.place.code if incident.place else None,
    }
    if level is Level.FULL:
        document["place_detail"] = _text(incident.place_detail)
        document["description"] = _text(incident.description)
    document["acts"] = [_act(parts, act, level) for act in parts.acts.get(incident.pk, [])]
    return document


def place_document(place: Place) -> dict[str, Any]:
    return {
        "code": place.code,
        "kind": term("place_kind", place.kind),
        "name_ko": place.name_ko,
        "name_en": place.name_en,
        "parent": place.parent.code if place.parent else None,
        "province": term("origin_province", place.province),
        "facility_type": term("facility_type", place.facility_type),
        "facility_number": place.facility_number,
        "latitude": float(place.latitude) if place.latitude is not None else None,
        "longitude": float(place.longitude) if place.longitude is not None else None,
    }


def _places(parts: _Parts) -> list[dict[str, Any]]:
    used = {i.place.code for i in parts.incidents if i.place}
    used |= {a.place.code for a in parts.all_acts() if a.place}
    wanted = Place.objects.filter(code__in=used).select_related("parent").order_by("code")
    return [place_document(p) for p in wanted]


def _sources(parts: _Parts) -> list[dict[str, Any]]:
    """The witness as the source of each act: their connection to it and its grading."""
    return [
        {
            "source": "witness",
            "acts": [
                {
                    "act": parts.act_refs[act.pk],
                    "connection": term("source_connection", act.connection),
                    "reliability": term("reliability", act.reliability),
                    "credibility": term("credibility", act.credibility),
                }
                for act in parts.all_acts()
            ],
        }
    ]


def _evidence(parts: _Parts, level: Level) -> list[dict[str, Any]]:
    listed = []
    for evidence in parts.evidence:
        document: dict[str, Any] = {
            "id": evidence.public_id,
            "sha256": evidence.sha256,
            "media_type": evidence.media_type,
            "size": evidence.size,
        }
        if level is Level.FULL:  # a file's name may name someone
            document["display_name"] = evidence.display_name
            document["working_copy_of"] = evidence.original.public_id if evidence.original else None
        listed.append(document)
    return listed


def testimony_document(testimony: Testimony, level: Level) -> dict[str, Any]:
    """One testimony at ``level``; what the level withholds has no key at all."""
    parts = _parts(testimony)
    document: dict[str, Any] = {
        "id": testimony.public_id,
        "agency": testimony.agency.code,
        "synthetic": testimony.is_synthetic,
        "deidentified": level is Level.DEIDENTIFIED,
        "sealed": testimony.is_sealed,
        "version": testimony.version,
        "interview": _interview(testimony, level),
        "witness": _witness(testimony, level),
        "consent": _consent(testimony),
        "summary": testimony.summary,
    }
    if level is Level.FULL:
        document["transcript"] = _text(testimony.transcript)
    document["individuals"] = [_individual(parts, i, level) for i in parts.individuals]
    document["events"] = [
        _event(parts, incident, n, level) for n, incident in enumerate(parts.incidents, 1)
    ]
    document["places"] = _places(parts)
    document["sources"] = _sources(parts)
    document["evidence"] = _evidence(parts, level)
    return document


def _corroborations(documents: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    ids = {
        act["corroboration"]
        for d in documents
        for event in d["events"]
        for act in event["acts"]
        if act["corroboration"]
    }
    groups = Corroboration.objects.filter(public_id__in=ids).order_by("public_id")
    return [{"id": g.public_id, "label": g.label} for g in groups]


def _json_value(value: object) -> str:
    """Dates in ISO 8601."""
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _json(
    agency: Agency, scope: str, mechanism: str | None, documents: list[dict[str, Any]]
) -> bytes:
    synthetic = any(d["synthetic"] for d in documents)
    body: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "generated_at": timezone.now().isoformat(timespec="seconds"),
        "agency": agency.code,
        "scope": scope,
        "mechanism": mechanism,
        "synthetic": synthetic,
    }
    if synthetic:
        body["note"] = SYNTHETIC_NOTE
    body["count"] = len(documents)
    body["corroborations"] = _corroborations(documents)
    body["testimonies"] = documents
    return json.dumps(body, ensure_ascii=False, indent=1, default=_json_value).encode("utf-8")


# -- the CSV of acts ----------------------------------------------------------------------------

CSV_COLUMNS = (
    "testimony_id",
    "event",
    "act",
    "date_start",
    "date_precision",
    "date_end",
    "place_code",
    "place_name_en",
    "place_name_ko",
    "act_type",
    "act_type_label_en",
    "act_type_label_ko",
    "coi_category",
    "coi_category_label_en",
    "coi_category_label_ko",
    "huridocs_code",
    "connection",
    "reliability",
    "credibility",
    "victims",
    "perpetrator_institutions",
    "corroboration",
    "consent_scope",
    "synthetic",
    "summary",
)


def cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text and never runs as a formula
    (``interchange.neutralise``)."""
    return neutralise("" if value is None else str(value))


def _act_rows(document: dict[str, Any]) -> Iterable[dict[str, Any]]:
    places = {p["code"]: p for p in document["places"]}
    individuals = {i["ref"]: i for i in document["individuals"]}
    for event in document["events"]:
        for act in event["acts"]:
            place = places.get(act["place"] or event["place"] or "", {})
            institutions = [
                individuals[p["individual"]]["institution"] for p in act["perpetrators"]
            ]
            yield {
                "testimony_id": document["id"],
                "event": event["ref"],
                "act": act["ref"],
                "date_start": event["date_start"],
                "date_precision": _code(event["date_precision"]),
                "date_end": event["date_end"],
                "place_code": place.get("code", ""),
                "place_name_en": place.get("name_en", ""),
                "place_name_ko": place.get("name_ko", ""),
                "act_type": act["act_type"]["code"],
                "act_type_label_en": act["act_type"]["label_en"],
                "act_type_label_ko": act["act_type"]["label_ko"],
                "coi_category": act["coi_category"]["code"],
                "coi_category_label_en": act["coi_category"]["label_en"],
                "coi_category_label_ko": act["coi_category"]["label_ko"],
                "huridocs_code": act["huridocs_code"],
                "connection": _code(act["connection"]),
                "reliability": _code(act["reliability"]),
                "credibility": _code(act["credibility"]),
                "victims": len(act["victims"]),
                "perpetrator_institutions": ";".join(
                    sorted({i["code"] for i in institutions if i})
                ),
                "corroboration": act["corroboration"] or "",
                "consent_scope": document["consent"]["scope"]["code"],
                "synthetic": "1" if document["synthetic"] else "0",
                "summary": document["summary"],
            }


def _code(value: dict[str, str] | None) -> str:
    return value["code"] if value else ""


def _csv(documents: Sequence[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    if any(d["synthetic"] for d in documents):
        buffer.write(f"# {SYNTHETIC_NOTE}\n")
    writer = csv_writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for document in documents:
        for row in _act_rows(document):
            writer.writerow(cell(_csv_value(row[c])) for c in CSV_COLUMNS)
    return buffer.getvalue().encode("utf-8")


def _csv_value(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


# -- the export ---------------------------------------------------------------------------------


def testimonies_export(
    *,
    actor: Actor,
    scope: str,
    mechanism: str | None = None,
    fmt: str = "json",
    agency_code: str | None = None,
) -> Export:
    """The agency's testimonies that the consent covers for ``scope``, as JSON or CSV; audited
    with the file's SHA-256. Users export their own agency's; the operator names one with
    ``agency_code`` (by default the operating agency)."""
    agency = agency_for(actor, Action.TESTIMONY_EXPORT, agency_code)
    scope, code = _request(scope, mechanism, fmt)
    if scope == Scopes.INTERNAL:
        policy.require(actor, Action.TESTIMONY_CONFIDENTIAL)
    chosen = testimonies_for_export(agency, scope, code)
    documents = [testimony_document(t, level_for(scope, t)) for t in chosen]
    content = _json(agency, scope, code, documents) if fmt == "json" else _csv(documents)
    digest = hashlib.sha256(content).hexdigest()
    with transaction.atomic():
        custody_heads: dict[str, str] = {}
        if fmt == "json":
            files = (  # what each file's chain of custody hashes: no query per file
                EvidenceFile.objects.filter(testimonies__in=chosen)
                .select_related("agency", "original")
                .distinct()
            )
            custody_heads = services.evidence_exported(
                actor=actor, files=files, note=f"testimonies export {scope} sha256 {digest}"
            )
        audit_record(
            actor=actor,
            action="export",
            object_type="testimony",
            agency_code=agency.code,
            detail={
                "format": fmt,
                "scope": scope,
                "mechanism": code,
                "count": len(documents),
                "testimony_ids": [d["id"] for d in documents],
                "named": [d["id"] for d in documents if "identity" in d["witness"]],
                "sha256": digest,
                **({"custody": custody_heads} if custody_heads else {}),
            },
        )
    media_type = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
    return Export(content=content, rows=len(documents), media_type=media_type)
