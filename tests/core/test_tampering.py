"""Tampering (issue 7, item 5): 1,000 random single changes to the audit chain and the evidence
store, every one detected.

A generator seeded with ``SEED`` (named in every failure; ``SAEBOM_TAMPER_SEED`` replaces it to
explore other draws) makes 1,000 cases. Each is one change that someone with write access to the
database or to the evidence directory could make: edit one column of one audit event (with or
without recomputing hashes after it), delete events, insert forged ones, reorder them, edit or
delete the head row; flip, zero, truncate, extend or replace bytes of an evidence file, change
its header, delete it, move or copy it to another file's address, or plant a file. The store
they act on is built through the real services (43 audit events; seven evidence files of two
agencies, one blob shared by both). An audit change runs in a savepoint that first drops the
append-only trigger, as an attacker would, and is rolled back afterwards; an evidence change is
a raw file write, undone by writing the original bytes back. After each change
``audit_verify()`` must report it at the expected sequence number, or ``saebom evidence verify``
must fail naming the file.

Each audit case also says which check it needs:

- the chain and the head row, inside the database (``audit_verify()``): any change that leaves
  them out of step;
- a head published outside the system (``audit_verify(expect_head=...)``): a rewrite or
  truncation whose forger recomputed every later hash and moved the head row to match. The
  plain check must pass for these (that is the documented limit), the anchored one must fail.

Left out of the 1,000 because no check can see them by design (docs/security.md, section 4;
``test_what_only_a_newer_published_head_shows`` pins these limits):

- events appended, rewritten or removed *after the last published head*, with correct links and
  hashes and the head row moved to match. The hash is not keyed, so whoever can write the
  database can write events as the application does; only the next published head shows it.
- the ``id`` column: a surrogate key, not part of the record, not hashed, never shown or used
  (the chain's order is ``seq``).
- storing a value in another form without changing it (JSON white space or key order, the same
  instant in another time zone): nothing changes as read. Every case checks that it did change
  what is read, so none of these slip in as a false "undetected".
- evidence *rows* and custody events in the database: outside this item, which covers audit
  rows and evidence bytes. ``tests/testimony/test_custody_chain.py`` changes each of them in
  every way in turn, and ``saebom evidence verify`` names the file each time.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from random import Random
from typing import Any

import pytest
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from saebom.accounts.models import Agency, User
from saebom.core import blobs
from saebom.core.actors import AnonymousActor, system_actor
from saebom.core.audit import (
    GENESIS_HASH,
    HASHED_FIELDS,
    audit_head,
    audit_permission_denied,
    audit_record,
    audit_verify,
    event_hash,
)
from saebom.core.context import RequestMetaMiddleware
from saebom.core.models import AuditEvent
from saebom.core.policy import Role
from saebom.testimony import services
from tests.cli import evidence_verify
from tests.factories import UserFactory

SEED = int(os.environ.get("SAEBOM_TAMPER_SEED", "20250507"))  # fixed; set it to explore others
CASES = 1_000

FIELDS = {f.attname: f for f in AuditEvent._meta.concrete_fields if not f.primary_key}
COLUMNS = (*HASHED_FIELDS, "hash")
CONTENT = tuple(c for c in HASHED_FIELDS if c not in ("seq", "prev_hash"))
JSON_COLUMNS = ("changed_fields", "detail")
OFFSET = 10**9  # renumbering goes through it, past the unique constraint on seq
ALPHABET = string.ascii_letters + string.digits + ".-_:/ " + "가나다라마바사아자차카타파하"


# -- the store ----------------------------------------------------------------------------------


@dataclass
class Store:
    published: list[tuple[int, str]]  # heads "published" while the store was built, oldest first
    names: dict[str, list[str]]  # blob sha → display names of the evidence rows that use it
    originals: dict[str, bytes]  # blob sha → its bytes on disk
    root: Path


def _pdf(rng: Random, words: str) -> bytes:
    body = " ".join(rng.choice(words.split()) for _ in range(rng.randint(300, 1500)))
    return b"%PDF-1.7\n" + body.encode() + b"\n%%EOF\n"


def _in_request(ip: str, agent: str, work: Callable[[], object]) -> None:
    """Run ``work`` as part of a web request from ``ip`` (the audit log records both)."""

    def view(request: HttpRequest) -> HttpResponse:
        work()
        return HttpResponse()

    RequestMetaMiddleware(view)(RequestFactory().get("/", REMOTE_ADDR=ip, HTTP_USER_AGENT=agent))


@pytest.fixture
def tamper_store(settings: Any, tmp_path: Path, agency: Agency, other_agency: Agency) -> Store:
    """43 audit events from real service calls and seven evidence files (six blobs)."""
    settings.SAEBOM_EVIDENCE_DIR = tmp_path / "evidence"
    rng = Random(SEED)
    dora = UserFactory(role=Role.DOCUMENTER, agency=agency, username="dora")
    otto = UserFactory(role=Role.DOCUMENTER, agency=other_agency, username="otto")
    browser = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
    words = "detention Kwanliso 15 Hoeryong 보위부 구금 witness statement 2009 March 증언"
    testimony: list[Any] = []

    def record_testimony() -> None:
        testimony.append(
            services.testimony_create(
                actor=dora,
                interview_date=date(2024, 5, 2),
                language="ko",
                summary="Detention at a holding centre after forced repatriation.",
                transcript="제 이웃 리순희는 2009년 3월 보위부에 끌려갔습니다.",
                witness_identity="Witness W-23, born 1968 in Hoeryong",
                witness_sex="F",
                interview_place="Seoul office, room 3",
                consent_scope="publish_anonymised",
                consent_given_on=date(2024, 5, 2),
            )
        )

    _in_request("203.0.113.7", browser, record_testimony)
    published = []

    def upload(actor: User, name: str, data: bytes) -> Any:
        return services.evidence_upload(
            actor=actor,
            filename=name,
            data=data,
            received_from="Witness W-23, in person",
            received_on=date(2024, 5, 2),
            description="given at the interview",
        )

    statement = _pdf(rng, words)
    files = [
        upload(dora, "statement.pdf", statement),
        upload(dora, "photo.png", b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(2000, 9000))),
        upload(dora, "scan.jpg", b"\xff\xd8\xff\xe0" + rng.randbytes(rng.randint(2000, 9000))),
        upload(dora, "notes.txt", ("증언 메모: " + words + "\n").encode() * 40),
        upload(otto, "statement.pdf", statement),  # the same blob, held by a second agency
        upload(otto, "map.png", b"\x89PNG\r\n\x1a\n" + rng.randbytes(300)),
    ]
    published.append(audit_head())
    files.append(
        services.evidence_working_copy(
            actor=dora, original=files[0], filename="redacted.pdf", data=_pdf(rng, words)
        )
    )
    _in_request(
        "2001:db8::17",
        browser,
        lambda: services.evidence_link(actor=dora, evidence=files[1], testimony=testimony[0]),
    )
    operator = system_actor()
    audit_record(
        actor=operator,
        action="keys_rotate",
        detail={"active": "k2", "rewrapped": 12, "fields": ["transcript", "witness_identity"]},
    )
    audit_record(
        actor=AnonymousActor(),
        action="login_failed",
        object_type="user",
        object_id=dora.pk,
        detail={"reason": "password", "locked": False},
    )
    audit_permission_denied(actor=otto, what="/testimonies/export")
    audit_record(
        actor=dora,
        action="update",
        object_type="person",
        object_id="P-7K3M9Q",
        changed_fields=["name_ko", "born_on", "arrival_date"],
        detail={"note": "생년월일 정정", "version": 3, "ratio": 0.25, "nested": {"a": [1, 2]}},
    )
    published.append(audit_head())
    for n in range(30):
        evidence = files[n % len(files)]
        owner = otto if evidence.agency_id == other_agency.pk else dora
        if n % 3 == 0:
            _in_request(
                f"198.51.100.{n}",
                browser,
                lambda e=evidence, o=owner: services.evidence_download(actor=o, evidence=e),
            )
        elif n % 3 == 1:
            services.evidence_open(actor=owner, evidence=evidence)
        else:
            services.evidence_record_viewed(actor=owner, evidence=evidence)
    published.append(audit_head())
    root = Path(settings.SAEBOM_EVIDENCE_DIR)
    names: dict[str, list[str]] = {}
    for evidence in files:
        names.setdefault(evidence.sha256, []).append(evidence.display_name)
    originals = {sha: blobs.path_for(sha).read_bytes() for sha in names}
    assert sorted(p.name for p in blobs.stored()) == sorted(originals)
    return Store(published=published, names=names, originals=originals, root=root)


# -- raw access, as an attacker has it ----------------------------------------------------------


def sql(statement: str, params: Sequence[object] = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))


def drop_guard() -> None:
    """What an attacker with database access does first: remove the append-only trigger."""
    if connection.vendor == "postgresql":
        sql("DROP TRIGGER core_auditevent_append_only ON core_auditevent")
    else:
        sql("DROP TRIGGER core_auditevent_no_update")


def prepared(column: str, value: object) -> object:
    return FIELDS[column].get_db_prep_save(value, connection)


def set_value(pk: int, column: str, value: object, *, raw: bool = False) -> None:
    stored = value if raw else prepared(column, value)
    sql(f"UPDATE core_auditevent SET {column} = %s WHERE id = %s", [stored, pk])


def insert(values: dict[str, Any]) -> None:
    marks = ", ".join(["%s"] * len(COLUMNS))
    sql(
        f"INSERT INTO core_auditevent ({', '.join(COLUMNS)}) VALUES ({marks})",
        [prepared(c, values[c]) for c in COLUMNS],
    )


def renumber(new_seq: dict[int, int]) -> None:
    """Give rows (by id) new sequence numbers, passing through OFFSET to keep seq unique."""
    for pk, seq in new_seq.items():
        sql("UPDATE core_auditevent SET seq = %s WHERE id = %s", [seq + OFFSET, pk])
    for pk, seq in new_seq.items():
        sql("UPDATE core_auditevent SET seq = %s WHERE id = %s", [seq, pk])


def move_head(seq: int, digest: str) -> None:
    sql("UPDATE core_audithead SET seq = %s, hash = %s WHERE id = 1", [seq, digest])


def chain() -> list[dict[str, Any]]:
    return list(AuditEvent.objects.order_by("seq").values("id", *COLUMNS))


def rehash(rows: list[dict[str, Any]], start: int, stop: int, prev: str) -> str:
    """Recompute links and hashes of rows[start:stop] (list positions) from ``prev`` on, as a
    forger covering a change does; returns the last hash."""
    for row in rows[start:stop]:
        row["prev_hash"] = prev
        row["hash"] = prev = event_hash(row)
        set_value(row["id"], "prev_hash", row["prev_hash"])
        set_value(row["id"], "hash", row["hash"])
    return prev


def audit_state() -> str:
    """Everything a verifier reads, normalised so that a stored form of the same value
    (JSON white space and key order) compares equal and a change of type does not."""
    # SQLite's driver parses a datetime column as it fetches it; quote() reads what is stored.
    read = ["quote(at)" if c == "at" and connection.vendor == "sqlite" else c for c in COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {', '.join(read)} FROM core_auditevent ORDER BY id")
        rows = cursor.fetchall()
        cursor.execute("SELECT id, seq, hash FROM core_audithead ORDER BY id")
        head = cursor.fetchall()
    out = []
    for row in rows:
        values = []
        for column, value in zip(("id", *COLUMNS), row, strict=True):
            if column in JSON_COLUMNS and isinstance(value, str):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            values.append(
                json.dumps(value, sort_keys=True)
                if column in JSON_COLUMNS and not isinstance(value, bytes)
                else repr(value)
            )
        out.append("|".join(values))
    return "\n".join(out) + "\nhead " + repr(head)


# -- changing values ----------------------------------------------------------------------------


def other_text(rng: Random, text: str, limit: int) -> str:
    while True:
        how = rng.randrange(9)
        i = rng.randrange(len(text) + 1)
        if how == 0 and text:
            i = min(i, len(text) - 1)
            new = text[:i] + rng.choice(ALPHABET) + text[i + 1 :]
        elif how == 1:
            new = text[:i] + rng.choice(ALPHABET) + text[i:]
        elif how == 2 and text:
            i = min(i, len(text) - 1)
            new = text[:i] + text[i + 1 :]
        elif how == 3:
            new = text.swapcase()
        elif how == 4:
            new = text + " "
        elif how == 5:
            new = rng.choice(["admin", "system:root", "mallory", "관리자", "delete", "view", ""])
        elif how == 6:
            new = text.replace("a", "\u0430").replace("o", "\u043e")  # Cyrillic look-alikes
        elif how == 7:
            new = unicodedata.normalize("NFD", text)  # Hangul decomposes: looks the same
        else:
            new = ""
        new = new[:limit]
        if new != text:
            return new


def other_digest(rng: Random, digest: str, hashes: Sequence[str], *, unique: bool) -> str:
    while True:
        how = rng.randrange(6)
        if how == 0:
            i = rng.randrange(64)
            other = rng.choice("0123456789abcdef".replace(digest[i], ""))
            new = digest[:i] + other + digest[i + 1 :]
        elif how == 1:
            new = digest.upper()
        elif how == 2:
            new = rng.randbytes(32).hex()
        elif how == 3:
            new = GENESIS_HASH
        elif how == 4:
            new = rng.choice(hashes)
        else:
            new = ""
        if new != digest and not (unique and new in hashes):
            return new


def other_json(rng: Random, value: Any, depth: int = 0) -> Any:
    """A different JSON value: an element added, removed, reordered or changed, or a type."""
    value = copy.deepcopy(value)
    while True:
        new = _other_json(rng, value, depth)
        if json.dumps(new, sort_keys=True) != json.dumps(value, sort_keys=True):
            return new


def _other_json(rng: Random, value: Any, depth: int) -> Any:
    how = rng.randrange(5)
    if isinstance(value, dict):
        new = dict(value)
        keys = sorted(new)
        if how == 0 or not keys:
            new[rng.choice(["approved_by", "n", "note", "reason", "files"])] = rng.choice(
                [0, 1, "x", True, None, ["a"]]
            )
        elif how == 1:
            del new[rng.choice(keys)]
        elif how == 2 and depth < 2:
            key = rng.choice(keys)
            new[key] = other_json(rng, new[key], depth + 1)
        elif how == 3:
            new = rng.choice([{}, [], "", None])
        else:
            key = rng.choice(keys)
            new[rng.choice([key.upper(), key + "_", "x" + key])] = new.pop(key)
        return new
    if isinstance(value, list):
        new = list(value)
        if how == 0 or not new:
            new.insert(rng.randrange(len(new) + 1), rng.choice(["name_ko", "notes", "ip", 1]))
        elif how == 1:
            del new[rng.randrange(len(new))]
        elif how == 2 and len(set(map(str, new))) > 1:
            rng.shuffle(new)
        elif how == 3 and depth < 2:
            i = rng.randrange(len(new))
            new[i] = other_json(rng, new[i], depth + 1)
        else:
            new = rng.choice([[], {}, None])
        return new
    if isinstance(value, bool):
        return rng.choice([not value, int(value), str(value).lower()])
    if isinstance(value, int):
        return rng.choice([value + 1, value - 1, float(value), str(value), -value, None, True])
    if isinstance(value, float):
        return rng.choice([value + 0.5, round(value), str(value), -value])
    if isinstance(value, str):
        return rng.choice([other_text(rng, value, 200), None, 0])
    return rng.choice([0, "", False, [], {}])


def other_value(rng: Random, column: str, value: Any) -> tuple[Any, str]:
    """A different value for a content column, and its description."""
    if column == "at":
        micros = rng.choice([1, 10**3, 10**6, 3_600 * 10**6, rng.randint(1, 10**13)])
        delta = timedelta(microseconds=micros * rng.choice([1, -1]))
        return value + delta, f"moved by {delta}"
    if column == "actor_id":
        choices = [rng.randrange(1, 10**6), 0] if value is None else [None, value + 1, value - 1]
        new = rng.choice(choices)
        return new, f"{value!r} → {new!r}"
    if column in JSON_COLUMNS:
        new = None
        while new is None:  # None would be SQL NULL, which the column refuses
            new = other_json(rng, value)
        return new, f"{_short(value)} → {_short(new)}"
    new = other_text(rng, value, FIELDS[column].max_length or 200)
    return new, f"{_short(value)} → {_short(new)}"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 50 else text[:47] + "..."


def pick(rng: Random, length: int) -> int:
    """A list position: the first and the last are drawn as often as all the middle ones."""
    return rng.choice([0, length - 1, rng.randrange(length)])


def forged(rng: Random, rows: list[dict[str, Any]], seq: int, prev: str) -> dict[str, Any]:
    """An event as the application would write it, naming someone who did nothing."""
    row = {k: v for k, v in rng.choice(rows).items() if k != "id"}
    row.update(
        seq=seq,
        prev_hash=prev,
        actor_name=rng.choice(["dora", "otto", "system:root", "anonymous"]),
        action=rng.choice(["view", "download", "delete", "export", "login"]),
        object_type="evidence_file",
        object_id=rng.choice(["E-7K3M9Q", "E-2B8D4F", "T-9X2M1C"]),
        detail={"what": "record"},
        at=row["at"] + timedelta(milliseconds=rng.randint(1, 999)),
    )
    row["hash"] = event_hash(row)
    return row


# -- audit cases --------------------------------------------------------------------------------
# Each applies one change to the clean chain ``rows`` (a fresh copy, in seq order) and returns
# what it did and where verification must report it: the sequence number, and whether only a
# published head can see it.


@dataclass(frozen=True)
class Expect:
    at: int
    published: tuple[int, str] | None = None  # the head that shows it, when nothing inside can


def modify(rng: Random, rows: list[dict[str, Any]], store: Store) -> tuple[str, Expect]:
    """One column of one event, hashes left as they were."""
    row = rows[pick(rng, len(rows))]
    column = rng.choice([*COLUMNS, *CONTENT])  # content columns twice as likely
    hashes = [r["hash"] for r in rows]
    if column == "seq":
        new = rng.choice([0, len(rows) + rng.randint(1, 50), 2**40])
        set_value(row["id"], "seq", new)
        return f"event {row['seq']}: seq → {new}", Expect(0 if new == 0 else row["seq"])
    if column in ("prev_hash", "hash"):
        new = other_digest(rng, row[column], hashes, unique=column == "hash")
        set_value(row["id"], column, new)
        return f"event {row['seq']}: {column} → {new[:12]!r}", Expect(row["seq"])
    new, what = other_value(rng, column, row[column])
    set_value(row["id"], column, new)
    return f"event {row['seq']}: {column} {what}", Expect(row["seq"])


def modify_rehashed(rng: Random, rows: list[dict[str, Any]], store: Store) -> tuple[str, Expect]:
    """One content column of one event, and its own hash recomputed: the next link breaks."""
    k = pick(rng, len(rows))
    row = rows[k]
    column = rng.choice(CONTENT)
    row[column], what = other_value(rng, column, row[column])
    set_value(row["id"], column, row[column])
    rehash(rows, k, k + 1, row["prev_hash"])
    return f"event {row['seq']}: {column} {what}, own hash recomputed", Expect(row["seq"] + 1)


def rewrite(rng: Random, rows: list[dict[str, Any]], store: Store) -> tuple[str, Expect]:
    """One event changed and every hash from it to a later event recomputed, head row left."""
    k = pick(rng, len(rows))
    stop = rng.randint(k + 1, len(rows))
    column = rng.choice(CONTENT)
    rows[k][column], what = other_value(rng, column, rows[k][column])
    set_value(rows[k]["id"], column, rows[k][column])
    rehash(rows, k, stop, rows[k]["prev_hash"])
    last = rows[stop - 1]["seq"]
    return f"event {k + 1}: {column} {what}, rehashed to {last}", Expect(last + 1)


def rewrite_with_head(rng: Random, rows: list[dict[str, Any]], store: Store) -> tuple[str, Expect]:
    """One event changed, every later hash recomputed and the head row moved: the chain is
    consistent again, and only a head published after the changed event shows it."""
    published = rng.choice(store.published)
    k = rng.randrange(published[0])
    column = rng.choice(CONTENT)
    rows[k][column], what = other_value(rng, column, rows[k][column])
    set_value(rows[k]["id"], column, rows[k][column])
    move_head(len(rows), rehash(rows, k, len(rows), rows[k]["prev_hash"]))
    return (
        f"event {k + 1}: {column} {what}, chain and head rehashed",
        Expect(published[0], published),
    )


def delete(rng: Random, rows: list[dict[str, Any]], store: Store) -> tuple[str, Expect]:
    """One event (first, last or any) or a run of them; the head row is left."""
    k = pick(rng, len(rows))
    stop = k + 1 if rng.random() < 0.7 else rng.randint(k + 1, len(rows))
    for row in rows[k:stop]:
        sql("DELETE FROM core_auditevent WHERE id = %s", [row["id"]])
    return f"events {k + 1}..{stop} deleted", Expect(k + 1)


def truncate_with_head(rng: Random, rows: list[dict[str, Any]], store: Store) -> tuple[str, Expect]:
    """The newest events deleted and the head row moved back: only a head published after the
    first deleted event shows it."""
    published = rng.choice(store.published)
    k = rng.randrange(published[0])
    for row in rows[k:]:
        sql("DELETE FROM core_auditevent WHERE id = %s", [row["id"]])
    move_head(k, rows[k - 1]["hash"] if k else GENESIS_HASH)
    return f"events {k + 1}..{len(rows)} deleted, head moved to {k}", Expect(k + 1, published)


def insert_forged(rng: Random, rows: list[dict[str, Any]], store: Store) -> tuple[str, Expect]:
    """A forged event in the middle (later events renumbered), at the front or at the end."""
    n = len(rows)
    how = rng.choice(["linked", "bad link", "bad hash", "front", "tail", "replay"])
    if how == "front":
        insert(forged(rng, rows, 0, GENESIS_HASH))
        return "forged event 0 before the first", Expect(0)
    if how == "tail":
        insert(forged(rng, rows, n + 1, rows[-1]["hash"]))
        return f"forged event {n + 1} linked to the last, head row left", Expect(n + 1)
    if how == "replay":
        old = rng.choice(rows)
        replay = {**{k: v for k, v in old.items() if k != "id"}, "seq": n + 1}
        insert({**replay, "hash": event_hash(replay)})
        return f"event {old['seq']} replayed as {n + 1}", Expect(n + 1)
    k = pick(rng, n)  # the forged event takes position k; rows[k:] move up by one
    renumber({row["id"]: row["seq"] + 1 for row in rows[k:]})
    prev = rows[k - 1]["hash"] if k else GENESIS_HASH
    event = forged(rng, rows, k + 1, prev)
    if how == "bad link":
        others = [r["hash"] for r in rows if r["hash"] != prev]
        event["prev_hash"] = rng.choice([rng.randbytes(32).hex(), *others])
        event["hash"] = event_hash(event)
        insert(event)
        return f"forged event {k + 1} with a wrong link, own hash right", Expect(k + 1)
    if how == "bad hash":
        event["hash"] = rng.randbytes(32).hex()
        insert(event)
        return f"forged event {k + 1} linked, hash not recomputed", Expect(k + 1)
    insert(event)
    return f"forged event {k + 1} linked and hashed, later events renumbered", Expect(k + 2)


def reorder(rng: Random, rows: list[dict[str, Any]], store: Store) -> tuple[str, Expect]:
    """Two events swap sequence numbers, or one moves to another place."""
    a, b = sorted(rng.sample(range(len(rows)), 2))
    if rng.random() < 0.5:
        renumber({rows[a]["id"]: b + 1, rows[b]["id"]: a + 1})
        return f"events {a + 1} and {b + 1} swapped", Expect(a + 1)
    order = list(rows)
    source, target = (a, b) if rng.random() < 0.5 else (b, a)
    order.insert(target, order.pop(source))
    renumber({row["id"]: i + 1 for i, row in enumerate(order) if row["seq"] != i + 1})
    return f"event {source + 1} moved to {target + 1}", Expect(a + 1)


def head_row(rng: Random, rows: list[dict[str, Any]], store: Store) -> tuple[str, Expect]:
    """The head row deleted, or its sequence number or hash changed."""
    n = len(rows)
    how = rng.choice(["delete", "seq", "hash", "back"])
    if how == "delete":
        sql("DELETE FROM core_audithead")
        return "head row deleted", Expect(1)
    if how == "seq":
        seq = rng.choice([rng.randrange(n), n + rng.randint(1, 20)])
        sql("UPDATE core_audithead SET seq = %s", [seq])
        return f"head seq {n} → {seq}", Expect(min(seq, n) + 1)
    if how == "hash":
        new = other_digest(rng, rows[-1]["hash"], [r["hash"] for r in rows], unique=False)
        sql("UPDATE core_audithead SET hash = %s", [new])
        return f"head hash → {new[:12]!r}", Expect(n + 1)
    k = rng.randrange(n)
    move_head(k, rows[k - 1]["hash"] if k else GENESIS_HASH)
    return f"head row moved back to event {k}", Expect(k + 1)


def wrong_values(row: dict[str, Any]) -> dict[str, list[object]]:
    """Values of another type for each column of ``row``, and for the head row's seq."""
    values: dict[str, list[object]] = {
        "seq": ["seq-x", b"\x01", row["seq"] + 0.5],
        "at": ["yesterday", 1_700_000_000, b"\x00", "2024-13-45 25:61:00"],
        "actor_id": ["id-x", 1.5, b"\x01"],
        "changed_fields": ['["name_ko"', b"\xff\xfe", 7],
        "detail": ['{"n":', b"\xff\xfe", "[]"],
        "prev_hash": [row["prev_hash"].encode(), 0],
        "hash": [row["hash"].encode(), 1],
        "head": ["seq-x", b"\x01", 2.5],
    }
    for column in CONTENT:
        if column not in values:  # text
            values[column] = [b"\xff\xfe", row[column].encode() or b"\x00", 1.5]
    return values


def set_wrong_type(row: dict[str, Any], column: str, value: object, length: int) -> Expect:
    sql("PRAGMA ignore_check_constraints = ON")  # JSON_VALID, seq >= 0; reset after the case
    if column == "head":
        sql("UPDATE core_audithead SET seq = %s", [value])
        return Expect(length + 1)
    set_value(row["id"], column, value, raw=True)
    return Expect(row["seq"])


def wrong_type(rng: Random, rows: list[dict[str, Any]], store: Store) -> tuple[str, Expect]:
    """SQLite keeps whatever type is written: text in an integer column, a blob in a text one,
    a time that is not one. (PostgreSQL refuses these, so they are drawn on SQLite only.)"""
    row = rows[pick(rng, len(rows))]
    column, values = rng.choice(sorted(wrong_values(row).items()))
    value = rng.choice(values)
    expect = set_wrong_type(row, column, value, len(rows))
    where = "head row" if column == "head" else f"event {row['seq']}"
    return f"{where}: {column} → {value!r} (raw)", expect


AuditCase = Callable[[Random, list[dict[str, Any]], Store], tuple[str, Expect]]
AUDIT_KINDS: dict[str, tuple[int, AuditCase]] = {
    "audit modify": (30, modify),
    "audit modify+own hash": (6, modify_rehashed),
    "audit rewrite+later hashes": (6, rewrite),
    "audit rewrite+head": (4, rewrite_with_head),
    "audit delete": (10, delete),
    "audit truncate+head": (3, truncate_with_head),
    "audit insert": (10, insert_forged),
    "audit reorder": (8, reorder),
    "audit head row": (4, head_row),
    "audit wrong type": (4, wrong_type),
}


# -- evidence cases -----------------------------------------------------------------------------
# Each changes files under the store and returns what it did and which names (blob addresses
# or paths) the verify report must mention.


def _raw(store: Store, rng: Random) -> tuple[str, bytearray, Path]:
    sha = rng.choice(sorted(store.originals))
    return sha, bytearray(store.originals[sha]), blobs.path_for(sha)


def _span(rng: Random, size: int) -> tuple[int, int]:
    start = rng.randrange(size)
    return start, min(size, start + rng.choice([1, 2, 12, 16, 64, size]))


def ev_flip(rng: Random, store: Store) -> tuple[str, set[str]]:
    sha, raw, path = _raw(store, rng)
    i, bit = rng.randrange(len(raw)), rng.randrange(8)
    raw[i] ^= 1 << bit
    path.write_bytes(raw)
    return f"{sha[:12]}: bit {bit} of byte {i}/{len(raw)} flipped", {sha}


def ev_zero(rng: Random, store: Store) -> tuple[str, set[str]]:
    sha, raw, path = _raw(store, rng)
    while True:
        start, stop = _span(rng, len(raw))
        if any(raw[start:stop]):
            break
    raw[start:stop] = bytes(stop - start)
    path.write_bytes(raw)
    return f"{sha[:12]}: bytes {start}..{stop} zeroed", {sha}


def ev_replace(rng: Random, store: Store) -> tuple[str, set[str]]:
    sha, raw, path = _raw(store, rng)
    start, stop = _span(rng, len(raw))
    while True:
        new = rng.randbytes(stop - start)
        if new != raw[start:stop]:
            break
    raw[start:stop] = new
    path.write_bytes(raw)
    return f"{sha[:12]}: bytes {start}..{stop} replaced", {sha}


def ev_truncate(rng: Random, store: Store) -> tuple[str, set[str]]:
    sha, raw, path = _raw(store, rng)
    size = rng.choice([0, rng.randrange(len(raw)), len(raw) - 1, len(raw) - 16, 20])
    path.write_bytes(raw[:size])
    return f"{sha[:12]}: truncated to {size}/{len(raw)} bytes", {sha}


def ev_extend(rng: Random, store: Store) -> tuple[str, set[str]]:
    sha, raw, path = _raw(store, rng)
    extra = rng.choice([b"\x00", b"\n", rng.randbytes(rng.randint(1, 64)), bytes(raw[-16:])])
    path.write_bytes(bytes(raw) + extra if rng.random() < 0.8 else extra + bytes(raw))
    return f"{sha[:12]}: {len(extra)} bytes added", {sha}


def ev_header(rng: Random, store: Store) -> tuple[str, set[str]]:
    """The format line: another or no key id, another format, the line break gone."""
    sha, raw, path = _raw(store, rng)
    header, _, sealed = bytes(raw).partition(b"\n")
    new = rng.choice(
        [
            blobs.MAGIC + b"k999",
            blobs.MAGIC,
            blobs.MAGIC + header[len(blobs.MAGIC) :] + b" ",
            b"SBLOB2 " + header[len(blobs.MAGIC) :],
            header.lower(),
        ]
    )
    joined = new + (b"" if rng.random() < 0.2 else b"\n") + sealed
    path.write_bytes(joined)
    return f"{sha[:12]}: header {header!r} → {new!r}", {sha}


def ev_delete(rng: Random, store: Store) -> tuple[str, set[str]]:
    sha, _, path = _raw(store, rng)
    path.unlink()
    return f"{sha[:12]}: deleted", {sha}


def ev_misaddress(rng: Random, store: Store) -> tuple[str, set[str]]:
    """A blob moved, copied or linked to another blob's address (or to an unused one)."""
    source, target = rng.sample(sorted(store.originals), 2)
    if rng.random() < 0.25:
        target = rng.randbytes(32).hex()
        blobs.path_for(target).parent.mkdir(parents=True, exist_ok=True)
    how = rng.choice(["moved", "copied", "linked"])
    src, dst = blobs.path_for(source), blobs.path_for(target)
    if how == "moved":
        os.replace(src, dst)
    elif how == "copied":
        shutil.copyfile(src, dst)
    else:
        dst.unlink(missing_ok=True)
        dst.symlink_to(src)
    shown = {source, target} if how == "moved" else {target}
    return f"{source[:12]} {how} to {target[:12]}", shown


def ev_plant(rng: Random, store: Store) -> tuple[str, set[str]]:
    """A file that was never uploaded: a forged blob at a free address, or a stray file."""
    base = store.root / rng.choice(sorted(store.originals))[:2]
    if rng.random() < 0.3:
        path = sorted(base.iterdir())[0] / rng.choice(["notes.txt", "x" * 64, "A" * 64])
        path.write_bytes(rng.randbytes(100))
        return f"stray file {path.name[:12]}", {str(path.relative_to(store.root))}
    sha = rng.randbytes(32).hex()
    path = blobs.path_for(sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    key_id = store.originals[rng.choice(sorted(store.originals))].partition(b"\n")[0]
    path.write_bytes(key_id + b"\n" + rng.randbytes(rng.randint(28, 4000)))
    return f"forged blob {sha[:12]}", {sha}


EvidenceCase = Callable[[Random, Store], tuple[str, set[str]]]
EVIDENCE_KINDS: dict[str, tuple[int, EvidenceCase]] = {
    "evidence flip": (6, ev_flip),
    "evidence zero": (3, ev_zero),
    "evidence replace": (3, ev_replace),
    "evidence truncate": (3, ev_truncate),
    "evidence extend": (3, ev_extend),
    "evidence header": (3, ev_header),
    "evidence delete": (3, ev_delete),
    "evidence misaddress": (5, ev_misaddress),
    "evidence plant": (3, ev_plant),
}


def store_state(root: Path) -> list[tuple[str, bool, bytes]]:
    return sorted(
        (str(p.relative_to(root)), p.is_symlink(), p.read_bytes() if p.is_file() else b"")
        for p in root.rglob("*")
        if p.is_file() or p.is_symlink()
    )


def restore(store: Store) -> None:
    """Back to the bytes of the clean store: planted files removed, originals written back."""
    wanted = {blobs.path_for(sha) for sha in store.originals}
    for path in list(store.root.rglob("*")):
        if path.is_symlink() or (path.is_file() and path not in wanted):
            path.unlink()
    for sha, raw in store.originals.items():
        path = blobs.path_for(sha)
        if not path.is_file() or path.read_bytes() != raw:
            path.write_bytes(raw)
            path.chmod(0o600)


# -- the run ------------------------------------------------------------------------------------


class _Undo(Exception):
    """Raised to roll a case's savepoint back."""


@contextlib.contextmanager
def rolled_back() -> Iterator[None]:
    with contextlib.suppress(_Undo), transaction.atomic():
        yield
        raise _Undo


@dataclass
class Tally:
    drawn: Counter[str] = field(default_factory=Counter)
    detected: Counter[str] = field(default_factory=Counter)
    by_layer: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def summary(self, vendor: str) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.drawn.items()))
        layers = ", ".join(f"{layer} {count}" for layer, count in sorted(self.by_layer.items()))
        return (
            f"tamper cases ({vendor}, seed {SEED}): {self.drawn.total()} ({kinds}), "
            f"detected {self.detected.total()} ({layers})"
        )


def run_audit_case(
    rng: Random, case: AuditCase, store: Store, clean: str
) -> tuple[str, str | None, str]:
    """(what was done, why it failed or None, which check caught it)."""
    try:
        return _audit_case(rng, case, store, clean)
    finally:
        if connection.vendor == "sqlite":
            sql("PRAGMA ignore_check_constraints = OFF")


def _audit_case(
    rng: Random, case: AuditCase, store: Store, clean: str
) -> tuple[str, str | None, str]:
    with rolled_back():
        drop_guard()
        what, expect = case(rng, chain(), store)
        if audit_state() == clean:
            return what, "changed nothing a verifier reads (the case is broken)", ""
        layer = "chain and head row" if expect.published is None else "published head"
        try:
            plain = audit_verify()
            result = audit_verify(expect_head=expect.published) if expect.published else plain
        except Exception as exc:
            return what, f"verify raised {exc!r} instead of reporting", layer
        if expect.published is not None and not plain.ok:
            return what, f"expected to need the published head, but {plain}", layer
        if result.ok:
            return what, "NOT DETECTED", layer
        if result.first_bad_seq != expect.at:
            return what, f"reported at {result.first_bad_seq}, not {expect.at}: {result}", layer
    return what, None, layer


def run_evidence_case(rng: Random, case: EvidenceCase, store: Store) -> tuple[str, str | None]:
    clean = store_state(store.root)
    try:
        with rolled_back():  # the verify run's own audit event goes too
            what, shown = case(rng, store)
            if store_state(store.root) == clean:
                return what, "changed nothing (the case is broken)"
            failed, report = evidence_verify()
            if not failed:
                return what, f"NOT DETECTED: {report.strip()}"
            missing = [name for name in shown if name not in report]
            if missing:
                return what, f"report does not name {missing}: {report.strip()}"
    finally:
        restore(store)
    return what, None


@pytest.mark.django_db
def test_a_thousand_tamperings_are_all_detected(tamper_store: Store) -> None:
    store = tamper_store
    latest = store.published[-1]
    assert audit_verify(expect_head=latest).ok
    assert evidence_verify() == (
        False,
        f"evidence intact: {sum(map(len, store.names.values()))} files verified; their records, "
        "chains of custody and links to testimonies agree with the audit chain\n",
    )
    clean = audit_state()
    kinds: dict[str, tuple[int, Callable[..., Any]]] = {**AUDIT_KINDS, **EVIDENCE_KINDS}
    if connection.vendor != "sqlite":
        del kinds["audit wrong type"]
    names, weights = list(kinds), [weight for weight, _ in kinds.values()]
    rng = Random(SEED)
    tally = Tally()
    for number in range(1, CASES + 1):
        kind = rng.choices(names, weights)[0]
        case = kinds[kind][1]
        tally.drawn[kind] += 1
        layer = "evidence verify"
        try:
            if kind in AUDIT_KINDS:
                what, problem, layer = run_audit_case(rng, case, store, clean)
            else:
                what, problem = run_evidence_case(rng, case, store)
        except Exception as exc:  # a case that cannot be applied is a broken test, not a pass
            what, problem = "(not applied)", f"raised {exc!r}"
        if problem is None:
            tally.detected[kind] += 1
            tally.by_layer[layer] += 1
        else:
            tally.failures.append(f"case {number} [{kind}] {what}: {problem}")
    summary = tally.summary(connection.vendor)
    print(summary)
    assert not tally.failures, f"{summary}\n(seed {SEED})\n" + "\n".join(tally.failures[:25])
    assert tally.drawn.total() == tally.detected.total() == CASES, summary
    # Every case was undone: the store verifies clean, and the append-only guard is back.
    assert audit_state() == clean
    assert audit_verify(expect_head=latest).ok
    assert store_state(store.root) == sorted(
        (str(blobs.path_for(sha).relative_to(store.root)), False, raw)
        for sha, raw in store.originals.items()
    )
    assert evidence_verify()[0] is False
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        sql("UPDATE core_auditevent SET action = 'x' WHERE seq = 1")


@pytest.mark.django_db
def test_what_only_a_newer_published_head_shows(tamper_store: Store) -> None:
    """The limits left out of the 1,000: after the last published head, anyone who can write
    the database can append, rewrite or remove events and move the head row to match, and the
    chain verifies, because its hash is not keyed. A head published later shows the change."""
    older = tamper_store.published[-2]
    rng = Random(SEED)
    drop_guard()
    rows = chain()
    n = len(rows)
    with rolled_back():
        event = forged(rng, rows, n + 1, rows[-1]["hash"])
        insert(event)
        move_head(n + 1, event["hash"])
        assert audit_verify(expect_head=tamper_store.published[-1]).ok  # appended after it
    with rolled_back():
        rows[-2]["action"] = "forged"
        set_value(rows[-2]["id"], "action", "forged")
        move_head(n, rehash(rows, n - 2, n, rows[-2]["prev_hash"]))
        assert audit_verify(expect_head=older).ok  # rewritten after the older head
        assert not audit_verify(expect_head=tamper_store.published[-1]).ok
    with rolled_back():
        sql("DELETE FROM core_auditevent WHERE seq > %s", [older[0]])
        move_head(*older)
        assert audit_verify(expect_head=older).ok  # truncated back to the older head
        assert not audit_verify(expect_head=tamper_store.published[-1]).ok


@pytest.mark.django_db
def test_every_wrong_type_is_reported_at_its_row(tamper_store: Store) -> None:
    """The 1,000 draw a few of these; here is each one, in a middle event and the head row."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's column types refuse values of the wrong type")
    rows = chain()
    row = rows[len(rows) // 2]
    try:
        for column, values in wrong_values(row).items():
            for value in values:
                with rolled_back():
                    drop_guard()
                    expect = set_wrong_type(row, column, value, len(rows))
                    result = audit_verify()
                    assert (result.ok, result.first_bad_seq) == (False, expect.at), (
                        column,
                        value,
                        result,
                    )
    finally:
        sql("PRAGMA ignore_check_constraints = OFF")
