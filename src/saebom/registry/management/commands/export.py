from __future__ import annotations

import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from saebom.core.management.base import SaebomCommand
from saebom.registry.exporting import FORMATS, arrivals_export


class Command(SaebomCommand):
    help = "Export arrivals in the interchange columns (identifiers only for admins, audited)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True, metavar="{arrivals}")
        arrivals = sub.add_parser("arrivals", help="every arrival you may see")
        arrivals.add_argument("--format", choices=FORMATS, default="csv")
        arrivals.add_argument("--out", type=Path, help="file to write (default: standard output)")
        arrivals.add_argument(
            "--include-identifiers",
            action="store_true",
            help="add name_ko, name_en, date_of_birth (admins; audited)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        export = arrivals_export(
            actor=self.actor(),
            fmt=options["format"],
            include_identifiers=options["include_identifiers"],
        )
        if options["out"] is None:
            sys.stdout.buffer.write(export.content)
            return
        options["out"].write_bytes(export.content)
        if options["include_identifiers"]:
            options["out"].chmod(0o600)  # identifiers: readable by the operator only
        self.stderr.write(f"wrote {export.rows} arrivals to {options['out']}")
