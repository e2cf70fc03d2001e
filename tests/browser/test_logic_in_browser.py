"""Chromium loads the app's own pages and assets, and runs the logic engine like the server.

Proves the browser set-up (Debian's Chromium through Playwright, pytest-django's live_server with
static files) before the end-to-end tests build on it.
"""

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest

from casereports.logic import parse
from casereports.logic.__main__ import matches
from casereports.logic.evaluate import evaluate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONFORMANCE = Path(__file__).resolve().parents[1] / "logic" / "conformance.jsonl"
LOGIC_JS = "/static/casereports/logic.js"
BOOTSTRAP_CSS = "/static/bootstrap/css/bootstrap.min.css"
SAMPLE_SIZE = 20


def conformance_sample(size: int = SAMPLE_SIZE) -> list[dict]:
    """Every k-th evaluable case, so the sample spans the file's groups; none depends on the
    clock ('today'/'now'), which the browser and the server would read at different moments."""
    cases = []
    for line in CONFORMANCE.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if not case.get("error") and not any(w in case["expr"] for w in ("today", "now")):
            cases.append(case)
    step = len(cases) // size
    return cases[::step][:size]


def record_requests(page) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def assert_all_on(server_url: str, urls: list[str]) -> None:
    server = urlparse(server_url).netloc
    elsewhere = [url for url in urls if urlparse(url).netloc != server]
    assert urls and not elsewhere, f"requests to other hosts: {elsewhere}"


def test_healthz_answers_in_the_browser(live_server, page):
    requests = record_requests(page)
    response = page.goto(f"{live_server.url}/healthz")
    assert response.status == 200
    assert json.loads(page.inner_text("body"))["database"] == "ok"
    assert_all_on(live_server.url, requests)


def test_home_page_styles_come_from_the_app_itself(live_server, page):
    requests = record_requests(page)
    stylesheets: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: stylesheets.append((r.url, r.status)) if r.url.endswith(".css") else None,
    )
    page.goto(f"{live_server.url}/")
    page.wait_for_load_state("load")
    assert page.get_by_role("heading", name="GDSI case reports").is_visible()
    assert (f"{live_server.url}{BOOTSTRAP_CSS}", 200) in stylesheets
    # Bootstrap really applied: its reboot sets the body's margin to 0 (browsers default to 8px).
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"
    assert_all_on(live_server.url, requests)


def test_the_browser_engine_agrees_with_the_python_engine(live_server, page):
    requests = record_requests(page)
    page.goto(f"{live_server.url}/")
    if not page.evaluate("typeof window.GDSILogic === 'object'"):
        page.add_script_tag(url=f"{live_server.url}{LOGIC_JS}")
    assert page.evaluate("typeof window.GDSILogic.evaluate") == "function"
    assert page.evaluate('GDSILogic.evaluate({"t": "num", "v": 2}, {})') == 2

    sample = conformance_sample()
    asts = [parse(case["expr"]) for case in sample]
    in_browser = page.evaluate(
        "([asts, records]) => asts.map((ast, i) => GDSILogic.evaluate(ast, records[i]))",
        [asts, [case["data"] for case in sample]],
    )
    assert len(sample) == SAMPLE_SIZE
    assert len({case["group"] for case in sample}) >= 10
    for case, ast, got in zip(sample, asts, in_browser, strict=True):
        on_server = evaluate(ast, case["data"])
        assert matches(on_server, got), f"{case['expr']!r}: browser {got!r}, server {on_server!r}"
        assert matches(case["expected"], got), f"{case['expr']!r}: browser {got!r}"
    assert_all_on(live_server.url, requests)
