from __future__ import annotations

import json
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import CommandError

from saebom.core import policy
from saebom.core.audit import audit_head, audit_verify
from saebom.core.management.base import SaebomCommand
from saebom.core.models import AuditEvent
from saebom.core.policy import Action


def published_head(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise ArgumentTypeError("expected SEQ:HASH as printed by `saebom audit head`")
    return int(seq), digest


class Command(SaebomCommand):
    help = "Verify the tamper-evident audit chain, or print its head to publish elsewhere."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{verify,head}")
        verify = sub.add_parser(
            "verify", help="recompute every hash; exit 1 naming the first bad event"
        )
        verify.add_argument(
            "--expect-head",
            type=published_head,
            metavar="SEQ:HASH",
            help="also check the chain against a head published earlier",
        )
        head = sub.add_parser("head", help="print the last sequence number and hash")
        head.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        policy.require(self.actor(), Action.AUDIT_VERIFY)
        if options["subcommand"] == "head":
            seq, digest = audit_head()
            if options["json"]:
                self.stdout.write(json.dumps({"seq": seq, "hash": digest}))
            else:
                self.stdout.write(f"{seq}:{digest}")
            return
        with self.progress("Verifying audit chain", AuditEvent.objects.count()) as bar:
            result = audit_verify(
                expect_head=options["expect_head"],
                progress=lambda n: bar.update(bar.task_ids[0], completed=n),
            )
        if not result.ok:
            raise CommandError(
                f"audit chain broken at event {result.first_bad_seq}: {result.reason} "
                f"({result.checked} events verified before it)"
            )
        self.stdout.write(f"audit chain intact: {result.checked} events verified")
