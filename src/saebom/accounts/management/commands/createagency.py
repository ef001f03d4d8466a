from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from saebom.accounts.services import agency_create
from saebom.core.management.base import SaebomCommand


class Command(SaebomCommand):
    help = "Create an agency (a centre, NGO or documentation group) using this installation."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("code", help="short stable code, e.g. hana-seoul")
        parser.add_argument("--name-ko", required=True, help="name in Korean")
        parser.add_argument("--name-en", required=True, help="name in English")

    def handle(self, *args: Any, **options: Any) -> None:
        agency = agency_create(
            actor=self.actor(),
            code=options["code"],
            name_ko=options["name_ko"],
            name_en=options["name_en"],
        )
        self.stdout.write(f"created agency {agency.code}")
