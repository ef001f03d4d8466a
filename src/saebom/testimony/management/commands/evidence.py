"""``saebom evidence verify``: re-hash every stored evidence file, and check every evidence
record and chain of custody against what the audit chain recorded (``testimony/custody.py``).

The run is recorded as one audit event (with the counts), not as a ``verified`` custody event
per file: verification reads every file, and a custody line per file per night would bury the
accesses that matter.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction
from django.utils.translation import gettext

from saebom.core import blobs, policy
from saebom.core.audit import audit_record
from saebom.core.management.base import SaebomCommand
from saebom.core.policy import Action
from saebom.testimony.evidence_check import evidence_check


class Command(SaebomCommand):
    help = "Check the evidence file store."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{verify}")
        sub.add_parser(
            "verify",
            help="decrypt and re-hash every stored file, check every record, chain of custody "
            "and link to a testimony against the audit chain; exit 1 naming each file with a "
            "problem",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor()
        policy.require(actor, Action.AUDIT_VERIFY)
        total = sum(1 for _ in blobs.stored())
        with self.progress(gettext("Verifying evidence files"), total) as bar:
            check = evidence_check(progress=lambda n: bar.update(bar.task_ids[0], completed=n))
        files, orphans = check.files, check.orphans
        with transaction.atomic():
            audit_record(
                actor=actor,
                action="verify",
                object_type="evidence_store",
                detail={
                    "files": files,
                    "problems": len(check.problems),
                    "record_problems": check.record_problems,
                    "orphans": orphans,
                },
            )
        if check.problems:
            for line in check.problems:
                self.stderr.write(line)
            raise CommandError(
                gettext("evidence store: %(n)d problems in %(files)d files")
                % {"n": len(check.problems), "files": files}
            )
        self.stdout.write(
            gettext(
                "evidence intact: %(files)d files verified; their records, chains of custody and "
                "links to testimonies agree with the audit chain"
            )
            % {"files": files}
        )
        if orphans:
            self.stdout.write(
                gettext("%(n)d unreferenced blobs left by failed uploads") % {"n": orphans}
            )
