"""Arrivals report: Saebom's year x sex x province count against a hand-written SQL GROUP BY.

Data. N generated arrivals (1,000,000 at scale 1.0) written straight into ``registry_person``
and ``registry_arrival`` with batched ``executemany``: arrival years 1990-2025 weighted like the
Ministry's published series (the ``~1998`` and ``1999-2001`` totals spread evenly over their
years), sex drawn with each year's published female share (12% up to 1998, 70-90% in most
years since 2004), provinces weighted towards North Hamgyong and Ryanggang as in the demo data.
Fixed seed, ids 1..N, all in the default agency. Then ``ANALYZE``.

Saebom. ``stats.engine.count_arrivals(Arrival.objects.all(), parse_dimensions(
"year,sex,origin_province"))``: what a statistician with ALL scope gets, built by the ORM
(Ministry year grouping as a CASE, year cast to text), run, and turned into a ``CountTable``.

Baseline. One hand-written ``SELECT CASE ... END, sex, origin_province, COUNT(*) FROM
registry_arrival GROUP BY 1, 2, 3`` with the same CASE and the same cast, read with
``fetchall`` into the same dict of (period, sex, province) -> count. Both paths are checked to
give the same dict, then each runs several times, alternating; the medians count.

    .venv/bin/python benchmarks/report_arrivals.py [--scale F] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from harness import ARRIVAL_COLUMNS, scratch_django

FULL_SCALE_ROWS = 1_000_000
TARGET = 1.50
BATCH = 50_000
FIRST_YEAR, LAST_YEAR = 1990, 2025
SCRATCH_DATABASE = "saebom_bench_report"
SERIES = Path(__file__).parent.parent / "src/saebom/registry/data/mou-arrivals-by-year.csv"
DIMENSIONS = "year,sex,origin_province"
# The Ministry's year grouping, as stats.dimensions._year computes it.
PERIOD_SQL = (
    "CASE WHEN arrival_year <= 1998 THEN '~1998' "
    "WHEN arrival_year <= 2001 THEN '1999-2001' "
    "ELSE CAST(arrival_year AS {text}) END"
)

Cells = dict[tuple[str, str, str], int]


def yearly_weights() -> dict[int, tuple[float, float]]:
    """Arrival year -> (expected arrivals, female share), from the shipped official series."""
    weights: dict[int, tuple[float, float]] = {}
    with SERIES.open(encoding="utf-8") as file:
        lines = (line for line in file if not line.startswith("#"))
        for row in csv.DictReader(lines):
            last = int(row["last_year"])
            first = int(row["first_year"] or FIRST_YEAR)
            total, female = int(row["total"]), int(row["female"])
            years = range(first, last + 1)
            for year in years:
                weights[year] = (total / len(years), female / total)
    return weights


def generated_arrivals(count: int, agency_id: int) -> Iterator[list[tuple[object, ...]]]:
    """Batches of ``registry_arrival`` rows, ids 1..count, always the same for the same count."""
    rng = random.Random(1998)
    weights = yearly_weights()
    years = list(weights)
    year_weights = [weights[y][0] for y in years]
    female_share = {y: weights[y][1] for y in years}
    from saebom.demo.synthetic import PROVINCE_WEIGHTS  # the demo's shares; Django is set up

    provinces = list(PROVINCE_WEIGHTS)
    province_weights = list(PROVINCE_WEIGHTS.values())
    now = "2026-11-30 00:00:00"
    for start in range(1, count + 1, BATCH):
        size = min(BATCH, count + 1 - start)
        batch_years = rng.choices(years, year_weights, k=size)
        batch_provinces = rng.choices(provinces, province_weights, k=size)
        rows = []
        for n, year, province in zip(
            range(start, start + size), batch_years, batch_provinces, strict=True
        ):
            sex = "F" if rng.random() < female_share[year] else "M"
            day = int(rng.random() * 336)  # 12 months of 28 days
            age = 10 + int(rng.random() * 50)
            rows.append(
                (
                    n,
                    n,
                    agency_id,
                    f"R-{n:07d}",
                    f"{year}-{day // 28 + 1:02d}-{day % 28 + 1:02d}",
                    "day",
                    year,
                    sex,
                    year - age,
                    province,
                    "worker",
                    "secondary",
                    "none",
                    f"{year - (n % 4)}-01-01",
                    "year",
                    "via_china",
                    "hanawon",
                    "economic_hardship",
                    "CN;LA;TH",
                    "final",
                    True,
                    1,
                    now,
                    now,
                )
            )
        yield rows


def _executemany(table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    from django.db import connection

    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def build_registry(count: int) -> None:
    """``count`` persons and arrivals by raw executemany, one transaction per batch; ANALYZE."""
    from django.db import connection, transaction

    from saebom.accounts.models import Agency

    agency_id = Agency.objects.get(code="default").pk
    now = "2026-11-30 00:00:00"
    for rows in generated_arrivals(count, agency_id):
        with transaction.atomic():
            _executemany(
                "registry_person",
                ("id", "public_id", "is_synthetic", "created_at"),
                [(row[0], f"P-{row[0]:08d}", True, now) for row in rows],
            )
            _executemany("registry_arrival", ARRIVAL_COLUMNS, rows)
    with connection.cursor() as cursor:
        postgres = connection.vendor == "postgresql"
        cursor.execute("ANALYZE registry_arrival" if postgres else "ANALYZE")


def saebom_report() -> Cells:
    from saebom.registry.models import Arrival
    from saebom.stats.engine import count_arrivals, parse_dimensions

    table = count_arrivals(Arrival.objects.all(), parse_dimensions(DIMENSIONS))
    return table.cells  # type: ignore[return-value]


def raw_sql() -> str:
    from django.db import connection

    period = PERIOD_SQL.format(text="varchar" if connection.vendor == "postgresql" else "text")
    return f"SELECT {period}, sex, origin_province, COUNT(*) FROM registry_arrival GROUP BY 1, 2, 3"


def baseline_report(sql: str) -> Cells:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {(period, sex, province): n for period, sex, province, n in cursor.fetchall()}


def saebom_sql() -> str:
    """The SQL the engine sends for the report, captured from a run (for EXPLAIN)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        saebom_report()
    (query,) = queries.captured_queries
    return query["sql"]


def explain(sql: str) -> list[str]:
    from django.db import connection

    postgres = connection.vendor == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS)" if postgres else "EXPLAIN QUERY PLAN"
    with connection.cursor() as cursor:
        cursor.execute(f"{prefix} {sql}")
        return [" | ".join(str(c) for c in row) for row in cursor.fetchall()]


def medians(
    runs: Sequence[tuple[str, Callable[[], Cells]]], repeats: int
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Each path ``repeats`` times, alternating (and alternating which goes first)."""
    times: dict[str, list[float]] = {name: [] for name, _run in runs}
    for n in range(repeats):
        for name, run in runs if n % 2 == 0 else list(reversed(runs)):
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}, times


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000,000 arrivals")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print both queries and plans")
    args = parser.parse_args(argv)
    count = max(100, round(FULL_SCALE_ROWS * args.scale))
    with scratch_django(args.database, SCRATCH_DATABASE):
        from saebom.core.actors import system_actor
        from saebom.core.services import installation_init

        installation_init(actor=system_actor(), verbosity=0)
        started = time.perf_counter()
        build_registry(count)
        built = time.perf_counter() - started
        sql = raw_sql()
        # Untimed first run of each: warms the cache (and PostgreSQL's hint bits), checks results.
        saebom_cells, baseline_cells = saebom_report(), baseline_report(sql)
        assert saebom_cells == baseline_cells, "the two reports differ"
        assert sum(baseline_cells.values()) == count
        if args.explain:
            for name, query in (("saebom", saebom_sql()), ("baseline", sql)):
                print(f"-- {name}\n{query}")
                print("\n".join(explain(query)))
        median, times = medians(
            [("saebom", saebom_report), ("baseline", lambda: baseline_report(sql))], args.repeats
        )
    print(f"database          {args.database}, {count:,} arrivals, {len(baseline_cells)} cells")
    print(f"build             {built:7.1f} s ({count / built:,.0f} rows/s, persons + arrivals)")
    for name, label in (("saebom", "saebom report"), ("baseline", "raw GROUP BY")):
        spread = ", ".join(f"{t * 1000:.1f}" for t in times[name])
        print(f"{label:<17} {median[name] * 1000:9.1f} ms median  ({spread} ms)")
    ratio = median["saebom"] / median["baseline"]
    print(f"RESULT report_arrivals_{args.database} ratio={ratio:.2f} target={TARGET:.2f}")


if __name__ == "__main__":
    main()
