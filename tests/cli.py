"""Run the real `saebom` command in a subprocess against the test database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
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
