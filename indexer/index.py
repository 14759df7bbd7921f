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

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from indexer.analysis import Analyzer
from indexer.backends.base import CandidateParams, Filters, QueryState, SearchBackend
from indexer.backends.embedded import EmbeddedBackend
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
from indexer.embedding_cache import EmbeddingCache, text_sha
from indexer.encoders import Encoder
from indexer.features import (
    PoolSignals,
    confidence_features,
    dense_score,
    fused_score,
    lexical_score,
)
from indexer.fusion import FusionParams, rrf, settled, with_latent
from indexer.latent import (
    TOP_K,
    LatentEncoder,
    LatentStore,
    QueryLatents,
    best_cosine,
    doc_views,
    expand,
    latent_encoder,
    pack,
)
from indexer.lexical import LexicalIndex
from indexer.query_latent import SEARCHES, LatentNeed, PendingLatent, idle_core, query_plan
from indexer.rerank import Reranker, pool_scores
from kb.text import encoder_form

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
    latent: float | None = None  # the latent-terms cosine (None: none, or not read under load)
    latent_part: float = 0.0  # its part of ``score`` (hybrid; then the rest is standardized)


@dataclass
class Retrieval:
    candidates: list[Candidate]
    filtered: int  # candidates the visibility rules removed
    timings: dict[str, float] = field(default_factory=dict)


def tuning_generation(tuning: dict[str, Any]) -> int:
    """How many tunings came before this one (0: none): among the workers of one server, the
    higher is the later (:meth:`indexer.service.SearchService.retune`)."""
    return int(tuning.get("generation", 0))


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
        backend: SearchBackend | None = None,
    ) -> None:
        self.encoder = encoder
        self.cache = cache or EmbeddingCache(None)
        self.fusion = fusion or FusionParams()
        self.calibration = calibration or Calibration()
        self.reranker = reranker or Reranker()
        self.kinds = frozenset(kinds)
        self.allow_rerank = True  # self-tuning may keep a reranker (ZHIKU_RERANK)
        self.tune_seed = 0  # the seed of self-tuning's draws (ZHIKU_TUNE_SEED)
        self.tuning: dict[str, Any] = {}  # what self-tuning chose, and from what
        # Users' queries confirmed against their table (the golden set: query, table id):
        # self-tuning's labelled real wordings, set by whoever builds or re-tunes the index.
        self.confirmed: list[tuple[str, int]] = []
        # Agents' votes (query, table id or None: nothing fitted, helpful): verdicts on what
        # a ranking puts first, for confidence; set like ``confirmed``.
        self.votes: list[tuple[str, int | None, bool]] = []
        # Users' logged questions (no answer known): which pseudo-queries resemble the KB's
        # real questions (indexer.resemblance); set like ``confirmed``.
        self.logged: list[str] = []
        # Where those labels stood when read (kb.labels.LabelMark as JSON), kept with the
        # tuning: labels added after it call for a re-tune (indexer.selftune.labels_due).
        self.label_mark: dict[str, int] = {}
        self.docs: dict[int, IndexDocument] = {}
        self._analyzer = analyzer
        self.bm25_params = bm25_params or BM25Params()
        self.backend: SearchBackend = backend or EmbeddedBackend(
            analyzer, encoder.dim, self.bm25_params
        )
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_lock = threading.Lock()
        # Latent terms (indexer.latent): where the encoder has a sparse head and the kinds
        # ask for them; None otherwise (the signal is absent, NaN).
        self.latent_encoder: LatentEncoder | None = (
            latent_encoder(encoder) if "latent" in self.kinds else None
        )
        self.latent: LatentStore | None = (
            LatentStore(self.latent_encoder.space) if self.latent_encoder else None
        )
        self._query_latents: OrderedDict[str, np.ndarray] = OrderedDict()
        # When searches read the query's latent terms: auto | always | lean (indexer.query_latent).
        self.latent_read = "auto"
        self.latent_need = LatentNeed()
        self.changed_at_copy = 0  # on a tuning copy: the served index's changed_since then

    @property
    def analyzer(self) -> Analyzer:
        return self._analyzer

    @property
    def embedded(self) -> EmbeddedBackend:
        """The in-process engine (the backend, or the one self-tuning runs on)."""
        if not isinstance(self.backend, EmbeddedBackend):
            raise TypeError(f"the {self.backend.name} backend has no in-process lexical index")
        return self.backend

    @property
    def lexical(self) -> LexicalIndex:
        return self.embedded.lexical

    @property
    def dense(self) -> DenseIndex:
        return self.embedded.dense

    def hub(self, table_id: int) -> float:
        return self.backend.hub(table_id)

    def _vocabulary(self, docs: Iterable[IndexDocument]) -> list[str]:
        docs = list(docs)
        return self.analyzer.vocabulary_words(
            [d.title for d in docs], [t for d in docs for t in d.tags]
        )

    def rebuild_lexical(self, analyzer: Analyzer) -> None:
        """Re-analyze every document with a new analyzer (the dictionary changed)."""
        analyzer.add_words(self._vocabulary(self.docs.values()))
        self._analyzer = analyzer
        self.backend.reanalyze(analyzer, list(self.docs.values()))

    # --- dense ----------------------------------------------------------------------------

    def embed(
        self, docs: Sequence[IndexDocument], progress: Progress | None = None
    ) -> list[TableVectors]:
        """Each document's raw vectors (through the embedding cache), one entry per document."""
        items = [(doc, dense_texts(doc, self.kinds)) for doc in docs]
        flat = [t for _, texts in items for t in texts]
        vectors = self._vectors(flat, _ticker(progress, "embed", len(flat)))
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
                forms = [encoder_form(texts[r].text) for r in rows]
                vectors[rows] = self.cache.encode(self.encoder, forms, form, progress=tick)  # type: ignore[arg-type]
        return vectors

    def embed_latent(
        self, docs: Sequence[IndexDocument], progress: Progress | None = None
    ) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
        """Each document's latent rows (public view, full view; None: none), through the
        cache; ``progress("latent", texts done, texts)``."""
        if self.latent_encoder is None:
            return []

        def encode(encoder: LatentEncoder, texts: list[str]) -> np.ndarray:
            forms = [encoder_form(t) for t in texts]
            tick = _ticker(progress, "latent", len(texts))
            return self.cache.encode(encoder, forms, "passage", progress=tick)

        return doc_views(self.latent_encoder, docs, encode)

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
                centered[mask] = self.backend.center(raw[mask], kind=code)
        owners = np.asarray(owner, np.int64)
        sims = np.einsum("ij,ij->i", centered, queries[owners])
        flat = out.reshape(-1)
        np.fmax.at(flat, owners * len(KINDS) + codes, sims.astype(np.float32))
        return out

    def encode_query(self, text: str, *, threads: int = 1, fused: bool = True) -> np.ndarray:
        """The query's centered vector: agents repeat questions, so it is cached in memory
        (per process, :data:`QUERY_VECTOR_CACHE` entries) over the embedding cache (on disk,
        shared by every worker and kept across restarts). Where the encoder has a fused query
        pass (:mod:`indexer.native`) and ``fused``, its latent terms come with it, on
        ``threads`` threads."""
        key = encoder_form(text)
        with self._query_lock:
            found: np.ndarray | None = self._query_vectors.get(key)
            if found is not None:
                self._query_vectors.move_to_end(key)
                return found
        # Encoded outside the lock: concurrent requests encode in parallel.
        both = self._query_pass() if fused else None
        if both is not None:
            raw = self._encode_both(both, key, threads)
        else:
            raw = self.cache.one(self.encoder, key, "query")
        vector: np.ndarray = self.backend.center(raw[None, :])[0]
        self._remember_query(key, vector)
        return vector

    @property
    def query_encoding(self) -> str:
        """How a new question is encoded (``kb index status``)."""
        fused = self._query_pass()
        if fused is not None:
            return f"one pass: its vector and latent terms (indexer/native, {fused.kernel})"
        if self._ranks_with_latent():
            return "two passes: its vector, then its latent terms (no fused pass built)"
        return "one pass: its vector (no latent terms)"

    def _ranks_with_latent(self) -> bool:
        """Whether a query's latent terms count in its ranking: the encoder has a sparse head,
        some table has latent terms (not a question-only KB), and they weigh something."""
        return (
            self.latent_encoder is not None
            and bool(self.latent)
            and (self.fusion.latent_weight != 0)
        )

    def _query_pass(self) -> QueryLatents | None:
        """The fused pass giving a query's vector and latent terms at once (None: none, or the
        ranking reads no latent terms)."""
        if not self._ranks_with_latent() or self.latent_encoder is None:
            return None
        found = self.latent_encoder.queries
        return found if isinstance(found, QueryLatents) else None

    def _encode_both(self, fused: QueryLatents, key: str, threads: int) -> np.ndarray:
        """A query's raw vector (cached, or encoded in the pass that gives its latent terms,
        kept in memory and in the embedding cache for :meth:`query_latent`)."""
        sha = text_sha(key)
        cached = self.cache.get_many(self.encoder.id, "query", [sha]).get(sha)
        if cached is not None and cached.shape[0] == self.encoder.dim:
            return cached  # its latent terms, if not cached too, are encoded when read
        found = fused.both(key, threads=threads)
        if found is None:  # longer than one pass: its vector alone here
            return self.cache.one(self.encoder, key, "query")
        vector, latent_row = found
        self.cache.put_many(self.encoder.id, "query", {sha: vector})
        self.cache.put_many(fused.id, "query", {sha: latent_row})
        self._remember_latent(key, latent_row)
        return vector

    def prime_latents(self, texts: Sequence[str]) -> None:
        """Encode the latent terms of ``texts`` into the embedding cache in one pass (each is
        then a look-up for :meth:`query_latent`); nothing without latent terms."""
        if self.latent_encoder is None or not self.latent:
            return
        keys = list(dict.fromkeys(encoder_form(t) for t in texts))
        self.cache.encode(self.latent_encoder.queries, keys, "query")

    def docs_latent_scores(
        self, docs: Sequence[IndexDocument], states: Sequence[QueryState]
    ) -> np.ndarray:
        """The latent-terms cosine of ad-hoc documents (self-tuning's masked copies), each
        against its own query (``states[i]`` for ``docs[i]``), full view; NaN where none."""
        out = np.full(len(docs), np.nan)
        if self.latent_encoder is None or not docs:
            return out
        for i, ((public, full), state) in enumerate(
            zip(self.embed_latent(docs), states, strict=True)
        ):
            rows = full if full is not None else public
            if rows is not None and state.latent is not None:
                out[i] = best_cosine(state.latent, rows)
        return out

    def encode_both(self, text: str) -> tuple[np.ndarray, np.ndarray | None]:
        """The query's vector and latent terms; a new query's two encodings run side by side
        (two passes of the encoder, each on a core of its own while the other one is free). A
        KB none of whose tables has latent terms (question-only) encodes the vector alone."""
        if not self.latent:
            return self.encode_query(text), None
        latent = PendingLatent(partial(self.query_latent, text), ahead=True)
        return self.encode_query(text), latent.get()

    def pending_latent(self, text: str, *, ahead: bool) -> PendingLatent | None:
        """The query's latent terms, encoded ``ahead`` (beside its vector) or when the ranking
        reads them (:mod:`indexer.query_latent`); None where the KB has none (question-only)."""
        if not self._ranks_with_latent():
            return None
        return PendingLatent(partial(self.query_latent, text), ahead=ahead)

    def query_latent(self, text: str) -> np.ndarray | None:
        """The query's latent terms, expanded (None without them); kept packed in memory like
        its vector (2 KB each, expanded per query)."""
        if self.latent_encoder is None or not self.latent:
            return None  # none, or no table has any (question-only): nothing to score
        key = encoder_form(text)
        with self._query_lock:
            found: np.ndarray | None = self._query_latents.get(key)
            if found is not None:
                self._query_latents.move_to_end(key)
        if found is None:
            found = self._remember_latent(
                key, self.cache.one(self.latent_encoder.queries, key, "query")
            )
        return expand(found, self.latent.space)

    def _remember_latent(self, key: str, raw: np.ndarray) -> np.ndarray:
        """Keep a query's latent row (packed, raw weights) normalized in memory; returns it."""
        found = pack(raw[:TOP_K], raw[TOP_K:])  # normalized (the cache keeps raw weights)
        with self._query_lock:
            self._query_latents[key] = found
            if len(self._query_latents) > QUERY_VECTOR_CACHE:
                self._query_latents.popitem(last=False)
        return found

    def _remember_query(self, key: str, vector: np.ndarray) -> None:
        with self._query_lock:
            self._query_vectors[key] = vector
            if len(self._query_vectors) > QUERY_VECTOR_CACHE:
                self._query_vectors.popitem(last=False)

    def prime_queries(self, texts: Sequence[str]) -> None:
        """Encode ``texts`` through the embedding cache into the in-memory query cache.

        Benchmarks and self-tuning ask thousands of known questions: encoded once, on disk.
        """
        keys = list(dict.fromkeys(encoder_form(t) for t in texts))
        keys = [k for k in keys if k not in self._query_vectors]
        if not keys:
            return
        raw = self.cache.encode(self.encoder, keys, "query")
        for key, vector in zip(keys, self.backend.center(raw), strict=True):
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
        served = self.backend
        # Every backend is loaded from the in-process engine's build: the same means, hub
        # scores and term statistics, and self-tuning runs on it (thousands of pseudo-queries).
        engine = (
            served
            if isinstance(served, EmbeddedBackend)
            else EmbeddedBackend(self.analyzer, self.encoder.dim, self.bm25_params)
        )
        engine.build_lexical(docs, self.analyzer, progress)
        embedded = self.embed(docs, progress)
        engine.build_dense(embedded)
        if self.latent_encoder is not None:
            latent = LatentStore(self.latent_encoder.space)
            for doc, (public, full) in zip(docs, self.embed_latent(docs, progress), strict=True):
                latent.put(doc.table_id, public, full)
            self.latent = latent
        self._query_vectors.clear()
        self.backend = engine
        try:
            self._finish_build(progress, calibrate=calibrate)
        finally:
            self.backend = served
        if served is not engine:
            served.load_from(engine, docs, self.analyzer)

    def _finish_build(self, progress: Progress | None, *, calibrate: bool) -> None:
        if calibrate:
            self.tune(progress)
        else:
            off = "default (self-tuning off)"
            self.tuning = {"fusion": {"source": off}}
            self.reranker = Reranker(status="not trained (self-tuning off): the blend ranks")
            self.calibration = Calibration(source=off)

    def tune(self, progress: Progress | None = None) -> None:
        """Choose fusion weights, train the reranker and fit confidence on pseudo-queries
        (:mod:`indexer.selftune`), in place. A serving process re-tunes on a
        :meth:`tuning_copy` instead, and :meth:`adopt_tuning` swaps the result in."""
        from indexer import selftune

        shadow = self.tuning_copy()
        shadow.own_engine()
        selftune.tune(shadow, progress=progress)
        self.adopt_tuning(shadow)

    def tuning_copy(self) -> HybridIndex:
        """A copy to tune while this index goes on serving: the documents as they are now, the
        same engine (read under the caller's read lock while :func:`indexer.selftune.gather`
        searches), its own tuned parameters and query-vector cache (the pseudo-queries do not
        evict users' questions). Another backend than the in-process one: then
        :meth:`own_engine`, outside the lock.
        """
        shadow = copy.copy(self)
        shadow.docs = dict(self.docs)
        shadow.tuning = dict(self.tuning)
        shadow.changed_at_copy = int(self.tuning.get("changed_since", 0))
        shadow._query_vectors = OrderedDict()
        shadow._query_latents = OrderedDict()
        shadow._query_lock = threading.Lock()
        shadow.latent = self.latent.copy() if self.latent is not None else None
        return shadow

    def own_engine(self) -> None:
        """On a :meth:`tuning_copy` of an index another backend serves (Milvus): an in-process
        engine of its own for self-tuning to search (thousands of pseudo-queries), built from
        the copy's documents (their vectors from the embedding cache) with an analyzer of its
        own. It shares nothing the served index changes, so it is built outside any lock: the
        build takes minutes on a large KB, and an update waiting for it held up every search.
        Nothing to do for the in-process backend (the copy searches the served engine)."""
        if isinstance(self.backend, EmbeddedBackend):
            return
        docs = sorted(self.docs.values(), key=lambda d: d.table_id)
        served = self.analyzer
        analyzer = Analyzer(served.dictionary, self._vocabulary(docs), channels=served.channels)
        engine = EmbeddedBackend(analyzer, self.encoder.dim, self.bm25_params)
        engine.build(docs, self.embed(docs), analyzer)
        self._analyzer, self.backend = analyzer, engine

    def adopt_tuning(self, shadow: HybridIndex) -> None:
        """Take what self-tuning chose on ``shadow`` (a :meth:`tuning_copy` of this index).
        Tables changed here since the copy was made still count towards the next re-tune."""
        since = int(self.tuning.get("changed_since", 0)) - shadow.changed_at_copy
        self.fusion, self.reranker = shadow.fusion, shadow.reranker
        self.calibration = shadow.calibration
        self.tuning = {
            **shadow.tuning,
            "changed_since": max(since, 0),
            "generation": tuning_generation(self.tuning) + 1,
        }

    def adopt_saved(
        self,
        fusion: FusionParams,
        calibration: Calibration,
        reranker: Reranker,
        tuning: dict[str, Any],
    ) -> None:
        """Take a tuning another process made and saved (a worker of the same server)."""
        self.fusion, self.calibration, self.reranker = fusion, calibration, reranker
        self.tuning = dict(tuning)

    def upsert(self, docs: Sequence[IndexDocument]) -> None:
        """Add or replace the given tables' documents (incremental: nothing else is touched)."""
        if not docs:
            return
        self.analyzer.add_words(self._vocabulary(docs))
        for doc in docs:
            self.docs[doc.table_id] = doc
        self.backend.add(docs, self.embed(docs), self.analyzer)
        if self.latent is not None:
            for doc, (public, full) in zip(docs, self.embed_latent(docs), strict=True):
                self.latent.put(doc.table_id, public, full)

    def remove(self, table_ids: Iterable[int]) -> None:
        gone = [self.docs.pop(t) for t in table_ids if t in self.docs]
        self.backend.remove(gone)
        if self.latent is not None:
            self.latent.remove(d.table_id for d in gone)

    # --- retrieval ------------------------------------------------------------------------

    def query_state(self, query: str, channel: str) -> QueryState:
        tokens = self.analyzer.tokens(query)
        vector, latent = self.encode_both(query)
        return QueryState(query, tokens, vector, self.backend.prepare(tokens, channel), latent)

    def candidate_params(self) -> CandidateParams:
        return CandidateParams(
            n=self.fusion.candidates,
            lexical_body=self.fusion.lexical_body,
            kind_weights=tuple(self.fusion.kind_weights),
        )

    def candidate_lists(
        self, state: QueryState, *, channel: str, mode: str
    ) -> tuple[list[int], list[int]]:
        """The lexical and the dense top tables, unfiltered (self-tuning's pools)."""
        found = self.backend.candidates(
            state, mode=mode, params=self.candidate_params(), filters=Filters(channel=channel)
        )
        return found.lexical, found.dense

    def signals(self, tables: Sequence[int], state: QueryState, *, channel: str) -> PoolSignals:
        """The pool's raw signals (see :mod:`indexer.features`)."""
        scores = self.backend.score(tables, state, channel=channel)
        docs = [self.docs[t] for t in tables]
        return PoolSignals(
            tables=list(tables),
            kinds=scores.kinds,
            head=scores.head,
            body=scores.body,
            hub=scores.hub,
            head_attainable=scores.head_attainable,
            body_attainable=scores.body_attainable,
            head_covered=scores.head_covered,
            query_chars=len(state.text),
            title_chars=np.asarray([len(d.title) for d in docs], np.float64),
            body_chars=np.asarray([d.body_chars() for d in docs], np.float64),
            questions=np.asarray([len(d.questions) for d in docs], np.float64),
            refs=scores.refs,
            latent=(
                self.latent.scores(tables, state.latent, customer=channel == "customer")
                if self.latent is not None and state.latent is not None
                else None
            ),
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
        filters: Filters | None = None,
    ) -> Retrieval:
        """Scored candidates, best first, among tables ``allowed`` (and in ``scope``) only.

        ``feedback`` (table id → adjustment, see :mod:`indexer.feedback_boost`) is added to the
        hybrid score of tables that passed ``allowed`` and ``scope`` (scaled to the reranker's
        units where one ranks); a table with a positive adjustment that neither retriever
        found joins the pool on the same terms. ``filters``: the same rules as values, for the
        backend to apply while it generates candidates (``allowed`` is checked again).
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        with SEARCHES.search() as spare_core:
            # A fused pass gives the query its latent terms with its vector, and every pool
            # reads them; on two threads while a core is spare (in this process and on the
            # machine), else on one (query_latent.query_plan says when it is used).
            fused, read_all = query_plan(
                self.latent_read,
                spare_core=spare_core,
                fused=self._query_pass() is not None,
                need=self.latent_need.share,
            )
            return self._retrieve(
                query,
                read_all,
                threads=2 if fused and spare_core and idle_core() else 1,
                fused=fused,
                channel=channel,
                mode=mode,
                k=k,
                allowed=allowed,
                scope=scope,
                feedback=feedback,
                filters=filters or Filters(channel=channel),
            )

    def _retrieve(
        self,
        query: str,
        read_all: bool,
        *,
        threads: int = 1,
        fused: bool = False,
        channel: str,
        mode: str,
        k: int,
        allowed: Callable[[IndexDocument], bool] | None,
        scope: set[int] | None,
        feedback: Mapping[int, float] | None,
        filters: Filters,
    ) -> Retrieval:
        """:meth:`retrieve`; ``read_all``: every pool reads the query's latent terms (encoded
        ahead, beside its vector), or only those not settled without them (encoded when read:
        :mod:`indexer.query_latent`); ``fused``: both from the fused query pass, on
        ``threads`` threads."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        tokens = self.analyzer.tokens(query)
        lexical_scores = self.backend.prepare(tokens, channel)
        timings["bm25_ms"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        # Only the blend's hybrid ranking reads latent terms.
        latent = (
            self.pending_latent(query, ahead=read_all and not fused)
            if mode == "hybrid" and self.fusion.method == "blend"
            else None
        )
        vector = self.encode_query(query, threads=threads, fused=fused)
        state = QueryState(query, tokens, vector, lexical_scores)
        timings["encode_ms"] = (time.perf_counter() - t1) * 1000
        t2 = time.perf_counter()
        found = self.backend.candidates(
            state, mode=mode, params=self.candidate_params(), filters=filters
        )
        pool = set(found.lexical) | set(found.dense)
        # What the filters hid counts as filtered, as it always did (not where every table in
        # scope is scored: there, what the rules remove from the scope is the count).
        hidden = found.hidden - pool
        if scope is not None and self.backend.exhaustive_scope:
            pool, hidden = set(scope), set()
        elif scope is not None:
            pool &= scope
        filtered = len(hidden)
        if allowed is not None:
            # Defence in depth: whatever the backend filtered, every table is checked again.
            kept = {
                t
                for t in pool
                if t in self.docs and allowed(self.docs[t]) and (scope is None or t in scope)
            }
            filtered += len(pool) - len(kept)
            if len(kept) < k and scope is None:
                # Too much of the pool is hidden from this channel: score everything it may see.
                # (What the rules removed from the pool is counted above, once.)
                kept = {t for t, d in self.docs.items() if allowed(d)}
            pool = kept
        else:
            pool = {t for t in pool if t in self.docs and (scope is None or t in scope)}
        votes = self._feedback_for(feedback, mode, allowed, scope)
        pool |= {t for t, a in votes.items() if a > 0}
        tables = sorted(pool)
        sig = self.signals(tables, state, channel=channel)
        timings["signals_ms"] = (time.perf_counter() - t2) * 1000
        t3 = time.perf_counter()
        lead = 0.0 if read_all else self.fusion.latent_lead
        candidates = self._rank(
            sig, mode, votes, k, timings, self._pool_latent(sig, latent, channel), lead
        )
        timings["rank_ms"] = (time.perf_counter() - t3) * 1000
        timings["fuse_ms"] = (time.perf_counter() - t2) * 1000
        return Retrieval(candidates, filtered, timings)

    def _pool_latent(
        self, sig: PoolSignals, latent: PendingLatent | None, channel: str
    ) -> Callable[[], np.ndarray] | None:
        """A function giving the pool's latent-terms cosines from the query's pending ones
        (None: none pending; the pool's own, if any, are in ``sig``)."""
        store = self.latent
        if latent is None or store is None:
            return None

        def read() -> np.ndarray:
            query = latent.get()
            if query is None:
                return np.full(len(sig.tables), np.nan)
            return store.scores(sig.tables, query, customer=channel == "customer")

        return read

    def _rank(
        self,
        sig: PoolSignals,
        mode: str,
        votes: Mapping[int, float],
        k: int,
        timings: dict[str, float] | None = None,
        read_latent: Callable[[], np.ndarray] | None = None,
        latent_lead: float = 0.0,
    ) -> list[Candidate]:
        """The pool ranked for ``mode``, best first. ``read_latent``: the pool's latent-terms
        cosines, the query's read only if the ranking needs them (else ``sig``'s);
        ``latent_lead``: the lead at which a pool is ranked without them (0: none is;
        :func:`indexer.fusion.settled`)."""
        tables = sig.tables
        if not tables:
            return []
        latent = np.asarray(sig.latent, np.float64)

        def cosines() -> np.ndarray:
            nonlocal latent
            if read_latent is not None:
                started = time.perf_counter()
                latent = read_latent()
                if timings is not None:
                    timings["latent_ms"] = (time.perf_counter() - started) * 1000
            return latent

        latent_part: np.ndarray | None = None
        fused = fused_score(sig, self.fusion)
        dense = dense_score(sig, self.fusion)
        lexical = lexical_score(sig, self.fusion)
        started = time.perf_counter()
        hybrid, reranked = self.hybrid_scores(sig)
        if reranked is not None and timings is not None:  # the reranker's share of the latency
            timings["rerank_ms"] = (time.perf_counter() - started) * 1000
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
            if read_latent is not None:  # how often a pool reads them (query_latent.query_plan)
                self.latent_need.observe(not settled(hybrid + adjust, self.fusion.latent_lead))
            score, latent_part = with_latent(
                hybrid + adjust, cosines, self.fusion.latent_weight, latent_lead
            )
        # Ties in id order, so results are deterministic.
        order = sorted(range(len(tables)), key=lambda i: (-score[i], tables[i]))[: max(k, 1)]
        confidence = ranked_confidences(
            self.calibration.confidences(confidence_features(sig, score)), order
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
                    latent=None if np.isnan(latent[i]) else float(latent[i]),
                    latent_part=float(latent_part[i]) if latent_part is not None else 0.0,
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


def _ticker(progress: Progress | None, stage: str, total: int) -> Callable[[int], None]:
    """A callback adding texts done to ``stage``'s count, reported as (stage, done, total)."""
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(stage, done, total)

    return tick


def _share(score: float, attainable: float) -> float:
    return float(score / attainable) if attainable > 0 else 0.0
