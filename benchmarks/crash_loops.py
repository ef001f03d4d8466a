"""Crashes mid-write, the full variant: at least 20 SIGKILLs per operation (arrivals import, key
rotation, evidence upload, backup) on SQLite and on PostgreSQL, then a full disk, each on a
scratch installation. The harness and what it checks after each kill: tests/crashing.py (the
quick variant in `make test`: tests/core/test_crashes.py).

Not a timing: the "ratio" of each RESULT line is the share of runs that left a consistent store,
passed both verify commands and completed when run again (target 1.00).

    .venv/bin/python benchmarks/crash_loops.py [--runs N] [--scale F] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from harness import POSTGRES_SERVER

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package: the harness

from tests.crashing import LoopResult, crash_loop, full_disk, installation, operations

DATABASES = {"sqlite": "sqlite", "postgres": "postgresql"}


def table(results: list[LoopResult]) -> str:
    header = (
        f"{'operation':<16} {'database':<10} {'runs':>4} {'random':>6} {'point':>5} "
        f"{'before':>6} {'mid':>4} {'after':>5} {'done':>4} {'writes':>6} {'problems':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.operation:<16} {r.vendor:<10} {len(r.runs):>4} "
            f"{sum(x.mode == 'random' for x in r.runs):>6} "
            f"{sum(x.mode == 'point' for x in r.runs):>5} {r.landed('before'):>6} "
            f"{r.landed('during'):>4} {r.landed('after'):>5} {r.landed('finished'):>4} "
            f"{r.writes_uninterrupted:>6} {len(r.problems):>8}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="kills per operation (default 20)")
    parser.add_argument("--scale", type=float, default=1.0, help="size of each operation's work")
    parser.add_argument("--database", choices=[*DATABASES, "both"], default="both")
    parser.add_argument("--seed", type=int, default=20250507)
    args = parser.parse_args()
    os.environ.setdefault("SAEBOM_BENCH_POSTGRES", POSTGRES_SERVER)
    chosen = list(DATABASES) if args.database == "both" else [args.database]
    results: list[LoopResult] = []
    full_disk_problems: dict[str, int] = {}
    for database in chosen:
        vendor = DATABASES[database]
        with installation(vendor) as site:
            for operation in operations(site, scale=args.scale):
                started = time.monotonic()
                result = crash_loop(operation, args.runs, args.seed)
                results.append(result)
                print(f"{result.summary()} [{time.monotonic() - started:.0f} s]", flush=True)
                for problem in result.problems:
                    print(f"  {problem}", flush=True)
            if os.geteuid() == 0:
                fillings = full_disk(site)
                for filling in fillings:
                    print(f"full disk ({vendor}): {filling.summary()}", flush=True)
                    for problem in filling.problems:
                        print(f"  {problem}", flush=True)
                full_disk_problems[vendor] = sum(len(f.problems) for f in fillings)
            else:
                print("full disk: skipped, mounting a tmpfs needs root")
    print()
    print(table(results))
    print()
    for r in results:
        clean = sum(not run.problems for run in r.runs) / max(1, len(r.runs))
        name = f"crash_{r.operation.replace(' ', '_')}_{r.vendor}"
        print(f"RESULT {name} ratio={clean:.2f} target=1.00")
    for vendor, problems in full_disk_problems.items():
        print(f"RESULT full_disk_{vendor} ratio={1.0 if not problems else 0.0:.2f} target=1.00")
    if any(r.problems for r in results) or any(full_disk_problems.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
