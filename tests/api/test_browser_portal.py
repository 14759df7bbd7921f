"""The customer FAQ portal in Chromium, on a desktop (1366×900) and a phone (390×844): results
before the tree, no staff wording, and 联系人工客服 as a real request staff answer."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.api.browsing import DESKTOP, PHONE, Server, Tab, auth, top
from tests.api.browsing import shot_sized as shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TabMaker = Callable[..., Tab]
FOLD = PHONE["height"]
ANSWERED = "换了新号码以后旧号还扣钱吗"
UNANSWERED = "我家的猫不吃饭怎么办"
STAFF_WORDS = ("标准答复", "问题描述", "客服工作台", "知识管理", "左侧")


def _no_staff_words(text: str) -> None:
    assert [w for w in STAFF_WORDS if w in text] == []


def test_on_a_phone_results_come_first_and_the_answer_is_above_the_fold(tab: TabMaker) -> None:
    phone = tab(PHONE)
    phone.goto(f"/faq?q={ANSWERED}")
    phone.page.wait_for_selector(".faq-hit")
    answer_top = top(phone, ".faq-hit .answer")
    assert answer_top < FOLD * 0.6, answer_top  # the answer starts in the upper part of the screen
    assert top(phone, "#faq-tree") > top(phone, ".faq-hit")  # the tree comes after the results
    _no_staff_words(phone.page.inner_text("body"))
    assert phone.page.locator("header a[href='/agent'], header a[href='/admin']").count() == 0
    shot(phone, "faq-results", full_page=False)

    desktop = tab(DESKTOP)
    desktop.goto(f"/faq?q={ANSWERED}")
    desktop.page.wait_for_selector(".faq-hit")
    tree = desktop.page.locator("#faq-tree").bounding_box()
    results = desktop.page.locator("#faq-results").bounding_box()
    assert tree is not None and results is not None
    assert tree["x"] < results["x"] and abs(tree["y"] - results["y"]) < 2  # tree on the left
    _no_staff_words(desktop.page.inner_text("body"))
    shot(desktop, "faq-results")


def test_the_home_page_lists_questions_without_pointing_left(tab: TabMaker) -> None:
    for viewport in (PHONE, DESKTOP):
        home = tab(viewport)
        home.goto("/faq")
        home.page.wait_for_selector(".package-card")
        _no_staff_words(home.page.inner_text("body"))
        more = home.page.locator(".package-card details.more").first
        more.locator("summary").click()
        assert more.locator("li").count() >= 1
        if viewport is PHONE:
            assert top(home, "#faq-tree") > top(home, ".package-card")
        shot(home, "faq-home")


def test_answers_use_customer_labels_and_match_lines_follow_the_question(tab: TabMaker) -> None:
    page = tab(DESKTOP)
    page.goto("/faq/tables/TX-GH-001")
    page.page.wait_for_selector("#faq-table")
    labels = page.page.locator("#faq-table .field-label").all_inner_texts()
    assert labels[:2] == ["问题", "答复"]
    _no_staff_words(page.page.inner_text("body"))
    assert "内部备注" not in page.page.inner_text("main")
    shot(page, "faq-table-labels")

    # The best match for this question is a similar question stored in Traditional.
    page.goto("/faq?q=这个月话费怎么变多了")
    hit = page.page.locator(".faq-hit[data-code='TX-ZD-002']")
    hit.wait_for()
    match = hit.locator(".match").inner_text()
    assert "话费怎么变多" in match and not re.search("[這個話費麼變]", match), match
    shot(page, "faq-match-simplified")


def test_an_unanswered_question_reaches_a_person_from_a_phone(
    tab: TabMaker, server: Server
) -> None:
    phone = tab(PHONE)
    phone.allowed.append("status of 422")  # the refused phone number below
    phone.goto(f"/faq?q={UNANSWERED}")
    phone.page.wait_for_selector("#contact")
    assert top(phone, "#contact") < FOLD * 0.75  # no scrolling to find a person
    assert top(phone, "#contact-agent") < FOLD
    shot(phone, "faq-unanswered", full_page=False)

    phone.page.click("#contact-agent")
    phone.page.wait_for_selector("#contact-form:not(.hidden)")
    assert phone.page.input_value("#contact-question") == UNANSWERED
    phone.page.fill("#contact-name", "王先生")
    phone.page.fill("#contact-phone", "12345")
    phone.page.click("#contact-submit")
    phone.page.wait_for_selector("#contact-error.error")
    error = phone.page.inner_text("#contact-error")
    assert "手机号格式不对" in error and "13812345678" in error
    shot(phone, "faq-contact-error")

    phone.page.fill("#contact-phone", "138 1234 5678")
    phone.page.fill("#contact-question", UNANSWERED + "，它三岁了")
    phone.page.click("#contact-submit")
    phone.page.wait_for_selector("#contact-done:not(.hidden)")
    ref = phone.page.inner_text("#contact-ref")
    token = phone.page.inner_text("#contact-token")
    assert re.fullmatch(r"KF\d{6}", ref) and len(token) == 12
    shot(phone, "faq-contact-sent", full_page=False)

    staff = phone.page.request.get(
        f"{server.url}/api/admin/requests/{ref}", headers=auth(server, "agent1")
    ).json()
    assert staff["question"] == UNANSWERED + "，它三岁了"
    assert staff["abstained"] is True and staff["channel"] == "web"
    assert staff["contact"]["phone"] == "13812345678"
    # What was on the screen: the "maybe related" titles, never the staff's internal ones.
    maybe = phone.page.locator("#faq-maybe a").count()
    assert len(staff["shown"]) == maybe

    phone.page.click("#contact-status")
    phone.page.wait_for_selector("#request-status")
    assert phone.page.inner_text("#request-state") == "已收到，等待客服处理"
    assert "138****5678" in phone.page.inner_text("#request-contact")
    shot(phone, "faq-request-new")


def test_staff_answer_and_the_customer_reads_it(tab: TabMaker, server: Server) -> None:
    customer = tab(DESKTOP)
    customer.goto(f"/faq?q={ANSWERED}")
    customer.page.wait_for_selector(".faq-hit")
    customer.page.click("#show-contact")
    customer.page.click("#contact-agent")
    customer.page.fill("#contact-question", "改号后积分还在吗")
    customer.page.fill("#contact-wechat", "wang_li88")
    customer.page.click("#contact-submit")
    customer.page.wait_for_selector("#contact-done:not(.hidden)")
    ref = customer.page.inner_text("#contact-ref")
    status_url = customer.page.get_attribute("#contact-status", "href")
    assert status_url is not None

    agent = tab(DESKTOP)
    agent.goto("/admin")
    agent.login(server.tokens["agent1"])
    # An agent works requests here and sees nothing else of the desk.
    agent.page.wait_for_selector(f".request-row[data-ref='{ref}']")
    visible = agent.page.locator(".tabs button:not(.hidden)").all_inner_texts()
    assert [t.rstrip("0123456789") for t in visible] == ["客户请求"]
    agent.page.click(f".request-row[data-ref='{ref}']")
    agent.page.wait_for_selector("#request-detail:not(.hidden)")
    assert "改号后积分还在吗" in agent.page.inner_text("#request-question")
    assert "TX-GH-001" in agent.page.inner_text("#request-shown")
    assert "wang_li88" in agent.page.inner_text("#request-contact")
    agent.page.click("#request-take")
    agent.wait_for("document.querySelector('#request-meta').textContent.includes('处理人 agent1')")
    agent.page.fill("#request-text", "您好，改号后积分会自动转到新号码。")
    agent.page.click("#request-reply")
    agent.wait_for("document.querySelector('#admin-message').textContent.includes('已回复客户')")
    assert "已答复" in agent.page.inner_text("#request-title")
    shot(agent, "admin-request-answered")

    customer.goto(status_url)
    customer.page.wait_for_selector("#request-status")
    assert customer.page.inner_text("#request-state") == "客服已答复"
    assert "积分会自动转到新号码" in customer.page.inner_text("#request-replies")
    assert "agent1" not in customer.page.inner_text("main")
    shot(customer, "faq-request-answered")

    # Another customer's request cannot be read with this token, and nothing of it shows.
    other = customer.page.request.post(
        f"{server.url}/api/faq/requests", data={"question": "别人的问题", "phone": "13900001111"}
    ).json()
    token = status_url.split("token=")[1]
    peek = customer.page.request.get(f"{server.url}/faq/request/{other['ref']}?token={token}")
    assert peek.status == 404
    assert "别人的问题" not in peek.text() and "1111" not in peek.text()


def test_a_question_too_long_for_the_url_gets_a_page_not_json(tab: TabMaker) -> None:
    for viewport in (PHONE, DESKTOP):
        page = tab(viewport)
        page.goto("/faq?q=" + "我想问一下" * 50)
        page.page.wait_for_selector("#faq-error")
        assert "超过了 200 字的搜索上限" in page.page.inner_text("#faq-error")
        assert page.page.locator("#contact").count() == 1
        assert "validation_failed" not in page.page.content()
        shot(page, "faq-too-long", full_page=False)


def test_an_error_page_still_leads_to_a_person(tab: TabMaker) -> None:
    page = tab(PHONE)
    page.allowed.append("status of 404")  # the page asked for does not exist
    page.goto("/faq/tables/NOPE-404")
    page.page.wait_for_selector("#error-page")
    _no_staff_words(page.page.inner_text("body"))
    page.page.click("#error-page a[href='/faq#contact']")
    page.page.wait_for_selector("#contact:visible")
    page.page.click("#contact-agent")
    page.page.wait_for_selector("#contact-form:not(.hidden)")
    assert page.page.input_value("#contact-question") == ""
    assert page.page.locator("#contact-lookup").get_attribute("href") == "/faq/request"
    shot(page, "faq-contact-from-error")
