from __future__ import annotations

import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from saebom.core.management.base import SaebomCommand
from saebom.registry.exporting import FORMATS, Export, arrivals_export
from saebom.support.exporting import cases_export


class Command(SaebomCommand):
    help = (
        "Export arrivals in the interchange columns (identifiers only for admins, audited), "
        "or your agency's resettlement cases as JSON (notes only with the person's consent)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True, metavar="{arrivals,cases}")
        arrivals = sub.add_parser("arrivals", help="every arrival you may see")
        arrivals.add_argument("--format", choices=FORMATS, default="csv")
        arrivals.add_argument("--out", type=Path, help="file to write (default: standard output)")
        arrivals.add_argument(
            "--include-identifiers",
            action="store_true",
            help="add name_ko, name_en, date_of_birth (admins; audited)",
        )

        cases = sub.add_parser("cases", help="the cases your agency leads, as JSON")
        cases.add_argument("--out", type=Path, help="file to write (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["what"] == "cases":
            self._write(cases_export(actor=self.actor()), options["out"], "cases")
            return
        export = arrivals_export(
            actor=self.actor(),
            fmt=options["format"],
            include_identifiers=options["include_identifiers"],
        )
        self._write(export, options["out"], "arrivals")

    def _write(self, export: Export, out: Path | None, what: str) -> None:
        if out is None:
            sys.stdout.buffer.write(export.content)
            return
        out.write_bytes(export.content)
        out.chmod(0o600)  # readable by the operator only (the process umask is 077 anyway)
        self.stderr.write(f"wrote {export.rows} {what} to {out}")
