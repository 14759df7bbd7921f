"""Driving the pages in Debian's Chromium through Playwright, against a real server.

A uvicorn server runs the app on 127.0.0.1 (a free port) over the demo KB, with the fake
encoder; one per test module. ``tab()`` opens a page (desktop 1366×900 unless a viewport is
given, e.g. :data:`PHONE`) whose console errors and uncaught page errors fail the test, and
which writes screenshots to ./screenshots (git-ignored). Without /usr/bin/chromium the tests
skip, unless ZHIKU_REQUIRE_BROWSER=1 (CI), where they fail. The fixtures are registered for
tests/api by its conftest.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kb import users
from kb.db import open_database
from kb.settings import Settings
from kb.transfer.importer import import_path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = ROOT / "screenshots"
DEMO = ROOT / "content" / "demo"
ACCOUNTS = {
    "agent1": "agent",
    "agent2": "agent",
    "editor1": "editor",
    "reviewer1": "reviewer",
    "admin1": "admin",
}
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def require_browser() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("ZHIKU_REQUIRE_BROWSER") == "1":
        pytest.fail(
            "ZHIKU_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing (apt-get install chromium)"
        )
    pytest.skip("no /usr/bin/chromium: apt-get install chromium (CI sets ZHIKU_REQUIRE_BROWSER=1)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_browser()
    import uvicorn

    from api.app import create_app

    data = tmp_path_factory.mktemp("browser-data")
    # Self-tuning off: on the fake encoder's vectors it fits nothing worth testing here (the
    # pages are), and the default thresholds keep what the pages show stable.
    settings = Settings(data_dir=data, database_url="", encoder="fake", self_tune=False)
    db = open_database(settings.resolved_database_url, create=True)
    tokens: dict[str, str] = {}
    with db.transaction() as session:
        import_path(session, DEMO, actor="demo", zone=settings.zone)
        for name, role in ACCOUNTS.items():
            user = users.create_user(session, name, role)
            tokens[name] = users.issue_token(session, user)[1]
    db.dispose()
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", ws="none"
    )
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not uvicorn_server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}", tokens)
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A page with its console errors collected, and a screenshot helper."""

    page: Any
    base: str
    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def login(self, token: str) -> None:
        self.page.fill("#token-input", token)
        self.page.click("#login-button")
        self.page.wait_for_selector("#logout-button:not(.hidden)")

    def wait_for(self, expression: str, arg: Any = None, timeout_s: float = 15.0) -> None:
        """Wait until ``expression`` (or the function, called with ``arg``) is true in the page.

        Polled from here: Playwright's ``wait_for_function`` polls with ``eval`` inside the
        page, which the app's Content-Security-Policy refuses (as it should).
        """
        deadline = time.monotonic() + timeout_s
        while not self.page.evaluate(expression, arg):
            if time.monotonic() > deadline:
                raise AssertionError(f"still false after {timeout_s} s: {expression}")
            time.sleep(0.05)

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]


@pytest.fixture
def tab(browser: Any, server: Server) -> Iterator[Callable[..., Tab]]:
    contexts: list[Any] = []
    tabs: list[Tab] = []

    def make(viewport: dict[str, int] | None = None) -> Tab:
        context = browser.new_context(
            viewport=viewport or DESKTOP, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        contexts.append(context)
        page = context.new_page()
        made = Tab(page, server.url)
        page.on("console", lambda m: made.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: made.errors.append(f"uncaught: {e}"))
        tabs.append(made)
        return made

    yield make
    for context in contexts:
        context.close()
    assert [e for t in tabs for e in t.unexpected_errors()] == []


def auth(server: Server, name: str) -> dict[str, str]:
    """Headers for an API call as ``name`` (one of :data:`ACCOUNTS`)."""
    return {"Authorization": f"Bearer {server.tokens[name]}"}


def shot_sized(tab: Tab, name: str, *, full_page: bool = True) -> None:
    """screenshots/NAME-{desktop,phone}.png; ``full_page=False``: only what the screen shows."""
    size = tab.page.viewport_size or DESKTOP
    kind = "phone" if size["width"] == PHONE["width"] else "desktop"
    SHOTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=str(SHOTS / f"{name}-{kind}.png"), full_page=full_page)


def top(tab: Tab, selector: str) -> float:
    """The y of the element's top edge in the page (0 = the top of the document)."""
    box = tab.page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not rendered"
    scrolled: float = tab.page.evaluate("window.scrollY")
    return float(box["y"]) + scrolled
