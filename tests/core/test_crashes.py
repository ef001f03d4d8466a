"""Crashes mid-write and a full disk, on the real commands (the harness: tests/crashing.py).

Each operation (arrivals import, key rotation, evidence upload, backup) is killed with SIGKILL
in a few runs, alternately after a random delay and just before a randomly drawn write; after
each kill the store must be consistent (all of the work or none; for key rotation, every value
readable and the rotation resumable), `saebom audit verify` and `saebom evidence verify` must
pass, and the operation run again must complete. Then a small tmpfs data dir is filled until
each operation is refused: one clear line, nothing lost, success once space is freed; an
evidence upload through the API meanwhile is a 507 problem that stores nothing.

This is the quick variant; `benchmarks/crash_loops.py` runs at least 20 kills per operation.
``SAEBOM_CRASH_RUNS`` and ``SAEBOM_CRASH_SEED`` change the runs and the draws.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.crashing import Installation, crash_loop, full_disk, installation, operations

RUNS = int(os.environ.get("SAEBOM_CRASH_RUNS", "3"))
SEED = int(os.environ.get("SAEBOM_CRASH_SEED", "20250507"))
QUICK_SCALE = 0.25
VENDOR = "postgresql" if os.environ.get("SAEBOM_TEST_DATABASE_URL") else "sqlite"
OPERATIONS = ("import", "key rotation", "evidence upload", "backup")


@pytest.fixture(scope="module")
def site() -> Iterator[Installation]:
    """One scratch installation (`saebom init`) for the module: its own data dir and database,
    never the test database."""
    with installation(VENDOR) as scratch:
        yield scratch


@pytest.mark.parametrize("index", range(len(OPERATIONS)), ids=OPERATIONS)
def test_a_killed_operation_leaves_all_or_nothing(site: Installation, index: int) -> None:
    operation = operations(site, scale=QUICK_SCALE)[index]
    result = crash_loop(operation, RUNS, SEED)
    print(f"\ncrash loop, seed {SEED}: {result.summary()}")
    assert len(result.runs) == RUNS
    assert not result.problems, "\n".join(result.problems)
    assert result.landed("during") >= 1, "no kill landed between two writes"


def test_a_full_disk_is_refused_in_one_line_and_loses_nothing(site: Installation) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    fillings = full_disk(site)
    for filling in fillings:
        print(f"\nfull disk ({VENDOR}): {filling.summary()}")
    expected = OPERATIONS[:1] if VENDOR == "sqlite" else ()
    assert [f.operation for f in fillings] == [*expected, "evidence upload", "backup"]
    assert all(f.error for f in fillings), "an operation was never refused"
    problems = [f"{f.operation}: {p}" for f in fillings for p in f.problems]
    assert not problems, "\n".join(problems)
