from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from saebom.core.actors import system_actor
from saebom.core.audit import GENESIS_HASH, audit_head, audit_record, audit_verify, lock_chain
from saebom.core.models import AuditEvent, AuditHead
from tests.cli import run_cli


def record_events(count: int) -> None:
    for n in range(count):
        audit_record(
            actor=system_actor(),
            action="create",
            object_type="thing",
            object_id=n,
            changed_fields=["name", "born"],
            detail={"n": n},
        )


def drop_guard() -> None:
    """What an attacker with database access does first: remove the append-only trigger."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER IF EXISTS core_auditevent_append_only ON core_auditevent")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS core_auditevent_no_update")


def execute(sql: str, params: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


@pytest.mark.django_db
def test_chain_links_each_event_to_the_previous() -> None:
    record_events(3)
    events = list(AuditEvent.objects.order_by("seq"))
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    assert audit_head() == (3, events[2].hash)
    assert audit_verify().ok and audit_verify().checked == 3


@pytest.mark.django_db
def test_actor_and_request_facts_recorded_without_values() -> None:
    event = audit_record(
        actor=system_actor(),
        action="view_identifiers",
        object_type="person",
        object_id="P-7K3M9Q",
        changed_fields=["name_ko"],
    )
    assert event.actor_name.startswith("system:") and event.actor_id is None
    assert event.changed_fields == ["name_ko"]
    assert event.user_agent == "saebom-cli"


@pytest.mark.django_db
def test_database_refuses_updates_to_events() -> None:
    record_events(1)
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        execute("UPDATE core_auditevent SET action = 'x'")


@pytest.mark.django_db
def test_edit_is_detected_at_its_row() -> None:
    record_events(5)
    drop_guard()
    execute("UPDATE core_auditevent SET object_id = 'forged' WHERE seq = 3")
    result = audit_verify()
    assert not result.ok and result.first_bad_seq == 3 and "changed" in result.reason


@pytest.mark.django_db
def test_deletion_is_detected() -> None:
    record_events(5)
    drop_guard()
    execute("DELETE FROM core_auditevent WHERE seq = 2")
    result = audit_verify()
    assert not result.ok and result.first_bad_seq == 2


@pytest.mark.django_db
def test_tail_deletion_is_detected_by_the_head() -> None:
    record_events(5)
    drop_guard()
    execute("DELETE FROM core_auditevent WHERE seq = 5")
    result = audit_verify()
    assert not result.ok and result.first_bad_seq == 5


@pytest.mark.django_db
def test_tail_deletion_with_forged_head_is_caught_by_published_head() -> None:
    record_events(5)
    published = audit_head()
    drop_guard()
    fourth = AuditEvent.objects.get(seq=4)
    execute("DELETE FROM core_auditevent WHERE seq = 5")
    execute("UPDATE core_audithead SET seq = 4, hash = %s", [fourth.hash])
    assert audit_verify().ok  # without an outside reference, truncation cannot be seen
    result = audit_verify(expect_head=published)
    assert not result.ok and result.first_bad_seq == 5


@pytest.mark.django_db
def test_swapped_rows_are_detected() -> None:
    record_events(5)
    drop_guard()
    execute("UPDATE core_auditevent SET seq = 1000 WHERE seq = 2")
    execute("UPDATE core_auditevent SET seq = 2 WHERE seq = 3")
    execute("UPDATE core_auditevent SET seq = 3 WHERE seq = 1000")
    result = audit_verify()
    assert not result.ok and result.first_bad_seq == 2


@pytest.mark.django_db
def test_inserted_row_is_detected() -> None:
    record_events(3)
    drop_guard()
    execute("UPDATE core_auditevent SET seq = seq + 10 WHERE seq >= 3")
    last = AuditEvent.objects.get(seq=2)
    execute(
        "INSERT INTO core_auditevent (seq, at, actor_name, agency_code, action, object_type,"
        " object_id,"
        " changed_fields, detail, ip, user_agent, prev_hash, hash) VALUES"
        " (3, %s, 'mallory', '', 'login', '', '', '[]', '{}', '', '', %s, %s)",
        [last.at, last.hash, "f" * 64],
    )
    result = audit_verify()
    assert not result.ok and result.first_bad_seq == 3


@pytest.mark.django_db
def test_sequence_numbers_are_unique() -> None:
    record_events(1)
    first = AuditEvent.objects.get(seq=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEvent.objects.create(
            seq=1, at=first.at, actor_name="x", action="x", prev_hash="0", hash="1"
        )


@pytest.mark.django_db(transaction=True)
def test_cli_verify_names_the_tampered_row() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the CLI subprocess reads the SQLite test database file")
    record_events(4)
    drop_guard()
    execute("UPDATE core_auditevent SET action = 'export' WHERE seq = 2")
    proc = run_cli("audit", "verify")
    assert proc.returncode == 1
    assert "broken at event 2" in proc.stderr


@pytest.mark.django_db
def test_lock_chain_is_a_lock_on_either_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: the head row, locked FOR UPDATE (made first if need be). SQLite has no row
    locks: the lock is the write lock an IMMEDIATE transaction takes as it begins, so without
    that transaction mode lock_chain() refuses rather than lock nothing."""
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", {})
    AuditHead.objects.all().delete()
    with transaction.atomic():
        if connection.vendor == "sqlite":
            with pytest.raises(RuntimeError, match="IMMEDIATE"):
                lock_chain()
        else:
            lock_chain()
            assert AuditHead.objects.filter(pk=1, seq=0, hash=GENESIS_HASH).exists()
