"""Full-text search of testimonies, with facets, on SQLite (FTS5) and PostgreSQL (tsvector).

**Tokens.** :func:`tokens` normalises text (NFKC, lower case) and cuts it into words: a run of
letters or digits is a word, except that a run of Hangul syllables (or of Chinese or Japanese
characters, also written without spaces) becomes its overlapping bigrams, a single syllable
standing for itself. "요덕수용소에서" gives 요덕, 덕수, 수용, 용소, 소에, 에서, so a two-syllable
query such as 요덕, or a two-syllable name, finds the longer word that contains it. A query is
cut the same way and every one of its tokens must match (AND); a longer Korean query matches
documents holding all its bigrams, not necessarily side by side. There is no query syntax:
quotes, ``*``, ``AND``, ``NEAR``, parentheses and ``-`` are punctuation or plain words.

**What the index holds.** One entry per testimony (its id as key):

- the *summary*'s distinct tokens as they are: the summary is written to be non-identifying, and
  researchers read it anyway;
- the distinct tokens of *summary and transcript* as keyed hashes only: HMAC-SHA256 under the
  key ring's blind-index key (:meth:`saebom.core.crypto.KeyRing.blind_index`, the mechanism of
  ``BlindIndexField``) with the purpose ``testimony-search:<agency id>``, cut to 12 hex digits
  (48 bits). Search needs membership only, so each token is kept once, in hash order: neither
  the text, nor the order of its words, nor how often a word occurs in one transcript. The
  price: whoever reads the database without the keys sees which testimonies share a token and
  how many hold each one. **Token frequencies are visible**: frequency analysis can guess which
  hashes stand for the commonest bigrams ("에서", "습니") and from there make informed guesses;
  a rare token such as a name stays a 48-bit HMAC that cannot be reversed or tested without
  the key. The purpose includes the agency, so the same word hashes differently in two
  agencies' testimonies and the index does not link them. 12 hex digits keep the index small;
  a query token has about one chance in 10^8 (a million distinct tokens / 2^48) of meeting
  another token's hash, which could only add a testimony the searcher may see anyway;
- the testimony's *coding* as facet values (act types, COI categories, facilities, the
  institutions of perpetrators, the provinces of places, incident years): ``key:value``
  strings to count, and tokens to filter by. :func:`reindex` recomputes them; the testimony
  services call it after every change of a testimony, its consent or its coding. A change to a
  place of the gazetteer (its province or kind) reaches the entries of the testimonies that
  name it when they are reindexed (:func:`reindex_all`).

**Who matches what.** Consent and role are checked when a query runs, never read from the
index: every result, count and facet comes from ``testimonies_searchable_by(actor)`` (visible
to the actor, consent not withdrawn), joined to the index in the same statement. A researcher's
tokens are looked up among summary tokens only. A documenter's or an administrator's
(``Action.TESTIMONY_CONFIDENTIAL``) are hashed with their own agency's purpose, which reaches
the summaries and transcripts of their agency's testimonies and nothing else; the system
operator's with every agency's.

**Storage** (migration ``0005_search_index``). SQLite: ``testimony_searchdoc``, one row per
testimony, is the external content of the FTS5 table ``testimony_search`` (columns summary,
hashed, facets; ``detail=column``: no positions), kept in step by triggers;
``testimony_searchfacet`` keeps each testimony's facet values in a narrow row. PostgreSQL:
``testimony_search`` with one ``tsvector`` per testimony (summary tokens as they are, hashes
behind ``#``, facet tokens behind ``=``, so a word typed in a query can only ever meet a summary
token), a GIN index and the facet values as an array. Rows go with their testimony (a cascading
foreign key on SQLite; DELETE and TRUNCATE triggers on PostgreSQL, whose test flush truncates).
On both (migration ``0007_facet_bitmaps``), ``testimony_facetbitmap`` holds for each facet value
the testimonies that hold it, as a bitmap with bit ``id`` set; :func:`write_entries` moves a
testimony's bits from the values it had to the values it has, one writer at a time.

**A search** is three statements: one evaluates the match and the selector once and returns
every matching id and the ids of the page; one reads the facet bitmaps, each intersected with
the matching ids and counted (:func:`facet_counts`); the last reads the page's testimonies
through the selector. Results come in interview-date order, newest first, like the testimony
list (no relevance rank: with bigrams and AND every hit holds every token); their encrypted
fields are deferred, since a result list shows summaries and coding.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext

from saebom.accounts.models import Agency
from saebom.core import policy
from saebom.core.actors import Actor, SystemActor
from saebom.core.exceptions import SaebomError
from saebom.core.fields import keyring
from saebom.core.policy import Action
from saebom.testimony.models import Act, Incident, Individual, Testimony
from saebom.testimony.selectors import testimonies_searchable_by

FACETS = ("act_type", "coi_category", "facility", "institution", "province", "year")
PURPOSE = "testimony-search"
HASH_CHARS = 12
HASH_MARK = "#"  # PostgreSQL lexeme prefixes; a query token is letters and digits only
FACET_MARK = "="
FACET_SEPARATOR = "\n"  # between the facet values of a testimony in SQLite's facet table
DEFERRED = ("witness_identity", "interview_place", "transcript")
BATCH = 500
BITMAP_LOCK = 0x5AEB0F  # PostgreSQL advisory lock held while the facet bitmaps change

# Scripts written without spaces between words: Hangul syllables, kana, CJK ideographs.
_BIGRAM = "\uac00-\ud7a3\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
_RUNS = re.compile(rf"[{_BIGRAM}]+|[^\W_{_BIGRAM}]+")
_BIGRAM_RUN = re.compile(rf"[{_BIGRAM}]")
# Letters FTS5's unicode61 tokenizer reads as one token: ASCII, Latin, Greek, Cyrillic, kana,
# CJK ideographs and Hangul syllables (a few newer code points elsewhere it splits on).
_FTS5_SAFE = re.compile(
    "[0-9a-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff\u3040-\u30ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3]+"
)


def _runs(text: str) -> list[str]:
    return _RUNS.findall(unicodedata.normalize("NFKC", text).lower())


def _expand(runs: Iterable[str]) -> Iterator[str]:
    for run in runs:
        if len(run) > 1 and _BIGRAM_RUN.match(run):
            yield from (run[i : i + 2] for i in range(len(run) - 1))
        else:
            yield run


def tokens(text: str) -> list[str]:
    """The search tokens of ``text`` in order (repeats kept): words, and bigrams of Hangul."""
    return list(_expand(_runs(text)))


def distinct_tokens(text: str) -> list[str]:
    """The distinct tokens of ``text``, sorted: what the index keeps."""
    return sorted(set(_expand(set(_runs(text)))))


class TokenHasher:
    """Keyed hashes of transcript tokens for one agency, remembered (for bulk indexing)."""

    def __init__(self, agency_id: int) -> None:
        self.purpose = f"{PURPOSE}:{agency_id}"
        self.ring = keyring()
        self.known: dict[str, str] = {}

    def __call__(self, token: str) -> str:
        digest = self.known.get(token)
        if digest is None:
            digest = self.ring.blind_index(token, self.purpose)[:HASH_CHARS]
            self.known[token] = digest
        return digest


def hashed_tokens(text: str, hasher: TokenHasher) -> list[str]:
    """The distinct keyed hashes of the tokens of ``text``, sorted (so in no useful order)."""
    return sorted({hasher(token) for token in distinct_tokens(text)})


def fts5_form(token: str) -> str:
    """A plain token as FTS5 stores it: as it is when SQLite's tokenizer (Unicode 6.1 tables)
    surely reads it as one token, else spelled in hex, so that it never splits into a phrase
    (which ``detail=column`` refuses). The index and the query use the same spelling."""
    return token if _FTS5_SAFE.fullmatch(token) else "x" + token.encode().hex()


def facet_token(key: str, value: str) -> str:
    """A facet value as one index token (letters and digits, whatever the value holds)."""
    return "f" + hashlib.sha256(f"{key}:{value}".encode()).hexdigest()[:16]


# -- what is indexed -------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One testimony's index entry, before it is written in the vendor's form."""

    testimony_id: int
    summary: list[str]  # the summary's tokens, as they are
    hashed: list[str]  # keyed hashes of the tokens of summary and transcript
    facets: list[str]  # "key:value"


def _coding(testimony_ids: Sequence[int]) -> dict[int, set[str]]:
    """The facet values of each testimony, read from its incidents, acts and individuals."""
    facets: dict[int, set[str]] = defaultdict(set)

    def place(tid: int, code: str | None, kind: str | None, province: str | None) -> None:
        if code and kind == "facility":
            facets[tid].add(f"facility:{code}")
        if province:
            facets[tid].add(f"province:{province}")

    for tid, start, code, kind, province in Incident.objects.filter(
        testimony_id__in=testimony_ids
    ).values_list("testimony_id", "date_start", "place__code", "place__kind", "place__province"):
        if start is not None:
            facets[tid].add(f"year:{start.year}")
        place(tid, code, kind, province)
    for tid, act_type, coi, code, kind, province in Act.objects.filter(
        incident__testimony_id__in=testimony_ids
    ).values_list(
        "incident__testimony_id",
        "act_type",
        "coi_category",
        "place__code",
        "place__kind",
        "place__province",
    ):
        facets[tid].update((f"act_type:{act_type}", f"coi_category:{coi}"))
        place(tid, code, kind, province)
    for tid, institution in (
        Individual.objects.filter(testimony_id__in=testimony_ids, role="perpetrator")
        .exclude(institution="")
        .values_list("testimony_id", "institution")
    ):
        facets[tid].add(f"institution:{institution}")
    return facets


def entries(
    testimonies: Sequence[Testimony], hashers: dict[int, TokenHasher] | None = None
) -> list[Entry]:
    """Index entries for saved testimonies (their transcripts decrypted, as loaded).
    ``hashers`` (one per agency) may be shared between calls to reuse their hashes."""
    hashers = {} if hashers is None else hashers
    coding = _coding([t.pk for t in testimonies])
    found = []
    for testimony in testimonies:
        hasher = hashers.get(testimony.agency_id)
        if hasher is None:
            hasher = hashers[testimony.agency_id] = TokenHasher(testimony.agency_id)
        summary = testimony.summary or ""
        found.append(
            Entry(
                testimony_id=testimony.pk,
                summary=distinct_tokens(summary),
                hashed=hashed_tokens(f"{summary}\n{testimony.transcript or ''}", hasher),
                facets=sorted(
                    value.replace(FACET_SEPARATOR, " ") for value in coding.get(testimony.pk, ())
                ),
            )
        )
    return found


def _facet_tokens(facets: Sequence[str]) -> list[str]:
    return [facet_token(*value.split(":", 1)) for value in facets]


SQLITE_UPSERT = """
    INSERT INTO testimony_searchdoc (testimony_id, summary, hashed, facets)
    VALUES (%s, %s, %s, %s)
    ON CONFLICT (testimony_id) DO UPDATE SET
        summary = excluded.summary, hashed = excluded.hashed, facets = excluded.facets
"""
SQLITE_FACETS_UPSERT = """
    INSERT INTO testimony_searchfacet (testimony_id, facet_values) VALUES (%s, %s)
    ON CONFLICT (testimony_id) DO UPDATE SET facet_values = excluded.facet_values
"""
POSTGRES_UPSERT = """
    INSERT INTO testimony_search (testimony_id, facets, document)
    VALUES (%s, %s, array_to_tsvector(%s::text[]))
    ON CONFLICT (testimony_id) DO UPDATE SET facets = excluded.facets, document = excluded.document
"""


def _write_sqlite(cursor: Any, written: Sequence[Entry]) -> None:
    cursor.executemany(
        SQLITE_UPSERT,
        [
            (
                e.testimony_id,
                " ".join(fts5_form(token) for token in e.summary),
                " ".join(e.hashed),
                " ".join(_facet_tokens(e.facets)),
            )
            for e in written
        ],
    )
    cursor.executemany(
        SQLITE_FACETS_UPSERT, [(e.testimony_id, FACET_SEPARATOR.join(e.facets)) for e in written]
    )


def _write_postgres(cursor: Any, written: Sequence[Entry]) -> None:
    rows = []
    for e in written:
        lexemes = [
            *e.summary,
            *(HASH_MARK + h for h in e.hashed),
            *(FACET_MARK + t for t in _facet_tokens(e.facets)),
        ]
        rows.append((e.testimony_id, e.facets, lexemes))
    cursor.executemany(POSTGRES_UPSERT, rows)


def write_entries(written: Sequence[Entry]) -> int:
    """Insert or replace index entries and move their bits in the facet bitmaps (in the
    caller's transaction)."""
    if not written:
        return 0
    with connection.cursor() as cursor:
        postgres = connection.vendor == "postgresql"
        if postgres:  # one writer of the bitmaps at a time; SQLite's write lock does the same
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [BITMAP_LOCK])
        before = _stored_facets(cursor, [e.testimony_id for e in written])
        if postgres:
            _write_postgres(cursor, written)
        else:
            _write_sqlite(cursor, written)
        changes: dict[str, dict[int, bool]] = defaultdict(dict)
        for e in written:
            old, new = before.get(e.testimony_id, set()), set(e.facets)
            for value in old - new:
                changes[value][e.testimony_id] = False
            for value in new - old:
                changes[value][e.testimony_id] = True
        _move_bits(cursor, changes)
    return len(written)


def _stored_facets(cursor: Any, testimony_ids: Sequence[int]) -> dict[int, set[str]]:
    """The facet values the index holds now for these testimonies."""
    if connection.vendor == "postgresql":
        cursor.execute(
            "SELECT testimony_id, facets FROM testimony_search WHERE testimony_id = ANY(%s)",
            [list(testimony_ids)],
        )
        return {tid: set(values) for tid, values in cursor.fetchall()}
    marks = ", ".join(["%s"] * len(testimony_ids))
    cursor.execute(
        f"SELECT testimony_id, facet_values FROM testimony_searchfacet"  # noqa: S608
        f" WHERE testimony_id IN ({marks})",
        list(testimony_ids),
    )
    return {tid: set(filter(None, text.split(FACET_SEPARATOR))) for tid, text in cursor.fetchall()}


def _move_bits(cursor: Any, changes: Mapping[str, Mapping[int, bool]]) -> None:
    """Set and clear testimonies' bits in the bitmaps of the given facet values."""
    if not changes:
        return
    values = sorted(changes)
    marks = ", ".join(["%s"] * len(values))
    cursor.execute(
        f"SELECT value, bits FROM testimony_facetbitmap WHERE value IN ({marks})",  # noqa: S608
        values,
    )
    stored = {value: bytearray(bits) for value, bits in cursor.fetchall()}
    upserts, emptied = [], []
    for value in values:
        bits = stored.get(value, bytearray())
        for testimony_id, on in changes[value].items():
            byte, mask = testimony_id >> 3, 1 << (testimony_id & 7)
            if on:
                bits.extend(bytes(max(byte + 1 - len(bits), 0)))
                bits[byte] |= mask
            elif byte < len(bits):
                bits[byte] &= ~mask & 0xFF
        trimmed = bytes(bits.rstrip(b"\0"))
        if trimmed:
            upserts.append((value, trimmed))
        else:
            emptied.append(value)
    if upserts:
        cursor.executemany(
            "INSERT INTO testimony_facetbitmap (value, bits) VALUES (%s, %s)"
            " ON CONFLICT (value) DO UPDATE SET bits = excluded.bits",
            upserts,
        )
    if emptied:
        marks = ", ".join(["%s"] * len(emptied))
        cursor.execute(
            f"DELETE FROM testimony_facetbitmap WHERE value IN ({marks})",  # noqa: S608
            emptied,
        )


def reindex(testimony: Testimony) -> None:
    """Write (or replace) the testimony's index entry. Call it in the transaction that changed
    the testimony, its consent or its coding."""
    write_entries(entries([testimony]))


def reindex_many(testimonies: Iterable[Testimony]) -> int:
    """Index many testimonies, a batch at a time (demo data, benchmarks, a rebuild)."""
    hashers: dict[int, TokenHasher] = {}
    count = 0
    for batch in _batches(testimonies, BATCH):
        count += write_entries(entries(batch, hashers))
    return count


def reindex_all() -> int:
    """Rebuild every testimony's entry and the facet bitmaps, e.g. after the gazetteer
    changed (in one transaction)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [BITMAP_LOCK])
                cursor.execute("UPDATE testimony_search SET facets = '{}'")
            else:
                cursor.execute("UPDATE testimony_searchfacet SET facet_values = ''")
            cursor.execute("DELETE FROM testimony_facetbitmap")
        return reindex_many(Testimony.objects.order_by("pk").iterator(chunk_size=BATCH))


def _batches(items: Iterable[Testimony], size: int) -> Iterator[list[Testimony]]:
    batch: list[Testimony] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- queries ---------------------------------------------------------------------------------


@dataclass
class SearchResult:
    results: list[Testimony]
    total: int
    facets: dict[str, dict[str, int]]  # key -> value -> testimonies, most first
    tokens: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Terms:
    """A query as the index sees it. Every element of ``words`` must match (AND); an element
    matches when any of its alternatives does: the token itself in a summary, or one of its
    keyed hashes (one per agency whose transcripts the actor may search)."""

    words: list[tuple[str | None, list[str]]]  # (plain token or None, hashes)
    facets: list[str]  # facet tokens

    @property
    def empty(self) -> bool:
        return not self.words and not self.facets


def _confidential_agencies(actor: Actor) -> list[int]:
    """Whose transcripts the actor's query may match (as ``reads_confidential`` decides)."""
    if isinstance(actor, SystemActor):
        return list(Agency.objects.order_by("pk").values_list("pk", flat=True))
    if policy.allows(actor, Action.TESTIMONY_CONFIDENTIAL) and actor.agency_id is not None:
        return [actor.agency_id]
    return []


def _sees_beyond(actor: Actor, agencies: Sequence[int]) -> bool:
    """Can the actor see testimonies of agencies whose transcripts they may not search? Then
    those are matched by their summaries."""
    if isinstance(actor, SystemActor):
        return False
    return not agencies or policy.scope_of(actor, Action.TESTIMONY_VIEW) > policy.Scope.AGENCY


def clean_filters(filters: Mapping[str, str] | None) -> dict[str, str]:
    cleaned = {}
    for key, value in (filters or {}).items():
        if key not in FACETS:
            raise SaebomError(
                gettext("Unknown search filter: %(key)s.") % {"key": key}, field="filters"
            )
        if str(value).strip():
            cleaned[key] = str(value).strip()
    return cleaned


def terms_for(actor: Actor, words: Sequence[str], filters: Mapping[str, str]) -> Terms:
    agencies = _confidential_agencies(actor)
    hashers = [TokenHasher(agency_id) for agency_id in agencies]
    plain = _sees_beyond(actor, agencies)
    return Terms(
        words=[(word if plain else None, [hasher(word) for hasher in hashers]) for word in words],
        facets=[facet_token(key, value) for key, value in sorted(filters.items())],
    )


def _fts5_string(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _any(options: list[str], joiner: str) -> str:
    return options[0] if len(options) == 1 else "(" + joiner.join(options) + ")"


def sqlite_match(terms: Terms) -> str:
    """An FTS5 query: every token quoted (tokens are letters and digits, so FTS5 reads each as
    one term), column-filtered, so a query can neither inject syntax nor reach a column the
    actor may not search."""
    parts = []
    for word, hashes in terms.words:
        options = [f"summary : {_fts5_string(fts5_form(word))}"] if word is not None else []
        options += [f"hashed : {_fts5_string(h)}" for h in hashes]
        parts.append(_any(options, " OR "))
    parts += [f"facets : {_fts5_string(token)}" for token in terms.facets]
    return " AND ".join(parts)


def _lexeme(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def postgres_tsquery(terms: Terms) -> str:
    """A tsquery in its text form, to be cast with ``::tsquery`` (never ``to_tsquery``, which
    would parse and normalise the lexemes again): every lexeme quoted."""
    parts = []
    for word, hashes in terms.words:
        options = [_lexeme(word)] if word is not None else []
        options += [_lexeme(HASH_MARK + h) for h in hashes]
        parts.append(_any(options, " | "))
    parts += [_lexeme(FACET_MARK + token) for token in terms.facets]
    return " & ".join(parts)


def match_sql(terms: Terms) -> tuple[str, list[Any]]:
    """SQL giving the ids of the testimonies whose index entry matches every term."""
    if connection.vendor == "postgresql":
        sql = "SELECT testimony_id FROM testimony_search WHERE document @@ %s::tsquery"
        return sql, [postgres_tsquery(terms)]
    sql = "SELECT rowid FROM testimony_search WHERE testimony_search MATCH %s"
    return sql, [sqlite_match(terms)]


def matching(actor: Actor, terms: Terms | None) -> tuple[str, list[Any]]:
    """SQL for what search returns to the actor, as ``(id, day)`` rows: the selector's
    testimonies, narrowed by the index (``terms`` None: no narrowing, a browse of everything
    the actor may search)."""
    searchable = testimonies_searchable_by(actor)
    if terms is not None:
        sql, params = match_sql(terms)
        searchable = searchable.filter(pk__in=RawSQL(sql, params))  # noqa: S611 (parameterised)
    return _ids_and_days(searchable)


def _ids_and_days(testimonies: QuerySet[Testimony]) -> tuple[str, list[Any]]:
    sql, params = testimonies.order_by().values_list("pk", "interview_date").query.sql_with_params()
    return sql, list(params)


def summary_sql(
    actor: Actor, terms: Terms | None, limit: int, offset: int
) -> tuple[str, list[Any]]:
    """One statement over the matching testimonies, evaluated once (``m``): every matching id
    (kind 0: on SQLite a row each; on PostgreSQL one row, the ids packed as 8-byte integers,
    5.7 ms for 50,000 ids against 13.4 ms as rows) and the ids of the page (kind 1)."""
    inner, params = matching(actor, terms)
    postgres = connection.vendor == "postgresql"
    every = (
        "SELECT 0, NULL::bigint, string_agg(int8send(m.id), ''::bytea) FROM m"
        if postgres
        else "SELECT 0, m.id, NULL FROM m"
    )
    sql = (
        f"WITH m (id, day) AS MATERIALIZED ({inner})"  # noqa: S608 (compiled by the ORM)
        f" {every} UNION ALL SELECT * FROM (SELECT 1, m.id, {'NULL::bytea' if postgres else 'NULL'}"
        " FROM m ORDER BY m.day DESC, m.id DESC LIMIT %s OFFSET %s) AS page"
    )
    return sql, [*params, limit, offset]


def _fetch(cursor: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of a statement; from PostgreSQL in binary form (bytea as bytes, not as hex text
    twice its size), through a cursor of psycopg's own: Django's binds parameters on the
    client, which psycopg allows only for text results."""
    if connection.vendor != "postgresql":
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    import psycopg

    with psycopg.Cursor(connection.connection) as binary:
        binary.execute(sql, params, binary=True)
        return list(binary.fetchall())


def run_summary(sql: str, params: Sequence[Any]) -> tuple[np.ndarray, list[int]]:
    """Run the summary statement: (every matching id, the page's ids). On PostgreSQL without
    sequential scans: the planner does not count the cost of reading the TOASTed tsvector of
    every row, and for a query it expects to match one row in a hundred it may scan the index
    table rather than use the GIN index (one second instead of ten milliseconds at 100,000
    testimonies); the setting is put back after."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            rows = _fetch(cursor, sql, params)
        else:
            with transaction.atomic():
                cursor.execute(
                    "SELECT current_setting('enable_seqscan'),"
                    " set_config('enable_seqscan', 'off', true)"
                )
                previous = cursor.fetchone()[0]
                rows = _fetch(cursor, sql, params)
                cursor.execute("SELECT set_config('enable_seqscan', %s, true)", [previous])
    ids = [number for kind, number, _packed in rows if kind == 0 and number is not None]
    packed = b"".join(bytes(p) for kind, _number, p in rows if kind == 0 and p is not None)
    matched = np.frombuffer(packed, dtype=">i8") if packed else np.array(ids, dtype=np.int64)
    page = [number for kind, number, _packed in rows if kind == 1]
    return matched, page


Ids = Sequence[int] | np.ndarray


def bitmap(testimony_ids: Ids) -> int:
    """A set of testimony ids as an integer whose bit ``id`` is set for each."""
    ids = np.asarray(testimony_ids, dtype=np.int64)
    if not len(ids):
        return 0
    present = np.zeros(int(ids.max()) + 1, dtype=bool)
    present[ids] = True
    return int.from_bytes(np.packbits(present, bitorder="little").tobytes(), "little")


def facet_counts(testimony_ids: Ids) -> dict[str, dict[str, int]]:
    """How many of the given testimonies hold each facet value: key -> value -> count, most
    first. Each value's bitmap (bit ``id`` set for the testimonies that hold it) is intersected
    with the testimonies' and its bits counted, however many testimonies there are. A search
    of 43,542 testimonies took 65 ms this way and 162 ms reading each testimony's values
    (``benchmarks/search_testimonies.py``, SQLite)."""
    matched = bitmap(testimony_ids)
    counted: dict[str, list[tuple[str, int]]] = {key: [] for key in FACETS}
    if matched:
        with connection.cursor() as cursor:
            for value, bits in _fetch(cursor, "SELECT value, bits FROM testimony_facetbitmap", []):
                key, _sep, code = value.partition(":")
                number = (matched & int.from_bytes(bits, "little")).bit_count()
                if number and key in counted:
                    counted[key].append((code, number))
    return {
        key: dict(sorted(pairs, key=lambda pair: (-pair[1], pair[0])))
        for key, pairs in counted.items()
    }


def search(
    actor: Actor,
    query: str,
    *,
    filters: Mapping[str, str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> SearchResult:
    """The testimonies matching every token of ``query`` and every filter (facet key -> value),
    among those ``testimonies_searchable_by(actor)`` allows: a page of them, newest interview
    first, how many there are, and the facets of all of them. An empty query with filters
    browses by facet; an empty query without filters, everything the actor may search. A query
    with no searchable token (only punctuation) matches nothing.

    Three statements: the summary (every matching id and the page's ids, from one evaluation
    of the match and the selector), the facet bitmaps, then the page's testimonies, through
    the selector again."""
    cleaned = clean_filters(filters)
    words = list(dict.fromkeys(tokens(query or "")))
    nothing = SearchResult(results=[], total=0, facets={key: {} for key in FACETS}, tokens=words)
    if (query or "").strip() and not words:
        return nothing
    terms = terms_for(actor, words, cleaned)
    if any(word is None and not hashes for word, hashes in terms.words):
        return nothing  # an actor with nothing to search in (no agency)
    try:
        sql, params = summary_sql(
            actor, None if terms.empty else terms, max(limit, 0), max(offset, 0)
        )
    except EmptyResultSet:  # the selector's .none(): a role that may not read testimonies
        return nothing
    matched, page = run_summary(sql, params)
    results = (
        list(
            testimonies_searchable_by(actor)
            .filter(pk__in=page)
            .select_related("agency")
            .defer(*DEFERRED)
        )
        if page
        else []
    )
    return SearchResult(
        results=results, total=len(matched), facets=facet_counts(matched), tokens=words
    )
