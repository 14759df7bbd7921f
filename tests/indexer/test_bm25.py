from __future__ import annotations

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from indexer.analysis import Analyzer
from indexer.bm25 import BM25Index, BM25Params

CORPUS = [
    "改号后原号码是否还会产生话费",
    "换号以后旧号码还扣钱吗",
    "5G套餐怎么办理",
    "信用卡境外消费用PayPal支付",
    "信用卡额度怎么调整",
    "话费余额怎么查询",
    "ETC卡办理需要什么材料",
]
QUERIES = ["改号后旧号码还扣费吗", "信用卡额度", "5G", "ETC办理材料", "完全无关的问题xyz"]


@pytest.fixture(scope="module")
def tokenized() -> tuple[list[list[str]], list[list[str]]]:
    analyzer = Analyzer()
    return [analyzer.tokens(t) for t in CORPUS], [analyzer.tokens(q) for q in QUERIES]


def test_scores_equal_rank_bm25(tokenized: tuple[list[list[str]], list[list[str]]]) -> None:
    docs, queries = tokenized
    reference = BM25Okapi(docs)
    ours = BM25Index()
    for doc in docs:
        ours.add([(doc, 1.0)])
    for query in queries:
        np.testing.assert_allclose(ours.scores(query), reference.get_scores(query), rtol=1e-9)


def test_unit_weight_fields_score_as_their_concatenation() -> None:
    ours = BM25Index(BM25Params(k1=1.2, b=0.75))
    ours.add([(["a", "b"], 1.0), (["c"], 1.0)])
    ours.add([(["a"], 1.0)])
    ours.add([(["d", "d"], 1.0)])
    reference = BM25Okapi([["a", "b", "c"], ["a"], ["d", "d"]], k1=1.2, b=0.75)
    np.testing.assert_allclose(ours.scores(["a", "c", "c"]), reference.get_scores(["a", "c", "c"]))


def test_title_weight_raises_a_title_match_above_a_body_match() -> None:
    ours = BM25Index()
    title_hit = ours.add([(["改号"], 1.0), (["其他", "内容"], 0.5)])
    body_hit = ours.add([(["其他"], 1.0), (["改号", "内容"], 0.5)])
    for filler in ("无关", "话费", "套餐", "额度"):
        ours.add([([filler], 1.0)])
    scores = ours.scores(["改号"])
    assert scores[title_hit] > scores[body_hit] > 0


def test_remove_and_add_equal_a_fresh_index(
    tokenized: tuple[list[list[str]], list[list[str]]],
) -> None:
    docs, queries = tokenized
    ours = BM25Index()
    slots = [ours.add([(d, 1.0)]) for d in docs]
    ours.remove(slots[1])
    extra = ours.add([(docs[1][:5], 1.0)])
    remaining = [d for i, d in enumerate(docs) if i != 1] + [docs[1][:5]]
    reference = BM25Okapi(remaining)
    live = [s for s in range(ours.slots) if ours.alive[s]]
    assert live[-1] == extra
    for query in queries:
        np.testing.assert_allclose(ours.scores(query)[live], reference.get_scores(query))


def test_arrays_round_trip(tokenized: tuple[list[list[str]], list[list[str]]]) -> None:
    docs, queries = tokenized
    ours = BM25Index()
    for d in docs:
        ours.add([(d, 1.0)])
    ours.remove(2)
    terms, arrays = ours.to_arrays()
    loaded = BM25Index.from_arrays(terms, arrays, ours.params)
    for query in queries:
        np.testing.assert_allclose(loaded.scores(query), ours.scores(query))
    loaded.add([(docs[2], 1.0)])
    ours.add([(docs[2], 1.0)])
    np.testing.assert_allclose(loaded.scores(queries[2]), ours.scores(queries[2]))
