"""What every benchmark needs: a scratch database (SQLite file or PostgreSQL), Django set up on
it with fresh keys, and clean-up afterwards. Imported by the scripts beside it."""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

POSTGRES_SERVER = os.environ.get("SAEBOM_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/")
# Every column of registry_arrival, in the order the baselines insert them.
ARRIVAL_COLUMNS = (
    "id",
    "person_id",
    "agency_id",
    "record_id",
    "arrival_date",
    "arrival_precision",
    "arrival_year",
    "sex",
    "birth_year",
    "origin_province",
    "occupation",
    "education",
    "elite_category",
    "left_north_date",
    "left_north_precision",
    "route",
    "protection",
    "reason_codes",
    "transit_codes",
    "status",
    "is_synthetic",
    "version",
    "created_at",
    "updated_at",
)
UNSET_VARIABLES = (
    "SAEBOM_SECRET_KEY",
    "SAEBOM_SECRET_KEY_FILE",
    "SAEBOM_FIELD_KEYS",
    "SAEBOM_FIELD_KEYS_FILE",
    "SAEBOM_DEBUG",
    "SAEBOM_TESTING",
)


def admin_execute(statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}postgres", autocommit=True) as admin:
        admin.execute(statement)


def setup_django(data_dir: Path, url: str) -> None:
    for name in UNSET_VARIABLES:
        os.environ.pop(name, None)
    os.environ["SAEBOM_DATA_DIR"] = str(data_dir)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "saebom.settings"

    import django
    from django.core.management import call_command

    from saebom.core.crypto import ensure_key_files

    ensure_key_files(data_dir)
    django.setup()
    call_command("migrate", verbosity=0)


@contextmanager
def scratch_django(database: str, scratch_name: str) -> Iterator[Path]:
    """Django on an empty, migrated database of the given kind; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="saebom-bench-") as tmp:
        data_dir = Path(tmp)
        if database == "sqlite":
            url = f"sqlite:///{data_dir / 'bench.sqlite3'}"
        else:
            admin_execute(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)')
            admin_execute(f'CREATE DATABASE "{scratch_name}"')
            url = f"{POSTGRES_SERVER}{scratch_name}"
        try:
            setup_django(data_dir, url)
            yield data_dir
        finally:
            from django.db import connections

            connections.close_all()
            if database == "postgres":
                admin_execute(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)')


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0

    def add(self, other: Timing) -> None:
        self.wall += other.wall
        self.cpu += other.cpu


def timed(run: Callable[[], object]) -> Timing:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


def print_rates(title: str, count: int, times: dict[str, Timing]) -> float:
    """One line per path (events/s, time, time and CPU per event); gives Saebom's ratio."""
    for path in ("saebom", "baseline"):
        wall, cpu = times[path].wall, times[path].cpu
        print(
            f"{title:<6} {path:<8} {count / wall:>9,.0f} events/s  {wall:6.2f} s  "
            f"{wall / count * 1e6:7.1f} µs/event, of which CPU {cpu / count * 1e6:6.1f}"
        )
    return times["saebom"].wall / times["baseline"].wall


def chain_args(
    argv: Sequence[str] | None, description: str, *, scale_help: str, repeats: int
) -> argparse.Namespace:
    """The options of the chain benchmarks (audit, custody): scale, database, rounds, repeats."""
    parser = argparse.ArgumentParser(description=description.split("\n", 1)[0])
    parser.add_argument("--scale", type=float, default=1.0, help=scale_help)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=5, help="alternating append blocks")
    parser.add_argument(
        "--repeats", type=int, default=repeats, help="timed verify passes (fastest)"
    )
    args = parser.parse_args(argv)
    if args.scale <= 0 or args.repeats < 1 or args.rounds < 1:
        parser.error("--scale must be positive, --rounds and --repeats at least 1")
    return args
