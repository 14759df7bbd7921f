"""Driving the pages in Debian's Chromium through Playwright: a live server over the demo KB,
a browser, and tabs at desktop (1366×900) and phone (390×844) sizes.

Each browser test module makes its own fixtures from these (a module-scoped server, so one
module's writes never reach another's). A tab collects console errors and uncaught page errors;
the ``tabs`` fixture fails the test on any that is not expected. Screenshots go to
./screenshots (git-ignored). Without /usr/bin/chromium the tests skip, unless
ZHIKU_REQUIRE_BROWSER=1 (CI), where they fail.
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
SHOTS = ROOT / "screenshots"
DEMO = ROOT / "content" / "demo"
ACCOUNTS = {
    "agent1": "agent",
    "editor1": "editor",
    "reviewer1": "reviewer",
    "reviewer2": "reviewer",
    "admin1": "admin",
}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    tokens: dict[str, str]
    settings: Settings

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def serve_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A uvicorn server on a free port over a fresh copy of the demo KB (fake encoder)."""
    require_browser()
    import uvicorn

    from api.app import create_app

    data = tmp_path_factory.mktemp("browser-data")
    settings = Settings(data_dir=data, database_url="", encoder="fake")
    db = open_database(settings.resolved_database_url, create=True)
    tokens: dict[str, str] = {}
    with db.transaction() as session:
        import_path(session, DEMO, actor="demo", zone=settings.zone)
        for name, role in ACCOUNTS.items():
            user = users.create_user(session, name, role)
            tokens[name] = users.issue_token(session, user)[1]
    db.dispose()
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the server did not start")
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}", tokens, settings)
    server.should_exit = True
    thread.join(timeout=10)


def launch_chromium() -> Iterator[Any]:
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
    name: str
    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, name: str, *, full_page: bool = True) -> None:
        """Write screenshots/NAME-{desktop,phone}.png."""
        SHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}-{self.name}.png"), full_page=full_page)

    def login(self, token: str) -> None:
        self.page.fill("#token-input", token)
        self.page.click("#login-button")
        self.page.wait_for_selector("#logout-button:not(.hidden)")

    def top(self, selector: str) -> float:
        """The y of the element's top edge in the page (0 = top of the document)."""
        box = self.page.locator(selector).first.bounding_box()
        assert box is not None, f"{selector} is not rendered"
        scrolled: float = self.page.evaluate("window.scrollY")
        return float(box["y"]) + scrolled

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]


TabMaker = Callable[..., Tab]


def tab_maker(browser: Any, server: Server) -> Iterator[TabMaker]:
    """``make(viewport=DESKTOP)`` opens a new tab; errors of all of them are checked at the end."""
    contexts: list[Any] = []
    tabs: list[Tab] = []

    def make(viewport: dict[str, int] = DESKTOP) -> Tab:
        phone = viewport == PHONE
        context = browser.new_context(
            viewport=viewport, locale="zh-CN", is_mobile=phone, has_touch=phone
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        made = Tab(page, server.url, "phone" if phone else "desktop")
        page.on("console", lambda m: made.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: made.errors.append(f"uncaught: {e}"))
        tabs.append(made)
        return made

    yield make
    for context in contexts:
        context.close()
    assert [e for t in tabs for e in t.unexpected_errors()] == []
