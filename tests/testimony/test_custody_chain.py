"""Chains of custody are hash-chained and anchored in the audit chain, and evidence records are
checked against their uploads (docs/security.md, evidence files; ``testimony/custody.py``).

A store is built through the services: uploads in two agencies (one blob held by both), a
working copy, openings and downloads, and a JSON export listing files. Then every single change
that someone with write access to the database could make to a custody event or an evidence
record is made in turn, the append-only guard dropped first as such a person would, and rolled
back after: each column of each event changed, each event deleted, a forged event appended to
each chain with a correct link and hash, each chain's last event removed, each chain rewritten
from an edited event on with every later hash recomputed, each pair of neighbours swapped, each
record's SHA-256 pointed at another stored file (with and without its chain recomputed), a
record and its chain deleted, and a forged record with a correct chain inserted. The forger here
holds the key ring (the note's digest needs the index key): only the audit chain's anchors
stop them. ``saebom evidence verify`` must fail naming the file each time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from saebom.accounts.models import User
from saebom.core.actors import system_actor
from saebom.core.audit import GENESIS_HASH, audit_record, audit_verify
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.testimony import custody, exporting, services
from saebom.testimony.models import CustodyEvent, EvidenceFile
from tests.cli import evidence_verify

pytestmark = pytest.mark.django_db

TABLE = "testimony_custodyevent"
COLUMNS = ("seq", "action", "actor_id", "actor_name", "agency_code", "at", "note", "prev_hash")


def upload(actor: User, name: str, data: bytes) -> EvidenceFile:
    return services.evidence_upload(
        actor=actor,
        filename=name,
        data=data,
        received_from="Witness W-31, in person",
        received_on=date(2024, 6, 1),
        description="given at the interview",
    )


@pytest.fixture
def store(
    settings: Any,
    tmp_path: Path,
    make_user: Callable[..., User],
    other_documenter: User,
    make_testimony: Callable[..., Any],
) -> list[EvidenceFile]:
    settings.SAEBOM_EVIDENCE_DIR = tmp_path / "evidence"
    dora = make_user(Role.DOCUMENTER)
    statement = b"%PDF-1.7\nstatement of witness W-31\n%%EOF\n"
    files = [
        upload(dora, "statement.pdf", statement),
        upload(dora, "notes.txt", "증언 메모: 보위부 구금\n".encode()),
        upload(other_documenter, "statement.pdf", statement),  # one blob, two agencies
    ]
    files.append(
        services.evidence_working_copy(
            actor=dora, original=files[0], filename="redacted.txt", data=b"[redacted]\n"
        )
    )
    files.append(upload(other_documenter, "map.png", b"\x89PNG\r\n\x1a\n" + bytes(64)))
    testimony = make_testimony(dora, consent_scope="publish_anonymised")
    services.evidence_link(actor=dora, evidence=files[1], testimony=testimony)
    services.testimony_seal(actor=dora, testimony=testimony, expected_version=1)
    for evidence in (files[0], files[1], files[1], files[3]):
        services.evidence_open(actor=dora, evidence=evidence)
    services.evidence_download(actor=other_documenter, evidence=files[2])
    exporting.testimonies_export(actor=dora, scope="publish_anonymised")
    return files


def test_chains_built_by_the_services_verify(store: list[EvidenceFile]) -> None:
    chains = {
        e.public_id: list(CustodyEvent.objects.filter(evidence=e).values_list("seq", "action"))
        for e in store
    }
    assert chains[store[0].public_id] == [
        (1, "received"),
        (2, "uploaded"),
        (3, "copied"),
        (4, "viewed"),
    ]
    assert chains[store[1].public_id] == [
        (1, "received"),
        (2, "uploaded"),
        (3, "viewed"),
        (4, "viewed"),
        (5, "exported"),
    ]
    assert chains[store[3].public_id] == [(1, "uploaded"), (2, "viewed")]  # the working copy
    assert custody.verify() == []
    failed, report = evidence_verify()
    assert not failed, report
    assert "chains of custody and links to testimonies agree with the audit chain" in report
    assert audit_verify().ok
    export = AuditEvent.objects.get(action="export")
    last = CustodyEvent.objects.filter(evidence=store[1]).last()
    assert last is not None
    assert export.detail["custody"] == {store[1].public_id: f"5:{last.hash}"}


# -- tampering ------------------------------------------------------------------------------------


def sql(statement: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def drop_guard() -> None:
    if connection.vendor == "postgresql":
        sql(f"DROP TRIGGER {TABLE}_append_only ON {TABLE}")
    else:
        sql(f"DROP TRIGGER {TABLE}_append_only")


def events_of(evidence: EvidenceFile) -> list[CustodyEvent]:
    return list(CustodyEvent.objects.filter(evidence=evidence).order_by("seq"))


def store_hash(event: CustodyEvent, evidence: EvidenceFile) -> str:
    """The hash a forger holding the key ring computes for ``event`` as it now reads."""
    return custody.hash_of(event, custody.identity_of(evidence))


def fresh(evidence: EvidenceFile) -> EvidenceFile:
    return EvidenceFile.objects.select_related("agency", "original").get(pk=evidence.pk)


def set_columns(event: CustodyEvent, **values: Any) -> None:
    fields = {f.name: f for f in CustodyEvent._meta.concrete_fields}
    assignments = ", ".join(f"{fields[name].column} = %s" for name in values)
    params = [fields[name].get_db_prep_save(value, connection) for name, value in values.items()]
    sql(f"UPDATE {TABLE} SET {assignments} WHERE id = %s", [*params, event.pk])


def rechain(evidence: EvidenceFile, events: list[CustodyEvent], start: int = 0) -> None:
    """Relink and rehash ``events`` from position ``start`` on, as a forger covering a change
    in one file's chain does."""
    prev = events[start - 1].hash if start else GENESIS_HASH
    for position, event in enumerate(events[start:], start=start + 1):
        event.seq, event.prev_hash = position, prev
        event.hash = prev = store_hash(event, evidence)
        set_columns(event, seq=event.seq, prev_hash=event.prev_hash, hash=event.hash)


def changed(column: str, event: CustodyEvent) -> object:
    if column == "at":
        return event.at + timedelta(seconds=1)
    if column == "seq":
        return event.seq + 100
    if column == "actor_id":
        return (event.actor_id or 0) + 1
    if column == "action":
        return "viewed" if event.action != "viewed" else "downloaded"
    if column in ("prev_hash", "hash"):
        return "f" * 64
    return f"{getattr(event, column) or ''}x"


# what, the public id the report must name, the change: made to that file's record and chain
# as read afresh from the database (every case starts from the store as built).
Change = Callable[[EvidenceFile, list[CustodyEvent]], None]
Case = tuple[str, str, Change]


def cases(files: list[EvidenceFile]) -> Iterator[Case]:
    for evidence in files:
        yield from chain_cases(evidence)
        yield from record_cases(evidence, files)
    yield from deleted_and_forged_records(files)
    yield from link_cases(files)
    yield from unreadable_cases(files)


def delete_event(event: CustodyEvent) -> None:
    sql(f"DELETE FROM {TABLE} WHERE id = %s", [event.pk])


def chain_cases(evidence: EvidenceFile) -> Iterator[Case]:
    pid, length = evidence.public_id, len(events_of(evidence))
    for at in range(length):
        seq = at + 1
        for column in (*COLUMNS, "hash"):

            def edit(
                e: EvidenceFile, chain: list[CustodyEvent], at: int = at, c: str = column
            ) -> None:
                set_columns(chain[at], **{c: changed(c, chain[at])})

            yield f"{pid} event {seq}: {column} changed", pid, edit
            if column == "hash":
                continue

            def edit_and_rehash(
                e: EvidenceFile, chain: list[CustodyEvent], at: int = at, c: str = column
            ) -> None:
                event = chain[at]
                setattr(event, c, changed(c, event))
                event.hash = store_hash(event, e)
                set_columns(event, **{c: getattr(event, c), "hash": event.hash})

            yield f"{pid} event {seq}: {column} changed, its hash recomputed", pid, edit_and_rehash

        def delete(e: EvidenceFile, chain: list[CustodyEvent], at: int = at) -> None:
            delete_event(chain[at])

        yield f"{pid} event {seq} deleted", pid, delete

        def rewrite(e: EvidenceFile, chain: list[CustodyEvent], at: int = at) -> None:
            chain[at].actor_name = "someone else"
            set_columns(chain[at], actor_name=chain[at].actor_name)
            rechain(e, chain, at)

        yield f"{pid} rewritten from event {seq}, hashes recomputed", pid, rewrite

        def rewrite_without(e: EvidenceFile, chain: list[CustodyEvent], at: int = at) -> None:
            delete_event(chain.pop(at))
            rechain(e, chain, at)

        yield f"{pid} event {seq} deleted, the rest rechained", pid, rewrite_without

    def truncate(e: EvidenceFile, chain: list[CustodyEvent]) -> None:
        delete_event(chain[-1])

    yield f"{pid} last event removed", pid, truncate

    def append(e: EvidenceFile, chain: list[CustodyEvent]) -> None:
        last = chain[-1]
        forged = CustodyEvent(
            evidence=e,
            seq=last.seq + 1,
            action="viewed",
            actor_id=last.actor_id,
            actor_name=last.actor_name,
            agency_code=last.agency_code,
            at=last.at + timedelta(minutes=5),
            note="",
            prev_hash=last.hash,
        )
        forged.hash = store_hash(forged, e)
        forged.save(force_insert=True)

    yield f"{pid} forged event appended, linked and hashed", pid, append

    for at in range(length - 1):

        def swap(e: EvidenceFile, chain: list[CustodyEvent], at: int = at) -> None:
            first, second = chain[at], chain[at + 1]
            set_columns(first, seq=1_000_000)  # past the unique (file, seq) on the way
            set_columns(second, seq=first.seq)
            set_columns(first, seq=second.seq)

        yield f"{pid} events {at + 1} and {at + 2} swapped", pid, swap


def record_changes(evidence: EvidenceFile, files: list[EvidenceFile]) -> dict[str, Any]:
    """Each column of the record someone could change, and a value that the constraints
    still allow: another agency's blob, an agency that does not hold this blob, and so on."""
    held = {f.sha256 for f in files if f.agency_id == evidence.agency_id}
    changes: dict[str, Any] = {
        "sha256": next(f.sha256 for f in files if f.sha256 not in held),
        "display_name": f"x{evidence.display_name}",
        "media_type": "text/plain" if evidence.media_type != "text/plain" else "image/png",
        "size": evidence.size + 1,
        "uploaded_at": evidence.uploaded_at + timedelta(days=1),
    }
    holders = {f.agency_id for f in files if f.sha256 == evidence.sha256}
    elsewhere = [f.agency_id for f in files if f.agency_id not in holders]
    if elsewhere:
        changes["agency_id"] = elsewhere[0]
    if evidence.is_working_copy:  # a redacted copy passed off as the original
        changes["is_working_copy, original_id"] = (False, None)
    return changes


def record_cases(evidence: EvidenceFile, files: list[EvidenceFile]) -> Iterator[Case]:
    pid = evidence.public_id
    for columns, value in record_changes(evidence, files).items():
        names = columns.split(", ")
        values = list(value) if len(names) > 1 else [value]

        def change(
            e: EvidenceFile,
            chain: list[CustodyEvent],
            names: list[str] = names,
            values: Any = values,
        ) -> None:
            assignments = ", ".join(f"{name} = %s" for name in names)
            params = [*values, e.pk]
            sql(f"UPDATE testimony_evidencefile SET {assignments} WHERE id = %s", params)

        yield f"{pid} record: {columns} changed", pid, change

        def change_and_rechain(
            e: EvidenceFile, chain: list[CustodyEvent], c: Change = change
        ) -> None:
            c(e, chain)
            rechain(fresh(e), chain)

        yield f"{pid} record: {columns} changed, its chain recomputed", pid, change_and_rechain


def deleted_and_forged_records(files: list[EvidenceFile]) -> Iterator[Case]:
    unlinked = files[2]  # no copies, no testimonies: what goes with it is only its chain

    def delete_record(e: EvidenceFile, chain: list[CustodyEvent]) -> None:
        sql(f"DELETE FROM {TABLE} WHERE evidence_id = %s", [e.pk])
        sql("DELETE FROM testimony_evidencefile WHERE id = %s", [e.pk])

    yield f"{unlinked.public_id} record and chain deleted", unlinked.public_id, delete_record

    def forge_record(e: EvidenceFile | None, chain: list[CustodyEvent]) -> None:
        forged = EvidenceFile.objects.create(
            public_id="EFORGED00001",
            agency=files[0].agency,
            sha256=files[4].sha256,  # a blob only the other agency holds
            original_name="planted.txt",
            display_name="planted.txt",
            media_type="text/plain",
            size=1,
            uploaded_by=None,
        )
        event = CustodyEvent(
            evidence=forged,
            seq=1,
            action="uploaded",
            actor_name="dora",
            agency_code=files[0].agency.code,
            note="",
            prev_hash=GENESIS_HASH,
        )
        event.hash = store_hash(event, forged)
        event.save(force_insert=True)

    yield "a forged record with a well-formed chain", "EFORGED00001", forge_record
    if connection.vendor == "postgresql":  # SQLite cannot drop a constraint short of a rebuild
        twin = files[1]
        yield "a record cloned, its public id and chain too", twin.public_id, clone_record


def clone_record(e: EvidenceFile, chain: list[CustodyEvent]) -> None:
    """A second record with every value of ``e``'s, chain included, once the unique
    constraints that would refuse it are dropped."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # the store's deferred checks, before altering
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname FROM pg_constraint"
            " WHERE conrelid = 'testimony_evidencefile'::regclass AND contype = 'u'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE testimony_evidencefile DROP CONSTRAINT "{name}"')
    columns = ", ".join(f.column for f in EvidenceFile._meta.concrete_fields if not f.primary_key)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO testimony_evidencefile ({columns}) SELECT {columns}"
            " FROM testimony_evidencefile WHERE id = %s RETURNING id",
            [e.pk],
        )
        (twin,) = cursor.fetchone()
    event_columns = [
        f.column
        for f in CustodyEvent._meta.concrete_fields
        if not f.primary_key and f.column != "evidence_id"
    ]
    listed = ", ".join(event_columns)
    sql(
        f"INSERT INTO {TABLE} (evidence_id, {listed}) SELECT %s, {listed} FROM {TABLE}"
        " WHERE evidence_id = %s",
        [twin, e.pk],
    )


def link_cases(files: list[EvidenceFile]) -> Iterator[Case]:
    """The store links files[1] to a testimony: that link removed, and files[0] linked too."""
    through = EvidenceFile.testimonies.through
    linked, unlinked = files[1], files[0]

    def remove_link(e: EvidenceFile, chain: list[CustodyEvent]) -> None:
        through.objects.filter(evidencefile=e).delete()

    yield f"{linked.public_id} link to its testimony removed", linked.public_id, remove_link

    def add_link(e: EvidenceFile, chain: list[CustodyEvent]) -> None:
        testimony = through.objects.get(evidencefile=linked).testimony
        through.objects.create(evidencefile=e, testimony=testimony)

    yield f"{unlinked.public_id} linked to a testimony", unlinked.public_id, add_link


def unreadable_cases(files: list[EvidenceFile]) -> Iterator[Case]:
    """Values no service writes: a note that is not a ciphertext, a time that is not one
    (SQLite keeps any type), custody events of a record that does not exist (the foreign key
    is checked only at commit, and these roll back)."""
    pid = files[1].public_id

    def garbage_note(e: EvidenceFile, chain: list[CustodyEvent]) -> None:
        sql(f"UPDATE {TABLE} SET note = 'garbage' WHERE id = %s", [chain[1].pk])

    yield f"{pid} event 2: note not a ciphertext", pid, garbage_note
    if connection.vendor == "sqlite":

        def nonsense_time(e: EvidenceFile, chain: list[CustodyEvent]) -> None:
            sql(f"UPDATE {TABLE} SET at = 'nonsense' WHERE id = %s", [chain[0].pk])

        yield f"{pid} event 1: time not a time", pid, nonsense_time

    def stray_events(e: EvidenceFile | None, chain: list[CustodyEvent]) -> None:
        last = events_of(files[1])[-1]
        sql(f"UPDATE {TABLE} SET evidence_id = 999999 WHERE id = %s", [last.pk])

    yield f"{pid} last event moved to a record that does not exist", "", stray_events


class _Undo(Exception):
    pass


def test_every_change_to_a_custody_event_or_an_evidence_record_is_detected(
    store: list[EvidenceFile],
) -> None:
    assert not evidence_verify()[0]
    outcomes: dict[str, str] = {}
    count = 0
    for what, public_id, change in cases(store):
        count += 1
        try:
            with transaction.atomic():
                drop_guard()
                evidence = EvidenceFile.objects.filter(public_id=public_id).first()
                change(evidence, events_of(evidence) if evidence else [])
                failed, report = evidence_verify()
                problems = custody.verify()
                if not failed:
                    outcomes[what] = f"NOT DETECTED: {report.strip()}"
                elif public_id not in report or public_id not in {p.public_id for p in problems}:
                    outcomes[what] = f"report does not name {public_id}: {report.strip()}"
                raise _Undo
        except _Undo:
            pass
    print(f"\ncustody and evidence record tamperings: {count} cases, {len(outcomes)} missed")
    assert count > 250
    assert not outcomes, "\n".join(f"{what}: {why}" for what, why in outcomes.items())
    assert not evidence_verify()[0]  # every case was rolled back


def test_the_appendable_tail_is_the_last_anchored_head(store: list[EvidenceFile]) -> None:
    """An event appended without its audit event (a service bypassed) is reported even though
    it links and hashes correctly: the audit chain did not record it."""
    with transaction.atomic():
        custody.append(evidence=store[1], action="viewed", actor=system_actor())
    problems = custody.verify()
    assert [p.public_id for p in problems] == [store[1].public_id]
    reason = problems[0].reason
    assert "ends at event 6, not at the last head the audit chain recorded (5:" in reason


@pytest.mark.django_db(transaction=True)
def test_appending_outside_a_transaction_is_refused() -> None:
    """Outside a transaction the lock would be let go at once: two appends could read the same
    last event."""
    with pytest.raises(RuntimeError, match="inside a transaction"):
        custody.append(evidence=EvidenceFile(), action="viewed", actor=system_actor())
    assert not CustodyEvent.objects.exists()


# -- the migration that chained the events already stored -----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_chains_the_events_already_stored(settings: Any, tmp_path: Path) -> None:
    """Events recorded before chaining (at 0008) are chained in the order they were recorded,
    one audit event anchors every file's head, and the guard covers the new columns."""
    settings.SAEBOM_EVIDENCE_DIR = tmp_path / "evidence"
    before, after = [("testimony", "0008_searchable_index")], [("testimony", "0009_custody_chain")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before[0]).apps
    agency = old.get_model("accounts", "Agency").objects.create(
        code="legacy", name_ko="옛 기관", name_en="Legacy agency"
    )
    evidence_model = old.get_model("testimony", "EvidenceFile")
    event_model = old.get_model("testimony", "CustodyEvent")
    recorded = [("received", ""), ("uploaded", ""), ("copied", "E-COPY"), ("viewed", "")]
    start = date(2024, 1, 1)
    for n in range(3):
        evidence = evidence_model.objects.create(
            public_id=f"ELEGACY0000{n}",
            agency=agency,
            sha256=f"{n}" * 64,
            original_name="a.txt",
            display_name="a.txt",
            media_type="text/plain",
            size=1,
        )
        audit_record(
            actor=system_actor(),
            action="upload",
            object_type="evidence_file",
            object_id=evidence.public_id,
            # the third record was pointed at other content before its chain began
            detail={"sha256": evidence.sha256 if n < 2 else "f" * 64},
        )
        for minute, (action, note) in reversed(list(enumerate(recorded))):  # ids out of order
            event_model.objects.create(
                evidence=evidence,
                action=action,
                actor_name="legacy",
                note=note,
                at=f"{start.isoformat()}T09:{minute:02d}:00Z",
            )
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    chains = {
        e.public_id: list(CustodyEvent.objects.filter(evidence=e).values_list("seq", "action"))
        for e in EvidenceFile.objects.all()
    }
    assert chains == {
        f"ELEGACY0000{n}": [(i + 1, a) for i, (a, _) in enumerate(recorded)] for n in range(3)
    }
    anchor = AuditEvent.objects.get(action="custody_chained")
    assert sorted(anchor.detail["custody"]) == [f"ELEGACY0000{n}" for n in range(3)]
    assert anchor.actor_name.startswith("system:") and anchor.seq == 4
    assert [(p.public_id, p.reason) for p in custody.verify()] == [
        ("ELEGACY00002", "its SHA-256, size or type is not what was recorded when it was uploaded")
    ]
    assert audit_verify().ok
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        CustodyEvent.objects.filter(seq=1).update(seq=10)


def test_an_export_appends_custody_without_a_query_per_file_for_its_record(
    store: list[EvidenceFile],
) -> None:
    """Each exported file costs its last-link read, its insert and (PostgreSQL) the chain lock;
    its record's agency and original come with the files' query, not one by one."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    dora = store[1].uploaded_by
    assert dora is not None
    testimony = store[1].testimonies.get()

    def queries() -> int:
        with CaptureQueriesContext(db) as captured:
            exporting.testimonies_export(actor=dora, scope="publish_anonymised")
        return len(captured.captured_queries)

    one_file = queries()
    for evidence in (store[0], store[3]):  # an original and its working copy
        services.evidence_link(actor=dora, evidence=evidence, testimony=testimony)
    per_file = (queries() - one_file) / 2
    assert per_file <= (3 if db.vendor == "postgresql" else 2), per_file
