"""Lexical retrieval: two BM25 indexes over every table, the *head* and the *body*.

- head: what names a table — title, similar questions, tags — with pinyin tokens (customers
  type homophones: 微利贷 / 微粒贷). One slot per table; a table's head slot is its *row*, the
  position every per-table score array of a query is indexed by.
- body: the searchable fields of the table's template, each at its template weight. A
  *public* view per table, plus an *internal* view for tables with internal searchable text.
  Customers are scored against the public view only; for agents the internal view adds in.
  A view longer than ``WINDOW_CHUNKS`` chunks is a document per window of chunks, and scores
  by its best (:func:`indexer.documents.body_windows`): BM25's length normalization would
  otherwise sink a long answer below a short one that tells the same detail.

Kept apart, the two say different things about a match (the question was asked in the title's
words, or it is answered somewhere in the text), a long answer no longer dilutes a title match
through BM25's length normalization, and the fusion and the reranker weigh them per KB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from indexer.analysis import Analyzer
from indexer.bm25 import Bag, BagField, BM25Index, BM25Params
from indexer.documents import IndexDocument, body_fields, body_windows, head_fields

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class _Views:
    """Body slots grouped by row: ``slots`` sorted by row, each row's run starting at its
    place in ``starts`` (``rows`` in the same order)."""

    rows: np.ndarray
    slots: np.ndarray
    starts: np.ndarray

    @classmethod
    def of(cls, row: dict[int, int], slots: dict[int, list[int]]) -> _Views:
        tables = list(slots)
        counts = np.fromiter((len(slots[t]) for t in tables), np.int64, len(tables))
        rows = np.repeat(np.fromiter((row[t] for t in tables), np.int64, len(tables)), counts)
        flat = np.fromiter(chain.from_iterable(slots[t] for t in tables), np.int64, len(rows))
        order = np.argsort(rows, kind="stable")
        rows, flat = rows[order], flat[order]
        first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) else rows
        return cls(rows[first], flat, first)

    def best(self, scores: np.ndarray) -> np.ndarray:
        """Per row of :attr:`rows`, the best of its slots' ``scores``."""
        if not len(self.slots):
            return np.zeros(0, np.float64)
        return np.maximum.reduceat(scores[self.slots], self.starts)


@dataclass
class LexicalScores:
    """One query's lexical scores per row (table), and what the query could attain."""

    head: np.ndarray
    body: np.ndarray
    head_attainable: float
    body_attainable: float

    def head_coverage(self) -> np.ndarray:
        return _coverage(self.head, self.head_attainable)

    def body_coverage(self) -> np.ndarray:
        return _coverage(self.body, self.body_attainable)

    def coverage(self, body_weight: float) -> np.ndarray:
        """Head and weighted body scores over what the query can attain in both."""
        return _coverage(
            self.head + body_weight * self.body,
            self.head_attainable + body_weight * self.body_attainable,
        )


def _coverage(scores: np.ndarray, attainable: float) -> np.ndarray:
    if attainable <= 0:
        return np.zeros_like(scores)
    return scores / attainable


class LexicalIndex:
    """Head and body BM25 over table documents, with their slot bookkeeping."""

    def __init__(self, analyzer: Analyzer, params: BM25Params | None = None) -> None:
        self.analyzer = analyzer
        self.params = params or BM25Params()
        self.head = BM25Index(self.params)
        self.body = BM25Index(self.params)
        self.row: dict[int, int] = {}  # table id → head slot
        self.body_public: dict[int, list[int]] = {}  # table id → body slots of its public view
        self.body_internal: dict[int, list[int]] = {}  # … and of its internal view
        self._maps: tuple[np.ndarray, _Views, _Views] | None = None
        self._bags: dict[tuple[str, bool], Bag] | None = None

    # --- analysis -------------------------------------------------------------------------

    def bag(self, text: str, *, phonetic: bool) -> Bag:
        bags = self._bags  # read once: a re-tune in another thread may end its memo meanwhile
        if bags is None:
            return Bag.of(self.analyzer.tokens(text, phonetic=phonetic))
        found = bags.get((text, phonetic))
        if found is None:
            found = Bag.of(self.analyzer.tokens(text, phonetic=phonetic))
            bags[(text, phonetic)] = found
        return found

    @contextmanager
    def memo(self) -> Iterator[None]:
        """Analyze each distinct text once inside the block (a KB repeats much of its text)."""
        self._bags = {}
        try:
            yield
        finally:
            self._bags = None

    def head_view(self, doc: IndexDocument) -> list[BagField]:
        return [(self.bag(text, phonetic=True), 1.0) for _, text in head_fields(doc)]

    def body_view(self, doc: IndexDocument, *, internal: bool = False) -> list[BagField]:
        """The view's fields whole (the text a full-text engine indexes)."""
        return [
            (self.bag(text, phonetic=False), weight)
            for _, text, weight in body_fields(doc, internal=internal)
        ]

    def body_views(self, doc: IndexDocument, *, internal: bool = False) -> list[list[BagField]]:
        """The view's body documents: one, or one a window of a long view."""
        return [
            [(self.bag(text, phonetic=False), weight) for text, weight in window]
            for window in body_windows(doc, internal=internal)
        ]

    # --- building and editing -------------------------------------------------------------

    def build(self, docs: Sequence[IndexDocument], progress: Progress | None = None) -> None:
        """Both indexes over ``docs`` from scratch, in bulk."""
        internal = [d for d in docs if d.has_internal_search_text]

        def heads() -> Iterable[list[BagField]]:
            for i, doc in enumerate(docs, 1):
                yield self.head_view(doc)
                if progress is not None and (i % 500 == 0 or i == len(docs)):
                    progress("analyze", i, len(docs))

        public: dict[int, list[int]] = {}
        inner: dict[int, list[int]] = {}

        def bodies() -> Iterable[list[BagField]]:
            slot = 0
            for views, of_view in ((public, False), (inner, True)):
                for doc in internal if of_view else docs:
                    for view in self.body_views(doc, internal=of_view):
                        views.setdefault(doc.table_id, []).append(slot)
                        slot += 1
                        yield view

        self.head = BM25Index.build_bags(heads(), self.params)
        self.body = BM25Index.build_bags(bodies(), self.params)
        self.row = {d.table_id: slot for slot, d in enumerate(docs)}
        self.body_public = public
        self.body_internal = inner
        self._maps = None

    def add(self, doc: IndexDocument) -> None:
        self.remove(doc.table_id)
        self.row[doc.table_id] = self.head.add_bags(self.head_view(doc))
        self.body_public[doc.table_id] = [self.body.add_bags(v) for v in self.body_views(doc)]
        if doc.has_internal_search_text:
            self.body_internal[doc.table_id] = [
                self.body.add_bags(v) for v in self.body_views(doc, internal=True)
            ]
        self._maps = None

    def remove(self, table_id: int) -> None:
        slot = self.row.pop(table_id, None)
        if slot is not None:
            self.head.remove(slot)
        for views in (self.body_public, self.body_internal):
            for slot in views.pop(table_id, []):
                self.body.remove(slot)
        self._maps = None

    def rebuild(self, analyzer: Analyzer, docs: Sequence[IndexDocument]) -> None:
        """Re-analyze every document with a new analyzer (the dictionary changed)."""
        self.analyzer = analyzer
        with self.memo():
            self.build(docs)

    # --- rows -----------------------------------------------------------------------------

    def _slot_maps(self) -> tuple[np.ndarray, _Views, _Views]:
        """Row → table id (-1 free), and the body slots of public and internal views by row."""
        maps = self._maps  # read once: an edit in another thread may reset it meanwhile
        if maps is None:
            table = np.full(self.head.slots, -1, np.int64)
            for t, r in self.row.items():
                table[r] = t
            maps = (
                table,
                _Views.of(self.row, self.body_public),
                _Views.of(self.row, self.body_internal),
            )
            self._maps = maps
        return maps

    @property
    def row_table(self) -> np.ndarray:
        """Table id of every row (-1 where the row is free)."""
        return self._slot_maps()[0]

    # --- scoring --------------------------------------------------------------------------

    def scores(self, tokens: Sequence[str], channel: str) -> LexicalScores:
        """Head and body BM25 of every row for the query's ``tokens`` (see the docstring)."""
        table, public, internal = self._slot_maps()
        head = self.head.scores(tokens)
        body_all = self.body.scores(tokens)
        body = np.zeros(len(table), np.float64)
        body[public.rows] = public.best(body_all)
        if channel != "customer" and len(internal.rows):
            body[internal.rows] += internal.best(body_all)
        return LexicalScores(
            head=head,
            body=body,
            head_attainable=self.head.max_score(tokens),
            body_attainable=self.body.max_score(tokens),
        )

    def head_covered(self, tokens: Sequence[str], tables: Sequence[int]) -> np.ndarray:
        """Per table, the share of its head's idf mass the query contains."""
        return self.head.covered(tokens, [self.row[t] for t in tables])

    def doc_head_covered(self, tokens: Sequence[str], doc: IndexDocument) -> float:
        return self.head.covered_bags(tokens, self.head_view(doc))

    def doc_scores(
        self, tokens: Sequence[str], doc: IndexDocument, channel: str
    ) -> tuple[float, float]:
        """Head and body BM25 of an ad-hoc document (self-tuning's masked copies) under the
        index's statistics."""
        head = self.head.score_bags(tokens, self.head_view(doc))
        body = self._best(tokens, self.body_views(doc))
        if channel != "customer" and doc.has_internal_search_text:
            body += self._best(tokens, self.body_views(doc, internal=True))
        return head, body

    def _best(self, tokens: Sequence[str], views: list[list[BagField]]) -> float:
        return max(self.body.score_bags(tokens, view) for view in views)

    # --- persistence ----------------------------------------------------------------------

    def to_arrays(self) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
        head_terms, head = self.head.to_arrays()
        body_terms, body = self.body.to_arrays()
        arrays = {f"head_{k}": v for k, v in head.items()}
        arrays |= {f"body_{k}": v for k, v in body.items()}
        return {"head": head_terms, "body": body_terms}, arrays

    def slot_maps_json(self) -> dict[str, dict[str, Any]]:
        return {
            "row": {str(k): v for k, v in self.row.items()},
            "body_public": {str(k): v for k, v in self.body_public.items()},
            "body_internal": {str(k): v for k, v in self.body_internal.items()},
        }

    @classmethod
    def from_arrays(
        cls,
        analyzer: Analyzer,
        params: BM25Params,
        terms: dict[str, list[str]],
        arrays: dict[str, np.ndarray],
        slots: dict[str, dict[str, Any]],
    ) -> LexicalIndex:
        index = cls(analyzer, params)
        for name in ("head", "body"):
            prefix = f"{name}_"
            part = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            setattr(index, name, BM25Index.from_arrays(terms[name], part, params))
        index.row = {int(k): v for k, v in slots["row"].items()}
        # An index saved before windows holds one body slot a view, as a number.
        for name in ("body_public", "body_internal"):
            views = {int(k): v if isinstance(v, list) else [v] for k, v in slots[name].items()}
            setattr(index, name, views)
        return index


ARRAY_NAMES = tuple(
    f"{part}_{name}"
    for part in ("head", "body")
    for name in ("bm25_indptr", "bm25_slots", "bm25_tf", "bm25_doc_len", "bm25_alive")
)
