"""Channel rules at query time: what customers and agents may see, and when."""

from __future__ import annotations

from datetime import timedelta

from indexer.service import SearchService
from kb.clock import utcnow
from kb.db import Database
from kb.settings import Settings
from kb.visibility import Channel
from tests.factories import ask


def _codes(service: SearchService, query: str, **kwargs: object) -> list[str]:
    result = service.search(ask(query, k=10, **kwargs))
    return [s.code for s in result.suggestions]


def test_customer_never_sees_internal_tables_or_drafts(
    settings: Settings, filled_db: Database
) -> None:
    service = SearchService.open(settings, filled_db)
    for query in ("信用卡额度内部调整口径", "额度调整内部规则", "ETC办理", "草稿内容"):
        codes = _codes(service, query, channel=Channel.CUSTOMER)
        assert "BK-IN-009" not in codes and "BK-DR-010" not in codes
    agent = _codes(service, "信用卡额度内部调整口径", channel=Channel.AGENT)
    assert agent[0] == "BK-IN-009"
    assert "BK-DR-010" not in _codes(service, "草稿 ETC办理", channel=Channel.AGENT)


def test_internal_fields_never_reach_a_customer_result(
    settings: Settings, filled_db: Database
) -> None:
    service = SearchService.open(settings, filled_db)
    now = utcnow()
    customer = service.search(ask("工单编号规则 KX9", channel=Channel.CUSTOMER, k=10, now=now))
    text = repr(customer.suggestions)
    assert "KX9" not in text and "工单编号" not in text
    agent = service.search(ask("工单编号规则 KX9", channel=Channel.AGENT, k=3, now=now))
    top = agent.suggestions[0]
    assert top.code == "TX-GH-001"
    assert top.matched.key == "internal_note" and "KX9" in top.matched.snippet


def test_stale_tables_disappear_at_query_time_without_a_sweep(
    settings: Settings, filled_db: Database
) -> None:
    service = SearchService.open(settings, filled_db)
    later = utcnow() + timedelta(days=3650)  # far past the 180-day review interval
    assert (
        service.search(ask("5G套餐怎么办理", channel=Channel.CUSTOMER, now=later)).suggestions == ()
    )
    assert service.search(ask("5G套餐怎么办理", channel=Channel.AGENT, now=later)).suggestions == ()
    marked = service.search(
        ask("5G套餐怎么办理", channel=Channel.AGENT, now=later, include_expired=True)
    )
    assert marked.suggestions[0].code == "TX-5G-002"
    assert marked.suggestions[0].expired is True
    # Customers cannot ask for expired content.
    asked = service.search(
        ask("5G套餐怎么办理", channel=Channel.CUSTOMER, now=later, include_expired=True)
    )
    assert asked.suggestions == ()


def test_visibility_filter_is_counted(settings: Settings, filled_db: Database) -> None:
    service = SearchService.open(settings, filled_db)
    now = utcnow()
    result = service.search(ask("信用卡额度内部调整口径", channel=Channel.CUSTOMER, now=now))
    # The internal BK-IN-009, once: the pool is short of k for a customer, so every visible
    # table is scored, and what was hidden is not counted a second time.
    assert result.filtered == 1
    assert "BK-IN-009" not in [s.code for s in result.suggestions]


def test_scope_filters(settings: Settings, filled_db: Database) -> None:
    service = SearchService.open(settings, filled_db)
    now = utcnow()
    scoped = service.search(ask("信用卡", category="通信业务", now=now, k=10))
    assert {s.category for s in scoped.suggestions} == {"通信业务"}
    by_package = service.search(ask("办理", package="通信业务/改号业务", now=now, k=10))
    assert {s.package for s in by_package.suggestions} == {"改号业务"}
    tagged = service.search(ask("号码", tags=["改号"], now=now, k=10))
    assert [s.code for s in tagged.suggestions] == ["TX-GH-001"]
