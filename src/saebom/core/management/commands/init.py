from __future__ import annotations

from typing import Any

from saebom.core.management.base import SaebomCommand
from saebom.core.services import installation_init


class Command(SaebomCommand):
    help = "Create or migrate the database and create the default agency. Keys are created first."

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        installation_init(actor=self.actor(), verbosity=max(0, options["verbosity"] - 1))
        self.stdout.write(f"Saebom is initialised in {settings.DATA_DIR}")
