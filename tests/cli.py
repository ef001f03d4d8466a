"""Run the real `saebom` commands against the test database: in a subprocess, or in the test's
process (and so its transaction)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection


def run_cli(
    *args: str, stdin: str = "", extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI against the current SQLite test database (its data dir, and so its keys).

    On PostgreSQL the test is skipped: the subprocess would open the test database's name as a
    SQLite file.
    """
    if connection.vendor != "sqlite":
        pytest.skip("drives the CLI in a subprocess against the SQLite test database")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "saebom.settings",
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "LANG": "C.UTF-8",
        **(extra_env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "saebom.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def evidence_verify() -> tuple[bool, str]:
    """``saebom evidence verify`` as the operator runs it, in this process: (failed, report)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(io.StringIO()):  # its progress bar, on a terminal
        try:
            call_command("evidence", "verify", stdout=out, stderr=err)
        except CommandError as exc:
            return True, f"{err.getvalue()}{exc}"
    return False, out.getvalue()
