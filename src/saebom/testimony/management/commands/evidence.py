"""``saebom evidence verify``: re-hash every stored evidence file.

The run is recorded as one audit event (with the counts), not as a ``verified`` custody event
per file: verification reads every file, and a custody line per file per night would bury the
accesses that matter.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction

from saebom.core import blobs, policy
from saebom.core.audit import audit_record
from saebom.core.management.base import SaebomCommand
from saebom.core.policy import Action
from saebom.testimony.models import EvidenceFile


class Command(SaebomCommand):
    help = "Check the evidence file store."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{verify}")
        sub.add_parser(
            "verify",
            help="decrypt and re-hash every stored file; exit 1 naming any changed or missing one",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor()
        policy.require(actor, Action.AUDIT_VERIFY)
        names: dict[str, list[str]] = {}
        for sha, display_name in EvidenceFile.objects.values_list("sha256", "display_name"):
            names.setdefault(sha, []).append(display_name)
        problems: list[str] = []
        orphans = 0
        total = sum(1 for _ in blobs.stored())
        with self.progress("Verifying evidence files", total) as bar:
            found = blobs.verify_all(
                names, progress=lambda n: bar.update(bar.task_ids[0], completed=n)
            )
            for sha, problem in found:
                if problem == blobs.ORPHAN:
                    orphans += 1
                    continue
                shown = ", ".join(names.get(sha, [])) or "(no record)"
                problems.append(f"{sha} {shown}: {problem}")
        with transaction.atomic():
            audit_record(
                actor=actor,
                action="verify",
                object_type="evidence_store",
                detail={"files": len(names), "problems": len(problems), "orphans": orphans},
            )
        if problems:
            for line in problems:
                self.stderr.write(line)
            raise CommandError(
                f"evidence store: {len(problems)} of {len(names)} files changed or missing"
            )
        note = f" ({orphans} unreferenced blobs left by failed uploads)" if orphans else ""
        self.stdout.write(f"evidence intact: {len(names)} files verified{note}")
