from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from saebom.core.actors import SystemActor
from saebom.core.exceptions import PermissionDenied
from saebom.core.keys import keys_rotate, keys_status
from saebom.core.management.base import SaebomCommand


class Command(SaebomCommand):
    help = "Rotate the field-encryption key ring, or show which key each stored value uses."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{rotate,status}")
        rotate = sub.add_parser(
            "rotate",
            help="add a key and re-encrypt every value under it; safe to interrupt and re-run "
            "(a re-run resumes an unfinished rotation)",
        )
        rotate.add_argument("--batch-size", type=int, default=500, help="rows per transaction")
        rotate.add_argument(
            "--new-key",
            action="store_true",
            help="add another key even if an earlier rotation is unfinished",
        )
        sub.add_parser("status", help="count stored values per key id")

    def handle(self, *args: Any, **options: Any) -> None:
        if not isinstance(self.actor(), SystemActor):
            raise PermissionDenied("keys are handled by the system operator, not with --as")
        if options["subcommand"] == "status":
            for key_id, tables in sorted(keys_status().items()):
                for table, count in sorted(tables.items()):
                    self.stdout.write(f"{key_id}\t{table}\t{count}")
            return
        with self.progress("Re-encrypting", None) as bar:
            result = keys_rotate(
                actor=self.actor(),
                force_new_key=options["new_key"],
                batch_size=options["batch_size"],
                progress=lambda done, total: bar.update(
                    bar.task_ids[0], completed=done, total=total
                ),
            )
        verb = "added key" if result.added_key else "resumed rotation to key"
        self.stdout.write(f"{verb} {result.key_id}; re-encrypted {result.total} values")
