"""Pool signals: per-kind cosines, masked copies, the reranker's depth, confidence order."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.analysis import Analyzer
from indexer.calibration import Calibration, ranked_confidences
from indexer.dense import KINDS, BestRefs, DenseIndex, TableVectors
from indexer.documents import DocField, IndexDocument
from indexer.encoders import FakeEncoder
from indexer.features import (
    FEATURES,
    PoolSignals,
    confidence_features,
    dense_score,
    feature_matrix,
    fused_score,
    lead,
)
from indexer.fusion import FusionParams
from indexer.index import HybridIndex
from indexer.rerank import DEPTH, Reranker, pool_scores


def unit(rng: np.random.Generator, n: int, dim: int = 8) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_kind_scores_are_the_best_cosine_of_each_kind() -> None:
    rng = np.random.default_rng(0)
    index = DenseIndex(8)
    kinds = ["title", "question", "question", "body", "entry", "entry"]
    items = [
        TableVectors(
            t,
            unit(rng, len(kinds)),
            kinds,
            [True, True, True, True, False, True],
            [f"r{i}" for i in range(6)],
        )
        for t in (10, 20, 30)
    ]
    index.add_tables(items)
    query = unit(rng, 1)[0]
    got, refs = index.kind_scores(query, [30, 10], public_only=False)
    for position, table in enumerate((30, 10)):
        rows = index.rows_of(table)
        sims = index.vectors[rows] @ query
        for code in range(len(KINDS)):
            mine = [s for r, s in zip(rows, sims, strict=True) if index.kind[r] == code]
            assert got[position, code] == pytest.approx(max(mine))
            best_row = [
                r
                for r, s in zip(rows, sims, strict=True)
                if index.kind[r] == code and s == max(mine)
            ][0]
            assert refs[position][code] == index.refs[best_row]
    public, _ = index.kind_scores(query, [10], public_only=True)
    rows = index.rows_of(10)
    assert public[0, 3] == pytest.approx(float(index.vectors[rows[5]] @ query))  # the public entry


def test_a_table_without_a_kind_has_nan_there_and_the_dense_score_skips_it() -> None:
    index = DenseIndex(8)
    rng = np.random.default_rng(1)
    index.add_tables([TableVectors(1, unit(rng, 1), ["title"], [True], ["title"])])
    got, _ = index.kind_scores(unit(rng, 1)[0], [1], public_only=False)
    assert not np.isnan(got[0, 0]) and np.isnan(got[0, 1:]).all()


def doc(i: int, title: str, answer: str, questions: list[str]) -> IndexDocument:
    field = DocField("answer", "标准答复", "text", "public", True, 1.0, answer)
    return IndexDocument(
        i, f"C{i:03d}", title, questions, [], "类", "包", 1, "public", 1, i, [field]
    )


def test_a_document_s_own_kind_scores_match_the_index_s() -> None:
    docs = [
        doc(1, "改号后原号码还收费吗", "改号完成后原号码停止计费。", ["换号以后旧号码还扣钱吗"]),
        doc(2, "信用卡额度怎么调整", "登录手机银行申请调整额度。", []),
    ]
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.build(docs, calibrate=False)
    query = index.encode_query("旧号码还扣钱吗")
    from_index, _ = index.dense.kind_scores(query, [1, 2], public_only=False)
    ad_hoc = index.docs_kind_scores(docs, np.vstack([query, query]), public_only=False)
    np.testing.assert_allclose(ad_hoc, from_index, rtol=1e-5, atol=1e-6)


def test_a_question_in_taiwan_words_is_encoded_as_the_same_in_the_mainland_s() -> None:
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.build([doc(1, "软件怎么更新", "在应用商店更新。", [])], calibrate=False)
    taiwan, mainland = index.encode_query("軟體怎麼更新"), index.encode_query("软件怎么更新")
    np.testing.assert_array_equal(taiwan, mainland)
    assert not np.array_equal(index.encode_query("软体怎么更新"), mainland)


def signals(n: int, rng: np.random.Generator) -> PoolSignals:
    return PoolSignals(
        tables=list(range(n)),
        kinds=rng.uniform(-0.2, 0.9, size=(n, 4)).astype(np.float32),
        head=rng.uniform(0, 5, n),
        body=rng.uniform(0, 5, n),
        hub=rng.uniform(0, 0.3, n),
        head_attainable=6.0,
        body_attainable=6.0,
        head_covered=rng.uniform(0, 1, n),
        query_chars=12,
        title_chars=np.full(n, 10.0),
        body_chars=np.full(n, 80.0),
        questions=np.zeros(n),
    )


def test_the_blend_is_the_weighted_sum_of_its_parts() -> None:
    sig = signals(5, np.random.default_rng(2))
    fusion = FusionParams(
        lexical_weight=0.7, lexical_body=0.3, hub_weight=0.5, body_weight=0.9, covered_weight=0.2
    )
    dense = np.nanmax(sig.kinds * np.asarray([1.0, 1.0, 0.9, 1.0], np.float32), axis=1)
    lexical = (sig.head + 0.3 * sig.body) / (6.0 + 0.3 * 6.0)
    np.testing.assert_allclose(dense_score(sig, fusion), dense, rtol=1e-6)
    np.testing.assert_allclose(
        fused_score(sig, fusion),
        dense - 0.5 * sig.hub + 0.7 * lexical + 0.2 * sig.head_covered,
        rtol=1e-6,
    )
    x = feature_matrix(sig, fusion)
    assert x.shape == (5, len(FEATURES))
    assert x[:, FEATURES.index("fused_gap")].max() == 0.0
    assert sorted(x[:, FEATURES.index("fused_rank")]) == sorted(np.log2(np.arange(1, 6)))


class Reverse(Reranker):
    """A stand-in model: the negated blend, to see where reranked rows go."""

    def __init__(self, blend_share: float = 0.0) -> None:
        super().__init__(model="stand-in", status="test", blend_share=blend_share)

    def score(self, x: np.ndarray) -> np.ndarray:
        return -x[:, FEATURES.index("fused")]


def test_the_reranker_reorders_the_blend_s_top_and_leaves_the_rest_below() -> None:
    sig = signals(DEPTH + 15, np.random.default_rng(3))
    fusion = FusionParams()
    fused = fused_score(sig, fusion)
    scores = pool_scores(Reverse(), sig, fusion)
    top = np.argsort(-fused, kind="stable")[:DEPTH]
    rest = np.argsort(-fused, kind="stable")[DEPTH:]
    assert scores[rest].max() < scores[top].min()
    # inside the top the stand-in reverses the blend; below it the blend's order stands
    assert list(np.argsort(-scores[top], kind="stable")) == list(range(DEPTH))[::-1]
    assert list(np.argsort(-scores[rest], kind="stable")) == list(range(len(rest)))


def test_the_reranker_joined_with_the_blend_orders_the_top_by_both_standardized() -> None:
    sig = signals(DEPTH + 15, np.random.default_rng(6))
    fusion = FusionParams()
    fused = fused_score(sig, fusion)
    top = np.argsort(-fused, kind="stable")[:DEPTH]
    rest = np.argsort(-fused, kind="stable")[DEPTH:]
    model = -fused[top]  # what the stand-in says of the top

    def z(v: np.ndarray) -> np.ndarray:
        return (v - v.mean()) / v.std()

    scores = pool_scores(Reverse(blend_share=0.3), sig, fusion)
    np.testing.assert_allclose(scores[top], 0.7 * z(model) + 0.3 * z(fused[top]))
    assert scores[rest].max() < scores[top].min()
    # the blend's own weight decides between them: half each, a stand-in that says the
    # opposite of the blend cancels it out and the order is a tie
    even = pool_scores(Reverse(blend_share=0.5), sig, fusion)
    np.testing.assert_allclose(even[top], 0.0, atol=1e-12)


def test_a_saved_reranker_keeps_its_blend_share_and_an_older_one_orders_alone() -> None:
    joined = Reranker(model="m", status="s", blend_share=0.3)
    assert Reranker.from_json(joined.to_json(), "m").blend_share == 0.3
    older = {k: v for k, v in joined.to_json().items() if k != "blend_share"}
    assert Reranker.from_json(older, "m").blend_share == 0.0


def test_confidence_features_read_the_default_blend_whatever_the_kb_s_weights() -> None:
    sig = signals(6, np.random.default_rng(4))
    served = fused_score(sig, FusionParams(lexical_weight=2.0))
    x = confidence_features(sig, served)
    fused = fused_score(sig, FusionParams())
    np.testing.assert_allclose(x[:, 0], fused)
    top = int(np.argmax(fused))
    second = np.sort(fused)[-2]
    assert x[top, 1] == pytest.approx(fused[top] - second)
    others = [i for i in range(6) if i != top]
    np.testing.assert_allclose(x[others, 1], fused[others] - fused[top])
    np.testing.assert_allclose(x[:, 4], sig.head_covered)
    np.testing.assert_allclose(x[:, 5], lead(served))


def test_the_lead_is_the_served_margin_in_the_pool_s_standard_deviations() -> None:
    served = np.asarray([3.0, 1.0, 2.0, 2.0])
    spread = served.std()
    np.testing.assert_allclose(lead(served), np.asarray([1.0, -2.0, -1.0, -1.0]) / spread)
    # the same on any scale or offset: a reranker's units, the blend's, latent terms joined
    np.testing.assert_allclose(lead(served * 7.0 - 3.0), lead(served))
    assert list(lead(np.asarray([0.5, 0.5]))) == [0.0, 0.0]
    assert list(lead(np.asarray([0.5]))) == [0.0]


def test_confidence_follows_the_ranking_within_a_query() -> None:
    sig = signals(8, np.random.default_rng(5))
    served = fused_score(sig, FusionParams(lexical_weight=2.0))
    conf = Calibration().confidences(confidence_features(sig, served))
    order = [int(i) for i in np.argsort(-served)]
    shown = ranked_confidences(conf, order)[order]
    assert list(shown) == sorted(shown, reverse=True)


def test_best_refs_are_looked_up_for_the_tables_asked() -> None:
    refs = BestRefs(3, np.asarray([0, 3, 9, 10]), np.asarray([2, 0, 1, 2]), ["a", "b", "c"])
    assert len(refs) == 3
    assert refs[0] == ["c", "", "", "a"]
    assert refs[1] == ["", "", "", ""]
    assert refs[2] == ["", "b", "c", ""]
    assert refs[-1] == refs[2] and refs[1:] == [refs[1], refs[2]]
    assert refs == [["c", "", "", "a"], ["", "", "", ""], ["", "b", "c", ""]]
    with pytest.raises(IndexError):
        refs[3]
