from __future__ import annotations

import csv
import io

from openpyxl import Workbook

from saebom.registry.interchange import COLUMNS


def row(n: int, **cells: str) -> dict[str, str]:
    base = {
        "record_id": f"R-{n:05d}",
        "sex": "F" if n % 3 else "M",
        "arrival_date": f"20{10 + n % 14:02d}-0{1 + n % 9}",
        "birth_year": str(1960 + n % 40),
        "origin_province": "north_hamgyong",
        "occupation": "worker",
        "education": "secondary",
        "elite_category": "none",
        "left_north_date": "2009",
        "transit_countries": "CN;LA;TH",
        "route": "via_china",
        "reasons": "economic_hardship",
        "protection": "hanawon",
        "name_ko": f"김철{n}",
        "name_en": f"Kim Chol {n}",
        "date_of_birth": "",
    }
    return base | cells


def csv_bytes(
    rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS, bom: bool = False
) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: r.get(c, "") for c in columns} for r in rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode()


def xlsx_bytes(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(list(columns))
    for r in rows:
        sheet.append([r.get(c, "") for c in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
