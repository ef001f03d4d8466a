"""Cross-site scripting, checked in a real browser (Debian's chromium via Playwright).

Every payload of ``tests/xss_payloads.py`` is stored, through the services, in 42 free-text
fields: registry (record id, names, aliases), support (every part of a case, referral purposes
and decline reasons, benefit rate sources), testimony (interview, consent notes, individuals,
incidents, acts, corroboration labels, places, evidence descriptions and file names), accounts
(agency names, API token names) and the testimony search box (several payloads to a query).
Not every free-text field is covered: among others, referral revocation reasons, testimony
correction reasons, consent withdrawal notes and working copies' descriptions are not. Then
every page that shows each of these fields is opened in the browser as someone who may read
it, and the test asserts that

- no payload ran (an init script defines ``__xss`` and records every call) and none made the
  browser fetch anything under ``/__xss/``;
- the page reported no Content-Security-Policy violation, no script error and no console error;
- each stored value is on the page as text (or as a form field's value): a page that did not
  show the field would otherwise pass without proving anything.

The second test types five of the most dangerous payloads into the real forms in the browser,
as the roles who use them: a case note (an htmx form), an API token's name, the free-text
fields of a new testimony, and an evidence upload's texts and file name (multipart, with five
payloads that reach the server whole). It checks the page each form leads to, and the pages
that list the values when opened again, the same way.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Request, expect
from pytest_django.live_server_helper import LiveServer

from saebom.accounts import services as account_services
from saebom.accounts.models import Agency, User
from saebom.core import vocab
from saebom.core.actors import SystemActor
from saebom.core.policy import Role
from saebom.registry import services as registry_services
from saebom.registry.interchange import ArrivalData, PartialDate
from saebom.registry.models import Arrival
from saebom.support import selectors as support_selectors
from saebom.support import services as support_services
from saebom.support.models import Case
from saebom.testimony import models as testimony_models
from saebom.testimony import services as testimony_services
from saebom.testimony.filetypes import safe_display_name
from saebom.testimony.forms import SearchForm
from tests.browser import (  # noqa: F401 (fixtures)
    TIMEOUT_MS,
    browser_fixture,
    chromium_fixture,
    htmx_settled,
    sign_in_by_cookie,
)
from tests.factories import AgencyFactory, UserFactory
from tests.testimony.conftest import load_gazetteer
from tests.xss_payloads import MARKER_CALL, MARKER_PATH, PAYLOADS, fit, tagged

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

# Records what a payload would do if it ran, and what the page itself gets wrong: violations
# of the policy and uncaught errors. Runs in every frame before the page's own scripts.
_RECORDER = f"""
window.__xssCalls = [];
window.__cspViolations = [];
window.__pageErrors = [];
window.{MARKER_CALL} = (n) => {{
  try {{ window.top.__xssCalls.push(n); }} catch (e) {{ window.__xssCalls.push(n); }}
}};
document.addEventListener("securitypolicyviolation", (event) => {{
  window.__cspViolations.push(`${{event.violatedDirective}} ${{event.blockedURI || "inline"}}`
    + ` (${{event.sourceFile}}:${{event.lineNumber}})`);
}});
window.addEventListener("error", (event) => {{ window.__pageErrors.push(String(event.message)); }});
"""

_PAGE_STATE = """() => ({
  calls: window.__xssCalls,
  csp: window.__cspViolations,
  errors: window.__pageErrors,
  text: document.documentElement.textContent,
  values: [...document.querySelectorAll("input, textarea")].map((element) => element.value),
})"""


def _squeezed(text: str) -> str:
    """Without white space: ``linebreaks`` turns a newline into markup, the page folds spaces."""
    return re.sub(r"\s+", "", text)


@dataclass(frozen=True)
class Shown:
    """A value stored in a field, expected on a page."""

    field: str
    value: str


@dataclass
class Corpus:
    """Where each stored value must be shown, page by page (a paginated list is one entry with
    several addresses: the value may be on any of them)."""

    pages: dict[tuple[str, tuple[str, ...]], list[Shown]] = field(default_factory=dict)
    fields: set[str] = field(default_factory=set)
    stored: int = 0

    def expect(self, viewer: str, paths: str | tuple[str, ...], field: str, value: str) -> None:
        key = (viewer, paths if isinstance(paths, tuple) else (paths,))
        self.pages.setdefault(key, []).append(Shown(field, value))
        self.fields.add(field)

    def store(self, viewer: str, paths: str | tuple[str, ...], field: str, value: str) -> str:
        """Count a stored value and expect it on the page; returns it, for the service call."""
        self.stored += 1
        self.expect(viewer, paths, field, value)
        return value


@dataclass
class Findings:
    """What went wrong in the browser, for one assertion at the end."""

    executed: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pages: int = 0
    checks: int = 0

    def assert_clean(self) -> None:
        found = {"executed": self.executed, "violations": self.violations, "missing": self.missing}
        assert not any(found.values()), {kind: items[:20] for kind, items in found.items()}


class Viewer:
    """One signed-in browser context, watching for payload traces."""

    def __init__(self, browser: Browser, base_url: str, user: User, findings: Findings) -> None:
        self.context: BrowserContext = browser.new_context(locale="ko-KR")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.add_init_script(_RECORDER)
        self.base_url, self.findings = base_url, findings
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", self._console)
        self.page.on("request", self._request)
        sign_in_by_cookie(self.page, base_url, user)

    def _console(self, message: ConsoleMessage) -> None:
        if message.location.get("url", "").endswith("/favicon.ico"):
            return  # the browser asks for one on its own; the site has none
        if message.type == "error" or "Content Security Policy" in message.text:
            self.console.append(f"{message.type}: {message.text}")

    def _request(self, request: Request) -> None:
        # The path only: a search for a payload carries its text in the query string.
        if MARKER_PATH in urlsplit(request.url).path:
            self.findings.executed.append(f"fetched {request.url}")

    def open(self, path: str, then: Callable[[Page], None] | None = None) -> str:
        """Open a page (and do ``then`` on it); returns its text and field values, squeezed,
        after recording any trace of a payload, violation or error."""
        self.console.clear()
        self.page.goto(self.base_url + path)
        htmx_settled(self.page)
        if then is not None:
            then(self.page)
            htmx_settled(self.page)
        self.page.wait_for_timeout(30)  # lets a meta refresh or a load trigger fire
        state = self.page.evaluate(_PAGE_STATE)
        self.findings.pages += 1
        where = f"{path} ({self.page.url})"
        self.findings.executed += [f"{MARKER_CALL}({n}) on {where}" for n in state["calls"]]
        self.findings.violations += [f"CSP {v} on {where}" for v in state["csp"]]
        self.findings.violations += [f"error {e} on {where}" for e in state["errors"]]
        self.findings.violations += [f"console {m} on {where}" for m in self.console]
        return _squeezed(state["text"] + "\n".join(state["values"]))

    def check(
        self, paths: tuple[str, ...], shown: list[Shown], then: Callable[[Page], None] | None = None
    ) -> None:
        content = "".join(self.open(path, then) for path in paths)
        for item in shown:
            self.findings.checks += 1
            if _squeezed(item.value) not in content:
                self.findings.missing.append(f"{item.field}={item.value!r} not shown on {paths}")

    def close(self) -> None:
        self.context.close()


# --- storing the corpus ------------------------------------------------------------------------


@dataclass
class People:
    officer: User
    caseworker: User
    documenter: User
    admin: User
    auditor: User
    receiver: User  # caseworker of the agency that gets pending referrals
    decliner: User  # caseworker of the agency that declines referrals


def _first(vocabulary: str) -> str:
    return vocab.codes(vocabulary)[0]


def _pages(path: str, count: int, size: int) -> tuple[str, ...]:
    return tuple(f"{path}?page={number}" for number in range(1, (count + size - 1) // size + 1))


# Payloads per case, testimony, identity and evidence record: a page loads once per group. A
# case records one milestone of each kind per payload, and there are eight kinds.
GROUP = 8


def _groups() -> list[list[str]]:
    return [PAYLOADS[start : start + GROUP] for start in range(0, len(PAYLOADS), GROUP)]


def _search_batches(limit: int = SearchForm.QUERY_MAX) -> list[list[str]]:
    """The payloads in as few search-box queries (joined by spaces) as fit the box."""
    batches: list[list[str]] = [[]]
    for payload in PAYLOADS:
        assert len(payload) <= limit
        if len(" ".join([*batches[-1], payload])) > limit:
            batches.append([])
        batches[-1].append(payload)
    return batches


def _joined(group: list[str], tag: str) -> str:
    """A field that holds one value per record gets the group's payloads, one a line."""
    return "\n".join(tagged(payload, tag) for payload in group)


def store_arrivals(corpus: Corpus, people: People) -> list[Arrival]:
    """One arrival per payload (its record id); the first of each group carries the group's
    payloads in the names, and a later arrival of the same person adds them as aliases."""
    leaders = []
    list_pages = _pages(reverse("registry:arrival_list"), len(PAYLOADS) + len(_groups()), 50)
    for group in _groups():
        arrivals = []
        for payload in group:
            record_id = corpus.store("officer", list_pages, "record_id", tagged(payload, "rid", 64))
            named = not arrivals
            data = ArrivalData(
                record_id=record_id,
                arrival=PartialDate(date(2023, 5, 1), "day"),
                sex="F",
                birth_year=1990,
                name_ko=_joined(group, "name_ko") if named else "",
                name_en=_joined(group, "name_en") if named else "",
            )
            arrivals.append(registry_services.arrival_create(actor=people.officer, data=data))
        leader = arrivals[0]
        again = ArrivalData(
            record_id=f"again-{leader.pk}",
            arrival=PartialDate(date(2024, 1, 1), "day"),
            name_ko=_joined(group, "alias"),
        )
        registry_services.arrival_create(actor=people.officer, data=again, link_to=leader.person)
        detail = f"{reverse('registry:arrival_detail', args=[leader.pk])}#identity"
        corpus.expect("officer", detail, "record_id", leader.record_id)
        for name in ("name_ko", "name_en", "alias"):
            for payload in group:
                corpus.store("officer", detail, name, tagged(payload, name))
        leaders.append(leader)
    return leaders


def store_cases(corpus: Corpus, people: People, arrivals: list[Arrival]) -> None:
    today = support_selectors.today()
    actor = people.caseworker
    beta, gamma = people.receiver.agency, people.decliner.agency
    inbox = _pages(reverse("support:referrals"), len(PAYLOADS), 50)
    milestones, domains = vocab.codes("milestone"), vocab.codes("need_domain")
    assert len(milestones) >= GROUP and len(domains) >= GROUP
    for group, arrival in zip(_groups(), arrivals, strict=True):
        case = support_services.case_open(
            actor=actor,
            person=arrival.person,
            opened_on=date(2024, 1, 10),
            protection_start=date(2024, 1, 15),
        )
        page = reverse("support:case_detail", args=[case.public_id])

        def shown(name: str, payload: str, limit: int | None = None) -> str:
            return corpus.store("caseworker", page, name, tagged(payload, name, limit))  # noqa: B023

        def joined(name: str) -> str:
            for payload in group:  # noqa: B023
                corpus.store("caseworker", page, name, tagged(payload, name))  # noqa: B023
            return _joined(group, name)  # noqa: B023

        support_services.officer_set(
            actor=actor,
            case=case,
            kind=_first("protection_officer"),
            name=joined("officer_name"),
            organisation=joined("officer_org"),
            phone=joined("officer_phone"),
            email=joined("officer_email"),
        )
        notes = {payload: shown("need", payload) for payload in group}
        support_services.assessment_record(
            actor=actor,
            case=case,
            assessed_on=date(2024, 2, 1),
            needs={
                domain: support_services.Need(1, notes.get(payload, ""))
                for domain, payload in zip(domains, [*group, *[""] * len(domains)], strict=False)
            },
        )
        for n, payload in enumerate(group):
            support_services.milestone_record(
                actor=actor,
                case=case,
                kind=milestones[n],
                reached_on=date(2024, 2, 1),
                note=shown("milestone", payload, 300),
            )
            case.refresh_from_db()
            support_services.protection_extend(
                actor=actor,
                case=case,
                decided_on=date(2024, 3, 1),
                new_end=case.protection_end + timedelta(days=30),
                reason=shown("extension", payload),
            )
            support_services.household_add(
                actor=actor,
                case=case,
                name=shown("household", payload),
                relation=_first("household_relation"),
                location=_first("household_location"),
            )
            support_services.goal_add(
                actor=actor, case=case, domain=domains[0], description=shown("goal", payload)
            )
            support_services.service_add(
                actor=actor, case=case, kind=_first("service_type"), note=shown("service", payload)
            )
            support_services.payment_record(
                actor=actor,
                case=case,
                kind=_first("benefit"),
                amount_krw=100_000,
                paid_on=date(2024, 2, 1),
                note=shown("payment", payload, 300),
            )
            followup = support_services.followup_schedule(
                actor=actor, case=case, due_on=date(2024, 4, 1), channel=_first("followup_channel")
            )
            support_services.followup_update(
                actor=actor,
                followup=followup,
                expected_version=followup.version,
                status="done",
                outcome=shown("followup", payload),
            )
            support_services.note_add(actor=actor, case=case, text=shown("note", payload))

            def refer(to: Agency, purpose: str) -> Any:
                return support_services.referral_send(
                    actor=actor,
                    case=case,  # noqa: B023
                    to_agency=to,
                    sections=("profile", "needs"),
                    purpose=purpose,
                    consent_given_on=today,
                    valid_until=today + timedelta(days=180),
                )

            purpose = shown("purpose", payload, 500)
            corpus.expect("receiver", inbox, "purpose", purpose)
            refer(beta, purpose)
            declined = refer(gamma, shown("declined_purpose", payload, 500))
            reason = corpus.store(
                "decliner", inbox, "decline_reason", tagged(payload, "decline_reason", 500)
            )
            support_services.referral_decline(
                actor=people.decliner, referral=declined, reason=reason
            )
            agency_name = shown("agency", payload, 200)
            named = AgencyFactory(
                code=f"xss-{PAYLOADS.index(payload)}", name_ko=agency_name, name_en=agency_name
            )
            refer(named, "referral to a named agency")

    for n, payload in enumerate(PAYLOADS, 1):
        source = tagged(payload, "rate_source", 300)
        support_services.benefit_rate_set(
            actor=SystemActor(os_user="operator"),  # national figures: the operator keeps them
            year=1960 + n,
            kind=_first("benefit_rate"),
            amount_krw=1_000,
            source=corpus.store("caseworker", reverse("support:rates"), "rate_source", source),
        )
        token = tagged(payload, "token", 100)
        account_services.api_token_create(
            actor=actor, name=corpus.store("caseworker", reverse("web:api_tokens"), "token", token)
        )


def store_testimonies(corpus: Corpus, people: People) -> None:
    actor, admin = people.documenter, people.admin
    province = testimony_models.Place.objects.filter(kind="province").order_by("code").first()
    assert province is not None, "the gazetteer is loaded"
    anchor = testimony_services.testimony_create(
        actor=actor,
        interview_date=date(2024, 5, 1),
        language="ko",
        summary="anchor",
        consent_scope="publish_anonymised",
        consent_given_on=date(2024, 5, 1),
    )
    anchor_incident = testimony_services.incident_add(actor=actor, testimony=anchor)
    act_values = {
        "act_type": _first("act_type"),
        "connection": "experienced",
        "reliability": "B",
        "credibility": "2",
    }
    results = _pages(reverse("testimony:testimony_list"), len(_groups()) + 1, 25)
    files = _pages(reverse("testimony:evidence_list"), len(PAYLOADS), 25)
    corroboration = reverse("testimony:corroboration")
    places = reverse("testimony:places")
    for group in _groups():
        fields = {
            name: _joined(group, name)
            for name in ("summary", "transcript", "witness_identity", "interview_place")
        }
        testimony = testimony_services.testimony_create(
            actor=actor,
            interview_date=date(2024, 5, 2),
            language="ko",
            witness_sex="F",
            consent_scope="publish_anonymised",
            consent_given_on=date(2024, 5, 2),
            **fields,
        )
        page = reverse("testimony:testimony_detail", args=[testimony.public_id])
        for payload in group:
            for name in fields:
                corpus.store("documenter", page, name, tagged(payload, name))
        # The list cuts summaries at 200 characters: the first payload is whole there.
        corpus.expect("documenter", results, "summary", tagged(group[0], "summary"))

        for payload in group:
            n = PAYLOADS.index(payload) + 1

            def value(name: str, limit: int | None = None) -> str:
                return corpus.store("documenter", page, name, tagged(payload, name, limit))  # noqa: B023

            testimony_services.consent_change(
                actor=actor,
                testimony=testimony,
                scope="publish_anonymised",
                effective_on=date(2024, 5, 2),
                note=value("consent_note"),
            )
            place_name = tagged(payload, "place", 120)
            place = testimony_services.place_create(
                actor=admin,
                kind="facility",
                name_ko=place_name,
                name_en=place_name,
                parent=province.code,
                facility_type=_first("facility_type"),
                facility_number=fit(payload, 12),
            )
            corpus.store("documenter", places, "place", place_name)
            corpus.expect("documenter", places, "facility_number", fit(payload, 12).strip())
            corpus.expect("documenter", page, "place", place_name)
            corpus.expect("documenter", corroboration, "place", place_name)
            victim = testimony_services.individual_add(
                actor=actor, testimony=testimony, role="victim", name=value("victim")
            )
            perpetrator = testimony_services.individual_add(
                actor=actor,
                testimony=testimony,
                role="perpetrator",
                name=value("perpetrator"),
                institution=_first("institution"),
                unit=value("unit", 200),
                rank=value("rank", 100),
            )
            incident = testimony_services.incident_add(
                actor=actor,
                testimony=testimony,
                date_start=date(2009, 3, 1),
                date_precision="month",
                place=place.code,
                place_detail=value("place_detail"),
                description=value("incident"),
            )
            act = testimony_services.act_add(
                actor=actor,
                incident=incident,
                victims=[victim.pk],
                perpetrators=[(perpetrator.pk, _first("involvement"))],
                notes=value("act_notes"),
                **act_values,
            )
            twin = testimony_services.act_add(actor=actor, incident=anchor_incident, **act_values)
            label = value("label", 200)
            corpus.expect("documenter", corroboration, "label", label)
            testimony_services.acts_corroborate(actor=actor, acts=[twin, act], label=label)

            # One file per payload (its name); the group's first carries the group's record
            # texts, so that one evidence page per group shows them all.
            leads = payload == group[0]
            filename = f"{payload} file.txt"
            evidence = testimony_services.evidence_upload(
                actor=actor,
                filename=filename,
                data=f"statement {n}\n".encode(),
                received_from=_joined(group, "received_from") if leads else "",
                received_on=date(2024, 5, 3),
                description=_joined(group, "evidence_description") if leads else "",
            )
            testimony_services.evidence_link(actor=actor, evidence=evidence, testimony=testimony)
            shown_name = safe_display_name(filename)
            corpus.expect("documenter", page, "file_name", shown_name)
            corpus.store("documenter", files, "file_name", shown_name)
            if leads:
                evidence_page = reverse("testimony:evidence_detail", args=[evidence.public_id])
                for name in ("received_from", "evidence_description"):
                    for member in group:
                        corpus.store("documenter", evidence_page, name, tagged(member, name))
                corpus.expect("documenter", evidence_page, "file_name", shown_name)

    # The search box: the query comes back in the form, several payloads to a query.
    for batch in _search_batches():
        search = f"{reverse('testimony:testimony_list')}?q={quote(' '.join(batch))}"
        for payload in batch:
            corpus.store("documenter", search, "search_query", payload)


@pytest.fixture
def people(db: None) -> People:
    alpha = AgencyFactory(code="alpha", name_ko="알파 센터", name_en="Alpha Centre")
    beta = AgencyFactory(code="beta", name_ko="베타 센터", name_en="Beta Centre")
    gamma = AgencyFactory(code="gamma", name_ko="감마 센터", name_en="Gamma Centre")

    def user(role: str, name: str, agency: Agency = alpha) -> User:
        return UserFactory(role=role, agency=agency, username=name)

    return People(
        officer=user(Role.INTAKE_OFFICER, "ingrid"),
        caseworker=user(Role.CASEWORKER, "alice"),
        documenter=user(Role.DOCUMENTER, "dora"),
        admin=user(Role.ADMIN, "adam"),
        auditor=user(Role.AUDITOR, "audrey"),
        receiver=user(Role.CASEWORKER, "bob", beta),
        decliner=user(Role.CASEWORKER, "carol", gamma),
    )


@pytest.fixture
def findings() -> Findings:
    return Findings()


class Viewers(dict[str, Viewer]):
    """One signed-in browser context per role of ``People``, opened when first asked for."""

    def __init__(self, browser: Browser, base_url: str, people: People, findings: Findings):
        super().__init__()
        self.browser, self.base_url, self.people, self.findings = (
            browser,
            base_url,
            people,
            findings,
        )

    def __missing__(self, role: str) -> Viewer:
        user = getattr(self.people, role)
        viewer = self[role] = Viewer(self.browser, self.base_url, user, self.findings)
        return viewer


@pytest.fixture
def viewers(
    browser: Browser, live_server: LiveServer, people: People, findings: Findings
) -> Iterator[Viewers]:
    opened = Viewers(browser, live_server.url, people, findings)
    try:
        yield opened
    finally:
        for viewer in opened.values():
            viewer.close()


def show_identifiers(page: Page) -> None:
    page.click("#identity button[type=submit]")  # htmx, audited
    page.wait_for_selector("#identity dl.identity")


def test_stored_payloads_are_shown_as_text_and_never_run(
    viewers: dict[str, Viewer], people: People, findings: Findings
) -> None:
    load_gazetteer()  # the live server's flushes empty the table
    started = time.monotonic()
    corpus = Corpus()
    arrivals = store_arrivals(corpus, people)
    store_cases(corpus, people, arrivals)
    store_testimonies(corpus, people)
    stored_in = time.monotonic() - started

    for (role, paths), shown in corpus.pages.items():
        then = show_identifiers if paths[0].endswith("#identity") else None
        viewers[role].check(paths, shown, then)
    # Pages without free text of their own still must not break on the corpus around them.
    viewers["auditor"].open(reverse("web:audit_log"))
    viewers["caseworker"].open(reverse("support:caseload"))

    print(
        f"\nXSS corpus: {len(PAYLOADS)} payloads, {len(corpus.fields)} fields, "
        f"{corpus.stored} values stored in {stored_in:.1f} s; {findings.pages} page loads, "
        f"{findings.checks} value-on-page checks in {time.monotonic() - started:.1f} s in all"
    )
    findings.assert_clean()
    assert findings.checks >= len(PAYLOADS) * len(corpus.fields)
    groups = len(_groups())
    assert Case.objects.count() == testimony_models.Testimony.objects.count() - 1 == groups
    assert testimony_models.Act.objects.filter(corroboration__isnull=False).count() == 2 * len(
        PAYLOADS
    )


# --- typing into the forms ---------------------------------------------------------------------


def _payload(start: str) -> str:
    """The corpus's payload that begins with ``start``."""
    found = [payload for payload in PAYLOADS if payload.startswith(start)]
    assert len(found) == 1, (start, found)
    return found[0]


# The most dangerous kinds: a script element, an event handler on an image and on an SVG, an
# htmx element that fetches on load, and a breakout from a quoted attribute.
FORM_PAYLOADS = [
    _payload("<script>"),
    _payload("<img src=x onerror"),
    _payload("<svg onload"),
    _payload('<div hx-get="/__xss/'),
    _payload('" autofocus onfocus'),
]
# File names reach the server whole only without a slash (Django keeps what follows the last
# one), a double quote (the browser sends it as %22, as HTML's form encoding says) or an
# ampersand (Django un-escapes HTML entities in file names).
FILE_NAME_PAYLOADS = [
    _payload("<img src=x onerror"),
    _payload("<svg onload"),
    _payload("<input autofocus onfocus"),
    _payload("'><img src=x onerror"),
    _payload("' autofocus onfocus"),
]
TESTIMONY_TEXTS = ("witness_identity", "interview_place", "transcript", "summary", "consent_note")


def _submit(page: Page, form: str, *, navigates: bool) -> None:
    """Submit ``form`` and wait for the page it leads to, or for its htmx answer."""
    button = page.locator(f"{form} button[type=submit]")
    if navigates:
        with page.expect_navigation():
            button.click()
    else:
        with page.expect_response(lambda response: response.request.method == "POST"):
            button.click()


def add_note(text: str) -> Callable[[Page], None]:
    """Types a case note into the case page's htmx form and sends it."""

    def then(page: Page) -> None:
        page.click("details:has(#id_note-text) > summary")
        page.fill("#id_note-text", text)
        _submit(page, "form:has(#id_note-text)", navigates=False)

    return then


def create_token(name: str) -> Callable[[Page], None]:
    """Creates an API token named ``name`` on the tokens page."""

    def then(page: Page) -> None:
        page.fill("#id_name", name)
        _submit(page, "form:has(#id_name)", navigates=True)

    return then


def upload_evidence(
    name: str, data: bytes, received_from: str, description: str
) -> Callable[[Page], None]:
    """Uploads a file under ``name`` through the multipart form, with its record texts."""

    def then(page: Page) -> None:
        page.set_input_files(
            "#id_file", files=[{"name": name, "mimeType": "text/plain", "buffer": data}]
        )
        page.fill("#id_received_from", received_from)
        page.fill("#id_received_on", "2024-05-03")
        page.fill("#id_description", description)
        _submit(page, "#upload-form", navigates=True)
        expect(page).to_have_url(re.compile(r"/evidence/E-"))  # stored, not refused

    return then


def record_testimony(texts: dict[str, str]) -> Callable[[Page], None]:
    """Fills the new-testimony form's free-text fields (``texts`` by field name) and sends it."""

    def then(page: Page) -> None:
        for name, text in texts.items():
            page.fill(f"#id_{name}", text)
        page.fill("#id_interview_date", "2024-05-02")
        page.select_option("#id_consent_scope", "publish_anonymised")
        page.fill("#id_consent_given_on", "2024-05-02")
        _submit(page, "#testimony-form", navigates=True)
        expect(page).to_have_url(re.compile(r"/T-"))  # recorded, not refused

    return then


def _open_case(people: People) -> Case:
    data = ArrivalData(
        record_id="typed-1", arrival=PartialDate(date(2023, 5, 1), "day"), sex="F", birth_year=1990
    )
    arrival = registry_services.arrival_create(actor=people.officer, data=data)
    return support_services.case_open(
        actor=people.caseworker, person=arrival.person, opened_on=date(2024, 1, 10)
    )


def test_payloads_typed_into_the_forms_are_shown_as_text_and_never_run(
    viewers: dict[str, Viewer], people: People, findings: Findings
) -> None:
    started = time.monotonic()
    caseworker, documenter = viewers["caseworker"], viewers["documenter"]
    case = _open_case(people)
    case_page = reverse("support:case_detail", args=[case.public_id])
    tokens, new_testimony = reverse("web:api_tokens"), reverse("testimony:testimony_new")
    results = reverse("testimony:testimony_list")
    typed: list[Shown] = []
    reopened = Corpus()  # where the typed values must be shown when the pages are opened again

    def type_into(
        viewer: Viewer, form_page: str, then: Callable[[Page], None], *shown: Shown
    ) -> None:
        """Fill and send the form on ``form_page``; the page it leads to shows ``shown``."""
        typed.extend(shown)
        viewer.check((form_page,), list(shown), then)

    for payload in FORM_PAYLOADS:
        note = reopened.store("caseworker", case_page, "note", tagged(payload, "typed_note"))
        type_into(caseworker, case_page, add_note(note), Shown("note", note))
        name = reopened.store("caseworker", tokens, "token", tagged(payload, "typed_token", 100))
        type_into(caseworker, tokens, create_token(name), Shown("token", name))
        texts = {field: tagged(payload, f"typed_{field}") for field in TESTIMONY_TEXTS}
        shown = [Shown(field, text) for field, text in texts.items()]
        type_into(documenter, new_testimony, record_testimony(texts), *shown)
        reopened.store("documenter", results, "summary", texts["summary"])

    upload, files = reverse("testimony:evidence_upload"), reverse("testimony:evidence_list")
    file_names = []
    for n, payload in enumerate(FILE_NAME_PAYLOADS, 1):
        file_names.append(f"{payload}.txt")
        received_from = tagged(payload, "typed_received_from")
        description = tagged(payload, "typed_description")
        content = f"statement {n}\n".encode()  # distinct: a file stored already is refused
        then = upload_evidence(file_names[-1], content, received_from, description)
        type_into(
            documenter,
            upload,
            then,
            Shown("file_name", file_names[-1]),
            Shown("received_from", received_from),
            Shown("evidence_description", description),
        )
        reopened.store("documenter", files, "file_name", file_names[-1])

    for (role, paths), shown in reopened.pages.items():
        viewers[role].check(paths, shown)
    print(
        f"\nXSS through the forms: {len(typed)} values typed into "
        f"{len({item.field for item in typed})} fields; {findings.pages} page loads, "
        f"{findings.checks} value-on-page checks in {time.monotonic() - started:.1f} s"
    )
    findings.assert_clean()
    # What the browser sent is what the services stored, untouched.
    notes = sorted(note.text for note in case.notes.all())
    assert notes == sorted(tagged(payload, "typed_note") for payload in FORM_PAYLOADS)
    token_names = sorted(people.caseworker.api_tokens.values_list("name", flat=True))
    assert token_names == sorted(tagged(p, "typed_token", 100) for p in FORM_PAYLOADS)
    summaries = sorted(t.summary for t in testimony_models.Testimony.objects.all())
    assert summaries == sorted(tagged(payload, "typed_summary") for payload in FORM_PAYLOADS)
    stored_names = testimony_models.EvidenceFile.objects.values_list("display_name", flat=True)
    assert sorted(stored_names) == sorted(file_names)  # whole: see FILE_NAME_PAYLOADS
