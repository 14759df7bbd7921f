from __future__ import annotations

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from indexer import bm25
from indexer.analysis import Analyzer
from indexer.backends.termstats import TermStats
from indexer.bm25 import Bag, BM25Index, BM25Params

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


def test_term_statistics_score_each_document_as_its_postings_do(
    tokenized: tuple[list[list[str]], list[list[str]]],
) -> None:
    """The Milvus backend scores a pool from term statistics alone: the same figures."""
    docs, queries = tokenized
    params = BM25Params(k1=1.2, b=0.7)
    index, stats = BM25Index(params), TermStats(params)
    fields = [[(Bag.of(doc[:2]), 2.0), (Bag.of(doc), 1.0)] for doc in docs]
    for doc, bags in zip(docs, fields, strict=True):
        index.add([(doc[:2], 2.0), (doc, 1.0)])
        stats.add(bags)
    for query in [*queries, queries[0] * 2]:
        expected = index.scores(query)
        assert expected.any() or query == queries[-1]
        for slot, bags in enumerate(fields):
            assert index.score_bags(query, bags) == pytest.approx(expected[slot], rel=1e-12)
            assert stats.score(query, bags) == pytest.approx(expected[slot], rel=1e-12)


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


def _reference_build(
    docs: list[list[tuple[list[str], float]]],
) -> tuple[dict[str, int], list[float], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The bulk build as first written (one dict update per token occurrence, lexsort)."""
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lengths: list[float] = []
    for slot, fields in enumerate(docs):
        tf: dict[int, float] = {}
        length = 0.0
        for tokens, weight in fields:
            if weight <= 0:
                continue
            for token in tokens:
                tid = vocab.setdefault(token, len(vocab))
                tf[tid] = tf.get(tid, 0.0) + weight
            length += weight * len(tokens)
        rows.extend([slot] * len(tf))
        cols.extend(tf)
        vals.extend(tf.values())
        lengths.append(length)
    r, c, v = np.asarray(rows, np.int64), np.asarray(cols, np.int64), np.asarray(vals)
    order = np.lexsort((r, c))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(c, minlength=len(vocab)))])
    return vocab, lengths, indptr, r[order], v[order], c[np.lexsort((c, r))]


@pytest.mark.parametrize("seed", range(6))
def test_bulk_build_equals_the_per_token_build_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    words = [f"t{i}" for i in range(40)]
    # 0.15 and 0.3 are inexact in binary (summed once per occurrence); 0 drops a field.
    weights = [1.0, 0.5, 2.0, 0.15, 0.3, 0.0] if seed % 2 else [1.0, 0.5, 2.0, 0.0]
    shared = [list(rng.choice(words, 12)) for _ in range(5)]  # texts that recur across docs
    docs = []
    for _ in range(60):
        fields = []
        for _ in range(int(rng.integers(0, 6))):
            tokens = (
                shared[int(rng.integers(5))]
                if rng.random() < 0.4
                else list(rng.choice(words, int(rng.integers(0, 30))))
            )
            fields.append(([str(t) for t in tokens], float(rng.choice(weights))))
        docs.append(fields)
    vocab, lengths, indptr, slots, tf, by_slot = _reference_build(docs)
    built = BM25Index.build(docs)
    assert built.vocab == vocab
    assert built._doc_len == lengths
    np.testing.assert_array_equal(built._b_indptr, indptr)
    np.testing.assert_array_equal(built._b_slots, slots)
    assert built._b_tf.tobytes() == tf.tobytes()
    np.testing.assert_array_equal(built._r_terms, by_slot)
    # Reused bag objects (what the hybrid index passes for recurring texts) change nothing.
    bags = {id(t): Bag.of(t) for t in shared}
    reused = BM25Index.build_bags(
        [[(bags.get(id(t)) or Bag.of(t), w) for t, w in fields] for fields in docs]
    )
    assert reused.vocab == vocab and reused._doc_len == lengths
    assert reused._b_tf.tobytes() == tf.tobytes()
    np.testing.assert_array_equal(reused._b_slots, slots)
    # One at a time: the same frequencies and lengths.
    added = BM25Index()
    for fields in docs:
        added.add(fields)
    query = [str(t) for t in rng.choice(words, 8)]
    assert added.scores(query).tobytes() == built.scores(query).tobytes()


def test_covered_is_the_share_of_each_documents_idf_mass_the_query_contains(
    tokenized: tuple[list[list[str]], list[list[str]]],
) -> None:
    docs, queries = tokenized
    index = BM25Index.build([[(doc, 1.0)] for doc in docs[:5]])  # base slots 0-4
    for doc in docs[5:]:
        index.add([(doc, 1.0)])  # added slots 5, 6
    index.remove(1)
    idf = {t: max(index.idf(t), 0.0) for doc in docs for t in doc}
    slots = [6, 0, 1, 3, 5, 2, 4, 0]  # any order, dead slot 1, repeats
    for query in queries:
        got = index.covered(query, slots)
        for at, slot in zip(got, slots, strict=True):
            terms = set(docs[slot])
            mass = sum(idf[t] for t in terms)
            hit = sum(idf[t] for t in terms if t in query)
            expected = 0.0 if slot == 1 or mass <= 0 else hit / mass
            assert at == pytest.approx(expected, abs=1e-12), (query, slot)
    assert list(index.covered([], slots)) == [0.0] * len(slots)
    assert len(index.covered(queries[0], [])) == 0


@pytest.mark.parametrize("budget", [4, 10_000])
def test_kept_impacts_score_as_fresh_ones_before_and_after_edits(
    monkeypatch: pytest.MonkeyPatch,
    tokenized: tuple[list[list[str]], list[list[str]]],
    budget: int,
) -> None:
    """A term's impacts are kept between queries (every list here; within a budget of a few
    postings, some are dropped) and made again after any edit: the lengths changed."""
    monkeypatch.setattr(bm25, "IMPACT_MIN_POSTINGS", 1)
    monkeypatch.setattr(bm25, "IMPACT_CACHE_POSTINGS", budget)
    docs, queries = tokenized
    ours = BM25Index.build([[(d, 1.0)] for d in docs])
    current = list(docs)
    for step in range(4):
        reference = BM25Okapi(current)
        live = [s for s in range(ours.slots) if ours.alive[s]]
        for _ in range(2):  # the second pass reads the kept impacts
            for query in queries:
                np.testing.assert_allclose(
                    ours.scores(query)[live], reference.get_scores(query), rtol=1e-9
                )
        assert 0 < ours._impacts_held <= budget
        if step % 2:
            ours.remove(live[0])
            current = current[1:]
        else:
            ours.add([(docs[step][:3], 1.0)])
            current = [*current, docs[step][:3]]
