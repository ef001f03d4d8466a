from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from saebom.accounts.services import DEFAULT_AGENCY_CODE, user_create
from saebom.core.exceptions import SaebomError
from saebom.core.management.base import SaebomCommand
from saebom.core.policy import Role


class Command(SaebomCommand):
    help = "Create a staff account. It must set up two-factor authentication at first sign-in."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--agency", default=DEFAULT_AGENCY_CODE, help="agency code (default: default)"
        )
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the initial password from standard input",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = None
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\n")
            if not password:
                raise SaebomError("--password-stdin: no password on standard input")
        user = user_create(
            actor=self.actor(),
            username=options["username"],
            role=options["role"],
            agency_code=options["agency"],
            password=password,
        )
        self.stdout.write(f"created {user.username} ({user.role}, {user.agency.code})")
