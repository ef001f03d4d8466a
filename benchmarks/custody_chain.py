"""Chains of custody: appending a chained event, and verifying every chain, against bare versions.

Append. Saebom's path is what ``services.evidence_open`` does short of reading the file: in one
transaction, ``custody.append`` (take the audit chain's lock, read the file's last event, hash
the new one over the record and the note's HMAC, insert it) and ``audit_record`` with the file's
new head in its detail. The baseline is the same transaction as it was before chaining: insert
the custody event with the ORM, no lock taken first, no last event read, no hash, and the same
``audit_record`` without the head. Each path appends to its own half of the files (the
baseline's events are not chained, so they must not join a chain), in alternating blocks.

Verify. Saebom's ``custody.verify`` reads every record, the uploads and heads the audit chain
recorded, every link to a testimony (half the files have one) and its ``link_evidence`` event,
and every custody event through the ORM (decrypting each note), and checks each chain link by
link. The baseline reads the same custody rows with one raw SELECT
joined to their records, decrypts each note with the field's own code and recomputes the same
hashes in a tight loop: the floor of "recompute every hash", without the checks against the
audit chain. The fastest of several passes counts.

    .venv/bin/python benchmarks/custody_chain.py [--scale F] [--database sqlite|postgres]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from harness import Timing, chain_args, print_rates, scratch_django, timed

FULL_SCALE_EVENTS = 10_000
EVENTS_PER_FILE = 50
TARGET_APPEND = 1.50
TARGET_VERIFY = 2.00
SCRATCH_DATABASE = "saebom_bench_custody"


def make_files(count: int) -> tuple[Any, list[Any]]:
    """``count`` evidence files of one agency, uploaded through the service (so with their
    ``received`` and ``uploaded`` links), every other one linked to a testimony."""

    from saebom.accounts.models import Agency, User
    from saebom.core.policy import Role
    from saebom.testimony import services

    agency = Agency.objects.create(code="bench", name_ko="벤치", name_en="Bench")
    actor = User.objects.create(username="dora", agency=agency, role=Role.DOCUMENTER)
    files = [
        services.evidence_upload(
            actor=actor,
            filename=f"statement-{n}.txt",
            data=f"synthetic statement {n}\n".encode(),
            received_from="",
            received_on=None,
            description="",
        )
        for n in range(count)
    ]
    testimony = services.testimony_create(
        actor=actor,
        interview_date=date(2024, 5, 2),
        language="ko",
        summary="synthetic testimony for the benchmark",
        consent_scope="internal",
        consent_given_on=date(2024, 5, 2),
    )
    for evidence in files[::2]:
        services.evidence_link(actor=actor, evidence=evidence, testimony=testimony)
    return actor, files


def saebom_append(actor: Any, evidence: Any) -> None:
    from django.db import transaction

    from saebom.core.audit import audit_record
    from saebom.testimony import custody

    with transaction.atomic():
        event = custody.append(evidence=evidence, action="viewed", actor=actor, note="")
        audit_record(
            actor=actor,
            action="view",
            object_type="evidence_file",
            object_id=evidence.public_id,
            detail={"custody": custody.heads([event])},
        )


def baseline_append(actor: Any, evidence: Any, seq: int) -> None:
    """Before chaining: the event inserted as it stood (``seq`` only to keep it unique)."""
    from django.db import transaction

    from saebom.core.audit import audit_record
    from saebom.testimony.models import CustodyEvent

    with transaction.atomic():
        CustodyEvent.objects.create(
            evidence=evidence,
            seq=seq,
            action="viewed",
            actor_id=actor.pk,
            actor_name=actor.username,
            agency_code=evidence.agency.code,
            note="",
            prev_hash="",
            hash="",
        )
        audit_record(
            actor=actor, action="view", object_type="evidence_file", object_id=evidence.public_id
        )


def measure_append(actor: Any, files: list[Any], per_file: int, rounds: int) -> dict[str, Timing]:
    """Saebom's events on the first half of the files, the baseline's on the second half (its
    events are not chained: they must not share a chain with Saebom's), in alternating blocks."""
    half = len(files) // 2
    ours, theirs = files[:half], files[half:]
    totals = {"saebom": Timing(), "baseline": Timing()}
    block = -(-per_file // rounds)
    done = 0
    while done < per_file:
        step = min(block, per_file - done)

        def run_saebom(step: int = step) -> None:
            for _ in range(step):
                for evidence in ours:
                    saebom_append(actor, evidence)

        def run_baseline(step: int = step, done: int = done) -> None:
            for k in range(step):
                for evidence in theirs:
                    baseline_append(actor, evidence, 1_000_000 + done + k)

        totals["saebom"].add(timed(run_saebom))
        totals["baseline"].add(timed(run_baseline))
        done += step
    return totals


def remove_baseline_events(files: list[Any]) -> None:
    """The baseline's unchained events go before verifying (on PostgreSQL the append-only guard
    refuses DELETE, so it is lifted for the moment)."""
    from django.db import connection, transaction

    from saebom.testimony.models import CustodyEvent

    table = "testimony_custodyevent"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
            CustodyEvent.objects.filter(seq__gte=1_000_000).delete()
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
        else:
            CustodyEvent.objects.filter(seq__gte=1_000_000).delete()
    del files


def saebom_verify() -> int:
    from saebom.testimony import custody
    from saebom.testimony.models import CustodyEvent

    problems = custody.verify()
    if problems:
        raise SystemExit(f"custody.verify found problems: {problems[:3]}")
    return CustodyEvent.objects.count()


def baseline_verify() -> int:
    from django.db import connection

    from saebom.core.audit import GENESIS_HASH
    from saebom.testimony import custody
    from saebom.testimony.models import CustodyEvent

    note_field = CustodyEvent._meta.get_field("note")
    query = (
        "SELECT e.public_id, e.sha256, a.code, e.display_name, e.media_type, e.size,"
        " e.is_working_copy, o.public_id, e.uploaded_at, c.seq, c.action, c.actor_id,"
        " c.actor_name, c.agency_code, c.at, c.note, c.prev_hash, c.hash"
        " FROM testimony_custodyevent c"
        " JOIN testimony_evidencefile e ON e.id = c.evidence_id"
        " JOIN accounts_agency a ON a.id = e.agency_id"
        " LEFT JOIN testimony_evidencefile o ON o.id = e.original_id"
        " ORDER BY c.evidence_id, c.seq"
    )
    at_column = CustodyEvent._meta.get_field("at").get_col(CustodyEvent._meta.db_table)
    converters = connection.ops.get_db_converters(at_column)

    def moment(value: Any) -> Any:  # SQLite gives text, PostgreSQL a datetime
        for convert in converters:
            value = convert(value, at_column, connection)
        return value

    checked, last_file, prev = 0, None, GENESIS_HASH
    with connection.cursor() as cursor:
        cursor.execute(query)
        for row in cursor.fetchall():
            identity = dict(zip(custody.IDENTITY, row[:9], strict=True))
            identity["uploaded_at"] = moment(identity["uploaded_at"])
            identity["is_working_copy"] = bool(identity["is_working_copy"])
            at = moment(row[14])
            event = _Row(row[9], row[10], row[11], row[12], row[13], at, "", row[16])
            event.note = note_field.from_db_value(row[15], None, connection) or ""
            if identity["public_id"] != last_file:
                last_file, prev = identity["public_id"], GENESIS_HASH
            if event.prev_hash != prev or custody.hash_of(event, identity) != row[17]:
                raise SystemExit(f"baseline: chain of {last_file} broken at {event.seq}")
            prev = row[17]
            checked += 1
    return checked


@dataclass
class _Row:
    seq: int
    action: str
    actor_id: int | None
    actor_name: str
    agency_code: str
    at: Any
    note: str
    prev_hash: str


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


def run_benchmark(count: int, rounds: int, repeats: int) -> None:
    from django.db import connection

    files_count = max(2, 2 * round(count / EVENTS_PER_FILE / 2))
    per_file = max(1, count // files_count)
    actor, files = make_files(files_count)
    appended = per_file * (files_count // 2)
    print(
        f"custody_chain on {connection.vendor}: {files_count} files; append {appended:,} events "
        f"per path in {rounds} alternating blocks, verify fastest of {repeats}"
    )
    append = measure_append(actor, files, per_file, rounds)
    remove_baseline_events(files)
    from saebom.testimony.models import CustodyEvent

    verify = measure_verify(CustodyEvent.objects.count(), repeats)
    append_ratio = print_rates("append", appended, append)
    verify_ratio = print_rates("verify", CustodyEvent.objects.count(), verify)
    print(f"RESULT custody_append ratio={append_ratio:.2f} target={TARGET_APPEND:.2f}")
    print(f"RESULT custody_verify ratio={verify_ratio:.2f} target={TARGET_VERIFY:.2f}")


def main(argv: Sequence[str] | None = None) -> None:
    args = chain_args(
        argv, __doc__ or "", scale_help="1.0 = 200 files, 5,000 appends per path", repeats=3
    )
    count = max(1, round(FULL_SCALE_EVENTS * args.scale))
    with scratch_django(args.database, SCRATCH_DATABASE):
        run_benchmark(count, args.rounds, args.repeats)


if __name__ == "__main__":
    main()
