"""Encrypt + decrypt of one field value: Saebom's encrypted fields against raw AES-GCM.

Saebom's path is what a model save and load do per value: ``EncryptedTextField.get_prep_value``
(key ring from settings, associated data ``<table>.<column>``, token ``v1:<key id>:<base64>``) and
``from_db_value`` (token parsing, key id check, decrypt, ``date`` conversion for dates).

The baseline is the floor any AES-GCM field must pay: a 12-byte random nonce, ``AESGCM.encrypt``
with the same associated data, base64 of nonce + ciphertext, then base64 decode and
``AESGCM.decrypt``. It gets the plaintexts already encoded as UTF-8 bytes and keeps one
``AESGCM`` object, as the key ring does. No database is involved in either path.

    .venv/bin/python benchmarks/field_crypto.py [--scale F] [--repeats N]
"""

from __future__ import annotations

import argparse
import base64
import datetime
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FULL_SCALE_VALUES = 100_000
TARGET_RATIO = 3.00
NONCE_BYTES = 12
KEY_VARIABLES = (
    "SAEBOM_SECRET_KEY",
    "SAEBOM_SECRET_KEY_FILE",
    "SAEBOM_FIELD_KEYS",
    "SAEBOM_FIELD_KEYS_FILE",
)

SURNAMES = [
    ("김", "KIM", "Kim"),
    ("리", "RI", "Lee"),
    ("박", "PAK", "Park"),
    ("최", "CHOE", "Choi"),
    ("정", "JONG", "Jeong"),
    ("강", "KANG", "Kang"),
    ("조", "JO", "Cho"),
    ("윤", "YUN", "Yun"),
    ("장", "JANG", "Jang"),
    ("한", "HAN", "Han"),
    ("림", "RIM", "Lim"),
    ("오", "O", "Oh"),
]
SYLLABLES = [
    ("영", "YONG", "yeong"),
    ("철", "CHOL", "cheol"),
    ("명", "MYONG", "myeong"),
    ("순", "SUN", "sun"),
    ("희", "HUI", "hui"),
    ("성", "SONG", "seong"),
    ("혁", "HYOK", "hyeok"),
    ("일", "IL", "il"),
    ("국", "GUK", "guk"),
    ("정", "JONG", "jeong"),
    ("수", "SU", "su"),
    ("남", "NAM", "nam"),
    ("은", "UN", "eun"),
    ("옥", "OK", "ok"),
    ("금", "GUM", "geum"),
    ("광", "GWANG", "gwang"),
    ("진", "JIN", "jin"),
    ("혜", "HYE", "hye"),
    ("경", "GYONG", "gyeong"),
    ("미", "MI", "mi"),
]

Kind = tuple[str, str, list[Any]]  # label, model field name, values


def setup_django(data_dir: Path) -> None:
    for name in KEY_VARIABLES:
        os.environ.pop(name, None)
    os.environ["SAEBOM_DATA_DIR"] = str(data_dir)
    os.environ["SAEBOM_TESTING"] = "1"  # installs tests.sample_app, whose Sample model we use
    os.environ["DATABASE_URL"] = f"sqlite:///{data_dir / 'bench.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "saebom.settings"
    sys.path.insert(0, str(REPO))

    import django

    from saebom.core.crypto import ensure_key_files

    ensure_key_files(data_dir)
    django.setup()


def korean_name(rng: random.Random) -> str:
    surname = rng.choice(SURNAMES)[0]
    given = "".join(s[0] for s in rng.sample(SYLLABLES, 2))
    old = "".join(s[0] for s in rng.sample(SYLLABLES, 2))
    return f"{surname}{given} (개명 전 {surname}{old})"


def romanised_name(rng: random.Random) -> str:
    surname = rng.choice(SURNAMES)
    given = rng.sample(SYLLABLES, 2)
    north = " ".join([surname[1], given[0][1], given[1][1]])
    south = f"{surname[2]} {given[0][2].capitalize()}-{given[1][2]}"
    return f"{north} / {south}"


def birth_date(rng: random.Random) -> datetime.date:
    return datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randrange(70 * 365))


def make_kinds(count: int, seed: int = 20_260_301) -> list[Kind]:
    rng = random.Random(seed)
    sizes = [count // 3 + (i < count % 3) for i in range(3)]
    return [
        ("Korean name", "name", [korean_name(rng) for _ in range(sizes[0])]),
        ("romanised name", "name", [romanised_name(rng) for _ in range(sizes[1])]),
        ("date of birth", "born", [birth_date(rng) for _ in range(sizes[2])]),
    ]


def plain_bytes(value: Any) -> bytes:
    text = value.isoformat() if isinstance(value, datetime.date) else str(value)
    return text.encode("utf-8")


def saebom_runner(field_name: str, values: Sequence[Any]) -> Callable[[], None]:
    from django.db import connection
    from tests.sample_app.models import Sample

    field: Any = Sample._meta.get_field(field_name)
    prep, load = field.get_prep_value, field.from_db_value

    def run() -> None:
        for value in values:
            load(prep(value), None, connection)

    return run


def baseline_runner(field_name: str, values: Sequence[Any]) -> Callable[[], None]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from tests.sample_app.models import Sample

    cipher = AESGCM(AESGCM.generate_key(256))
    aad = f"{Sample._meta.db_table}.{field_name}".encode()
    data = [plain_bytes(value) for value in values]
    urandom, b64encode, b64decode = os.urandom, base64.b64encode, base64.b64decode

    def run() -> None:
        for plaintext in data:
            nonce = urandom(NONCE_BYTES)
            stored = b64encode(nonce + cipher.encrypt(nonce, plaintext, aad)).decode("ascii")
            raw = b64decode(stored, validate=True)
            cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)

    return run


def check_round_trips(kinds: Sequence[Kind]) -> None:
    from django.db import connection
    from tests.sample_app.models import Sample

    for label, field_name, values in kinds:
        field: Any = Sample._meta.get_field(field_name)
        for value in values[:1000]:
            token = field.get_prep_value(value)
            if not token.startswith("v1:") or field.from_db_value(token, None, connection) != value:
                raise SystemExit(f"{label}: {value!r} did not survive a round trip")


def timed(run: Callable[[], None]) -> float:
    """CPU seconds of this process: time spent waiting for a core shared with others is left out."""
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        run()
        return time.process_time() - start
    finally:
        gc.enable()


def measure(kinds: Sequence[Kind], repeats: int) -> dict[str, dict[str, float]]:
    """Fastest pass per kind and path; the two paths alternate within each repeat."""
    runners = {
        label: {
            "saebom": saebom_runner(field_name, values),
            "baseline": baseline_runner(field_name, values),
        }
        for label, field_name, values in kinds
    }
    for paths in runners.values():
        for run in paths.values():
            run()  # warm up: key ring lookups, cipher objects, allocator
    samples: dict[str, dict[str, list[float]]] = {
        label: {"saebom": [], "baseline": []} for label in runners
    }
    for _ in range(repeats):
        for label, paths in runners.items():
            for path, run in paths.items():
                samples[label][path].append(timed(run))
    return {
        label: {path: min(times) for path, times in paths.items()}
        for label, paths in samples.items()
    }


def mean_bytes(values: Sequence[Any]) -> float:
    return statistics.fmean(len(plain_bytes(value)) for value in values)


def report_row(label: str, size: str, count: int, saebom: float, baseline: float) -> None:
    print(
        f"{label:<16} {size:>6} {count / saebom:>13,.0f} {count / baseline:>15,.0f} "
        f"{saebom / baseline:>6.2f}"
    )


def report(kinds: Sequence[Kind], fastest: dict[str, dict[str, float]]) -> None:
    header = f"{'value kind':<16} {'bytes':>6} {'saebom ops/s':>13} {'baseline ops/s':>15}"
    print(f"{header} {'ratio':>6}")
    for label, _field_name, values in kinds:
        times = fastest[label]
        size = f"{mean_bytes(values):.1f}"
        report_row(label, size, len(values), times["saebom"], times["baseline"])
    count = sum(len(values) for _, _, values in kinds)
    saebom = sum(times["saebom"] for times in fastest.values())
    baseline = sum(times["baseline"] for times in fastest.values())
    report_row("all", "", count, saebom, baseline)
    print(
        f"per value (encrypt + decrypt): saebom {saebom / count * 1e6:.2f} µs, "
        f"baseline {baseline / count * 1e6:.2f} µs"
    )
    print(f"RESULT field_encrypt_decrypt ratio={saebom / baseline:.2f} target={TARGET_RATIO:.2f}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 100,000 values")
    parser.add_argument("--repeats", type=int, default=7, help="timed passes per path (fastest)")
    args = parser.parse_args(argv)
    if args.scale <= 0 or args.repeats < 1:
        parser.error("--scale must be positive and --repeats at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    count = max(3, round(FULL_SCALE_VALUES * args.scale))
    with tempfile.TemporaryDirectory(prefix="saebom-bench-") as tmp:
        setup_django(Path(tmp))
        kinds = make_kinds(count)
        check_round_trips(kinds)
        total = sum(len(values) for _, _, values in kinds)
        print(f"field_crypto: {total:,} values, fastest of {args.repeats} passes, CPU time")
        report(kinds, measure(kinds, args.repeats))


if __name__ == "__main__":
    main()
