"""Pseudo-queries: sources, masks, determinism."""

from __future__ import annotations

from collections import Counter

import pytest

from indexer.analysis import Analyzer
from indexer.documents import DocField, IndexDocument
from indexer.pseudo import (
    CAP,
    CONFIRMED,
    LOGGED,
    REWORDED,
    SPANS_PER_TABLE,
    SPARE,
    SPARE_SPANS_PER_TABLE,
    SPARE_UNTIL,
    VOTED,
    Verdict,
    confirmed,
    generate,
    logged,
    reworded,
    spans,
    voted,
)


def doc(i: int, title: str, answer: str, questions: list[str] | None = None) -> IndexDocument:
    field = DocField("answer", "标准答复", "text", "public", True, 1.0, answer)
    return IndexDocument(
        i, f"C{i:03d}", title, questions or [], [], "类", "包", 1, "public", 1, i, [field]
    )


DOCS = [
    doc(
        1,
        "信用卡年费怎么收",
        "信用卡年费为200元，首年免年费，刷卡满6次免次年年费。",
        ["年费多少钱"],
    ),
    doc(2, "改号后原号码还收费吗", "改号完成后原号码停止计费，套餐和余额迁移到新号码。"),
    doc(3, "宽带报修", "宽带报修"),  # question-only knowledge: the answer repeats the title
    doc(4, "积分怎么兑换", "请联系客服。", ["积分能换什么"]),
]


def test_spans_are_runs_of_clauses_of_a_useful_length() -> None:
    found = spans("信用卡年费为200元，首年免年费，刷卡满6次免次年年费。请联系客服。")
    assert "信用卡年费为200元" in found
    assert "首年免年费，刷卡满6次免次年年费" in found
    assert "请联系客服" not in found  # five characters: too short to stand for a question


def test_each_source_draws_from_what_it_should() -> None:
    words = Analyzer().words
    queries = generate(DOCS, words, seed=0)
    by_source = {s: [q for q in queries if q.source == s] for s in ("question", "answer", "title")}
    assert {q.table_id for q in by_source["question"]} == {1, 4}
    assert {q.table_id for q in by_source["answer"]} == {1, 2}  # 3 repeats its title, 4 is short
    assert len(by_source["title"]) == len(DOCS) <= CAP["title"]
    for q in by_source["answer"]:
        assert q.span is not None and q.text == q.span
        masked = q.masked(DOCS[q.table_id - 1])
        assert q.span not in masked.fields[0].text
        assert masked.title == DOCS[q.table_id - 1].title
    for q in by_source["question"]:
        masked = q.masked(DOCS[q.table_id - 1])
        assert q.text not in masked.questions
        assert len(masked.questions) == len(DOCS[q.table_id - 1].questions) - 1


def test_answer_spans_go_round_every_table_before_a_second_of_any(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = "。".join(f"第{j}条规定的具体办理说明" for j in range(5))
    docs = [
        doc(i, f"业务{i}", f"业务{i}{rules}。".replace("第", f"业务{i}第")) for i in (1, 2, 3, 4)
    ]
    words = Analyzer().words
    monkeypatch.setitem(CAP, "answer", 6)
    made = generate(docs, words, seed=0, sources=("answer",))
    assert len({q.table_id for q in made[:4]}) == 4  # every table's first span first
    assert sorted(Counter(q.table_id for q in made).values()) == [1, 1, 2, 2]
    assert {q.source for q in made} == {"answer"}  # the cap reached: none for confidence only
    monkeypatch.setitem(CAP, "answer", 100)
    made = generate(docs, words, seed=0, sources=("answer",))
    ranking = [q for q in made if q.source == "answer"]
    spare = [q for q in made if q.source == SPARE]
    assert Counter(q.table_id for q in ranking) == dict.fromkeys((1, 2, 3, 4), SPANS_PER_TABLE)
    # a KB this small gets more of its spans, for confidence only, after every table's third
    assert made[: len(ranking)] == ranking and spare
    assert SPANS_PER_TABLE < max(Counter(q.table_id for q in made).values())
    assert max(Counter(q.table_id for q in made).values()) <= SPARE_SPANS_PER_TABLE
    assert len(made) <= SPARE_UNTIL
    assert len({q.text for q in made}) == len(made)  # each one a different span
    for q in made:  # each masks its own span only
        masked = q.masked(docs[q.table_id - 1])
        assert q.text not in masked.fields[0].text
        assert all(
            o.text in masked.fields[0].text for o in made if o.table_id == q.table_id and o != q
        )


def test_the_draw_is_seeded_and_independent_of_table_ids() -> None:
    words = Analyzer().words
    first = generate(DOCS, words, seed=0)
    assert generate(list(reversed(DOCS)), words, seed=0) == first
    assert generate(DOCS, words, seed=1) != first
    assert generate(DOCS, words, seed=0, sources=("question",)) == [
        q for q in first if q.source == "question"
    ]


def test_a_span_shared_by_two_tables_is_not_a_question_of_either() -> None:
    shared = "如有疑问请拨打客服热线咨询"
    docs = [
        doc(1, "甲业务", f"甲业务在营业厅办理。{shared}。"),
        doc(2, "乙业务", f"乙业务在手机上办理。{shared}。"),
    ]
    queries = generate(docs, Analyzer().words, seed=0, sources=("answer",))
    assert all(shared not in q.text for q in queries)
    assert {q.table_id for q in queries} == {1, 2}


def test_confirmed_queries_keep_one_indexed_answer_each() -> None:
    pairs = [
        ("年费怎么算", 1),
        ("年费怎么算", 1),  # confirmed twice: one query
        (" 原号码还扣钱吗 ", 2),
        ("两个表都答", 1),
        ("两个表都答", 4),  # two answers: not a query with one right table
        ("已下架的表", 99),  # not indexed
        ("   ", 3),
    ]
    made = confirmed(pairs, DOCS, seed=0)
    assert sorted((q.text, q.table_id) for q in made) == [("原号码还扣钱吗", 2), ("年费怎么算", 1)]
    assert {q.source for q in made} == {CONFIRMED}
    assert all(q.masked(DOCS[0]) is DOCS[0] for q in made)  # nothing to mask
    # the draw does not depend on the order they were confirmed in
    assert confirmed(list(reversed(pairs)), DOCS, seed=0) == made
    many = [(f"问题{i}", 1 + i % 4) for i in range(CAP[CONFIRMED] + 10)]
    assert len(confirmed(many, DOCS, seed=0)) == CAP[CONFIRMED]


def test_agents_votes_become_one_verdict_per_query() -> None:
    votes = [
        ("年费怎么算", 1, True),
        ("年费怎么算", 2, False),
        ("年费怎么算", 2, True),  # one each way on table 2: says nothing of it
        ("原号码还扣钱吗", 4, False),
        ("原号码还扣钱吗", 4, False),
        ("原号码还扣钱吗", 2, False),
        ("原号码还扣钱吗", 2, True),
        ("原号码还扣钱吗", 2, True),  # two helpful against one: right
        ("没有答案的问题", None, False),  # nothing shown fitted
        ("没有答案的问题", 3, False),
        ("已下架的表", 99, True),  # not indexed: says nothing
        ("只有平票", 3, True),
        ("只有平票", 3, False),
        ("  ", 1, True),
    ]
    made = {q.text: q for q in voted(votes, DOCS, seed=0)}
    assert sorted(made) == ["原号码还扣钱吗", "年费怎么算", "没有答案的问题"]
    assert {q.source for q in made.values()} == {VOTED}
    assert all(q.table_id == -1 and q.masked(DOCS[0]) is DOCS[0] for q in made.values())
    assert made["年费怎么算"].verdict == Verdict(right=frozenset({1}))
    assert made["原号码还扣钱吗"].verdict == Verdict(frozenset({2}), frozenset({4}))
    assert made["没有答案的问题"].verdict == Verdict(wrong=frozenset({3}), none_fits=True)
    # the draw does not depend on the order the votes came in
    assert voted(list(reversed(votes)), DOCS, seed=0) == voted(votes, DOCS, seed=0)
    many = [(f"问题{i}", 1 + i % 4, True) for i in range(CAP[VOTED] + 10)]
    assert len(voted(many, DOCS, seed=0)) == CAP[VOTED]


def test_a_verdict_judges_whatever_is_suggested_first() -> None:
    helpful = Verdict(right=frozenset({1}), wrong=frozenset({2}))
    assert helpful.judges(1) is True
    assert helpful.judges(2) is False
    assert helpful.judges(3) is False  # another table first: the helpful one was not
    only_wrong = Verdict(wrong=frozenset({2}))
    assert only_wrong.judges(2) is False
    assert only_wrong.judges(3) is None  # a table nobody voted on: the votes do not say
    assert Verdict(none_fits=True).judges(3) is False


def test_reworded_spans_keep_some_of_a_span_words_in_order_and_mask_nothing() -> None:
    words = Analyzer().segments
    made = reworded(DOCS, words, seed=0)
    by_id = {d.table_id: d for d in DOCS}
    # table 3's answer repeats its title; table 4's is too short for a span
    assert {q.table_id for q in made} == {1, 2}
    for q in made:
        assert q.source == REWORDED and q.span is None and q.field is None
        assert q.masked(by_id[q.table_id]) == by_id[q.table_id]
        found = [s for s in spans(by_id[q.table_id].fields[0].text) if _in_order(q.text, s)]
        assert found, q.text
    assert made == reworded(list(reversed(DOCS)), words, seed=0)
    assert [q.text for q in made] != [q.text for q in reworded(DOCS, words, seed=1)]


def _in_order(short: str, long: str) -> bool:
    """Whether ``short``'s characters all appear in ``long``, in order."""
    rest = iter(long)
    return all(ch in rest for ch in short)


def test_logged_questions_are_cleaned_deduplicated_and_drawn_independently_of_order() -> None:
    texts = [
        "信用卡年費怎麼收",  # a title, in Traditional: a suggestion clicked, not a question
        "  年费首年收吗 ",
        "年費首年收嗎",  # the same question in Traditional
        "？？？",
        "改号以后原来的号码还扣钱吗",
        "套" * 201,  # a pasted document
    ]
    made = logged(texts, DOCS, seed=0)
    assert sorted(q.text for q in made) == ["年费首年收吗", "改号以后原来的号码还扣钱吗"]
    assert all(q.source == LOGGED and q.table_id == -1 for q in made)
    many = [f"第{i}个问题怎么办" for i in range(CAP[LOGGED] + 50)]
    assert len(logged(many, DOCS, seed=0)) == CAP[LOGGED]
    assert logged(many, DOCS, seed=0) == logged(list(reversed(many)), DOCS, seed=0)
