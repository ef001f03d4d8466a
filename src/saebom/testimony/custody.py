"""Each evidence file's chain of custody: hash-chained, and anchored in the audit chain.

A custody event's hash covers its file (every column of the evidence record that never changes:
public id, SHA-256, agency, display name, media type, size, the original it is a working copy
of, upload time), the event's place in the file's chain (``seq``, from 1), what happened, who
did it and for which agency, when, a keyed digest of its note, and the previous event's hash.
Editing, deleting, inserting or reordering an event, or changing the record, breaks the chain.

Appending happens under the audit chain's lock, in the transaction of an audit event whose
detail records the file's new head (``"custody": {public id: "seq:hash"}``, from :func:`heads`).
The audit chain, verified on its own and against a published head, so vouches for every chain's
length and last hash, which commits to every event before it: removing a file's last events, or
rewriting a whole chain with its hashes recomputed, no longer ends at the head the audit chain
recorded last. The upload's audit event also records the file's SHA-256, size and type, which
:func:`verify` compares with the record (what the chain cannot vouch for: a record changed
before its chain began, in migration 0009).

The note is hashed as an HMAC under the index key (which rotation keeps), not as plain text:
the hashes sit unencrypted beside the encrypted note. So only holders of the key ring can
recompute a hash; anyone can check that each event names the hash of the one before.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils.translation import gettext

from saebom.core.actors import Actor, SystemActor, audit_name
from saebom.core.audit import GENESIS_HASH, canonical_json, lock_chain, utc_iso
from saebom.core.crypto import DecryptionError
from saebom.core.fields import keyring
from saebom.core.inputs import clean_text
from saebom.core.models import AuditEvent
from saebom.testimony.models import CustodyEvent, EvidenceFile

NOTE_PURPOSE = "custody_note"
# The evidence record's columns that never change after the upload, as ``values()`` names them.
IDENTITY = (
    "public_id",
    "sha256",
    "agency__code",
    "display_name",
    "media_type",
    "size",
    "is_working_copy",
    "original__public_id",
    "uploaded_at",
)
# What a changed row can raise as it is read or hashed (SQLite keeps any type in any column;
# a note that is not a ciphertext fails to decrypt).
_UNREADABLE = (TypeError, ValueError, AttributeError, DecryptionError)
_HEAD = re.compile(r"([1-9][0-9]{0,9}):([0-9a-f]{64})")


def identity_of(evidence: Any) -> dict[str, Any]:
    """The record's unchanging columns, from an evidence file (or a migration's row of one)."""
    return {
        "public_id": evidence.public_id,
        "sha256": evidence.sha256,
        "agency__code": evidence.agency.code,
        "display_name": evidence.display_name,
        "media_type": evidence.media_type,
        "size": evidence.size,
        "is_working_copy": evidence.is_working_copy,
        "original__public_id": evidence.original.public_id if evidence.original_id else None,
        "uploaded_at": evidence.uploaded_at,
    }


def hash_of(event: Any, identity: Mapping[str, Any]) -> str:
    """The hash of ``event`` (a custody event, or a migration's row of one) in the chain of the
    file whose :func:`identity_of` is ``identity``."""
    record = {
        "file": {k: utc_iso(v) if k == "uploaded_at" else v for k, v in identity.items()},
        "seq": event.seq,
        "action": event.action,
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "agency_code": event.agency_code,
        "at": utc_iso(event.at),
        "note": keyring().blind_index(event.note or "", NOTE_PURPOSE),
        "prev_hash": event.prev_hash,
    }
    return hashlib.sha256(canonical_json(record)).hexdigest()


def append(*, evidence: EvidenceFile, action: str, actor: Actor, note: str = "") -> CustodyEvent:
    """Add an event to the file's chain. Call inside the transaction of the audit event that
    records :func:`heads` of what was appended."""
    lock_chain()
    seq, prev_hash = _last_link(evidence.pk)
    seq += 1
    event = CustodyEvent(
        evidence=evidence,
        seq=seq,
        action=action,
        actor_id=actor.pk,
        actor_name=audit_name(actor),
        agency_code="" if isinstance(actor, SystemActor) else actor.agency.code,
        note=clean_text(note),
        prev_hash=prev_hash,
    )
    event.hash = hash_of(event, identity_of(evidence))
    event.save(force_insert=True)
    return event


def _last_link(evidence_id: int) -> tuple[int, str]:
    """The file's last event (seq, hash), or (0, genesis). Plain SQL: this runs once per
    custody event, on every opening of a file."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT seq, hash FROM {CustodyEvent._meta.db_table} WHERE evidence_id = %s"  # noqa: S608
            " ORDER BY seq DESC LIMIT 1",
            [evidence_id],
        )
        row = cursor.fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)


def heads(events: Iterable[CustodyEvent]) -> dict[str, str]:
    """What an audit event records of the custody events appended in its transaction: each
    file's last one, as ``{public id: "seq:hash"}``."""
    return {e.evidence.public_id: f"{e.seq}:{e.hash}" for e in events}


# -- verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    public_id: str
    display_name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.public_id} {self.display_name}: {self.reason}"


@dataclass
class _Chain:
    """One file's chain as read: where it ends, and the first problem met."""

    head: tuple[int, str] = (0, GENESIS_HASH)
    problem: str = ""


@dataclass(frozen=True)
class _Unreadable:
    evidence_id: Any


def verify() -> list[Problem]:
    """Every evidence record checked against the upload the audit chain recorded, every chain
    of custody link by link and against the last head the audit chain recorded, and the links
    to testimonies against those it recorded. (Whether the audit chain itself is intact is
    ``saebom audit verify``'s to say.)"""
    files = {row["pk"]: row for row in EvidenceFile.objects.values("pk", *IDENTITY)}
    uploads, last_heads = _recorded()
    chains, strays = _chains(files)
    held = Counter(row["public_id"] for row in files.values())
    problems: list[Problem] = []
    for pk, row in files.items():
        public_id = row["public_id"]
        reason = (
            _twin_problem(held[public_id])
            or _row_problem(row, uploads.get(public_id))
            or _chain_problem(chains.get(pk, _Chain()), last_heads.get(public_id))
        )
        if reason:
            problems.append(Problem(public_id, row["display_name"], reason))
    for public_id in sorted(set(uploads) - set(held)):
        reason = gettext("the audit chain records its upload, but its record is gone")
        problems.append(Problem(public_id, "", reason))
    for evidence_id in strays:
        reason = gettext("custody events of a record that does not exist (%(id)s)")
        problems.append(Problem("", "", reason % {"id": evidence_id}))
    names = {row["public_id"]: row["display_name"] for row in files.values()}
    return problems + _link_problems(names)


def _link_problems(names: Mapping[str, str]) -> list[Problem]:
    """Links between files and testimonies against the ``link_evidence`` events that made
    them (links are only ever added, by ``services.evidence_link``)."""
    through = EvidenceFile.testimonies.through.objects
    linked = set(through.values_list("evidencefile__public_id", "testimony__public_id"))
    recorded = set()
    events = AuditEvent.objects.filter(action="link_evidence", object_type="testimony")
    for testimony, detail in events.values_list("object_id", "detail"):
        evidence = detail.get("evidence") if isinstance(detail, dict) else None
        if isinstance(evidence, str):
            recorded.add((evidence, testimony))
    unrecorded = gettext("linked to testimony %(id)s, a link the audit chain does not record")
    gone = gettext("its link to testimony %(id)s, recorded in the audit chain, is gone")
    return [
        Problem(evidence, names.get(evidence, ""), reason % {"id": testimony})
        for pairs, reason in ((linked - recorded, unrecorded), (recorded - linked, gone))
        for evidence, testimony in sorted(pairs)
    ]


def _recorded() -> tuple[dict[str, Any], dict[str, Any]]:
    """From the audit chain: what each file's upload recorded, and the last custody head it
    recorded of each file (a head commits to every event before it)."""
    upload_rows = AuditEvent.objects.filter(action="upload", object_type="evidence_file")
    uploads = {
        object_id: detail if isinstance(detail, dict) else {}
        for object_id, detail in upload_rows.values_list("object_id", "detail")
    }
    last_heads: dict[str, Any] = {}
    anchored = AuditEvent.objects.filter(detail__has_key="custody").order_by("seq")
    for detail in anchored.values_list("detail", flat=True).iterator(chunk_size=2000):
        recorded = detail.get("custody") if isinstance(detail, dict) else None
        if isinstance(recorded, dict):
            last_heads.update(recorded)
    return uploads, last_heads


def _chains(files: Mapping[Any, Mapping[str, Any]]) -> tuple[dict[Any, _Chain], list[Any]]:
    """Each file's chain walked link by link, and the ids of records that custody events point
    at but that do not exist."""
    chains: dict[Any, _Chain] = {}
    strays: list[Any] = []
    for event in _events_by_file():
        if event.evidence_id not in files:
            if event.evidence_id not in strays:
                strays.append(event.evidence_id)
            continue
        chain = chains.setdefault(event.evidence_id, _Chain())
        if chain.problem:
            continue
        if isinstance(event, _Unreadable):
            chain.problem = gettext("a custody event cannot be read (it was changed)")
            continue
        identity = {name: files[event.evidence_id][name] for name in IDENTITY}
        chain.problem = _link_problem(event, chain.head, identity)
        chain.head = (event.seq, event.hash)
    return chains, strays


def _events_by_file() -> Iterator[CustodyEvent | _Unreadable]:
    """The events in chain order; one that cannot be read stands for itself as unreadable, and
    from there on the rest are read one at a time (a bad value spoils the batch it is in)."""
    events = CustodyEvent.objects.order_by("evidence_id", "seq", "pk")
    rows, read = events.iterator(chunk_size=2000), 0
    while True:
        try:
            event = next(rows)
        except StopIteration:
            return
        except _UNREADABLE:
            break
        read += 1
        yield event
    for pk, evidence_id in events.values_list("pk", "evidence_id")[read:]:
        try:
            yield events.get(pk=pk)
        except _UNREADABLE:
            yield _Unreadable(evidence_id)


def _link_problem(event: CustodyEvent, head: tuple[int, str], identity: Mapping[str, Any]) -> str:
    seq, prev_hash = head
    if event.seq != seq + 1:
        return gettext(
            "custody event %(found)s where %(expected)s was due (an event was removed, "
            "inserted or reordered)"
        ) % {"found": event.seq, "expected": seq + 1}
    if event.prev_hash != prev_hash:
        return gettext(
            "custody event %(seq)s does not link to the one before it (an event was removed, "
            "inserted or reordered)"
        ) % {"seq": event.seq}
    try:
        digest = hash_of(event, identity)
    except _UNREADABLE:
        return gettext("a custody event cannot be read (it was changed)")
    if digest != event.hash:
        return gettext(
            "custody event %(seq)s does not match its hash (the event or the record was changed)"
        ) % {"seq": event.seq}
    return ""


def _twin_problem(records_with_its_public_id: int) -> str:
    if records_with_its_public_id > 1:
        return gettext("another record has the same public id")
    return ""


def _row_problem(row: Mapping[str, Any], uploaded: Mapping[str, Any] | None) -> str:
    if uploaded is None or "sha256" not in uploaded:
        return gettext("no upload of this file is recorded in the audit chain")
    recorded = {name: uploaded.get(name, row[name]) for name in ("sha256", "size", "media_type")}
    if recorded != {name: row[name] for name in recorded}:
        return gettext("its SHA-256, size or type is not what was recorded when it was uploaded")
    return ""


def _chain_problem(chain: _Chain, last_head: Any) -> str:
    if chain.problem:
        return chain.problem
    if last_head is None:
        return gettext("the audit chain records no head of its chain of custody")
    match = _HEAD.fullmatch(last_head) if isinstance(last_head, str) else None
    if match is None or (int(match.group(1)), match.group(2)) != chain.head:
        return gettext(
            "its chain of custody ends at event %(seq)s, not at the last head the audit chain "
            "recorded (%(head)s)"
        ) % {"seq": chain.head[0], "head": last_head}
    return ""
