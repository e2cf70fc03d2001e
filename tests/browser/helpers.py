"""Shared helpers for the browser tests: watching a page for trouble while a test drives it.

`watch(page, server_url)` starts recording, for the page's whole browser context, every request,
every console error, every uncaught script error and every Content-Security-Policy violation
(the `securitypolicyviolation` event, reported from every page the context loads). At the end
`assert_clean()` fails naming what went wrong, and `assert_catches_csp_violations(page)` proves
the watch is not blind: it makes the page break the policy on purpose and checks it was seen.

`log_in(page, server_url, user, landing)` logs a user in as a person does: password, then the
two-factor code, then the page they asked for. `follow_job_row(row, run)` watches a queued job's
row on an open page turn to done while `run()` runs the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlparse

from cases.conftest import PASSWORD
from helpers_auth import confirmed_device, totp_code
from playwright.sync_api import ConsoleMessage, Locator, Page, Request, expect

REPORT_BINDING = "gdsiReportCspViolation"
# Runs before the page's own scripts on every document the context loads. Init scripts and
# exposed bindings come in through the DevTools protocol, so the page's CSP does not block them.
CSP_LISTENER = """
window.__gdsiCspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const text = event.effectiveDirective + " blocked " + (event.blockedURI || "inline") +
    " on " + document.location.pathname;
  if (window.%s) window.%s(text);
  window.__gdsiCspViolations.push(text);
});
""" % (REPORT_BINDING, REPORT_BINDING)  # noqa: UP031 - braces of the JS stay literal
ASKING_TYPES = {"document", "fetch", "xhr", "eventsource", "websocket"}
INLINE_SCRIPT_PROBE = """() => {
  const probe = document.createElement("script");
  probe.textContent = "window.__gdsiInlineRan = true;";
  document.body.appendChild(probe);
}"""


@dataclass
class BrowserWatch:
    server_url: str
    requests: list[str] = field(default_factory=list)
    server_calls: list[str] = field(default_factory=list)  # pages, forms, fetch/XHR: not assets
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    refusals: list[tuple[int, str]] = field(default_factory=list)  # expected (status, path)

    def expect_refusal(self, status: int, path: str) -> None:
        """A page the test expects the server to refuse (a form sent back with its errors):
        Chromium logs the status as a console error, which is then no fault."""
        self.refusals.append((status, path))

    def unexpected_console_errors(self) -> list[str]:
        return [
            error
            for error in self.console_errors
            if not any(
                f"status of {status} " in error and error.rstrip(")").endswith(path)
                for status, path in self.refusals
            )
        ]

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '')})")

    def _on_csp_violation(self, text: str) -> None:
        self.csp_violations.append(text)

    def _on_request(self, request: Request) -> None:
        self.requests.append(request.url)
        if request.resource_type in ASKING_TYPES:
            self.server_calls.append(f"{request.method} {request.url}")

    def requests_elsewhere(self) -> list[str]:
        server = urlparse(self.server_url).netloc
        return [url for url in self.requests if urlparse(url).netloc != server]

    def assert_clean(self) -> None:
        """Every request went to the app's server; no console error, script error or CSP
        violation happened on any page."""
        assert self.requests, "the watch saw no requests at all"
        assert not self.requests_elsewhere(), (
            f"requests to other hosts: {self.requests_elsewhere()}"
        )
        unexpected = self.unexpected_console_errors()
        assert not unexpected, f"console errors: {unexpected}"
        assert not self.page_errors, f"uncaught script errors: {self.page_errors}"
        assert not self.csp_violations, f"CSP violations: {self.csp_violations}"

    def assert_catches_csp_violations(self, page: Page) -> None:
        """An inline script added to the current page is refused by the CSP, and the refusal
        reaches the watch (so an empty list above means none happened, not a deaf listener)."""
        seen_before = len(self.csp_violations)
        page.evaluate(INLINE_SCRIPT_PROBE)
        page.wait_for_function("window.__gdsiCspViolations.length > 0")
        assert page.evaluate("window.__gdsiInlineRan === undefined"), "an inline script ran"
        # The binding call travels on the same connection before the function's result.
        assert len(self.csp_violations) > seen_before
        assert "script-src" in self.csp_violations[-1]


def watch(page: Page, server_url: str) -> BrowserWatch:
    """Start watching `page`'s browser context; call before the first navigation."""
    watched = BrowserWatch(server_url)
    context = page.context
    context.expose_function(REPORT_BINDING, watched._on_csp_violation)
    context.add_init_script(CSP_LISTENER)
    context.on("request", watched._on_request)
    context.on("console", watched._on_console)
    page.on("pageerror", lambda error: watched.page_errors.append(str(error)))
    return watched


def log_in(page: Page, server: str, user, landing: str | None = None) -> None:
    """Password, two-factor code, and on to `landing` (without one, where login sends
    everyone: the case list)."""
    device = confirmed_device(user)
    page.goto(f"{server}/accounts/login/" + (f"?next={landing}" if landing else ""))
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text(user.username)
    page.get_by_label("Code").fill(totp_code(device))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(f"{server}{landing or '/cases/'}")


def follow_job_row(row: Locator, run: Callable[[], object]) -> None:
    """A queued job's row (export or feed) learns by polling that `run()` finished the job."""
    expect(row.locator('[data-role="status"]')).to_have_text("Queued")
    expect(row.locator('[data-role="download"]')).to_be_hidden()
    run()
    expect(row.locator('[data-role="status"]')).to_have_text("Done", timeout=10_000)
    expect(row.locator('[data-role="progress"]')).to_have_attribute("aria-valuenow", "100")
