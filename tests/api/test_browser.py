"""The three pages driven in Debian's Chromium through Playwright, against a real server.

The server, browser and tab fixtures are in :mod:`tests.api.browsing`. Each test fails on any
console error or uncaught page error, and writes screenshots of what it saw to ./screenshots.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.api.browsing import Server, Tab

pytestmark = [pytest.mark.browser, pytest.mark.slow]


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
    assert "原号码即停止计费" in copied  # plain text for chat by default, no internal note
    assert "内部" not in copied and "**" not in copied
    first.locator("button.helpful[data-helpful='1']").click()
    agent.wait_for("document.querySelector('.suggestion .helpful').disabled")
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
    assert "内部备注" not in text and "答复" in text and "标准答复" not in text
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
    customer.page.click("#contact-submit")
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
    editor.wait_for("document.querySelector('#admin-message').textContent.includes('已提交审核')")
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
    reviewer.wait_for("document.querySelector('#admin-message').textContent.includes('已发布上线')")

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
    admin.wait_for("document.querySelector('#synonyms-text').value.length > 0")
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
    asked = ["以旧换新的旧手机怎么估价"] * 2 + [
        "我家的猫不吃饭怎么办",
        "换了新号码以后旧号还扣钱吗",
    ]
    for query in asked:
        found = admin.page.request.get(
            server.url + "/api/search", params={"q": query}, headers=agent
        )
        assert found.ok
    # Whatever the confidence (the fake encoder's calibration says little), an answer voted
    # not helpful makes the question a gap.
    trade_in = admin.page.request.get(
        server.url + "/api/search", params={"q": asked[0]}, headers=agent
    ).json()["suggestions"][0]["code"]
    unhelpful = admin.page.request.post(
        server.url + "/api/feedback",
        data={"code": trade_in, "helpful": False, "query": asked[0]},
        headers=agent,
    )
    assert unhelpful.ok
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
    admin.wait_for("document.querySelector('#gap-package').options.length > 0")
    admin.page.select_option("#gap-package", "电商售后/退换货")
    admin.page.fill("#gap-code", "DS-THH-901")
    admin.page.fill("#gap-title", "以旧换新怎么估价")
    admin.page.fill(
        "#gap-answer",
        "在商品页选择“以旧换新”，按旧机型号和成色在线估价，旧机上门回收后抵扣新机货款。",
    )
    admin.shot("admin-dashboard-gap-form")
    admin.page.click("#gap-submit")
    admin.wait_for("document.querySelector('#admin-message').textContent.includes('已保存为草稿')")
    admin.page.click("#gap-open")
    admin.page.wait_for_selector("#editor-form:not(.hidden)")
    assert "DS-THH-901" in admin.page.inner_text("#editor-heading")
    assert "以旧换新的旧手机怎么估价" in admin.page.input_value("#e-questions")

    admin.page.click(".tabs button[data-tab='dashboard']")
    admin.page.wait_for_selector("#usage-list th[data-sort='code']")
    admin.page.click("#usage-list th[data-sort='code']")
    admin.wait_for(
        "document.querySelector('#usage-list th[data-sort=\"code\"]').textContent.includes('↑')"
    )
    codes = admin.page.locator("#usage-list .usage-row").evaluate_all(
        "rows => rows.map(r => r.dataset.code)"
    )
    assert codes == sorted(codes)
    admin.page.locator("#usage-list .usage-row").first.click()
    admin.page.wait_for_selector("#usage-detail:not(.hidden)")
    admin.shot("admin-dashboard-usage")


def test_api_docs_work_offline_under_the_csp(tab: Callable[[], Tab], server: Server) -> None:
    docs = tab()
    outside: list[str] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:  # a CDN, a validator badge: the product must not need them
            outside.append(route.request.url)
            route.abort()

    docs.page.route("**/*", only_this_server)
    # Swagger UI probes for the global object with `new Function("return this")` inside a
    # try/catch; the CSP refuses it (logged) and the bundle falls back to `window`.
    docs.allowed.append("'unsafe-eval' is not an allowed source of script")
    docs.goto("/docs")
    docs.page.wait_for_selector(".opblock-tag-section")
    docs.page.wait_for_selector("text=Suggested answers for an agent's question")
    docs.shot("api-docs")
    assert outside == []
    assert docs.page.locator(".opblock").count() >= 40


def test_pages_cannot_be_framed(tab: Callable[[], Tab], server: Server) -> None:
    attacker = tab()
    attacker.allowed.append(
        'violates the following Content Security Policy directive: "frame-ancestors'
    )
    attacker.page.set_content(f'<iframe id="victim" src="{server.url}/admin"></iframe>')
    attacker.page.wait_for_timeout(1500)
    frame = attacker.page.frame_locator("#victim")
    assert frame.locator("#login-form").count() == 0  # blocked: the desk never rendered
