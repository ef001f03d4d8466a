"""Caseload page: Saebom's ``caseload`` selector and summary against hand-written SQL.

Data. N resettlement cases (100,000 at scale 1.0) in 20 agencies, one of them three times the
size of the others (about 13,600 cases against 4,500 each), with about 1,000,000 services and
follow-ups between them, written straight into the tables (``COPY`` on PostgreSQL, batched
``executemany`` on SQLite): a person per case; about 1,670 caseworkers (one per 60 cases of
their agency); 77% of the cases in an open status, protection running five years from a start
spread over the last five and a half years (so about 4% of open cases end within 90 days and
some have already ended), 3% without protection dates; needs assessments of all 11 domains
(severity 0-3, 15% high) for 90% of the cases, a third of them with an older assessment as
well, ``latest_assessment`` pointing at the newest; five services per case on average (35%
planned or in progress, most of them in a domain of high need) and five follow-ups (a quarter
still scheduled, a sixth of those overdue); a lead caseworker on every case and a second
caseworker on a quarter. Fixed seed, fixed day (2026-11-30). Then ``VACUUM ANALYZE``.

Saebom. One page of the caseload web page: ``list(caseload(user, ...)[:50])``, reading each
row's person, counts and lead as the template does, and ``caseload_summary(cases, day)``: for
a caseworker of an ordinary agency (all its open cases; ``attention_only=True``; and
``member=`` themselves, "my cases") and for a caseworker of the largest agency.

Baseline. The same page written by hand and run on the same connection: one SELECT of every
column of the case and its person (what the ORM reads into the two objects) with three
correlated subqueries (overdue follow-ups; high needs of the latest assessment without a
planned or ongoing service in their domain; the lead's username), filtered and ordered the
same way, ``LIMIT 50``; and one aggregate over the same cases, computed once per case in a
``MATERIALIZED`` CTE so the attention filter and the counts share it. The selector's own two
statements are also timed on their own ("its SQL alone"), which splits Saebom's time into
the database's and the ORM's. Both paths are first checked to give the same rows in the same
order and the same summary, then each runs several times, alternating; the medians count.
The queries Saebom sends per page are counted at two page sizes in two agencies.

    .venv/bin/python benchmarks/caseload.py [--scale F] [--database postgres|sqlite]
        [--explain] [--jit]

Saebom's settings turn PostgreSQL's JIT off on every connection (``-c jit=off``); ``--jit``
turns it back on for this run, to see what it costs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

from harness import scratch_django

FULL_SCALE_CASES = 100_000
AGENCIES = 20
LARGEST_WEIGHT = 3  # the first agency has three times the cases of each other one
CASES_PER_WORKER = 60
TARGET = 2.00
TARGET_QUERIES = 1.00
PAGE = 50
BATCH = 50_000
DAY = date(2026, 11, 30)
NOW = "2026-11-30 00:00:00"
SCRATCH_DATABASE = "saebom_bench_caseload"
DOMAINS = (
    "housing",
    "employment",
    "education",
    "language",
    "health",
    "mental_health",
    "finance_debt",
    "legal",
    "family",
    "social_cultural",
    "safety",
)
SERVICE_FOR = {
    "housing": "housing_support",
    "employment": "job_placement",
    "education": "school_enrolment",
    "language": "language_class",
    "health": "medical_referral",
    "mental_health": "counselling",
    "finance_debt": "debt_counselling",
    "legal": "legal_aid",
    "family": "family_reunification",
    "social_cultural": "settlement_helper",
    "safety": "safety_protection",
}
CASE_STATUSES = {"open": 10, "active": 60, "on_hold": 5, "transferred": 2, "closed": 23}
SEVERITIES = {0: 55, 1: 30, 2: 10, 3: 5}
SERVICE_STATUSES = {"planned": 15, "in_progress": 20, "delivered": 55, "cancelled": 10}
FOLLOWUP_STATUSES = {"done": 63, "scheduled": 25, "missed": 8, "cancelled": 4}
CHANNELS = ("phone", "visit", "office", "online")
OPEN = ("open", "active", "on_hold", "transferred")

PATHS = {"saebom": "saebom", "saebom_sql": "its SQL alone", "baseline": "hand-written"}

Row = tuple[Any, ...]
Summary = dict[str, int]
Page = tuple[list[Row], Summary]


def _iso(day: date) -> str:
    return day.isoformat()


def _five_years_on(day: date) -> date:
    return (
        day.replace(year=day.year + 5) if (day.month, day.day) != (2, 29) else day + timedelta(1826)
    )


def _pick(rng: random.Random, weights: dict[Any, int], k: int) -> list[Any]:
    return rng.choices(list(weights), list(weights.values()), k=k)


# -- data ------------------------------------------------------------------------------------


def write_rows(table: str, columns: Sequence[str], rows: Iterable[Row]) -> int:
    """``rows`` into ``table``: COPY on PostgreSQL, executemany in batches on SQLite."""
    from django.db import connection

    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        marks = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        batch: list[Row] = []
        for row in rows:
            batch.append(row)
            if len(batch) == BATCH:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        cursor.executemany(sql, batch)
        return count + len(batch)


class Generated:
    """The whole data set, drawn once from a fixed seed and written table by table."""

    def __init__(self, cases: int, agency_ids: Sequence[int]) -> None:
        self.rng = random.Random(2026)
        self.cases = cases
        self.agency_ids = list(agency_ids)
        weights = [LARGEST_WEIGHT] + [1] * (len(agency_ids) - 1)
        self.case_agency = self.rng.choices(range(len(agency_ids)), weights, k=cases)
        per_agency = [self.case_agency.count(a) for a in range(len(agency_ids))]
        self.workers: list[list[int]] = []  # agency index -> user ids
        next_user = 1
        for size in per_agency:
            n = max(2, round(size / CASES_PER_WORKER))
            self.workers.append(list(range(next_user, next_user + n)))
            next_user += n
        self.user_agency = {u: a for a, users in enumerate(self.workers) for u in users}
        self.lead = [self.rng.choice(self.workers[a]) for a in self.case_agency]
        self.high: list[list[str]] = [[] for _ in range(cases)]  # latest assessment's high needs
        self.latest: list[int | None] = [None] * cases
        self.counts: dict[str, int] = {}

    def users(self) -> Iterator[Row]:
        for user, agency in self.user_agency.items():
            yield (
                user,
                "!",
                False,
                f"cw{agency:02d}-{user:05d}",
                "",
                "",
                "",
                False,
                True,
                NOW,
                self.agency_ids[agency],
                "caseworker",
                False,
            )

    def persons(self) -> Iterator[Row]:
        for n in range(1, self.cases + 1):
            yield (n, f"P-{n:08d}", True, NOW)

    def case_rows(self) -> Iterator[Row]:
        """Cases, with the assessments drawn alongside so ``latest_assessment_id`` is known."""
        rng = self.rng
        statuses = _pick(rng, CASE_STATUSES, self.cases)
        self.assessments: list[Row] = []
        self.scores_of: list[list[int]] = []
        recent, old = date(2021, 6, 1), date(2014, 1, 1)
        for i, status in enumerate(statuses):
            n = i + 1
            if status == "closed":
                opened = old + timedelta(rng.randrange(2700))
                closed: str | None = _iso(opened + timedelta(rng.randrange(200, 1800)))
            else:
                opened = recent + timedelta(rng.randrange((DAY - recent).days + 1))
                closed = None
            if rng.random() < 0.03:
                start = end = None
            else:
                start = opened + timedelta(rng.randrange(15))
                end = _five_years_on(start)
            if rng.random() < 0.90:
                taken = 2 if rng.random() < 0.33 else 1
                for k in range(taken):
                    day = opened + timedelta(30 * k + rng.randrange(30))
                    severities = _pick(rng, SEVERITIES, len(DOMAINS))
                    self.assessments.append((len(self.assessments) + 1, n, _iso(day), severities))
                self.latest[i] = len(self.assessments)
                self.high[i] = [d for d, s in zip(DOMAINS, severities, strict=True) if s >= 2]
            yield (
                n,
                f"C-{n:08d}",
                n,
                self.agency_ids[self.case_agency[i]],
                status,
                _iso(opened),
                closed,
                start and _iso(start),
                end and _iso(end),
                rng.randint(1, 5),
                None,
                self.latest[i],
                True,
                1,
                NOW,
                NOW,
            )

    def assessment_rows(self) -> Iterator[Row]:
        for assessment_id, case_id, day, _severities in self.assessments:
            yield (assessment_id, case_id, day, self.lead[case_id - 1], NOW)

    def score_rows(self) -> Iterator[Row]:
        n = 0
        for assessment_id, _case_id, _day, severities in self.assessments:
            for domain, severity in zip(DOMAINS, severities, strict=True):
                n += 1
                yield (n, assessment_id, domain, severity, None)

    def service_rows(self) -> Iterator[Row]:
        rng = self.rng
        n = 0
        for i in range(self.cases):
            agency = self.agency_ids[self.case_agency[i]]
            for status in _pick(rng, SERVICE_STATUSES, rng.randint(0, 10)):
                high = self.high[i]
                domain = rng.choice(high) if high and rng.random() < 0.6 else rng.choice(DOMAINS)
                due = DAY + timedelta(rng.randrange(-700, 200))
                n += 1
                yield (
                    n,
                    i + 1,
                    SERVICE_FOR[domain],
                    domain,
                    agency if rng.random() < 0.7 else None,
                    status,
                    _iso(due),
                    _iso(due - timedelta(rng.randrange(30))) if status == "delivered" else None,
                    None,
                    1,
                    NOW,
                )

    def followup_rows(self) -> Iterator[Row]:
        rng = self.rng
        n = 0
        for i in range(self.cases):
            for status in _pick(rng, FOLLOWUP_STATUSES, rng.randint(0, 10)):
                if status == "scheduled":
                    due = DAY + timedelta(rng.randrange(-30, 150))
                else:
                    due = DAY - timedelta(rng.randrange(1, 1500))
                n += 1
                yield (
                    n,
                    i + 1,
                    _iso(due),
                    rng.choice(CHANNELS),
                    self.lead[i],
                    status,
                    _iso(due) if status == "done" else None,
                    None,
                    1,
                )

    def member_rows(self) -> Iterator[Row]:
        rng = self.rng
        n = 0
        for i, lead in enumerate(self.lead):
            n += 1
            yield (n, i + 1, lead, "lead", None, NOW)
            others = [u for u in self.workers[self.case_agency[i]] if u != lead]
            if rng.random() < 0.25:
                n += 1
                yield (n, i + 1, rng.choice(others), "caseworker", None, NOW)

    def write(self) -> None:
        from django.db import connection, transaction

        tables: list[tuple[str, Sequence[str], Callable[[], Iterable[Row]]]] = [
            (
                "accounts_user",
                (
                    "id",
                    "password",
                    "is_superuser",
                    "username",
                    "first_name",
                    "last_name",
                    "email",
                    "is_staff",
                    "is_active",
                    "date_joined",
                    "agency_id",
                    "role",
                    "mfa_exempt",
                ),
                self.users,
            ),
            ("registry_person", ("id", "public_id", "is_synthetic", "created_at"), self.persons),
            (
                "support_case",
                (
                    "id",
                    "public_id",
                    "person_id",
                    "lead_agency_id",
                    "status",
                    "opened_on",
                    "closed_on",
                    "protection_start",
                    "protection_end",
                    "household_size",
                    "notes_export_consent_on",
                    "latest_assessment_id",
                    "is_synthetic",
                    "version",
                    "created_at",
                    "updated_at",
                ),
                self.case_rows,
            ),
            (
                "support_assessment",
                ("id", "case_id", "assessed_on", "assessed_by_id", "created_at"),
                self.assessment_rows,
            ),
            (
                "support_needscore",
                ("id", "assessment_id", "domain", "severity", "note"),
                self.score_rows,
            ),
            (
                "support_service",
                (
                    "id",
                    "case_id",
                    "kind",
                    "domain",
                    "provider_id",
                    "status",
                    "due_on",
                    "delivered_on",
                    "note",
                    "version",
                    "created_at",
                ),
                self.service_rows,
            ),
            (
                "support_followup",
                (
                    "id",
                    "case_id",
                    "due_on",
                    "channel",
                    "assigned_to_id",
                    "status",
                    "done_on",
                    "outcome",
                    "version",
                ),
                self.followup_rows,
            ),
            (
                "support_casemember",
                ("id", "case_id", "user_id", "role", "referral_id", "added_at"),
                self.member_rows,
            ),
        ]
        # One transaction: cases point at assessments written after them (deferred FK).
        with transaction.atomic():
            for table, columns, rows in tables:
                self.counts[table] = write_rows(table, columns, rows())
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def build(cases: int) -> Generated:
    """Agencies through the ORM (20 rows), everything else by COPY / executemany."""
    from saebom.accounts.models import Agency

    agencies = Agency.objects.bulk_create(
        Agency(code=f"bench-{a:02d}", name_ko=f"기관 {a}", name_en=f"Agency {a}")
        for a in range(AGENCIES)
    )
    data = Generated(cases, [a.pk for a in agencies])
    data.write()
    return data


# -- the two paths ---------------------------------------------------------------------------


def saebom_page(actor: Any, member: Any, attention_only: bool, size: int = PAGE) -> Page:
    from saebom.support.selectors import caseload, caseload_summary

    cases = caseload(actor, member=member, attention_only=attention_only, day=DAY)
    rows = [
        (
            case.pk,
            case.public_id,
            case.person.public_id,
            case.status,
            case.protection_end,
            case.overdue_followups,
            case.unmet_needs,
            case.lead_username,
        )
        for case in cases[:size]
    ]
    return rows, caseload_summary(cases, DAY)


# The page's hand-written SQL: every column of the case and its person (what the ORM reads
# into the two objects, in the same order), overdue follow-ups, high needs of the latest
# assessment without a planned or ongoing service in their domain, and the lead caseworker.
CASE_COLUMNS = (
    "c.id, c.public_id, c.person_id, c.lead_agency_id, c.status, c.opened_on, c.closed_on,"
    " c.protection_start, c.protection_end, c.household_size, c.notes_export_consent_on,"
    " c.latest_assessment_id, c.is_synthetic, c.version, c.created_at, c.updated_at"
)
CASES_SQL = """
    SELECT {columns},
        (SELECT COUNT(*) FROM support_followup f
          WHERE f.case_id = c.id AND f.status = 'scheduled' AND f.due_on < %(day)s
        ) AS overdue,
        (SELECT COUNT(*) FROM support_needscore n
          WHERE n.assessment_id = c.latest_assessment_id AND n.severity >= 2
            AND NOT EXISTS (
              SELECT 1 FROM support_service s
               WHERE s.case_id = c.id AND s.domain = n.domain
                 AND s.status IN ('planned', 'in_progress'))
        ) AS unmet
      FROM support_case c
     WHERE c.lead_agency_id = %(agency)s
       AND c.status IN ('open', 'active', 'on_hold', 'transferred')
       {member}
"""
MEMBER_SQL = (
    "AND EXISTS (SELECT 1 FROM support_casemember cm WHERE cm.case_id = c.id"
    " AND cm.user_id = %(member)s)"
)
ENDING_SQL = "t.protection_end >= %(day)s AND t.protection_end <= %(ending)s"
ATTENTION_SQL = f"WHERE t.overdue > 0 OR t.unmet > 0 OR ({ENDING_SQL})"
PAGE_SQL = """
    SELECT t.*, p.id, p.public_id, p.is_synthetic, p.created_at,
        (SELECT u.username FROM support_casemember m JOIN accounts_user u ON u.id = m.user_id
          WHERE m.case_id = t.id AND m.role = 'lead'
        ) AS lead
      FROM ({cases}) t JOIN registry_person p ON p.id = t.person_id
      {attention}
     ORDER BY t.protection_end, t.id LIMIT {size}
"""
# Materialised, so that the attention filter and the counts share one evaluation per case.
SUMMARY_SQL = f"""
    WITH t AS MATERIALIZED ({{cases}})
    SELECT COUNT(*),
           COUNT(*) FILTER (WHERE t.overdue > 0),
           COUNT(*) FILTER (WHERE t.unmet > 0),
           COUNT(*) FILTER (WHERE {ENDING_SQL})
      FROM t {{attention}}
"""


def baseline_sql(member: bool, attention_only: bool, size: int = PAGE) -> tuple[str, str]:
    def cases(columns: str) -> str:
        return CASES_SQL.format(columns=columns, member=MEMBER_SQL if member else "")

    attention = ATTENTION_SQL if attention_only else ""
    page = PAGE_SQL.format(cases=cases(CASE_COLUMNS), attention=attention, size=size)
    summary = SUMMARY_SQL.format(cases=cases("c.id, c.protection_end"), attention=attention)
    return page, summary


# Where the page's columns are in a row of ``PAGE_SQL`` (case, overdue, unmet, person, lead).
SHOWN = (0, 1, 19, 4, 8, 16, 17, 22)


def baseline_page(page_sql: str, summary_sql: str, params: dict[str, Any]) -> Page:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(page_sql, params)
        rows = [tuple(row[n] for n in SHOWN) for row in cursor.fetchall()]
        cursor.execute(summary_sql, params)
        total, overdue, unmet, ending = cursor.fetchone()
    summary = {
        "cases": total,
        "with_overdue": overdue,
        "with_unmet_needs": unmet,
        "protection_ending": ending,
    }
    return rows, summary


def saebom_sql_page(queries: Sequence[str]) -> None:
    """The statements the selector sent, run again as they are (no ORM around them)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in queries:
            cursor.execute(sql)
            cursor.fetchall()


def _comparable(page: Page) -> Page:
    """Dates come back as text from a raw SQLite cursor."""
    rows, summary = page
    return [(*row[:4], row[4] and str(row[4]), *row[5:]) for row in rows], summary


def saebom_queries(actor: Any, member: Any, attention_only: bool, size: int) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        saebom_page(actor, member, attention_only, size)
    return [q["sql"] for q in queries.captured_queries]


def explain(sql: str, params: dict[str, Any] | None = None) -> list[str]:
    from django.db import connection

    postgres = connection.vendor == "postgresql"
    prefix = "EXPLAIN (ANALYZE, BUFFERS)" if postgres else "EXPLAIN QUERY PLAN"
    with connection.cursor() as cursor:
        cursor.execute(f"{prefix} {sql}", params)
        return [" | ".join(str(c) for c in row) for row in cursor.fetchall()]


def medians(
    runs: Sequence[tuple[str, Callable[[], object]]], repeats: int
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
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 100,000 cases")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--explain", action="store_true", help="print the queries and plans")
    parser.add_argument("--jit", action="store_true", help="SET jit = on (PostgreSQL)")
    args = parser.parse_args(argv)
    count = max(AGENCIES * CASES_PER_WORKER, round(FULL_SCALE_CASES * args.scale))
    results: list[str] = []
    with scratch_django(args.database, SCRATCH_DATABASE):
        from saebom.accounts.models import User

        started = time.perf_counter()
        data = build(count)
        built = time.perf_counter() - started
        if args.jit and args.database == "postgres":
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SET jit = on")
        ordinary = User.objects.select_related("agency").get(pk=data.workers[1][0])
        largest = User.objects.select_related("agency").get(pk=data.workers[0][0])
        scenarios = [
            ("agency", ordinary, None, False),
            ("attention", ordinary, None, True),
            ("mine", ordinary, ordinary, False),
            ("largest_agency", largest, None, False),
        ]
        print(f"database          {args.database}, {count:,} cases in {AGENCIES} agencies")
        print(
            f"build             {built:7.1f} s, rows: "
            + ", ".join(f"{table.split('_', 1)[1]} {n:,}" for table, n in data.counts.items())
        )
        for name, actor, member, attention in scenarios:
            params = {
                "day": DAY,
                "ending": DAY + timedelta(90),
                "agency": actor.agency_id,
                "member": member.pk if member else None,
            }
            page_sql, summary_sql = baseline_sql(member is not None, attention)
            saebom = saebom_page(actor, member, attention)  # warms and checks
            baseline = baseline_page(page_sql, summary_sql, params)
            assert _comparable(saebom) == _comparable(baseline), f"{name}: the pages differ"
            sent = saebom_queries(actor, member, attention, PAGE)
            if args.explain:
                for sql in sent:
                    print(f"-- {name}: saebom\n{sql}\n" + "\n".join(explain(sql)))
                for sql in (page_sql, summary_sql):
                    print(f"-- {name}: baseline\n{sql}\n" + "\n".join(explain(sql, params)))
            median, times = medians(
                [
                    ("saebom", lambda a=actor, m=member, t=attention: saebom_page(a, m, t)),
                    ("saebom_sql", lambda q=sent: saebom_sql_page(q)),
                    (
                        "baseline",
                        lambda p=page_sql, s=summary_sql, q=params: baseline_page(p, s, q),
                    ),
                ],
                args.repeats,
            )
            summary = saebom[1]
            print(
                f"{name:<17} {summary['cases']:,} cases ({summary['with_overdue']:,} overdue,"
                f" {summary['with_unmet_needs']:,} unmet needs,"
                f" {summary['protection_ending']:,} ending), page of {len(saebom[0])}"
            )
            for path, label in PATHS.items():
                spread = ", ".join(f"{t * 1000:.1f}" for t in times[path])
                print(f"  {label:<15} {median[path] * 1000:7.1f} ms median  ({spread} ms)")
            ratio = median["saebom"] / median["baseline"]
            results.append(
                f"RESULT caseload_{name}_{args.database} ratio={ratio:.2f} target={TARGET:.2f}"
            )
            # The database's part alone: Saebom's statements, as sent, against the hand-written.
            query_ratio = median["saebom_sql"] / median["baseline"]
            results.append(
                f"RESULT caseload_{name}_query_{args.database}"
                f" ratio={query_ratio:.2f} target={TARGET:.2f}"
            )
        small = saebom_queries(ordinary, None, False, 10)
        big = saebom_queries(largest, None, True, PAGE)
        print(
            f"queries per page  {len(small)} (ordinary agency, 10 rows),"
            f" {len(big)} (largest agency, attention only, {PAGE} rows)"
        )
    for line in results:
        print(line)
    ratio = len(big) / len(small)
    print(
        f"RESULT caseload_queries_per_page_{args.database}"
        f" ratio={ratio:.2f} target={TARGET_QUERIES:.2f}"
    )


if __name__ == "__main__":
    main()
