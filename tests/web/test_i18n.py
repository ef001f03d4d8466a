"""Korean and English are both complete: every message has a Korean translation, compiled."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import translation

import saebom

PACKAGE = Path(saebom.__file__).parent
CATALOGUE = PACKAGE / "locale" / "ko" / "LC_MESSAGES" / "django.po"


def entries(path: Path) -> dict[str, list[str]]:
    """msgid -> its msgstr values, from a catalogue written with --no-wrap."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    fuzzy = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
        elif line.startswith("msgid "):
            current = ast.literal_eval(line[6:])
            found[current] = [] if not fuzzy else ["<fuzzy>"]
            fuzzy = False
        elif line.startswith("msgstr") and current:
            found[current].append(ast.literal_eval(line.split(" ", 1)[1]))
    return found


def test_every_message_is_translated() -> None:
    catalogue = entries(CATALOGUE)
    assert len(catalogue) > 100
    untranslated = [
        msgid
        for msgid, values in catalogue.items()
        if msgid and (not values or not all(values) or "<fuzzy>" in values)
    ]
    assert untranslated == []


def test_compiled_catalogue_matches_the_source() -> None:
    with translation.override("ko"):
        stale = [
            msgid
            for msgid, values in entries(CATALOGUE).items()
            if msgid and "%(counter)s" not in msgid and translation.gettext(msgid) != values[0]
        ]
    assert stale == [], "run `make messages` to recompile django.mo"


def test_catalogue_covers_every_string_in_the_code(tmp_path: Path) -> None:
    if shutil.which("xgettext") is None:
        pytest.skip("GNU gettext (xgettext) is not installed: apt-get install gettext")
    copy = tmp_path / "saebom"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "makemessages",
            "-l",
            "ko",
            "--no-obsolete",
            "--no-wrap",
            "--ignore",
            "*/migrations/*",
        ],
        cwd=copy,
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    fresh = set(entries(copy / "locale" / "ko" / "LC_MESSAGES" / "django.po"))
    assert fresh - set(entries(CATALOGUE)) == set(), (
        "new text: run `make messages` and translate it"
    )
