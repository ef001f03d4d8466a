"""Audit chain append and verify: Saebom's audit_record / audit_verify against a bare hash chain.

Append. Saebom's ``audit_record`` runs one transaction per event: SELECT the head row FOR
UPDATE (a no-op lock on SQLite, which serialises writers with BEGIN IMMEDIATE instead), build
the canonical JSON, SHA-256 it, INSERT the event through the ORM and UPDATE the head row. The
baseline builds the same canonical JSON and SHA-256 and INSERTs the same columns into the same
table with a raw DB-API cursor, also one transaction (and so one commit) per event, but keeps
the previous hash and sequence number in process memory: no head row, no lock, no ORM. That
is only correct with a single writer; it is the floor of "hash, insert, commit". Both chains
grow in the same table in alternating blocks (the baseline numbers its events from 10**12), so
load from other processes and the table's growth fall on both alike; the baseline's rows are
removed before verifying.

Verify. Saebom's ``audit_verify`` streams the rows through the ORM (``values().iterator()``),
recomputes every hash and link, then checks the head row. The baseline runs one raw SELECT of
the same columns in sequence order and recomputes the chain in a tight loop (no head check).
Both verify the same rows, the ones Saebom appended; the fastest of several passes counts.

    .venv/bin/python benchmarks/audit_chain.py [--scale F] [--database sqlite|postgres]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from harness import Timing, chain_args, print_rates, scratch_django, timed

FULL_SCALE_EVENTS = 10_000
WARMUP_EVENTS = 200
BASELINE_SEQ_OFFSET = 1_000_000_000_000
TARGET_APPEND = 3.00
TARGET_VERIFY = 1.50
SCRATCH_DATABASE = "saebom_bench_audit"
GENESIS_HASH = "0" * 64
PG_TRIGGER = "core_auditevent_append_only"


def audit_columns() -> tuple[str, ...]:
    """The audit table's columns, hashed ones first, as Saebom defines them."""
    from saebom.core.audit import HASHED_FIELDS

    return (*HASHED_FIELDS, "hash")


ACTIONS = (
    ("view_identifiers", "person", (), {"reason": "사례 검토"}),
    ("update", "person", ("born", "name"), {}),
    ("create", "arrival", ("arrived_on", "person"), {"source": "intake"}),
    ("referral_accept", "referral", ("status",), {"from": "hana-seoul", "to": "nk-support-bu"}),
)


@dataclass(frozen=True)
class Event:
    action: str
    object_type: str
    object_id: str
    changed_fields: tuple[str, ...]
    detail: dict[str, Any]


def make_events(count: int) -> list[Event]:
    events = []
    for n in range(count):
        action, object_type, changed, detail = ACTIONS[n % len(ACTIONS)]
        events.append(Event(action, object_type, str(100_000 + n), changed, dict(detail)))
    return events


# --- Django and the scratch database ----------------------------------------------------------


def raw_connection() -> Any:
    from django.db import connection

    connection.ensure_connection()
    return connection.connection


def vendor() -> str:
    from django.db import connection

    return str(connection.vendor)


def clear_chain() -> None:
    """Empty the chain between runs; the append-only trigger allows TRUNCATE / SQLite DELETE."""
    cursor = raw_connection().cursor()
    if vendor() == "postgresql":
        cursor.execute("TRUNCATE core_auditevent, core_audithead")
    else:
        cursor.execute("DELETE FROM core_auditevent")
        cursor.execute("DELETE FROM core_audithead")
        cursor.execute("VACUUM")
    cursor.close()


def write_head(seq: int, digest: str) -> None:
    from saebom.core.models import AuditHead

    AuditHead.objects.update_or_create(pk=1, defaults={"seq": seq, "hash": digest})


# --- the bare chain ---------------------------------------------------------------------------


def canonical(record: dict[str, Any]) -> bytes:
    hashed = {**record, "at": utc_iso(record["at"])}
    return json.dumps(hashed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def insert_sql() -> str:
    mark = "%s" if vendor() == "postgresql" else "?"
    names = ", ".join(audit_columns())
    return (
        f"INSERT INTO core_auditevent ({names}) VALUES ({', '.join([mark] * len(audit_columns()))})"
    )


def stored_row(record: dict[str, Any], digest: str, postgres: bool) -> list[Any]:
    """Column values as Django stores them: SQLite gets naive UTC text, JSON goes as text."""
    at = record["at"]
    stored = {
        **record,
        "at": at if postgres else str(at.replace(tzinfo=None)),
        "changed_fields": json.dumps(record["changed_fields"]),
        "detail": json.dumps(record["detail"]),
        "hash": digest,
    }
    return [stored[name] for name in audit_columns()]


@dataclass
class BareChain:
    """The baseline's chain state, kept in memory instead of a locked head row."""

    seq: int = 0
    prev_hash: str = GENESIS_HASH

    def append(self, events: Sequence[Event]) -> None:
        postgres = vendor() == "postgresql"
        begin, sql = ("BEGIN" if postgres else "BEGIN IMMEDIATE"), insert_sql()
        actor_name = system_actor_name()
        cursor = raw_connection().cursor()
        for event in events:
            self.seq += 1
            record = {
                "seq": self.seq,
                "at": datetime.now(UTC),
                "actor_id": None,
                "actor_name": actor_name,
                "agency_code": "",
                "action": event.action,
                "object_type": event.object_type,
                "object_id": event.object_id,
                "changed_fields": sorted(event.changed_fields),
                "detail": event.detail,
                "ip": "",
                "user_agent": "saebom-cli",
                "prev_hash": self.prev_hash,
            }
            digest = hashlib.sha256(canonical(record)).hexdigest()
            cursor.execute(begin)
            cursor.execute(sql, stored_row(record, digest, postgres))
            cursor.execute("COMMIT")
            self.prev_hash = digest
        cursor.close()


def system_actor_name() -> str:
    from saebom.core.actors import system_actor

    return system_actor().audit_name


def parse_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def utc_iso(value: Any) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def baseline_rows(batch_size: int = 5000) -> Iterator[Sequence[Any]]:
    cursor = raw_connection().cursor()
    cursor.execute(f"SELECT {', '.join(audit_columns())} FROM core_auditevent ORDER BY seq")
    while rows := cursor.fetchmany(batch_size):
        yield from rows
    cursor.close()


def baseline_verify() -> int:
    names = audit_columns()[:-1]
    expected_seq, prev_hash, sha256 = 1, GENESIS_HASH, hashlib.sha256
    for row in baseline_rows():
        record = dict(zip(names, row, strict=False))
        record["changed_fields"] = parse_json(record["changed_fields"])
        record["detail"] = parse_json(record["detail"])
        digest = row[-1]
        if record["seq"] != expected_seq or record["prev_hash"] != prev_hash:
            raise SystemExit(f"baseline verify: broken link at {record['seq']}")
        if sha256(canonical(record)).hexdigest() != digest:
            raise SystemExit(f"baseline verify: hash mismatch at {record['seq']}")
        expected_seq, prev_hash = expected_seq + 1, digest
    return expected_seq - 1


# --- Saebom's chain ---------------------------------------------------------------------------


def saebom_append(events: Sequence[Event]) -> None:
    from saebom.core.actors import system_actor
    from saebom.core.audit import audit_record

    actor = system_actor()
    for event in events:
        audit_record(
            actor=actor,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            changed_fields=event.changed_fields,
            detail=event.detail,
        )


def saebom_verify() -> int:
    from saebom.core.audit import audit_verify

    result = audit_verify()
    if not result.ok:
        raise SystemExit(f"audit_verify failed at {result.first_bad_seq}: {result.reason}")
    return result.checked


def statement_kinds() -> str:
    """The SQL one steady-state ``audit_record`` sends (the head row already exists)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    saebom_append(make_events(1))
    with CaptureQueriesContext(connection) as queries:
        saebom_append(make_events(1))
    return ", ".join(query["sql"].split(" ", 1)[0] for query in queries)


# --- measuring --------------------------------------------------------------------------------


def blocks(events: Sequence[Event], rounds: int) -> list[Sequence[Event]]:
    size = -(-len(events) // rounds)
    return [events[i : i + size] for i in range(0, len(events), size)]


def measure_append(events: Sequence[Event], rounds: int) -> dict[str, Timing]:
    """Total time per path over alternating blocks, both chains growing in the same table."""
    warmup = events[: min(WARMUP_EVENTS, len(events))]
    saebom_append(warmup)
    BareChain(seq=BASELINE_SEQ_OFFSET).append(warmup)
    clear_chain()
    chain = BareChain(seq=BASELINE_SEQ_OFFSET)
    totals = {"saebom": Timing(), "baseline": Timing()}
    for block in blocks(events, rounds):
        totals["saebom"].add(timed(lambda block=block: saebom_append(block)))
        totals["baseline"].add(timed(lambda block=block: chain.append(block)))
    remove_baseline_rows()
    return totals


def remove_baseline_rows() -> None:
    """Scratch database only: PostgreSQL's append-only trigger is off for this one transaction."""
    from django.db import connection, transaction

    postgres = vendor() == "postgresql"
    with transaction.atomic(), connection.cursor() as cursor:
        if postgres:
            cursor.execute(f"ALTER TABLE core_auditevent DISABLE TRIGGER {PG_TRIGGER}")
        cursor.execute("DELETE FROM core_auditevent WHERE seq > %s", [BASELINE_SEQ_OFFSET])
        if postgres:
            cursor.execute(f"ALTER TABLE core_auditevent ENABLE TRIGGER {PG_TRIGGER}")


def measure_verify(count: int, repeats: int) -> dict[str, Timing]:
    runs: dict[str, Callable[[], int]] = {"saebom": saebom_verify, "baseline": baseline_verify}
    for path, run in runs.items():
        if run() != count:
            raise SystemExit(f"{path} verify did not check {count} events")
    samples: dict[str, list[Timing]] = {"saebom": [], "baseline": []}
    for _ in range(repeats):
        for path, run in runs.items():
            samples[path].append(timed(run))
    return {path: min(timings, key=lambda t: t.wall) for path, timings in samples.items()}


def cross_check_baseline_rows(events: Sequence[Event]) -> None:
    """Saebom's audit_verify accepts a chain written by the baseline: both write the same rows."""
    sample = events[: min(1000, len(events))]
    chain = BareChain()
    chain.append(sample)
    write_head(chain.seq, chain.prev_hash)
    if saebom_verify() != len(sample):
        raise SystemExit("audit_verify did not accept the baseline's chain")
    clear_chain()


def run_benchmark(count: int, rounds: int, repeats: int) -> None:
    events = make_events(count)
    cross_check_baseline_rows(events)
    print(f"audit_chain on {vendor()}: {count:,} events; append in {rounds} alternating blocks,")
    print(f"verify fastest of {repeats}; one audit_record sends: {statement_kinds()}")
    clear_chain()
    append = measure_append(events, rounds)
    verify = measure_verify(count, repeats)
    append_ratio = print_rates("append", count, append)
    verify_ratio = print_rates("verify", count, verify)
    print(f"RESULT audit_append ratio={append_ratio:.2f} target={TARGET_APPEND:.2f}")
    print(f"RESULT audit_verify ratio={verify_ratio:.2f} target={TARGET_VERIFY:.2f}")


def main(argv: Sequence[str] | None = None) -> None:
    args = chain_args(argv, __doc__ or "", scale_help="1.0 = 10,000 events", repeats=5)
    count = max(1, round(FULL_SCALE_EVENTS * args.scale))
    with scratch_django(args.database, SCRATCH_DATABASE):
        run_benchmark(count, args.rounds, args.repeats)


if __name__ == "__main__":
    main()
