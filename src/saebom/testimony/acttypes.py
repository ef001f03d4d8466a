"""The shipped mapping of act types to COI categories and HURIDOCS codes
(``testimony/data/act_types.csv``); labels come from the vocabularies."""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from pathlib import Path

ACT_TYPES_FILE = Path(__file__).parent / "data" / "act_types.csv"


@dataclass(frozen=True)
class ActType:
    code: str
    coi_category: str  # the default; an act may be coded under another category
    huridocs_code: str  # empty where no HURIDOCS code is confirmed
    serious: bool


@functools.cache
def act_types() -> dict[str, ActType]:
    text = ACT_TYPES_FILE.read_text(encoding="utf-8")
    rows = csv.DictReader(io.StringIO("\n".join(ln for ln in text.splitlines() if ln[:1] != "#")))
    return {
        row["code"]: ActType(
            row["code"], row["coi_category"], row["huridocs_code"], row["serious"] == "1"
        )
        for row in rows
    }


def serious_codes() -> list[str]:
    return [code for code, act_type in act_types().items() if act_type.serious]
