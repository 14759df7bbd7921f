"""The hybrid index: BM25 over two views of every table, dense vectors, fusion and confidence.

It knows nothing about the database: it is fed :class:`IndexDocument` objects and answers
queries with scored candidates. :mod:`indexer.service` keeps it in step with the database and
on disk; :mod:`indexer.search` turns candidates into suggestions.

BM25 views: every table has a *public* document (title, similar questions, tags, public
searchable fields); a table with internal searchable fields also has a *full* one. Customers
are scored against public documents only, agents against the full one where it exists.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from indexer.analysis import Analyzer, to_simplified
from indexer.bm25 import Bag, BagField, BM25Index, BM25Params
from indexer.calibration import Calibration
from indexer.dense import DenseIndex, TableVectors
from indexer.documents import DenseText, IndexDocument, dense_texts, lexical_fields
from indexer.embedding_cache import EmbeddingCache
from indexer.encoders import Encoder
from indexer.fusion import FusionParams, dense_scores, hybrid_scores, ranking, rrf

Progress = Callable[[str, int, int], None]  # (stage, done, total)
MODES = ("hybrid", "bm25", "dense")
PHONETIC_FIELDS = {"title", "questions", "tags"}
HELDOUT_MAX = 400


@dataclass
class Candidate:
    table_id: int
    score: float  # the ranking score of the mode asked for
    fused: float  # the hybrid blend (what confidence is computed from)
    dense: float
    coverage: float
    bm25: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    dense_kind: str | None = None
    dense_ref: str | None = None
    confidence: float = 0.0
    feedback: float = 0.0  # the votes' adjustment included in ``score`` (hybrid blend only)


@dataclass
class SlotInfo:
    table: np.ndarray  # slot → table id (-1: free)
    public: np.ndarray  # slot holds a public view
    internal: np.ndarray  # slots of internal views …
    into: np.ndarray  # … and the public slot of the same table


@dataclass
class Retrieval:
    candidates: list[Candidate]
    filtered: int  # candidates the visibility rules removed
    timings: dict[str, float] = field(default_factory=dict)


class HybridIndex:
    def __init__(
        self,
        encoder: Encoder,
        analyzer: Analyzer,
        *,
        cache: EmbeddingCache | None = None,
        fusion: FusionParams | None = None,
        calibration: Calibration | None = None,
        bm25_params: BM25Params | None = None,
    ) -> None:
        self.encoder = encoder
        self.analyzer = analyzer
        self.cache = cache or EmbeddingCache(None)
        self.fusion = fusion or FusionParams()
        self.calibration = calibration or Calibration()
        self.docs: dict[int, IndexDocument] = {}
        self.bm25 = BM25Index(bm25_params)
        self.slot_table: list[int] = []
        self.slot_full: list[bool] = []
        self.pub_slot: dict[int, int] = {}
        self.full_slot: dict[int, int] = {}
        self.dense = DenseIndex(encoder.dim)
        self._slots: SlotInfo | None = None
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        # (text, phonetic) → bag, while a build runs: titles aside, a large KB repeats much of
        # its text (shared answers, tags), and calibration re-adds hundreds of documents.
        self._bags: dict[tuple[str, bool], Bag] | None = None

    # --- lexical --------------------------------------------------------------------------

    def _lexical(self, doc: IndexDocument, internal: bool) -> list[BagField]:
        return [
            (self._bag(text, key in PHONETIC_FIELDS), weight)
            for key, text, weight in lexical_fields(doc, internal=internal)
        ]

    def _bag(self, text: str, phonetic: bool) -> Bag:
        if self._bags is None:
            return Bag.of(self.analyzer.tokens(text, phonetic=phonetic))
        found = self._bags.get((text, phonetic))
        if found is None:
            found = Bag.of(self.analyzer.tokens(text, phonetic=phonetic))
            self._bags[(text, phonetic)] = found
        return found

    @contextmanager
    def _bag_memo(self) -> Iterator[None]:
        """Analyze each distinct text once inside the block (the analyzer must not change)."""
        self._bags = {}
        try:
            yield
        finally:
            self._bags = None

    def _build_lexical(self, docs: Sequence[IndexDocument], progress: Progress | None) -> None:
        """BM25 over every document's public view, then the internal views, in bulk."""
        self.slot_table, self.slot_full, self.pub_slot, self.full_slot = [], [], {}, {}
        internal = [d for d in docs if d.has_internal_search_text]

        def views() -> Iterable[list[BagField]]:
            for i, doc in enumerate(docs, 1):
                yield self._lexical(doc, internal=False)
                if progress is not None and (i % 500 == 0 or i == len(docs)):
                    progress("analyze", i, len(docs))
            for doc in internal:
                yield self._lexical(doc, internal=True)

        self.bm25 = BM25Index.build_bags(views(), self.bm25.params)
        for slot, doc in enumerate(docs):
            self._set_slot(slot, doc.table_id, False)
            self.pub_slot[doc.table_id] = slot
        for slot, doc in enumerate(internal, len(docs)):
            self._set_slot(slot, doc.table_id, True)
            self.full_slot[doc.table_id] = slot

    def _add_lexical(self, doc: IndexDocument) -> None:
        slot = self.bm25.add_bags(self._lexical(doc, internal=False))
        self._set_slot(slot, doc.table_id, False)
        self.pub_slot[doc.table_id] = slot
        if doc.has_internal_search_text:
            slot = self.bm25.add_bags(self._lexical(doc, internal=True))
            self._set_slot(slot, doc.table_id, True)
            self.full_slot[doc.table_id] = slot

    def _set_slot(self, slot: int, table_id: int, internal: bool) -> None:
        while len(self.slot_table) <= slot:
            self.slot_table.append(-1)
            self.slot_full.append(False)
        self.slot_table[slot] = table_id
        self.slot_full[slot] = internal
        self._slots = None

    def _remove_lexical(self, table_id: int) -> None:
        for slots in (self.pub_slot, self.full_slot):
            slot = slots.pop(table_id, None)
            if slot is not None:
                self.bm25.remove(slot)
                self.slot_table[slot] = -1
        self._slots = None

    def _slot_info(self) -> SlotInfo:
        """Slot → table, which slots are public views, and where internal views add in."""
        if self._slots is None:
            public = np.zeros(self.bm25.slots, np.bool_)
            public[list(self.pub_slot.values())] = True
            internal = np.asarray(list(self.full_slot.values()), np.int64)
            into = np.asarray([self.pub_slot[t] for t in self.full_slot], np.int64)
            self._slots = SlotInfo(np.asarray(self.slot_table, np.int64), public, internal, into)
        return self._slots

    def table_bm25(self, scores: np.ndarray, channel: str) -> np.ndarray:
        """Per-slot BM25 → per public slot table scores; agents' internal fields add in."""
        info = self._slot_info()
        if channel == "customer" or not len(info.internal):
            return scores
        out = scores.copy()
        np.add.at(out, info.into, scores[info.internal])
        return out

    def rebuild_lexical(self, analyzer: Analyzer) -> None:
        """Re-analyze every document with a new analyzer (the dictionary changed)."""
        self.analyzer = analyzer
        self.analyzer.add_words(self._vocabulary(self.docs.values()))
        with self._bag_memo():
            self._build_lexical(list(self.docs.values()), None)

    def _vocabulary(self, docs: Iterable[IndexDocument]) -> list[str]:
        docs = list(docs)
        return self.analyzer.vocabulary_words(
            [d.title for d in docs], [t for d in docs for t in d.tags]
        )

    # --- dense ----------------------------------------------------------------------------

    def _embed(
        self, docs: Sequence[IndexDocument], progress: Progress | None = None
    ) -> list[tuple[IndexDocument, list[DenseText], np.ndarray]]:
        return self._embed_all(docs, progress)[0]

    def _embed_all(
        self, docs: Sequence[IndexDocument], progress: Progress | None = None
    ) -> tuple[list[tuple[IndexDocument, list[DenseText], np.ndarray]], np.ndarray, np.ndarray]:
        """Per document its texts and vectors (views), and all vectors with a body mask."""
        items = [(doc, dense_texts(doc)) for doc in docs]
        flat = [(i, t) for i, (_, texts) in enumerate(items) for t in texts]
        total = len(flat)
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress("embed", done, total)

        vectors = np.zeros((total, self.encoder.dim), np.float32)
        for form, kinds in (("query", {"title", "question"}), ("passage", {"body"})):
            rows = [r for r, (_, t) in enumerate(flat) if t.kind in kinds]
            texts = [to_simplified(flat[r][1].text) for r in rows]
            if rows:
                vectors[rows] = self.cache.encode(self.encoder, texts, form, progress=tick)  # type: ignore[arg-type]
        out = []
        start = 0
        for doc, doc_texts in items:
            out.append((doc, doc_texts, vectors[start : start + len(doc_texts)]))
            start += len(doc_texts)
        body = np.asarray([t.kind == "body" for _, t in flat], np.bool_)
        return out, vectors, body

    def _add_dense(self, embedded: list[tuple[IndexDocument, list[DenseText], np.ndarray]]) -> None:
        self.dense.add_tables(
            [
                TableVectors(
                    doc.table_id,
                    vectors,
                    [t.kind for t in texts],
                    [t.public for t in texts],
                    [t.ref for t in texts],
                )
                for doc, texts, vectors in embedded
            ]
        )

    def encode_query(self, text: str) -> np.ndarray:
        """The query's centered vector (cached: agents repeat questions)."""
        key = to_simplified(text)
        found = self._query_vectors.get(key)
        if found is None:
            raw = self.encoder.encode([key], "query")
            found = self.dense.center(raw)[0]
            self._query_vectors[key] = found
            if len(self._query_vectors) > 4096:
                self._query_vectors.popitem(last=False)
        else:
            self._query_vectors.move_to_end(key)
        return found

    # --- building and editing -------------------------------------------------------------

    def build(
        self,
        docs: Sequence[IndexDocument],
        *,
        progress: Progress | None = None,
        calibrate: bool = True,
    ) -> None:
        """Index ``docs`` from scratch; fit fusion and confidence on held-out similar questions."""
        self.docs = {d.table_id: d for d in docs}
        self.analyzer.add_words(self._vocabulary(docs))
        with self._bag_memo():
            self._build(docs, progress, calibrate)

    def _build(
        self, docs: Sequence[IndexDocument], progress: Progress | None, calibrate: bool
    ) -> None:
        self._build_lexical(docs, progress)
        embedded, vectors, body = self._embed_all(docs, progress)
        self.dense = DenseIndex(self.encoder.dim)
        self.dense.set_means(vectors[~body], vectors[body])
        self._add_dense(embedded)
        self.dense.compute_hubs()
        self._query_vectors.clear()
        if calibrate:
            if progress is not None:
                progress("calibrate", 0, 1)
            self.calibrate()
            if progress is not None:
                progress("calibrate", 1, 1)

    def upsert(self, docs: Sequence[IndexDocument]) -> None:
        """Add or replace the given tables' documents (incremental: nothing else is touched)."""
        if not docs:
            return
        self.analyzer.add_words(self._vocabulary(docs))
        for doc in docs:
            self._remove_lexical(doc.table_id)
            self.docs[doc.table_id] = doc
            self._add_lexical(doc)
        self._add_dense(self._embed(docs))
        self.dense.compute_hubs([d.table_id for d in docs])

    def remove(self, table_ids: Iterable[int]) -> None:
        for table_id in table_ids:
            self.docs.pop(table_id, None)
            self._remove_lexical(table_id)
            self.dense.remove_table(table_id)

    # --- retrieval ------------------------------------------------------------------------

    def _coverage(self, query: str, channel: str) -> tuple[np.ndarray, np.ndarray, float]:
        """Per-slot table BM25 scores, the public-slot mask, and the query's attainable score."""
        tokens = self.analyzer.tokens(query)
        scores = self.table_bm25(self.bm25.scores(tokens), channel)
        return scores, self._slot_info().public, self.bm25.max_score(tokens)

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
        hybrid blend score of tables that passed ``allowed`` and ``scope``; a table with a
        positive adjustment that neither retriever found joins the pool on the same terms.
        """
        import time

        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        public_only = channel == "customer"
        scores, mask, attainable = self._coverage(query, channel)
        timings["bm25_ms"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        qvec = self.encode_query(query)
        timings["encode_ms"] = (time.perf_counter() - t1) * 1000
        t2 = time.perf_counter()
        n = self.fusion.candidates
        slot_table = self._slot_info().table
        masked = np.where(mask, scores, -1.0)
        lex_pool: list[int] = []
        if mode != "dense" and len(masked):
            top = np.argpartition(-masked, min(n, len(masked) - 1))[:n]
            lex_pool = [int(slot_table[s]) for s in top if masked[s] > 0]
        dense_hits = (
            self.dense.search(qvec, n, public_only=public_only, body_weight=self.fusion.body_weight)
            if mode != "bm25"
            else {}
        )
        pool = set(lex_pool) | set(dense_hits)
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
        missing = [t for t in pool if t not in dense_hits]
        dense_hits.update(
            self.dense.score_tables(
                qvec, missing, public_only=public_only, body_weight=self.fusion.body_weight
            )
        )
        bm25 = {t: float(scores[self.pub_slot[t]]) for t in pool if t in self.pub_slot}
        coverage = {t: s / attainable if attainable > 0 else 0.0 for t, s in bm25.items()}
        dense = {t: dense_hits[t].score for t in pool if t in dense_hits}
        hub = {t: self.dense.hub.get(t, 0.0) for t in pool}
        fused = hybrid_scores(dense, hub, coverage, self.fusion)
        dense_rank = {
            t: r for r, (t, _) in enumerate(ranking(dense_scores(dense, hub, self.fusion)), 1)
        }
        lexical_rank = {t: r for r, (t, _) in enumerate(ranking(coverage), 1) if coverage[t] > 0}
        if mode == "bm25":
            ranked = ranking({t: coverage.get(t, 0.0) for t in pool})
        elif mode == "dense":
            ranked = ranking(dense_scores({t: dense.get(t, 0.0) for t in pool}, hub, self.fusion))
        elif self.fusion.method == "rrf":
            ranked = rrf(
                [ranking(dense_scores(dense, hub, self.fusion)), ranking(coverage)],
                k=self.fusion.rrf_k,
                weights=[self.fusion.dense_weight, self.fusion.lexical_weight / 0.3],
            )
        else:
            ranked = ranking({t: s + votes.get(t, 0.0) for t, s in fused.items()})
        candidates = []
        for table_id, score in ranked[: max(k, 1)]:
            hit = dense_hits.get(table_id)
            candidates.append(
                Candidate(
                    table_id=table_id,
                    score=score,
                    fused=fused.get(table_id, 0.0),
                    dense=dense.get(table_id, 0.0),
                    coverage=coverage.get(table_id, 0.0),
                    bm25=bm25.get(table_id, 0.0),
                    dense_rank=dense_rank.get(table_id),
                    lexical_rank=lexical_rank.get(table_id),
                    dense_kind=hit.kind if hit else None,
                    dense_ref=hit.ref if hit else None,
                    feedback=votes.get(table_id, 0.0),
                )
            )
        self._confidences(candidates, fused)
        timings["fuse_ms"] = (time.perf_counter() - t2) * 1000
        return Retrieval(candidates[:k], filtered, timings)

    def _feedback_for(
        self,
        feedback: Mapping[int, float] | None,
        mode: str,
        allowed: Callable[[IndexDocument], bool] | None,
        scope: set[int] | None,
    ) -> dict[int, float]:
        """The adjustments that may apply: hybrid blend only, visible and in scope only.

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

    def _confidences(self, candidates: list[Candidate], fused: dict[int, float]) -> None:
        best = ranking(fused)[:2]
        for c in candidates:
            others = [s for t, s in best if t != c.table_id]
            margin = c.fused - others[0] if others else 0.0
            c.confidence = self.calibration.confidence([c.fused, margin, c.dense, c.coverage])

    # --- calibration ----------------------------------------------------------------------

    def calibrate(self) -> None:
        """Tune fusion weights and fit the confidence model on held-out similar questions."""
        from indexer.tuning import tune

        tune(self)

    def heldout(self) -> list[tuple[int, int]]:
        """(table id, question index) pairs held out for calibration, chosen deterministically."""
        pairs = []
        for doc in self.docs.values():
            if doc.questions:
                pick = zlib.crc32(doc.code.encode()) % len(doc.questions)
                pairs.append((doc.table_id, pick))
        pairs.sort(key=lambda p: zlib.crc32(f"{p[0]}:{p[1]}".encode()))
        return pairs[:HELDOUT_MAX]
