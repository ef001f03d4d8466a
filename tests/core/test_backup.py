"""`saebom backup` and `saebom restore`: a real store, backed up and restored by the real command
into an empty data dir (and, on PostgreSQL, an empty database), then compared; every way an
archive can be damaged, crafted or forged, refused with its message and nothing written to the
target; and what an interrupted, terminated or starved run leaves behind (nothing).

Archives here are sealed with scrypt n = 2^14 (SAEBOM_BACKUP_SCRYPT_N), not the default 2^18:
one test checks the default and that the cheaper cost is announced."""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import io
import json
import os
import re
import resource
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tarfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from saebom.accounts.models import Agency
from saebom.config import field_keys_path
from saebom.core import backup, blobs
from saebom.core.actors import system_actor
from saebom.core.audit import GENESIS_HASH, audit_head
from saebom.core.crypto import KeyRing, write_secret_file
from saebom.core.fields import keyring
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.registry.interchange import parse_row
from saebom.registry.models import PersonIdentity
from saebom.registry.services import arrival_create
from saebom.stats.output import render
from saebom.stats.reports import arrivals_report
from saebom.support.services import case_open
from saebom.testimony import services as testimony
from tests.factories import UserFactory
from tests.registry.helpers import row

# Only the tests that build a store are transactional (their data must be visible to the
# command's own process); the others use one archive made for the module, or none.
transactional = pytest.mark.django_db(transaction=True)

PASSPHRASE = "correct horse battery staple 42"
TRANSCRIPT = "Transcript: my neighbour Ri Sun-hui was taken by the bowibu in March 2009."
PDF = b"%PDF-1.7\nstatement of witness W-23, Hoeryong\n%%EOF\n"
SMALL_CHUNKS = 4096
TEST_SCRYPT_N = str(1 << 14)


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(backup.SCRYPT_N_ENV, TEST_SCRYPT_N)


# --- running the command -----------------------------------------------------------------------


def database_url(settings_dict: dict[str, Any]) -> str:
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(str(settings_dict.get("USER") or ""), safe="")
    password = settings_dict.get("PASSWORD")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    host = settings_dict.get("HOST") or "localhost"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{settings_dict['NAME']}"


class Installation:
    """One installation as the real command sees it: its data dir, database and evidence."""

    def __init__(self, data_dir: Path, database: str, evidence_dir: Path) -> None:
        self.data_dir, self.database, self.evidence_dir = data_dir, database, evidence_dir

    def environment(self, secret: bool) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SAEBOM_BACKUP", "SAEBOM_FIELD_KEYS", "SAEBOM_SECRET_KEY"))
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "saebom.settings",
                "SAEBOM_DATA_DIR": str(self.data_dir),
                "DATABASE_URL": self.database,
                "SAEBOM_EVIDENCE_DIR": str(self.evidence_dir),
                backup.SCRYPT_N_ENV: TEST_SCRYPT_N,
                "LANG": "C.UTF-8",
            }
        )
        if secret:
            env["SAEBOM_BACKUP_PASSPHRASE"] = PASSPHRASE
        return env

    def run(
        self, *args: str, secret: bool = True, file_limit: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        def limit() -> None:  # in the child: files larger than this cannot be written
            assert file_limit is not None
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

        return subprocess.run(
            [sys.executable, "-m", "saebom.cli", *args],
            stdin=subprocess.DEVNULL,  # never a prompt, even under pytest -s
            capture_output=True,
            text=True,
            env=self.environment(secret),
            check=False,
            timeout=120,
            preexec_fn=limit if file_limit else None,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "saebom.cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.environment(True),
        )

    def contents(self) -> list[str]:
        found = [p for p in self.data_dir.rglob("*") if p != self.evidence_dir]
        return sorted(str(p.relative_to(self.data_dir)) for p in found)


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr


@pytest.fixture
def evidence_dir(tmp_path: Path, settings: Any) -> Path:
    settings.SAEBOM_EVIDENCE_DIR = tmp_path / "evidence"
    return tmp_path / "evidence"


@pytest.fixture
def source(evidence_dir: Path) -> Installation:
    """The test database and the test data dir (its keys) as the installation backed up."""
    return Installation(
        Path(django_settings.DATA_DIR), database_url(connection.settings_dict), evidence_dir
    )


@pytest.fixture
def empty_database() -> Iterator[str]:
    """SQLite: the file a new data dir would hold. PostgreSQL: a new, empty database."""
    if connection.vendor == "sqlite":
        yield ""
        return
    name = f"{connection.settings_dict['NAME']}_restored"
    postgres_execute(f'DROP DATABASE IF EXISTS "{name}"')
    postgres_execute(f'CREATE DATABASE "{name}"')
    yield name
    postgres_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_execute(sql: str, database: str = "postgres") -> None:
    import psycopg

    params = {**connection.get_connection_params(), "dbname": database}
    with psycopg.connect(**params, autocommit=True) as db:
        db.execute(sql)


@pytest.fixture
def target(tmp_path: Path, empty_database: str) -> Installation:
    """A new data dir holding only a copy of the source's field key ring."""
    data_dir = tmp_path / "restored"
    data_dir.mkdir(mode=0o700)
    ring = field_keys_path(Path(django_settings.DATA_DIR)).read_text()
    write_secret_file(data_dir / "field_keys.json", ring)
    if empty_database:
        database = database_url({**connection.settings_dict, "NAME": empty_database})
    else:
        database = f"sqlite:///{data_dir / 'saebom.sqlite3'}"
    return Installation(data_dir, database, data_dir / "evidence")


def relations(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as db:
        found = db.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public'"
        ).fetchone()
    return int(found[0]) if found else 0


def build_store() -> dict[str, Any]:
    """A few arrivals with identities, a case, a testimony with an evidence file."""
    agency = Agency.objects.create(code="alpha", name_ko="알파 센터", name_en="Alpha Centre")
    staff = {
        role: UserFactory(role=role, agency=agency, username=role, password=None, with_totp=False)
        for role in (Role.INTAKE_OFFICER, Role.CASEWORKER, Role.DOCUMENTER)
    }
    arrivals = [
        arrival_create(actor=staff[Role.INTAKE_OFFICER], data=parse_row(row(n)))
        for n in range(1, 8)
    ]
    case_open(
        actor=staff[Role.CASEWORKER],
        person=arrivals[0].person,
        opened_on=date(2024, 1, 10),
        protection_start=date(2024, 1, 15),
    )
    interview = testimony.testimony_create(
        actor=staff[Role.DOCUMENTER],
        interview_date=date(2024, 5, 2),
        language="ko",
        summary="Detention at a holding centre after forced repatriation.",
        transcript=TRANSCRIPT,
        witness_identity="Witness W-23, born 1968 in Hoeryong",
        witness_sex="F",
        interview_place="Seoul office, room 3",
        consent_scope="publish_anonymised",
        consent_given_on=date(2024, 5, 2),
    )
    evidence = testimony.evidence_upload(
        actor=staff[Role.DOCUMENTER],
        filename="statement.pdf",
        data=PDF,
        received_from="Witness W-23, in person",
        received_on=date(2024, 5, 2),
        description="signed statement",
    )
    testimony.evidence_link(actor=staff[Role.DOCUMENTER], evidence=evidence, testimony=interview)
    identity = PersonIdentity.objects.get(person=arrivals[0].person)
    return {"person": arrivals[0].person.pk, "name_ko": identity.name_ko, "sha": evidence.sha256}


def report_csv() -> bytes:
    report = arrivals_report(actor=system_actor(), by="year,sex")
    return render(report, "csv", lang="en")


READ_BACK = """
import hashlib
from saebom.core import blobs
from saebom.registry.models import PersonIdentity
from saebom.testimony.models import Testimony
print(PersonIdentity.objects.get(person_id={person}).name_ko)
print(Testimony.objects.get().transcript)
print(hashlib.sha256(blobs.get("{sha}")).hexdigest())
"""


# --- backup, restore, compare ------------------------------------------------------------------


@transactional
def test_restore_into_an_empty_data_dir_gives_the_same_installation(
    source: Installation, target: Installation, tmp_path: Path
) -> None:
    facts = build_store()
    archive = tmp_path / "saebom.backup"
    made = source.run("backup", str(archive))
    assert made.returncode == 0, made.stderr
    seq, digest = audit_head()  # the backup's own event included: it is in the archive
    head = f"{seq}:{digest}"
    assert f"audit head {head}" in made.stdout and f"--expect-head {head}" in made.stdout
    assert "field_keys.json" in made.stdout and "secret_key" in made.stdout
    assert "The keys are NOT in this archive" in made.stdout
    assert f"scrypt n={TEST_SCRYPT_N}," in made.stdout
    assert "meant for tests only" in made.stderr  # a weaker KDF is never silent
    assert archive.stat().st_mode & 0o777 == 0o600
    raw = archive.read_bytes()
    assert TRANSCRIPT.encode() not in raw and b"core_auditevent" not in raw
    assert facts["name_ko"].encode() not in raw
    tables = len(connection.introspection.table_names())

    restored = target.run("restore", str(archive), "--expect-head", head)
    assert restored.returncode == 0, restored.stderr
    out = restored.stdout
    assert "origin verified" in out
    assert f"rows in {tables} tables match the manifest" in out  # counted in the restored file
    assert f"{seq} events verified up to the archived head" in out
    after = re.search(rf"archived head {head}; after the restore event (\d+:[0-9a-f]{{64}})", out)
    assert after is not None, out
    assert after.group(1).startswith(f"{seq + 1}:")
    assert "evidence intact: 1 files verified" in out
    assert (target.data_dir / "secret_key").stat().st_mode & 0o777 == 0o600
    assert not [p for p in target.data_dir.iterdir() if p.name.startswith(".")]

    # The same chain up to the archived head, and the restore event after it; intact.
    for expected in (head, after.group(1)):
        verify = target.run("audit", "verify", "--expect-head", expected)
        assert verify.returncode == 0, verify.stderr
        assert f"{seq + 1} events verified" in verify.stdout
    evidence = target.run("evidence", "verify")
    assert evidence.returncode == 0, evidence.stderr
    assert "1 files verified" in evidence.stdout
    # The same report, and encrypted values read back with the same keys.
    report = target.run("report", "arrivals", "--by", "year,sex", "--format", "csv")
    assert report.returncode == 0, report.stderr
    assert report.stdout == report_csv().decode().replace("\r\n", "\n")
    read = target.run("shell", "-c", READ_BACK.format(**facts))
    assert read.returncode == 0, read.stderr
    name, transcript, sha = read.stdout.strip().splitlines()[-3:]
    assert (name, transcript, sha) == (facts["name_ko"], TRANSCRIPT, facts["sha"])


@transactional
def test_restore_refuses_a_target_that_is_not_empty(
    source: Installation, target: Installation, tmp_path: Path
) -> None:
    archive = tmp_path / "a.backup"
    backup.create_backup(archive, backup.Passphrase(PASSPHRASE), actor=system_actor())
    # The source itself: its database and evidence store are in the way.
    blobs.put(PDF)
    proc = source.run("restore", str(archive))
    assert proc.returncode == 1
    message = one_line(proc)
    assert "refusing to restore over existing data" in message
    assert str(source.evidence_dir) in message and "holds 1 files" in message
    if connection.vendor == "sqlite":
        assert f"the database file {connection.settings_dict['NAME']} exists" in message
    else:
        assert "is not empty: it holds" in message and "(public." in message
    assert not [p for p in source.evidence_dir.iterdir() if p.name.startswith(".")]


def test_what_is_in_the_way_is_named(tmp_path: Path) -> None:
    target = scratch_target(tmp_path)
    assert backup.obstacles(target) == []
    database = target.sqlite_path
    for suffix in ("-shm", "-journal", "-wal"):
        Path(f"{database}{suffix}").write_bytes(b"")
        assert backup.obstacles(target) == [f"the database file {database}{suffix} exists"]
        Path(f"{database}{suffix}").unlink()
    target.evidence_dir.mkdir()
    (target.evidence_dir / "ab").mkdir()  # empty directories are not in the way
    assert backup.obstacles(target) == []
    (target.evidence_dir / "cd").symlink_to(tmp_path)  # a link is, even to a directory
    assert backup.obstacles(target) == [
        f"the evidence directory {target.evidence_dir} holds 1 files"
    ]


# --- secrets -------------------------------------------------------------------------------------


class NotATerminal(io.StringIO):
    def isatty(self) -> bool:
        return False


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_backup_needs_a_passphrase_and_never_takes_or_repeats_it_as_an_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "x.backup"
    monkeypatch.delenv(backup.PASSPHRASE_ENV, raising=False)
    monkeypatch.setattr(sys, "stdin", NotATerminal())  # never a prompt, even under pytest -s
    with pytest.raises(CommandError, match="SAEBOM_BACKUP_PASSPHRASE"):
        call_command("backup", str(out))
    short = tmp_path / "short"
    write_secret_file(short, "too short\n")
    with pytest.raises(CommandError, match="at least 12 characters"):
        call_command("backup", str(out), "--passphrase-file", str(short))
    for command, args in (("backup", [str(out)]), ("restore", [str(out)])):
        for given in (["--passphrase", PASSPHRASE], [f"--passphrase={PASSPHRASE}"]):
            with pytest.raises(CommandError) as refused:
                call_command(command, *args, *given)
            assert "unrecognized arguments: --passphrase (" in str(refused.value)
            assert PASSPHRASE not in str(refused.value) and "staple" not in str(refused.value)
    assert not out.exists()


def test_passphrase_files_give_their_first_line_only_when_private(tmp_path: Path) -> None:
    file = tmp_path / "passphrase"
    write_secret_file(file, "first line with spaces \r\nsecond line\n")
    assert backup.passphrase_from(file) == backup.Passphrase("first line with spaces ")
    write_secret_file(file, "one\u2028line\x0bstill\n")  # splitlines() would cut these
    assert backup.passphrase_from(file) == backup.Passphrase("one\u2028line\x0bstill")
    file.chmod(0o640)
    with pytest.raises(backup.BackupError, match="readable by other users"):
        backup.passphrase_from(file)
    # The same words typed on a system that decomposes Hangul open the archive.
    composed = "새봄 백업 비밀번호 문장입니다"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed and backup.Passphrase(decomposed).text == composed
    sealed = tmp_path / "nfc.backup"
    with open(sealed, "wb") as out:
        writer = backup.SealingWriter(out, backup.Passphrase(composed), SMALL_CHUNKS)
        writer.write(b"contents")
        writer.close()
    assert plaintext(sealed, decomposed) == b"contents"


def test_passphrases_are_asked_for_on_a_terminal(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(backup.PASSPHRASE_ENV, raising=False)
    monkeypatch.setattr(sys, "stdin", Terminal())
    answers = iter([PASSPHRASE, PASSPHRASE, PASSPHRASE + "!"])
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(getpass, "getpass", answer)
    out = io.StringIO()
    call_command("restore", str(archive), "--verify-only", stdout=out, stderr=io.StringIO())
    assert prompts == ["backup passphrase: "] and "archive authenticated" in out.getvalue()
    with pytest.raises(CommandError, match="the two passphrases differ"):
        call_command("backup", str(tmp_path / "new.backup"))
    assert prompts[1:] == ["backup passphrase: ", "again: "]


def test_the_default_cost_and_the_cheaper_one_for_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backup.SCRYPT_N_ENV)
    header = io.BytesIO()
    backup.SealingWriter(header, backup.Passphrase(PASSPHRASE))
    params = json.loads(header.getvalue().split(b"\n")[1])
    assert (params["n"], params["r"], params["p"]) == (1 << 18, 8, 1)
    for wrong in ("1000", "65537", str(1 << 21), "-1", "many"):
        monkeypatch.setenv(backup.SCRYPT_N_ENV, wrong)
        with pytest.raises(backup.BackupError, match="must be a power of two"):
            backup.SealingWriter(io.BytesIO(), backup.Passphrase(PASSPHRASE))


@pytest.mark.parametrize(
    ("cost", "message"),
    [
        ({"n": 1 << 22}, "n=4194304 is outside"),
        ({"n": 1 << 20, "r": 16}, "more work or memory"),  # 2 GiB
        ({"n": 1 << 20, "p": 4}, "more work or memory"),  # 32 times the default's work
        ({"p": 5}, "p=5 is outside"),
        ({"n": 3 << 14}, "more work or memory"),  # not a power of two
        ({"r": 0}, "r=0 is outside"),
    ],
)
def test_scrypt_parameters_are_bounded_before_any_work(
    tmp_path: Path, cost: dict[str, int], message: str
) -> None:
    """The header is not authenticated until the key is derived: its cost must be bounded
    first, or an archive could make a restore take all memory."""
    params = {
        "cipher": "AES-256-GCM",
        "chunk_size": SMALL_CHUNKS,
        "nonce_prefix": "AAAAAAAAAA==",
        "kind": "passphrase",
        "kdf": "scrypt",
        "salt": "AAAAAAAAAAAAAAAAAAAAAA==",
        "n": 1 << 18,
        "r": 8,
        "p": 1,
        **cost,
    }
    path = tmp_path / "costly.backup"
    path.write_bytes(
        b"SAEBOM-BACKUP v1\n"
        + json.dumps(params).encode()
        + b"\n"
        + b"0" * 64
        + b"\n"
        + bytes(16)  # one empty chunk's tag
        + backup.END.pack(backup.END_MAGIC, 1, 0)
    )
    with pytest.raises(backup.UnknownFormat, match=re.escape(message)):
        plaintext(path)


# --- one archive for the module ------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_archive(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """One archive of the test database and an evidence file, in small chunks (so it has many);
    the test database is emptied again after, as a transactional test leaves it."""
    directory = tmp_path_factory.mktemp("archive")
    path = directory / "archive.backup"
    with (
        pytest.MonkeyPatch.context() as patch,
        django_db_blocker.unblock(),
        override_evidence(directory / "ev"),
    ):
        patch.setenv(backup.SCRYPT_N_ENV, TEST_SCRYPT_N)
        blobs.put(PDF)
        backup.create_backup(
            path, backup.Passphrase(PASSPHRASE), actor=system_actor(), chunk_size=SMALL_CHUNKS
        )
        call_command("flush", "--no-input", verbosity=0)
    return path


@contextlib.contextmanager
def override_evidence(directory: Path) -> Iterator[None]:
    from django.test import override_settings

    with override_settings(SAEBOM_EVIDENCE_DIR=directory):
        yield


@pytest.fixture
def archive(module_archive: Path, tmp_path: Path, transactional_db: None) -> Path:
    """This test's copy of the module's archive. (``transactional_db``: so that a run of only
    such tests still has the test database set up for the module's archive, and so that these
    tests run with the transactional ones, after every test that needs what the migrations
    put in the database: the module's archive empties it.)"""
    return Path(shutil.copy(module_archive, tmp_path / "archive.backup"))


def archived_head(path: Path) -> str:
    return backup.verify_archive(path, backup.Passphrase(PASSPHRASE), ring=keyring()).archived_head


def header_size(path: Path) -> int:
    with open(path, "rb") as stream:
        return sum(len(stream.readline()) for _ in range(3))


def chunk_span(path: Path, index: int) -> tuple[int, int]:
    start = header_size(path) + index * (SMALL_CHUNKS + 16)
    return start, start + SMALL_CHUNKS + 16


def flipped(path: Path, offset: int) -> Path:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    out = path.with_name("flipped.backup")
    out.write_bytes(bytes(raw))
    return out


def swapped(path: Path, first: int, second: int) -> Path:
    raw = path.read_bytes()
    (a0, a1), (b0, b1) = chunk_span(path, first), chunk_span(path, second)
    out = path.with_name("swapped.backup")
    out.write_bytes(raw[:a0] + raw[b0:b1] + raw[a1:b0] + raw[a0:a1] + raw[b1:])
    return out


def plaintext(path: Path, passphrase: str = PASSPHRASE) -> bytes:
    """Authenticate every chunk; the plaintext."""
    with open(path, "rb") as stream:
        reader = backup.OpeningReader(stream, path.stat().st_size, backup.Passphrase(passphrase))
        return reader.read(-1)


def seal(path: Path, data: bytes, protector: backup.Protector) -> Path:
    with open(path, "wb") as out:
        writer = backup.SealingWriter(out, protector, SMALL_CHUNKS)
        writer.write(data)
        writer.close()
    return path


def scratch_target(root: Path, vendor: str = "sqlite", **settings_dict: Any) -> backup.Target:
    """A restore target in ``root/data``, for what the command would do short of the database."""
    data = root / "data"
    data.mkdir(parents=True)
    return backup.Target(
        vendor=vendor,
        settings_dict={"NAME": str(data / "saebom.sqlite3"), **settings_dict},
        evidence_dir=data / "evidence",
        data_dir=data,
    )


def stage_only(
    path: Path, opener: backup.Opener, target: backup.Target, allow_other_keys: bool = False
) -> None:
    """All a restore does before moving into place; the staging removed again."""
    with backup.staged(path, opener, target, ring=keyring(), allow_other_keys=allow_other_keys):
        pass


# --- damaged archives, through the command -------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("wrong passphrase", "wrong passphrase"),
        ("flipped byte", "chunk MIDDLE of"),
        ("other key ring", "not the one the archive was made under"),
    ],
)
def test_a_damaged_archive_is_refused_and_nothing_is_written(
    archive: Path, target: Installation, damage: str, message: str, tmp_path: Path
) -> None:
    chunks = backup.END.unpack(archive.read_bytes()[-backup.END.size :])[1]
    middle = chunks // 2
    message = message.replace("MIDDLE", str(middle + 1))
    options: list[str] = []
    if damage == "wrong passphrase":
        wrong = tmp_path / "wrong"
        write_secret_file(wrong, "correct horse battery stapler\n")
        options = ["--passphrase-file", str(wrong)]
    elif damage == "flipped byte":
        archive = flipped(archive, chunk_span(archive, middle)[0] + 1000)
    else:
        write_secret_file(target.data_dir / "field_keys.json", KeyRing.generate().to_json())
    before = target.contents()
    proc = target.run("restore", str(archive), *options)
    assert proc.returncode == 1, proc.stdout
    assert message in one_line(proc)
    assert target.contents() == before  # no database, no evidence, no staging, no secret key
    assert not target.evidence_dir.exists()
    if connection.vendor == "postgresql":
        assert relations(target.database) == 0


def test_a_forged_archive_sealed_for_the_recipient_key_is_refused(
    archive: Path, target: Installation, tmp_path: Path
) -> None:
    """Anyone with the public key can seal an archive for it; here, the contents of a real
    archive re-sealed by such a forger. Only the origin check tells it from a real one."""
    identity = backup.Identity.generate()
    identity_file = tmp_path / "identity"
    identity.write_new(identity_file)
    forged = seal(tmp_path / "forged.backup", plaintext(archive), identity.recipient())
    before = target.contents()
    proc = target.run("restore", str(forged), "--identity-file", str(identity_file))
    assert proc.returncode == 1
    assert "origin check fails: this installation did not make it" in one_line(proc)
    assert target.contents() == before and not target.evidence_dir.exists()
    if connection.vendor == "postgresql":
        assert relations(target.database) == 0
    # --allow-other-keys does not let it through either: the ring holds the very key named.
    with pytest.raises(backup.ArchiveDamaged, match="origin check fails"):
        stage_only(forged, identity, scratch_target(tmp_path / "t", connection.vendor), True)
    # Without a ring, nothing can tell: said so, not hidden.
    checked = backup.verify_archive(forged, identity, ring=None)
    assert checked.origin_problem == "no field key ring is configured here"


def test_an_older_archive_is_refused_against_the_recorded_head(
    archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(backup.PASSPHRASE_ENV, PASSPHRASE)
    head = archived_head(archive)
    seq, digest = head.split(":")
    newer = f"{int(seq) + 1}:{'a' * 64}"
    with pytest.raises(CommandError, match=f"audit head is {head}, not the expected {newer}"):
        call_command("restore", str(archive), "--verify-only", "--expect-head", newer)
    out = io.StringIO()
    call_command(
        "restore", str(archive), "--verify-only", "--expect-head", head, stdout=out, stderr=out
    )
    assert f"audit head {head}" in out.getvalue()
    with pytest.raises(CommandError, match="expected SEQ:HASH"):
        call_command("restore", str(archive), "--verify-only", "--expect-head", digest)


def test_verify_only_needs_no_keys_and_writes_nothing(
    archive: Path, tmp_path: Path, module_archive: Path
) -> None:
    nowhere = tmp_path / "no-installation"
    installation = Installation(nowhere, f"sqlite:///{nowhere / 'db.sqlite3'}", nowhere / "ev")
    before = tree(tmp_path)
    proc = installation.run("restore", str(archive), "--verify-only")
    assert proc.returncode == 0, proc.stderr
    assert "archive authenticated" in proc.stdout and "nothing was written" in proc.stdout
    assert "evidence files and audit head" in proc.stdout
    assert "origin is NOT verified (no field key ring is configured here)" in proc.stderr
    assert tree(tmp_path) == before and not nowhere.exists()
    damaged = flipped(archive, header_size(archive) + 5000)
    proc = installation.run("restore", str(damaged), "--verify-only")
    assert proc.returncode == 1 and "failed authentication" in one_line(proc)
    assert not nowhere.exists()


def test_allow_other_keys_restores_and_says_the_origin_is_unverified(
    archive: Path, target: Installation
) -> None:
    # Another key under the archive's key id (a test run may have rotated the ring: not k1).
    key_id = keyring().active_id
    other = KeyRing(active_id=key_id, keys={key_id: os.urandom(32)}, index_key=os.urandom(32))
    write_secret_file(target.data_dir / "field_keys.json", other.to_json())
    proc = target.run("restore", str(archive), "--allow-other-keys")
    assert "restored into" in proc.stdout, proc.stderr
    assert f"origin is NOT verified (the field key ring here holds another key {key_id})" in (
        proc.stderr
    )
    assert f"field keys: key {key_id} is a different key" in proc.stderr
    # Nothing encrypted can be read, as the option's help says: the evidence check fails.
    assert proc.returncode == 1 and "integrity checks failed" in proc.stderr


@transactional
def test_a_recipient_key_through_the_commands(
    source: Installation, target: Installation, tmp_path: Path
) -> None:
    identity_file = tmp_path / "backup.identity"
    out = io.StringIO()
    call_command("backup", "--new-identity", str(identity_file), stdout=out)
    assert identity_file.stat().st_mode & 0o777 == 0o600
    recipient = out.getvalue().strip().splitlines()[-1]
    assert recipient.startswith(backup.RECIPIENT_PREFIX)
    kept = identity_file.read_bytes()
    with pytest.raises(CommandError, match="never overwritten"):
        call_command("backup", "--new-identity", str(identity_file))
    assert identity_file.read_bytes() == kept
    recipient_file = tmp_path / "recipient"
    recipient_file.write_text(recipient + "\n")
    # A file in the evidence directory that is no evidence file: reported, not copied.
    source.evidence_dir.mkdir()
    (source.evidence_dir / "notes.txt").write_text("not a blob")
    archive = tmp_path / "sealed.backup"
    err = io.StringIO()
    call_command(
        "backup", str(archive), "--recipient-file", str(recipient_file), stdout=out, stderr=err
    )
    assert f"under the recipient key {recipient}" in out.getvalue()
    assert "1 files in the evidence directory are not evidence files" in err.getvalue()
    assert "notes.txt" in err.getvalue()
    assert backup.archive_protection(archive) == "x25519"

    proc = target.run("restore", str(archive), "--identity-file", str(identity_file), secret=False)
    assert proc.returncode == 0, proc.stderr
    assert "origin verified" in proc.stdout
    identity_file.chmod(0o644)
    with pytest.raises(CommandError, match="readable by other users"):
        call_command("restore", str(archive), "--identity-file", str(identity_file))


# --- crafted archives ----------------------------------------------------------------------------


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> Any:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname, info.mode = len(data), kind, link, 0o600
    return info, data


def evidence_name(text: str) -> str:
    sha = hashlib.sha256(text.encode()).hexdigest()
    return f"evidence/{sha[:2]}/{sha[2:4]}/{sha}"


class Crafted:
    """A well-formed archive written member by member, to be spoiled one way at a time: what
    a writer with a bug, or someone holding the passphrase, could make."""

    def __init__(
        self, directory: Path, *, audit_table: bool = True, evidence: tuple[str, ...] = ("one",)
    ) -> None:
        database = directory / "tiny.sqlite3"
        with contextlib.closing(sqlite3.connect(database)) as db:
            if audit_table:
                db.execute("CREATE TABLE core_audithead (id INTEGER PRIMARY KEY, seq, hash)")
                db.execute("INSERT INTO core_audithead VALUES (1, 0, ?)", [GENESIS_HASH])
            db.execute('CREATE TABLE "we""ird" (x)')  # a name that needs its quotes doubled
            db.commit()
        self.counts = {"core_audithead": 1, 'we"ird': 0} if audit_table else {'we"ird': 0}
        self.entries = [
            member(backup.SQLITE_MEMBER, database.read_bytes()),
            *(member(evidence_name(text), b"SBLOB1 k1\n" + bytes(64)) for text in evidence),
        ]
        self.after: list[Any] = []
        self.checksums = True
        self.origin = True
        self.spoil_checksums: Callable[[dict[str, Any]], None] = lambda sums: None
        self.trailing = b""  # after the tar stream's end

    def write(self, path: Path) -> Path:
        ring = keyring()
        names = sorted({info.name for info, _ in self.entries if info.isreg()})
        manifest = {
            "format": "saebom-backup",
            "format_version": 1,
            "created_at": "2025-01-01T00:00:00+00:00",
            "saebom_version": "crafted",
            "database": {"vendor": "sqlite", "member": backup.SQLITE_MEMBER},
            "audit_head": {"seq": 0, "hash": GENESIS_HASH},
            "table_counts": self.counts,
            "field_keys": backup.key_checks(ring),
            "members": names,
        }
        entries = [member(backup.MANIFEST, json.dumps(manifest).encode()), *self.entries]
        with open(path, "wb") as out:
            writer = backup.SealingWriter(out, backup.Passphrase(PASSPHRASE), SMALL_CHUNKS)
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                for info, data in entries:
                    tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
                sums = {
                    info.name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                    for info, data in entries
                    if info.isreg()
                }
                self.spoil_checksums(sums)
                checksums = json.dumps({"members": sums}).encode()
                if self.checksums:
                    tar.addfile(*wrapped(member(backup.CHECKSUMS, checksums)))
                if self.origin:
                    mac = backup.origin_mac(
                        ring.keys[ring.active_id], writer.header_digest, checksums
                    )
                    origin = json.dumps({"key": ring.active_id, "mac": mac}).encode()
                    tar.addfile(*wrapped(member(backup.ORIGIN, origin)))
                for info, data in self.after:
                    tar.addfile(info, io.BytesIO(data))
            writer.write(self.trailing)
            writer.close()
        return path


def wrapped(entry: tuple[tarfile.TarInfo, bytes]) -> tuple[tarfile.TarInfo, io.BytesIO]:
    return entry[0], io.BytesIO(entry[1])


def spoil(how: str, crafted: Crafted) -> None:
    another = evidence_name("two")
    if how == "parent path":
        crafted.entries.append(member("../x", b"abc"))
    elif how == "absolute path":
        crafted.entries.append(member("/etc/cron.d/saebom", b"* * * * * root true\n"))
    elif how == "symlink":
        crafted.entries.append(member(another, kind=tarfile.SYMTYPE, link="/etc/shadow"))
    elif how == "hard link":
        crafted.entries.append(member(another, kind=tarfile.LNKTYPE, link=backup.SQLITE_MEMBER))
    elif how == "duplicate":
        crafted.entries.append(crafted.entries[-1])
    elif how == "after the checksums":
        crafted.origin = False
        crafted.after.append(member(another, b"late"))
    elif how == "after the origin check":
        crafted.after.append(member(another, b"late"))
    elif how == "no checksums":
        crafted.checksums = crafted.origin = False
    elif how == "no origin check":
        crafted.origin = False
    elif how == "no database":
        crafted.entries.pop(0)
    elif how == "data after the end":
        crafted.trailing = b"hidden after the tar stream"
    elif how == "checksum mismatch":
        crafted.spoil_checksums = lambda sums: sums[evidence_name("one")].update(sha256="0" * 64)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("parent path", "unexpected member '../x'"),
        ("absolute path", "unexpected member '/etc/cron.d/saebom'"),
        ("symlink", "is not a regular file"),
        ("hard link", "is not a regular file"),
        ("duplicate", "appears twice"),
        ("after the checksums", "follows the checksums"),
        ("after the origin check", "follows the origin check"),
        ("no checksums", "the archive has no checksums"),
        ("no origin check", "the archive has no origin check"),
        ("no database", "the archive has no database"),
        ("checksum mismatch", "does not match its SHA-256 in the checksums"),
        ("data after the end", "bytes follow the end of the archive's contents"),
    ],
)
def test_a_crafted_archive_is_refused_and_nothing_is_written(
    tmp_path: Path, how: str, message: str
) -> None:
    crafted = Crafted(tmp_path)
    spoil(how, crafted)
    path = crafted.write(tmp_path / "crafted.backup")
    with pytest.raises(backup.ArchiveDamaged, match=re.escape(message)):
        backup.verify_archive(path, backup.Passphrase(PASSPHRASE), ring=keyring())
    target = scratch_target(tmp_path / "target")
    with pytest.raises(backup.ArchiveDamaged, match=re.escape(message)):
        stage_only(path, backup.Passphrase(PASSPHRASE), target)
    assert tree(tmp_path / "target") == ["data"]


def test_a_well_formed_crafted_archive_is_accepted(tmp_path: Path) -> None:
    """The builder above makes archives a restore takes: each spoiled one fails for its flaw."""
    path = Crafted(tmp_path).write(tmp_path / "crafted.backup")
    target = scratch_target(tmp_path / "target")
    with backup.staged(path, backup.Passphrase(PASSPHRASE), target, ring=keyring()) as (
        staging,
        checked,
        tables,
    ):
        assert checked.origin_problem == "" and checked.evidence_files == 1
        assert tables == 2  # counted, the quoted name too
        assert staging.evidence is not None and staging.evidence.parent == target.evidence_dir
    assert tree(tmp_path / "target") == ["data"]


def test_an_unreadable_database_is_one_line(tmp_path: Path) -> None:
    path = Crafted(tmp_path, audit_table=False).write(tmp_path / "crafted.backup")
    target = scratch_target(tmp_path / "target")
    with pytest.raises(backup.BackupError) as refused:
        stage_only(path, backup.Passphrase(PASSPHRASE), target)
    message = str(refused.value)
    assert "cannot be read: no such table: core_audithead" in message and "\n" not in message
    assert tree(tmp_path / "target") == ["data"]


# --- moving into place ---------------------------------------------------------------------------


def test_the_evidence_is_moved_back_when_part_of_it_cannot_be_moved(tmp_path: Path) -> None:
    """Two aa/ directories: the first is moved, the second meets a file that appeared after
    the last check; the first goes back, and the database is never put in place."""
    path = Crafted(tmp_path, evidence=("two", "three")).write(tmp_path / "crafted.backup")
    target = scratch_target(tmp_path / "target")
    first, second = sorted(evidence_name(text)[9:11] for text in ("two", "three"))
    with backup.staged(path, backup.Passphrase(PASSPHRASE), target, ring=keyring()) as (
        staging,
        _checked,
        _tables,
    ):
        blocker = target.evidence_dir / second / "00" / "written-meanwhile"
        blocker.parent.mkdir(parents=True)
        blocker.write_bytes(b"")
        with pytest.raises(backup.BackupError, match="could not be moved into"):
            backup._put_in_place(staging, target)
        assert staging.moved == [] and staging.evidence is not None
        assert sorted(p.name for p in staging.evidence.iterdir()) == [first, second]
        assert not (target.evidence_dir / first).exists()
        assert not os.path.lexists(target.sqlite_path)
    assert tree(target.evidence_dir) == [second, f"{second}/00", f"{second}/00/written-meanwhile"]


@pytest.mark.parametrize("failing", ["evidence", "database"])
def test_the_evidence_goes_first_and_is_moved_back_when_a_step_fails(
    archive: Path, tmp_path: Path, empty_database: str, failing: str
) -> None:
    """The evidence goes into place first (renames, reversible), the database last (on
    PostgreSQL, pg_restore commits or rolls back). When the evidence cannot be moved, the
    database is never touched; when the database step fails, the evidence is moved back out.
    In both cases, the file that stops it appears after the last emptiness check."""
    postgres = connection.vendor == "postgresql"
    if postgres:
        target = scratch_target(
            tmp_path, "postgresql", **{**connection.settings_dict, "NAME": empty_database}
        )
    else:
        target = scratch_target(tmp_path)
    sha = hashlib.sha256(PDF).hexdigest()
    blocker = target.evidence_dir / sha[:2] / "00" / "written-meanwhile"
    with backup.staged(archive, backup.Passphrase(PASSPHRASE), target, ring=keyring()) as (
        staging,
        _checked,
        _tables,
    ):
        if failing == "evidence":
            blocker.parent.mkdir(parents=True)
            blocker.write_bytes(b"")
            failure: type[Exception] = backup.BackupError
            message = "evidence files could not be moved into"
        elif postgres:
            # Not a table (so not "in the way"), but pg_restore cannot create core_auditevent.
            postgres_execute("CREATE TYPE public.core_auditevent AS (x int)", empty_database)
            failure, message = backup.BackupError, "pg_restore failed"
        else:
            target.sqlite_path.write_bytes(b"written by someone else")
            failure, message = backup.TargetNotEmpty, "appeared meanwhile"
        with pytest.raises(failure, match=message):
            backup._put_in_place(staging, target)
        assert staging.moved == [] and staging.evidence is not None
        assert [p for p in target.evidence_dir.iterdir() if p != staging.evidence] == (
            [blocker.parent.parent] if failing == "evidence" else []
        )
        assert list(staging.evidence.glob("*/*/*"))  # back in the staging, until it goes
    if failing == "evidence":
        assert tree(target.evidence_dir) == [
            sha[:2],
            f"{sha[:2]}/00",
            f"{sha[:2]}/00/{blocker.name}",
        ]
    else:
        assert not target.evidence_dir.exists()  # made for the staging, removed with it
    if postgres:
        url = database_url({**connection.settings_dict, "NAME": empty_database})
        assert relations(url) == (1 if failing == "database" else 0)  # the type; no table
    else:
        assert target.sqlite_path.exists() == (failing == "database")  # the other writer's


# --- interrupted runs ----------------------------------------------------------------------------


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def terminate_when(proc: subprocess.Popen[str], ready: Callable[[], bool]) -> tuple[str, str]:
    """SIGTERM as soon as ``ready()``; what the process wrote."""
    deadline = time.monotonic() + 60
    while not ready():
        assert proc.poll() is None, "finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=60)


@transactional
def test_a_terminated_backup_or_restore_leaves_no_plaintext(
    source: Installation, target: Installation, tmp_path: Path
) -> None:
    blobs.put(os.urandom(48 << 20))  # time enough to be interrupted
    data_dir = Path(django_settings.DATA_DIR)
    stale = data_dir / f".backup-{dead_pid()}-x1"
    stale.mkdir()
    (stale / "saebom.sqlite3").write_bytes(b"a plaintext copy a killed backup left")
    out = tmp_path / "big.backup"
    proc = source.start("backup", str(out))
    _, err = terminate_when(proc, lambda: bool(list(tmp_path.glob(".big.backup.saebom-partial-*"))))
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert f"removed {stale}, left by an interrupted backup" in err
    assert not list(data_dir.glob(".backup-*")) and not list(tmp_path.glob(".big.backup*"))
    assert not out.exists()
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None and event.action == "backup_failed"
    assert event.detail == {"archive": "big.backup", "reason": "terminated"}

    backup.create_backup(out, backup.Passphrase(PASSPHRASE), actor=system_actor())
    stale = target.data_dir / f".restore-{dead_pid()}-y2"
    stale.mkdir()
    before = target.contents()
    proc = target.start("restore", str(out))
    staging = f".restore-{proc.pid}-*"
    _, err = terminate_when(
        proc, lambda: target.evidence_dir.is_dir() and bool(list(target.evidence_dir.glob(staging)))
    )
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert f"removed {stale}, left by an interrupted restore" in err
    assert target.contents() == [name for name in before if name != stale.name]
    assert not target.evidence_dir.exists()
    if connection.vendor == "postgresql":
        assert relations(target.database) == 0


def terminate_after_making(monkeypatch: pytest.MonkeyPatch, prefix: str, nth: int = 1) -> None:
    """SIGTERM's handler, run just after the ``nth`` directory named ``prefix*`` is made: the
    narrowest window, where the directory exists and nothing else has happened yet."""
    make = os.mkdir
    made = 0

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal made
        make(path, *args, **kwargs)
        if Path(path).name.startswith(prefix):
            made += 1
            if made == nth:
                raise SystemExit(128 + signal.SIGTERM)

    monkeypatch.setattr(os, "mkdir", mkdir)


@pytest.mark.parametrize("nth", [1, 2], ids=["beside the database", "in the evidence directory"])
def test_a_restore_terminated_as_it_makes_its_staging_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nth: int
) -> None:
    path = Crafted(tmp_path).write(tmp_path / "crafted.backup")
    target = scratch_target(tmp_path / "target")
    terminate_after_making(monkeypatch, backup.STAGING_PREFIX, nth)
    with pytest.raises(SystemExit):
        stage_only(path, backup.Passphrase(PASSPHRASE), target)
    assert tree(target.data_dir) == []


@pytest.mark.django_db
def test_a_backup_terminated_as_it_makes_its_work_directory_leaves_nothing(
    evidence_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = Path(django_settings.DATA_DIR)
    terminate_after_making(monkeypatch, backup.WORK_PREFIX)
    with pytest.raises(SystemExit):
        backup.create_backup(
            tmp_path / "out.backup", backup.Passphrase(PASSPHRASE), actor=system_actor()
        )
    assert not list(data_dir.glob(f"{backup.WORK_PREFIX}*")) and not list(tmp_path.glob(".out*"))


@transactional
def test_a_full_disk_is_one_line_naming_the_archive(source: Installation, tmp_path: Path) -> None:
    """RLIMIT_FSIZE stands in for a full disk: writes past it fail as a full disk's would."""
    data_dir = Path(django_settings.DATA_DIR)
    largest = max(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
    limit = largest + (2 << 20)  # the database and its snapshot fit; the archive cannot
    blobs.put(os.urandom(limit))
    out = tmp_path / "full.backup"
    proc = source.run("backup", str(out), file_limit=limit)
    assert proc.returncode == 1
    assert f"cannot write {out}: File too large" in one_line(proc)
    assert not list(tmp_path.glob(".full.backup*")) and not out.exists()
    assert not list(data_dir.glob(".backup-*"))
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None and event.action == "backup_failed"
    assert event.detail == {
        "archive": "full.backup",
        "reason": f"cannot write {out}: File too large",
    }


# --- the container, in the process ---------------------------------------------------------------


def test_every_cut_is_refused_as_truncated(archive: Path) -> None:
    raw = archive.read_bytes()
    header = header_size(archive)
    assert len(plaintext(archive)) > 30 * SMALL_CHUNKS
    cuts = (0, 5, header - 1, header, header + 1000, len(raw) // 2, len(raw) - 32, len(raw) - 1)
    for cut in cuts:
        damaged = archive.with_name("cut.backup")
        damaged.write_bytes(raw[:cut])
        with pytest.raises(backup.ArchiveTruncated, match=r"cut short|end marker"):
            plaintext(damaged)


def test_a_lost_tail_with_its_end_marker_rewritten_is_still_caught(archive: Path) -> None:
    raw = archive.read_bytes()
    end = backup.END.unpack(raw[-backup.END.size :])
    chunks, plain = end[1], end[2]
    last_start = header_size(archive) + (chunks - 1) * (SMALL_CHUNKS + 16)
    forged = raw[:last_start] + backup.END.pack(
        backup.END_MAGIC, chunks - 1, (chunks - 1) * SMALL_CHUNKS
    )
    assert plain > (chunks - 1) * SMALL_CHUNKS
    damaged = archive.with_name("forged.backup")
    damaged.write_bytes(forged)
    with pytest.raises(backup.ArchiveTruncated, match=f"ends after chunk {chunks - 1}"):
        plaintext(damaged)


def test_extension_reordering_splicing_and_tampering_are_caught(
    archive: Path, tmp_path: Path
) -> None:
    raw = archive.read_bytes()
    longer = archive.with_name("longer.backup")
    longer.write_bytes(raw + b"\0" * 100)
    with pytest.raises(backup.ArchiveTruncated, match="added after its end"):
        plaintext(longer)
    # A copy of chunk 2 spliced in after it, the end marker adjusted to match.
    _, chunks, plain = backup.END.unpack(raw[-backup.END.size :])
    a0, a1 = chunk_span(archive, 1)
    body = raw[: -backup.END.size]
    extended = archive.with_name("extended.backup")
    extended.write_bytes(
        body[:a1]
        + raw[a0:a1]
        + body[a1:]
        + backup.END.pack(backup.END_MAGIC, chunks + 1, plain + SMALL_CHUNKS)
    )
    with pytest.raises(backup.ArchiveDamaged, match=f"chunk 3 of {chunks + 1}"):
        plaintext(extended)
    with pytest.raises(backup.ArchiveDamaged, match="chunk 3 of"):
        plaintext(swapped(archive, 2, 5))
    last_byte = len(raw) - backup.END.size - 1
    with pytest.raises(backup.ArchiveDamaged, match=f"chunk {chunks} of {chunks}"):
        plaintext(flipped(archive, last_byte))
    # Chunk 4 of another archive of the same contents under the same passphrase.
    other = seal(tmp_path / "other.backup", plaintext(archive), backup.Passphrase(PASSPHRASE))
    (b0, b1), (c0, c1) = chunk_span(archive, 3), chunk_span(other, 3)
    assert b1 - b0 == c1 - c0
    spliced = archive.with_name("spliced.backup")
    spliced.write_bytes(raw[:b0] + other.read_bytes()[c0:c1] + raw[b1:])
    with pytest.raises(backup.ArchiveDamaged, match=f"chunk 4 of {chunks}"):
        plaintext(spliced)


def test_the_header_is_authenticated_and_versioned(archive: Path) -> None:
    raw = archive.read_bytes()
    with pytest.raises(backup.WrongSecret, match="wrong passphrase"):
        plaintext(archive, "not the passphrase at all")
    lines = raw.split(b"\n", 3)
    params = json.loads(lines[1])
    params["chunk_size"] = SMALL_CHUNKS  # the same value re-encoded: bytes differ, check fails
    altered = archive.with_name("altered.backup")
    altered.write_bytes(
        lines[0] + b"\n" + json.dumps(params).encode() + b"\n" + lines[2] + b"\n" + lines[3]
    )
    with pytest.raises(backup.WrongSecret, match="header was altered"):
        plaintext(altered)
    future = archive.with_name("future.backup")
    future.write_bytes(raw.replace(b"SAEBOM-BACKUP v1\n", b"SAEBOM-BACKUP v2\n", 1))
    with pytest.raises(backup.UnknownFormat, match="unknown backup format version 2"):
        plaintext(future)
    other = archive.with_name("other.backup")
    other.write_bytes(b"PK\x03\x04" + raw)
    with pytest.raises(backup.UnknownFormat, match="not a Saebom backup"):
        plaintext(other)


def test_the_manifest_lists_and_hashes_every_member(archive: Path, tmp_path: Path) -> None:
    target = scratch_target(tmp_path / "target", connection.vendor)
    with backup.staged(archive, backup.Passphrase(PASSPHRASE), target, ring=keyring()) as (
        staging,
        checked,
        _tables,
    ):
        manifest = checked.manifest
        assert manifest["format_version"] == backup.FORMAT_VERSION
        assert manifest["database"]["vendor"] == connection.vendor
        assert manifest["audit_head"]["seq"] == manifest["table_counts"]["core_auditevent"] > 0
        assert manifest["created_at"] and manifest["saebom_version"]
        assert checked.origin_problem == "" and checked.scrypt_n == int(TEST_SCRYPT_N)
        sha = hashlib.sha256(PDF).hexdigest()
        name = f"evidence/{sha[:2]}/{sha[2:4]}/{sha}"
        assert name in manifest["members"] and checked.evidence_files == 1
        assert staging.evidence is not None
        staged = staging.evidence / sha[:2] / sha[2:4] / sha
        assert blobs._open(sha, staged.read_bytes()) == PDF  # as stored: still encrypted
        assert staged.stat().st_mode & 0o777 == 0o600
        ring = keyring()
        assert set(manifest["field_keys"]["keys"]) == set(ring.keys)
        shown = json.dumps(manifest)
        for key in (*ring.keys.values(), ring.index_key):  # check values, never the keys
            assert backup.b64(key) not in shown and key.hex() not in shown
    assert tree(tmp_path / "target") == ["data"]


def test_a_recipient_key_instead_of_a_passphrase(archive: Path, tmp_path: Path) -> None:
    identity = backup.Identity.generate()
    sealed = seal(tmp_path / "sealed.backup", archive.read_bytes(), identity.recipient())
    with open(sealed, "rb") as stream:
        reader = backup.OpeningReader(stream, sealed.stat().st_size, identity)
        assert reader.read() == archive.read_bytes()
    recipient = backup.Recipient.parse(str(identity.recipient()))
    assert recipient.raw() == identity.recipient().raw()
    with open(sealed, "rb") as stream, pytest.raises(backup.WrongSecret, match="another"):
        backup.OpeningReader(stream, sealed.stat().st_size, backup.Identity.generate())
    with open(sealed, "rb") as stream, pytest.raises(backup.WrongSecret, match="--identity"):
        backup.OpeningReader(stream, sealed.stat().st_size, backup.Passphrase(PASSPHRASE))


def test_memory_stays_bounded_by_the_chunk(tmp_path: Path) -> None:
    """The writer holds at most one chunk, whatever it is given."""
    sealed = tmp_path / "big.backup"
    with open(sealed, "wb") as out:
        writer = backup.SealingWriter(out, backup.Passphrase(PASSPHRASE), 4096)
        for _ in range(64):
            writer.write(os.urandom(10_000))
            assert len(writer._buffer) <= 4096
        writer.close()
    assert len(plaintext(sealed)) == 640_000
    assert struct.unpack(">Q", sealed.read_bytes()[-16:-8])[0] == 157


def test_a_finished_file_never_replaces_another(tmp_path: Path) -> None:
    partial, out = tmp_path / "partial", tmp_path / "out.backup"
    partial.write_bytes(b"new")
    out.write_bytes(b"someone else's")
    with pytest.raises(backup.BackupError, match="appeared while it was being written"):
        backup._publish(partial, out)
    assert out.read_bytes() == b"someone else's"


def test_the_database_password_never_reaches_a_command_line() -> None:
    environ = backup.pg_environment(
        {
            "NAME": "saebom",
            "USER": "saebom",
            "PASSWORD": "pw-in-env-only",
            "OPTIONS": {"sslmode": "verify-full", "connect_timeout": 5},
        }
    )
    assert environ["PGPASSWORD"] == "pw-in-env-only" and environ["PGDATABASE"] == "saebom"
    assert environ["PGSSLMODE"] == "verify-full" and environ["PGCONNECT_TIMEOUT"] == "5"
    assert not [name for name in environ if name.startswith("SAEBOM_")]
    with pytest.raises(backup.BackupError, match="sslpassword cannot be given") as refused:
        backup.pg_environment({"NAME": "saebom", "OPTIONS": {"sslpassword": "key-passphrase"}})
    assert "key-passphrase" not in str(refused.value)
