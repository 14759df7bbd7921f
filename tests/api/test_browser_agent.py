"""The agent console in Chromium, on a desktop (1366×900) and a phone (390×844).

The whole entry one click away, an unmistakable 无把握 state in the order of the confidence
shown, votes and flags that stay on the card, Traditional answers for Traditional questions,
and copying in the channel the agent picks. Screenshots: screenshots/agent-*-{desktop,phone}.png.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.api.browsing import DESKTOP, PHONE, Server, Tab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORTS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]


def _name(viewport: dict[str, int]) -> str:
    return "phone" if viewport == PHONE else "desktop"


def _search(tab: Tab, query: str) -> Any:
    tab.page.fill("#agent-q", query)
    tab.page.click("#agent-search")
    tab.wait_for(
        "q => typeof Agent !== 'undefined' && Agent.last && Agent.last.query === q", arg=query
    )
    first = tab.page.locator(".suggestion").first
    first.wait_for()
    return first


def _console(
    tab: Callable[..., Tab], server: Server, viewport: dict[str, int], user: str = "agent1"
) -> Tab:
    agent = tab(viewport)
    agent.goto("/agent")
    agent.login(server.tokens[user])
    return agent


def _card(agent: Tab, code: str) -> Any:
    card = agent.page.locator(f".suggestion[data-code='{code}']")
    card.wait_for()
    return card


def _clipboard(agent: Tab) -> str:
    agent.page.wait_for_selector(".toast")
    text: str = agent.page.evaluate("navigator.clipboard.readText()")
    return text


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_whole_entry_is_one_click_away(
    tab: Callable[..., Tab], server: Server, viewport: dict[str, int]
) -> None:
    agent = _console(tab, server, viewport)
    # the scope choices arrive with the token (the page names no category)
    agent.page.locator("#agent-category option[value='银行服务']").wait_for(state="attached")
    _search(agent, "手机银行转账限额怎么调整")
    card = _card(agent, "YH-SJ-003")
    card.locator("button.title-open").click()
    entry = card.locator(".entry")
    entry.locator(".entry-field").first.wait_for()
    labels = [label.split(" ")[0] for label in entry.locator(".field-label").all_inner_texts()]
    # every field of the template the table fills (it has no 适用范围), then its related tables
    assert labels == [
        "问题描述",
        "标准答复",
        "操作步骤",
        "功能入口",
        "注意事项",
        "内部备注",
        "相似问法",
        "相关知识",
    ]
    note = entry.locator(".entry-field.internal")
    assert "坐席无权调整，需引导客户到网点核实" in note.inner_text()
    assert "内部 · 勿对客户展示" in note.inner_text()
    assert "银行服务" in entry.locator(".path").inner_text()
    assert re.search(r"有效期 2025-01-01 至 2027-12-31", entry.locator(".validity").inner_text())
    assert card.locator(".title-open").get_attribute("aria-expanded") == "true"
    agent.shot(f"agent-entry-{_name(viewport)}")

    related = entry.locator(".related-open[data-code='YH-SJ-010']")
    related.click()
    agent.page.wait_for_selector("#entry-dialog[open] .entry-field")
    assert "YH-SJ-010" in agent.page.inner_text("#entry-dialog-body")
    agent.shot(f"agent-entry-related-{_name(viewport)}")
    agent.page.click("#entry-dialog-close")
    card.locator("button.open").click()  # 收起
    assert card.locator(".entry").is_hidden()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_an_unsure_answer_is_unmistakable_and_ordered_by_its_confidence(
    tab: Callable[..., Tab], server: Server, viewport: dict[str, int]
) -> None:
    agent = _console(tab, server, viewport)
    _search(agent, "你们支持火星快递吗")
    banner = agent.page.locator("#agent-unsure")
    assert banner.is_visible()
    assert "无把握 — 请核实后再答复" in banner.inner_text()
    cards = agent.page.locator(".suggestion")
    assert (
        cards.count()
        == cards.locator(".badge.unsure").count()
        == agent.page.locator(".suggestion.unsure").count()
    )
    shown = [
        int(re.search(r"(\d+)%", t)[1]) for t in cards.locator(".badge.unsure").all_inner_texts()
    ]  # type: ignore[index]
    assert shown == sorted(shown, reverse=True)
    copy = cards.first.locator("button.copy")
    assert "primary" not in (copy.get_attribute("class") or "")
    # Confidence grows with the ranking score: the order shown is the retriever's.
    assert "检索排名第" not in cards.first.locator(".scores").inner_text()
    agent.shot(f"agent-unsure-{_name(viewport)}")

    _search(agent, "换了新号码以后旧号还扣钱吗")
    assert agent.page.locator("#agent-unsure").count() == 0
    first = agent.page.locator(".suggestion").first
    assert "primary" in (first.locator("button.copy").get_attribute("class") or "")
    assert first.locator(".badge.conf").is_visible()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_votes_and_flags_stay_on_the_card(
    tab: Callable[..., Tab], server: Server, viewport: dict[str, int]
) -> None:
    user = "agent1" if viewport == DESKTOP else "agent2"  # each its own flags
    agent = _console(tab, server, viewport, user)
    query = "信用卡逾期了怎么办" if viewport == DESKTOP else "信用卡逾期会影响征信吗"
    card = _search(agent, query)
    code = card.get_attribute("data-code")
    card.locator("button.helpful[data-helpful='1']").click()
    marked = _card(agent, code)
    marked.locator(".badge.vote").wait_for()
    assert marked.locator(".badge.vote").inner_text() == "已评价：有帮助"
    assert marked.locator("button.helpful").first.is_disabled()
    marked.locator("button.flag").click()
    agent.page.select_option("#flag-reason", "outdated")
    agent.page.fill("#flag-comment", "年费政策已调整")
    agent.page.click("#flag-submit")
    _card(agent, code).locator(".badge.flagged").wait_for()
    assert _card(agent, code).locator(".badge.flagged").inner_text() == "已标记：信息过时"
    agent.shot(f"agent-marks-{_name(viewport)}")

    agent.page.reload()  # the vote from this session, the flag from the server
    agent.page.wait_for_selector("#logout-button:not(.hidden)")
    _search(agent, query)
    again = _card(agent, code)
    assert again.locator(".badge.vote").inner_text() == "已评价：有帮助"
    assert again.locator(".badge.flagged").inner_text() == "已标记：信息过时"
    agent.shot(f"agent-marks-after-reload-{_name(viewport)}")
    _search(agent, query + "？")  # another question: the vote was for the first one
    assert _card(agent, code).locator(".badge.vote").count() == 0
    assert _card(agent, code).locator(".badge.flagged").count() == 1


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_traditional_question_gets_a_traditional_answer_to_copy(
    tab: Callable[..., Tab], server: Server, viewport: dict[str, int]
) -> None:
    agent = _console(tab, server, viewport)
    agent.page.select_option("#agent-channel", "wechat")
    _search(agent, "手機銀行轉賬限額怎麼調整")
    assert agent.page.locator("#agent-traditional-note").is_visible()
    assert agent.page.locator("#agent-traditional-box").is_visible()
    card = _card(agent, "YH-SJ-003")
    assert card.locator("button.copy").inner_text() == "复制繁体纯文本"
    card.locator("button.copy").click()
    copied = _clipboard(agent)
    assert copied.startswith("手機銀行的轉賬限額由三方面共同決定：您使用的安全認證方式（簡訊驗證碼")
    agent.shot(f"agent-traditional-{_name(viewport)}")
    agent.page.uncheck("#agent-traditional")
    card = _card(agent, "YH-SJ-003")
    card.locator("button.copy").click()
    agent.wait_for("navigator.clipboard.readText().then(t => t.startsWith('手机银行的转账限额'))")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_console_copies_in_the_channel_picked(
    tab: Callable[..., Tab], server: Server, viewport: dict[str, int]
) -> None:
    agent = _console(tab, server, viewport)
    _search(agent, "手机银行转账限额怎么调整")
    agent.page.select_option("#agent-channel", "sms")
    card = _card(agent, "YH-SJ-003")
    assert re.fullmatch(r"复制短信 · \d 条", card.locator("button.copy").inner_text())
    card.locator(".preview summary").click()
    parts = card.locator(".preview-parts li").all_inner_texts()
    assert 1 < len(parts) <= 3
    card.locator("button.copy").click()
    sms = _clipboard(agent)
    assert "**" not in sms and "http" not in sms and len(sms) <= 210
    agent.shot(f"agent-copy-sms-{_name(viewport)}")

    agent.page.select_option("#agent-channel", "voice")
    _card(agent, "YH-SJ-003").locator("button.copy").click()
    agent.wait_for("navigator.clipboard.readText().then(t => t.includes('第一步') || t.length > 0)")
    voice: str = agent.page.evaluate("navigator.clipboard.readText()")
    assert voice != sms and not re.search(r"[“”\"*#|<>\[\]/-]", voice)

    agent.page.select_option("#agent-channel", "agent")
    _card(agent, "YH-SJ-003").locator("button.copy").click()
    agent.wait_for("navigator.clipboard.readText().then(t => t.includes('【内部备注·内部】'))")
    full: str = agent.page.evaluate("navigator.clipboard.readText()")
    assert full.startswith("手机银行转账限额是多少，怎么调整（YH-SJ-003）")
    assert "坐席无权调整" in full
    agent.shot(f"agent-copy-full-{_name(viewport)}")

    agent.page.reload()  # the channel picked is remembered
    agent.page.wait_for_selector("#logout-button:not(.hidden)")
    assert agent.page.input_value("#agent-channel") == "agent"
    agent.page.select_option("#agent-channel", "wechat")
