"""The base of every `saebom` command: domain errors become one line and a non-zero exit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from saebom.config import ConfigError
from saebom.core.actors import Actor, cli_actor
from saebom.core.crypto import DecryptionError
from saebom.core.exceptions import SaebomError


def terminal_language() -> str:
    """Korean when the operator's locale is Korean, English otherwise."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return "ko" if value.lower().startswith("ko") else "en"
    return "en"


class SaebomCommand(BaseCommand):
    leave_locale_alone = True

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            with translation.override(terminal_language()):
                return super().execute(*args, **options)
        except (SaebomError, ConfigError, DecryptionError) as exc:
            raise CommandError(str(exc)) from exc

    def actor(self) -> Actor:
        return cli_actor()

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Progress]:
        """A progress bar on stderr; silent when stderr is not a terminal (CI, pipes)."""
        console = Console(stderr=True)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
            bar.add_task(description, total=total)
            yield bar
