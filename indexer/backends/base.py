"""The retrieval backend contract: candidate generation and pool scoring behind one base class.

A backend holds what a query searches: the analyzed text of every table (head and body BM25)
and its dense vectors. It answers three questions for :class:`indexer.index.HybridIndex`:

- :meth:`SearchBackend.candidates`: the lexical and the dense top tables of a query, among the
  tables the :class:`Filters` allow (channel, visibility, validity, scope);
- :meth:`SearchBackend.score`: the per-table signals of a given pool (head and body BM25 and
  what the query can attain, best cosine per vector kind, hub scores), which the fusion, the
  reranker and confidence (:mod:`indexer.features`) read;
- editing (:meth:`~SearchBackend.add`, :meth:`~SearchBackend.remove`) and persistence
  (:meth:`~SearchBackend.save`, :meth:`~SearchBackend.load`).

Fusion, reranking and confidence stay in Zhiku and run on whatever pool a backend returns; the
index re-checks every candidate's visibility against its own documents (defence in depth).
Backends are named in :mod:`indexer.backends.factory` (as txtai's ``ann`` package does).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from indexer.analysis import Analyzer
from indexer.dense import TableVectors
from indexer.documents import IndexDocument
from indexer.lexical import LexicalScores
from kb.text import normalize
from kb.visibility import Channel


@dataclass(frozen=True)
class Filters:
    """What a backend restricts candidates to (values, not code: an engine can apply them).

    ``now`` None: no visibility or validity filter (self-tuning searches everything).
    """

    channel: str = "agent"
    now: datetime | None = None
    include_expired: bool = False
    category: str | None = None
    package: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def public_only(self) -> bool:
        return self.channel == "customer"

    @property
    def scoped(self) -> bool:
        return bool(self.category or self.package or self.tags)

    def admits(self, doc: IndexDocument) -> bool:
        """Whether ``doc`` passes these filters (the rule every backend implements)."""
        if self.now is not None and not doc.visible(
            Channel(self.channel), self.now, include_expired=self.include_expired
        ):
            return False
        return in_scope(doc, self.category, self.package, self.tags)


def in_scope(
    doc: IndexDocument, category: str | None, package: str | None, tags: Sequence[str]
) -> bool:
    """Whether ``doc`` is in the category, the package (name or category/name), and has every
    tag (compared normalized)."""
    if category and doc.category != category:
        return False
    if package and package not in {doc.package, f"{doc.category}/{doc.package}"}:
        return False
    wanted = {normalize(t) for t in tags}
    return not wanted or wanted <= {normalize(t) for t in doc.tags}


@dataclass
class QueryState:
    """A query analyzed and encoded once, for every step that needs it.

    ``lexical``: what the backend prepared for it (the embedded one: every row's BM25).
    """

    text: str
    tokens: list[str]
    vector: np.ndarray
    lexical: LexicalScores | None = None
    latent: np.ndarray | None = None  # latent terms, expanded (indexer.latent); None: none


@dataclass
class PoolScores:
    """A backend's signals for the tables of a pool (rows in the order asked)."""

    kinds: np.ndarray  # (n, 4) best cosine per kind (title, question, body, entry); NaN: none
    refs: Sequence[Sequence[str]]  # per table, the ref of each kind's best vector
    head: np.ndarray  # head BM25
    body: np.ndarray  # body BM25 (public view; agents: plus the internal view)
    head_attainable: float
    body_attainable: float
    head_covered: np.ndarray
    hub: np.ndarray


@dataclass
class Candidates:
    """A query's top tables per retriever, best first, and what the filters took out."""

    lexical: list[int]
    dense: list[int]
    hidden: set[int]  # tables of the unfiltered top lists the filters removed (diagnostics)


@dataclass(frozen=True)
class CandidateParams:
    """How many candidates, and how they are ranked for the cut (from FusionParams)."""

    n: int
    lexical_body: float
    kind_weights: tuple[float, ...]


class SearchBackend(ABC):
    """Candidate generation and pool scoring over the indexed tables (see the module docstring)."""

    name = "base"
    # Whether a scoped search may score every table in scope (cheap in process; over the
    # network the engine filters its top-N instead).
    exhaustive_scope = False
    # Whether the engine keeps its state in the index directory alone, so that writing the
    # directory may wait (a start repairs what it missed). An engine outside (Milvus) has
    # changed already: the directory's documents must agree with it after every update.
    state_in_directory = True

    # --- editing --------------------------------------------------------------------------

    @abstractmethod
    def build(
        self, docs: Sequence[IndexDocument], vectors: Sequence[TableVectors], analyzer: Analyzer
    ) -> None:
        """Index ``docs`` (sorted by table id) and their raw vectors from scratch."""

    @abstractmethod
    def add(
        self, docs: Sequence[IndexDocument], vectors: Sequence[TableVectors], analyzer: Analyzer
    ) -> None:
        """Add or replace these tables (incremental: nothing else is touched)."""

    def load_from(
        self, engine: SearchBackend, docs: Sequence[IndexDocument], analyzer: Analyzer
    ) -> None:
        """Replace the whole content by what the in-process ``engine`` just built (a build
        runs in process, then loads the backend: same means, hub scores and statistics)."""
        raise NotImplementedError(f"the {self.name} backend is built in place")

    @abstractmethod
    def remove(self, docs: Sequence[IndexDocument]) -> None:
        """Forget these tables (their documents as they were indexed)."""

    @abstractmethod
    def reanalyze(self, analyzer: Analyzer, docs: Sequence[IndexDocument]) -> None:
        """Re-analyze every document's text with a new analyzer (the dictionary changed)."""

    # --- querying -------------------------------------------------------------------------

    @abstractmethod
    def center(self, vectors: np.ndarray, *, kind: int = 0) -> np.ndarray:
        """Raw vectors of one kind centered and normalized as the index stores them."""

    def prepare(self, tokens: Sequence[str], channel: str) -> LexicalScores | None:
        """Per-query lexical work done once (None: nothing to prepare)."""
        return None

    @abstractmethod
    def candidates(
        self, state: QueryState, *, mode: str, params: CandidateParams, filters: Filters
    ) -> Candidates:
        """The lexical top ``n`` tables (by head + ``lexical_body`` × body coverage) and the
        dense top tables (by best weighted vector among the top ``n`` vectors), best first,
        among the tables ``filters`` allow; ``mode`` "bm25" / "dense" skips the other list."""

    @abstractmethod
    def score(self, tables: Sequence[int], state: QueryState, *, channel: str) -> PoolScores:
        """Signals of ``tables`` for the query (customers: public text and vectors only)."""

    @abstractmethod
    def hub(self, table_id: int) -> float:
        """The table's hub score (0 where none)."""

    # --- persistence ----------------------------------------------------------------------

    @abstractmethod
    def save(self, directory: Path) -> dict[str, Any]:
        """Write what the backend keeps locally into ``directory``; returns what params.json
        records of it (counts, engine)."""

    @abstractmethod
    def load(
        self,
        directory: Path,
        params: dict[str, Any],
        analyzer: Analyzer,
        docs: dict[int, IndexDocument],
    ) -> None:
        """Read back what :meth:`save` wrote (raises IndexMismatch when it cannot); ``docs``:
        the indexed documents, as saved beside it."""

    def close(self) -> None:  # noqa: B027  (optional: engines with connections)
        """Release connections."""
