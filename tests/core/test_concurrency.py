"""Concurrency on PostgreSQL (issue 7, item 4): many people saving the same records at once, and
imports of overlapping files at once, lose nothing, duplicate nothing, and leave the audit chain
one unbroken line.

**Conflicting edits.** 54 editors, each in its own thread with its own database connection: 18
intake officers on one arrival, 18 caseworkers on one case, 18 documenters on one sealed
testimony. Each reads the record's version, waits at a barrier (so every first save starts from
the same version and they all collide) and saves a change of its own through the service, with
a value no other attempt uses. A refused editor reloads and saves again, as a person told
"someone else saved" does. Optimistic locking must give every save one of two answers: saved, as
the next version, or refused with the app's conflict error; never a silent overwrite, a
deadlock or a crash. Then, per record: the saved versions run on without a gap, each editor's
change is in the history exactly once and at the version its save returned, no refused value
is anywhere, the record holds the last one, and the audit events name the editors in version
order. Around the edits, the caseworkers also add a note and a needs assessment to the case
(appends under the case's lock, which must all land) and the documenters' reads of the
testimony are audited.

**Overlapping imports.** Eight intake officers import at once (``arrivals_import``, the service
behind ``saebom import arrivals``) files of 24 rows drawn from 45 record ids of one agency,
windows that overlap, while four officers register two of those record ids by hand. Every
import must complete; afterwards there is one arrival and one person per ``(agency,
record_id)``, the imports' created and updated counts add up to the files, and each arrival's
version counts its writers, whose values its history holds once each.

After each part the audit chain must verify, its sequence numbers must run 1..N, each event
must point at the one before it (a single line: concurrent writers take turns at its head) and
the new events must be exactly those of the saves that were accepted and the reads that are
audited. A watcher samples ``pg_stat_activity`` during each part: the figures printed (``-s``)
include the most backends it saw waiting on a lock at once, the evidence that PostgreSQL did
see the collisions.

**Work beside a long import.** Imports of an agency take turns on the agency's row for as long
as they write. While one is paused inside its transaction, a caseworker's and a documenter's
saves in that agency must go through (with a lock timeout, so waiting fails the test instead of
hanging it).

PostgreSQL only: SQLite lets one writer in at a time, so writers cannot overlap there
(tests/support/test_concurrency.py covers its locking with two writers).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

import pytest
from django.db import OperationalError, connection
from django.utils import translation

from saebom.accounts.models import Agency, User
from saebom.core.audit import GENESIS_HASH, audit_head, audit_verify
from saebom.core.exceptions import Conflict
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.core.versioning import StaleVersion
from saebom.registry import services as registry
from saebom.registry.importing import ImportReport, arrivals_import
from saebom.registry.interchange import ArrivalData, PartialDate
from saebom.registry.models import Arrival, Person, PersonIdentity
from saebom.registry.selectors import arrivals_visible_to
from saebom.support import selectors as cases
from saebom.support import services as support
from saebom.support.models import Assessment, Case, CaseNote
from saebom.testimony import custody
from saebom.testimony import models as testimony_models
from saebom.testimony import selectors as testimonies
from saebom.testimony import services as testimony
from tests.core import matrix
from tests.factories import AgencyFactory
from tests.registry.helpers import csv_bytes, row

pytestmark = pytest.mark.django_db(transaction=True)

EDITORS_PER_RECORD = 18  # three records: 54 editors at once
# A refusal means someone else saved since the editor read, and each of the others saves once:
# so an editor saves within this many attempts, or something is wrong.
MAX_ATTEMPTS = EDITORS_PER_RECORD
IMPORTS, ROWS_PER_FILE, WINDOW_STEP = 8, 24, 3  # file k: record ids 3k .. 3k+23
INTAKE_IDS = (21, 22)  # in every file; two officers each register them by hand meanwhile
INTAKE_YEAR, FIRST_FILE_YEAR = 2009, 2010  # arrival years mark who wrote a value
EDIT_BASE = date(2000, 1, 1)
# Every connection of a test thread gives up on a statement or a lock after DB_TIMEOUT, and
# the server ends its session if it sits in a transaction doing nothing for IDLE_IN_TRANSACTION
# (longer than an import is ever held open: HELD_OPEN). The threads of one part must all have
# ended within JOIN_DEADLINE.
DB_TIMEOUT, HELD_OPEN, IDLE_IN_TRANSACTION, JOIN_DEADLINE = 30, 60, 90, 120


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite lets one writer in at a time, so writers cannot overlap "
            "(tests/support/test_concurrency.py covers its locking with two writers)"
        )


# --- running threads together -----------------------------------------------------------------


def limit_waits() -> None:
    """On this thread's connection: no statement, lock wait or open transaction left idle
    lasts longer than DB_TIMEOUT, so that no writer can wait forever or hold its locks for
    the test database's teardown to wait on."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = '{DB_TIMEOUT}s'")
        cursor.execute(f"SET statement_timeout = '{DB_TIMEOUT}s'")
        cursor.execute(f"SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION}s'")


def join_all(threads: Sequence[threading.Thread], what: str) -> None:
    """Join every thread within one shared deadline; fail naming those still running."""
    deadline = time.monotonic() + JOIN_DEADLINE
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"{what}: {len(stuck)} threads still running after {JOIN_DEADLINE} s: {stuck}"


def run_at_once(jobs: dict[str, Callable[[threading.Barrier], Any]]) -> list[Any]:
    """Run each job in its own thread (its own database connection), named after the job,
    handing all of them one barrier to meet at. Returns each job's result, or the exception
    it raised, in the order of ``jobs``."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(slot: int, job: Callable[[threading.Barrier], Any]) -> None:
        try:
            limit_waits()
            with translation.override("en"):  # as the test thread reads (conftest)
                results[slot] = job(barrier)
        except Exception as error:  # handed to the test thread
            barrier.abort()  # the others must not wait for this one
            results[slot] = error
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(slot, job), name=name, daemon=True)
        for slot, (name, job) in enumerate(jobs.items())
    ]
    for thread in threads:
        thread.start()
    join_all(threads, "writers hang (deadlock?)")
    return results


class LockWatcher:
    """The most backends of the test database seen waiting on a lock at once, sampled from
    pg_stat_activity on a connection of its own."""

    def __init__(self) -> None:
        self.most_waiting = 0
        self.samples = 0
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="lock-watcher", daemon=True)

    def _watch(self) -> None:
        try:
            limit_waits()
            while not self._stop.is_set():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock'"
                    )
                    self.most_waiting = max(self.most_waiting, cursor.fetchone()[0])
                self.samples += 1
                time.sleep(0.001)
        except Exception as error:  # handed to the test thread: its figures would be wrong
            self.error = error
        finally:
            connection.close()

    @contextmanager
    def running(self) -> Iterator[LockWatcher]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=DB_TIMEOUT + 10)
        assert self.error is None, f"the lock watcher failed: {self.error!r}"
        assert not self._thread.is_alive(), "the lock watcher did not stop"


# --- the audit chain --------------------------------------------------------------------------


def last_seq() -> int:
    return audit_head()[0]


def events_since(seq: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(seq__gt=seq).order_by("seq"))


def assert_chain_is_one_line() -> int:
    """Sequence numbers 1..N, each event linked to the one before, the head at the last; and
    the whole chain verifies. Returns N."""
    links = list(AuditEvent.objects.order_by("seq").values_list("seq", "prev_hash", "hash"))
    assert [seq for seq, _, _ in links] == list(range(1, len(links) + 1)), "gap or repeat"
    before = [GENESIS_HASH, *(digest for _, _, digest in links[:-1])]
    forks = [seq for (seq, prev, _), wanted in zip(links, before, strict=True) if prev != wanted]
    assert not forks, f"events not linked to the event before them: {forks[:10]}"
    assert audit_head() == (len(links), links[-1][2])
    result = audit_verify()
    assert result.ok, result
    return len(links)


def unexpected(results: Sequence[Any]) -> list[Exception]:
    """The exceptions among ``results``, causes first: the barrier a failing thread broke
    only follows from them."""
    errors = [r for r in results if isinstance(r, Exception)]
    return sorted(errors, key=lambda e: isinstance(e, threading.BrokenBarrierError))


# --- conflicting edits ------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    editor: str
    marker: int  # the value this attempt saves; no other attempt uses it
    read_version: int
    saved_as: int | None  # the version the save made, or None when refused
    refusal: Conflict | None = None


class Target(Protocol):
    """One record the editors fight over, and how to read, save and check it."""

    name: str
    object_type: str
    object_id: str
    saved_action: str
    refusal_type: type[Conflict]

    def read(self, actor: User) -> Any: ...

    def save(self, actor: User, record: Any, marker: int) -> int: ...

    def after_saving(self, actor: User) -> None: ...

    def history_since(self, version: int) -> list[tuple[int, int, str]]: ...

    def current(self) -> tuple[int, int]: ...


def edit_until_saved(
    target: Target, actor: User, slot: int, barrier: threading.Barrier
) -> list[Attempt]:
    """Read, meet the others, save; when refused, read again and save again."""
    attempts: list[Attempt] = []
    record = target.read(actor)
    barrier.wait(timeout=60)
    for number in range(MAX_ATTEMPTS):
        marker = 1 + slot * MAX_ATTEMPTS + number
        version = record.version
        try:
            saved_as = target.save(actor, record, marker)
        except Conflict as refused:
            attempts.append(Attempt(actor.username, marker, version, None, refused))
            record = target.read(actor)
            continue
        attempts.append(Attempt(actor.username, marker, version, saved_as))
        target.after_saving(actor)
        return attempts
    return attempts


def staff(agency: Agency, role: Role, prefix: str, count: int) -> list[User]:
    """``count`` accounts named PREFIXnn, without TOTP either: the services need neither."""
    return [
        matrix.staff(agency, role, username=f"{prefix}{n:02d}", with_totp=False)
        for n in range(count)
    ]


class EditedArrival:
    """Intake officers correcting one arrival's date (``arrival_update``)."""

    name, object_type, saved_action, refusal_type = "arrival", "arrival", "update", Conflict

    def __init__(self, officer: User) -> None:
        arrival = registry.arrival_create(actor=officer, data=self._data(0))
        self.pk, self.object_id = arrival.pk, arrival.person.public_id

    @staticmethod
    def _data(marker: int) -> ArrivalData:
        moment = PartialDate(EDIT_BASE + timedelta(days=marker), "day")
        return ArrivalData(record_id="EDIT-1", arrival=moment, sex="F", birth_year=1980)

    def read(self, actor: User) -> Arrival:
        return arrivals_visible_to(actor).get(pk=self.pk)

    def save(self, actor: User, record: Any, marker: int) -> int:
        saved = registry.arrival_update(
            actor=actor, arrival=record, data=self._data(marker), expected_version=record.version
        )
        return saved.version

    def after_saving(self, actor: User) -> None:
        pass

    def history_since(self, version: int) -> list[tuple[int, int, str]]:
        rows = Arrival.history.filter(id=self.pk, version__gt=version).order_by("history_id")
        return [
            (h.version, (h.arrival_date - EDIT_BASE).days, h.history_user.username) for h in rows
        ]

    def current(self) -> tuple[int, int]:
        arrival = Arrival.objects.get(pk=self.pk)
        return arrival.version, (arrival.arrival_date - EDIT_BASE).days


class EditedCase:
    """Caseworkers changing one case's household size and status (``case_update``); each, once
    its change is saved, adds a note and a needs assessment to the case."""

    name, object_type, saved_action, refusal_type = "case", "case", "update", StaleVersion

    def __init__(self, lead: User, members: Sequence[User]) -> None:
        person = registry.arrival_create(
            actor=matrix.staff(lead.agency, Role.INTAKE_OFFICER, with_totp=False),
            data=ArrivalData(record_id="CASE-1", arrival=PartialDate(date(2023, 4, 1), "day")),
        ).person
        case = support.case_open(actor=lead, person=person, protection_start=date(2023, 5, 1))
        for member in members:
            if member != lead:
                support.case_member_set(actor=lead, case=case, user=member, role="caseworker")
        self.pk, self.object_id = case.pk, case.public_id

    def read(self, actor: User) -> Case:
        return cases.cases_visible_to(actor).get(pk=self.pk)

    def save(self, actor: User, record: Any, marker: int) -> int:
        saved = support.case_update(
            actor=actor,
            case=record,
            expected_version=record.version,
            household_size=marker,
            status="active" if marker % 2 else "open",
        )
        return saved.version

    def after_saving(self, actor: User) -> None:
        case = self.read(actor)
        support.note_add(actor=actor, case=case, text=f"note by {actor.username}")
        severities = {d: support.Need(severity=len(actor.username) % 4) for d in need_domains()}
        support.assessment_record(
            actor=actor, case=case, assessed_on=date(2024, 2, 1), needs=severities
        )

    def history_since(self, version: int) -> list[tuple[int, int, str]]:
        rows = Case.history.filter(id=self.pk, version__gt=version).order_by("history_id")
        for h in rows:  # the status went with the household size in one save
            assert h.status == ("active" if h.household_size % 2 else "open")
        return [(h.version, h.household_size, h.history_user.username) for h in rows]

    def current(self) -> tuple[int, int]:
        case = Case.objects.get(pk=self.pk)
        return case.version, case.household_size


def need_domains() -> list[str]:
    from saebom.core import vocab

    return list(vocab.codes("need_domain"))


class EditedTestimony:
    """Documenters correcting one sealed testimony's summary (``testimony_update``, a
    correction with its reason); each read of it is an audited read (``testimony_viewed``)."""

    name, object_type, saved_action, refusal_type = (
        "testimony",
        "testimony",
        "correct",
        StaleVersion,
    )

    def __init__(self, documenter: User) -> None:
        created = testimony.testimony_create(
            actor=documenter,
            interview_date=date(2024, 5, 2),
            language="ko",
            summary=self._summary(0),
            transcript="Transcript of the interview.",
            consent_scope="publish_anonymised",
            consent_given_on=date(2024, 5, 2),
        )
        sealed = testimony.testimony_seal(actor=documenter, testimony=created, expected_version=1)
        self.pk, self.object_id = sealed.pk, sealed.public_id

    @staticmethod
    def _summary(marker: int) -> str:
        return f"Detention at a holding centre (correction {marker})."

    def read(self, actor: User) -> testimony_models.Testimony:
        record = testimonies.testimonies_visible_to(actor).select_related("agency").get(pk=self.pk)
        testimony.testimony_viewed(actor=actor, testimony=record)
        return record

    def save(self, actor: User, record: Any, marker: int) -> int:
        saved = testimony.testimony_update(
            actor=actor,
            testimony=record,
            expected_version=record.version,
            reason=f"correction {marker}",
            summary=self._summary(marker),
        )
        return saved.version

    def after_saving(self, actor: User) -> None:
        pass

    def history_since(self, version: int) -> list[tuple[int, int, str]]:
        rows = testimony_models.Testimony.history.filter(id=self.pk, version__gt=version).order_by(
            "history_id"
        )
        found = []
        for h in rows:
            marker = int(h.history_change_reason.removeprefix("correction "))
            assert h.summary == self._summary(marker)  # the reason went with its own change
            found.append((h.version, marker, h.history_user.username))
        return found

    def current(self) -> tuple[int, int]:
        record = testimony_models.Testimony.objects.get(pk=self.pk)
        return record.version, int(record.summary.split("correction ")[1].rstrip(")."))


@dataclass
class EditTally:
    saved: int = 0
    refused: int = 0
    attempts: int = 0


def check_edits(
    target: Target, editors: Sequence[User], attempts: list[Attempt], start: int, new: list[Any]
) -> EditTally:
    """Every editor's change saved exactly once, in an unbroken run of versions, kept by the
    history and the audit log in the same order; nothing of a refused attempt anywhere."""
    saved = sorted((a for a in attempts if a.saved_as is not None), key=lambda a: a.saved_as or 0)
    refused = [a for a in attempts if a.saved_as is None]
    name = target.name
    assert Counter(a.editor for a in saved) == Counter(u.username for u in editors), (
        f"{name}: not every editor saved exactly once within {MAX_ATTEMPTS} attempts"
    )
    assert [a.saved_as for a in saved] == list(range(start + 1, start + len(editors) + 1))
    assert all(a.saved_as == a.read_version + 1 for a in saved), f"{name}: saved over a change"
    assert target.history_since(start) == [(a.saved_as, a.marker, a.editor) for a in saved], (
        f"{name}: the history does not hold each saved change once, in version order"
    )
    assert target.current() == (start + len(editors), saved[-1].marker)
    # Everyone read the same version before the barrier: one first save won, the rest collided.
    first_tries = [a for a in attempts if a.read_version == start]
    assert sum(a.saved_as is not None for a in first_tries) == 1
    assert len(refused) >= len(editors) - 1
    for attempt in refused:
        assert isinstance(attempt.refusal, target.refusal_type), attempt.refusal
        assert "someone else saved" in str(attempt.refusal).lower(), attempt.refusal
        if isinstance(attempt.refusal, StaleVersion):
            assert attempt.refusal.current > attempt.read_version
    ours = [
        e.actor_name
        for e in new
        if (e.object_type, e.object_id, e.action)
        == (target.object_type, target.object_id, target.saved_action)
    ]
    assert ours == [a.editor for a in saved], f"{name}: audit events out of version order"
    return EditTally(saved=len(saved), refused=len(refused), attempts=len(attempts))


def test_conflicting_edits_are_saved_or_refused_never_lost() -> None:
    agency = AgencyFactory(code="alpha")
    officers = staff(agency, Role.INTAKE_OFFICER, "officer", EDITORS_PER_RECORD)
    caseworkers = staff(agency, Role.CASEWORKER, "caseworker", EDITORS_PER_RECORD)
    documenters = staff(agency, Role.DOCUMENTER, "documenter", EDITORS_PER_RECORD)
    targets: list[tuple[Target, list[User]]] = [
        (EditedArrival(officers[0]), officers),
        (EditedCase(caseworkers[0], caseworkers), caseworkers),
        (EditedTestimony(documenters[0]), documenters),
    ]
    starts = [target.current()[0] for target, _ in targets]
    before = last_seq()
    jobs = {
        f"{target.name} edited by {user.username}": (
            lambda barrier, t=target, u=user, s=slot: edit_until_saved(t, u, s, barrier)
        )
        for target, editors in targets
        for slot, user in enumerate(editors)
    }
    began = time.monotonic()
    with LockWatcher().running() as watcher:
        results = run_at_once(jobs)
    seconds = time.monotonic() - began
    assert not unexpected(results), unexpected(results)[:5]

    new = events_since(before)
    tallies, offset = {}, 0
    for (target, editors), start in zip(targets, starts, strict=True):
        attempts = [a for r in results[offset : offset + len(editors)] for a in r]
        offset += len(editors)
        tallies[target.name] = check_edits(target, editors, attempts, start, new)
    assert watcher.most_waiting > 0, "no writer ever waited for another's lock"

    n = EDITORS_PER_RECORD
    case_pk = targets[1][0].pk  # type: ignore[attr-defined]
    assert CaseNote.objects.filter(case_id=case_pk).count() == n
    assert Assessment.objects.filter(case_id=case_pk).count() == n
    latest = Case.objects.get(pk=case_pk).latest_assessment_id
    assert latest == Assessment.objects.filter(case_id=case_pk).order_by("-pk").first().pk
    # The testimony's readers: one audited read before each attempt.
    reads = tallies["testimony"].attempts
    assert Counter((e.object_type, e.action) for e in new) == {
        ("arrival", "update"): n,
        ("case", "update"): n,
        ("case_note", "create"): n,
        ("assessment", "create"): n,
        ("testimony", "correct"): n,
        ("testimony", "view"): reads,
    }
    events = assert_chain_is_one_line()

    saved = sum(t.saved for t in tallies.values())
    refused = sum(t.refused for t in tallies.values())
    detail = "; ".join(f"{k} {t.saved} saved, {t.refused} refused" for k, t in tallies.items())
    print(
        f"\nconcurrent edits (postgresql): {len(jobs)} editors in {len(jobs)} threads on 3 "
        f"records; {saved} saves applied, {refused} refused as stale ({detail}); "
        f"{2 * n} appends (notes, assessments); {reads} audited reads; "
        f"{len(new)} new audit events, chain of {events} verified; at most "
        f"{watcher.most_waiting} backends waiting on a lock at once "
        f"({watcher.samples} samples); {seconds:.1f} s"
    )


# --- chains of custody ------------------------------------------------------------------------


def test_concurrent_openings_of_a_file_make_one_chain_of_custody(
    settings: Any, tmp_path: Any
) -> None:
    """12 documenters open each of two files at once: every opening is one more link of the
    file's chain (1..N, none twice), and each chain ends at the head the audit chain last
    recorded for it."""
    settings.SAEBOM_EVIDENCE_DIR = tmp_path / "evidence"
    documenters = staff(AgencyFactory(code="custody"), Role.DOCUMENTER, "ev", 12)
    files = [
        testimony.evidence_upload(
            actor=documenters[0],
            filename=f"statement-{n}.txt",
            data=f"statement {n}\n".encode(),
            received_from="",
            received_on=None,
            description="",
        )
        for n in range(2)
    ]

    def opening(user: User, evidence: Any) -> Callable[[threading.Barrier], bytes]:
        def job(barrier: threading.Barrier) -> bytes:
            barrier.wait(timeout=DB_TIMEOUT)
            return testimony.evidence_open(actor=user, evidence=evidence)

        return job

    results = run_at_once(
        {f"{u.username} opens {f.public_id}": opening(u, f) for u in documenters for f in files}
    )
    assert not unexpected(results)
    for evidence in files:
        links = testimony_models.CustodyEvent.objects.filter(evidence=evidence)
        assert list(links.values_list("seq", flat=True)) == list(range(1, 2 + 12 + 1))
    assert custody.verify() == []
    assert_chain_is_one_line()


# --- overlapping imports ----------------------------------------------------------------------


def file_ids(k: int) -> range:
    return range(k * WINDOW_STEP, k * WINDOW_STEP + ROWS_PER_FILE)


def import_file(k: int) -> bytes:
    """File k: its window of record ids, each arriving in year 2010 + k (the file's mark)."""
    year = FIRST_FILE_YEAR + k
    return csv_bytes([row(n, arrival_date=f"{year}-{1 + n % 12:02d}") for n in file_ids(k)])


def intake(n: int) -> ArrivalData:
    moment = PartialDate(date(INTAKE_YEAR, 6, 1), "month")
    return ArrivalData(record_id=f"R-{n:05d}", arrival=moment, sex="M", birth_year=1970)


def import_job(officer: User, k: int) -> Callable[[threading.Barrier], ImportReport]:
    data = import_file(k)

    def run(barrier: threading.Barrier) -> ImportReport:
        barrier.wait(timeout=60)
        return arrivals_import(actor=officer, data=data, filename=f"file-{k}.csv")

    return run


def intake_job(officer: User, n: int) -> Callable[[threading.Barrier], Arrival | Conflict]:
    def run(barrier: threading.Barrier) -> Arrival | Conflict:
        barrier.wait(timeout=60)
        try:
            return registry.arrival_create(actor=officer, data=intake(n))
        except Conflict as refused:  # someone registered this record id first
            return refused

    return run


def check_arrival_writers(agency: Agency, intaken: set[int]) -> None:
    """Each arrival's versions 1..v are its writers, once each: the files holding its record id
    and the hand intake that got in first; it holds the last writer's value."""
    for arrival in Arrival.objects.filter(agency=agency):
        n = int(arrival.record_id.removeprefix("R-"))
        writers = {FIRST_FILE_YEAR + k for k in range(IMPORTS) if n in file_ids(k)}
        if n in intaken:
            writers.add(INTAKE_YEAR)
        history = list(
            arrival.history.order_by("history_id").values_list("version", "arrival_year")
        )
        assert [v for v, _ in history] == list(range(1, len(writers) + 1)), arrival.record_id
        assert sorted(y for _, y in history) == sorted(writers), arrival.record_id
        assert arrival.version == len(writers)
        assert arrival.arrival_year == history[-1][1], arrival.record_id


def test_overlapping_imports_make_one_person_per_record() -> None:
    agency = AgencyFactory(code="alpha")
    importers = staff(agency, Role.INTAKE_OFFICER, "importer", IMPORTS)
    clerks = staff(agency, Role.INTAKE_OFFICER, "clerk", 2 * len(INTAKE_IDS))
    jobs: dict[str, Callable[[threading.Barrier], Any]] = {
        f"import of file {k} by {officer.username}": import_job(officer, k)
        for k, officer in enumerate(importers)
    }
    jobs |= {
        f"intake of R-{INTAKE_IDS[n % 2]:05d} by {clerk.username}": intake_job(
            clerk, INTAKE_IDS[n % 2]
        )
        for n, clerk in enumerate(clerks)
    }
    before = last_seq()
    began = time.monotonic()
    with LockWatcher().running() as watcher:
        results = run_at_once(jobs)
    seconds = time.monotonic() - began
    reports, intakes = results[:IMPORTS], results[IMPORTS:]
    # Every import completes (they take turns); an intake may only be told the id is taken.
    crashed = unexpected([*reports, *(r for r in intakes if not isinstance(r, Conflict))])
    assert not crashed, crashed[:5]

    every_id = set().union(*(file_ids(k) for k in range(IMPORTS)))
    rows = IMPORTS * ROWS_PER_FILE
    registered = [a for a in intakes if isinstance(a, Arrival)]
    intaken = {int(a.record_id.removeprefix("R-")) for a in registered}
    refused = [r for r in intakes if isinstance(r, Conflict)]
    assert len(registered) == len(intaken), "one record id registered twice by hand"
    assert len(registered) + len(refused) == len(intakes)
    assert all("already used" in str(r) for r in refused)
    for report in reports:
        assert report.written and not report.errors and report.rows == ROWS_PER_FILE
        assert report.created + report.updated == ROWS_PER_FILE
    created = sum(r.created for r in reports)
    assert created == len(every_id) - len(intaken)
    assert sum(r.updated for r in reports) == rows - created

    arrivals = Arrival.objects.filter(agency=agency)
    assert sorted(arrivals.values_list("record_id", flat=True)) == sorted(
        f"R-{n:05d}" for n in every_id
    ), "a record id is missing or doubled"
    assert Person.objects.count() == len(every_id), "a person was created twice"
    assert not Person.objects.filter(arrivals__isnull=True).exists()
    assert PersonIdentity.objects.count() == len(every_id)
    check_arrival_writers(agency, intaken)

    new = events_since(before)
    assert Counter((e.object_type, e.action) for e in new) == {
        ("arrival", "import"): IMPORTS,
        **({("arrival", "create"): len(intaken)} if intaken else {}),
    }
    details = sorted(
        (e.detail["created"], e.detail["updated"]) for e in new if e.action == "import"
    )
    assert details == sorted((r.created, r.updated) for r in reports)
    assert watcher.most_waiting > 0, "no import ever waited for another's lock"
    events = assert_chain_is_one_line()

    print(
        f"\nconcurrent imports (postgresql): {IMPORTS} imports of {ROWS_PER_FILE} rows "
        f"({rows} rows, {len(every_id)} record ids) and {len(intakes)} hand intakes of "
        f"{len(INTAKE_IDS)} of those ids, at once; {created} arrivals created and "
        f"{rows - created} updated by imports, {len(intaken)} by hand ({len(refused)} "
        f"intakes refused); {Person.objects.count()} persons, none twice; {len(new)} new "
        f"audit events, chain of {events} verified; at most {watcher.most_waiting} "
        f"backends waiting on a lock at once; {seconds:.1f} s"
    )


# --- work beside a long import ----------------------------------------------------------------


@contextmanager
def import_held_open(officer: User) -> Iterator[list[Any]]:
    """An import of file 0, paused inside its transaction once its first rows are written,
    as a long import is; it finishes when the block ends. Yields where its outcome goes."""
    inside, release, outcome = threading.Event(), threading.Event(), []

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "writing" and done:
            inside.set()
            release.wait(timeout=HELD_OPEN)

    def run() -> None:
        try:
            limit_waits()
            data = import_file(0)
            outcome.append(
                arrivals_import(actor=officer, data=data, filename="long.csv", progress=progress)
            )
        except Exception as error:  # handed to the test thread
            outcome.append(error)
        finally:
            inside.set()
            connection.close()

    thread = threading.Thread(target=run, name="import held open", daemon=True)
    thread.start()
    try:
        assert inside.wait(timeout=60) and not outcome, outcome
        yield outcome
    finally:
        release.set()
        thread.join(timeout=JOIN_DEADLINE)
    assert not thread.is_alive(), f"the import held open did not end in {JOIN_DEADLINE} s"


@contextmanager
def lock_timeout(seconds: int) -> Iterator[None]:
    """Waiting longer than this for a lock fails the statement, instead of hanging the test."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = '{seconds}s'")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")


def test_an_import_in_progress_holds_up_no_case_or_testimony_work() -> None:
    """Imports of an agency take turns on the agency's row, for as long as they write (100,000
    rows: most of a minute). Work that only points at the agency must not queue behind them:
    a caseworker's or a documenter's save would hang until the import ends."""
    agency = AgencyFactory(code="alpha")
    importer, clerk = staff(agency, Role.INTAKE_OFFICER, "officer", 2)
    (caseworker,) = staff(agency, Role.CASEWORKER, "caseworker", 1)
    (documenter,) = staff(agency, Role.DOCUMENTER, "documenter", 1)
    registered = [
        registry.arrival_create(
            actor=clerk,
            data=ArrivalData(record_id=f"X-{n}", arrival=PartialDate(date(2020, 1, 1), "day")),
        ).person
        for n in range(2)
    ]
    case = support.case_open(actor=caseworker, person=registered[0])
    record = EditedTestimony(documenter)
    sealed = testimony_models.Testimony.objects.get(pk=record.pk)
    work: dict[str, Callable[[], object]] = {
        "case saved": lambda: support.case_update(
            actor=caseworker, case=case, expected_version=1, household_size=4
        ),
        "case note added": lambda: support.note_add(actor=caseworker, case=case, text="called"),
        "case opened": lambda: support.case_open(actor=caseworker, person=registered[1]),
        "testimony corrected": lambda: testimony.testimony_update(
            actor=documenter, testimony=sealed, expected_version=2, reason="typo", summary="fixed"
        ),
        "testimony recorded": lambda: EditedTestimony(documenter),
    }
    before = last_seq()
    blocked = []
    with import_held_open(importer) as outcome, lock_timeout(5):
        for name, job in work.items():
            try:
                job()
            except OperationalError as error:  # the lock timeout: it waited for the import
                blocked.append(f"{name}: {error}")
    assert not blocked, blocked
    (report,) = outcome
    assert isinstance(report, ImportReport) and report.created == ROWS_PER_FILE, report
    new = events_since(before)
    assert Counter((e.object_type, e.action) for e in new) == {
        ("case", "update"): 1,
        ("case_note", "create"): 1,
        ("case", "create"): 1,
        ("testimony", "correct"): 1,
        ("testimony", "create"): 1,
        ("testimony", "seal"): 1,
        ("arrival", "import"): 1,
    }
    assert new[-1].action == "import"  # the others went ahead of the import that was writing
    assert_chain_is_one_line()
