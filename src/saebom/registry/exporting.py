"""Exporting arrivals in the interchange columns, so that export → import round-trips exactly."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from saebom.core import policy
from saebom.core.actors import Actor
from saebom.core.audit import audit_record
from saebom.core.exceptions import SaebomError
from saebom.core.policy import Action
from saebom.registry import selectors
from saebom.registry.interchange import (
    COLUMNS,
    IDENTITY_COLUMNS,
    csv_writer,
    format_row,
    neutralise,
)

FORMATS = ("csv", "xlsx", "json")
SYNTHETIC_MARK = "SYNTHETIC DEMO DATA"
SYNTHETIC_NOTE = f"{SYNTHETIC_MARK} — not real persons / 합성 시연 데이터 — 실제 인물이 아님"


@dataclass(frozen=True)
class Export:
    content: bytes
    rows: int
    media_type: str


def arrivals_export(*, actor: Actor, fmt: str = "csv", include_identifiers: bool = False) -> Export:
    if fmt not in FORMATS:
        raise SaebomError(f"unknown format {fmt!r}; use csv, xlsx or json", field="format")
    policy.require(
        actor, Action.IDENTIFIERS_EXPORT if include_identifiers else Action.ARRIVAL_EXPORT
    )
    action = Action.IDENTIFIERS_EXPORT if include_identifiers else Action.ARRIVAL_EXPORT
    arrivals = selectors.arrivals_visible_to(actor, action)
    synthetic = arrivals.filter(is_synthetic=True).exists()
    columns = (
        COLUMNS if include_identifiers else tuple(c for c in COLUMNS if c not in IDENTITY_COLUMNS)
    )
    rows = [
        format_row(data, include_identifiers=include_identifiers)
        for data in selectors.arrivals_for_export(arrivals, with_identities=include_identifiers)
    ]
    content = WRITERS[fmt](columns, rows, synthetic)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="export",
            object_type="arrival",
            changed_fields=list(IDENTITY_COLUMNS) if include_identifiers else [],
            detail={"format": fmt, "rows": len(rows), "identifiers": include_identifiers},
        )
    return Export(content=content, rows=len(rows), media_type=MEDIA_TYPES[fmt])


def _csv(columns: Iterable[str], rows: list[dict[str, str]], synthetic: bool) -> bytes:
    buffer = io.StringIO()
    if synthetic:
        buffer.write(f"# {SYNTHETIC_NOTE}\n")  # the importer skips comment lines before the header
    writer = csv_writer(buffer)
    writer.writerow(columns)
    writer.writerows([neutralise(row[c]) for c in columns] for row in rows)
    return buffer.getvalue().encode("utf-8")


def _xlsx(columns: Iterable[str], rows: list[dict[str, str]], synthetic: bool) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("arrivals")
    sheet.append(list(columns))
    for row in rows:
        sheet.append([neutralise(row[c]) for c in columns])  # text cells, never formulas
    if synthetic:
        book.create_sheet("about").append([SYNTHETIC_NOTE])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _json(columns: Iterable[str], rows: list[dict[str, str]], synthetic: bool) -> bytes:
    document = {"columns": list(columns), "synthetic": synthetic, "arrivals": rows}
    if synthetic:
        document["note"] = SYNTHETIC_NOTE
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


WRITERS = {"csv": _csv, "xlsx": _xlsx, "json": _json}
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
