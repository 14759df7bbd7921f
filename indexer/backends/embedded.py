"""The in-process backend (the default): head and body BM25 and FAISS in this process's memory.

It is the engine :class:`indexer.index.HybridIndex` has always had (:mod:`indexer.lexical`,
:mod:`indexer.dense`), behind the backend contract; scores are unchanged. Filters are applied
as Milvus applies them: the unfiltered top lists first (what the rules hide of them is counted),
and where they hid some, the lists again among the tables the rules admit, one mask over every
table (:mod:`indexer.admission`): the BM25 cut skips the others, and FAISS skips their vectors
inside the index (a selector), so a family of hidden tables on top never empties a list. It is
also the engine self-tuning reads (masked documents scored under the index's statistics).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from indexer.admission import Admission, Admitted
from indexer.analysis import Analyzer
from indexer.backends.base import (
    CandidateParams,
    Candidates,
    Filters,
    PoolScores,
    QueryState,
    SearchBackend,
)
from indexer.bm25 import BM25Params
from indexer.dense import KIND_CODES, DenseIndex, RowFilter, TableVectors
from indexer.documents import IndexDocument
from indexer.errors import IndexMismatch
from indexer.fusion import ranking
from indexer.lexical import ARRAY_NAMES as LEXICAL_ARRAYS
from indexer.lexical import LexicalIndex, LexicalScores

FAISS = "dense.faiss"
# Dense row filters kept (one per admission mask and audience; masks change with edits and as
# validity bounds pass).
_KEPT_ROW_FILTERS = 4
# Written since the mmap loader; an older directory without them is read the slower way.
OPTIONAL_ARRAYS = ("head_bm25_row_terms", "body_bm25_row_terms", "dense_alive")
DENSE_ARRAYS = (
    "dense_vectors",
    "dense_ids",
    "dense_table",
    "dense_kind",
    "dense_public",
    "dense_mean_q",
    "dense_mean_p",
    "dense_mean_e",
    "hub_table",
    "hub_score",
)


class EmbeddedBackend(SearchBackend):
    """:class:`LexicalIndex` + :class:`DenseIndex` in this process."""

    name = "embedded"
    exhaustive_scope = True

    def __init__(
        self, analyzer: Analyzer, dim: int, bm25: BM25Params | None = None, *, mmap: bool = False
    ) -> None:
        self.mmap = mmap  # load arrays and FAISS codes as read-only file mappings
        # Whether this process holds arrays of its own (built, or edited since the load); a
        # mapped load is shared with the other workers of the host (see SearchService.remap).
        self.private = True
        self.lexical = LexicalIndex(analyzer, bm25)
        self.dense = DenseIndex(dim)
        self.docs: dict[int, IndexDocument] = {}
        self.admission = Admission()
        self._row_filters: dict[tuple[object, ...], RowFilter] = {}

    # --- editing --------------------------------------------------------------------------

    def build(
        self, docs: Sequence[IndexDocument], vectors: Sequence[TableVectors], analyzer: Analyzer
    ) -> None:
        self.build_lexical(docs, analyzer)
        self.build_dense(vectors)

    def build_lexical(
        self,
        docs: Sequence[IndexDocument],
        analyzer: Analyzer,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        """The BM25 half of :meth:`build` (the index encodes between the two, with progress)."""
        self.docs = {d.table_id: d for d in docs}
        self.admission.reset(docs)
        self.lexical.analyzer = analyzer
        with self.lexical.memo():
            self.lexical.build(docs, progress)

    def build_dense(self, vectors: Sequence[TableVectors]) -> None:
        """The FAISS half of :meth:`build`: means per kind, the vectors, hub scores."""
        self.dense = DenseIndex(self.dense.dim)
        if vectors:
            self.dense.set_means(
                np.vstack([v.vectors for v in vectors]),
                np.asarray([KIND_CODES[k] for v in vectors for k in v.kinds], np.int8),
            )
        self.dense.add_tables(vectors)
        self.dense.compute_hubs()

    def add(
        self, docs: Sequence[IndexDocument], vectors: Sequence[TableVectors], analyzer: Analyzer
    ) -> None:
        self.private = True
        self.lexical.analyzer = analyzer
        for doc in docs:
            self.docs[doc.table_id] = doc
            self.lexical.add(doc)
        self.admission.set(docs)
        self.dense.add_tables(vectors)
        self.dense.compute_hubs([d.table_id for d in docs])

    def remove(self, docs: Sequence[IndexDocument]) -> None:
        if docs:
            self.private = True
        for doc in docs:
            self.docs.pop(doc.table_id, None)
            self.lexical.remove(doc.table_id)
            self.dense.remove_table(doc.table_id)
        self.admission.drop(d.table_id for d in docs)

    def reanalyze(self, analyzer: Analyzer, docs: Sequence[IndexDocument]) -> None:
        self.private = True
        self.lexical.rebuild(analyzer, docs)

    # --- querying -------------------------------------------------------------------------

    def center(self, vectors: np.ndarray, *, kind: int = 0) -> np.ndarray:
        return self.dense.center(vectors, kind=kind)

    def prepare(self, tokens: Sequence[str], channel: str) -> LexicalScores:
        return self.lexical.scores(tokens, channel)

    def _lexical(
        self, state: QueryState, n: int, lexical_body: float, admitted: Admitted | None = None
    ) -> list[int]:
        lexical = state.lexical
        if lexical is None:
            lexical = self.prepare(state.tokens, "agent")
        coverage = lexical.coverage(lexical_body)
        table = self.lexical.row_table
        wanted = (table >= 0) & (coverage > 0)
        if admitted is not None:
            wanted &= admitted.of(table)
        scored = np.where(wanted, coverage, -1.0)
        if not len(scored):
            return []
        top = np.argpartition(-scored, min(n, len(scored) - 1))[:n]
        top = top[np.argsort(-scored[top], kind="stable")]
        return [int(table[r]) for r in top if scored[r] > 0]

    def _dense(
        self,
        state: QueryState,
        n: int,
        params: CandidateParams,
        public_only: bool,
        only: RowFilter | None = None,
    ) -> list[int]:
        hits = self.dense.search(
            state.vector, n, public_only=public_only, weights=params.kind_weights, only=only
        )
        return [t for t, _ in ranking({t: h.score for t, h in hits.items()})][: n * 3]

    def _row_filter(self, admitted: Admitted, public_only: bool) -> RowFilter:
        """The dense rows of the tables ``admitted`` (made once per mask and audience)."""
        key = (*admitted.key, public_only, id(self.dense), len(self.dense.ids))
        found = self._row_filters.get(key)
        if found is None:
            found = self.dense.row_filter(admitted.of, public_only=public_only)
            if len(self._row_filters) >= _KEPT_ROW_FILTERS:
                self._row_filters = {}  # searches may run at once: no iteration over it
            self._row_filters[key] = found
        return found

    def candidates(
        self, state: QueryState, *, mode: str, params: CandidateParams, filters: Filters
    ) -> Candidates:
        lexical = self._lexical(state, params.n, params.lexical_body) if mode != "dense" else []
        dense = self._dense(state, params.n, params, filters.public_only) if mode != "bm25" else []
        admitted = self.admission.admitted(filters)
        hidden = {t for t in (*lexical, *dense) if t in self.docs and t not in admitted}
        if hidden.intersection(lexical):
            lexical = self._lexical(state, params.n, params.lexical_body, admitted)
        if hidden.intersection(dense):
            only = self._row_filter(admitted, filters.public_only)
            dense = self._dense(state, params.n, params, filters.public_only, only)
        return Candidates(lexical, dense, hidden)

    def score(self, tables: Sequence[int], state: QueryState, *, channel: str) -> PoolScores:
        lexical = state.lexical
        if lexical is None:
            lexical = self.prepare(state.tokens, channel)
        rows = np.asarray([self.lexical.row[t] for t in tables], np.int64)
        kinds, refs = self.dense.kind_scores(
            state.vector, tables, public_only=channel == "customer"
        )
        return PoolScores(
            kinds=kinds,
            refs=refs,
            head=lexical.head[rows] if len(rows) else np.zeros(0),
            body=lexical.body[rows] if len(rows) else np.zeros(0),
            head_attainable=lexical.head_attainable,
            body_attainable=lexical.body_attainable,
            head_covered=self.lexical.head_covered(state.tokens, tables),
            hub=np.asarray([self.dense.hub.get(t, 0.0) for t in tables], np.float64),
        )

    def hub(self, table_id: int) -> float:
        return float(self.dense.hub.get(table_id, 0.0))

    # --- persistence ----------------------------------------------------------------------

    def save(self, directory: Path) -> dict[str, Any]:
        terms, lexical_arrays = self.lexical.to_arrays()
        refs, dense_arrays = self.dense.to_arrays()
        for name, array in {**lexical_arrays, **dense_arrays}.items():
            np.save(directory / f"{name}.npy", array, allow_pickle=False)
        self.dense.save_faiss(directory / FAISS)
        _write_json(directory / "vocabulary.json", terms)
        _write_json(directory / "refs.json", refs)
        return {
            "vectors": int(self.dense.alive.sum()),
            "terms": {name: len(t) for name, t in terms.items()},
            "bm25_documents": {"head": self.lexical.head.size, "body": self.lexical.body.size},
            "slots": self.lexical.slot_maps_json(),
        }

    def load(
        self,
        directory: Path,
        params: dict[str, Any],
        analyzer: Analyzer,
        docs: dict[int, IndexDocument],
    ) -> None:
        self.docs = dict(docs)
        self.admission.reset(docs.values())
        mode: Literal["r"] | None = "r" if self.mmap else None

        def read(name: str) -> np.ndarray:
            # A plain ndarray view of the mapping: every slice of an np.memmap is another
            # memmap, whose bookkeeping cost a tenth of a demo search's CPU time.
            array = np.load(directory / f"{name}.npy", mmap_mode=mode, allow_pickle=False)
            return array.view(np.ndarray) if isinstance(array, np.memmap) else array

        try:
            arrays = {name: read(name) for name in (*LEXICAL_ARRAYS, *DENSE_ARRAYS)}
            for name in OPTIONAL_ARRAYS:
                if (directory / f"{name}.npy").exists():
                    arrays[name] = read(name)
            terms = json.loads((directory / "vocabulary.json").read_text(encoding="utf-8"))
            refs = json.loads((directory / "refs.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise IndexMismatch(
                f"The search index at {directory} is incomplete ({err}); run `kb index build` "
                "to rebuild it from the database."
            ) from err
        bm25 = BM25Params(**params["bm25"])
        self.lexical = LexicalIndex.from_arrays(analyzer, bm25, terms, arrays, params["slots"])
        self.dense = DenseIndex.from_arrays(refs, arrays)
        try:
            self.dense.load_faiss(directory / FAISS, mmap=self.mmap)
        except RuntimeError:  # a FAISS file it cannot read: the first search builds the index
            pass
        self.private = not self.mmap

    def mapped(
        self,
        directory: Path,
        params: dict[str, Any],
        analyzer: Analyzer,
        docs: dict[int, IndexDocument],
    ) -> EmbeddedBackend:
        """A new engine on ``directory``'s files, mapped read-only (this one's settings)."""
        fresh = EmbeddedBackend(analyzer, self.dense.dim, BM25Params(**params["bm25"]), mmap=True)
        fresh.load(directory, params, analyzer, docs)
        return fresh


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
