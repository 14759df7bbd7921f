"""Head and body BM25: which index a match lands in, internal views, ad-hoc documents."""

from __future__ import annotations

import numpy as np
import pytest

from indexer import documents as documents_module
from indexer.analysis import Analyzer
from indexer.bm25 import Bag, BM25Index
from indexer.documents import DocField, IndexDocument
from indexer.lexical import LexicalIndex
from tests.indexer.long_answer import TOPICS


def doc(
    i: int, title: str, answer: str, *, note: str = "", questions: tuple[str, ...] = ()
) -> IndexDocument:
    fields = [DocField("answer", "标准答复", "text", "public", True, 1.0, answer)]
    if note:
        fields.append(DocField("note", "内部备注", "text", "internal", True, 1.0, note))
    return IndexDocument(
        i, f"C{i}", title, list(questions), [], "类", "包", 1, "public", 1, i, fields
    )


DOCS = [
    doc(1, "改号后原号码是否还会产生话费", "改号完成后原号码停止计费。", note="工单编号规则 KX9"),
    doc(2, "信用卡额度怎么调整", "登录手机银行申请调整额度。", questions=("额度能提高吗",)),
    doc(3, "宽带报修", "拨打客服热线报修，改号不影响宽带。"),
    doc(4, "话费余额怎么查询", "发送短信查询余额。"),
]


@pytest.fixture
def lexical() -> LexicalIndex:
    index = LexicalIndex(Analyzer())
    index.build(DOCS)
    return index


def row_of(index: LexicalIndex, table_id: int) -> int:
    return index.row[table_id]


def test_a_title_match_lands_in_the_head_an_answer_match_in_the_body(lexical: LexicalIndex) -> None:
    tokens = lexical.analyzer.tokens("停止计费")
    scores = lexical.scores(tokens, "agent")
    assert scores.head[row_of(lexical, 1)] == 0.0
    assert scores.body[row_of(lexical, 1)] > 0.0
    tokens = lexical.analyzer.tokens("额度能提高吗")
    scores = lexical.scores(tokens, "agent")
    assert scores.head[row_of(lexical, 2)] > scores.body[row_of(lexical, 2)] > 0.0


def test_internal_fields_count_for_agents_only(lexical: LexicalIndex) -> None:
    tokens = lexical.analyzer.tokens("KX9")
    agent = lexical.scores(tokens, "agent")
    customer = lexical.scores(tokens, "customer")
    assert agent.body[row_of(lexical, 1)] > 0.0
    assert customer.body[row_of(lexical, 1)] == 0.0


def test_coverage_weighs_the_body_as_asked(lexical: LexicalIndex) -> None:
    tokens = lexical.analyzer.tokens("改号 宽带")
    scores = lexical.scores(tokens, "agent")
    r = row_of(lexical, 3)
    for weight in (0.0, 0.5, 1.0):
        expected = (scores.head[r] + weight * scores.body[r]) / (
            scores.head_attainable + weight * scores.body_attainable
        )
        assert scores.coverage(weight)[r] == pytest.approx(expected)


def test_remove_then_add_scores_as_a_fresh_build(lexical: LexicalIndex) -> None:
    lexical.remove(3)
    lexical.add(DOCS[2])
    fresh = LexicalIndex(Analyzer())
    fresh.build(DOCS)
    tokens = fresh.analyzer.tokens("改号宽带报修")
    a, b = lexical.scores(tokens, "agent"), fresh.scores(tokens, "agent")
    for t in (1, 2, 3, 4):
        assert a.head[lexical.row[t]] == pytest.approx(b.head[fresh.row[t]])
        assert a.body[lexical.row[t]] == pytest.approx(b.body[fresh.row[t]])


def test_an_ad_hoc_document_scores_as_if_it_were_indexed(lexical: LexicalIndex) -> None:
    tokens = lexical.analyzer.tokens("改号后原号码还扣话费吗")
    scores = lexical.scores(tokens, "agent")
    head, body = lexical.doc_scores(tokens, DOCS[0], "agent")
    assert head == pytest.approx(scores.head[row_of(lexical, 1)])
    assert body == pytest.approx(scores.body[row_of(lexical, 1)])


def test_score_bags_ignores_terms_the_index_never_saw() -> None:
    index = BM25Index()
    index.add([(["a", "b"], 1.0)])
    index.add([(["c"], 1.0)])
    index.add([(["a"], 1.0)])
    vocab = dict(index.vocab)
    with_unknown = index.score_bags(["a", "zzz"], [(Bag.of(["a", "zzz", "zzz"]), 1.0)])
    assert index.vocab == vocab
    assert with_unknown > 0
    scores = index.scores(["a"])
    assert index.score_bags(["a"], [(Bag.of(["a"]), 1.0)]) == pytest.approx(scores[2])


def test_saved_arrays_load_back(lexical: LexicalIndex) -> None:
    terms, arrays = lexical.to_arrays()
    loaded = LexicalIndex.from_arrays(
        lexical.analyzer, lexical.params, terms, arrays, lexical.slot_maps_json()
    )
    tokens = lexical.analyzer.tokens("信用卡额度")
    a, b = lexical.scores(tokens, "agent"), loaded.scores(tokens, "agent")
    np.testing.assert_allclose(a.head, b.head)
    np.testing.assert_allclose(a.body, b.body)


def test_head_covered_is_the_share_of_the_title_the_query_says(lexical: LexicalIndex) -> None:
    long_query = "我想问一下宽带报修需要多久，家里网络断了两天了"
    tokens = lexical.analyzer.tokens(long_query)
    covered = lexical.head_covered(tokens, [3, 4])
    assert covered[0] == pytest.approx(1.0)  # every token of 宽带报修 is in the question
    assert covered[1] < 0.2
    assert lexical.doc_head_covered(tokens, DOCS[2]) == pytest.approx(covered[0])


LONG = doc(5, "业务办理须知", "".join(TOPICS), note="内部口径：" + "".join(TOPICS))
DETAIL = "副卡注销后余额退不退"


def _long_and_short(window: int, monkeypatch: pytest.MonkeyPatch) -> tuple[float, float]:
    """The body scores of the long answer and of a short one telling only its last topic."""
    monkeypatch.setattr(documents_module, "WINDOW_CHUNKS", window)
    index = LexicalIndex(Analyzer())
    index.build([*DOCS, LONG, doc(6, "副卡注销", TOPICS[-1])])
    scores = index.scores(index.analyzer.tokens(DETAIL), "customer")
    return float(scores.body[index.row[5]]), float(scores.body[index.row[6]])


def test_a_detail_of_a_long_answer_scores_in_its_window_not_diluted_by_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    windowed, short = _long_and_short(2, monkeypatch)
    whole, short_whole = _long_and_short(99, monkeypatch)
    # as one document the long answer's length halves its score against the short answer's;
    # in its window of two chunks (167 characters against 45) it keeps two thirds of it
    assert whole < 0.5 * short_whole
    assert windowed > 0.6 * short
    assert windowed / short > 1.3 * whole / short_whole


def test_a_long_answer_scores_by_its_best_window_indexed_or_ad_hoc() -> None:
    index = LexicalIndex(Analyzer())
    index.build([*DOCS, LONG])
    assert len(index.body_public[5]) == 2 and len(index.body_internal[5]) == 2
    assert index.body.size == len(DOCS) + 1 + 4  # one document a short view, two a long one
    for query in (DETAIL, "营业厅办理需要带身份证吗", "内部口径"):
        tokens = index.analyzer.tokens(query)
        for channel in ("agent", "customer"):
            body = index.scores(tokens, channel).body[index.row[5]]
            windows = [index.body.score_bags(tokens, v) for v in index.body_views(LONG)]
            expected = max(windows)
            if channel == "agent":
                inner = index.body_views(LONG, internal=True)
                expected += max(index.body.score_bags(tokens, v) for v in inner)
            assert body == pytest.approx(expected)
            assert index.doc_scores(tokens, LONG, channel)[1] == pytest.approx(expected)


def test_removing_a_long_answer_frees_every_window_and_adding_it_scores_as_a_build() -> None:
    index = LexicalIndex(Analyzer())
    index.build([*DOCS, LONG])
    index.remove(5)
    assert index.body.size == len(DOCS) + 1  # DOCS[0]'s internal view
    index.add(LONG)
    fresh = LexicalIndex(Analyzer())
    fresh.build([*DOCS, LONG])
    tokens = fresh.analyzer.tokens(DETAIL + "改号")
    for channel in ("agent", "customer"):
        a, b = index.scores(tokens, channel), fresh.scores(tokens, channel)
        for t in (1, 2, 3, 4, 5):
            assert a.body[index.row[t]] == pytest.approx(b.body[fresh.row[t]])


def test_windows_load_back_and_an_index_of_one_document_a_view_still_loads() -> None:
    index = LexicalIndex(Analyzer())
    index.build([*DOCS, LONG])
    terms, arrays = index.to_arrays()
    loaded = LexicalIndex.from_arrays(
        index.analyzer, index.params, terms, arrays, index.slot_maps_json()
    )
    tokens = index.analyzer.tokens(DETAIL)
    np.testing.assert_allclose(
        index.scores(tokens, "agent").body, loaded.scores(tokens, "agent").body
    )
    # saved before windows: each view's one body slot as a number
    old = LexicalIndex(Analyzer())
    old.build(DOCS)
    terms, arrays = old.to_arrays()
    slots = old.slot_maps_json()
    numbers = {
        name: {k: v[0] for k, v in slots[name].items()} for name in ("body_public", "body_internal")
    }
    read = LexicalIndex.from_arrays(old.analyzer, old.params, terms, arrays, {**slots, **numbers})
    tokens = old.analyzer.tokens("KX9 停止计费")
    np.testing.assert_allclose(old.scores(tokens, "agent").body, read.scores(tokens, "agent").body)
