"""Each evidence file's chain of custody: hash-chained, and anchored in the audit chain.

A custody event's hash covers the file (public id and SHA-256), the event's place in the file's
chain (``seq``, from 1), what happened, who did it and for which agency, when, a keyed digest of
its note, and the previous event's hash. Editing, deleting, inserting or reordering an event
breaks its file's chain from there on.

Appending happens under the audit chain's lock, in the transaction of an audit event whose
detail records the file's new head (``"custody": {public id: "seq:hash"}``, from :func:`heads`).
The audit chain, verified on its own and against a published head, so vouches for every chain's
length and last hash: removing a file's last events, or rewriting a whole chain with its hashes
recomputed, no longer matches the head the audit chain recorded. The upload's audit event also
records the file's SHA-256, which :func:`verify` compares with the evidence row.

The note is hashed as an HMAC under the index key (which rotation keeps), not as plain text:
the hashes sit unencrypted beside the encrypted note.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils.translation import gettext

from saebom.core.actors import Actor, SystemActor, audit_name
from saebom.core.audit import GENESIS_HASH, canonical_json, lock_chain, utc_iso
from saebom.core.fields import keyring
from saebom.core.models import AuditEvent
from saebom.testimony.models import CustodyEvent, EvidenceFile

NOTE_PURPOSE = "custody_note"
_HEAD = re.compile(r"([1-9][0-9]{0,9}):([0-9a-f]{64})")


def event_hash(
    *,
    file: str,
    sha256: str,
    seq: int,
    action: str,
    actor_id: int | None,
    actor_name: str,
    agency_code: str,
    at: datetime,
    note: str,
    prev_hash: str,
) -> str:
    record = {
        "file": file,
        "sha256": sha256,
        "seq": seq,
        "action": action,
        "actor_id": actor_id,
        "actor_name": actor_name,
        "agency_code": agency_code,
        "at": utc_iso(at),
        "note": keyring().blind_index(note, NOTE_PURPOSE),
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(record)).hexdigest()


def append(*, evidence: EvidenceFile, action: str, actor: Actor, note: str = "") -> CustodyEvent:
    """Add an event to the file's chain. Call inside the transaction of the audit event that
    records :func:`heads` of what was appended."""
    lock_chain()
    last = (
        CustodyEvent.objects.filter(evidence=evidence)
        .order_by("-seq")
        .values_list("seq", "hash")
        .first()
    )
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    event = CustodyEvent(
        evidence=evidence,
        seq=seq,
        action=action,
        actor_id=actor.pk,
        actor_name=audit_name(actor),
        agency_code="" if isinstance(actor, SystemActor) else actor.agency.code,
        note=note,
        prev_hash=prev_hash,
    )
    event.hash = hash_of(event, evidence.public_id, evidence.sha256)
    event.save(force_insert=True)
    return event


def hash_of(event: Any, file: str, sha256: str) -> str:
    """The hash of ``event`` (a custody event, or a row as a migration sees it) as the event
    ``seq`` of the file ``file`` whose content has ``sha256``."""
    return event_hash(
        file=file,
        sha256=sha256,
        seq=event.seq,
        action=event.action,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        agency_code=event.agency_code,
        at=event.at,
        note=event.note or "",
        prev_hash=event.prev_hash,
    )


def heads(events: Iterable[CustodyEvent]) -> dict[str, str]:
    """What an audit event records of the custody events appended in its transaction: each
    file's last one, as ``{public id: "seq:hash"}``."""
    return {e.evidence.public_id: f"{e.seq}:{e.hash}" for e in events}


# -- verification -------------------------------------------------------------------------------


@dataclass
class _Chain:
    """One file's chain as read: the hash at each seq, and the first problem met."""

    hashes: dict[int, str] = field(default_factory=dict)
    problem: str = ""
    head: tuple[int, str] = (0, GENESIS_HASH)


@dataclass(frozen=True)
class Problem:
    public_id: str
    display_name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.public_id} {self.display_name}: {self.reason}"


def verify() -> list[Problem]:
    """Every evidence row checked against the upload the audit chain recorded, and every chain
    of custody checked link by link and against the heads the audit chain recorded. (Whether
    the audit chain itself is intact is ``saebom audit verify``'s to say.)"""
    files = {
        row["pk"]: row
        for row in EvidenceFile.objects.values("pk", "public_id", "sha256", "display_name")
    }
    by_public_id = {row["public_id"]: row for row in files.values()}
    uploads, anchors = _recorded()
    chains = _chains(files)
    problems: list[Problem] = []
    for row in files.values():
        public_id = row["public_id"]
        reason = _row_problem(row, uploads.get(public_id)) or _chain_problem(
            chains.get(row["pk"], _Chain()), anchors.get(public_id, [])
        )
        if reason:
            problems.append(Problem(public_id, row["display_name"], reason))
    for public_id in sorted(set(uploads) - set(by_public_id)):
        reason = gettext("the audit chain records its upload, but its record is gone")
        problems.append(Problem(public_id, "", reason))
    return problems


def _recorded() -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """From the audit chain: the SHA-256 recorded at each file's upload, and each file's custody
    heads in the order they were recorded."""
    uploads: dict[str, Any] = {}
    anchors: dict[str, list[Any]] = {}
    upload_rows = AuditEvent.objects.filter(action="upload", object_type="evidence_file")
    for object_id, detail in upload_rows.values_list("object_id", "detail"):
        uploads[object_id] = detail.get("sha256") if isinstance(detail, dict) else None
    anchored = AuditEvent.objects.filter(detail__has_key="custody").order_by("seq")
    for detail in anchored.values_list("detail", flat=True).iterator(chunk_size=2000):
        recorded = detail.get("custody") if isinstance(detail, dict) else None
        for public_id, head in recorded.items() if isinstance(recorded, dict) else ():
            anchors.setdefault(public_id, []).append(head)
    return uploads, anchors


def _chains(files: Mapping[int, Mapping[str, Any]]) -> dict[int, _Chain]:
    chains: dict[int, _Chain] = {}
    for event in _events_by_file():
        chain = chains.setdefault(event.evidence_id, _Chain())
        if chain.problem:
            continue
        row = files[event.evidence_id]
        chain.problem = _link_problem(event, chain.head, row["public_id"], row["sha256"])
        chain.hashes[event.seq] = event.hash
        chain.head = (event.seq, event.hash)
    return chains


def _events_by_file() -> Iterator[CustodyEvent]:
    return CustodyEvent.objects.order_by("evidence_id", "seq").iterator(chunk_size=2000)


def _link_problem(event: CustodyEvent, head: tuple[int, str], file: str, sha256: str) -> str:
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
    if hash_of(event, file, sha256) != event.hash:
        return gettext("custody event %(seq)s does not match its hash (it was changed)") % {
            "seq": event.seq
        }
    return ""


def _row_problem(row: Mapping[str, Any], uploaded_sha256: Any) -> str:
    if uploaded_sha256 is None:
        return gettext("no upload of this file is recorded in the audit chain")
    if uploaded_sha256 != row["sha256"]:
        return gettext("its SHA-256 is not the one recorded when it was uploaded")
    return ""


def _chain_problem(chain: _Chain, recorded: list[Any]) -> str:
    if chain.problem:
        return chain.problem
    if not recorded:
        return gettext("the audit chain records no head of its chain of custody")
    for head in recorded:
        match = _HEAD.fullmatch(head) if isinstance(head, str) else None
        if match is None or chain.hashes.get(int(match.group(1))) != match.group(2):
            return gettext(
                "its chain of custody does not hold the event the audit chain recorded (%(head)s)"
            ) % {"head": head}
    last = recorded[-1]
    if last != f"{chain.head[0]}:{chain.head[1]}":
        return gettext(
            "its chain of custody ends at event %(seq)s, after the last head the audit chain "
            "recorded (%(head)s)"
        ) % {"seq": chain.head[0], "head": last}
    return ""
