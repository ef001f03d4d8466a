"""Importing arrivals: Saebom's whole import against a bare executemany of the same rows.

Saebom. ``arrivals_import`` on a CSV of N generated rows with identities: read and validate every
row (vocabularies, dates, cross-field rules), then in one transaction create the persons, their
encrypted identities with blind indexes, the arrivals, their reasons and transit countries, and a
django-simple-history row for each, plus the audit event.

Baseline. The same rows, already split from the CSV, inserted with one ``executemany`` per table
into the same five tables (persons, identities, arrivals, reasons, transit countries), in one
transaction: no validation, no encryption or blind indexes (identities go in as plain text), no
history. It is the floor of "put these rows in these tables". Each side runs on a freshly
emptied database; the fastest of the repeats counts.

    .venv/bin/python benchmarks/import_arrivals.py [--scale F] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import time
from collections.abc import Sequence

from harness import ARRIVAL_COLUMNS, scratch_django

FULL_SCALE_ROWS = 100_000
TARGET = 5.00
PROVINCES = ("north_hamgyong", "ryanggang", "south_hamgyong", "pyongyang", "kangwon")
REASONS = ("economic_hardship", "accompanying_family", "yearning_for_freedom", "other")


def generated_rows(count: int) -> list[dict[str, str]]:
    rng = random.Random(2023)
    rows = []
    for n in range(count):
        year = rng.randint(2005, 2025)
        born = rng.randint(1950, year - 1)
        rows.append(
            {
                "record_id": f"B-{n:07d}",
                "sex": rng.choice("MF"),
                "arrival_date": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "birth_year": str(born),
                "origin_province": rng.choice(PROVINCES),
                "occupation": "worker",
                "education": "secondary",
                "elite_category": "none",
                "left_north_date": str(year - rng.randint(0, 5)),
                "transit_countries": "CN;LA;TH",
                "route": "via_china",
                "reasons": rng.choice(REASONS),
                "protection": "hanawon",
                "name_ko": f"김{n % 997}순",
                "name_en": f"Kim Sun-{n}",
                "date_of_birth": f"{born}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            }
        )
    return rows


def to_csv(rows: Sequence[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    from saebom.registry.interchange import COLUMNS

    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def empty_registry() -> None:
    from django.db import connection

    tables = [
        "registry_historicalarrival",
        "registry_historicalpersonidentity",
        "registry_arrivaltransit",
        "registry_arrivalreason",
        "registry_arrival",
        "registry_personidentity",
        "registry_person",
    ]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DELETE FROM {table}")


def saebom_import(data: bytes) -> int:
    from saebom.core.actors import system_actor
    from saebom.registry.importing import arrivals_import

    report = arrivals_import(actor=system_actor(), data=data, filename="bench.csv")
    assert report.written and not report.errors, report.errors[:3]
    return report.created


def _executemany(table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    from django.db import connection

    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def baseline_insert(rows: Sequence[dict[str, str]]) -> int:
    """The same rows into the same five tables, as given: no checks, no encryption, no history."""
    from django.db import transaction

    from saebom.accounts.models import Agency

    agency_id = Agency.objects.get(code="default").pk
    now = "2026-11-30 00:00:00"
    ids = range(1, len(rows) + 1)
    with transaction.atomic():
        _executemany(
            "registry_person",
            ("id", "public_id", "is_synthetic", "created_at"),
            [(n, f"P-{n:08d}", False, now) for n in ids],
        )
        _executemany(
            "registry_personidentity",
            ("id", "person_id", "name_ko", "name_en", "date_of_birth", "birth_year"),
            [
                (n, n, r["name_ko"], r["name_en"], r["date_of_birth"], int(r["birth_year"]))
                for n, r in zip(ids, rows, strict=True)
            ],
        )
        _executemany(
            "registry_arrival",
            ARRIVAL_COLUMNS,
            [
                (
                    n,
                    n,
                    agency_id,
                    r["record_id"],
                    r["arrival_date"],
                    "day",
                    int(r["arrival_date"][:4]),
                    r["sex"],
                    int(r["birth_year"]),
                    r["origin_province"],
                    r["occupation"],
                    r["education"],
                    r["elite_category"],
                    f"{r['left_north_date']}-01-01",
                    "year",
                    r["route"],
                    r["protection"],
                    r["reasons"],
                    r["transit_countries"],
                    "provisional",
                    False,
                    1,
                    now,
                    now,
                )
                for n, r in zip(ids, rows, strict=True)
            ],
        )
        _executemany(
            "registry_arrivalreason",
            ("arrival_id", "code"),
            [(n, r["reasons"]) for n, r in zip(ids, rows, strict=True)],
        )
        _executemany(
            "registry_arrivaltransit",
            ("arrival_id", "country", "position"),
            [
                (n, country, p)
                for n, r in zip(ids, rows, strict=True)
                for p, country in enumerate(r["transit_countries"].split(";"), 1)
            ],
        )
    return len(rows)


def fastest(run: object, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        empty_registry()
        started = time.perf_counter()
        run()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    empty_registry()
    return best


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 100,000 rows")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    count = max(10, round(FULL_SCALE_ROWS * args.scale))
    rows = generated_rows(count)
    with scratch_django(args.database, "saebom_bench_import"):
        data = to_csv(rows)
        from saebom.core.actors import system_actor
        from saebom.core.services import installation_init

        installation_init(actor=system_actor(), verbosity=0)
        saebom = fastest(lambda: saebom_import(data), args.repeats)
        baseline = fastest(lambda: baseline_insert(rows), args.repeats)
    print(f"database          {args.database}, {count:,} rows with identities")
    print(f"saebom import     {count / saebom:10,.0f} rows/s   {saebom:7.2f} s")
    print(f"bare executemany  {count / baseline:10,.0f} rows/s   {baseline:7.2f} s")
    print(
        f"RESULT import_arrivals_{args.database} ratio={saebom / baseline:.2f} target={TARGET:.2f}"
    )


if __name__ == "__main__":
    main()
