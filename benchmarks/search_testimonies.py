"""Testimony search: Saebom's ``search()`` against the raw FTS5 / tsvector SQL for the same tokens.

Data. N synthetic testimonies (100,000 at scale 1.0) of about 2,000 characters, 70 % Korean and
30 % English, written by ``saebom.demo.testimonies`` (bulk_create through the ORM, without
history rows, and indexed in bulk by ``search.entries`` / ``search.write_entries``, a thousand
at a time) in 10 agencies, the first three times the size of the others; 1-3 incidents per
testimony with 1-3 acts each, victims and perpetrators; consent of every scope, 3 % withdrawn.
Fixed seed. Then ``ANALYZE`` (PostgreSQL: ``VACUUM ANALYZE``).

Saebom. ``search(actor, query, filters=...)``, a page of 50 with the total and the six facets,
reading each result's public id, summary and agency code as the result list does, for a fixed
mix of queries in five kinds: Korean two-syllable substrings (``ko``), English words (``en``),
either with facet filters (``filtered``), filters alone (``browse``), and the search page as it
opens, no query and no filter (``all``); each as a documenter of the largest agency (who also
matches transcripts: their agency's keyed hashes) and as a researcher of an ordinary one
(summaries only, of their agency's testimonies and every agency's published ones).

Baseline. The same two statements written by hand and run on the same connection: the page
(every column ``search()`` reads, the agency joined, the visibility conditions of the
selector written out, the FTS5 ``MATCH`` / tsvector ``@@`` on the index, ``ORDER BY
interview_date DESC, id DESC LIMIT 50``) and the count with the facets as SQL alone answers
them (one statement: the matching ids materialised, counted, and joined to each testimony's
facet values, which PostgreSQL counts with ``GROUP BY`` and, on SQLite, Python from the
testimony's one narrow row, faster than SQLite's ``GROUP BY``); ``search()`` counts facets from
the facet bitmaps instead (``search.facet_counts``). The match
expression is built beforehand from the same tokens and hashes, so the baseline pays neither
tokenising nor hashing nor the ORM. Both paths are first checked to give the same page, total
and facets; then each query runs ``--repeats`` times per path, alternating. Per kind: the
ratio of the summed per-query medians, and the median and 95th percentile of every run.

    .venv/bin/python benchmarks/search_testimonies.py [--scale F] [--database sqlite|postgres]
        [--repeats N] [--explain]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from harness import scratch_django

FULL_SCALE = 100_000
AGENCIES = 10
LARGEST_WEIGHT = 3
SEED = 6
TARGET = 1.50
TARGET_P95_MS = 100.0
PAGE = 50
SCRATCH_DATABASE = "saebom_bench_search"
QUERIES: dict[str, list[tuple[str, dict[str, str]]]] = {
    "ko": [("요덕", {}), ("청진", {}), ("보위", {}), ("회령", {})],
    "en": [("yodok", {}), ("torture", {}), ("chongjin", {}), ("repatriated", {})],
    "filtered": [
        ("요덕", {"act_type": "forced_labour"}),
        ("torture", {"province": "north_hamgyong"}),
        ("보위", {"year": "1998"}),
        ("camp", {"institution": "mss"}),
    ],
    "browse": [
        ("", {"facility": "kwanliso_15"}),
        ("", {"coi_category": "c", "year": "2003"}),
        ("", {"institution": "mps"}),
    ],
    "all": [("", {})],
}
PUBLISHED = ("publish_anonymised", "publish_named")
TESTIMONY_COLUMNS = (
    "t.id, t.public_id, t.agency_id, t.is_synthetic, t.witness_person_id, t.witness_sex,"
    " t.interview_date, t.language, t.summary, t.consent_scope, t.consent_mechanisms,"
    " t.consent_given_on, t.consent_withdrawn_on, t.sealed_at, t.sealed_by_id, t.version,"
    " t.created_by_id, t.created_at, t.updated_at, a.code"
)
VISIBLE = {
    "documenter": "t.agency_id = %(agency)s AND t.consent_withdrawn_on IS NULL",
    "researcher": (
        "t.consent_withdrawn_on IS NULL AND (t.agency_id = %(agency)s"
        " OR t.consent_scope IN ('publish_anonymised', 'publish_named'))"
    ),
}
MATCH_IDS = "SELECT rowid FROM testimony_search WHERE testimony_search MATCH %(match)s"  # SQLite
FACETS_OF = {  # facets by SQL alone: each matching testimony's values, counted
    "sqlite": (
        "SELECT 3, f.facet_values, NULL FROM m"
        " JOIN testimony_searchfacet f ON f.testimony_id = m.id"
    ),
    "postgres": (
        "SELECT 1, f.value, COUNT(*) FROM m JOIN testimony_search s ON s.testimony_id = m.id,"
        " unnest(s.facets) AS f(value) GROUP BY f.value"
    ),
}
MATCH_ALONE = {
    "sqlite": "SELECT COUNT(*) FROM testimony_search WHERE testimony_search MATCH %(match)s",
    "postgres": "SELECT COUNT(*) FROM testimony_search WHERE document @@ %(match)s::tsquery",
}
Page = tuple[list[tuple[Any, ...]], int, dict[str, dict[str, int]]]


# -- data ------------------------------------------------------------------------------------


def build(count: int) -> tuple[Any, Any, dict[str, int]]:
    """The agencies, two users, and ``count`` testimonies; (documenter, researcher, counts)."""
    from django.db import connection

    from saebom.accounts.models import Agency, User
    from saebom.core.policy import Role
    from saebom.demo.testimonies import testimonies_bulk_create

    agencies = Agency.objects.bulk_create(
        Agency(code=f"bench-{a:02d}", name_ko=f"기관 {a}", name_en=f"Agency {a}")
        for a in range(AGENCIES)
    )
    documenter = User(username="documenter", agency=agencies[0], role=Role.DOCUMENTER)
    researcher = User(username="researcher", agency=agencies[1], role=Role.RESEARCHER)
    for user in (documenter, researcher):
        user.set_unusable_password()
        user.save()
    started = time.perf_counter()

    def progress(done: int) -> None:
        if done % 10_000 == 0 or done == count:
            rate = done / (time.perf_counter() - started)
            print(f"  {done:>7,} testimonies ({rate:,.0f}/s)", flush=True)

    counts = testimonies_bulk_create(
        agencies=agencies,
        count=count,
        seed=SEED,
        weights=[LARGEST_WEIGHT] + [1] * (AGENCIES - 1),
        history=False,
        progress=progress,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    return documenter, researcher, vars(counts)


# -- the two paths ---------------------------------------------------------------------------


def saebom_page(actor: Any, query: str, filters: dict[str, str]) -> Page:
    from saebom.testimony.search import search

    result = search(actor, query, filters=filters, limit=PAGE)
    rows = [(t.pk, t.public_id, t.summary, t.agency.code) for t in result.results]
    return rows, result.total, result.facets


def baseline_sql(database: str, role: str, matched: bool) -> tuple[str, str]:
    """The summary (count, facets, the page's ids) and the page's rows, by hand."""
    page_ids = (
        "SELECT * FROM (SELECT 2, NULL, m.id FROM m"
        f" ORDER BY m.day DESC, m.id DESC LIMIT {PAGE}) AS page"
    )
    if database == "postgres" and matched:
        m = (
            "WITH m (id, day, facets) AS MATERIALIZED (SELECT t.id, t.interview_date, s.facets"
            " FROM testimony_testimony t JOIN testimony_search s ON s.testimony_id = t.id"
            f" WHERE {VISIBLE[role]} AND s.document @@ %(match)s::tsquery)"
        )
        facets = "SELECT 1, f.value, COUNT(*) FROM m, unnest(m.facets) AS f(value) GROUP BY f.value"
    else:
        where = VISIBLE[role] + (f" AND t.id IN ({MATCH_IDS})" if matched else "")
        m = (
            "WITH m (id, day) AS MATERIALIZED"
            f" (SELECT t.id, t.interview_date FROM testimony_testimony t WHERE {where})"
        )
        facets = FACETS_OF[database]
    summary = f"{m} SELECT 0, NULL, COUNT(*) FROM m UNION ALL {facets} UNION ALL {page_ids}"
    page = (
        f"SELECT {TESTIMONY_COLUMNS} FROM testimony_testimony t"
        " JOIN accounts_agency a ON a.id = t.agency_id"
        f" WHERE {VISIBLE[role]} AND t.id IN ({{ids}})"
        " ORDER BY t.interview_date DESC, t.id DESC"
    )
    return summary, page


def read_baseline(
    rows: list[tuple[Any, ...]],
) -> tuple[int, dict[str, dict[str, int]], list[int]]:
    """(total, facets, page ids) from the hand-written summary's rows: the count (kind 0),
    facet values with their counts (kind 1) or each testimony's facet values (kind 3), the
    page's ids (kind 2)."""
    from saebom.testimony.search import FACET_SEPARATOR, FACETS

    total, page, counts = 0, [], Counter()
    for kind, value, number in rows:
        if kind == 0:
            total = number
        elif kind == 1:
            counts[value] += number
        elif kind == 2:
            page.append(number)
        elif value:
            counts.update(value.split(FACET_SEPARATOR))
    counted: dict[str, list[tuple[str, int]]] = {key: [] for key in FACETS}
    for value, number in counts.items():
        key, _sep, code = value.partition(":")
        counted[key].append((code, number))
    facets = {
        key: dict(sorted(pairs, key=lambda pair: (-pair[1], pair[0])))
        for key, pairs in counted.items()
    }
    return total, facets, page


def baseline_page(summary_sql: str, page_sql: str, params: dict[str, Any]) -> Page:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # as search() does, and why
        cursor.execute(summary_sql, params)
        total, facets, ids = read_baseline(cursor.fetchall())
        rows = []
        if ids:
            cursor.execute(page_sql.format(ids=", ".join(str(int(i)) for i in ids)), params)
            rows = [(r[0], r[1], r[8], r[19]) for r in cursor.fetchall()]
    return rows, total, facets


def match_expression(actor: Any, query: str, filters: dict[str, str]) -> str | None:
    """The FTS5 query / tsquery ``search()`` builds for these tokens (None: no match needed)."""
    from django.db import connection

    from saebom.testimony import search

    terms = search.terms_for(actor, list(dict.fromkeys(search.tokens(query))), filters)
    if terms.empty:
        return None
    if connection.vendor == "postgresql":
        return search.postgres_tsquery(terms)
    return search.sqlite_match(terms)


def match_alone(sql: str, params: dict[str, Any]) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0])


def explain(sql: str, params: dict[str, Any]) -> list[str]:
    from django.db import connection, transaction

    postgres = connection.vendor == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS)" if postgres else "EXPLAIN QUERY PLAN"
    with transaction.atomic(), connection.cursor() as cursor:
        if postgres:
            cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"{prefix} {sql}", params)
        return [" | ".join(str(c) for c in row) for row in cursor.fetchall()]


def timed(runs: Sequence[tuple[str, Callable[[], object]]], repeats: int) -> dict[str, list[float]]:
    """Each path ``repeats`` times, alternating (and alternating which goes first); ms."""
    times: dict[str, list[float]] = {name: [] for name, _run in runs}
    for n in range(repeats):
        for name, run in runs if n % 2 == 0 else list(reversed(runs)):
            started = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def p95(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


# -- main ------------------------------------------------------------------------------------


def measure_kind(
    database: str, role: str, actor: Any, kind: str, repeats: int, show_plans: bool
) -> tuple[dict[str, list[float]], list[float], list[float], list[str]]:
    """Every query of the kind: (all samples per path, per-query medians of the two paths)."""
    samples: dict[str, list[float]] = {"saebom": [], "baseline": [], "match": []}
    medians_saebom, medians_baseline, notes = [], [], []
    for query, filters in QUERIES[kind]:
        match = match_expression(actor, query, filters)
        params = {"agency": actor.agency_id, "match": match}
        summary_sql, page_sql = baseline_sql(database, role, match is not None)
        saebom = saebom_page(actor, query, filters)
        baseline = baseline_page(summary_sql, page_sql, params)
        assert saebom == baseline, f"{role} {query!r} {filters}: the paths differ"
        runs: list[tuple[str, Callable[[], object]]] = [
            ("saebom", lambda q=query, f=filters: saebom_page(actor, q, f)),
            ("baseline", lambda s=summary_sql, p=page_sql, x=params: baseline_page(s, p, x)),
        ]
        if match is not None:
            runs.append(("match", lambda x=params: match_alone(MATCH_ALONE[database], x)))
        times = timed(runs, repeats)
        for name, values in times.items():
            samples[name] += values
        medians_saebom.append(statistics.median(times["saebom"]))
        medians_baseline.append(statistics.median(times["baseline"]))
        matched = match_alone(MATCH_ALONE[database], params) if match is not None else None
        notes.append(
            f"    {query or '-':<12} {_filters(filters):<32} {saebom[1]:>7,} results"
            f" ({'all' if matched is None else f'{matched:,} matched in the index'});"
            f" saebom {medians_saebom[-1]:6.1f} ms, hand-written {medians_baseline[-1]:6.1f} ms"
            + (f", match alone {statistics.median(times['match']):5.1f} ms" if match else "")
        )
        if show_plans:
            print(f"-- {role} {kind} {query!r} {filters}\n{summary_sql}")
            print("\n".join(explain(summary_sql, params)))
    return samples, medians_saebom, medians_baseline, notes


def _filters(filters: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in filters.items()) or "no filter"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 100,000 testimonies")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--explain", action="store_true", help="print the plans")
    args = parser.parse_args(argv)
    count = max(200, round(FULL_SCALE * args.scale))
    results: list[str] = []
    with scratch_django(args.database, SCRATCH_DATABASE):
        print(f"database          {args.database}, {count:,} testimonies in {AGENCIES} agencies")
        started = time.perf_counter()
        documenter, researcher, counts = build(count)
        built = time.perf_counter() - started
        print(
            f"build             {built:7.1f} s: "
            + ", ".join(f"{name} {n:,}" for name, n in counts.items())
        )
        print(f"index             {index_size(args.database)}")
        for role, actor in (("documenter", documenter), ("researcher", researcher)):
            every: list[float] = []
            for kind in QUERIES:
                samples, saebom, baseline, notes = measure_kind(
                    args.database, role, actor, kind, args.repeats, args.explain
                )
                every += samples["saebom"]
                print(
                    f"{role} {kind:<9} saebom median {statistics.median(samples['saebom']):6.1f}"
                    f" ms, p95 {p95(samples['saebom']):6.1f} ms;"
                    f" hand-written median {statistics.median(samples['baseline']):6.1f} ms,"
                    f" p95 {p95(samples['baseline']):6.1f} ms"
                )
                print("\n".join(notes))
                ratio = sum(saebom) / sum(baseline)
                results.append(
                    f"RESULT search_{args.database}_{kind}_{role}"
                    f" ratio={ratio:.2f} target={TARGET:.2f}"
                )
            print(
                f"{role} every query: median {statistics.median(every):6.1f} ms,"
                f" p95 {p95(every):6.1f} ms (target p95 {TARGET_P95_MS:.0f} ms)"
            )
            results.append(
                f"RESULT search_{args.database}_p95_{role}"
                f" ratio={p95(every) / TARGET_P95_MS:.2f} target=1.00"
            )
    for line in results:
        print(line)


def index_size(database: str) -> str:
    from django.db import DatabaseError, connection

    with connection.cursor() as cursor:
        if database == "postgres":
            cursor.execute(
                "SELECT pg_size_pretty(pg_total_relation_size('testimony_search')),"
                " pg_size_pretty(pg_total_relation_size('testimony_testimony'))"
            )
            index, testimonies = cursor.fetchone()
            return f"testimony_search {index} (testimonies {testimonies})"
        try:
            cursor.execute(
                "SELECT name, SUM(pgsize) FROM dbstat WHERE name LIKE 'testimony_search%'"
                " OR name = 'testimony_testimony' GROUP BY name"
            )
        except DatabaseError:  # SQLite built without the dbstat table
            cursor.execute("SELECT page_count * page_size FROM pragma_page_count, pragma_page_size")
            return f"database file {cursor.fetchone()[0] / 2**20:,.0f} MiB"
        return ", ".join(f"{name} {size / 2**20:,.0f} MiB" for name, size in cursor.fetchall())


if __name__ == "__main__":
    main()
