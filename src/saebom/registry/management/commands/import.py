from __future__ import annotations

import datetime
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.utils.translation import gettext, gettext_lazy

from saebom.core.management.base import SaebomCommand
from saebom.registry.importing import (
    ImportRejected,
    ImportReport,
    arrivals_import,
    errors_csv,
    read_file,
)
from saebom.registry.official import official_series_import
from saebom.testimony import importing as testimony_importing

# The importer's progress phases, as the progress bar shows them.
PHASES = {"checking": gettext_lazy("checking"), "writing": gettext_lazy("writing")}


class Command(SaebomCommand):
    help = (
        "Import arrivals (CSV or XLSX), a release of the official series, or testimonies from "
        "a Saebom JSON export (docs/testimony.md)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(
            dest="what", required=True, metavar="{arrivals,official-series,testimonies}"
        )
        arrivals = sub.add_parser(
            "arrivals", help="arrivals in the interchange columns (docs/data-formats.md)"
        )
        arrivals.add_argument("file", type=Path)
        arrivals.add_argument("--agency", help="agency code (the operator's default: default)")
        arrivals.add_argument(
            "--dry-run", action="store_true", help="check every row, write nothing"
        )
        arrivals.add_argument(
            "--errors-out", type=Path, help="write the problems found as CSV here"
        )
        arrivals.add_argument(
            "--skip-invalid",
            action="store_true",
            help="write the valid rows even if others are invalid",
        )
        series = sub.add_parser(
            "official-series", help="a new release of the Ministry's arrivals by year and sex"
        )
        series.add_argument("file", type=Path)
        series.add_argument("--source", default="", help="where the figures come from")
        series.add_argument(
            "--revised", type=datetime.date.fromisoformat, help="revision date YYYY-MM-DD"
        )
        testimonies = sub.add_parser(
            "testimonies", help="a testimonies export (JSON): all of it, or nothing"
        )
        testimonies.add_argument("file", type=Path)
        testimonies.add_argument(
            "--agency", help="agency code (the operator only; default: the operating agency)"
        )
        testimonies.add_argument(
            "--dry-run", action="store_true", help="check everything, write nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        data = read_file(options["file"])
        if options["what"] == "testimonies":
            self._testimonies(data, options["agency"], options["dry_run"])
            return
        if options["what"] == "official-series":
            try:
                release = official_series_import(
                    actor=self.actor(),
                    data=data,
                    source=options["source"],
                    revised_on=options["revised"],
                )
            except ImportRejected as rejected:
                raise CommandError(self._problems(rejected.errors)) from None
            self.stdout.write(
                gettext("loaded %(n)d periods, revised %(date)s")
                % {"n": release.rows.count(), "date": release.revised_on}
            )
            return
        try:
            with self.progress(gettext("Importing arrivals"), None) as bar:
                report = arrivals_import(
                    actor=self.actor(),
                    data=data,
                    filename=options["file"].name,
                    agency_code=options["agency"],
                    dry_run=options["dry_run"],
                    skip_invalid=options["skip_invalid"],
                    progress=lambda phase, done, total: bar.update(
                        bar.task_ids[0],
                        description=gettext("Importing arrivals: %(phase)s")
                        % {"phase": PHASES.get(phase, phase)},
                        completed=done,
                        total=total or None,
                    ),
                )
        except ImportRejected as rejected:
            self._write_errors(options["errors_out"], rejected.errors)
            raise CommandError(self._problems(rejected.errors)) from None
        self._write_errors(options["errors_out"], report.errors)
        self._summarise(report)
        if report.errors and not options["skip_invalid"]:
            raise CommandError(
                gettext("%(n)d problems in %(rows)d rows; nothing was written")
                % {"n": len(report.errors), "rows": report.skipped}
            )

    def _testimonies(self, data: bytes, agency: str | None, dry_run: bool) -> None:
        try:
            report = testimony_importing.testimonies_import(
                actor=self.actor(), data=data, agency_code=agency, dry_run=dry_run
            )
        except testimony_importing.ImportRejected as rejected:
            for error in rejected.errors:
                self.stderr.write(str(error))
            raise CommandError(
                gettext("%(n)d problems; nothing was written") % {"n": len(rejected.errors)}
            ) from None
        counts = {
            "n": len(report.testimonies),
            "sealed": report.sealed,
            "groups": report.corroborations,
            "linked": report.evidence_linked,
        }
        done = (
            gettext("%(n)d testimonies checked (dry run: nothing written)")
            if report.dry_run
            else gettext("%(n)d testimonies imported")
        )
        self.stdout.write(
            (
                done
                + ": "
                + gettext(
                    "%(sealed)d sealed, %(groups)d corroboration groups, "
                    "%(linked)d evidence files linked"
                )
            )
            % counts
        )
        if report.corroborations_dropped:
            self.stderr.write(
                gettext("corroboration groups with one testimony in the file, not recorded: %s")
                % ", ".join(report.corroborations_dropped)
            )
        if report.evidence_not_held:
            self.stderr.write(
                gettext(
                    "evidence files listed that the agency does not hold (upload, then link): %s"
                )
                % ", ".join(report.evidence_not_held)
            )

    def _summarise(self, report: ImportReport) -> None:
        for error in report.errors[:20]:
            self.stderr.write(str(error))
        if len(report.errors) > 20:
            self.stderr.write(
                gettext("... and %(n)d more (see --errors-out)") % {"n": len(report.errors) - 20}
            )
        counts = {
            "rows": report.rows,
            "valid": report.rows - report.skipped,
            "skipped": report.skipped,
            "created": report.created,
            "updated": report.updated,
        }
        if report.dry_run:
            self.stdout.write(
                gettext(
                    "dry run: %(rows)d rows read, %(valid)d valid, %(skipped)d invalid; "
                    "nothing written"
                )
                % counts
            )
        elif report.written:
            self.stdout.write(
                gettext(  # the words of the web import's report
                    "%(rows)s rows read: %(created)s created, %(updated)s updated, "
                    "%(skipped)s skipped as invalid."
                )
                % counts
            )

    def _write_errors(self, path: Path | None, errors: list[Any]) -> None:
        if path is not None:
            path.write_text(errors_csv(errors), encoding="utf-8")

    @staticmethod
    def _problems(errors: list[Any]) -> str:
        shown = "; ".join(str(e) for e in errors[:5])
        if len(errors) <= 5:
            return shown
        return shown + " " + gettext("(+%(n)d more)") % {"n": len(errors) - 5}
