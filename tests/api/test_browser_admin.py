"""The admin desk in Chromium, at parity with the ``kb`` command: change notes and scheduled
approval, history and rollback, withdraw and archive, related tables, categories and packages,
hit testing with its controls, the golden set chosen in a dialog, and the 看板's charts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.api.browsing import DESKTOP, PHONE, Server, Tab, auth
from tests.api.browsing import shot_sized as shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TabMaker = Callable[..., Tab]


def _desk(tab: TabMaker, server: Server, user: str, viewport: dict[str, int] = DESKTOP) -> Tab:
    desk = tab(viewport)
    desk.goto("/admin")
    desk.login(server.tokens[user])
    desk.page.wait_for_selector("#admin-app:not(.hidden)")
    return desk


def _open_table(desk: Tab, package: str, code: str) -> None:
    desk.page.click(".tabs button[data-tab='editor']")
    desk.page.wait_for_selector("#editor-tables .editor-row")
    desk.page.select_option("#editor-package", package)
    desk.page.click(f"#editor-tables .editor-row[data-code='{code}']")
    desk.wait_for(f"document.querySelector('#editor-heading').textContent.startsWith('{code}')")


def _message(desk: Tab, text: str) -> None:
    desk.wait_for(f"document.querySelector('#admin-message').textContent.includes({text!r})")


def _api(desk: Tab, server: Server, method: str, path: str, user: str, **data: Any) -> Any:
    call = getattr(desk.page.request, method)
    kwargs: dict[str, Any] = {"headers": auth(server, user)}
    if data:
        kwargs["data"] = data
    response = call(server.url + path, **kwargs)
    assert response.ok, response.text()
    return response.json()


def test_reviewer_reads_the_change_note_and_schedules_the_approval(
    tab: TabMaker, server: Server
) -> None:
    editor = _desk(tab, server, "editor1")
    _open_table(editor, "通信业务/改号业务", "TX-GH-002")
    editor.page.fill("#f-answer", "新的答复（定时发布测试）。")
    editor.page.fill("#e-note", "按 12 月新规更新答复")
    editor.page.click("#editor-save")
    _message(editor, "草稿已保存")
    editor.page.click("#editor-submit")
    _message(editor, "已提交审核")
    shot(editor, "admin-editor-note")

    for viewport in (PHONE, DESKTOP):
        reviewer = _desk(tab, server, "reviewer1", viewport)
        row = reviewer.page.locator(".review-item[data-code='TX-GH-002']")
        row.click()
        reviewer.page.wait_for_selector("#review-detail:not(.hidden)")
        assert reviewer.page.inner_text("#review-note") == "按 12 月新规更新答复"
        assert "无修改说明" not in reviewer.page.inner_text("#review-meta")
        shot(reviewer, "admin-review-note")
    reviewer.page.fill("#review-publish-at", "2030-01-02T09:30")
    reviewer.page.click("#review-approve")
    _message(reviewer, "自动发布")
    shot(reviewer, "admin-review-scheduled")
    table = _api(reviewer, server, "get", "/api/admin/tables/TX-GH-002", "reviewer1")
    assert table["state"] == "scheduled" and table["live_revision"] == 1
    assert table["latest"]["publish_at"].startswith("2030-01-02T01:30")  # 09:30 in Shanghai

    _open_table(reviewer, "通信业务/改号业务", "TX-GH-002")
    history = reviewer.page.locator("#editor-history .revision-row")
    assert history.count() == 2
    assert "定时 2030" in history.nth(0).inner_text()
    assert "按 12 月新规更新答复" in history.nth(0).inner_text()


def test_a_slower_earlier_package_load_does_not_replace_the_package_chosen_since(
    tab: TabMaker, server: Server
) -> None:
    editor = _desk(tab, server, "editor1")
    held: list[Any] = []

    def hold_the_first(route: Any) -> None:
        if not held:
            held.append(route)  # answered only after the later choice has been shown
        else:
            route.continue_()

    editor.page.route("**/api/admin/packages/**", hold_the_first)
    editor.page.click(".tabs button[data-tab='editor']")
    for _ in range(200):  # the tab's own load of its first package, held
        if held:
            break
        editor.page.wait_for_timeout(50)
    assert held and "%E9%80%80%E6%8D%A2%E8%B4%A7" not in held[0].request.url  # not 退换货
    editor.page.select_option("#editor-package", "电商售后/退换货")
    editor.page.wait_for_selector("#editor-tables .editor-row[data-code='DS-THH-003']")
    with editor.page.expect_response(lambda r: r.request == held[0].request):
        held[0].continue_()
    editor.page.wait_for_timeout(300)  # time for the page to read the held answer
    assert editor.page.locator("#editor-tables .editor-row[data-code='DS-THH-003']").count() == 1
    editor.page.unroute("**/api/admin/packages/**")


def test_history_rollback_withdraw_and_archive(tab: TabMaker, server: Server) -> None:
    editor = _desk(tab, server, "editor1")
    _open_table(editor, "电商售后/退换货", "DS-THH-003")
    before = editor.page.input_value("#f-answer")
    editor.page.fill("#f-answer", "运费规则改写（回滚测试）。")
    editor.page.click("#editor-save")
    _message(editor, "草稿已保存")
    editor.page.click("#editor-submit")
    _message(editor, "已提交审核")
    _api(editor, server, "post", "/api/admin/tables/DS-THH-003/approve", "reviewer1", comment="")

    _open_table(editor, "电商售后/退换货", "DS-THH-003")
    rows = editor.page.locator("#editor-history .revision-row")
    assert rows.count() == 2
    rows.nth(1).locator(".view-revision").click()
    editor.page.wait_for_selector("#editor-revision:not(.hidden)")
    assert before.splitlines()[0] in editor.page.inner_text("#editor-revision")
    shot(editor, "admin-history")
    editor.page.once("dialog", lambda dialog: dialog.accept("新写法不对，恢复原文"))
    rows.nth(1).locator(".rollback").click()
    _message(editor, "已从 r1 新建草稿 r3")
    table = _api(editor, server, "get", "/api/admin/tables/DS-THH-003", "editor1")
    assert (table["latest"]["number"], table["latest"]["based_on"]) == (3, 1)
    assert table["latest"]["fields"]["answer"] == before
    assert table["latest"]["note"] == "新写法不对，恢复原文"

    editor.page.click("#editor-submit")
    _message(editor, "已提交审核")
    editor.page.wait_for_selector("#editor-withdraw:not(.hidden)")
    editor.page.click("#editor-withdraw")
    _message(editor, "已撤回")
    assert (
        _api(editor, server, "get", "/api/admin/tables/DS-THH-003", "editor1")["state"] == "draft"
    )
    assert editor.page.locator("#editor-archive:not(.hidden)").count() == 0  # editors don't archive

    reviewer = _desk(tab, server, "reviewer1")
    _open_table(reviewer, "电商售后/退换货", "DS-THH-004")
    reviewer.page.once("dialog", lambda dialog: dialog.accept("业务下线"))
    reviewer.page.click("#editor-archive")
    _message(reviewer, "已归档下线")
    archived = _api(reviewer, server, "get", "/api/admin/tables/DS-THH-004", "reviewer1")
    assert (archived["state"], archived["live_revision"]) == ("archived", None)
    shot(reviewer, "admin-archived")


def test_a_flagged_table_opens_in_its_package_and_gets_related_tables(
    tab: TabMaker, server: Server
) -> None:
    reviewer = _desk(tab, server, "reviewer1")
    _api(
        reviewer,
        server,
        "post",
        "/api/flags",
        "agent1",
        code="YH-XYK-001",
        reason="outdated",
        comment="进度查询入口改了",
    )
    reviewer.page.click(".tabs button[data-tab='editor']")
    reviewer.page.wait_for_selector("#editor-tables .editor-row")
    reviewer.page.select_option("#editor-package", "通信业务/改号业务")
    reviewer.page.click(".tabs button[data-tab='flagged']")
    reviewer.page.click(".edit-flagged[data-code='YH-XYK-001']")
    reviewer.wait_for(
        "document.querySelector('#editor-heading').textContent.startsWith('YH-XYK-001')"
    )
    assert reviewer.page.input_value("#editor-package") == "银行服务/信用卡"
    assert reviewer.page.locator("#editor-tables .editor-row[data-code='YH-XYK-001']").count() == 1

    reviewer.page.fill("#e-related", "YH-XYK-002  YH-XYK-003")
    reviewer.page.click("#editor-save")
    _message(reviewer, "关联知识")
    related = _api(reviewer, server, "get", "/api/admin/tables/YH-XYK-001", "reviewer1")["related"]
    assert [r["code"] for r in related] == ["YH-XYK-002", "YH-XYK-003"]
    assert "YH-XYK-002" in reviewer.page.inner_text("#e-related-titles")
    shot(reviewer, "admin-flagged-related")


def test_categories_and_packages_are_created_edited_and_only_empty_ones_deleted(
    tab: TabMaker, server: Server
) -> None:
    admin = _desk(tab, server, "admin1")
    admin.allowed.append("status of 409")  # the refused deletion below
    admin.page.click(".tabs button[data-tab='hierarchy']")
    admin.page.wait_for_selector(".category-card")
    admin.page.fill("#category-name", "测试大类")
    admin.page.click("#category-create")
    _message(admin, "大类 测试大类 已新建")
    admin.page.select_option("#package-category", "测试大类")
    admin.page.fill("#package-name", "测试包")
    answer = admin.page.locator(
        "#template-rows tr.template-row", has=admin.page.locator(".t-key[value='answer']")
    )
    assert answer.locator(".t-customer").get_attribute("placeholder") in ("答复", "自动")
    answer.locator(".t-customer").fill("解答")
    admin.page.click("#package-save")
    _message(admin, "知识包 测试大类/测试包 已新建")
    created = _api(admin, server, "get", "/api/admin/packages/测试大类/测试包", "admin1")
    assert [(f["key"], f["customer_sees"]) for f in created["template"]][:2] == [
        ("question", "问题"),
        ("answer", "解答"),
    ]

    admin.page.once("dialog", lambda dialog: dialog.accept())
    admin.page.click(".delete-package[data-path='通信业务/改号业务']")
    admin.page.wait_for_selector("#admin-message.error")
    refusal = admin.page.inner_text("#admin-message")
    assert "Package 通信业务/改号业务 still holds" in refusal and "only an empty package" in refusal
    shot(admin, "admin-hierarchy-refused")

    admin.page.click(".edit-package[data-path='通信业务/改号业务']")
    admin.wait_for(
        "document.querySelector('#package-form-title').textContent.includes('通信业务/改号业务')"
    )
    steps = admin.page.locator(
        "#template-rows tr.template-row", has=admin.page.locator(".t-key[value='steps']")
    )
    steps.locator(".t-customer").fill("办理步骤")
    admin.page.click("#package-save")
    _message(admin, "通信业务/改号业务 已保存")
    faq = admin.page.request.get(server.url + "/api/faq/tables/TX-GH-001").json()
    assert "办理步骤" in [f["label"] for f in faq["fields"]]

    admin.page.once("dialog", lambda dialog: dialog.accept())
    admin.page.click(".delete-package[data-path='测试大类/测试包']")
    _message(admin, "知识包 测试大类/测试包 已删除")
    admin.page.once("dialog", lambda dialog: dialog.accept())
    admin.page.click(".delete-category[data-name='测试大类']")
    _message(admin, "大类 测试大类 已删除")
    admin.page.wait_for_selector(".category-card[data-category='测试大类']", state="detached")
    shot(admin, "admin-hierarchy")

    phone = _desk(tab, server, "admin1", PHONE)
    phone.page.click(".tabs button[data-tab='hierarchy']")
    phone.page.wait_for_selector(".category-card")
    shot(phone, "admin-hierarchy")


def test_hit_test_controls_and_a_click_to_fix_the_entry(tab: TabMaker, server: Server) -> None:
    desk = _desk(tab, server, "editor1")
    desk.page.click(".tabs button[data-tab='hittest']")
    desk.page.fill("#hittest-q", "换了新号码以后旧号还扣钱吗")
    desk.page.select_option("#hittest-channel", "customer")
    desk.page.select_option("#hittest-mode", "bm25")
    desk.page.fill("#hittest-k", "3")
    desk.page.fill("#hittest-threshold", "0.99")
    desk.page.click("#hittest-button")
    desk.page.wait_for_selector("#hittest-table")
    summary = desk.page.inner_text("#hittest-summary")
    assert "阈值 99%（默认" in summary and "模式 bm25" in summary and "前 3 条" in summary
    rows = desk.page.locator("#hittest-table tr[data-code]")
    assert rows.count() == 3
    shot(desk, "admin-hit-test-controls")

    desk.page.fill("#hittest-threshold", "")
    desk.page.click("#hittest-button")
    desk.wait_for("document.querySelector('#hittest-summary').textContent.includes('（默认）')")
    first = desk.page.locator("#hittest-table tr[data-code]").first
    code = first.get_attribute("data-code")
    assert code == "TX-GH-001"
    first.locator(".hittest-open").click()
    desk.wait_for(f"document.querySelector('#editor-heading').textContent.startsWith('{code}')")
    assert desk.page.input_value("#editor-package") == "通信业务/改号业务"
    shot(desk, "admin-hit-test-opened")


def test_golden_set_asks_which_table_and_confirms(tab: TabMaker, server: Server) -> None:
    desk = _desk(tab, server, "reviewer1")
    for _ in range(3):  # customers asked; no confident answer each time
        found = desk.page.request.get(server.url + "/api/faq/search?q=你们支持火星快递吗").json()
        assert found["abstained"] is True
    desk.page.click(".tabs button[data-tab='dashboard']")
    button = desk.page.locator("#top-queries button.golden[data-query='你们支持火星快递吗']")
    button.wait_for()
    button.click()
    dialog = desk.page.locator("#golden-dialog[open]")
    dialog.wait_for()
    desk.page.wait_for_selector("#golden-candidates input[name='golden-pick']")
    # Nothing is chosen for the reviewer, least of all what the query happened to get.
    assert desk.page.locator("#golden-candidates input:checked").count() == 0
    assert desk.page.is_disabled("#golden-confirm")
    assert "没有得到把握答案" in desk.page.inner_text("#golden-seen")
    shot(desk, "admin-golden-dialog")
    desk.page.click("#golden-cancel")
    assert _api(desk, server, "get", "/api/admin/golden", "reviewer1")["count"] == 0

    button.click()
    dialog.wait_for()
    desk.page.fill("#golden-q", "顺丰快递")
    desk.page.click("#golden-search")
    desk.page.wait_for_selector("#golden-candidates[data-query='顺丰快递'] input:nth-child(1)")
    assert desk.page.locator("#golden-candidates input[name='golden-pick']").count() > 1
    pick = desk.page.locator("#golden-candidates input[name='golden-pick']").nth(1)
    chosen = pick.get_attribute("value")
    pick.check()
    assert desk.page.inner_text("#golden-confirm") == f"确认加入 {chosen}"
    assert chosen is not None and chosen in desk.page.inner_text("#golden-choice")
    shot(desk, "admin-golden-chosen")
    desk.page.click("#golden-confirm")
    _message(desk, "已加入黄金集")
    items = _api(desk, server, "get", "/api/admin/golden", "reviewer1")["items"]
    assert [(g["query"], g["code"]) for g in items] == [("你们支持火星快递吗", chosen)]


def test_an_agents_helpful_answer_is_proposed_and_confirmed(tab: TabMaker, server: Server) -> None:
    query = "旧号码改完还收月租吗"
    for _ in range(2):
        _api(
            tab(),
            server,
            "post",
            "/api/feedback",
            "agent1",
            code="TX-GH-001",
            helpful=True,
            query=query,
        )
    desk = _desk(tab, server, "reviewer1")
    desk.page.click(".tabs button[data-tab='dashboard']")
    button = desk.page.locator(f"#dash-endorsed button.golden[data-query='{query}']")
    button.wait_for()
    assert "2 / 0" in desk.page.inner_text("#dash-endorsed")
    button.click()
    desk.page.locator("#golden-dialog[open]").wait_for()
    # the agents' table is proposed, named as theirs, and still waits for the reviewer's click
    assert "坐席 2 次评为有用：TX-GH-001" in desk.page.inner_text("#golden-seen")
    assert desk.page.input_value("#golden-code") == "TX-GH-001"
    desk.page.wait_for_selector("#golden-candidates input[name='golden-pick']")
    assert desk.page.inner_text("#golden-confirm") == "确认加入 TX-GH-001"
    assert not desk.page.is_disabled("#golden-confirm")
    shot(desk, "admin-golden-endorsed")
    desk.page.click("#golden-confirm")
    _message(desk, "已加入黄金集")
    items = _api(desk, server, "get", "/api/admin/golden", "reviewer1")["items"]
    assert (query, "TX-GH-001") in [(g["query"], g["code"]) for g in items]
    board = _api(desk, server, "get", "/api/admin/dashboard", "reviewer1")
    assert query not in [e["query"] for e in board["endorsed"]]


def test_rates_legend_is_drawn_whole_above_the_plot(tab: TabMaker, server: Server) -> None:
    _api(tab(), server, "get", "/api/search?q=改号", "agent1")
    for viewport in (DESKTOP, PHONE):
        desk = _desk(tab, server, "reviewer1", viewport)
        desk.page.click(".tabs button[data-tab='dashboard']")
        desk.page.wait_for_selector("#chart-rates svg text.legend", state="attached")
        boxes = desk.page.evaluate(
            """() => {
              const svg = document.querySelector('#chart-rates svg');
              const grid = [...svg.querySelectorAll('line.grid')].map((l) => Number(l.getAttribute('y1')));
              const legends = [...svg.querySelectorAll('text.legend')].map((t) => {
                const b = t.getBBox();
                return { x: b.x, right: b.x + b.width, top: b.y, bottom: b.y + b.height };
              });
              return { legends: legends, gridTop: Math.min(...grid) };
            }"""
        )
        first, second = boxes["legends"]
        for legend in (first, second):
            assert legend["top"] >= 0, boxes
            assert legend["bottom"] <= boxes["gridTop"], boxes
        assert second["x"] > first["right"], boxes
        shot(desk, "admin-dashboard-rates")
