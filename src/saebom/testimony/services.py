"""Writes to testimony and evidence. Each checks policy and records its audit event (and, for
evidence, its custody events) in its transaction, and keeps the search index in step.

Audit events about testimonies name fields, never their values: the log is read by auditors,
who may not read testimony content.

Sealing: a sealed testimony's content (``CONTENT``) never changes in place. A change to it is a
correction: it needs a reason and makes a new version; the history keeps every version. Consent
stays changeable (a withdrawal must always be possible) and so does the coding of incidents,
acts and individuals, which is the documenters' analysis rather than the witness's words.

Custody events are only ever added here: there is no service that changes or removes one, and
the database refuses UPDATE (and on PostgreSQL DELETE) of them.

An upload writes the encrypted blob *before* the transaction, because the file store cannot take
part in it. Every check that can refuse an upload runs before the blob is written, so a refused
upload leaves nothing behind. Should the transaction still fail afterwards, at most an
unreferenced blob remains, which ``saebom evidence verify`` lists as an orphan, not as an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from saebom.accounts.models import User
from saebom.core import blobs, policy, vocab
from saebom.core.actors import Actor, SystemActor
from saebom.core.audit import audit_record
from saebom.core.exceptions import NotFound, PermissionDenied, storage_full
from saebom.core.inputs import clean_text, invalid, vocab_code
from saebom.core.policy import Action
from saebom.core.versioning import check_version
from saebom.registry.models import Person
from saebom.testimony import custody, filetypes, search, selectors
from saebom.testimony.acttypes import act_types
from saebom.testimony.models import (
    Act,
    ConsentEvent,
    Corroboration,
    CustodyEvent,
    EvidenceFile,
    Incident,
    Individual,
    Involvement,
    Place,
    Testimony,
)
from saebom.testimony.selectors import evidence_get

# The witness's words and the circumstances of the interview: frozen by sealing.
CONTENT = (
    "witness_person_id",
    "witness_identity",
    "witness_sex",
    "interview_date",
    "interview_place",
    "language",
    "transcript",
    "summary",
)
REASON_MAX = 100  # the history's change-reason column
CONTENT_VOCABULARIES = {"witness_sex": "sex", "language": "interview_language"}
_ENCRYPTED_CONTENT = {"witness_identity", "interview_place", "transcript"}

_text = clean_text
_invalid = invalid
_code = vocab_code


def _optional_code(vocabulary: str, value: str | None, field: str) -> str:
    return _code(vocabulary, value, field) if value else ""


def _user(actor: Actor) -> User | None:
    return None if isinstance(actor, SystemActor) else actor


def _audit(
    actor: Actor, action: str, testimony: Testimony, what: str = "testimony", **detail: Any
) -> None:
    """An event about a testimony, in its agency's log; ``detail`` holds field names and
    codes, never content."""
    audit_record(
        actor=actor,
        action=action,
        object_type=what,
        object_id=testimony.public_id,
        agency_code=testimony.agency.code,
        detail=detail,
    )


# -- testimonies --------------------------------------------------------------------------------


def _recordable(actor: Actor, testimony: Testimony) -> Testimony:
    """The testimony, locked for this transaction, if the actor's agency holds it."""
    policy.require(actor, Action.TESTIMONY_RECORD)
    visible = selectors.testimonies_visible_to(actor).filter(pk=testimony.pk).first()
    if visible is None or not selectors.reads_confidential(actor, visible):
        raise NotFound(gettext("Not found."))
    # The testimony's row alone: locking the joined agency too would wait for its imports.
    locked = Testimony.objects.select_for_update(of=("self",)).select_related("agency")
    return locked.get(pk=testimony.pk)


def _witness(actor: Actor, public_id: str | None) -> Person | None:
    if not public_id:
        return None
    person = selectors.persons_linkable_by(actor).filter(public_id=public_id).first()
    if person is None:
        raise _invalid(
            "witness_person",
            gettext("no person %(id)s in your agency's registry") % {"id": public_id},
        )
    return person


def _interviewers(actor: Actor, usernames: Iterable[str]) -> list[User]:
    names = sorted({n.strip() for n in usernames if n and n.strip()})
    if isinstance(actor, SystemActor):
        return list(User.objects.filter(username__in=names))
    found = list(User.objects.filter(username__in=names, agency=actor.agency_id, is_active=True))
    missing = set(names) - {u.username for u in found}
    if missing:
        raise _invalid(
            "interviewers",
            gettext("not a member of your agency: %(names)s")
            % {"names": ", ".join(sorted(missing))},
        )
    return found


def _content(
    actor: Actor, values: dict[str, Any], current: Testimony | None = None
) -> dict[str, Any]:
    """Checked content fields, ready to set on the model (``witness_person`` as a public id)."""
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name == "witness_person":
            checked["witness_person_id"] = getattr(_witness(actor, value), "pk", None)
        elif name in _ENCRYPTED_CONTENT:
            checked[name] = _text(value)
        elif name == "summary":
            checked[name] = (value or "").strip()
            if not checked[name]:
                raise _invalid("summary", gettext("required: a summary that identifies nobody"))
        elif name == "interview_date":
            if value is None:
                raise _invalid("interview_date", gettext("required"))
            if value > timezone.localdate():
                raise _invalid("interview_date", gettext("cannot be in the future"))
            checked[name] = value
        elif name in CONTENT_VOCABULARIES:
            if name == "language" and not value:
                raise _invalid("language", gettext("required"))
            checked[name] = _optional_code(CONTENT_VOCABULARIES[name], value, name)
        else:
            raise _invalid(name, gettext("not a field of a testimony"))
    person = checked.get("witness_person_id", getattr(current, "witness_person_id", None))
    identity = checked.get("witness_identity", getattr(current, "witness_identity", None))
    if person and identity:
        raise _invalid(
            "witness_identity",
            gettext("a registered witness is identified by the registry; leave this empty"),
        )
    return checked


def _consent(
    scope: str, mechanisms: Sequence[str], given_on: date | None
) -> tuple[str, list[str], date]:
    scope = _code("consent_scope", scope, "consent_scope") if scope else ""
    if not scope:
        raise _invalid("consent_scope", gettext("required: what the witness agreed to"))
    codes = sorted({_code("mechanism", m, "consent_mechanisms") for m in mechanisms if m})
    if scope == Testimony.Scope.SHARE_WITH_MECHANISMS and not codes:
        raise _invalid(
            "consent_mechanisms", gettext("name the bodies the witness agreed to share with")
        )
    if given_on is None:
        raise _invalid("consent_given_on", gettext("required"))
    if given_on > timezone.localdate():
        raise _invalid("consent_given_on", gettext("cannot be in the future"))
    return scope, codes if scope == Testimony.Scope.SHARE_WITH_MECHANISMS else [], given_on


def testimony_create(
    *,
    actor: Actor,
    interview_date: date | None,
    language: str,
    summary: str,
    consent_scope: str,
    consent_given_on: date | None,
    consent_mechanisms: Sequence[str] = (),
    consent_note: str = "",
    transcript: str = "",
    witness_person: str | None = None,
    witness_identity: str = "",
    witness_sex: str = "",
    interview_place: str = "",
    interviewers: Sequence[str] = (),
    is_synthetic: bool = False,
    agency_code: str | None = None,
    public_id: str | None = None,
) -> Testimony:
    """Record an interview and the consent the witness gave, for the actor's agency.
    ``public_id`` keeps a testimony's id when an export is imported (testimony/importing.py)."""
    policy.require(actor, Action.TESTIMONY_RECORD)
    agency = _agency_for(actor, agency_code)
    content = _content(
        actor,
        {
            "witness_person": witness_person,
            "witness_identity": witness_identity,
            "witness_sex": witness_sex,
            "interview_date": interview_date,
            "interview_place": interview_place,
            "language": language,
            "transcript": transcript,
            "summary": summary,
        },
    )
    scope, mechanisms, given_on = _consent(consent_scope, consent_mechanisms, consent_given_on)
    users = _interviewers(actor, interviewers)
    with transaction.atomic():
        testimony = Testimony(
            **({"public_id": public_id} if public_id else {}),
            agency=agency,
            is_synthetic=is_synthetic,
            consent_scope=scope,
            consent_mechanisms=mechanisms,
            consent_given_on=given_on,
            created_by=_user(actor),
            **content,
        )
        testimony._history_user = _user(actor)  # type: ignore[attr-defined]
        testimony.save()
        testimony.interviewers.set(users)
        ConsentEvent.objects.create(
            testimony=testimony,
            kind=ConsentEvent.Kind.GIVEN,
            scope=scope,
            mechanisms=mechanisms,
            effective_on=given_on,
            recorded_by=_user(actor),
            note=_text(consent_note),
        )
        _audit(actor, "create", testimony, consent_scope=scope)
        search.reindex(testimony)
    return testimony


def _agency_for(actor: Actor, agency_code: str | None) -> Any:
    from saebom.accounts.models import Agency

    if isinstance(actor, SystemActor):
        try:
            return Agency.objects.get(code=agency_code or policy.OPERATOR_AGENCY_CODE)
        except Agency.DoesNotExist:
            raise _invalid(
                "agency", gettext("no agency %(code)s") % {"code": agency_code}
            ) from None
    if agency_code and agency_code != actor.agency.code:
        raise PermissionDenied(gettext("you record testimonies for your own agency only"))
    return actor.agency


def testimony_update(
    *,
    actor: Actor,
    testimony: Testimony,
    expected_version: int,
    reason: str = "",
    interviewers: Sequence[str] | None = None,
    **changes: Any,
) -> Testimony:
    """Change a testimony's content. A sealed testimony takes a correction only: with a reason,
    as a new version. Saving what is already there changes nothing."""
    with transaction.atomic():
        locked = _recordable(actor, testimony)
        check_version(locked, expected_version, CONTENT, CONTENT_VOCABULARIES)
        checked = _content(actor, changes, current=locked)
        changed = [n for n, v in checked.items() if getattr(locked, n) != v]
        users = None if interviewers is None else _interviewers(actor, interviewers)
        if users is not None and {u.pk for u in users} != set(
            locked.interviewers.values_list("pk", flat=True)
        ):
            changed.append("interviewers")
        if not changed:
            return locked
        reason = (reason or "").strip()
        if len(reason) > REASON_MAX:
            raise _invalid("reason", gettext("at most %(n)d characters") % {"n": REASON_MAX})
        if locked.is_sealed and not reason:
            raise _invalid(
                "reason",
                gettext(
                    "this testimony is sealed: a correction needs its reason, "
                    "and makes a new version"
                ),
            )
        for name in changed:
            if name != "interviewers":
                setattr(locked, name, checked[name])
        locked.version += 1
        locked._history_user = _user(actor)  # type: ignore[attr-defined]
        locked._change_reason = reason or None  # type: ignore[attr-defined]
        locked.save()
        if users is not None:
            locked.interviewers.set(users)
        action = "correct" if locked.is_sealed else "update"
        _audit(actor, action, locked, fields=sorted(n.removesuffix("_id") for n in changed))
        search.reindex(locked)
    return locked


def testimony_seal(*, actor: Actor, testimony: Testimony, expected_version: int) -> Testimony:
    """Freeze the testimony's content as it is now; from here on, changes are corrections."""
    with transaction.atomic():
        locked = _recordable(actor, testimony)
        check_version(locked, expected_version, CONTENT, CONTENT_VOCABULARIES)
        if locked.is_sealed:
            raise _invalid("sealed", gettext("already sealed"))
        locked.sealed_at = timezone.now()
        locked.sealed_by = _user(actor)
        locked.version += 1
        locked._history_user = _user(actor)  # type: ignore[attr-defined]
        locked._change_reason = "sealed"  # type: ignore[attr-defined]
        locked.save()
        _audit(actor, "seal", locked, version=locked.version)
    return locked


def testimony_viewed(*, actor: Actor, testimony: Testimony) -> None:
    """Record that the actor read the testimony's confidential content (transcript, identities,
    names). Call it whenever they are shown."""
    if selectors.reads_confidential(actor, testimony):
        with transaction.atomic():
            _audit(actor, "view", testimony)


# -- consent ------------------------------------------------------------------------------------


def consent_change(
    *,
    actor: Actor,
    testimony: Testimony,
    scope: str,
    effective_on: date | None,
    mechanisms: Sequence[str] = (),
    note: str = "",
) -> Testimony:
    """Record a new consent from the witness (wider or narrower). Allowed on sealed testimonies:
    consent is the witness's to change. A withdrawn consent is given again the same way."""
    scope, codes, given_on = _consent(scope, mechanisms, effective_on)
    with transaction.atomic():
        locked = _recordable(actor, testimony)
        locked.consent_scope = scope
        locked.consent_mechanisms = codes
        locked.consent_given_on = given_on
        locked.consent_withdrawn_on = None
        locked.save(
            update_fields=[
                "consent_scope",
                "consent_mechanisms",
                "consent_given_on",
                "consent_withdrawn_on",
                "updated_at",
            ]
        )
        ConsentEvent.objects.create(
            testimony=locked,
            kind=ConsentEvent.Kind.CHANGED,
            scope=scope,
            mechanisms=codes,
            effective_on=given_on,
            recorded_by=_user(actor),
            note=_text(note),
        )
        _audit(actor, "consent", locked, consent_scope=scope)
        search.reindex(locked)
    return locked


def consent_withdraw(
    *, actor: Actor, testimony: Testimony, effective_on: date | None = None, note: str = ""
) -> Testimony:
    """The witness withdrew consent: from this commit on, no search, export or sharing
    includes the testimony. The record stays with its agency, marked withdrawn."""
    effective_on = effective_on or timezone.localdate()
    if effective_on > timezone.localdate():
        raise _invalid("effective_on", gettext("cannot be in the future"))
    with transaction.atomic():
        locked = _recordable(actor, testimony)
        if locked.consent_withdrawn:
            raise _invalid("consent", gettext("consent is already withdrawn"))
        locked.consent_withdrawn_on = effective_on
        locked.save(update_fields=["consent_withdrawn_on", "updated_at"])
        ConsentEvent.objects.create(
            testimony=locked,
            kind=ConsentEvent.Kind.WITHDRAWN,
            scope=locked.consent_scope,
            mechanisms=locked.consent_mechanisms,
            effective_on=effective_on,
            recorded_by=_user(actor),
            note=_text(note),
        )
        _audit(actor, "consent_withdraw", locked)
        search.reindex(locked)
    return locked


def evidence_upload(
    *,
    actor: Actor,
    filename: str,
    data: bytes,
    received_from: str,
    received_on: date | None,
    description: str,
    original: EvidenceFile | None = None,
) -> EvidenceFile:
    """Check, store encrypted and register one evidence file for the actor's agency (a working
    copy when ``original`` is given)."""
    policy.require(actor, Action.EVIDENCE_UPLOAD)
    if isinstance(actor, SystemActor):
        raise PermissionDenied(gettext("evidence is uploaded by a member of an agency"))
    limit_mb: int = settings.SAEBOM_EVIDENCE_MAX_MB
    if len(data) > limit_mb * 1024 * 1024:
        raise _invalid("file", gettext("larger than the limit of %(mb)d MB") % {"mb": limit_mb})
    media_type = filetypes.detect(data)
    if isinstance(media_type, filetypes.Refused):
        raise _invalid("file", media_type.reason)
    display_name = filetypes.safe_display_name(filename)
    if not display_name:
        raise _invalid("filename", gettext("no usable file name"))
    if not filetypes.extension_agrees(media_type, display_name):
        raise _invalid(
            "filename",
            gettext("the name %(name)s does not match the content (%(type)s)")
            % {"name": display_name, "type": media_type},
        )
    if received_on is not None and received_on > timezone.localdate():
        raise _invalid("received_on", gettext("cannot be in the future"))
    sha = hashlib.sha256(data).hexdigest()
    if EvidenceFile.objects.filter(agency=actor.agency, sha256=sha).exists():
        raise _invalid("file", gettext("this file is already stored as evidence"))

    blobs.put(data)  # before the transaction: see the module docstring
    with _disk_full_refused(), transaction.atomic():
        evidence = EvidenceFile.objects.create(
            agency=actor.agency,
            sha256=sha,
            original_name=filename,
            display_name=display_name,
            media_type=media_type,
            size=len(data),
            uploaded_by=actor,
            received_from=_text(received_from),
            received_on=received_on,
            description=_text(description),
            is_working_copy=original is not None,
            original=original,
        )
        actions = [CustodyEvent.Action.UPLOADED]
        if original is None:
            actions.insert(0, CustodyEvent.Action.RECEIVED)
        chain = [custody.append(evidence=evidence, action=a, actor=actor) for a in actions]
        audit_record(
            actor=actor,
            action="upload",
            object_type="evidence_file",
            object_id=evidence.public_id,
            detail={
                "sha256": sha,
                "size": len(data),
                "media_type": media_type,
                "custody": custody.heads(chain),
            },
        )
    return evidence


@contextmanager
def _disk_full_refused() -> Iterator[None]:
    """A SQLite database sits in the data dir beside the blobs: the disk filling up as it
    commits is the evidence store being full (the transaction is rolled back)."""
    try:
        yield
    except DatabaseError as exc:
        if not storage_full(exc):
            raise
        raise blobs.StoreFull(
            gettext("no space left in the evidence store; nothing was stored")
        ) from None


def evidence_open(
    *, actor: Actor, evidence: EvidenceFile, action: str = CustodyEvent.Action.VIEWED
) -> bytes:
    """The file's bytes, checked against its SHA-256; records a custody event (``viewed``)."""
    visible = evidence_get(actor, evidence.public_id)
    data = blobs.get(visible.sha256)  # BlobError when missing or changed: nothing is recorded
    with transaction.atomic():
        event = custody.append(evidence=visible, action=action, actor=actor)
        audit_record(
            actor=actor,
            action="download" if action == CustodyEvent.Action.DOWNLOADED else "view",
            object_type="evidence_file",
            object_id=visible.public_id,
            agency_code=visible.agency.code,
            detail={"custody": custody.heads([event])},
        )
    return data


def evidence_record_viewed(*, actor: Actor, evidence: EvidenceFile) -> None:
    """Record that the actor read an evidence file's record: its original name, source and
    description are confidential like the file. Call it whenever they are shown."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="view",
            object_type="evidence_file",
            object_id=evidence.public_id,
            agency_code=evidence.agency.code,
            detail={"what": "record"},
        )


def evidence_download(*, actor: Actor, evidence: EvidenceFile) -> bytes:
    """The file's bytes for saving elsewhere: checked, and recorded as ``downloaded``."""
    return evidence_open(actor=actor, evidence=evidence, action=CustodyEvent.Action.DOWNLOADED)


def evidence_exported(
    *, actor: Actor, files: Iterable[EvidenceFile], note: str = ""
) -> dict[str, str]:
    """Record in each file's chain of custody that an export listed it. The caller holds the
    transaction of the export's audit event, whose detail records what this gives back (the
    files' new custody heads) as ``"custody"``."""
    return custody.heads(
        custody.append(evidence=e, action=CustodyEvent.Action.EXPORTED, actor=actor, note=note)
        for e in files
    )


def evidence_link(*, actor: Actor, evidence: EvidenceFile, testimony: Testimony) -> None:
    """Attach an evidence file of the agency to one of its testimonies."""
    visible = evidence_get(actor, evidence.public_id)
    with transaction.atomic():
        locked = _recordable(actor, testimony)
        if visible.agency_id != locked.agency_id:
            raise NotFound(gettext("Not found."))
        visible.testimonies.add(locked)
        _audit(actor, "link_evidence", locked, evidence=visible.public_id)


def evidence_working_copy(
    *, actor: Actor, original: EvidenceFile, filename: str, data: bytes, description: str = ""
) -> EvidenceFile:
    """Store a working copy (a redacted or converted version) as a file of its own, pointing at
    the original, which stays as it was; both chains of custody record it."""
    source = evidence_get(actor, original.public_id)
    if source.is_working_copy:
        raise _invalid("original", gettext("make working copies from the original file"))
    with transaction.atomic():  # the copy and the original's link to it, or neither
        copy = evidence_upload(
            actor=actor,
            filename=filename,
            data=data,
            received_from="",
            received_on=None,
            description=description,
            original=source,
        )
        event = custody.append(
            evidence=source, action=CustodyEvent.Action.COPIED, actor=actor, note=copy.public_id
        )
        audit_record(
            actor=actor,
            action="copy",
            object_type="evidence_file",
            object_id=source.public_id,
            detail={"copy": copy.public_id, "custody": custody.heads([event])},
        )
    return copy


# -- coding: incidents, individuals, acts -------------------------------------------------------


def _place(code: str | None, field: str) -> Place | None:
    if not code:
        return None
    place = Place.objects.filter(code=code).first()
    if place is None:
        raise _invalid(field, gettext("no place %(code)s in the gazetteer") % {"code": code})
    return place


def _dates(start: date | None, precision: str, end: date | None) -> dict[str, Any]:
    precision = _optional_code("date_precision", precision, "date_precision")
    if start is None and (precision or end):
        raise _invalid("date_start", gettext("required with a precision or an end"))
    if start is not None and not precision:
        raise _invalid("date_precision", gettext("say how precise the date is"))
    if (precision == "range") != (end is not None):
        raise _invalid(
            "date_end", gettext("an end date goes with the precision 'range', and only with it")
        )
    if end is not None and start is not None and end < start:
        raise _invalid("date_end", gettext("before the start"))
    today = timezone.localdate()
    if (start and start > today) or (end and end > today):
        raise _invalid("date_start", gettext("cannot be in the future"))
    return {"date_start": start, "date_precision": precision, "date_end": end}


def incident_add(
    *,
    actor: Actor,
    testimony: Testimony,
    date_start: date | None = None,
    date_precision: str = "",
    date_end: date | None = None,
    place: str | None = None,
    place_detail: str = "",
    description: str = "",
) -> Incident:
    """An event the testimony describes: when (with precision, or a range) and where."""
    values = _dates(date_start, date_precision, date_end)
    with transaction.atomic():
        locked = _recordable(actor, testimony)
        incident = Incident.objects.create(
            testimony=locked,
            place=_place(place, "place"),
            place_detail=_text(place_detail),
            description=_text(description),
            **values,
        )
        _audit(actor, "code", locked, added="incident", incident=incident.pk)
        search.reindex(locked)
    return incident


INDIVIDUAL_VOCABULARIES = {
    "role": "individual_role",
    "sex": "sex",
    "relation_to_witness": "witness_relation",
    "institution": "institution",
}


def individual_add(
    *,
    actor: Actor,
    testimony: Testimony,
    role: str,
    name: str = "",
    sex: str = "",
    approx_age: int | None = None,
    relation_to_witness: str = "",
    person: str | None = None,
    institution: str = "",
    unit: str = "",
    rank: str = "",
) -> Individual:
    """Someone the testimony names. A perpetrator is described by institution, unit and rank."""
    if not role:
        raise _invalid("role", gettext("required"))
    codes = {
        field: _optional_code(vocabulary, value, field)
        for field, vocabulary, value in (
            ("role", "individual_role", role),
            ("sex", "sex", sex),
            ("relation_to_witness", "witness_relation", relation_to_witness),
            ("institution", "institution", institution),
        )
    }
    if codes["institution"] and codes["role"] != "perpetrator":
        raise _invalid("institution", gettext("only a perpetrator has an institution"))
    for field, value, longest in (("unit", unit, 200), ("rank", rank, 100)):
        if len((value or "").strip()) > longest:
            raise _invalid(field, gettext("at most %(n)d characters") % {"n": longest})
    if approx_age is not None and not 0 <= approx_age <= 120:
        raise _invalid("approx_age", gettext("between 0 and 120"))
    with transaction.atomic():
        locked = _recordable(actor, testimony)
        individual = Individual.objects.create(
            testimony=locked,
            name=_text(name),
            approx_age=approx_age,
            person=_witness(actor, person),
            unit=(unit or "").strip(),
            rank=(rank or "").strip(),
            **codes,
        )
        _audit(actor, "code", locked, added="individual", role=codes["role"])
        search.reindex(locked)
    return individual


def _of_testimony(
    testimony: Testimony, ids: Iterable[int], role: str, field: str
) -> list[Individual]:
    wanted = set(ids)
    found = list(testimony.individuals.filter(pk__in=wanted, role=role))
    if len(found) != len(wanted):
        raise _invalid(
            field,
            gettext("each must be a %(role)s named in this testimony")
            % {"role": vocab.label("individual_role", role).lower()},
        )
    return found


def act_add(
    *,
    actor: Actor,
    incident: Incident,
    act_type: str,
    connection: str,
    reliability: str,
    credibility: str,
    coi_category: str = "",
    place: str | None = None,
    victims: Sequence[int] = (),
    perpetrators: Sequence[tuple[int, str]] = (),
    notes: str = "",
) -> Act:
    """One act within an incident: its type (and COI category, by default the type's), where,
    to whom and by whom, with the source's connection and grading."""
    act_code = _code("act_type", act_type, "act_type")
    values = {
        "act_type": act_code,
        "coi_category": _code("coi_category", coi_category, "coi_category")
        if coi_category
        else act_types()[act_code].coi_category,
        "connection": _code("source_connection", connection, "connection"),
        "reliability": _code("reliability", reliability, "reliability"),
        "credibility": _code("credibility", credibility, "credibility"),
    }
    degrees = [(pk, _code("involvement", degree, "perpetrators")) for pk, degree in perpetrators]
    if len({pk for pk, _ in degrees}) != len(degrees):
        raise _invalid("perpetrators", gettext("each perpetrator once, with one degree"))
    with transaction.atomic():
        locked = _recordable(actor, incident.testimony)
        if incident.testimony_id != locked.pk:
            raise NotFound(gettext("Not found."))
        act = Act.objects.create(
            incident=incident,
            place=_place(place, "place"),
            notes=_text(notes),
            **values,
        )
        act.victims.set(_of_testimony(locked, victims, "victim", "victims"))
        people = _of_testimony(locked, [pk for pk, _ in degrees], "perpetrator", "perpetrators")
        by_pk = {p.pk: p for p in people}
        Involvement.objects.bulk_create(
            Involvement(act=act, perpetrator=by_pk[pk], degree=degree) for pk, degree in degrees
        )
        _audit(actor, "code", locked, added="act", act_type=act_code)
        search.reindex(locked)
    return act


# -- corroboration ------------------------------------------------------------------------------


def acts_corroborate(*, actor: Actor, acts: Sequence[Act], label: str) -> Corroboration:
    """Record that acts from different testimonies of one agency are the same event. Acts
    already in a group bring their group along: the result is one group."""
    policy.require(actor, Action.TESTIMONY_RECORD)
    label = _label(label)
    with transaction.atomic():
        mine = list(
            Act.objects.select_for_update(of=("self",))
            .filter(incident__testimony__in=selectors.testimonies_visible_to(actor))
            .filter(pk__in=[a.pk for a in acts])
            .select_related("incident__testimony__agency", "corroboration")
        )
        if len(mine) != len({a.pk for a in acts}):
            raise NotFound(gettext("Not found."))
        agencies = {a.incident.testimony.agency for a in mine}
        if len(agencies) > 1:  # only the operator sees several agencies' acts
            raise _invalid("acts", gettext("choose acts of one agency's testimonies"))
        if len({a.incident.testimony_id for a in mine}) < 2:
            raise _invalid("acts", gettext("choose acts from at least two testimonies"))
        group, merged = _one_group(mine, label, agencies.pop(), actor)
        Act.objects.filter(pk__in=[a.pk for a in mine]).update(corroboration=group)
        audit_record(
            actor=actor,
            action="corroborate",
            object_type="corroboration",
            object_id=group.public_id,
            agency_code=group.agency.code,
            detail={"acts": sorted(a.pk for a in mine), "merged": merged},
        )
    return group


def _label(label: str | None) -> str:
    label = (label or "").strip()
    if not label:
        raise _invalid("label", gettext("required: name the event without naming anyone"))
    if len(label) > 200:
        raise _invalid("label", gettext("at most %(n)d characters") % {"n": 200})
    return label


def _one_group(
    acts: list[Act], label: str, agency: Any, actor: Actor
) -> tuple[Corroboration, list[int]]:
    """The group the acts will share: the oldest of their groups, the others merged into it,
    or a new one."""
    groups = sorted({a.corroboration_id for a in acts if a.corroboration_id})
    if not groups:
        created = Corroboration.objects.create(agency=agency, label=label, created_by=_user(actor))
        return created, []
    group = Corroboration.objects.get(pk=groups[0])
    group.label = label
    group.save(update_fields=["label"])
    Act.objects.filter(corroboration_id__in=groups[1:]).update(corroboration=group)
    Corroboration.objects.filter(pk__in=groups[1:]).delete()
    return group, groups[1:]


def act_uncorroborate(*, actor: Actor, act: Act) -> None:
    """Take an act out of its corroboration group (a group left with one act is dissolved)."""
    with transaction.atomic():
        _recordable(actor, act.incident.testimony)
        group = act.corroboration
        if group is None:
            return
        Act.objects.filter(pk=act.pk).update(corroboration=None)
        if group.acts.count() < 2:
            group.acts.update(corroboration=None)
            group.delete()
        audit_record(
            actor=actor,
            action="uncorroborate",
            object_type="corroboration",
            object_id=group.public_id,
            detail={"act": act.pk},
        )


# -- places -------------------------------------------------------------------------------------


def place_create(
    *,
    actor: Actor,
    kind: str,
    name_ko: str,
    name_en: str,
    parent: str | None = None,
    facility_type: str = "",
    facility_number: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
) -> Place:
    """Add a county, city or facility to the shared gazetteer (administrators)."""
    policy.require(actor, Action.PLACE_MANAGE)
    kind = _code("place_kind", kind, "kind")
    if kind == "province":
        raise _invalid(
            "kind", gettext("the provinces are shipped; add counties, cities and facilities")
        )
    parent_place = _place(parent, "parent")
    if parent_place is None or parent_place.kind == "facility":
        raise _invalid("parent", gettext("required: the province or county it lies in"))
    facility_type = _optional_code("facility_type", facility_type, "facility_type")
    if (kind == "facility") != bool(facility_type):
        raise _invalid("facility_type", gettext("a facility has a type, and only a facility"))
    if not (name_ko or "").strip() or not (name_en or "").strip():
        raise _invalid("name_en", gettext("both names are required"))
    for field, value, longest in (
        ("name_ko", name_ko, 120),
        ("name_en", name_en, 120),
        ("facility_number", facility_number, 12),
    ):
        if len((value or "").strip()) > longest:
            raise _invalid(field, gettext("at most %(n)d characters") % {"n": longest})
    if (latitude is None) != (longitude is None):
        raise _invalid("longitude", gettext("give both coordinates or neither"))
    if (
        latitude is not None
        and longitude is not None
        and not (37 <= latitude <= 43.1 and 124 <= longitude <= 131)
    ):
        raise _invalid("latitude", gettext("outside North Korea"))
    with transaction.atomic():
        place = Place.objects.create(
            kind=kind,
            name_ko=name_ko.strip(),
            name_en=name_en.strip(),
            parent=parent_place,
            province=parent_place.province,
            facility_type=facility_type,
            facility_number=(facility_number or "").strip(),
            latitude=latitude,
            longitude=longitude,
            added_by=None if isinstance(actor, SystemActor) else actor.agency,
        )
        audit_record(actor=actor, action="create", object_type="place", object_id=place.code)
    return place
