from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from saebom.accounts.models import User
from saebom.core.models import AuditEvent
from tests.cli import run_cli

pytestmark = pytest.mark.django_db(transaction=True)


def fresh_cli(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI on a brand-new data directory, as a new user runs it."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SAEBOM_", "DATABASE_URL", "DJANGO_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "saebom.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**clean, "SAEBOM_DATA_DIR": str(data_dir), **(env or {})},
    )


@pytest.fixture(autouse=True)
def sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("drives the CLI in a subprocess against SQLite files")


def test_help_lists_the_commands() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("init", "serve", "demo", "createuser", "worker", "audit verify", "keys rotate"):
        assert command in proc.stdout


@pytest.mark.parametrize(
    "command", ["init", "serve", "demo", "createuser", "worker", "audit", "keys"]
)
def test_every_command_has_help(command: str) -> None:
    proc = run_cli(command, "--help")
    assert proc.returncode == 0 and "usage:" in proc.stdout


def test_init_creates_keys_with_private_modes(tmp_path: Path) -> None:
    data = tmp_path / "var"
    proc = fresh_cli(data, "init")
    assert proc.returncode == 0, proc.stderr
    for name in ("secret_key", "field_keys.json"):
        assert (data / name).stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o700
    assert fresh_cli(data, "audit", "verify").returncode == 0
    again = fresh_cli(data, "init")  # idempotent: migrates, keeps keys
    assert again.returncode == 0


def test_commands_before_init_fail_with_one_line(tmp_path: Path) -> None:
    proc = fresh_cli(tmp_path / "nothing-here", "audit", "verify")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "saebom init" in proc.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SAEBOM_DEBUG", "maybe"),
        ("SAEBOM_SESSION_IDLE_MINUTES", "soon"),
        ("DATABASE_URL", "mysql://x/y"),
        ("SAEBOM_LANGUAGE", "fr"),
    ],
)
def test_bad_configuration_fails_loudly(tmp_path: Path, name: str, value: str) -> None:
    proc = fresh_cli(tmp_path, "init", env={name: value})
    assert proc.returncode == 2
    assert (
        "configuration error" in proc.stderr
        and name in proc.stderr
        and "Traceback" not in proc.stderr
    )


def test_createuser_with_password_on_stdin() -> None:
    assert run_cli("init").returncode == 0
    proc = run_cli(
        "createuser",
        "kim",
        "--role",
        "caseworker",
        "--agency",
        "default",
        "--password-stdin",
        stdin="a long passphrase 42\n",
    )
    assert proc.returncode == 0, proc.stderr
    user = User.objects.get(username="kim")
    assert user.role == "caseworker" and user.check_password("a long passphrase 42")
    event = AuditEvent.objects.get(action="create", object_type="user", object_id=str(user.pk))
    assert event.actor_name.startswith("system:") and event.actor_id is None


def test_createuser_errors_are_one_line() -> None:
    assert run_cli("init").returncode == 0
    proc = run_cli("createuser", "lee", "--role", "caseworker", "--agency", "nowhere")
    assert proc.returncode == 1 and "no agency with code 'nowhere'" in proc.stderr
    proc = run_cli("createuser", "lee", "--role", "caseworker", "--password-stdin", stdin="123\n")
    assert proc.returncode == 1 and "too short" in proc.stderr
    assert not User.objects.filter(username="lee").exists()


def test_as_applies_the_accounts_permissions() -> None:
    assert run_cli("init").returncode == 0
    run_cli("createuser", "clerk", "--role", "caseworker")
    proc = run_cli("--as", "clerk", "createuser", "mallory", "--role", "admin")
    assert proc.returncode == 1 and "may not" in proc.stderr
    assert not User.objects.filter(username="mallory").exists()
    run_cli("createuser", "boss", "--role", "admin")
    proc = run_cli("--as", "boss", "createuser", "helper", "--role", "documenter")
    assert proc.returncode == 0
    event = AuditEvent.objects.filter(object_type="user", action="create").order_by("-seq").first()
    assert event is not None and event.actor_name == "boss"
    assert run_cli("--as", "ghost", "audit", "head").returncode == 1


def test_audit_head_prints_seq_and_hash() -> None:
    assert run_cli("init").returncode == 0
    seq, digest = run_cli("audit", "head").stdout.strip().split(":")
    assert int(seq) == AuditEvent.objects.count() and len(digest) == 64
    proc = run_cli("audit", "verify", "--expect-head", f"{seq}:{digest}")
    assert proc.returncode == 0 and f"{seq} events" in proc.stdout


def test_demo_without_serving_prints_one_login_per_role(tmp_path: Path) -> None:
    proc = fresh_cli(tmp_path / "demo", "demo", "--no-serve", "--seed", "7")
    assert proc.returncode == 0, proc.stderr
    for role in (
        "admin",
        "intake_officer",
        "caseworker",
        "documenter",
        "researcher",
        "statistician",
        "auditor",
    ):
        assert f"demo_{role}" in proc.stdout
    assert "synthetic" in proc.stdout
    again = fresh_cli(
        tmp_path / "demo", "demo", "--no-serve"
    )  # re-run: new passwords, same accounts
    assert again.returncode == 0, again.stderr
    assert fresh_cli(tmp_path / "demo", "audit", "verify").returncode == 0


def test_demo_refuses_a_real_installation(tmp_path: Path) -> None:
    data = tmp_path / "real"
    assert fresh_cli(data, "init").returncode == 0
    create = fresh_cli(data, "createuser", "officer", "--role", "intake_officer")
    assert create.returncode == 0, create.stderr
    proc = fresh_cli(data, "demo", "--no-serve")
    assert proc.returncode == 1 and "real installation" in proc.stderr


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "var"
    assert fresh_cli(data, "init").returncode == 0
    (data / "field_keys.json").chmod(0o644)
    proc = fresh_cli(data, "audit", "head")
    assert proc.returncode == 2 and "chmod 600" in proc.stderr


def test_deploy_check_is_clean_with_production_settings(tmp_path: Path) -> None:
    data = tmp_path / "prod"
    assert fresh_cli(data, "init").returncode == 0
    proc = fresh_cli(data, "check", "--deploy", "--fail-level", "WARNING")
    assert proc.returncode == 0, proc.stderr
    assert "no issues" in proc.stdout


def test_createagency_then_a_user_in_it() -> None:
    assert run_cli("init").returncode == 0
    proc = run_cli(
        "createagency", "hana-seoul", "--name-ko", "서울 하나센터", "--name-en", "Seoul Hana Center"
    )
    assert proc.returncode == 0, proc.stderr
    assert (
        run_cli("createuser", "park", "--role", "caseworker", "--agency", "hana-seoul").returncode
        == 0
    )
    assert User.objects.get(username="park").agency.name_en == "Seoul Hana Center"
    assert AuditEvent.objects.filter(object_type="agency", object_id="hana-seoul").exists()
    again = run_cli("createagency", "hana-seoul", "--name-ko", "x", "--name-en", "x")
    assert again.returncode == 1 and "code" in again.stderr
    refused = run_cli("--as", "park", "createagency", "other", "--name-ko", "x", "--name-en", "x")
    assert refused.returncode == 1 and "system operator" in refused.stderr
