"""Load: concurrent staff of mixed roles against ``saebom serve`` on PostgreSQL, for a fixed time.

Data (all synthetic). A scratch PostgreSQL database and data directory with fresh keys,
initialised as ``saebom init`` does; N arrivals (100,000 by default) from
``report_arrivals.generated_arrivals`` and M resettlement cases (10,000) from
``caseload.Generated`` (needs assessments, services, follow-ups, members) on the first M of
those people, in two agencies, each arrival in the agency of its case, written by ``COPY``;
one encrypted note per case (``[합성 SYNTHETIC]``); T synthetic testimonies (2,000) from
``saebom.demo.testimonies``. Then one staff account per client with a password, a TOTP
authenticator and an API token: caseworkers (existing members of cases), intake officers,
statisticians, documenters, researchers, auditors and administrators.

Server. ``saebom serve --no-worker`` as a subprocess in its own process group, bound to
127.0.0.1 on a free port, configured as the documented deployment behind a TLS-terminating
reverse proxy (``SAEBOM_BEHIND_PROXY=1``): every client sends ``X-Forwarded-Proto: https`` and
its own ``X-Forwarded-For`` workstation address, and a fresh connection per request, as nginx
does towards its upstream by default.

Load. Each client logs in through the real login flow (password, then the TOTP code computed
from its secret) once, then loops without think time over the pages its role uses, web pages
with its session and API endpoints with its token, until the time is up. Every response must
have status 200 and real content (the signed-in user's name on web pages, the record's id on
detail pages, JSON of the right shape from the API); anything else, and any connection error,
counts as an error. Afterwards the server is stopped (its whole process group) and the
database dropped, whatever happened. Prints per page the count, median, p95 and max latency;
requests per second; mean requests in flight; the load average. Exits 1 on any error.

    .venv/bin/python benchmarks/load_serve.py [--seconds S] [--clients N] [--arrivals N]
        [--cases N] [--testimonies N] [--workers N] [--threads N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from caseload import Generated, write_rows
from harness import ARRIVAL_COLUMNS, scratch_django
from report_arrivals import generated_arrivals
from search_testimonies import QUERIES

HOST = "127.0.0.1"  # loopback only: the server never listens anywhere else
NOW = "2026-11-30 00:00:00"
NOTE = "[합성 SYNTHETIC] 상담 기록: 주거 지원과 취업 교육에 대해 이야기함. Synthetic note."
# The mix of roles among the clients (32 clients: exactly these counts).
ROLE_MIX = {
    "caseworker": 10,
    "intake_officer": 6,
    "documenter": 4,
    "researcher": 4,
    "statistician": 3,
    "admin": 3,
    "auditor": 2,
}
TIMEOUT = 30.0  # seconds a single request may take before it counts as an error
STARTUP_TIMEOUT = 180.0
TOTP_MARGIN = 12.0  # seconds a TOTP code must still be valid for when it is sent
PROVINCES = ("north_hamgyong", "ryanggang", "south_hamgyong", "pyongyang", "kangwon")
DIMENSIONS = ("year", "sex", "origin_province", "age_group", "route", "quarter")
SEARCHES = [query for kind in ("ko", "en", "filtered", "browse") for query in QUERIES[kind]]


# -- data ------------------------------------------------------------------------------------


class CasesOnArrivals(Generated):
    """``caseload.Generated``, but case n belongs to person n of the arrivals already written."""

    def persons(self) -> Iterator[tuple[Any, ...]]:
        return iter(())


@dataclass
class Population:
    agencies: list[Any]  # Agency, in the order of ``data.agency_ids``
    data: CasesOnArrivals
    arrivals: dict[int, list[tuple[int, str]]]  # agency id -> (arrival id, record id)
    cases: dict[int, list[str]]  # agency id -> case public ids
    testimonies: dict[int, list[str]]  # agency id -> testimony public ids
    timings: dict[str, float] = field(default_factory=dict)


def _agency_of_arrival(n: int, data: Generated) -> int:
    if n <= data.cases:
        return data.agency_ids[data.case_agency[n - 1]]
    return data.agency_ids[n % len(data.agency_ids)]


def write_arrivals(count: int, data: Generated) -> None:
    """``count`` persons and their arrivals; person n in the agency of case n (if any)."""
    from django.db import transaction

    with transaction.atomic():
        write_rows(
            "registry_person",
            ("id", "public_id", "is_synthetic", "created_at"),
            ((n, f"P-{n:08d}", True, NOW) for n in range(1, count + 1)),
        )
        write_rows(
            "registry_arrival",
            ARRIVAL_COLUMNS,
            (
                (*row[:2], _agency_of_arrival(row[0], data), *row[3:])
                for batch in generated_arrivals(count, 0)
                for row in batch
            ),
        )


def reset_sequences() -> None:
    """Rows went in with explicit ids: move each id sequence past them for the ORM's inserts."""
    from django.apps import apps
    from django.core.management.color import no_style
    from django.db import connection

    models = [
        model
        for label in ("accounts", "registry", "support")
        for model in apps.get_app_config(label).get_models()
    ]
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(statement)


def write_notes(data: Generated) -> None:
    from saebom.support.models import CaseNote

    CaseNote.objects.bulk_create(
        (
            CaseNote(case_id=n, author_id=data.lead[n - 1], text=NOTE)
            for n in range(1, data.cases + 1)
        ),
        batch_size=2000,
    )


def populate(arrivals: int, cases: int, testimonies: int) -> Population:
    from django.db import connection

    from saebom.accounts.models import Agency
    from saebom.core.actors import system_actor
    from saebom.core.services import installation_init
    from saebom.demo.testimonies import testimonies_bulk_create
    from saebom.registry.models import Arrival
    from saebom.support.models import Case
    from saebom.testimony.models import Testimony

    if cases > arrivals:
        raise SystemExit("--cases may not exceed --arrivals: every case is one arrival's person")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    installation_init(actor=system_actor(), verbosity=0)
    agencies = [
        Agency.objects.get(code="default"),
        Agency.objects.create(code="load-b", name_ko="부하 기관 나", name_en="Load agency B"),
    ]
    data = CasesOnArrivals(cases, [a.pk for a in agencies])
    timings["init"] = time.perf_counter() - started
    started = time.perf_counter()
    write_arrivals(arrivals, data)
    timings["arrivals"] = time.perf_counter() - started
    started = time.perf_counter()
    data.write()
    reset_sequences()
    write_notes(data)
    timings["cases"] = time.perf_counter() - started
    started = time.perf_counter()
    testimonies_bulk_create(agencies=agencies, count=testimonies, seed=6, history=False)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    timings["testimonies"] = time.perf_counter() - started

    def by_agency(rows: Any) -> dict[int, list[Any]]:
        grouped: dict[int, list[Any]] = {a.pk: [] for a in agencies}
        for agency_id, *value in rows:
            grouped[agency_id].append(value[0] if len(value) == 1 else tuple(value))
        return grouped

    return Population(
        agencies=agencies,
        data=data,
        arrivals=by_agency(Arrival.objects.values_list("agency_id", "pk", "record_id")),
        cases=by_agency(Case.objects.values_list("lead_agency_id", "public_id")),
        testimonies=by_agency(Testimony.objects.values_list("agency_id", "public_id")),
        timings=timings,
    )


# -- accounts --------------------------------------------------------------------------------


@dataclass
class Account:
    username: str
    role: str
    agency_id: int
    password: str
    totp_secret: str
    api_token: str
    own_cases: list[str]


def _with_mfa_and_token(user: Any, password: str, role: str, own_cases: list[str]) -> Account:
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from saebom.accounts.services import api_token_create

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    token = api_token_create(actor=user, name="load test")
    return Account(user.username, role, user.agency_id, password, secret, token.secret, own_cases)


def staff_accounts(population: Population, clients: int) -> list[Account]:
    """One account per client, every one with TOTP: caseworkers are existing case members."""
    from saebom.accounts.models import User
    from saebom.accounts.services import user_create, user_set_password
    from saebom.core.actors import system_actor
    from saebom.demo.synthetic import quotas
    from saebom.support.models import CaseMember

    actor, data = system_actor(), population.data
    accounts = []
    unused_workers = [list(workers) for workers in data.workers]
    for n, role in enumerate(quotas(ROLE_MIX, clients)):
        agency_index = n % len(population.agencies)
        agency = population.agencies[agency_index]
        password = secrets.token_urlsafe(16)
        own_cases: list[str] = []
        if role == "caseworker" and unused_workers[agency_index]:
            user = User.objects.get(pk=unused_workers[agency_index].pop(0))
            user_set_password(actor=actor, user=user, password=password)
            own_cases = list(
                CaseMember.objects.filter(user=user).values_list("case__public_id", flat=True)
            )
        else:  # a caseworker too many for the small data sets of a smoke run has no cases yet
            user = user_create(
                actor=actor,
                username=f"load-{role}-{n:02d}",
                role=role,
                agency_code=agency.code,
                password=password,
            )
        accounts.append(_with_mfa_and_token(user, password, role, own_cases))
    return accounts


# -- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def serving(data_dir: Path, workers: int, threads: int) -> Iterator[Server]:
    """``saebom serve`` on the loopback address; its process group is ended on the way out."""
    port = free_port()
    log = data_dir / "serve.log"
    environment = dict(os.environ, SAEBOM_BEHIND_PROXY="1", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "saebom.cli", "serve", "--no-worker", "--host", HOST]
    command += ["--port", str(port), "--workers", str(workers), "--threads", str(threads)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(port, process, log)
    try:
        wait_until_up(server)
        yield server
    finally:
        stop(process)


def wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"saebom serve exited:\n{server.log.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection(HOST, server.port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"saebom serve did not answer in {STARTUP_TIMEOUT:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


# -- a client --------------------------------------------------------------------------------


class Failed(Exception):
    pass


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


class Browser:
    """One staff member's session: cookies, a workstation address seen through the proxy."""

    def __init__(self, port: int, address: str, account: Account) -> None:
        self.port = port
        self.account = account
        self.cookies: dict[str, str] = {}
        self.headers = {
            "X-Forwarded-For": address,
            "X-Forwarded-Proto": "https",
            "User-Agent": "saebom-load/1",
            "Connection": "close",
        }

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None, api: bool = False
    ) -> Response:
        headers = dict(self.headers)
        if api:
            headers["Authorization"] = f"Bearer {self.account.api_token}"
        elif self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"https://{HOST}:{self.port}"
        connection = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            result = Response(response.status, response.msg, response.read())
        finally:
            connection.close()
        if not api:
            self._keep_cookies(result.headers)
        return result

    def _keep_cookies(self, headers: http.client.HTTPMessage) -> None:
        for header in headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)

    def log_in(self) -> None:
        """Password, then the TOTP code, through the same forms a person uses."""
        page = self.request("GET", "/accounts/login/")
        after_password = self.request(
            "POST",
            "/accounts/login/",
            {"login": self.account.username, "password": self.account.password}
            | {"csrfmiddlewaretoken": _csrf(page)},
        )
        if after_password.status != 302:
            raise Failed(
                f"password step gave {after_password.status}{_form_errors(after_password)}"
            )
        mfa_path = urlsplit(after_password.headers["Location"]).path
        mfa_page = self.request("GET", mfa_path)
        code = totp_code(self.account.totp_secret, fresh_for=TOTP_MARGIN)
        signed_in = self.request(
            "POST", mfa_path, {"code": code, "csrfmiddlewaretoken": _csrf(mfa_page)}
        )
        if signed_in.status != 302 or urlsplit(signed_in.headers["Location"]).path != "/":
            raise Failed(f"TOTP step gave {signed_in.status}{_form_errors(signed_in)}")


def _form_errors(page: Response) -> str:
    """The form's error messages, to say why a login step was refused."""
    found = re.findall(rb'class="errorlist[^"]*"[^>]*>(.*?)</ul>', page.body, re.S)
    text = re.sub(r"<[^>]+>", " ", b" ".join(found).decode(errors="replace"))
    return f" ({' '.join(text.split())})" if text.strip() else ""


def _csrf(page: Response) -> str:
    found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    if page.status != 200 or not found:
        raise Failed(f"no login form (status {page.status})")
    return found.group(1).decode()


def totp_code(secret: str, fresh_for: float) -> str:
    """The current code, once it stays valid for ``fresh_for`` seconds more: the server accepts
    only the current 30 s period, and a code sent just before the period ends can arrive after
    it (as a careful person waits for the next code when the authenticator's timer runs low)."""
    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import (
        format_hotp_value,
        hotp_value,
        yield_hotp_counters_from_time,
    )

    period = app_settings.TOTP_PERIOD
    left = period - time.time() % period
    if left < fresh_for:
        time.sleep(left + 0.1)
    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))


# -- what each role does ---------------------------------------------------------------------


@dataclass(frozen=True)
class Visit:
    page: str  # the label in the report
    path: str
    must_contain: str = ""  # besides the signed-in user's name (web) or valid JSON (API)
    api: bool = False


Pick = Callable[[random.Random, Account, Population], Visit]


def _arrival(rng: random.Random, account: Account, population: Population) -> Visit:
    pk, record_id = rng.choice(population.arrivals[account.agency_id])
    return Visit("arrival detail", f"/arrivals/{pk}/", record_id)


def _arrival_list(rng: random.Random, account: Account, population: Population) -> Visit:
    year = rng.randint(1995, 2022)
    filters = {"year_from": year, "year_to": year + rng.randint(0, 5), "sex": rng.choice("FM")}
    if rng.random() < 0.5:
        filters["origin_province"] = rng.choice(PROVINCES)
    page = f"&page={rng.randint(1, 5)}" if rng.random() < 0.3 else ""
    return Visit("arrival list (filtered)", f"/arrivals/?{urlencode(filters)}{page}")


def _arrival_search(rng: random.Random, account: Account, population: Population) -> Visit:
    pk, _record_id = rng.choice(population.arrivals[account.agency_id])
    return Visit("arrival list (public id)", f"/arrivals/?public_id=P-{pk:08d}", f"P-{pk:08d}")


def _case(rng: random.Random, account: Account, population: Population) -> Visit:
    own = account.own_cases and rng.random() < 0.6
    public_id = rng.choice(account.own_cases if own else population.cases[account.agency_id])
    return Visit("case detail", f"/cases/{public_id}/", public_id)


def _stats(rng: random.Random, account: Account, population: Population) -> Visit:
    first, second = rng.sample(DIMENSIONS, 2)
    query = {"first": first, "second": second, "year_from": rng.randint(1995, 2015)}
    return Visit("statistics table", f"/stats/?{urlencode(query)}")


def _testimony_search(rng: random.Random, account: Account, population: Population) -> Visit:
    query, filters = rng.choice(SEARCHES)
    return Visit("testimony search", f"/testimonies/?{urlencode({'q': query} | filters)}")


def _testimony(rng: random.Random, account: Account, population: Population) -> Visit:
    public_id = rng.choice(population.testimonies[account.agency_id])
    return Visit("testimony detail", f"/testimonies/{public_id}/", public_id)


def _api_cases(rng: random.Random, account: Account, population: Population) -> Visit:
    return Visit("api cases", "/api/v1/cases?mine=true&limit=50", api=True)


def _api_case(rng: random.Random, account: Account, population: Population) -> Visit:
    public_id = rng.choice(account.own_cases or population.cases[account.agency_id])
    return Visit("api case detail", f"/api/v1/cases/{public_id}", public_id, api=True)


def _api_arrivals(rng: random.Random, account: Account, population: Population) -> Visit:
    year = rng.randint(1995, 2020)
    return Visit("api arrivals", f"/api/v1/arrivals?year_from={year}&limit=100", api=True)


def _api_stats(rng: random.Random, account: Account, population: Population) -> Visit:
    first, second = rng.sample(DIMENSIONS, 2)
    return Visit("api statistics", f"/api/v1/stats/arrivals?by={first},{second}", api=True)


def _api_testimonies(rng: random.Random, account: Account, population: Population) -> Visit:
    query, _filters = rng.choice(SEARCHES)
    return Visit("api testimony search", f"/api/v1/testimonies?{urlencode({'q': query})}", api=True)


def _fixed(page: str, path: str, api: bool = False) -> Pick:
    return lambda rng, account, population: Visit(page, path, api=api)


DASHBOARD = _fixed("dashboard", "/")
PAGES: dict[str, list[tuple[Pick, int]]] = {
    "caseworker": [
        (DASHBOARD, 1),
        (_fixed("caseload (mine)", "/cases/"), 2),
        (_fixed("caseload (agency, attention)", "/cases/?scope=agency&attention=on"), 1),
        (_case, 4),
        (_arrival, 1),
        (_arrival_list, 1),
        (_api_cases, 1),
        (_api_case, 1),
    ],
    "intake_officer": [
        (DASHBOARD, 1),
        (_arrival_list, 3),
        (_arrival_search, 2),
        (_arrival, 3),
        (_stats, 1),
        (_api_arrivals, 1),
    ],
    "documenter": [
        (DASHBOARD, 1),
        (_fixed("testimony list", "/testimonies/"), 2),
        (_testimony_search, 3),
        (_testimony, 3),
        (_api_testimonies, 1),
    ],
    "researcher": [
        (DASHBOARD, 1),
        (_stats, 2),
        (_fixed("outcome statistics", "/cases/outcomes/"), 1),
        (_fixed("testimony list", "/testimonies/"), 1),
        (_testimony_search, 3),
        (_api_testimonies, 1),
        (_api_stats, 1),
    ],
    "statistician": [
        (DASHBOARD, 1),
        (_stats, 4),
        (_fixed("outcome statistics", "/cases/outcomes/"), 1),
        (_api_stats, 2),
    ],
    "admin": [
        (DASHBOARD, 1),
        (_fixed("caseload (agency)", "/cases/"), 1),
        (_case, 1),
        (_arrival_list, 1),
        (_arrival, 1),
        (_fixed("audit log", "/audit/"), 1),
        (_fixed("users", "/users/"), 1),
        (_stats, 1),
        (_fixed("testimony list", "/testimonies/"), 1),
        (_fixed("api me", "/api/v1/me", api=True), 1),
    ],
    "auditor": [
        (DASHBOARD, 1),
        (_fixed("audit log", "/audit/"), 3),
        (_fixed("audit log (logins)", "/audit/?action=login"), 2),
        (_fixed("users", "/users/"), 1),
        (_fixed("api audit events", "/api/v1/audit/events?limit=100", api=True), 1),
    ],
}


def check(visit: Visit, account: Account, response: Response) -> str:
    """What is wrong with the response ("" when nothing is)."""
    if response.status != 200:
        location = response.headers.get("Location", "")
        return f"status {response.status}" + (f" to {urlsplit(location).path}" if location else "")
    if visit.api:
        try:
            payload = json.loads(response.body)
        except ValueError:
            return "not JSON"
        if not isinstance(payload, list | dict):
            return "unexpected JSON"
    elif f'<span class="whoami">{account.username} '.encode() not in response.body:
        return "page without the signed-in user"
    if visit.must_contain and visit.must_contain.encode() not in response.body:
        return f"page without {visit.must_contain}"
    return ""


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, page: str, seconds: float, problem: str) -> None:
        with self.lock:
            self.latencies.setdefault(page, []).append(seconds)
            if problem:
                self.errors[page] += 1
                if len(self.examples) < 20:
                    self.examples.append(f"{page}: {problem}")


def client_loop(
    browser: Browser, population: Population, deadline: float, tally: Tally, seed: int
) -> None:
    rng = random.Random(seed)
    picks, weights = zip(*PAGES[browser.account.role], strict=True)
    while time.monotonic() < deadline:
        visit = rng.choices(picks, weights)[0](rng, browser.account, population)
        started = time.perf_counter()
        try:
            response = browser.request("GET", visit.path, api=visit.api)
            problem = check(visit, browser.account, response)
        except (OSError, http.client.HTTPException) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        tally.record(visit.page, time.perf_counter() - started, problem)


def log_in_all(browsers: Sequence[Browser]) -> list[str]:
    """Every client signs in at once; returns the failures."""
    failures: list[str] = []

    def one(browser: Browser) -> None:
        try:
            browser.log_in()
        except (Failed, OSError, http.client.HTTPException) as exc:
            failures.append(f"{browser.account.username}: {exc}")

    run_threads([lambda b=b: one(b) for b in browsers], TIMEOUT * 4)
    return failures


def run_threads(jobs: Sequence[Callable[[], None]], limit: float) -> None:
    threads = [threading.Thread(target=job, daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + limit
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("clients did not stop in time")


def sample_load(stop_at: float, samples: list[float]) -> None:
    while time.monotonic() < stop_at:
        samples.append(float(Path("/proc/loadavg").read_text().split()[0]))
        time.sleep(5)


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """Nearest rank."""
    rank = max(1, -(-len(sorted_values) * share // 1))
    return sorted_values[int(rank) - 1]


def report(tally: Tally, seconds: float, clients: int) -> int:
    rows = sorted(tally.latencies.items())
    total = sum(len(v) for _, v in rows)
    busy = sum(sum(v) for _, v in rows)
    print(f"{'page':<30} {'count':>6} {'errors':>6} {'median':>8} {'p95':>8} {'max':>8}  (ms)")
    for page, values in rows:
        ordered = sorted(values)
        print(
            f"{page:<30} {len(values):>6} {tally.errors[page]:>6}"
            f" {percentile(ordered, 0.5) * 1000:>8.0f} {percentile(ordered, 0.95) * 1000:>8.0f}"
            f" {ordered[-1] * 1000:>8.0f}"
        )
    everything = sorted(v for _, values in rows for v in values)
    errors = sum(tally.errors.values())
    print(
        f"{'all pages':<30} {total:>6} {errors:>6}"
        f" {percentile(everything, 0.5) * 1000:>8.0f} {percentile(everything, 0.95) * 1000:>8.0f}"
        f" {everything[-1] * 1000:>8.0f}"
    )
    print(
        f"throughput        {total / seconds:.1f} requests/s over {seconds:.1f} s;"
        f" mean requests in flight {busy / seconds:.1f} of {clients} clients"
    )
    for example in tally.examples:
        print(f"  error: {example}")
    return errors


def server_statuses(log: Path) -> Counter[str]:
    """Status codes in gunicorn's access log (``h "m path" status bytes time``)."""
    found = re.findall(r'^\S+ "[A-Z]+ [^"]*" (\d{3}) ', log.read_text(errors="replace"), re.M)
    return Counter(found)


def print_server_errors(log: Path, lines: int = 60) -> None:
    """The end of what the server wrote besides its access log: tracebacks, warnings."""
    access = re.compile(r'^\S+ "[A-Z]+ [^"]*" \d{3} ')
    other = [
        line for line in log.read_text(errors="replace").splitlines() if not access.match(line)
    ]
    print("server output (last lines besides the access log):")
    for line in other[-lines:]:
        print(f"  | {line}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--arrivals", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--testimonies", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    # A SIGTERM (make interrupted, a CI timeout) unwinds like ^C: server stopped, database dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scratch = f"saebom_bench_load_{os.getpid()}_{secrets.token_hex(3)}"
    with scratch_django("postgres", scratch) as data_dir:
        errors = run(args, data_dir)
    sys.exit(1 if errors else 0)


def run(args: argparse.Namespace, data_dir: Path) -> int:
    print(f"machine           {os.cpu_count()} cores; load average {_loadavg()}")
    population, accounts = prepare(args)
    started = time.perf_counter()
    with serving(data_dir, args.workers, args.threads) as server:
        print(
            f"server            saebom serve on {HOST}:{server.port}, {args.workers} workers"
            f" x {args.threads} threads, up in {time.perf_counter() - started:.1f} s"
        )
        browsers = [
            Browser(server.port, f"10.20.{n // 250}.{n % 250 + 1}", account)
            for n, account in enumerate(accounts)
        ]
        if not signed_in(browsers, server):
            return 1
        tally, elapsed, loads = load(browsers, population, args.seconds)
    errors = report(tally, elapsed, len(browsers))
    statuses = server_statuses(server.log)
    server_errors = sum(n for code, n in statuses.items() if code.startswith("5"))
    print(
        f"timing            clients stopped sending at {args.seconds:.1f} s,"
        f" the last response came at {elapsed:.1f} s"
    )
    print(
        f"server log        {sum(statuses.values())} responses: "
        + ", ".join(f"{code} x{n}" for code, n in sorted(statuses.items()))
    )
    print(
        f"load average      {min(loads):.2f}-{max(loads):.2f} (1 min) during the run;"
        f" now {_loadavg()}"
    )
    if errors or server_errors:
        print_server_errors(server.log)
    print(f"RESULT load_serve errors={errors} server_5xx={server_errors} target=0")
    return errors + server_errors


def prepare(args: argparse.Namespace) -> tuple[Population, list[Account]]:
    started = time.perf_counter()
    population = populate(args.arrivals, args.cases, args.testimonies)
    built = time.perf_counter() - started
    started = time.perf_counter()
    accounts = staff_accounts(population, args.clients)
    population.timings["accounts"] = time.perf_counter() - started
    counts = population.data.counts
    print(
        f"population        {built + population.timings['accounts']:.1f} s"
        f" ({', '.join(f'{k} {v:.1f} s' for k, v in population.timings.items())}):"
        f" {args.arrivals:,} arrivals, {counts['support_case']:,} cases"
        f" ({counts['support_service']:,} services, {counts['support_followup']:,} follow-ups,"
        f" {counts['support_needscore']:,} need scores, {args.cases:,} notes),"
        f" {args.testimonies:,} testimonies; all synthetic"
    )
    print(
        "clients           "
        + ", ".join(f"{r} {n}" for r, n in Counter(a.role for a in accounts).items())
    )
    return population, accounts


def signed_in(browsers: Sequence[Browser], server: Server) -> bool:
    started = time.perf_counter()
    failures = log_in_all(browsers)
    print(
        f"logins            {len(browsers) - len(failures)} of {len(browsers)} with TOTP"
        f" in {time.perf_counter() - started:.1f} s"
    )
    for failure in failures:
        print(f"  login failed: {failure}")
    if failures:
        print_server_errors(server.log)
        print(f"RESULT load_serve errors={len(failures)} target=0")
    return not failures


def load(
    browsers: Sequence[Browser], population: Population, seconds: float
) -> tuple[Tally, float, list[float]]:
    """Every client busy until ``seconds`` have passed; the tally, the time until the last
    response, and the load average sampled meanwhile."""
    tally = Tally()
    loads: list[float] = []
    started = time.monotonic()
    deadline = started + seconds
    jobs: list[Callable[[], None]] = [
        lambda b=b, n=n: client_loop(b, population, deadline, tally, n)
        for n, b in enumerate(browsers)
    ]
    jobs.append(lambda: sample_load(deadline, loads))
    run_threads(jobs, seconds + TIMEOUT + 10)
    return tally, time.monotonic() - started, loads


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
