"""The simple setups of eval.baselines on the toy dataset (fake encoder), worked by hand."""

from __future__ import annotations

import math
import sys
from functools import partial
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from eval import baselines
from eval.baselines import weighted_rrf
from eval.datasets import load_dataset
from eval.errors import EvalError
from eval.runner import RunConfig, evaluate
from eval.sandbox import shared_cache
from indexer.embedding_cache import EmbeddingCache
from indexer.encoders import FakeEncoder
from kb.settings import Settings
from tests.eval.toy import fake_kb, write_toy


def test_weighted_rrf_is_langchains_formula_and_tie_order() -> None:
    fused = weighted_rrf([["a", "b", "c"], ["b", "d"]], [0.5, 0.5])
    assert fused == [
        ("b", 0.5 / 62 + 0.5 / 61),
        ("a", 0.5 / 61),
        ("d", 0.5 / 62),
        ("c", 0.5 / 63),
    ]
    # equal scores keep the order of first appearance, the first list first
    assert [i for i, _ in weighted_rrf([["x"], ["y"]], [0.5, 0.5])] == ["x", "y"]
    assert [i for i, _ in weighted_rrf([["y"], ["x"]], [0.5, 0.5])] == ["y", "x"]
    assert weighted_rrf([["x"]], [0.3], c=1) == [("x", 0.3 / 2)]
    with pytest.raises(ValueError, match="one weight per ranked list"):
        weighted_rrf([["x"]], [0.5, 0.5])


def test_the_three_baselines_on_the_toy_set(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    encoder = FakeEncoder()
    queries = [q.query for q in dataset.queries]
    bm25, dense, ensemble = baselines.run(
        dataset.entries, queries, k=10, encoder=encoder, cache=EmbeddingCache(None)
    )
    assert [r.mode for r in (bm25, dense, ensemble)] == list(baselines.MODES)
    # plain jieba: 换|号码, 网断|了, 查话费|账单, 改|套餐; only 换, 了, 账单 and 套餐 occur in
    # an entry (e5, e2, e4, e5), so each query finds one entry
    assert [r.ids for r in bm25.rankings] == [["e5"], ["e2"], ["e4"], ["e5"]]
    # 了 is in 1 of 5 entries: idf ln(4.5 / 1.5); e2 has 5 tokens, the average is 37 / 5
    idf = math.log(4.5 / 1.5)
    expected = idf * 2.5 / (1 + 1.5 * (0.25 + 0.75 * 5 / 7.4))
    assert bm25.rankings[1].scores == [pytest.approx(expected)]
    assert bm25.setup == {"tokenizer": "jieba.lcut", "k1": 1.5, "b": 0.75, "epsilon": 0.25}
    # dense: every entry, by cosine of the passage and query forms
    passages = encoder.encode([baselines.passage(e) for e in dataset.entries], "passage")
    for query, ranked in zip(queries, dense.rankings, strict=True):
        cosines = passages @ encoder.encode([query], "query")[0]
        assert ranked.ids == [dataset.entries[i].id for i in np.argsort(-cosines, kind="stable")]
        assert ranked.scores == pytest.approx(sorted(cosines, reverse=True), abs=1e-6)
    assert dense.embedding_cache == {"path": None, "hits": 0, "misses": 5}
    # ensemble: the two lists fused, order only (LangChain's ties are broken by appearance)
    for lexical, semantic, fused in zip(
        bm25.rankings, dense.rankings, ensemble.rankings, strict=True
    ):
        assert fused.ids == [i for i, _ in weighted_rrf([lexical.ids, semantic.ids], [0.5, 0.5])]
        assert fused.scores == [None] * len(fused.ids)
        assert fused.latency_ms >= lexical.latency_ms + semantic.latency_ms


def test_baselines_report_beside_zhiku_on_the_same_queries(tmp_path: Path) -> None:
    dataset = load_dataset(write_toy(tmp_path / "toy"))
    records = evaluate(
        dataset,
        RunConfig(holdout=0.0, modes=("hybrid",), baselines=True),
        settings=Settings(encoder="fake"),
        open_kb=fake_kb,
        console=Console(file=StringIO()),
    )
    assert [(r["variant"], r["mode"]) for r in records] == [
        ("full", "hybrid"),
        ("baseline", "rank_bm25"),
        ("baseline", "e5_faiss"),
        ("baseline", "ensemble"),
    ]
    bm25 = records[1]
    assert bm25["params"]["index"] == {
        "baseline": {"tokenizer": "jieba.lcut", "k1": 1.5, "b": 0.75, "epsilon": 0.25}
    }
    assert bm25["encoder"] == "fake-64"
    assert bm25["abstention"] is None and bm25["calibration"] is None
    assert bm25["confidence"] is None
    # q1 → e5 (wrong), q2 → e2, q3 → e4 (one of two relevant), q4 → e5
    assert bm25["metrics"]["mrr@10"]["value"] == 3 / 4
    assert bm25["metrics"]["recall@1"]["value"] == (0 + 1 + 0.5 + 1) / 4
    assert [q["qid"] for q in bm25["queries"]] == ["q1", "q2", "q3", "q4"]
    assert bm25["queries"][0]["top"] == [
        {"id": "e5", "confidence": None, "score": pytest.approx(0.9486, abs=1e-4), "field": None}
    ]
    # the dense baseline's passages go through the shared embedding cache
    cache = records[2]["build"]["embedding_cache"]
    assert cache["path"] == str(shared_cache(Settings(encoder="fake")))
    assert cache["hits"] + cache["misses"] == 5


def test_a_missing_rank_bm25_is_named_before_any_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "rank_bm25", None)  # import fails
    calls: list[tuple[str, str, int]] = []
    with pytest.raises(EvalError, match=r"kb eval --baselines needs rank_bm25: install the eval"):
        evaluate(
            load_dataset(write_toy(tmp_path / "toy")),
            RunConfig(holdout=0.0, modes=("hybrid",), baselines=True),
            settings=Settings(encoder="fake"),
            open_kb=partial(fake_kb, calls=calls),
            console=Console(file=StringIO()),
        )
    assert calls == []
