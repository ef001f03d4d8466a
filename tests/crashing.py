"""Crash harness: real `saebom` operations killed with SIGKILL mid-write, and a full disk.

Each operation (arrivals import, key rotation, evidence upload, backup) runs as its own process,
started the way an operator starts it, on a scratch installation (a data dir, and a SQLite file
or a PostgreSQL database of its own). A run kills it in one of two ways:

- ``random``: SIGKILL after a delay drawn from a seeded generator across the window in which an
  uninterrupted run of the same operation wrote (measured first, in the same loop);
- ``point``: the process kills itself just before its Nth write, N drawn from the writes an
  uninterrupted run made. The victim is started through this module (``python -m tests.crashing
  victim -- ARGS``), which counts writes without touching the application: SQL statements that
  write (a database execute wrapper) and file-system changes (a ``sys.addaudithook`` on opens
  for writing, links, renames, removals, temporary files, subprocesses).

Either way the victim appends one line per write to a trace file, so each run knows where it
landed: ``before`` its first write, ``during`` (some writes done, not all), ``after`` its last
write (killed while finishing), or ``finished`` (it exited before the kill).

After each kill, a probe process (``python -m tests.crashing probe``, one for the whole loop,
the real settings and models) checks what the operation's ``Operation.after_kill`` names, then
runs ``saebom audit verify`` and ``saebom evidence verify`` through the CLI's own ``main``.
Then the operation is run again, uninterrupted, and must complete normally.

A full disk: :func:`full_disk` mounts a small tmpfs as the data dir (SQLite: the database too;
PostgreSQL: the evidence and backup work files) and fills it with the real operations; the
evidence upload's refusal must be the application's own (``StoreFull``: the harness translates
no error), and an upload through the API (``POST /api/v1/evidence``) on the full disk must be
answered 507 with a problem document and store nothing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PASSPHRASE = "crash harness backup passphrase"
DOCUMENTER = "crash-documenter"
UNSET_VARIABLES = (
    "SAEBOM_SECRET_KEY",
    "SAEBOM_SECRET_KEY_FILE",
    "SAEBOM_FIELD_KEYS",
    "SAEBOM_FIELD_KEYS_FILE",
    "SAEBOM_EVIDENCE_DIR",
    "SAEBOM_DEBUG",
    "SAEBOM_TESTING",
    "DJANGO_SETTINGS_MODULE",
)
# Statements that change the database; everything else (SELECT, SAVEPOINT, SET) is not a write.
WRITE_SQL = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
FILE_EVENTS = frozenset(
    {
        "os.link",
        "os.rename",
        "os.remove",
        "os.rmdir",
        "os.mkdir",
        "os.truncate",
        "shutil.rmtree",
        "tempfile.mkstemp",
        "tempfile.mkdtemp",
        "subprocess.Popen",
    }
)
LANDINGS = ("before", "during", "after", "finished")
# The longest the harness waits for a victim, a probe's answer or a command: then it fails.
PROCESS_TIMEOUT = PROBE_TIMEOUT = 300


# --- the victim's side: count writes, die at the Nth -------------------------------------------


class WritePoints:
    """Counts the victim's writes into its trace file; SIGKILLs the process before write N."""

    def __init__(self, trace_fd: int, kill_at: int) -> None:
        self.trace_fd, self.kill_at, self.count = trace_fd, kill_at, 0

    def reached(self, kind: str) -> None:
        self.count += 1
        if self.count == self.kill_at:  # before the write itself
            os.kill(os.getpid(), signal.SIGKILL)
        os.write(self.trace_fd, f"{self.count} {time.monotonic():.6f} {kind}\n".encode())

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "open" and event not in FILE_EVENTS:
            return
        if any("__pycache__" in str(arg) for arg in args):  # Python's own caches
            return
        if event == "open":
            _path, mode, flags = args
            writing = (mode is not None and any(c in str(mode) for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & WRITE_FLAGS
            )
            if writing:
                self.reached("open")
        elif event in FILE_EVENTS:
            self.reached(event)

    def sql(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, ctx: Any) -> Any:
        match = WRITE_SQL.match(sql)
        if match:
            self.reached(f"sql {match.group(1).upper()}")
        return execute(sql, params, many, ctx)

    def on_connection(self, sender: Any, connection: Any, **kwargs: Any) -> None:
        connection.execute_wrappers.append(self.sql)


def victim_main(argv: list[str]) -> int:
    """``victim TRACE KILL_AT -- ARGS``: run ``saebom ARGS`` (or ``upload ...``) with its writes
    counted into TRACE, killed before write KILL_AT (0: never)."""
    trace, kill_at, separator, *args = argv
    assert separator == "--"
    trace_fd = os.open(trace, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    points = WritePoints(trace_fd, int(kill_at))
    from django.db.backends.signals import connection_created

    connection_created.connect(points.on_connection, weak=False)
    sys.addaudithook(points.audit)
    if args[0] == "upload":
        return upload_main(args[1:])
    from saebom.cli import main

    return main(args)


def upload_main(argv: list[str]) -> int:
    """``upload USERNAME FILE...``: store each file as evidence through the real service (the
    same call the web form and the API make), skipping those the agency already holds.

    A refusal the application words (a :class:`SaebomError`, e.g. a full evidence store) is
    printed as one line, exit 1; anything else, a raw ``OSError`` too, is left to end the
    process with its traceback: the harness must not translate what the application did not."""
    import hashlib

    import django

    django.setup()
    from django.utils import translation

    from saebom.accounts.models import User
    from saebom.core.exceptions import SaebomError

    translation.activate("en")  # the harness reads the messages in English
    from saebom.testimony.models import EvidenceFile
    from saebom.testimony.services import evidence_upload

    username, *names = argv
    user = User.objects.get(username=username)
    stored = skipped = 0
    for name in names:
        data = Path(name).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if EvidenceFile.objects.filter(agency=user.agency, sha256=sha).exists():
            skipped += 1
            continue
        try:
            evidence_upload(
                actor=user,
                filename=Path(name).name,
                data=data,
                received_from="crash harness",
                received_on=None,
                description="",
            )
        except SaebomError as exc:
            sys.stderr.write(f"saebom: {exc.message}\n")
            return 1
        stored += 1
    sys.stdout.write(f"stored {stored}, already held {skipped}\n")
    return 0


API_TOKEN_VARIABLE = "SAEBOM_CRASH_API_TOKEN"  # in the environment, not on a command line


def api_upload_main(argv: list[str]) -> int:
    """``api-upload FILE``: POST FILE as evidence to ``/api/v1/evidence`` (multipart) with the
    token in ``$SAEBOM_CRASH_API_TOKEN``, through the whole Django stack of this installation
    (its settings, middleware and URL conf; Django's test client in place of a socket). Prints
    the answer as one JSON line: status, content type, body. An exception the API let out is
    re-raised by the client: a traceback, exit 1."""
    import django

    django.setup()
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    (name,) = argv
    path = Path(name)
    upload = SimpleUploadedFile(path.name, path.read_bytes(), "application/octet-stream")
    response = Client(HTTP_HOST="localhost").post(
        "/api/v1/evidence",
        {"file": upload, "received_from": "crash harness"},
        secure=True,  # as behind the TLS proxy: no redirect to https
        HTTP_AUTHORIZATION=f"Bearer {os.environ[API_TOKEN_VARIABLE]}",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    content_type = response.get("Content-Type", "")
    body = response.json() if "json" in content_type else response.content.decode(errors="replace")
    answer = {"status": response.status_code, "content_type": content_type, "body": body}
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


# --- the probe: what a killed operation left ----------------------------------------------------


def probe_main() -> int:
    """Answer one JSON request per line on stdin with one JSON line on stdout."""
    import django

    django.setup()
    from django.db import connections

    answers = {
        "registry": _registry_state,
        "keys": _keys_state,
        "evidence": _evidence_state,
        "verify": _verify_commands,
        "archive": _archive_problem,
        "api_token": _api_token,
    }
    channel = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = answers[request["ask"]](*request.get("args", []))
        except Exception as exc:  # reported to the harness, which fails the run with it
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            connections.close_all()  # the next operation must not wait on this process's locks
        channel.write(json.dumps(answer) + "\n")
        channel.flush()
    return 0


def _registry_state(prefix: str) -> dict[str, Any]:
    from saebom.registry.models import Arrival, Person, PersonIdentity

    batches = Counter(
        record_id.split("-", 1)[0]
        for record_id in Arrival.objects.filter(record_id__startswith=prefix).values_list(
            "record_id", flat=True
        )
    )
    return {
        "batches": dict(batches),
        "persons": Person.objects.count(),
        "identities": PersonIdentity.objects.count(),
        "persons_without_identity": Person.objects.filter(identity__isnull=True).count(),
        "persons_without_arrival": Person.objects.filter(arrivals__isnull=True).count(),
        "arrivals_without_reason": Arrival.objects.filter(reasons__isnull=True).count(),
        "names_readable": sum(1 for i in PersonIdentity.objects.iterator() if i.name_ko),
    }


def _keys_state() -> dict[str, Any]:
    from saebom.core.fields import reload_keyring
    from saebom.core.keys import _encrypted_models, keys_status, values_pending

    ring = reload_keyring()
    values = unreadable = 0
    for model, fields in _encrypted_models():
        rows = model._base_manager.only(*[f.name for f in fields])
        try:  # loading decrypts every field: a value no key in the ring opens raises here
            loaded = list(rows)
        except Exception:
            loaded = []
            for pk in model._base_manager.values_list("pk", flat=True):
                try:
                    loaded.append(rows.get(pk=pk))
                except Exception:
                    unreadable += 1
        values += sum(getattr(row, f.attname) is not None for row in loaded for f in fields)
    per_key = {key: sum(tables.values()) for key, tables in keys_status().items()}
    return {
        "ring": list(ring.keys),
        "active": ring.active_id,
        "values": values,
        "unreadable": unreadable,
        "per_key": per_key,
        "pending": values_pending(ring.active_id),
    }


def _evidence_state() -> dict[str, Any]:
    from django.db.models import Count

    from saebom.core import blobs
    from saebom.core.models import AuditEvent
    from saebom.testimony.models import EvidenceFile

    rows = EvidenceFile.objects.annotate(custody_count=Count("custody"))
    on_disk = {path.name for path in blobs.stored()}
    incoming = sorted(str(p) for p in blobs.root().glob("*/*/.incoming-*"))
    return {
        "rows": rows.count(),
        "shas": sorted(rows.values_list("sha256", flat=True)),
        "rows_without_blob": sum(
            1 for sha in rows.values_list("sha256", flat=True) if sha not in on_disk
        ),
        "rows_with_custody_other_than_two": rows.exclude(custody_count=2).count(),
        "upload_events": AuditEvent.objects.filter(
            action="upload", object_type="evidence_file"
        ).count(),
        "blobs": len(on_disk),
        "incoming": incoming,
    }


def _verify_commands() -> dict[str, Any]:
    """``saebom audit verify`` and ``saebom evidence verify``, through the CLI's ``main``."""
    from saebom.cli import main

    results = {}
    for command in (["audit", "verify"], ["evidence", "verify"]):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(command)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
        results[" ".join(command)] = {"exit": code, "output": (out.getvalue() + err.getvalue())}
    return results


def _archive_problem(path: str) -> dict[str, Any]:
    from saebom.core.backup import BackupError, Passphrase, verify_archive
    from saebom.core.fields import reload_keyring

    try:
        checked = verify_archive(Path(path), Passphrase(PASSPHRASE), ring=reload_keyring())
    except BackupError as exc:
        return {"problem": str(exc)}
    return {"problem": checked.origin_problem or "", "members": len(checked.manifest["members"])}


def _api_token(username: str) -> dict[str, str]:
    """A new API token of ``username``, who is given the second factor a token requires."""
    from saebom.accounts.models import User
    from saebom.accounts.selectors import has_totp
    from saebom.accounts.services import api_token_create
    from tests.factories import activate_totp

    user = User.objects.get(username=username)
    if not has_totp(user):
        activate_totp(user)
    return {"secret": api_token_create(actor=user, name="crash harness").secret}


# --- the harness's side -------------------------------------------------------------------------


@dataclass
class Installation:
    """A scratch installation: its data dir, its database, and a probe process on it."""

    vendor: str  # "sqlite" or "postgresql"
    root: Path
    database_url: str
    _probe: subprocess.Popen[str] | None = None
    _answers: queue.Queue[str] = field(default_factory=queue.Queue)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def work(self) -> Path:
        """The harness's files: inputs, archives, traces."""
        return self.root / "work"

    @property
    def tmp(self) -> Path:
        """TMPDIR of every process: a kill must leave nothing here."""
        return self.root / "tmp"

    def environ(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in UNSET_VARIABLES}
        env.update(
            SAEBOM_DATA_DIR=str(self.data_dir),
            DATABASE_URL=self.database_url,
            DJANGO_SETTINGS_MODULE="saebom.settings",
            SAEBOM_BACKUP_PASSPHRASE=PASSPHRASE,
            SAEBOM_BACKUP_SCRYPT_N="16384",  # the archive's cost is not what is tested here
            LANG="C.UTF-8",
            TMPDIR=str(self.tmp),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        )
        return env | extra

    def saebom(
        self, *args: str, timeout: float = PROCESS_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """The real command, uninterrupted."""
        return self.run_module("saebom.cli", *args, timeout=timeout)

    def run_module(
        self,
        module: str,
        *args: str,
        timeout: float = PROCESS_TIMEOUT,
        extra: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``python -m module args`` on this installation, to the end (or ``timeout``)."""
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            env=self.environ(**(extra or {})),
            cwd=self.work,
            timeout=timeout,
            check=False,
        )

    def start_victim(self, args: list[str], trace: Path, kill_at: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.crashing",
                "victim",
                str(trace),
                str(kill_at),
                "--",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.environ(),
            cwd=self.work,
            start_new_session=True,  # its own process group: pg_dump dies with it
        )

    def _start_probe(self) -> subprocess.Popen[str]:
        probe = subprocess.Popen(
            [sys.executable, "-m", "tests.crashing", "probe"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=self.environ(),
            cwd=self.work,
        )
        # Its answers are read by a thread of their own, so that waiting for one can time out.
        self._answers = answers = queue.Queue()

        def read(stream: Any = probe.stdout) -> None:
            for line in stream:
                answers.put(line)
            answers.put("")  # the probe's end

        threading.Thread(target=read, name="crash-probe-reader", daemon=True).start()
        return probe

    def ask(self, what: str, *args: Any) -> Any:
        if self._probe is None:
            self._probe = self._start_probe()
        assert self._probe.stdin is not None
        self._probe.stdin.write(json.dumps({"ask": what, "args": list(args)}) + "\n")
        self._probe.stdin.flush()
        try:
            line = self._answers.get(timeout=PROBE_TIMEOUT)
        except queue.Empty:
            self._kill_probe()
            raise AssertionError(f"probe {what}: no answer in {PROBE_TIMEOUT} s") from None
        if not line:
            self._kill_probe()  # the next question starts a new one
            raise AssertionError(f"probe {what}: the probe died")
        answer = json.loads(line)
        if isinstance(answer, dict) and "error" in answer:
            raise AssertionError(f"probe {what}: {answer['error']}")
        return answer

    def _kill_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.kill()
            probe.wait(timeout=30)  # its output is the reader thread's to drain
            assert probe.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                probe.stdin.close()

    def close(self) -> None:
        """Ends the probe: it exits when its input closes, or is killed."""
        probe = self._probe
        if probe is None:
            return
        assert probe.stdin is not None
        probe.stdin.close()
        try:
            probe.wait(timeout=30)
            self._probe = None
        except subprocess.TimeoutExpired:
            self._kill_probe()

    def verify_problems(self) -> list[str]:
        """``saebom audit verify`` and ``saebom evidence verify`` must both exit 0."""
        return [
            f"`saebom {command}` exited {result['exit']}: {result['output'].strip()[-300:]}"
            for command, result in self.ask("verify").items()
            if result["exit"] != 0
        ]


def postgres_server() -> str:
    """The PostgreSQL server of this run (its URL without a database name), or ''."""
    url = os.environ.get("SAEBOM_TEST_DATABASE_URL") or os.environ.get("SAEBOM_BENCH_POSTGRES")
    if not url:
        return ""
    return url if url.endswith("/") else url.rsplit("/", 1)[0] + "/"


def _admin(server: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}postgres", autocommit=True) as admin:
        admin.execute(statement)


@contextlib.contextmanager
def installation(vendor: str, root: Path | None = None) -> Iterator[Installation]:
    """A new installation (`saebom init`, a documenter), removed afterwards. ``root``: where
    (an existing directory, e.g. a mounted tmpfs), else a new temporary directory."""
    with contextlib.ExitStack() as stack:
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="saebom-crash-")))
        name = f"saebom_crash_{os.getpid()}_{random.randrange(1 << 30)}"
        server = postgres_server()
        if vendor == "sqlite":
            url = f"sqlite:///{root / 'data' / 'saebom.sqlite3'}"
        else:
            assert server, "PostgreSQL: set SAEBOM_TEST_DATABASE_URL or SAEBOM_BENCH_POSTGRES"
            _admin(server, f'CREATE DATABASE "{name}"')
            stack.callback(_admin, server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            url = f"{server}{name}"
        site = Installation(vendor, root, url)
        for directory in (site.data_dir, site.work, site.tmp):
            directory.mkdir(mode=0o700, exist_ok=True)
        stack.callback(site.close)
        for command in (["init"], ["createuser", DOCUMENTER, "--role", "documenter"]):
            done = site.saebom(*command)
            assert done.returncode == 0, f"saebom {' '.join(command)}: {done.stderr}"
        yield site


# --- the operations -----------------------------------------------------------------------------


@dataclass
class Operation:
    """One kind of work, run many times on one installation. Subclasses say what a run does
    and what may be left after a kill."""

    site: Installation
    name: str = ""

    def prepare(self) -> None:
        """Before the first run: what the operation needs in the store."""

    def args(self, run: int) -> list[str]:
        raise NotImplementedError

    def after_kill(self, run: int) -> list[str]:
        """What is wrong with the state a killed run ``run`` left (the CLI checks come after)."""
        raise NotImplementedError

    def rerun(self, run: int) -> list[str]:
        """Run ``run``'s work again, uninterrupted: what went wrong."""
        raise NotImplementedError


def _failed(done: subprocess.CompletedProcess[str]) -> list[str]:
    if done.returncode == 0:
        return []
    return [f"re-run exited {done.returncode}: {(done.stderr or done.stdout).strip()[-400:]}"]


def arrival_rows(batch: str, count: int) -> bytes:
    """A CSV of ``count`` valid arrivals with identities (record ids ``BATCH-n``), written
    without Django: the harness's own process has no settings."""
    buffer = io.StringIO()
    writer: csv.DictWriter[str] | None = None
    for n in range(count):
        year = 2005 + n % 19
        row = {
            "record_id": f"{batch}-{n:06d}",
            "sex": "MF"[n % 2],
            "arrival_date": f"{year}-{1 + n % 12:02d}",
            "birth_year": str(1950 + n % 50),
            "origin_province": "north_hamgyong",
            "occupation": "worker",
            "education": "secondary",
            "elite_category": "none",
            "left_north_date": str(year - 1),
            "transit_countries": "CN;LA;TH",
            "route": "via_china",
            "reasons": "economic_hardship",
            "protection": "hanawon",
            "name_ko": f"김순{n}",
            "name_en": f"Kim Sun {n}",
            "date_of_birth": "",
        }
        if writer is None:  # the interchange columns, in docs/data-formats.md's order
            writer = csv.DictWriter(buffer, fieldnames=list(row), lineterminator="\n")
            writer.writeheader()
        writer.writerow(row)
    return buffer.getvalue().encode()


@dataclass
class ImportArrivals(Operation):
    """`saebom import arrivals FILE`: one new file per run. All of its rows or none, and no
    person without its identity and arrival; earlier runs' files complete."""

    rows: int = 300
    name: str = "import"

    def _file(self, run: int) -> Path:
        path = self.site.work / f"arrivals-{run}.csv"
        if not path.exists():
            path.write_bytes(arrival_rows(f"K{run}", self.rows))
        return path

    def args(self, run: int) -> list[str]:
        return ["import", "arrivals", str(self._file(run))]

    def after_kill(self, run: int) -> list[str]:
        state = self.site.ask("registry", "K")
        problems = [
            f"{what}: {state[what]}"
            for what in (
                "persons_without_identity",
                "persons_without_arrival",
                "arrivals_without_reason",
            )
            if state[what]
        ]
        for batch, count in state["batches"].items():
            if count != self.rows:
                problems.append(f"import {batch} half-written: {count} of {self.rows} rows")
        for earlier in range(run):
            if state["batches"].get(f"K{earlier}") != self.rows:
                problems.append(f"import K{earlier}, re-run earlier, is not complete")
        if state["names_readable"] != state["identities"]:
            problems.append("identities whose name does not decrypt")
        return problems

    def rerun(self, run: int) -> list[str]:
        done = self.site.saebom(*self.args(run))
        problems = _failed(done)
        if not problems and f"{self.rows} rows read" not in done.stdout:
            problems.append(f"re-run did not report its {self.rows} rows: {done.stdout!r}")
        return problems


@dataclass
class RotateKeys(Operation):
    """`saebom keys rotate --batch-size B`. Killed, it may leave values under the old and the
    new key: every value must still decrypt, and a re-run finishes the same rotation (no further
    key) with nothing left under an older key."""

    batch_size: int = 25
    rows: int = 300
    name: str = "key rotation"
    _ring_before: list[str] = field(default_factory=list)

    def prepare(self) -> None:
        """Identities to re-encrypt (those of earlier loops count too)."""
        path = self.site.work / "identities.csv"
        path.write_bytes(arrival_rows("R", self.rows))
        done = self.site.saebom("import", "arrivals", str(path))
        assert done.returncode == 0, done.stderr

    def args(self, run: int) -> list[str]:
        self._ring_before = self.site.ask("keys")["ring"]
        return ["keys", "rotate", "--batch-size", str(self.batch_size)]

    def after_kill(self, run: int) -> list[str]:
        state = self.site.ask("keys")
        problems = []
        if state["unreadable"]:
            problems.append(f"{state['unreadable']} rows no longer decrypt")
        added = [k for k in state["ring"] if k not in self._ring_before]
        if len(added) > 1:
            problems.append(f"one rotation added {len(added)} keys")
        recent = set(self._ring_before[-1:] + added)
        stale = {k: n for k, n in state["per_key"].items() if k not in recent}
        if stale:
            problems.append(f"values under keys older than the last rotation's: {stale}")
        return problems

    def rerun(self, run: int) -> list[str]:
        before = self.site.ask("keys")
        done = self.site.saebom(*self.args(run))
        problems = _failed(done)
        after = self.site.ask("keys")
        if after["pending"] or after["unreadable"]:
            problems.append(
                f"after the re-run: {after['pending']} values pending, "
                f"{after['unreadable']} unreadable"
            )
        resumed = before["pending"] > 0
        if resumed and after["ring"] != before["ring"]:
            problems.append("the re-run added a key instead of resuming the rotation")
        return problems


@dataclass
class UploadEvidence(Operation):
    """Evidence upload through the real service, several files per run. Each file is either
    stored (its blob, its row, two custody events, its audit event) or absent. The rule for
    files on disk: a blob no row names (written, then killed before the transaction) is an
    ``orphan``, harmless (`evidence verify` reports it and passes; a re-upload of the same
    content reuses it); a ``.incoming-*`` file (killed mid-write) is ciphertext, skipped by
    every reader. A row without its blob is a failure."""

    files: int = 4
    size: int = 256 * 1024
    name: str = "evidence upload"

    def _files(self, run: int) -> list[str]:
        names = []
        rng = random.Random(f"evidence-{run}")
        for n in range(self.files):
            path = self.site.work / f"evidence-{run}-{n}.png"
            if not path.exists():
                path.write_bytes(b"\x89PNG\r\n\x1a\n" + rng.randbytes(self.size))
            names.append(str(path))
        return names

    def args(self, run: int) -> list[str]:
        return ["upload", DOCUMENTER, *self._files(run)]

    def after_kill(self, run: int) -> list[str]:
        state = self.site.ask("evidence")
        problems = []
        if state["rows_without_blob"]:
            problems.append(f"{state['rows_without_blob']} evidence rows without their file")
        if state["rows_with_custody_other_than_two"]:
            problems.append(f"{state['rows_with_custody_other_than_two']} half-recorded rows")
        if state["upload_events"] != state["rows"]:
            problems.append(f"{state['upload_events']} upload events for {state['rows']} rows")
        expected_before = run * self.files  # every earlier run was completed by its re-run
        if not expected_before <= state["rows"] <= expected_before + self.files:
            problems.append(f"{state['rows']} evidence rows, expected {expected_before}..")
        return problems

    def rerun(self, run: int) -> list[str]:
        done = self.site.run_module("tests.crashing", *self.args(run))
        problems = _failed(done)
        rows = self.site.ask("evidence")["rows"]
        if rows != (run + 1) * self.files:
            problems.append(f"after the re-run {rows} evidence rows, not {(run + 1) * self.files}")
        return problems


STALE_WORK = re.compile(r"\.backup-\d+-\w+")
STALE_PARTIAL = re.compile(r"\..+\.saebom-partial-\d+-[0-9a-f]{8}")


@dataclass
class Backup(Operation):
    """`saebom backup OUT`. Killed, nothing may be under OUT unless it is a whole archive that
    verifies; what it leaves is only its work dir (the plaintext snapshot, in the data dir, as
    private as the database itself) and its partial archive beside OUT, both named for its
    process id; TMPDIR stays empty. The re-run removes both and writes a whole archive."""

    name: str = "backup"

    def out(self, run: int) -> Path:
        return self.site.work / f"backup-{run}.saebom"

    def args(self, run: int) -> list[str]:
        return ["backup", str(self.out(run))]

    def leftovers(self) -> list[Path]:
        return [
            *(p for p in self.site.data_dir.iterdir() if STALE_WORK.fullmatch(p.name)),
            *(p for p in self.site.work.iterdir() if STALE_PARTIAL.fullmatch(p.name)),
        ]

    def after_kill(self, run: int) -> list[str]:
        problems = [f"left in TMPDIR: {p.name}" for p in self.site.tmp.iterdir()]
        out = self.out(run)
        if out.exists():
            problem = self.site.ask("archive", str(out))["problem"]
            if problem:
                problems.append(f"{out.name} is under its final name but damaged: {problem}")
        return problems

    def rerun(self, run: int) -> list[str]:
        out = self.out(run)
        if out.exists():  # the killed run had finished: back up again, under a new name
            out = out.with_suffix(".again")
        left = self.leftovers()
        done = self.site.saebom("backup", str(out))
        problems = _failed(done)
        remaining = [p.name for p in left if p.exists()] + [p.name for p in self.leftovers()]
        if remaining:
            problems.append(f"the re-run did not remove what the killed run left: {remaining}")
        if not problems:
            problem = self.site.ask("archive", str(out))["problem"]
            if problem:
                problems.append(f"the re-run's archive does not verify: {problem}")
        return problems


# --- the loop -----------------------------------------------------------------------------------


@dataclass
class Trace:
    times: list[float]

    @classmethod
    def read(cls, path: Path) -> Trace:
        lines = path.read_text().splitlines() if path.exists() else []
        return cls([float(line.split()[1]) for line in lines])

    @property
    def writes(self) -> int:
        return len(self.times)


@dataclass
class Run:
    mode: str  # "random" or "point"
    landed: str  # one of LANDINGS
    writes: int
    problems: list[str]


@dataclass
class LoopResult:
    operation: str
    vendor: str
    writes_uninterrupted: int
    seconds_uninterrupted: float
    runs: list[Run] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [
            f"{self.operation} run {n} ({r.mode}, {r.landed}): {p}"
            for n, r in enumerate(self.runs, start=1)
            for p in r.problems
        ]

    def landed(self, where: str) -> int:
        return sum(r.landed == where for r in self.runs)

    def summary(self) -> str:
        modes = Counter(r.mode for r in self.runs)
        return (
            f"{self.operation} ({self.vendor}): {len(self.runs)} runs ({modes['random']} random "
            f"delay, {modes['point']} at a write), {self.writes_uninterrupted} writes in "
            f"{self.seconds_uninterrupted:.1f} s uninterrupted; killed before "
            f"{self.landed('before')}, mid-write {self.landed('during')}, after the last write "
            f"{self.landed('after')}, finished first {self.landed('finished')}; "
            f"{len(self.problems)} problems"
        )


def _run_victim(
    site: Installation, args: list[str], trace: Path, kill_at: int, delay: float | None
) -> tuple[int, float, float]:
    """Start the victim. With ``delay``, kill its process group that long after its first
    write (immediately if it wrote nothing by then: it may be about to exit); else let it run
    (and kill itself at ``kill_at``). Its exit code (negative: the signal), start and wall time.

    The delay counts from the first write rather than from the start because the start-up time
    of a process varies by a second on a loaded machine, more than an operation's whole write."""
    trace.unlink(missing_ok=True)
    started = time.monotonic()
    victim = site.start_victim(args, trace, kill_at)
    try:
        if delay is None:
            victim.wait(timeout=PROCESS_TIMEOUT)
        else:
            deadline = started + PROCESS_TIMEOUT
            while victim.poll() is None and not (trace.exists() and trace.stat().st_size):
                if time.monotonic() > deadline:
                    raise AssertionError(f"{args[0]}: no write in {PROCESS_TIMEOUT} s")
                time.sleep(0.002)
            victim.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(victim.pid, signal.SIGKILL)  # pg_dump or any other child, too
        victim.communicate(timeout=60)
    return victim.returncode, started, time.monotonic() - started


def _landing(returncode: int, writes: int, total: int) -> str:
    if returncode >= 0:
        return "finished"
    if writes == 0:
        return "before"
    return "during" if writes < total else "after"


def crash_loop(operation: Operation, runs: int, seed: int) -> LoopResult:
    """An uninterrupted run to measure, then ``runs`` killed runs alternating a random delay and
    a write point, each checked, verified and re-run. Run indexes: 0 is the measure."""
    site, rng = operation.site, random.Random(f"{seed}-{operation.name}")
    trace = site.work / "trace"
    operation.prepare()
    code, _started, seconds = _run_victim(site, operation.args(0), trace, 0, None)
    measured = Trace.read(trace)
    assert code == 0 and measured.writes, f"{operation.name}: uninterrupted run exited {code}"
    result = LoopResult(operation.name, site.vendor, measured.writes, seconds)
    # Random delays, from the first write, span the time in which the uninterrupted run wrote,
    # and a little more.
    span = measured.times[-1] - measured.times[0]
    window = (0.0, 1.2 * span + 0.05)
    for run in range(1, runs + 1):
        random_delay = run % 2 == 1
        # From the second write: a kill before the first is what a random delay often gives.
        kill_at = 0 if random_delay else rng.randint(min(2, measured.writes), measured.writes)
        delay = rng.uniform(*window) if random_delay else None
        code, _, _ = _run_victim(site, operation.args(run), trace, kill_at, delay)
        writes = Trace.read(trace).writes
        problems = operation.after_kill(run) + site.verify_problems()
        problems += operation.rerun(run)
        result.runs.append(
            Run(
                "random" if random_delay else "point",
                _landing(code, writes, measured.writes),
                writes,
                problems,
            )
        )
    return result


def operations(site: Installation, scale: float = 1.0) -> list[Operation]:
    """The four operations, sized so that each writes for about a second at scale 1."""
    rows = max(20, int(300 * scale))
    return [
        ImportArrivals(site, rows=rows),
        RotateKeys(site, rows=rows, batch_size=max(5, int(25 * scale))),
        UploadEvidence(site, files=6, size=int(512 * 1024 * scale)),
        Backup(site),
    ]


# --- a full disk ---------------------------------------------------------------------------------

FULL_DISK_WORDS = ("no space left", "disk is full")
STORE_FULL = "no space left in the evidence store; nothing was stored"  # blobs.StoreFull


UNMOUNT_TRIES = 10


@contextlib.contextmanager
def tmpfs(directory: Path, size_kib: int) -> Iterator[list[str]]:
    """A tmpfs of ``size_kib`` mounted on ``directory`` (needs root), unmounted afterwards.
    Yields a list that receives, on leaving, the problem of an unmount that failed: the mount
    was busy (a process still using it) and was detached lazily instead."""
    directory.mkdir(mode=0o700, exist_ok=True)
    options = f"size={size_kib}k,mode=0700"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)], check=True)
    problems: list[str] = []
    try:
        yield problems
    finally:
        problem = _unmount(directory)
        if problem:
            problems.append(problem)
            sys.stderr.write(f"{problem}\n")  # seen even when the block itself failed


def _unmount(directory: Path) -> str:
    """Unmount ``directory``, retrying for a few seconds while it is busy, then detaching it
    (``umount -l``: the temporary directory can then be removed). The problem, or ''."""
    for _ in range(UNMOUNT_TRIES):
        done = subprocess.run(["umount", str(directory)], capture_output=True, text=True)
        if done.returncode == 0:
            return ""
        time.sleep(0.5)
    lazy = subprocess.run(["umount", "-l", str(directory)], capture_output=True, text=True)
    return (
        f"the tmpfs on {directory} could not be unmounted ({done.stderr.strip()}); "
        f"lazily detached: {'done' if lazy.returncode == 0 else lazy.stderr.strip()}"
    )


def grow(directory: Path, size_kib: int) -> None:
    options = f"remount,size={size_kib}k"
    subprocess.run(["mount", "-o", options, str(directory)], check=True)


def _usage_kib(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) // 1024


@dataclass
class Filling:
    """One operation repeated on a small disk until it failed, then again after space was
    freed."""

    operation: str
    succeeded: int = 0
    error: str = ""
    problems: list[str] = field(default_factory=list)
    also: str = ""  # what else was tried on the full disk, and its answer

    def summary(self) -> str:
        also = f"; {self.also}" if self.also else ""
        return (
            f"{self.operation}: {self.succeeded} done before the disk was full, then "
            f"{self.error!r}{also}; {len(self.problems)} problems"
        )


def _refusal_problems(done: subprocess.CompletedProcess[str]) -> tuple[str, list[str]]:
    """A refused run must say, in exactly one line and without a traceback, that the disk is
    full. Nothing else is expected on stderr (no warnings are filtered: none is printed)."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    problems = []
    if "Traceback" in done.stderr:
        problems.append(f"a traceback instead of an error: {done.stderr[-600:]}")
    elif len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, not one: {done.stderr[-600:]!r}")
    elif not any(word in last.lower() for word in FULL_DISK_WORDS):
        problems.append(f"the error does not say the disk is full: {done.stderr[-300:]!r}")
    return last, problems


def _fill(
    name: str, attempt: Callable[[int], subprocess.CompletedProcess[str]], limit: int = 60
) -> tuple[Filling, int]:
    """Run ``attempt(n)`` for n = 0, 1, ... until one fails. The filling, and the failed n."""
    filling = Filling(name)
    for n in range(limit):
        done = attempt(n)
        if done.returncode != 0:
            filling.error, filling.problems = _refusal_problems(done)
            return filling, n
        filling.succeeded += 1
    filling.problems.append(f"the disk was not full after {limit} runs")
    return filling, limit


def full_disk(site: Installation, headroom_kib: int = 1024) -> list[Filling]:
    """A copy of ``site``'s data dir on a tmpfs with ``headroom_kib`` to spare (SQLite: with
    its database; PostgreSQL: the keys, evidence and backup work files). Imports (SQLite only:
    PostgreSQL's database is not on the tmpfs), evidence uploads and backups fill it until
    each is refused. Then: what was stored before is intact and nothing half-written is left;
    once space is freed, both verify commands pass and each refused operation succeeds."""
    site.close()
    root = site.root / "full-disk"
    root.mkdir(mode=0o700)
    size = _usage_kib(site.data_dir) + headroom_kib
    data = root / "data"
    with tmpfs(data, size) as unmounting:
        for entry in site.data_dir.iterdir():
            if STALE_WORK.fullmatch(entry.name):
                continue
            if entry.is_dir():
                shutil.copytree(entry, data / entry.name, symlinks=True)
            else:
                shutil.copy2(entry, data / entry.name)
        url = site.database_url
        if site.vendor == "sqlite":
            url = f"sqlite:///{data / 'saebom.sqlite3'}"
        small = Installation(site.vendor, root, url)
        for directory in (small.work, small.tmp):
            directory.mkdir(mode=0o700)
        try:
            fillings = _fill_and_free(small, size)
        finally:
            small.close()
    fillings[-1].problems += unmounting
    return fillings


def _fill_and_free(site: Installation, size_kib: int) -> list[Filling]:
    rows, evidence_size = 300, 192 * 1024
    fillings: list[Filling] = []
    retries: list[Callable[[], subprocess.CompletedProcess[str]]] = []
    before = site.ask("registry", "F")["batches"]
    token = site.ask("api_token", DOCUMENTER)["secret"]  # while there is room to store it

    def import_file(n: int) -> subprocess.CompletedProcess[str]:
        path = site.work / f"fill-{n}.csv"
        path.write_bytes(arrival_rows(f"F{n}", rows))
        return site.saebom("import", "arrivals", str(path))

    if site.vendor == "sqlite":
        filling, refused = _fill("import", import_file)
        batches = site.ask("registry", "F")["batches"]
        if f"F{refused}" in batches or len(batches) != len(before) + filling.succeeded:
            filling.problems.append(f"imports stored after the refusal: {batches}")
        fillings.append(filling)
        retries.append(lambda: import_file(refused))

    def upload(n: int) -> subprocess.CompletedProcess[str]:
        path = site.work / f"fill-{n}.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + random.Random(f"fill-{n}").randbytes(evidence_size))
        return site.run_module("tests.crashing", "upload", DOCUMENTER, str(path))

    rows_before = site.ask("evidence")["rows"]
    filling, refused_upload = _fill("evidence upload", upload)
    state = site.ask("evidence")
    if state["rows"] != rows_before + filling.succeeded or state["rows_without_blob"]:
        filling.problems.append(f"evidence after the refusal: {state}")
    if filling.error and filling.error != f"saebom: {STORE_FULL}":
        filling.problems.append(f"not the evidence store's refusal: {filling.error!r}")
    api_file = site.work / "fill-api.png"
    api_file.write_bytes(b"\x89PNG\r\n\x1a\n" + random.Random("fill-api").randbytes(evidence_size))
    filling.also, problems = _api_refusal(site, token, api_file)
    filling.problems += problems
    fillings.append(filling)
    retries.append(lambda: upload(refused_upload))

    def backup(n: int) -> subprocess.CompletedProcess[str]:
        return site.saebom("backup", str(site.data_dir / f"fill-{n}.saebom"))

    filling, refused_backup = _fill("backup", backup)
    left = [p.name for p in site.data_dir.iterdir() if p.name.startswith(".")]
    if (site.data_dir / f"fill-{refused_backup}.saebom").exists() or left:
        filling.problems.append(f"the refused backup left {left or 'its archive'}")
    fillings.append(filling)
    retries.append(lambda: backup(refused_backup))

    audit = site.saebom("audit", "verify")  # reads only: it works on a full disk
    if audit.returncode != 0:
        fillings[-1].problems.append(f"audit verify on the full disk: {audit.stderr[-300:]}")
    grow(site.data_dir, size_kib * 4)
    for filling, retry in zip(fillings, retries, strict=True):
        filling.problems += site.verify_problems()
        done = retry()
        if done.returncode != 0:
            filling.problems.append(f"after space was freed: {done.stderr[-300:]}")
    answer = _api_upload(site, token, api_file)
    if answer.get("status") != 201:
        upload_filling = next(f for f in fillings if f.operation == "evidence upload")
        upload_filling.problems.append(f"the API upload after space was freed: {answer}")
    return fillings


def _api_upload(site: Installation, token: str, path: Path) -> dict[str, Any]:
    """``POST /api/v1/evidence`` of ``path`` (:func:`api_upload_main`): its answer, or
    ``{"crashed": stderr}`` when the API let an exception out."""
    done = site.run_module(
        "tests.crashing", "api-upload", str(path), extra={API_TOKEN_VARIABLE: token}
    )
    if done.returncode != 0:  # the application's frames, and the exception
        lines = done.stderr.strip().splitlines()
        ours = [line.strip() for line in lines if "/saebom/" in line]
        return {"crashed": [*ours, lines[-1] if lines else ""]}
    answer: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return answer


def _api_refusal(site: Installation, token: str, path: Path) -> tuple[str, list[str]]:
    """On the full disk, an API upload must be answered 507 with a problem document that says
    why, and store nothing: no row, no blob, no work file, no audit event."""
    before = site.ask("evidence")
    answer = _api_upload(site, token, path)
    after = site.ask("evidence")
    problems = []
    status, kind = answer.get("status"), answer.get("content_type")
    if (status, kind) != (507, "application/problem+json"):
        problems.append(f"the API upload on the full disk was not a 507 problem: {answer}")
    elif answer["body"].get("detail", {}).get("message") != STORE_FULL:
        problems.append(f"the API's 507 does not say the store is full: {answer['body']}")
    if after != before:
        problems.append(f"the refused API upload stored something: {before} -> {after}")
    return f"the API: {status} {kind}", problems


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "victim":
        raise SystemExit(victim_main(rest))
    if command == "upload":
        raise SystemExit(upload_main(rest))
    if command == "api-upload":
        raise SystemExit(api_upload_main(rest))
    if command == "probe":
        raise SystemExit(probe_main())
    raise SystemExit(f"unknown command {command}")
