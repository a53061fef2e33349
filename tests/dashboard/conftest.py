"""Browser tests of the dashboard: Playwright for Python driving Debian's headless Chromium (``/usr/bin/chromium``,
installed by ``dev.py test``) against a real node, a real HTTP receiver and real MQTT clients.

Without Chromium (or Playwright) the tests are skipped locally and fail in CI (``CI`` set), like the other tests
that need a Debian peer. Every wait is on a condition (Playwright's auto-waiting ``expect``), never a sleep.
``HOOKMQ_SCREENSHOTS=1`` makes the walkthrough test save the README's screenshots in ``docs/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers import ROOT, BrokerThread, require_tool
from tests.webhooks.receiver import Receiver

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the test extras install it
    if os.environ.get("CI"):
        raise
    pytest.skip("playwright is not installed (pip install -e '.[test]')", allow_module_level=True)

ADMIN_PASSWORD = "dashboard-tests-pw"  # api.admin_password: logged in without the forced change
SCREENSHOTS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1440, "height": 900}

expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_tool("chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (own sessionStorage); fails the test on an uncaught script error or a CSP violation."""
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, locale="en-US")
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    tab.on("console", lambda message: problems.append(f"console: {message.text}")
           if "Content Security Policy" in message.text or "Refused to" in message.text else None)
    yield tab
    context.close()
    assert not problems, problems


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def node(start_broker: Callable[..., BrokerThread]) -> BrokerThread:
    """A node whose admin password comes from the config (no forced change at login)."""
    return start_broker(api={"admin_password": ADMIN_PASSWORD})


def base_url(node: BrokerThread) -> str:
    return f"http://127.0.0.1:{node.http_port}"


def log_in(page: Page, node: BrokerThread, password: str = ADMIN_PASSWORD, route: str = "") -> None:
    """Open the dashboard (at ``#/route``) and log in as admin; waits until the app shell is shown."""
    page.goto(f"{base_url(node)}/{'#/' + route if route else ''}")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def nav(page: Page, item: str) -> None:
    """Click an item of the sidebar."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=item).click()


def node_call(node: BrokerThread, fn: Callable[[Any], Any]) -> Any:
    """``fn(node)`` on the broker's loop (webhook service, broker state)."""
    return node.call(lambda: fn(node.node))


def screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Save docs/screenshots/<name>.png, only when HOOKMQ_SCREENSHOTS=1 (CI never rewrites them)."""
    if os.environ.get("HOOKMQ_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)  # no hover effect in the picture
    expect(page.locator(".toast")).to_have_count(0)  # notices fade out after 4 s
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page, animations="disabled")
