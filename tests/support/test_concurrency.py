"""Two caseworkers editing one record: the second save is refused with what changed, and the
first one's work survives. Sequentially (any database) and truly at once, from two threads with
their own database connections (PostgreSQL row locks; SQLite's immediate transactions)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from django.db import connection

from saebom.accounts.models import Agency, User
from saebom.core.audit import audit_verify
from saebom.core.models import AuditEvent
from saebom.core.versioning import StaleVersion
from saebom.registry.models import Person
from saebom.support import services
from saebom.support.models import Case, FollowUp, Goal, Service


@pytest.fixture
def caseworker(make_staff: Callable[..., User]) -> User:
    """Alice of conftest, without password hashing or TOTP: these tests never sign in."""
    return make_staff(username="alice")


def changed(error: StaleVersion) -> dict[str, tuple[Any, Any]]:
    return {c.field: (c.then, c.now) for c in error.changes}


def updates() -> int:
    return AuditEvent.objects.filter(action="update").count()


# --- one after the other -----------------------------------------------------------------------


@pytest.mark.django_db
def test_stale_case_save_is_refused_and_nothing_is_lost(
    caseworker: User, colleague: User, open_case: Case
) -> None:
    alices, daves = Case.objects.get(pk=open_case.pk), Case.objects.get(pk=open_case.pk)
    services.case_update(
        actor=caseworker, case=alices, expected_version=1, status="active", household_size=3
    )
    with pytest.raises(StaleVersion) as stale:
        services.case_update(
            actor=colleague,
            case=daves,
            expected_version=1,
            household_size=2,
            closed_on=date(2025, 1, 1),
        )
    error = stale.value
    assert changed(error) == {"status": ("open", "active"), "household_size": (1, 3)}
    assert error.current == 2 and error.status == 409
    message = str(error)
    assert "your version 1, now 2" in message and "Nothing of yours was saved" in message
    # coded values by their labels
    assert "household_size: '1' → '3'" in message and "status: 'Open' → 'Active'" in message
    case = Case.objects.get(pk=open_case.pk)
    assert (case.status, case.household_size, case.closed_on, case.version) == (
        "active",
        3,
        None,
        2,
    )
    assert updates() == 1  # the refused save left no audit event
    # Reloaded, Dave's change applies on top of Alice's.
    services.case_update(actor=colleague, case=case, expected_version=2, household_size=2)
    case = Case.objects.get(pk=open_case.pk)
    assert (case.status, case.household_size, case.version) == ("active", 2, 3)


@pytest.mark.django_db
def test_conflict_after_two_saves_names_everything_changed_since(
    caseworker: User, open_case: Case
) -> None:
    services.case_update(actor=caseworker, case=open_case, expected_version=1, status="active")
    services.case_update(actor=caseworker, case=open_case, expected_version=2, household_size=4)
    with pytest.raises(StaleVersion) as stale:
        services.case_update(actor=caseworker, case=open_case, expected_version=1, status="closed")
    assert changed(stale.value) == {"status": ("open", "active"), "household_size": (1, 4)}
    assert stale.value.current == 3
    assert Case.objects.get(pk=open_case.pk).status == "active"


@pytest.mark.django_db
def test_extension_meanwhile_makes_an_edit_stale(caseworker: User, open_case: Case) -> None:
    services.protection_extend(
        actor=caseworker,
        case=open_case,
        decided_on=date(2028, 6, 1),
        new_end=date(2030, 1, 15),
        reason="threats",
    )
    with pytest.raises(StaleVersion) as stale:
        services.case_update(actor=caseworker, case=open_case, expected_version=1, household_size=2)
    assert changed(stale.value) == {"protection_end": (date(2029, 1, 15), date(2030, 1, 15))}
    assert Case.objects.get(pk=open_case.pk).protection_end == date(2030, 1, 15)


@pytest.mark.django_db
def test_version_from_the_future_is_refused(caseworker: User, open_case: Case) -> None:
    with pytest.raises(StaleVersion) as stale:
        services.case_update(actor=caseworker, case=open_case, expected_version=7, status="active")
    assert stale.value.current == 1
    assert Case.objects.get(pk=open_case.pk).status == "open"


@pytest.mark.django_db
def test_stale_service_follow_up_and_goal_saves(
    caseworker: User, colleague: User, open_case: Case
) -> None:
    service = services.service_add(actor=caseworker, case=open_case, kind="counselling")
    services.service_update(
        actor=caseworker, service=service, expected_version=1, status="in_progress"
    )
    with pytest.raises(StaleVersion) as stale:
        services.service_update(
            actor=colleague, service=service, expected_version=1, status="cancelled"
        )
    assert changed(stale.value) == {"status": ("planned", "in_progress")}
    assert Service.objects.get().status == "in_progress"

    followup = services.followup_schedule(
        actor=caseworker, case=open_case, due_on=date(2025, 3, 1), channel="phone"
    )
    services.followup_update(
        actor=caseworker, followup=followup, expected_version=1, due_on=date(2025, 3, 8)
    )
    with pytest.raises(StaleVersion) as stale:
        services.followup_update(
            actor=colleague, followup=followup, expected_version=1, status="missed"
        )
    assert changed(stale.value) == {"due_on": (date(2025, 3, 1), date(2025, 3, 8))}
    assert FollowUp.objects.get().status == "scheduled"

    goal = services.goal_add(
        actor=caseworker, case=open_case, domain="employment", description="a first job"
    )
    services.goal_update(
        actor=caseworker, goal=goal, expected_version=1, description="a job in logistics"
    )
    with pytest.raises(StaleVersion) as stale:
        services.goal_update(actor=colleague, goal=goal, expected_version=1, status="dropped")
    assert changed(stale.value) == {"description": ("a first job", "a job in logistics")}
    goal = Goal.objects.get()
    assert (goal.description, goal.status, goal.version) == ("a job in logistics", "open", 2)
    assert audit_verify().ok


# --- at the same time, from two connections ------------------------------------------------


def _hold_the_lock_until_the_other_waits(
    monkeypatch: pytest.MonkeyPatch, overlapped: threading.Event
) -> None:
    """Whoever gets the row first keeps its transaction open until the other save is waiting
    for it: on PostgreSQL until the other connection shows up as blocked on a lock; on SQLite
    (where the other is parked inside sqlite3's busy handler, out of sight) for a moment."""
    real = services.check_version

    def lingering(locked: Any, expected: int, fields: Any, vocabularies: Any = None) -> None:
        real(locked, expected, fields, vocabularies)  # the loser raises here, after the winner
        if connection.vendor != "postgresql":
            time.sleep(0.3)
            overlapped.set()
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                # Activity is read once per transaction unless the snapshot is dropped.
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
                )
                if cursor.fetchone()[0]:
                    overlapped.set()
                    return
            time.sleep(0.01)

    monkeypatch.setattr(services, "check_version", lingering)


def _race(saves: dict[str, Callable[[], object]]) -> dict[str, object]:
    """Run each save in its own thread (own connection), released together by a barrier."""
    barrier = threading.Barrier(len(saves))
    results: dict[str, object] = {}

    def run(name: str, save: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            save()
            results[name] = "saved"
        except Exception as error:  # handed to the test thread
            results[name] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in saves.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def _staff(agency: Agency, name: str) -> User:
    from tests.factories import UserFactory

    return UserFactory(username=name, agency=agency, password=None, with_totp=False)


@pytest.mark.django_db(transaction=True)
def test_concurrent_case_saves_one_wins_the_other_is_told(
    monkeypatch: pytest.MonkeyPatch, agency: Agency, person: Person
) -> None:
    alice, dave = _staff(agency, "alice"), _staff(agency, "dave")
    case = services.case_open(actor=alice, person=person, protection_start=date(2024, 1, 15))
    overlapped = threading.Event()
    _hold_the_lock_until_the_other_waits(monkeypatch, overlapped)
    changes = {"alice": {"household_size": 3, "status": "active"}, "dave": {"household_size": 5}}
    actors = {"alice": alice, "dave": dave}

    def save(name: str) -> Callable[[], object]:
        mine = Case.objects.get(pk=case.pk)  # each opened the record at version 1
        return lambda: services.case_update(
            actor=actors[name], case=mine, expected_version=1, **changes[name]
        )

    results = _race({name: save(name) for name in actors})
    assert overlapped.is_set()
    assert sorted(str(type(r).__name__) for r in results.values()) == ["StaleVersion", "str"]
    winner = next(name for name, r in results.items() if r == "saved")
    loser = next(name for name in results if name != winner)
    error = results[loser]
    assert isinstance(error, StaleVersion) and error.current == 2
    expected = {"household_size": (1, changes[winner]["household_size"])}
    if winner == "alice":
        expected["status"] = ("open", "active")
    assert changed(error) == expected
    stored = Case.objects.get(pk=case.pk)
    assert stored.version == 2
    assert stored.household_size == changes[winner]["household_size"]
    assert stored.status == changes[winner].get("status", "open")
    assert list(stored.history.values_list("version", flat=True).order_by("history_id")) == [1, 2]
    update = AuditEvent.objects.get(action="update")
    assert update.actor_name == winner
    assert audit_verify().ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_service_saves_one_wins_the_other_is_told(
    monkeypatch: pytest.MonkeyPatch, agency: Agency, person: Person
) -> None:
    alice, dave = _staff(agency, "alice"), _staff(agency, "dave")
    case = services.case_open(actor=alice, person=person)
    service = services.service_add(actor=alice, case=case, kind="counselling", note="first")
    overlapped = threading.Event()
    _hold_the_lock_until_the_other_waits(monkeypatch, overlapped)
    changes = {
        "alice": {"status": "in_progress", "note": "weekly sessions"},
        "dave": {"status": "cancelled"},
    }
    actors = {"alice": alice, "dave": dave}

    def save(name: str) -> Callable[[], object]:
        mine = Service.objects.select_related("case").get(pk=service.pk)
        return lambda: services.service_update(
            actor=actors[name], service=mine, expected_version=1, **changes[name]
        )

    results = _race({name: save(name) for name in actors})
    assert overlapped.is_set()
    winner = next(name for name, r in results.items() if r == "saved")
    error = next(r for r in results.values() if r != "saved")
    assert isinstance(error, StaleVersion), error
    expected = {"status": ("planned", changes[winner]["status"])}
    if winner == "alice":
        expected["note"] = ("first", "weekly sessions")
    assert changed(error) == expected
    stored = Service.objects.get(pk=service.pk)
    assert (stored.status, stored.version) == (changes[winner]["status"], 2)
    assert stored.note == changes[winner].get("note", "first")
    assert AuditEvent.objects.filter(action="update", object_type="service").count() == 1
    assert audit_verify().ok


@pytest.mark.django_db
def test_the_conflict_names_what_a_reference_now_points_to(
    caseworker: User, open_case: Case, other_agency: Agency
) -> None:
    """A changed provider reads as the agency's name, not as a database id."""
    service = services.service_add(actor=caseworker, case=open_case, kind="legal_aid")
    services.service_update(
        actor=caseworker, service=service, expected_version=1, provider_id=other_agency.pk
    )
    with pytest.raises(StaleVersion) as stale:
        services.service_update(
            actor=caseworker, service=service, expected_version=1, status="in_progress"
        )
    message = str(stale.value)
    assert f"provider: — → '{other_agency}'" in message and "provider_id" not in message
    assert changed(stale.value) == {"provider_id": (None, other_agency.pk)}  # data for the API
