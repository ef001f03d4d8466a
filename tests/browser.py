"""Fixtures for real-browser tests: Playwright's sync API driving Debian's chromium.

Playwright never downloads a browser here: it launches the system's ``/usr/bin/chromium``.
Without it, the tests are skipped on a workstation and fail in CI (``CI`` set), where the
browser tests must run. Use the fixtures by importing them into a test module::

    from tests.browser import browser_fixture, chromium_fixture, console_log_fixture, page_fixture

(the functions carry a ``_fixture`` suffix so that test arguments named ``page`` and so on do
not shadow the imports.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000

# Reported to the console by an init script, so that the console listener sees every violation,
# including those of report-only policies that Chromium does not log itself.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`Content Security Policy violation: ${event.violatedDirective} blocked ` +
                `${event.blockedURI || "inline"} (${event.sourceFile}:${event.lineNumber})`);
});
"""


@pytest.fixture(scope="session", name="chromium_executable")
def chromium_fixture() -> Path:
    """The system chromium; its absence skips the test, or fails it in CI."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = f"{CHROMIUM} is missing: install it with `apt-get install chromium` (Debian/Ubuntu)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests, but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module", name="browser")
def browser_fixture(chromium_executable: Path) -> Iterator[Browser]:
    """One headless chromium per test module, with a fresh temporary profile.

    Playwright's sync API keeps an asyncio event loop on this thread while it runs, and Django
    refuses ORM calls when it sees one; the browser only talks to the live server, so allowing
    them is safe here. The variable is restored when the browser is gone.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            # launch() gives the browser a fresh temporary user-data dir and removes it afterwards.
            chromium = playwright.chromium.launch(
                executable_path=str(chromium_executable), args=CHROMIUM_ARGS, headless=True
            )
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class ConsoleLog:
    """What the page wrote to its console, so tests can assert on it."""

    messages: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return [text for text in self.messages if "Content Security Policy" in text]


@pytest.fixture(name="console_log")
def console_log_fixture() -> ConsoleLog:
    """The console of the test's ``page`` (request both fixtures)."""
    return ConsoleLog()


@pytest.fixture(name="page")
def page_fixture(browser: Browser, console_log: ConsoleLog) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies), its console recorded in ``console_log``."""
    context = browser.new_context(locale="ko-KR")
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(_CSP_LISTENER)
    new_page = context.new_page()
    record = console_log.messages.append
    new_page.on("console", lambda message: record(f"{message.type}: {message.text}"))
    new_page.on("pageerror", lambda error: record(f"pageerror: {error}"))
    try:
        yield new_page
    finally:
        context.close()


def sign_in_by_cookie(page: Page, base_url: str, user: object) -> None:
    """Start the page signed in as ``user`` (who has MFA set up): a server-side session, as
    after a full login, handed to the browser as its cookie. The login itself has its own test."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": base_url}]
    )


def htmx_settled(page: Page) -> None:
    """Wait until htmx has finished its swaps: new content gets its listeners when it
    settles, so an event fired earlier (a test is faster than a person) would go unheard."""
    busy = ".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added"
    page.wait_for_function(f"() => !document.querySelector('{busy}')")
