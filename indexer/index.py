"""The hybrid index: lexical and dense candidates, fusion, a reranker and confidence.

It knows nothing about the database: it is fed :class:`IndexDocument` objects and answers
queries with scored candidates. :mod:`indexer.service` keeps it in step with the database and
on disk; :mod:`indexer.search` turns candidates into suggestions.

A query runs in four steps:

1. candidates: the lexical top :attr:`FusionParams.candidates` (head + body BM25,
   :mod:`indexer.lexical`) and the dense top ones (best vector per table, :mod:`indexer.dense`),
   among the tables the channel may see;
2. signals for that pool (:mod:`indexer.features`): cosines per vector kind, BM25 per index,
   hub scores, sizes;
3. ranking: the blend of :mod:`indexer.fusion`, reordered by the KB's reranker where
   self-tuning kept one (:mod:`indexer.rerank`);
4. confidence from the ranking score and its margin (:mod:`indexer.calibration`).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexer.analysis import Analyzer, to_simplified
from indexer.bm25 import BM25Params
from indexer.calibration import Calibration, ranked_confidences
from indexer.dense import KIND_CODES, KINDS, DenseIndex, TableVectors
from indexer.documents import (
    QUERY_FORM_KINDS,
    VECTOR_KINDS,
    DenseText,
    IndexDocument,
    dense_texts,
)
from indexer.embedding_cache import EmbeddingCache
from indexer.encoders import Encoder
from indexer.features import (
    PoolSignals,
    confidence_features,
    dense_score,
    fused_score,
    lexical_score,
)
from indexer.fusion import FusionParams, ranking, rrf
from indexer.lexical import LexicalIndex, LexicalScores
from indexer.rerank import Reranker, pool_scores

Progress = Callable[[str, int, int], None]  # (stage, done, total)
MODES = ("hybrid", "bm25", "dense")
QUERY_VECTOR_CACHE = 4096


@dataclass
class Candidate:
    table_id: int
    score: float  # the ranking score of the mode asked for
    fused: float  # the hybrid blend
    dense: float
    coverage: float
    bm25: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    dense_kind: str | None = None
    dense_ref: str | None = None
    confidence: float = 0.0
    feedback: float = 0.0  # the votes' adjustment included in ``score`` (hybrid only; in
    # reranker units where a reranker ranks)
    rerank: float | None = None  # the reranker's score (hybrid, where a reranker was kept)
    hub: float = 0.0
    lexical_head: float = 0.0  # head / body coverage
    lexical_body: float = 0.0
    covered: float = 0.0  # the share of the head the query says
    kinds: dict[str, float] = field(default_factory=dict)  # best cosine per vector kind


@dataclass
class Retrieval:
    candidates: list[Candidate]
    filtered: int  # candidates the visibility rules removed
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class QueryState:
    """A query analyzed and encoded once, for every step that needs it."""

    text: str
    tokens: list[str]
    vector: np.ndarray
    lexical: LexicalScores


class HybridIndex:
    def __init__(
        self,
        encoder: Encoder,
        analyzer: Analyzer,
        *,
        cache: EmbeddingCache | None = None,
        fusion: FusionParams | None = None,
        calibration: Calibration | None = None,
        reranker: Reranker | None = None,
        bm25_params: BM25Params | None = None,
        kinds: Iterable[str] = VECTOR_KINDS,
    ) -> None:
        self.encoder = encoder
        self.cache = cache or EmbeddingCache(None)
        self.fusion = fusion or FusionParams()
        self.calibration = calibration or Calibration()
        self.reranker = reranker or Reranker()
        self.kinds = frozenset(kinds)
        self.allow_rerank = True  # self-tuning may keep a reranker (ZHIKU_RERANK)
        self.tuning: dict[str, Any] = {}  # what self-tuning chose, and from what
        self.docs: dict[int, IndexDocument] = {}
        self.lexical = LexicalIndex(analyzer, bm25_params)
        self.dense = DenseIndex(encoder.dim)
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_lock = threading.Lock()

    @property
    def analyzer(self) -> Analyzer:
        return self.lexical.analyzer

    def _vocabulary(self, docs: Iterable[IndexDocument]) -> list[str]:
        docs = list(docs)
        return self.analyzer.vocabulary_words(
            [d.title for d in docs], [t for d in docs for t in d.tags]
        )

    def rebuild_lexical(self, analyzer: Analyzer) -> None:
        """Re-analyze every document with a new analyzer (the dictionary changed)."""
        analyzer.add_words(self._vocabulary(self.docs.values()))
        self.lexical.rebuild(analyzer, list(self.docs.values()))

    # --- dense ----------------------------------------------------------------------------

    def embed(
        self, docs: Sequence[IndexDocument], progress: Progress | None = None
    ) -> list[TableVectors]:
        """Each document's raw vectors (through the embedding cache), one entry per document."""
        items = [(doc, dense_texts(doc, self.kinds)) for doc in docs]
        flat = [t for _, texts in items for t in texts]
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress("embed", done, len(flat))

        vectors = self._vectors(flat, tick)
        out = []
        start = 0
        for doc, texts in items:
            out.append(
                TableVectors(
                    doc.table_id,
                    vectors[start : start + len(texts)],
                    [t.kind for t in texts],
                    [t.public for t in texts],
                    [t.ref for t in texts],
                )
            )
            start += len(texts)
        return out

    def _vectors(
        self, texts: Sequence[DenseText], tick: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Raw vectors of ``texts``: query form for titles and questions, passage form else."""
        vectors = np.zeros((len(texts), self.encoder.dim), np.float32)
        for form, query_form in (("query", True), ("passage", False)):
            rows = [r for r, t in enumerate(texts) if (t.kind in QUERY_FORM_KINDS) == query_form]
            if rows:
                simplified = [to_simplified(texts[r].text) for r in rows]
                vectors[rows] = self.cache.encode(self.encoder, simplified, form, progress=tick)  # type: ignore[arg-type]
        return vectors

    def docs_kind_scores(
        self, docs: Sequence[IndexDocument], queries: np.ndarray, *, public_only: bool
    ) -> np.ndarray:
        """Best cosine per vector kind (columns) of ad-hoc documents (self-tuning's masked
        copies), each against its own query vector (``queries[i]`` for ``docs[i]``)."""
        out = np.full((len(docs), len(KINDS)), np.nan, np.float32)
        texts: list[DenseText] = []
        owner: list[int] = []
        for i, doc in enumerate(docs):
            for t in dense_texts(doc, self.kinds):
                if t.public or not public_only:
                    texts.append(t)
                    owner.append(i)
        if not texts:
            return out
        raw = self._vectors(texts)
        codes = np.asarray([KIND_CODES[t.kind] for t in texts], np.int64)
        centered = np.empty_like(raw)
        for code in (KIND_CODES["title"], KIND_CODES["body"], KIND_CODES["entry"]):
            mask = codes == code
            if code == KIND_CODES["title"]:
                mask |= codes == KIND_CODES["question"]
            if mask.any():
                centered[mask] = self.dense.center(raw[mask], kind=code)
        owners = np.asarray(owner, np.int64)
        sims = np.einsum("ij,ij->i", centered, queries[owners])
        flat = out.reshape(-1)
        np.fmax.at(flat, owners * len(KINDS) + codes, sims.astype(np.float32))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """The query's centered vector: agents repeat questions, so it is cached in memory
        (per process, :data:`QUERY_VECTOR_CACHE` entries) over the embedding cache (on disk,
        shared by every worker and kept across restarts)."""
        key = to_simplified(text)
        with self._query_lock:
            found: np.ndarray | None = self._query_vectors.get(key)
            if found is not None:
                self._query_vectors.move_to_end(key)
                return found
        # Encoded outside the lock: concurrent requests encode in parallel.
        raw = self.cache.one(self.encoder, key, "query")
        vector: np.ndarray = self.dense.center(raw[None, :])[0]
        self._remember_query(key, vector)
        return vector

    def _remember_query(self, key: str, vector: np.ndarray) -> None:
        with self._query_lock:
            self._query_vectors[key] = vector
            if len(self._query_vectors) > QUERY_VECTOR_CACHE:
                self._query_vectors.popitem(last=False)

    def prime_queries(self, texts: Sequence[str]) -> None:
        """Encode ``texts`` through the embedding cache into the in-memory query cache.

        Benchmarks and self-tuning ask thousands of known questions: encoded once, on disk.
        """
        keys = list(dict.fromkeys(to_simplified(t) for t in texts))
        keys = [k for k in keys if k not in self._query_vectors]
        if not keys:
            return
        raw = self.cache.encode(self.encoder, keys, "query")
        for key, vector in zip(keys, self.dense.center(raw), strict=True):
            self._remember_query(key, vector)

    # --- building and editing -------------------------------------------------------------

    def build(
        self,
        docs: Sequence[IndexDocument],
        *,
        progress: Progress | None = None,
        calibrate: bool = True,
    ) -> None:
        """Index ``docs`` from scratch, then tune fusion, reranker and confidence to them."""
        # One order whatever order they came in: sums over vectors (the means) and the
        # reranker's training rows come out the same to the last bit.
        docs = sorted(docs, key=lambda d: d.table_id)
        self.docs = {d.table_id: d for d in docs}
        self.analyzer.add_words(self._vocabulary(docs))
        with self.lexical.memo():
            self.lexical.build(docs, progress)
        embedded = self.embed(docs, progress)
        self.dense = DenseIndex(self.encoder.dim)
        if embedded:
            self.dense.set_means(
                np.vstack([e.vectors for e in embedded]),
                np.asarray([KIND_CODES[k] for e in embedded for k in e.kinds], np.int8),
            )
        self.dense.add_tables(embedded)
        self.dense.compute_hubs()
        self._query_vectors.clear()
        if calibrate:
            self.tune(progress)
        else:
            off = "default (self-tuning off)"
            self.tuning = {"fusion": {"source": off}}
            self.reranker = Reranker(status="not trained (self-tuning off): the blend ranks")
            self.calibration = Calibration(source=off)

    def tune(self, progress: Progress | None = None) -> None:
        """Choose fusion weights, train the reranker and fit confidence on pseudo-queries."""
        from indexer.selftune import tune

        tune(self, progress=progress)

    def upsert(self, docs: Sequence[IndexDocument]) -> None:
        """Add or replace the given tables' documents (incremental: nothing else is touched)."""
        if not docs:
            return
        self.analyzer.add_words(self._vocabulary(docs))
        for doc in docs:
            self.docs[doc.table_id] = doc
            self.lexical.add(doc)
        self.dense.add_tables(self.embed(docs))
        self.dense.compute_hubs([d.table_id for d in docs])

    def remove(self, table_ids: Iterable[int]) -> None:
        for table_id in table_ids:
            self.docs.pop(table_id, None)
            self.lexical.remove(table_id)
            self.dense.remove_table(table_id)

    # --- retrieval ------------------------------------------------------------------------

    def query_state(self, query: str, channel: str) -> QueryState:
        tokens = self.analyzer.tokens(query)
        return QueryState(
            query, tokens, self.encode_query(query), self.lexical.scores(tokens, channel)
        )

    def candidate_lists(
        self,
        state: QueryState,
        *,
        channel: str,
        mode: str,
        visible_rows: np.ndarray | None = None,
    ) -> tuple[list[int], list[int]]:
        """The lexical and the dense top tables (``visible_rows``: rows the channel may see)."""
        n = self.fusion.candidates
        lexical: list[int] = []
        if mode != "dense":
            coverage = state.lexical.coverage(self.fusion.lexical_body)
            table = self.lexical.row_table
            scored = np.where((table >= 0) & (coverage > 0), coverage, -1.0)
            if visible_rows is not None:
                scored = np.where(visible_rows, scored, -1.0)
            if len(scored):
                top = np.argpartition(-scored, min(n, len(scored) - 1))[:n]
                top = top[np.argsort(-scored[top], kind="stable")]
                lexical = [int(table[r]) for r in top if scored[r] > 0]
        dense: list[int] = []
        if mode != "bm25":
            hits = self.dense.search(
                state.vector,
                n,
                public_only=channel == "customer",
                weights=self.fusion.kind_weights,
            )
            dense = [t for t, _ in ranking({t: h.score for t, h in hits.items()})][: n * 3]
        return lexical, dense

    def signals(self, tables: Sequence[int], state: QueryState, *, channel: str) -> PoolSignals:
        """The pool's raw signals (see :mod:`indexer.features`)."""
        rows = np.asarray([self.lexical.row[t] for t in tables], np.int64)
        kinds, refs = self.dense.kind_scores(
            state.vector, tables, public_only=channel == "customer"
        )
        docs = [self.docs[t] for t in tables]
        return PoolSignals(
            tables=list(tables),
            kinds=kinds,
            head=state.lexical.head[rows] if len(rows) else np.zeros(0),
            body=state.lexical.body[rows] if len(rows) else np.zeros(0),
            hub=np.asarray([self.dense.hub.get(t, 0.0) for t in tables], np.float64),
            head_attainable=state.lexical.head_attainable,
            body_attainable=state.lexical.body_attainable,
            head_covered=self.lexical.head_covered(state.tokens, tables),
            query_chars=len(state.text),
            title_chars=np.asarray([len(d.title) for d in docs], np.float64),
            body_chars=np.asarray([_body_chars(d) for d in docs], np.float64),
            questions=np.asarray([len(d.questions) for d in docs], np.float64),
            refs=refs,
        )

    def hybrid_scores(self, sig: PoolSignals) -> tuple[np.ndarray, np.ndarray | None]:
        """The hybrid ranking score of each pool table, and whether a reranker made it."""
        if self.fusion.method == "rrf" or not self.reranker.active or len(sig) < 2:
            return fused_score(sig, self.fusion), None
        reranked = pool_scores(self.reranker, sig, self.fusion)
        return reranked, reranked

    def retrieve(
        self,
        query: str,
        *,
        channel: str,
        mode: str = "hybrid",
        k: int = 5,
        allowed: Callable[[IndexDocument], bool] | None = None,
        scope: set[int] | None = None,
        feedback: Mapping[int, float] | None = None,
    ) -> Retrieval:
        """Scored candidates, best first, among tables ``allowed`` (and in ``scope``) only.

        ``feedback`` (table id → adjustment, see :mod:`indexer.feedback_boost`) is added to the
        hybrid score of tables that passed ``allowed`` and ``scope`` (scaled to the reranker's
        units where one ranks); a table with a positive adjustment that neither retriever
        found joins the pool on the same terms.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        tokens = self.analyzer.tokens(query)
        lexical_scores = self.lexical.scores(tokens, channel)
        timings["bm25_ms"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        state = QueryState(query, tokens, self.encode_query(query), lexical_scores)
        timings["encode_ms"] = (time.perf_counter() - t1) * 1000
        t2 = time.perf_counter()
        lex_list, dense_list = self.candidate_lists(state, channel=channel, mode=mode)
        pool = set(lex_list) | set(dense_list)
        if scope is not None:
            pool = set(scope)
        filtered = 0
        if allowed is not None:
            kept = {t for t in pool if t in self.docs and allowed(self.docs[t])}
            filtered = len(pool) - len(kept)
            if len(kept) < k and scope is None:
                # Too much of the pool is hidden from this channel: score everything it may see.
                everything = {t for t, d in self.docs.items() if allowed(d)}
                filtered += len(pool - kept - everything)
                kept = everything
            pool = kept
        else:
            pool = {t for t in pool if t in self.docs}
        votes = self._feedback_for(feedback, mode, allowed, scope)
        pool |= {t for t, a in votes.items() if a > 0}
        tables = sorted(pool)
        sig = self.signals(tables, state, channel=channel)
        timings["signals_ms"] = (time.perf_counter() - t2) * 1000
        t3 = time.perf_counter()
        candidates = self._rank(sig, mode, votes, k)
        timings["rank_ms"] = (time.perf_counter() - t3) * 1000
        timings["fuse_ms"] = (time.perf_counter() - t2) * 1000
        return Retrieval(candidates, filtered, timings)

    def _rank(
        self, sig: PoolSignals, mode: str, votes: Mapping[int, float], k: int
    ) -> list[Candidate]:
        tables = sig.tables
        if not tables:
            return []
        fused = fused_score(sig, self.fusion)
        dense = dense_score(sig, self.fusion)
        lexical = lexical_score(sig, self.fusion)
        hybrid, reranked = self.hybrid_scores(sig)
        # Votes on the blend's scale; in reranker units where a reranker ranks.
        scale = self.reranker.scale if reranked is not None else 1.0
        adjust = np.asarray([votes.get(t, 0.0) * scale for t in tables])
        dense_order = np.argsort(-(dense - self.fusion.hub_weight * sig.hub), kind="stable")
        dense_rank = {tables[i]: r for r, i in enumerate(dense_order, 1)}
        lexical_order = np.argsort(-lexical, kind="stable")
        lexical_rank = {tables[i]: r for r, i in enumerate(lexical_order, 1) if lexical[i] > 0}
        if mode == "bm25":
            score = lexical
        elif mode == "dense":
            score = dense - self.fusion.hub_weight * sig.hub
        elif self.fusion.method == "rrf":
            by_id = rrf(
                [
                    [(tables[i], 0.0) for i in dense_order],
                    [(tables[i], 0.0) for i in lexical_order],
                ],
                k=self.fusion.rrf_k,
                weights=[self.fusion.dense_weight, self.fusion.lexical_weight / 0.3],
            )
            position = {t: i for i, t in enumerate(tables)}
            score = np.zeros(len(tables))
            for t, s in by_id:
                score[position[t]] = s
        else:
            score = hybrid + adjust
        # Ties in id order, so results are deterministic.
        order = sorted(range(len(tables)), key=lambda i: (-score[i], tables[i]))[: max(k, 1)]
        confidence = ranked_confidences(
            self.calibration.confidences(confidence_features(sig)), order
        )
        out = []
        for i in order:
            best_kind = (
                int(np.nanargmax(sig.kinds[i])) if not np.isnan(sig.kinds[i]).all() else None
            )
            out.append(
                Candidate(
                    table_id=tables[i],
                    score=float(score[i]),
                    fused=float(fused[i]),
                    dense=float(dense[i]),
                    coverage=float(lexical[i]),
                    bm25=float(sig.head[i] + self.fusion.lexical_body * sig.body[i]),
                    dense_rank=dense_rank.get(tables[i]),
                    lexical_rank=lexical_rank.get(tables[i]),
                    dense_kind=KINDS[best_kind] if best_kind is not None else None,
                    dense_ref=sig.refs[i][best_kind] if best_kind is not None else None,
                    confidence=float(confidence[i]),
                    feedback=float(adjust[i]) if mode == "hybrid" else 0.0,
                    rerank=float(reranked[i]) if reranked is not None else None,
                    hub=float(sig.hub[i]),
                    lexical_head=_share(sig.head[i], sig.head_attainable),
                    lexical_body=_share(sig.body[i], sig.body_attainable),
                    covered=float(sig.head_covered[i]),
                    kinds={
                        name: float(sig.kinds[i, c])
                        for c, name in enumerate(KINDS)
                        if not np.isnan(sig.kinds[i, c])
                    },
                )
            )
        return out

    def _feedback_for(
        self,
        feedback: Mapping[int, float] | None,
        mode: str,
        allowed: Callable[[IndexDocument], bool] | None,
        scope: set[int] | None,
    ) -> dict[int, float]:
        """The adjustments that may apply: hybrid only, visible and in scope only.

        The cap of :mod:`indexer.feedback_boost` is on the blend's fixed scale; rank fusion
        scores (``method="rrf"``, a comparison option) are on another, so votes stay out.
        """
        if not feedback or mode != "hybrid" or self.fusion.method != "blend":
            return {}
        return {
            t: a
            for t, a in feedback.items()
            if a != 0.0
            and t in self.docs
            and (scope is None or t in scope)
            and (allowed is None or allowed(self.docs[t]))
        }


def _share(score: float, attainable: float) -> float:
    return float(score / attainable) if attainable > 0 else 0.0


def _body_chars(doc: IndexDocument) -> int:
    return sum(len(f.text) for f in doc.fields if f.searchable)
