from __future__ import annotations

import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from saebom.core.management.base import SaebomCommand
from saebom.registry.exporting import FORMATS, Export, arrivals_export
from saebom.support.exporting import cases_export
from saebom.testimony.exporting import FORMATS as TESTIMONY_FORMATS
from saebom.testimony.exporting import testimonies_export


class Command(SaebomCommand):
    help = (
        "Export arrivals in the interchange columns (identifiers only for admins, audited), "
        "or your agency's resettlement cases as JSON (notes only with the person's consent), "
        "or the testimonies whose consent covers a use (docs/testimony.md)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(
            dest="what", required=True, metavar="{arrivals,cases,testimonies}"
        )
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

        testimonies = sub.add_parser(
            "testimonies",
            help="your agency's testimonies whose consent covers a use (withdrawn: never)",
        )
        testimonies.add_argument(
            "--scope",
            required=True,
            help="internal, share_with_mechanisms, publish_anonymised or publish_named",
        )
        testimonies.add_argument(
            "--mechanism", help="with share_with_mechanisms: the body shared with (a code)"
        )
        testimonies.add_argument("--format", choices=TESTIMONY_FORMATS, default="json")
        testimonies.add_argument(
            "--agency", help="agency code (the operator only; default: the operating agency)"
        )
        testimonies.add_argument(
            "--out", type=Path, help="file to write (default: standard output)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["what"] == "cases":
            self._write(cases_export(actor=self.actor()), options["out"], "cases")
            return
        if options["what"] == "testimonies":
            export = testimonies_export(
                actor=self.actor(),
                scope=options["scope"],
                mechanism=options["mechanism"],
                fmt=options["format"],
                agency_code=options["agency"],
            )
            self._write(export, options["out"], "testimonies")
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
