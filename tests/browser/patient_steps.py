"""Steps of a patient's journey in Chromium, written once for the mouse and for the keyboard,
and the accessibility checks run at every page state: axe-core (the copy packaged with
axe-playwright-python, evaluated inside the page: nothing is fetched), no sideways scroll, and
focus on the error summary after a refused form.

Locators use ids, names and test ids, never English words, so the same steps run in every
language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import axe_playwright_python
from playwright.sync_api import Locator, Page, expect

AXE_SOURCE = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
MAX_TABS = 250


def axe_violations(page: Page) -> list[dict]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)  # through the DevTools protocol: the page's CSP does not apply
    options = json.dumps({"runOnly": {"type": "tag", "values": AXE_TAGS}})
    result = page.evaluate(f"axe.run(document, {options})")
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "nodes": [node["target"] for node in violation["nodes"]][:5],
            "summary": violation["nodes"][0].get("failureSummary", "")[:300],
        }
        for violation in result["violations"]
    ]


@dataclass
class Audit:
    """Every page state checked, and what failed where."""

    checked: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def check(self, page: Page, state: str) -> None:
        self.checked.append(state)
        for violation in axe_violations(page):
            self.failures.append(f"{state}: axe {violation}")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if overflow > 0:
            self.failures.append(f"{state}: scrolls sideways by {overflow}px")

    def assert_clean(self) -> None:
        assert self.checked, "no page state was checked"
        assert not self.failures, "\n".join(self.failures)


class Person:
    """Drives a page the way one person does: with the mouse, or with the keyboard alone
    (Tab to reach a control, Space to tick or press, typing, arrow keys in a select)."""

    def __init__(self, page: Page, keyboard: bool = False) -> None:
        self.page, self.keyboard = page, keyboard

    def _reach(self, target: Locator) -> None:
        handle = target.element_handle()
        for _ in range(MAX_TABS):
            if self.page.evaluate("(node) => document.activeElement === node", handle):
                return
            self.page.keyboard.press("Tab")
        raise AssertionError(f"{target} cannot be reached with the Tab key")

    def press(self, target: Locator) -> None:
        if self.keyboard:
            self._reach(target)
            self.page.keyboard.press("Enter")
        else:
            target.click()

    def tick(self, target: Locator) -> None:
        if self.keyboard:
            self._reach(target)
            if not target.is_checked():
                self.page.keyboard.press("Space")
        else:
            target.check()
        expect(target).to_be_checked()

    def choose(self, question: str, code: str) -> None:
        """A radio answer: Tab reaches the group (its checked option, else its first), Space
        ticks the focused option and the down arrow moves to the next one and ticks it."""
        option = self.page.locator(f'#field-{question} input[value="{code}"]')
        if not self.keyboard:
            option.check()
            return
        radios = self.page.locator(f'#field-{question} input[type="radio"]')
        checked = self.page.locator(f'#field-{question} input[type="radio"]:checked')
        self._reach(checked.first if checked.count() else radios.first)
        if not checked.count():
            self.page.keyboard.press("Space")
        for _ in range(radios.count()):
            if option.is_checked():
                break
            self.page.keyboard.press("ArrowDown")
        expect(option).to_be_checked()

    def fill(self, target: Locator, text: str) -> None:
        if self.keyboard:
            self._reach(target)
            self.page.keyboard.press("Control+A")
            self.page.keyboard.type(text)
        else:
            target.fill(text)

    def select(self, target: Locator, value: str) -> None:
        """A native select: the keyboard types the start of the option's name."""
        if not self.keyboard:
            target.select_option(value)
            return
        label = target.locator(f'option[value="{value}"]').inner_text()
        self._reach(target)
        self.page.keyboard.type(label)
        expect(target).to_have_value(value)


def expect_focus_on_summary(page: Page) -> None:
    expect(page.locator("#problem-summary")).to_be_focused()
