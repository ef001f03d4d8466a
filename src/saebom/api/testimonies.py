"""Testimonies and evidence in the API: search and list, record, read (the confidential parts
only for the agency's documenters, each such read audited), correct, seal, consent, coding
(incidents, individuals, acts), corroboration, the gazetteer, and evidence files with their
chain of custody.

Testimonies are named by their public id (``T-XXXXXXXX``), evidence files by theirs
(``E-XXXXXXXX``), places by their code; incidents, individuals and acts by id, and always looked
up inside a testimony the actor may see. Writes go through ``testimony.services`` (policy, audit
event, search index); reads through ``testimony.selectors`` and ``testimony.search``.

What identifies someone (transcript, witness identity, interview place, interviewers, names,
descriptions, notes) is in a response only when ``reads_confidential`` allows it, and then the
read is recorded (``testimony_viewed``). Write responses never carry it, so they need no record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext
from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from saebom.accounts.models import User
from saebom.api.cases import StaleOut
from saebom.api.paging import page
from saebom.api.problems import checked_input
from saebom.api.rules import refuses, requires
from saebom.core import blobs, policy, vocab
from saebom.core.exceptions import NotFound
from saebom.core.policy import Action
from saebom.core.versioning import StaleVersion
from saebom.registry.models import Person
from saebom.testimony import filetypes, search, selectors, services
from saebom.testimony.models import (
    Act,
    ConsentEvent,
    EvidenceFile,
    Incident,
    Individual,
    Place,
    Testimony,
)

router = Router(tags=["testimonies"])

# Fields of a testimony that identify someone: shown only to readers of confidential content.
CONFIDENTIAL = frozenset(
    {"witness_identity", "witness_person_id", "interview_place", "transcript", "interviewers"}
)


# --- input ---------------------------------------------------------------------------------


class TestimonyIn(Schema):
    """An interview and the consent the witness gave. Coded values take a code or a label."""

    interview_date: date
    language: str  # vocabulary interview_language
    summary: str  # non-identifying: researchers read it, search indexes it
    consent_scope: str  # vocabulary consent_scope
    consent_given_on: date
    consent_mechanisms: list[str] = []  # vocabulary mechanism (scope share_with_mechanisms)
    consent_note: str = ""
    transcript: str = ""
    witness_person: str | None = None  # public id of a person in the agency's registry
    witness_identity: str = ""  # an unregistered source: who they are
    witness_sex: str = ""  # vocabulary sex
    interview_place: str = ""
    interviewers: list[str] = []  # usernames of the agency's members


class TestimonyPatchIn(Schema):
    """Send only the fields to change, with the version you read them at; a sealed testimony
    takes a correction only, with its ``reason``, as a new version."""

    version: int
    reason: str = ""
    interview_date: date | None = None
    language: str | None = None
    summary: str | None = None
    transcript: str | None = None
    witness_person: str | None = None
    witness_identity: str | None = None
    witness_sex: str | None = None
    interview_place: str | None = None
    interviewers: list[str] | None = None


class SealIn(Schema):
    version: int


class ConsentIn(Schema):
    """A new consent from the witness (wider or narrower; also consent given again)."""

    scope: str  # vocabulary consent_scope
    given_on: date | None = None
    mechanisms: list[str] = []  # vocabulary mechanism
    note: str = ""


class WithdrawIn(Schema):
    effective_on: date | None = None  # today when not given
    note: str = ""


class IncidentIn(Schema):
    date_start: date | None = None
    date_precision: str = ""  # vocabulary date_precision; "range" with date_end
    date_end: date | None = None
    place: str | None = None  # a place code from GET /places
    place_detail: str = ""
    description: str = ""


class IndividualIn(Schema):
    role: str  # vocabulary individual_role
    name: str = ""
    sex: str = ""
    approx_age: int | None = None
    relation_to_witness: str = ""  # vocabulary witness_relation
    person: str | None = None  # public id of a person in the agency's registry
    institution: str = ""  # vocabulary institution (perpetrators)
    unit: str = ""
    rank: str = ""


class PerpetratorIn(Schema):
    individual: int  # id of a perpetrator named in the testimony
    degree: str  # vocabulary involvement


class ActIn(Schema):
    act_type: str  # vocabulary act_type
    connection: str  # vocabulary source_connection
    reliability: str  # vocabulary reliability (A-F)
    credibility: str  # vocabulary credibility (1-6)
    coi_category: str = ""  # vocabulary coi_category; by default the act type's
    place: str | None = None
    victims: list[int] = []  # ids of victims named in the testimony
    perpetrators: list[PerpetratorIn] = []
    notes: str = ""


class CorroborationIn(Schema):
    acts: list[int]  # acts from at least two testimonies of the agency
    label: str  # names the event without naming anyone


class PlaceIn(Schema):
    kind: str  # vocabulary place_kind: county or facility
    name_ko: str
    name_en: str
    parent: str  # code of the province or county it lies in
    facility_type: str = ""  # vocabulary facility_type, for facilities only
    facility_number: str = ""
    latitude: Decimal | None = None
    longitude: Decimal | None = None


class LinkIn(Schema):
    testimony: str  # public id of a testimony of the agency


# --- output --------------------------------------------------------------------------------


class CodeOut(Schema):
    code: str
    label: str  # in the request's language


class PlaceRefOut(Schema):
    code: str
    name_ko: str
    name_en: str


class ConsentEventOut(Schema):
    kind: str  # given, changed or withdrawn
    scope: CodeOut
    mechanisms: list[CodeOut]
    effective_on: date
    recorded_at: datetime
    note: str | None = None  # confidential readers only


class ConsentOut(Schema):
    scope: CodeOut
    mechanisms: list[CodeOut]
    given_on: date
    withdrawn_on: date | None
    history: list[ConsentEventOut]


class VersionOut(Schema):
    number: int
    saved_at: datetime
    reason: str  # why a sealed testimony was corrected ("sealed" for the seal)


class InvolvementOut(Schema):
    individual: int
    degree: CodeOut


class ActOut(Schema):
    id: int
    act_type: CodeOut
    coi_category: CodeOut
    place: PlaceRefOut | None
    connection: CodeOut
    reliability: CodeOut
    credibility: CodeOut
    victims: list[int]
    perpetrators: list[InvolvementOut]
    corroboration: str | None  # the group's public id
    notes: str | None = None  # confidential readers only


class IncidentOut(Schema):
    id: int
    date_start: date | None
    date_precision: CodeOut | None
    date_end: date | None
    place: PlaceRefOut | None
    acts: list[ActOut]
    place_detail: str | None = None  # confidential readers only
    description: str | None = None  # confidential readers only


class IndividualOut(Schema):
    id: int
    role: CodeOut
    sex: CodeOut | None
    approx_age: int | None
    relation_to_witness: CodeOut | None
    institution: CodeOut | None
    unit: str
    rank: str
    name: str | None = None  # confidential readers only
    person: str | None = None  # confidential readers only: the registry person's public id


class TestimonyOut(Schema):
    """A testimony as one reader may see it. ``confidential`` says whether the identifying
    fields are included: when it is false they are absent, not null (the reader may not see
    them, or the response is that of a write)."""

    public_id: str
    agency: str
    synthetic: bool
    interview_date: date
    language: CodeOut
    witness_sex: CodeOut | None
    summary: str
    consent: ConsentOut
    sealed: bool
    sealed_at: datetime | None
    version: int
    versions: list[VersionOut]
    incidents: list[IncidentOut]
    individuals: list[IndividualOut]
    confidential: bool
    transcript: str | None = None
    witness_identity: str | None = None
    witness_person: str | None = None
    interview_place: str | None = None
    interviewers: list[str] | None = None
    evidence: list[str] | None = None


class TestimonyRowOut(Schema):
    public_id: str
    agency: str
    interview_date: date
    language: CodeOut
    summary: str
    consent_scope: CodeOut
    withdrawn: bool  # only the holding agency still lists a withdrawn testimony
    sealed: bool
    version: int


class FacetOut(Schema):
    code: str
    label: str
    count: int


class TestimonyListOut(Schema):
    results: list[TestimonyRowOut]
    total: int
    facets: dict[str, list[FacetOut]]  # per filter, the values in the results with counts


class CorroborationOut(Schema):
    public_id: str
    label: str
    acts: list[int]


class UncorroboratedOut(Schema):
    act: int
    testimony: str
    act_type: CodeOut
    coi_category: CodeOut
    date_start: date | None
    date_precision: CodeOut | None
    place: PlaceRefOut | None
    corroboration: str | None


class PlaceOut(Schema):
    code: str
    kind: CodeOut
    name_ko: str
    name_en: str
    parent: str | None
    province: CodeOut | None
    facility_type: CodeOut | None
    facility_number: str
    latitude: float | None
    longitude: float | None


class EvidenceOut(Schema):
    public_id: str
    display_name: str
    media_type: str  # detected from the content
    size: int
    sha256: str
    uploaded_at: datetime
    received_on: date | None
    working_copy_of: str | None  # the original's public id
    testimonies: list[str]


class CustodyOut(Schema):
    seq: int = Field(description="The event's place in the file's chain, from 1.")
    action: str
    actor_name: str
    agency_code: str
    at: datetime
    note: str
    prev_hash: str = Field(description="The previous event's hash (64 zeros for the first).")
    hash: str = Field(
        description="SHA-256 of the event, the file's record and the previous hash (the note "
        "under a key of the installation); the audit chain records each file's last one "
        "(docs/security.md, evidence files)."
    )


class EvidenceDetailOut(EvidenceOut):
    original_name: str
    received_from: str
    description: str
    custody: list[CustodyOut]


# --- helpers -------------------------------------------------------------------------------


def _actor(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


def _coded(vocabulary: str, code: str | None) -> dict[str, str] | None:
    return {"code": code, "label": vocab.label(vocabulary, code)} if code else None


def _codes(vocabulary: str, codes: list[str]) -> list[dict[str, str] | None]:
    return [_coded(vocabulary, code) for code in codes]


def _place_ref(place: Place | None) -> dict[str, str] | None:
    if place is None:
        return None
    return {"code": place.code, "name_ko": place.name_ko, "name_en": place.name_en}


def _testimony(request: HttpRequest, public_id: str, action: Action) -> Testimony:
    """The testimony, if the actor's role may do ``action`` (else 403) and may see it (else
    404, the same for missing and hidden)."""
    actor = _actor(request)
    policy.require(actor, action)
    return selectors.testimony_get(actor, public_id.strip().upper())


def _evidence(request: HttpRequest, public_id: str, *actions: Action) -> EvidenceFile:
    actor = _actor(request)
    for action in (Action.EVIDENCE_VIEW, *actions):
        policy.require(actor, action)
    return selectors.evidence_get(actor, public_id.strip().upper())


# --- testimony documents -------------------------------------------------------------------


def _consent(testimony: Testimony, confidential: bool) -> dict[str, Any]:
    def event(e: ConsentEvent) -> dict[str, Any]:
        out = {
            "kind": e.kind,
            "scope": _coded("consent_scope", e.scope),
            "mechanisms": _codes("mechanism", e.mechanisms),
            "effective_on": e.effective_on,
            "recorded_at": e.recorded_at,
        }
        return out | ({"note": e.note or ""} if confidential else {})

    return {
        "scope": _coded("consent_scope", testimony.consent_scope),
        "mechanisms": _codes("mechanism", testimony.consent_mechanisms),
        "given_on": testimony.consent_given_on,
        "withdrawn_on": testimony.consent_withdrawn_on,
        "history": [event(e) for e in testimony.consents.order_by("recorded_at", "id")],
    }


def _versions(testimony: Testimony, *, with_reasons: bool) -> list[dict[str, Any]]:
    """Each version as first saved. Consent changes save the record without a new version."""
    versions: dict[int, dict[str, Any]] = {}
    rows = testimony.history.order_by("history_date", "history_id").values_list(
        "version", "history_date", "history_change_reason"
    )
    for number, saved_at, reason in rows:
        if number not in versions:
            shown = (reason or "") if with_reasons or reason == "sealed" else ""
            versions[number] = {"number": number, "saved_at": saved_at, "reason": shown}
    return list(versions.values())


def _act(act: Act, confidential: bool) -> dict[str, Any]:
    out = {
        "id": act.pk,
        "act_type": _coded("act_type", act.act_type),
        "coi_category": _coded("coi_category", act.coi_category),
        "place": _place_ref(act.place),
        "connection": _coded("source_connection", act.connection),
        "reliability": _coded("reliability", act.reliability),
        "credibility": _coded("credibility", act.credibility),
        "victims": sorted(v.pk for v in act.victims.all()),
        "perpetrators": [
            {"individual": i.perpetrator_id, "degree": _coded("involvement", i.degree)}
            for i in sorted(act.involvements.all(), key=lambda i: i.pk)
        ],
        "corroboration": act.corroboration.public_id if act.corroboration else None,
    }
    return out | ({"notes": act.notes or ""} if confidential else {})


def _incident(incident: Incident, confidential: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": incident.pk,
        "date_start": incident.date_start,
        "date_precision": _coded("date_precision", incident.date_precision),
        "date_end": incident.date_end,
        "place": _place_ref(incident.place),
        "acts": [_act(a, confidential) for a in incident.acts.all()],
    }
    if confidential:
        out |= {
            "place_detail": incident.place_detail or "",
            "description": incident.description or "",
        }
    return out


def _incidents(testimony: Testimony, confidential: bool) -> list[dict[str, Any]]:
    acts = Act.objects.select_related("place", "corroboration").prefetch_related(
        "victims", "involvements"
    )
    incidents = testimony.incidents.select_related("place").prefetch_related(
        Prefetch("acts", queryset=acts)
    )
    return [_incident(i, confidential) for i in incidents]


def _individual(individual: Individual, confidential: bool) -> dict[str, Any]:
    out = {
        "id": individual.pk,
        "role": _coded("individual_role", individual.role),
        "sex": _coded("sex", individual.sex),
        "approx_age": individual.approx_age,
        "relation_to_witness": _coded("witness_relation", individual.relation_to_witness),
        "institution": _coded("institution", individual.institution),
        "unit": individual.unit,
        "rank": individual.rank,
    }
    if confidential:
        person = individual.person.public_id if individual.person else None
        out |= {"name": individual.name or "", "person": person}
    return out


def _identifying(testimony: Testimony) -> dict[str, Any]:
    """The fields that only readers of confidential content see."""
    person = testimony.witness_person.public_id if testimony.witness_person else None
    return {
        "transcript": testimony.transcript or "",
        "witness_identity": testimony.witness_identity or "",
        "witness_person": person,
        "interview_place": testimony.interview_place or "",
        "interviewers": sorted(u.username for u in testimony.interviewers.all()),
        "evidence": sorted(testimony.evidence_files.values_list("public_id", flat=True)),
    }


def _document(testimony: Testimony, *, confidential: bool = False) -> dict[str, Any]:
    """The testimony as the API shows it; the identifying fields only with ``confidential``
    (the caller checked ``reads_confidential`` and recorded the read)."""
    testimony = Testimony.objects.select_related("agency", "witness_person").get(pk=testimony.pk)
    individuals = testimony.individuals.select_related("person")
    out: dict[str, Any] = {
        "public_id": testimony.public_id,
        "agency": testimony.agency.code,
        "synthetic": testimony.is_synthetic,
        "interview_date": testimony.interview_date,
        "language": _coded("interview_language", testimony.language),
        "witness_sex": _coded("sex", testimony.witness_sex),
        "summary": testimony.summary,
        "consent": _consent(testimony, confidential),
        "sealed": testimony.is_sealed,
        "sealed_at": testimony.sealed_at,
        "version": testimony.version,
        "versions": _versions(testimony, with_reasons=confidential),
        "incidents": _incidents(testimony, confidential),
        "individuals": [_individual(i, confidential) for i in individuals],
        "confidential": confidential,
    }
    return out | (_identifying(testimony) if confidential else {})


def _row(testimony: Testimony) -> dict[str, Any]:
    return {
        "public_id": testimony.public_id,
        "agency": testimony.agency.code,
        "interview_date": testimony.interview_date,
        "language": _coded("interview_language", testimony.language),
        "summary": testimony.summary,
        "consent_scope": _coded("consent_scope", testimony.consent_scope),
        "withdrawn": testimony.consent_withdrawn,
        "sealed": testimony.is_sealed,
        "version": testimony.version,
    }


def _stale(request: HttpRequest, stale: StaleVersion, testimony: Testimony) -> HttpResponse:
    """The 409 problem listing what changed since (``field``, ``then``, ``now``). Only a
    recorder gets here, who reads confidential content: a change to it is a read, recorded."""
    from saebom.api.api import problem  # the API module imports this one at its end

    people = {v for c in stale.changes if c.field == "witness_person_id" for v in (c.then, c.now)}
    ids = dict(Person.objects.filter(pk__in=people - {None}).values_list("pk", "public_id"))

    def shown(field: str, value: Any) -> Any:
        return ids.get(value) if field == "witness_person_id" else value

    changes = [
        {
            "field": c.field.removesuffix("_id"),
            "then": shown(c.field, c.then),
            "now": shown(c.field, c.now),
        }
        for c in stale.changes
    ]
    if any(c.field in CONFIDENTIAL for c in stale.changes):
        services.testimony_viewed(actor=_actor(request), testimony=testimony)
    detail = {"message": stale.message, "current_version": stale.current, "changes": changes}
    return problem(request, stale.status, type(stale).__name__, detail)


# --- testimonies ---------------------------------------------------------------------------


def _filters(**given: str) -> dict[str, str]:
    return {name: value.strip() for name, value in given.items() if value.strip()}


# The vocabulary of each search facet; ``facility`` holds place codes, ``year`` years.
FACET_VOCABULARIES = {
    "act_type": "act_type",
    "coi_category": "coi_category",
    "institution": "institution",
    "province": "origin_province",
}


def _facet_label(key: str, code: str, places: Mapping[str, str]) -> str:
    if key in FACET_VOCABULARIES:
        return vocab.label(FACET_VOCABULARIES[key], code)
    return places.get(code, code)


def _facets(facets: Mapping[str, Mapping[str, int]]) -> dict[str, list[dict[str, Any]]]:
    """The search's facets (key -> code -> count) as ``{key: [{code, label, count}]}``."""
    codes = list(facets.get("facility", {}))
    korean = translation.get_language() == "ko"
    places = {
        p.code: p.name_ko if korean else p.name_en
        for p in selectors.places().filter(code__in=codes)
    }
    return {
        key: [
            {"code": code, "label": _facet_label(key, code, places), "count": count}
            for code, count in counts.items()
        ]
        for key, counts in facets.items()
    }


@router.get("/testimonies", response=TestimonyListOut)
@requires(Action.TESTIMONY_VIEW)
def testimony_list(
    request: HttpRequest,
    q: str = "",
    act_type: str = "",
    coi_category: str = "",
    facility: str = "",
    institution: str = "",
    province: str = "",
    year: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """The testimonies the actor may see, newest interview first. With ``q`` or a filter, a
    search: never a testimony whose consent was withdrawn, and with the facets of the results.
    Without, the plain list (the holding agency also sees its withdrawn testimonies)."""
    actor = _actor(request)
    limit, offset = page(limit, offset)
    filters = _filters(
        act_type=act_type,
        coi_category=coi_category,
        facility=facility,
        institution=institution,
        province=province,
        year=str(year) if year is not None else "",
    )
    if q.strip() or filters:
        with checked_input():
            found = search.search(actor, q.strip(), filters=filters, limit=limit, offset=offset)
        rows = [_row(t) for t in found.results]
        return {"results": rows, "total": found.total, "facets": _facets(found.facets)}
    testimonies = selectors.testimonies_visible_to(actor).select_related("agency")
    shown = testimonies[offset : offset + limit]
    return {"results": [_row(t) for t in shown], "total": testimonies.count(), "facets": {}}


@router.post("/testimonies", response={201: TestimonyOut}, exclude_unset=True)
@requires(Action.TESTIMONY_RECORD)
def testimony_create(request: HttpRequest, payload: TestimonyIn) -> Status[dict[str, Any]]:
    """Record an interview for the actor's agency, with the consent the witness gave."""
    actor = _actor(request)
    with checked_input():
        testimony = services.testimony_create(actor=actor, **payload.dict())
    return Status(201, _document(testimony))


@router.get("/testimonies/{public_id}", response=TestimonyOut, exclude_unset=True)
@requires(Action.TESTIMONY_VIEW)
def testimony_detail(request: HttpRequest, public_id: str) -> dict[str, Any]:
    """The testimony; its transcript, identities and names only for the holding agency's
    documenters and administrators, and that read is recorded in the audit log."""
    testimony = _testimony(request, public_id, Action.TESTIMONY_VIEW)
    confidential = selectors.reads_confidential(_actor(request), testimony)
    if confidential:
        services.testimony_viewed(actor=_actor(request), testimony=testimony)
    return _document(testimony, confidential=confidential)


@router.patch(
    "/testimonies/{public_id}", response={200: TestimonyOut, 409: StaleOut}, exclude_unset=True
)
@requires(Action.TESTIMONY_RECORD)
def testimony_update(request: HttpRequest, public_id: str, payload: TestimonyPatchIn) -> Any:
    """Change the testimony's content. Sealed: a correction, with its ``reason``, as a new
    version. A stale ``version`` is a 409 listing what changed since; nothing is saved."""
    testimony = _testimony(request, public_id, Action.TESTIMONY_RECORD)
    changes = payload.dict(exclude_unset=True, exclude={"version", "reason", "interviewers"})
    try:
        with checked_input():
            updated = services.testimony_update(
                actor=_actor(request),
                testimony=testimony,
                expected_version=payload.version,
                reason=payload.reason,
                interviewers=payload.interviewers,
                **changes,
            )
    except StaleVersion as stale:
        return _stale(request, stale, testimony)
    return _document(updated)


@router.post(
    "/testimonies/{public_id}/seal",
    response={200: TestimonyOut, 409: StaleOut},
    exclude_unset=True,
)
@requires(Action.TESTIMONY_RECORD)
def testimony_seal(request: HttpRequest, public_id: str, payload: SealIn) -> Any:
    """Freeze the content as it is at ``version``; from then on, changes are corrections."""
    testimony = _testimony(request, public_id, Action.TESTIMONY_RECORD)
    try:
        with checked_input():
            sealed = services.testimony_seal(
                actor=_actor(request), testimony=testimony, expected_version=payload.version
            )
    except StaleVersion as stale:
        return _stale(request, stale, testimony)
    return _document(sealed)


_CONSENT_FIELDS = {
    "consent_scope": "scope",
    "consent_mechanisms": "mechanisms",
    "consent_given_on": "given_on",
}


@router.post("/testimonies/{public_id}/consent", response=TestimonyOut, exclude_unset=True)
@requires(Action.TESTIMONY_RECORD)
def consent_change(request: HttpRequest, public_id: str, payload: ConsentIn) -> dict[str, Any]:
    """Record a new consent from the witness; allowed on sealed testimonies, and the way a
    withdrawn consent is given again."""
    testimony = _testimony(request, public_id, Action.TESTIMONY_RECORD)
    with checked_input(_CONSENT_FIELDS):
        changed = services.consent_change(
            actor=_actor(request),
            testimony=testimony,
            scope=payload.scope,
            effective_on=payload.given_on,
            mechanisms=payload.mechanisms,
            note=payload.note,
        )
    return _document(changed)


@router.post("/testimonies/{public_id}/consent/withdraw", response=TestimonyOut, exclude_unset=True)
@requires(Action.TESTIMONY_RECORD)
def consent_withdraw(request: HttpRequest, public_id: str, payload: WithdrawIn) -> dict[str, Any]:
    """The witness withdrew consent: from now on no search, export or sharing includes the
    testimony, for anyone. The agency keeps the record, marked withdrawn."""
    testimony = _testimony(request, public_id, Action.TESTIMONY_RECORD)
    with checked_input():
        withdrawn = services.consent_withdraw(
            actor=_actor(request),
            testimony=testimony,
            effective_on=payload.effective_on,
            note=payload.note,
        )
    return _document(withdrawn)


# --- coding: incidents, individuals, acts --------------------------------------------------


@router.post("/testimonies/{public_id}/incidents", response={201: IncidentOut}, exclude_unset=True)
@requires(Action.TESTIMONY_RECORD)
def incident_create(
    request: HttpRequest, public_id: str, payload: IncidentIn
) -> Status[dict[str, Any]]:
    """An event the testimony describes: when (a date with its precision, or a range), where."""
    testimony = _testimony(request, public_id, Action.TESTIMONY_RECORD)
    with checked_input():
        incident = services.incident_add(
            actor=_actor(request), testimony=testimony, **payload.dict()
        )
    return Status(201, _incident(Incident.objects.get(pk=incident.pk), confidential=False))


@router.post(
    "/testimonies/{public_id}/individuals", response={201: IndividualOut}, exclude_unset=True
)
@requires(Action.TESTIMONY_RECORD)
def individual_create(
    request: HttpRequest, public_id: str, payload: IndividualIn
) -> Status[dict[str, Any]]:
    """Someone the testimony names: a victim, a perpetrator (institution, unit, rank), a
    witness."""
    testimony = _testimony(request, public_id, Action.TESTIMONY_RECORD)
    with checked_input({"witness_person": "person"}):
        individual = services.individual_add(
            actor=_actor(request), testimony=testimony, **payload.dict()
        )
    return Status(201, _individual(individual, confidential=False))


@router.post(
    "/testimonies/{public_id}/incidents/{incident_id}/acts",
    response={201: ActOut},
    exclude_unset=True,
)
@requires(Action.TESTIMONY_RECORD)
def act_create(
    request: HttpRequest, public_id: str, incident_id: int, payload: ActIn
) -> Status[dict[str, Any]]:
    """One act within an incident: its type, to whom and by whom, the source's connection to it
    and its grading."""
    testimony = _testimony(request, public_id, Action.TESTIMONY_RECORD)
    incident = testimony.incidents.filter(pk=incident_id).first()
    if incident is None:
        raise NotFound(gettext("Not found."))
    values = payload.dict(exclude={"perpetrators"})
    perpetrators = [(p.individual, p.degree) for p in payload.perpetrators]
    with checked_input():
        act = services.act_add(
            actor=_actor(request), incident=incident, perpetrators=perpetrators, **values
        )
    fresh = Act.objects.select_related("place", "corroboration").get(pk=act.pk)
    return Status(201, _act(fresh, confidential=False))


# --- corroboration -------------------------------------------------------------------------


@router.post("/corroborations", response={201: CorroborationOut})
@requires(Action.TESTIMONY_RECORD)
@refuses(404)  # an act not visible
def corroboration_create(request: HttpRequest, payload: CorroborationIn) -> Status[dict[str, Any]]:
    """Record that acts from different testimonies of the agency are the same event; groups
    the acts were already in merge into one."""
    actor = _actor(request)
    wanted = set(payload.acts)
    visible = selectors.testimonies_visible_to(actor)
    acts = list(Act.objects.filter(pk__in=wanted, incident__testimony__in=visible))
    if len(acts) != len(wanted):
        raise NotFound(gettext("Not found."))
    with checked_input():
        group = services.acts_corroborate(actor=actor, acts=acts, label=payload.label)
    members = sorted(group.acts.values_list("pk", flat=True))
    return Status(201, {"public_id": group.public_id, "label": group.label, "acts": members})


@router.get("/corroborations/uncorroborated", response=list[UncorroboratedOut])
@requires(Action.TESTIMONY_RECORD)
def uncorroborated(request: HttpRequest) -> list[dict[str, Any]]:
    """Serious allegations in the agency's testimonies that fewer than two independent
    first-hand sources support."""
    actor = _actor(request)
    return [
        {
            "act": act.pk,
            "testimony": act.incident.testimony.public_id,
            "act_type": _coded("act_type", act.act_type),
            "coi_category": _coded("coi_category", act.coi_category),
            "date_start": act.incident.date_start,
            "date_precision": _coded("date_precision", act.incident.date_precision),
            "place": _place_ref(act.place or act.incident.place),
            "corroboration": act.corroboration.public_id if act.corroboration else None,
        }
        for act in selectors.uncorroborated_serious(actor)
    ]


# --- places --------------------------------------------------------------------------------


def _place(place: Place) -> dict[str, Any]:
    return {
        "code": place.code,
        "kind": _coded("place_kind", place.kind),
        "name_ko": place.name_ko,
        "name_en": place.name_en,
        "parent": place.parent.code if place.parent else None,
        "province": _coded("origin_province", place.province),
        "facility_type": _coded("facility_type", place.facility_type),
        "facility_number": place.facility_number,
        "latitude": None if place.latitude is None else float(place.latitude),
        "longitude": None if place.longitude is None else float(place.longitude),
    }


@router.get("/places", response=list[PlaceOut])
@requires(Action.PLACE_VIEW)
def place_list(
    request: HttpRequest, kind: str = "", province: str = "", limit: int = 1000, offset: int = 0
) -> list[dict[str, Any]]:
    """The gazetteer shared by every agency: provinces, counties and cities, facilities."""
    places: QuerySet[Place] = selectors.places()
    if kind:
        places = places.filter(kind=kind)
    if province:
        places = places.filter(province=province)
    limit, offset = page(limit, offset)
    return [_place(p) for p in places[offset : offset + limit]]


@router.post("/places", response={201: PlaceOut})
@requires(Action.PLACE_MANAGE)
def place_create(request: HttpRequest, payload: PlaceIn) -> Status[dict[str, Any]]:
    """Add a county, city or facility to the gazetteer (administrators)."""
    actor = _actor(request)
    with checked_input():
        place = services.place_create(actor=actor, **payload.dict())
    return Status(201, _place(selectors.places().get(pk=place.pk)))


# --- evidence ------------------------------------------------------------------------------


def _evidence_row(evidence: EvidenceFile) -> dict[str, Any]:
    return {
        "public_id": evidence.public_id,
        "display_name": evidence.display_name,
        "media_type": evidence.media_type,
        "size": evidence.size,
        "sha256": evidence.sha256,
        "uploaded_at": evidence.uploaded_at,
        "received_on": evidence.received_on,
        "working_copy_of": evidence.original.public_id if evidence.original else None,
        "testimonies": sorted(t.public_id for t in evidence.testimonies.all()),
    }


def _evidence_detail(evidence: EvidenceFile) -> dict[str, Any]:
    evidence = EvidenceFile.objects.select_related("original").get(pk=evidence.pk)
    return _evidence_row(evidence) | {
        "original_name": evidence.original_name or "",
        "received_from": evidence.received_from or "",
        "description": evidence.description or "",
        "custody": [
            {
                "seq": e.seq,
                "action": e.action,
                "actor_name": e.actor_name,
                "agency_code": e.agency_code,
                "at": e.at,
                "note": e.note or "",
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in evidence.custody.order_by("seq")
        ],
    }


@router.get("/evidence", response=list[EvidenceOut])
@requires(Action.EVIDENCE_VIEW)
def evidence_list(request: HttpRequest, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """The agency's evidence files, newest upload first."""
    actor = _actor(request)
    limit, offset = page(limit, offset)
    files = selectors.evidence_visible_to(actor).select_related("original")
    return [
        _evidence_row(e) for e in files.prefetch_related("testimonies")[offset : offset + limit]
    ]


@router.post("/evidence", response={201: EvidenceDetailOut})
@requires(Action.EVIDENCE_UPLOAD)
@refuses(507)  # the evidence store is full (core.blobs.StoreFull)
def evidence_create(
    request: HttpRequest,
    file: File[UploadedFile],
    received_from: Form[str] = "",
    received_on: Form[date | None] = None,
    description: Form[str] = "",
) -> Status[dict[str, Any]]:
    """Upload an evidence file (multipart). It is checked by its content, not its name: refused
    when disguised (the name's extension disagrees with the content), of a refused type, or
    over the size limit; the 422 names the field."""
    actor = _actor(request)
    limit = settings.SAEBOM_EVIDENCE_MAX_MB * 1024 * 1024
    data = file.read(limit + 1)  # one byte more than allowed is enough to refuse it
    with checked_input():
        evidence = services.evidence_upload(
            actor=actor,
            filename=file.name or "",
            data=data,
            received_from=received_from,
            received_on=received_on,
            description=description,
        )
    return Status(201, _evidence_detail(evidence))


@router.get("/evidence/{public_id}", response=EvidenceDetailOut)
@requires(Action.EVIDENCE_VIEW)
def evidence_detail(request: HttpRequest, public_id: str) -> dict[str, Any]:
    """An evidence file's record and its chain of custody (the file itself: ``/content``);
    reading the record is audited."""
    evidence = _evidence(request, public_id)
    services.evidence_record_viewed(actor=_actor(request), evidence=evidence)
    return _evidence_detail(evidence)


@router.get(
    "/evidence/{public_id}/content",
    response={200: None},
    openapi_extra={
        "responses": {
            200: {  # merged into the 200 that response= declares (a "200" would be a second)
                "description": "The file's bytes, checked against its SHA-256, as an "
                "attachment; the download is recorded in the chain of custody.",
                "content": {  # as detected on upload
                    media_type: {"schema": {"type": "string", "format": "binary"}}
                    for media_type in filetypes.EXTENSIONS
                },
            }
        }
    },
)
@requires(Action.EVIDENCE_VIEW)
def evidence_content(request: HttpRequest, public_id: str) -> HttpResponse:
    """The file, as a download (never shown inline); recorded as ``downloaded`` in its chain
    of custody and in the audit log."""
    from saebom.api.api import problem

    evidence = _evidence(request, public_id)
    try:
        data = services.evidence_download(actor=_actor(request), evidence=evidence)
    except blobs.BlobError:
        detail = {"message": "the stored file is missing or changed; run 'saebom evidence verify'"}
        return problem(request, 500, "EvidenceUnreadable", detail)
    response = HttpResponse(data, content_type=evidence.media_type)
    response["Content-Disposition"] = content_disposition_header(True, evidence.display_name) or ""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "no-store, private"
    return response


@router.post("/evidence/{public_id}/link", response=EvidenceOut)
@requires(Action.EVIDENCE_VIEW, Action.TESTIMONY_RECORD)
def evidence_link(request: HttpRequest, public_id: str, payload: LinkIn) -> dict[str, Any]:
    """Attach the file to a testimony of the agency."""
    evidence = _evidence(request, public_id, Action.TESTIMONY_RECORD)
    testimony = _testimony(request, payload.testimony, Action.TESTIMONY_RECORD)
    services.evidence_link(actor=_actor(request), evidence=evidence, testimony=testimony)
    return _evidence_row(EvidenceFile.objects.select_related("original").get(pk=evidence.pk))
