from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management import call_command

from saebom.core.management.base import SaebomCommand


class Command(SaebomCommand):
    help = "Run background tasks (imports, report builds) from the database queue."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--max-tasks", type=int, default=None, help="stop after this many tasks"
        )
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")

    def handle(self, *args: Any, **options: Any) -> None:
        extra = ["--max-tasks", str(options["max_tasks"])] if options["max_tasks"] else []
        call_command(
            "db_worker", "--interval", str(options["interval"]), "--queue-name", "*", *extra
        )
