from __future__ import annotations

import json
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from saebom.core import policy
from saebom.core.management.base import SaebomCommand, terminal_language
from saebom.core.policy import Action
from saebom.stats.series import official_series, registry_series
from saebom.stats.trends import check_claim, format_text, trend_facts


def year_range(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    if not (first.isdigit() and last.isdigit()) or int(first) > int(last):
        raise ArgumentTypeError("expected FIRST-LAST, e.g. 2017-2019")
    return int(first), int(last)


class Command(SaebomCommand):
    help = "Facts about one year's arrivals in context, and whether a headline's word is supported."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("year", type=int)
        parser.add_argument(
            "--baseline", type=year_range, help="years to compare with, e.g. 2017-2019"
        )
        parser.add_argument(
            "--claim",
            help="doubled, tripled, halved, surge, record, exponential, or 'highest since YEAR'",
        )
        parser.add_argument("--source", choices=("registry", "official"), default="registry")
        parser.add_argument("--format", choices=("text", "json"), default="text")
        parser.add_argument("--lang", choices=("ko", "en"))

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor()
        official = options["source"] == "official"
        # The published series is public; the registry's exact yearly counts are not.
        policy.require(actor, Action.STATS_VIEW if official else Action.STATS_EXACT)
        series = official_series() if official else registry_series(actor)
        facts = trend_facts(series, options["year"], baseline=options["baseline"])
        verdict = (
            check_claim(series, options["year"], options["claim"], baseline=options["baseline"])
            if options["claim"]
            else None
        )
        if options["format"] == "json":
            document: dict[str, object] = dict(facts.as_json())
            if verdict is not None:
                document["claim"] = verdict.as_json()
            self.stdout.write(json.dumps(document, ensure_ascii=False, indent=1))
            return
        self.stdout.write(format_text(facts, verdict, lang=options["lang"] or terminal_language()))
