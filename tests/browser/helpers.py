"""Shared helpers for the browser tests: watching a page for trouble while a test drives it.

`watch(page, server_url)` starts recording, for the page's whole browser context, every request,
every console error, every uncaught script error and every Content-Security-Policy violation
(the `securitypolicyviolation` event, reported from every page the context loads). At the end
`assert_clean()` fails naming what went wrong, and `assert_catches_csp_violations(page)` proves
the watch is not blind: it makes the page break the policy on purpose and checks it was seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from playwright.sync_api import ConsoleMessage, Page, Request

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
        assert not self.console_errors, f"console errors: {self.console_errors}"
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
