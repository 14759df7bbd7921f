"""Self-tuning on a synthetic KB: what it makes, what it chooses, and that it says so."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from indexer import rerank
from indexer.analysis import Analyzer
from indexer.calibration import (
    CONTENT_FEATURES,
    CONTENT_SHIFT,
    CONTENT_STEEPNESS,
    FEATURES,
    Calibration,
)
from indexer.documents import DocField, IndexDocument
from indexer.encoders import FakeEncoder
from indexer.index import HybridIndex
from indexer.pseudo import SPANS_PER_TABLE, SPARE, SPARE_UNTIL
from indexer.selftune import (
    MIN_CALIBRATION,
    MIN_LOGGED,
    MIN_QUERIES,
    RERANK_LOSS_SE,
    TITLES_UNLIKE,
    broad_best,
    clearly_worse,
)

TOPICS = [
    "改号",
    "话费",
    "套餐",
    "宽带",
    "信用卡",
    "积分",
    "发票",
    "退货",
    "快递",
    "密码",
    "流量",
    "彩铃",
]
ACTIONS = [
    "怎么查",
    "如何办理",
    "能取消吗",
    "多久到账",
    "收费吗",
    "在哪改",
    "失败了",
    "要多久",
    "有优惠吗",
    "怎么退",
]
PLACES = ["营业厅", "手机营业厅", "客服热线", "网上营业厅", "自助终端"]


def _doc(i: int, topic: str, action: str) -> IndexDocument:
    place = PLACES[i % len(PLACES)]
    answer = (
        f"{topic}{action}：请携带本人身份证到{place}办理{topic}业务第{i}号流程，"
        f"办理后{i % 7 + 1}个工作日内生效，期间{topic}相关服务照常使用。"
    )
    field = DocField("answer", "标准答复", "text", "public", True, 1.0, answer)
    questions = [f"请问{topic}{action}", f"{topic}到底{action}"]
    return IndexDocument(
        i, f"C{i:03d}", f"{topic}{action}", questions, [], "类", "包", 1, "public", 1, i, [field]
    )


@pytest.fixture(scope="module")
def tuned() -> HybridIndex:
    docs = [_doc(i, t, a) for i, (t, a) in enumerate((t, a) for t in TOPICS for a in ACTIONS)]
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.build(docs)
    return index


def test_pseudo_queries_of_every_source_are_made_and_counted(tuned: HybridIndex) -> None:
    report = tuned.tuning
    assert report["pseudo_queries"]["question"] == 120
    assert report["pseudo_queries"]["answer"] == 120 * SPANS_PER_TABLE  # each answer has three
    assert report["in_pool"] >= MIN_QUERIES
    total = sum(report["pseudo_queries"].values())
    assert abs(report["unanswerable"] / total - 0.15) < 0.05


def test_fusion_choice_is_reported_with_its_evidence(tuned: HybridIndex) -> None:
    fusion = tuned.tuning["fusion"]
    assert fusion["best_mrr"] >= fusion["default_mrr"]
    assert set(fusion["chosen"]) == {
        "lexical_weight",
        "lexical_body",
        "hub_weight",
        "covered_weight",
        "title_weight",
        "body_weight",
        "entry_weight",
    }
    assert sum(part["queries"] for part in fusion["by_source"].values()) == tuned.tuning["in_pool"]
    moved = fusion["source"] == "pseudo-queries"
    assert moved == (fusion["best_mrr"] - fusion["default_mrr"] > 0.01)
    assert {k: getattr(tuned.fusion, k) for k in fusion["chosen"]} == fusion["chosen"]


def test_the_reranker_is_kept_unless_it_clearly_loses_and_says_why(tuned: HybridIndex) -> None:
    report = tuned.tuning["reranker"]
    oof = report["out_of_fold_mrr"]
    loss = oof["blend"] - oof["reranker"]
    assert report["kept"] == (loss <= RERANK_LOSS_SE * report["difference_se"])
    assert tuned.reranker.active == report["kept"]
    assert ("LightGBM" in tuned.reranker.status) == report["kept"]
    assert f"blend {oof['blend']:.3f}" in tuned.reranker.status
    if report["kept"]:  # joined with the blend, as it was judged out of fold
        assert tuned.reranker.blend_share == rerank.BLEND_SHARE


def test_the_joined_order_is_dropped_only_where_the_blend_is_clearly_better() -> None:
    level = np.zeros(300)
    assert not clearly_worse(level)  # a tie keeps the joined order
    noisy = np.tile([0.5, -0.5], 150) - 0.01  # behind by 0.01, with a spread of 0.5
    assert not clearly_worse(noisy)
    steady = np.tile([0.02, -0.02], 150) - 0.01  # behind by 0.01, with a spread of 0.02
    assert clearly_worse(steady)
    assert not clearly_worse(np.full(300, 0.05))
    assert clearly_worse(np.zeros(1))  # one pseudo-query judges nothing: the blend ranks


def test_the_weights_chosen_are_a_broad_optimum_not_a_lone_best_point() -> None:
    grid = np.full((7, 4), 0.60)
    grid[0, 3] = 0.70  # one point the draw favours, among poor neighbours
    grid[3:6, 0:3] = 0.66  # a plateau nearly as good
    row, col = np.unravel_index(broad_best(grid.ravel(), grid.shape), grid.shape)
    assert 3 <= row <= 5 and 0 <= col <= 2
    # a smooth optimum is where it is, edges included
    rows, cols = np.meshgrid(np.arange(7), np.arange(4), indexing="ij")
    bowl = -((rows - 6.0) ** 2) - (cols - 1.6) ** 2
    assert np.unravel_index(broad_best(bowl.ravel(), bowl.shape), bowl.shape) == (6, 2)
    assert broad_best(np.zeros(12), (3, 4)) == 0  # no preference: the first


def test_confidence_is_fitted_on_held_out_similar_questions_only(tuned: HybridIndex) -> None:
    cal = tuned.calibration
    assert "held-out similar questions" in cal.source
    assert cal.fitted_on == tuned.tuning["pseudo_queries"]["question"] == 120
    assert cal.ece is not None and sum(r["n"] for r in cal.reliability) == cal.fitted_on


def test_tuning_is_deterministic() -> None:
    docs = [_doc(i, t, a) for i, (t, a) in enumerate((t, a) for t in TOPICS[:11] for a in ACTIONS)]
    first = HybridIndex(FakeEncoder(), Analyzer())
    first.build(docs)
    second = HybridIndex(FakeEncoder(), Analyzer())
    second.build(list(reversed(docs)))
    assert first.tuning == second.tuning
    assert first.calibration == second.calibration
    assert first.reranker.model == second.reranker.model


def test_titles_alone_do_not_tune() -> None:
    docs = [
        IndexDocument(i, f"Q{i:03d}", f"{t}{a}", [], [], "类", "包", 1, "public", 1, i, [])
        for i, (t, a) in enumerate((t, a) for t in TOPICS for a in ACTIONS)
    ]
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.build(docs)
    assert index.tuning["fusion"]["source"].startswith("default")
    assert index.calibration.source.startswith("default")
    assert not index.reranker.active


def test_a_kb_with_answers_and_no_similar_questions_is_calibrated_on_its_own_content() -> None:
    # No real users' wordings yet, but answers: spans masked out of them (the hardest
    # questions) and loosened titles (the easiest) bracket its users' questions, so confidence
    # is fitted on both rather than left at defaults fitted on other KBs.
    docs = [
        replace(_doc(i, t, a), questions=[])
        for i, (t, a) in enumerate((t, a) for t in TOPICS for a in ACTIONS)
    ]
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.build(docs)
    made = index.tuning["pseudo_queries"]
    assert "question" not in made and (made["answer"], made["title"]) == (360, 120)
    cal = index.calibration
    assert cal.source.startswith("360 answer spans and 120 titles, weighing half each, ranked as")
    assert "no real users' wordings yet: 0 held-out similar questions" in cal.source
    assert cal.fitted_on == 480 and cal.coef != Calibration().coef and cal.ece is not None
    # raised for users' questions, which are right more often than these at the same scores
    assert cal.shift == CONTENT_SHIFT > 0 and "raised by 1 in log-odds" in cal.source
    # and steeper: the lead says more of users' questions than of these, either way
    assert cal.steepness == CONTENT_STEEPNESS > 1 and "steepened 1.25× for users'" in cal.source
    # read on what carries over from pseudo-queries to users' questions only
    read = {name for name, c in zip(FEATURES, cal.coef, strict=True) if c != 0}
    assert read == set(CONTENT_FEATURES) and f"read on {', '.join(CONTENT_FEATURES)}" in cal.source
    # some were asked as if their table were not in the KB: the model saw wrong answers too
    assert 0 < sum(r["n"] * (1 - r["accuracy"]) for r in cal.reliability)


def test_a_kb_of_few_tables_draws_more_answer_spans_for_its_confidence_only() -> None:
    # 30 tables give 90 answer spans at three a table: too few to fit confidence on, which
    # would keep the defaults (fitted on KBs without answers). More of each table's spans are
    # drawn for confidence, none for the ranking.
    docs = [
        replace(_doc(i, t, a), questions=[])
        for i, (t, a) in enumerate((t, a) for t in TOPICS[:3] for a in ACTIONS)
    ]
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.build(docs)
    made = index.tuning["pseudo_queries"]
    assert made["answer"] == 3 * len(docs) < MIN_CALIBRATION <= SPARE_UNTIL
    assert (made[SPARE], made["title"]) == (SPARE_UNTIL - made["answer"], len(docs))
    cal = index.calibration
    assert cal.source.startswith(f"{SPARE_UNTIL} answer spans and 30 titles, weighing half each")
    assert cal.fitted_on == SPARE_UNTIL + 30
    # the weights and the reranker are chosen on the other kinds alone
    by_source = index.tuning["fusion"]["by_source"]
    assert by_source[SPARE]["queries"] > 0  # reported, not tuned on
    ranked_on = sum(part["queries"] for source, part in by_source.items() if source != SPARE)
    assert f"not trained ({ranked_on} pseudo-queries to train on" in index.reranker.status


def _question_only() -> list[IndexDocument]:
    return [
        IndexDocument(i, f"Q{i:03d}", f"{t}{a}", [], [], "类", "包", 1, "public", 1, i, [])
        for i, (t, a) in enumerate((t, a) for t in TOPICS for a in ACTIONS)
    ]


def _confirmed(docs: list[IndexDocument]) -> list[tuple[str, int]]:
    """Two wordings per table that name its topic and action: found in the top five."""
    return [(f"请问一下{d.title}", d.table_id) for d in docs] + [
        (f"{d.title[2:]}的事，{d.title[:2]}", d.table_id) for d in docs
    ]


def test_confirmed_queries_calibrate_a_question_only_kb() -> None:
    # Titles alone teach nothing (above); users' queries confirmed against their table (the
    # golden set) are real wordings with a known answer: confidence is fitted on them.
    docs = _question_only()
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.confirmed = _confirmed(docs) + [
        # the action alone: one of twelve tables, often answered below the top five
        (f"{d.title[2:]}呢，第{d.code}号", d.table_id)
        for d in docs[::2]
    ]
    index.build(docs)
    report = index.tuning
    assert report["pseudo_queries"]["confirmed"] == 300
    cal = index.calibration
    assert cal.source.startswith("300 confirmed queries (golden set)"), cal.source
    assert "held-out similar questions" not in cal.source  # there are none to speak of
    assert cal.fitted_on == 300 and cal.ece is not None
    assert cal.coef != Calibration().coef
    assert all(c != 0 for c in cal.coef)  # users' own wordings: every feature is read
    # some were asked as if their table were not in the KB: the model saw wrong answers too
    assert 0 < sum(r["n"] * (1 - r["accuracy"]) for r in cal.reliability)


def test_confirmed_queries_all_answered_in_the_top_five_are_not_fitted_on() -> None:
    # As when the golden set is filled from agents' helpful votes: they vote on what they are
    # shown, so the queries the KB answers badly are missing, and a model fitted on the rest
    # would claim too much (README, Benchmarks: --confirm-shown).
    docs = _question_only()
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.confirmed = _confirmed(docs)
    index.build(docs)
    cal = index.calibration
    assert cal.source.startswith("default"), cal.source
    assert "confirmed queries are answered in the top 5: a set chosen from what was shown" in (
        cal.source
    )
    assert cal.coef == Calibration().coef and cal.fitted_on == 0
    # the ranking still learns from them
    assert index.tuning["fusion"]["by_source"]["confirmed"]["queries"] >= 200


def test_agents_verdicts_calibrate_a_question_only_kb() -> None:
    # Titles alone teach nothing, and no staff confirmed a query; agents voted on what they
    # were shown. A vote judges whatever the tuned ranking puts first: helpful on it (right),
    # helpful on another table or "nothing fitted" (wrong).
    docs = _question_only()
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.votes = (
        [(f"请问一下{d.title}", d.table_id, True) for d in docs]
        + [(f"{d.title[2:]}呢，第{d.code}号", d.table_id, True) for d in docs[::2]]
        + [(f"{t}以外的事情第{i}件", None, False) for i, t in enumerate(TOPICS * 3)]
    )
    index.build(docs)
    assert index.tuning["pseudo_queries"]["voted"] == 216
    assert index.tuning["fusion"]["source"].startswith("default")  # they do not rank
    cal = index.calibration
    assert cal.source.startswith("216 queries agents voted on ranked as users' would be"), (
        cal.source
    )
    assert cal.fitted_on == 216 and cal.coef != Calibration().coef
    assert cal.shift == 0  # users' own wordings: what the model says of them stands
    wrong = sum(r["n"] * (1 - r["accuracy"]) for r in cal.reliability)
    assert 36 <= round(wrong) < 216 - 100  # "nothing fitted", and some helpful below the first


def test_agents_votes_on_what_helped_only_are_not_fitted_on() -> None:
    # Agents who only ever vote helpful leave out the queries nothing answered: a model fitted
    # on the rest claims too much (as a golden set chosen from what was shown does).
    docs = _question_only()
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.votes = [(f"请问一下{d.title}", d.table_id, True) for d in docs] + [
        (f"{d.title[2:]}呢，第{d.code}号", d.table_id, True) for d in docs[::2]
    ]
    index.build(docs)
    cal = index.calibration
    assert cal.source.startswith("default"), cal.source
    assert "180 of the 180 queries agents voted on have a table voted helpful" in cal.source
    assert cal.coef == Calibration().coef and cal.fitted_on == 0


def test_a_tie_of_votes_judges_nothing() -> None:
    docs = _question_only()
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.votes = [(f"请问一下{d.title}", d.table_id, h) for d in docs for h in (True, False)]
    index.build(docs)
    assert "voted" not in index.tuning["pseudo_queries"]
    assert index.calibration.source.startswith("default"), index.calibration.source


def test_confirmed_queries_are_not_masked_and_do_not_change_their_tables() -> None:
    docs = _question_only()
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.confirmed = [(d.title, d.table_id) for d in docs]
    index.build(docs)
    # asked as they are (a title), each one that kept its table finds it first
    found = index.tuning["fusion"]["by_source"]["confirmed"]
    assert found["queries"] >= 90 and found["default_mrr"] == 1.0
    assert [d.title for d in index.docs.values()] == [d.title for d in docs]


def test_enough_drift_calls_for_tuning_again(tuned: HybridIndex) -> None:
    from indexer.selftune import RETUNE_MIN_CHANGES, note_changes

    tuned.tuning["changed_since"] = 0
    assert not note_changes(tuned, RETUNE_MIN_CHANGES - 1)
    assert note_changes(tuned, 1)  # 20 changed of 120 tables: past the minimum and 10%
    assert tuned.tuning["changed_since"] == RETUNE_MIN_CHANGES
    tuned.tuning["changed_since"] = 0


def test_a_tuning_copy_changes_nothing_served_until_it_is_adopted(tuned: HybridIndex) -> None:
    from indexer import selftune

    live = tuned.tuning_copy()  # stands in for the served index (the fixture stays as it is)
    served = (live.fusion, live.reranker, live.calibration, dict(live.tuning))
    live.tuning["changed_since"] = 30
    shadow = live.tuning_copy()
    selftune.fit(shadow, selftune.gather(shadow))
    assert (live.fusion, live.reranker, live.calibration) == served[:3]
    assert not live._query_vectors  # the pseudo-queries did not fill the served query cache
    assert shadow._query_vectors
    live.tuning["changed_since"] = 34  # four tables changed while the copy was tuned
    live.adopt_tuning(shadow)
    assert (live.fusion, live.reranker, live.calibration) == (
        shadow.fusion,
        shadow.reranker,
        shadow.calibration,
    )
    generation = served[3]["generation"] + 1  # one tuning more than the served one
    assert live.tuning == {**shadow.tuning, "changed_since": 4, "generation": generation}
    assert live.tuning["pseudo_queries"] == served[3]["pseudo_queries"]


def test_the_content_fit_weighs_spans_and_titles_the_same_however_many_of_each() -> None:
    """200 spans and 100 titles: fitted as 200 spans and each title twice."""
    import numpy as np

    from indexer import calibration
    from indexer.selftune import _Judged

    rng = np.random.default_rng(3)
    rows = rng.normal(size=(300, len(calibration.FEATURES)))
    sources = ["answer"] * 200 + ["title"] * 100
    correct = [
        bool(r[0] + (s == "title") + rng.normal() > 0.5) for r, s in zip(rows, sources, strict=True)
    ]
    judged = _Judged(list(rows), correct, 0, sources)
    even = judged.fit("spans and titles", even=True)
    doubled = calibration.fit_logistic(
        np.vstack([rows, rows[200:]]), np.asarray(correct + correct[200:], float)
    )
    assert even.coef == pytest.approx(list(doubled[0]), abs=0.02)
    assert even.intercept == pytest.approx(doubled[1], abs=0.02)
    assert judged.fit("as they come").intercept != pytest.approx(even.intercept, abs=0.02)


def _kb_with_log(logged: list[str]) -> HybridIndex:
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.logged = logged
    index.build([_doc(i, t, a) for i, (t, a) in enumerate((t, a) for t in TOPICS for a in ACTIONS)])
    return index


# Users asking in the titles' words, and users asking about details inside the answers.
ASKED_LIKE_TITLES = [f"{t}{a}怎么弄" for t in TOPICS for a in ACTIONS]
ASKED_ABOUT_DETAILS = [f"去{p}办{t}要带身份证吗" for t in TOPICS for p in PLACES] + [
    f"{t}办完几天生效{p}" for t in TOPICS for p in PLACES
]


def test_a_log_asked_like_the_titles_changes_nothing_but_the_report(tuned: HybridIndex) -> None:
    index = _kb_with_log(ASKED_LIKE_TITLES)
    log = index.tuning["log"]
    assert log["questions"] == 120 and log["tuned_on"] == "the content's usual kinds"
    assert log["odds"]["title"] >= TITLES_UNLIKE
    assert index.tuning["pseudo_queries"]["reworded"] == 120
    assert index.tuning["pseudo_queries"]["logged"] == 120
    assert index.fusion == tuned.fusion
    assert index.reranker.model == tuned.reranker.model
    assert index.calibration == tuned.calibration


def test_a_log_asked_about_details_tunes_the_ranking_on_reworded_spans_not_titles() -> None:
    index = _kb_with_log(ASKED_ABOUT_DETAILS)
    log, report = index.tuning["log"], index.tuning
    assert log["tuned_on"] == "reworded answer spans instead of titles"
    assert log["odds"]["title"] < TITLES_UNLIKE < 1 < log["odds"]["reworded"]
    by_source = report["fusion"]["by_source"]
    assert report["reranker"]["trained_on"] == sum(
        part["queries"] for source, part in by_source.items() if source != "title"
    )
    # confidence is fitted on the same real wordings as ever, never on reworded spans
    assert "held-out similar questions" in index.calibration.source
    assert index.calibration.fitted_on == 120


def test_a_log_of_fewer_than_min_logged_distinct_questions_is_not_compared() -> None:
    index = _kb_with_log(ASKED_ABOUT_DETAILS[: MIN_LOGGED - 1] + ASKED_ABOUT_DETAILS[:10])
    assert "log" not in index.tuning
    assert set(index.tuning["pseudo_queries"]) == {"question", "answer", "title"}


def test_a_kb_without_answers_has_nothing_for_its_log_to_decide() -> None:
    docs = [
        IndexDocument(
            i, f"Q{i:03d}", f"{t}{a}", [f"请问{t}{a}"], [], "类", "包", 1, "public", 1, i, []
        )
        for i, (t, a) in enumerate((t, a) for t in TOPICS for a in ACTIONS)
    ]
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.logged = ASKED_ABOUT_DETAILS
    index.build(docs)
    assert "log" not in index.tuning
    assert set(index.tuning["pseudo_queries"]) == {"question", "title"}


def test_without_real_wordings_a_log_unlike_the_titles_calibrates_on_reworded_spans() -> None:
    docs = [
        replace(_doc(i, t, a), questions=[])
        for i, (t, a) in enumerate((t, a) for t in TOPICS for a in ACTIONS)
    ]
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.logged = ASKED_ABOUT_DETAILS
    index.build(docs)
    assert index.tuning["log"]["tuned_on"] == "reworded answer spans instead of titles"
    cal = index.calibration
    assert cal.source.startswith("360 answer spans and 120 reworded spans, weighing half each")
    assert cal.fitted_on == 480 and cal.shift == CONTENT_SHIFT
