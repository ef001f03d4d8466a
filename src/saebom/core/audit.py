"""The tamper-evident audit chain: append in the writer's transaction, verify end to end.

Each event's hash is SHA-256 over a canonical JSON encoding of the event, which includes the
previous event's hash. Editing, deleting, inserting or reordering any row breaks the chain from
that row on; removing rows from the end is caught by comparing with a published head
(``saebom audit head``) or with the head row. What the chain cannot prove — an attacker who
rewrites the whole chain and the head — is written down in docs/security.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from saebom.core.actors import AnonymousActor, AuditActor, SystemActor, audit_name
from saebom.core.context import current_request_meta
from saebom.core.models import AuditEvent, AuditHead

GENESIS_HASH = "0" * 64

HASHED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_name",
    "agency_code",
    "action",
    "object_type",
    "object_id",
    "changed_fields",
    "detail",
    "ip",
    "user_agent",
    "prev_hash",
)


def canonical_bytes(values: Mapping[str, Any]) -> bytes:
    record = {name: values[name] for name in HASHED_FIELDS}
    record["at"] = utc_iso(record["at"])
    return canonical_json(record)


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """The bytes a chained record is hashed over: sorted keys, no white space."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def utc_iso(moment: datetime) -> str:
    """A time as hashed: UTC to the microsecond, so the same instant read back in another zone
    is the same record."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(values)).hexdigest()


def audit_record(
    *,
    actor: AuditActor,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    agency_code: str | None = None,
    changed_fields: Iterable[str] = (),
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Call inside the transaction of the change it records."""
    meta = current_request_meta()
    if agency_code is None:
        agency_code = "" if isinstance(actor, SystemActor | AnonymousActor) else actor.agency.code
    with transaction.atomic():
        head_seq, head_hash = _locked_head()
        values: dict[str, Any] = {
            "seq": head_seq + 1,
            "at": timezone.now(),
            "actor_id": actor.pk,
            "actor_name": audit_name(actor),
            "agency_code": agency_code,
            "action": action,
            "object_type": object_type,
            "object_id": str(object_id),
            "changed_fields": sorted(changed_fields),
            "detail": dict(detail or {}),
            "ip": meta.ip,
            "user_agent": meta.user_agent,
            "prev_hash": head_hash,
        }
        event = AuditEvent(**values, hash=event_hash(values))
        _insert(event)
        _move_head(event.seq, event.hash)
    return event


_INSERTED_FIELDS = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]


def _insert(event: AuditEvent) -> None:
    """INSERT without the ORM's per-save machinery; fields still prepare their own values."""
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _INSERTED_FIELDS)
    marks = ", ".join(["%s"] * len(_INSERTED_FIELDS))
    params = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in _INSERTED_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO core_auditevent ({columns}) VALUES ({marks})", params)  # noqa: S608


def audit_permission_denied(*, actor: AuditActor, what: str) -> None:
    """A refused action (not a hidden object: those answer 404 and are not recorded)."""
    with transaction.atomic():
        audit_record(
            actor=actor, action="permission_denied", object_type="route", object_id=what[:64]
        )


def lock_chain() -> None:
    """Take the audit chain's lock for the rest of the caller's transaction: what is appended
    under it (custody events, say) is serialised with the audit events, in one lock order."""
    if not connection.in_atomic_block:
        raise RuntimeError("lock_chain() holds the lock only inside a transaction")
    if connection.features.has_select_for_update:
        _locked_head()
    elif connection.settings_dict.get("OPTIONS", {}).get("transaction_mode") != "IMMEDIATE":
        # SQLite has no row locks: a transaction that begins IMMEDIATE (settings) holds the
        # database's write lock from its start, which is the lock. Any other would not.
        raise RuntimeError("lock_chain() on SQLite needs transactions that begin IMMEDIATE")


def _locked_head() -> tuple[int, str]:
    """Read and lock the head row. Plain SQL: this runs once per audited write."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT seq, hash FROM core_audithead WHERE id = 1{lock}")  # noqa: S608
        row = cursor.fetchone()
    if row is None:  # the first event ever; the unique seq keeps racing first writers apart
        AuditHead.objects.get_or_create(pk=1, defaults={"hash": GENESIS_HASH})
        return _locked_head()
    return int(row[0]), str(row[1])


def _move_head(seq: int, digest: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_audithead SET seq = %s, hash = %s WHERE id = 1", [seq, digest])


def audit_head() -> tuple[int, str]:
    head = AuditHead.objects.filter(pk=1).first()
    return (head.seq, head.hash) if head else (0, GENESIS_HASH)


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


# What a stored value of the wrong type raises while its row is converted or hashed. SQLite keeps
# whatever type is written (a blob in a text column, text in an integer one, a time that is not
# one): that is a changed row, reported like any other rather than crashing the verifier.
_MALFORMED = (TypeError, ValueError, AttributeError)


def _events_in_order(batch_size: int) -> Iterator[dict[str, Any] | None]:
    """The events by sequence number; ``None`` in place of the rest once one cannot be read."""
    events = AuditEvent.objects.order_by("seq").values(*HASHED_FIELDS, "hash")
    rows, read = events.iterator(chunk_size=batch_size), 0
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except _MALFORMED:
            break
        read += 1
        yield row
    # SQLite's driver converts a whole batch as it fetches it, so a time that is not one spoils
    # the batch: read on one row at a time, to name the row that cannot be read.
    for pk in events.values_list("pk", flat=True)[read:]:
        try:
            row = events.get(pk=pk)
        except _MALFORMED:
            yield None
            return
        yield row


def audit_verify(
    *,
    expect_head: tuple[int, str] | None = None,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 5000,
) -> VerifyResult:
    """Recompute the whole chain. Reports the first sequence number where it breaks."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    for row in _events_in_order(batch_size):
        if row is None:
            return VerifyResult(
                checked, expected_seq, "a stored value cannot be read (the row was changed)"
            )
        problem = _link_problem(row, expected_seq, prev_hash)
        if problem:
            seq = row["seq"]
            at = seq if isinstance(seq, int) and seq < expected_seq else expected_seq
            return VerifyResult(checked, at, problem)
        checked += 1
        expected_seq, prev_hash = row["seq"] + 1, row["hash"]
        if progress and checked % batch_size == 0:
            progress(checked)
    if progress:
        progress(checked)
    return _check_tail(checked, expected_seq - 1, prev_hash, expect_head)


def _link_problem(row: Mapping[str, Any], expected_seq: int, prev_hash: str) -> str:
    if row["seq"] != expected_seq:
        return (
            f"expected sequence {expected_seq}, found {row['seq']} (a row was removed or inserted)"
        )
    if row["prev_hash"] != prev_hash:
        return "previous-hash link does not match (a row was removed, inserted or reordered)"
    try:
        digest = event_hash(row)
    except _MALFORMED:
        return "a value has the wrong type (the row was changed)"
    if digest != row["hash"]:
        return "contents do not match their hash (the row was changed)"
    return ""


def _check_tail(
    checked: int, last_seq: int, last_hash: str, expect_head: tuple[int, str] | None
) -> VerifyResult:
    head_seq, head_hash = audit_head()
    if (head_seq, head_hash) != (last_seq, last_hash):
        if head_seq == last_seq:
            reason = f"event {last_seq} does not match the head row's hash"
        else:
            reason = f"chain ends at {last_seq} but the head row says {head_seq!r}"
        at = min(head_seq, last_seq) + 1 if isinstance(head_seq, int) else last_seq + 1
        return VerifyResult(checked, at, reason)
    if expect_head is not None:
        seq, digest = expect_head
        if seq > last_seq:
            return VerifyResult(
                checked, last_seq + 1, f"published head {seq} is past the chain's end {last_seq}"
            )
        found = AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first()
        if found != digest:
            return VerifyResult(checked, seq, f"event {seq} does not match the published head hash")
    return VerifyResult(checked)
