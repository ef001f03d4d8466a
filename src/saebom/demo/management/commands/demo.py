from __future__ import annotations

import io
from argparse import ArgumentParser
from typing import Any

from django.core.management import call_command
from rich.console import Console
from rich.table import Table

from saebom.core.management.base import SaebomCommand
from saebom.core.services import installation_init
from saebom.demo.services import demo_load


class Command(SaebomCommand):
    help = (
        "Initialise a demo installation with synthetic data and one account per role, then serve."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--no-serve", action="store_true", help="load the demo and stop")
        parser.add_argument("--seed", type=int, default=2023, help="seed of the synthetic data")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor()
        installation_init(actor=actor, verbosity=0)
        with self.progress("Generating synthetic arrivals", None) as bar:
            logins = demo_load(
                actor=actor,
                seed=options["seed"],
                progress=lambda done, total: bar.update(
                    bar.task_ids[0], completed=done, total=total
                ),
            )
        table = Table(title="Demo logins (synthetic data; two-factor waived in demo only)")
        for column in ("user name", "role", "password"):
            table.add_column(column)
        for login in logins:
            table.add_row(login.username, login.role, login.password)
        buffer = io.StringIO()
        Console(file=buffer, width=100).print(table)
        self.stdout.write(buffer.getvalue())
        if not options["no_serve"]:
            call_command("serve", host=options["host"], port=options["port"])
