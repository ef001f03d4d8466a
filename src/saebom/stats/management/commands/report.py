from __future__ import annotations

import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from saebom.core.management.base import SaebomCommand, terminal_language
from saebom.stats.output import FORMATS, render
from saebom.stats.reports import arrivals_report, reconciliation


class Command(SaebomCommand):
    help = "Arrivals by any dimensions, or the registry reconciled with the official series."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True, metavar="{arrivals,reconciliation}")
        arrivals = sub.add_parser(
            "arrivals", help="arrivals counted by dimensions (GROUP BY in the database)"
        )
        arrivals.add_argument(
            "--by", required=True, help="comma-separated dimensions, e.g. year,sex"
        )
        arrivals.add_argument("--from", dest="year_from", type=int, help="first arrival year")
        arrivals.add_argument("--to", dest="year_to", type=int, help="last arrival year")
        arrivals.add_argument(
            "--public",
            action="store_true",
            help="disclosure-controlled output for publication (audited)",
        )
        arrivals.add_argument(
            "--lang", choices=("ko", "en"), help="labels (default: the terminal's)"
        )
        arrivals.add_argument("--format", choices=FORMATS, default="table")
        arrivals.add_argument("--out", type=Path, help="file to write (default: standard output)")
        sub.add_parser(
            "reconciliation", help="registry counts against the published series, by year and sex"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["what"] == "reconciliation":
            self._reconciliation()
            return
        report = arrivals_report(
            actor=self.actor(),
            by=options["by"],
            year_from=options["year_from"],
            year_to=options["year_to"],
            public=options["public"],
        )
        content = render(report, options["format"], lang=options["lang"] or terminal_language())
        if options["out"] is None:
            sys.stdout.buffer.write(content)
        else:
            options["out"].write_bytes(content)
            self.stderr.write(f"wrote {len(report.rows)} rows to {options['out']}")

    def _reconciliation(self) -> None:
        self.stdout.write("period\tsex\tregistry\tofficial\tdifference\tcoverage")
        for row in reconciliation(actor=self.actor()):
            coverage = "" if row.coverage is None else f"{100 * row.coverage:.1f}%"
            self.stdout.write(
                f"{row.period}\t{row.sex}\t{row.registry}\t{row.official}\t{row.difference}\t{coverage}"
            )
