"""The three pages driven in Debian's Chromium through Playwright, against a real server.

A uvicorn server runs the app on 127.0.0.1 (a free port) over the demo KB, with the fake
encoder. Each test fails on any console error or uncaught page error, and writes screenshots
of what it saw to ./screenshots (git-ignored). Without /usr/bin/chromium the tests skip, unless
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

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "screenshots"
DEMO = ROOT / "content" / "demo"
ACCOUNTS = {"agent1": "agent", "editor1": "editor", "reviewer1": "reviewer"}


def _require_browser() -> None:
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _require_browser()
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
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
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

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]


@pytest.fixture
def tab(browser: Any, server: Server) -> Iterator[Callable[[], Tab]]:
    contexts: list[Any] = []
    tabs: list[Tab] = []

    def make() -> Tab:
        context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
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


def test_agent_searches_and_copies_an_answer(tab: Callable[[], Tab], server: Server) -> None:
    agent = tab()
    agent.goto("/agent")
    agent.shot("agent-login")
    agent.login(server.tokens["agent1"])
    agent.page.fill("#agent-q", "换了新号码以后旧号还扣钱吗")
    agent.page.click("#agent-search")
    first = agent.page.locator(".suggestion").first
    first.wait_for()
    assert first.get_attribute("data-code") == "TX-GH-001"
    assert first.locator("mark").count() >= 1
    assert first.locator(".badge.fresh, .badge.soon").count() == 1
    agent.shot("agent-results")
    first.locator("button.copy").click()
    agent.page.wait_for_selector(".toast")
    copied = agent.page.evaluate("navigator.clipboard.readText()")
    assert copied == first.locator(".answer").inner_text()
    assert "原号码即停止计费" in copied
    first.locator("button.helpful[data-helpful='1']").click()
    agent.page.wait_for_function("document.querySelector('.suggestion .helpful').disabled")
    first.locator("button.flag").click()
    agent.page.select_option("#flag-reason", "outdated")
    agent.page.fill("#flag-comment", "资费已调整")
    agent.shot("agent-flag")
    agent.page.click("#flag-submit")
    agent.page.wait_for_selector("#flag-dialog:not([open])", state="attached")


def test_customer_browses_and_searches_without_internal_fields(
    tab: Callable[[], Tab], server: Server
) -> None:
    customer = tab()
    customer.goto("/")
    customer.page.wait_for_selector("#faq-tree")
    customer.shot("faq-home")
    customer.page.click("#faq-tree summary >> nth=0")
    customer.shot("faq-tree-open")
    customer.page.click("#faq-tree a >> nth=0")
    customer.page.wait_for_selector("#faq-table")
    text = customer.page.inner_text("main")
    assert "内部备注" not in text and "标准答复" in text
    customer.shot("faq-table")
    customer.page.click("#helpful-no")
    customer.page.wait_for_selector("#helpful-thanks:not(.hidden)")
    customer.page.wait_for_selector("#contact-later:not(.hidden)")

    customer.goto("/faq")
    customer.page.fill("#faq-q", "换了新号码以后旧号还扣钱吗")
    customer.page.click("#faq-search")
    customer.page.wait_for_selector(".faq-hit")
    results = customer.page.inner_text("#faq-results")
    assert "计费争议" not in results and "内部备注" not in results
    customer.shot("faq-search")

    customer.page.fill("#faq-q", "我家的猫不吃饭怎么办")
    customer.page.click("#faq-search")
    customer.page.wait_for_selector("#contact")
    customer.page.click("#contact-agent")
    customer.page.wait_for_selector("#contact-done:not(.hidden)")
    customer.shot("faq-contact")

    # Internal tables are not reachable by URL either.
    internal = customer.page.request.get(server.url + "/api/faq/tables/TX-GH-015")
    assert internal.status == 404


def test_editor_submits_reviewer_approves_agent_sees_it(
    tab: Callable[[], Tab], server: Server
) -> None:
    marker = "新版答复：改号后原号码当天停止计费（ZK-E2E）。"
    editor = tab()
    editor.goto("/admin")
    editor.login(server.tokens["editor1"])
    editor.page.wait_for_selector("#editor-tables .editor-row")
    editor.page.select_option("#editor-package", "通信业务/改号业务")
    editor.page.click("#editor-tables .editor-row[data-code='TX-GH-001']")
    editor.page.wait_for_selector("#editor-form:not(.hidden)")
    editor.page.fill("#f-answer", marker)
    editor.page.click("#editor-save")
    editor.page.wait_for_selector("#admin-message.ok")
    editor.page.click("#editor-submit")
    editor.page.wait_for_function(
        "document.querySelector('#admin-message').textContent.includes('已提交审核')"
    )
    editor.shot("admin-editor")

    reviewer = tab()
    reviewer.goto("/admin")
    reviewer.login(server.tokens["reviewer1"])
    row = reviewer.page.locator(".review-item[data-code='TX-GH-001']")
    row.wait_for()
    reviewer.shot("admin-review-queue")
    row.click()
    reviewer.page.wait_for_selector("#review-detail:not(.hidden)")
    assert "ZK-E2E" in reviewer.page.inner_text("#review-diff")
    reviewer.page.fill("#review-comment", "核对无误")
    reviewer.shot("admin-review-diff")
    reviewer.page.click("#review-approve")
    reviewer.page.wait_for_function(
        "document.querySelector('#admin-message').textContent.includes('已发布上线')"
    )

    agent = tab()
    agent.goto("/agent")
    agent.login(server.tokens["agent1"])
    agent.page.fill("#agent-q", "换了新号码以后旧号还扣钱吗")
    agent.page.click("#agent-search")
    first = agent.page.locator(".suggestion").first
    first.wait_for()
    assert "ZK-E2E" in first.locator(".answer").inner_text()
    agent.shot("agent-after-approval")


def test_admin_queues_import_report_and_hit_test(tab: Callable[[], Tab], server: Server) -> None:
    admin = tab()
    # The refused import is a 422 response, which Chromium logs; nothing else may be logged.
    admin.allowed.append("status of 422")
    admin.goto("/admin")
    admin.login(server.tokens["reviewer1"])
    for name in ("expiring", "expired", "flagged"):
        admin.page.click(f".tabs button[data-tab='{name}']")
        admin.page.wait_for_selector(f"#{name}-list tr")
        admin.shot(f"admin-{name}")
    admin.page.click(".tabs button[data-tab='import']")
    bad = "category,package,code,title,标准答复\n通信业务,改号业务,TX-NEW-1,缺少答复,\n"
    admin.page.set_input_files(
        "#import-file", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    admin.page.click("#import-button")
    admin.page.wait_for_selector("#import-problems")
    report = admin.page.inner_text("#import-problems")
    assert "bad.csv row 2" in report and "answer" in report
    admin.shot("admin-import-error")
    admin.page.click(".tabs button[data-tab='hittest']")
    admin.page.fill("#hittest-q", "换了新号码以后旧号还扣钱吗")
    admin.page.click("#hittest-button")
    admin.page.wait_for_selector("#hittest-table")
    admin.shot("admin-hit-test")
    admin.page.click(".tabs button[data-tab='dictionary']")
    admin.page.wait_for_function("document.querySelector('#synonyms-text').value.length > 0")
    admin.page.fill("#synonyms-text", "改号 换号 更换号码\n退订 取消")
    admin.page.click("#dictionary-save")
    admin.page.wait_for_selector("#admin-message.ok")
    admin.shot("admin-dictionary")
    admin.page.click(".tabs button[data-tab='audit']")
    admin.page.wait_for_selector("#audit-list tr >> nth=1")
    assert "synonyms" in admin.page.inner_text("#audit-list")
    admin.shot("admin-audit")


def test_dashboard_draws_its_charts_and_drafts_from_a_gap(
    tab: Callable[[], Tab], server: Server
) -> None:
    admin = tab()
    agent = {"Authorization": f"Bearer {server.tokens['agent1']}"}
    asked = ["以旧换新的旧手机怎么估价"] * 3 + [
        "我家的猫不吃饭怎么办",
        "换了新号码以后旧号还扣钱吗",
    ]
    for query in asked:
        found = admin.page.request.get(
            server.url + "/api/search", params={"q": query}, headers=agent
        )
        assert found.ok
    vote = admin.page.request.post(
        server.url + "/api/feedback",
        data={"code": "TX-GH-001", "helpful": True, "query": "换了新号码以后旧号还扣钱吗"},
        headers=agent,
    )
    assert vote.ok
    admin.goto("/admin")
    admin.login(server.tokens["reviewer1"])
    admin.page.click(".tabs button[data-tab='dashboard']")
    admin.page.wait_for_selector("#chart-searches svg rect.bar", state="attached")
    admin.page.wait_for_selector("#usage-list .usage-row")
    heights = admin.page.locator("#chart-searches svg rect.bar").evaluate_all(
        "bars => bars.map(b => Number(b.getAttribute('height')))"
    )
    assert len(heights) == 31 and heights[-1] > 0  # 30 days and today; today has searches
    assert admin.page.locator("#dash-kpis .kpi").count() == 4
    assert admin.page.locator("#chart-rates svg circle.dot").count() >= 2  # both rates today
    assert admin.page.locator("#chart-top-queries svg rect.bar").count() >= 3
    assert "以旧换新的旧手机怎么估价" in admin.page.inner_text("#top-queries")
    gap = admin.page.locator("#gap-list .gap", has_text="以旧换新的旧手机怎么估价").first
    gap.wait_for()
    assert admin.page.locator("#chart-gaps svg rect.bar").count() >= 1
    admin.shot("admin-dashboard")

    gap.locator("button.gap-draft").click()
    admin.page.wait_for_function("document.querySelector('#gap-package').options.length > 0")
    admin.page.select_option("#gap-package", "电商售后/退换货")
    admin.page.fill("#gap-code", "DS-THH-901")
    admin.page.fill("#gap-title", "以旧换新怎么估价")
    admin.page.fill(
        "#gap-answer",
        "在商品页选择“以旧换新”，按旧机型号和成色在线估价，旧机上门回收后抵扣新机货款。",
    )
    admin.shot("admin-dashboard-gap-form")
    admin.page.click("#gap-submit")
    admin.page.wait_for_function(
        "document.querySelector('#admin-message').textContent.includes('已保存为草稿')"
    )
    admin.page.click("#gap-open")
    admin.page.wait_for_selector("#editor-form:not(.hidden)")
    assert "DS-THH-901" in admin.page.inner_text("#editor-heading")
    assert "以旧换新的旧手机怎么估价" in admin.page.input_value("#e-questions")

    admin.page.click(".tabs button[data-tab='dashboard']")
    admin.page.wait_for_selector("#usage-list th[data-sort='code']")
    admin.page.click("#usage-list th[data-sort='code']")
    admin.page.wait_for_function(
        "document.querySelector('#usage-list th[data-sort=\"code\"]').textContent.includes('↑')"
    )
    codes = admin.page.locator("#usage-list .usage-row").evaluate_all(
        "rows => rows.map(r => r.dataset.code)"
    )
    assert codes == sorted(codes)
    admin.page.locator("#usage-list .usage-row").first.click()
    admin.page.wait_for_selector("#usage-detail:not(.hidden)")
    admin.shot("admin-dashboard-usage")
