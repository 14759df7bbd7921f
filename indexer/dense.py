"""Dense retrieval: several vectors per table in FAISS, a table scoring by its best vector.

Vectors are stored centered (the KB's mean vector removed, shrunk toward zero for small KBs)
and L2-normalized, so inner product is cosine in a space where the common "this is a customer
question" direction no longer dominates. Each table also gets a hub score: the mean similarity
of its title to its nearest other titles. Generic tables ("可以咨询一下吗") sit close to
everything and would otherwise win many queries; fusion subtracts a share of the hub score
(cross-domain similarity local scaling).

FAISS: ``IndexIDMap2(IndexFlatIP)`` with explicit int64 vector ids. A flat scan is bound by
memory bandwidth: ~3 ms over 30,000 vectors of 384 dimensions, ~10 ms over 88,000 (a 10,000-table
KB) on this two-core box. From :data:`SQ8_MIN_VECTORS` on, the scan runs over 8-bit scalar-
quantized copies (4× less memory to read: ~3 ms at 88,000, recall of the top 100 vectors 0.99)
and the candidates it returns are re-scored exactly from the float vectors, so scores stay
exact. From :data:`HNSW_MIN_VECTORS` on (a 10,000-table KB like the demo's has 132,740) an HNSW
graph is searched instead, searched :data:`HNSW_EF_FACTOR` times deeper than the vectors it
fetches; its candidates are re-scored the same way. HNSW cannot delete: its
graph holds every row the index has had since it was built, and removed rows are filtered out
of what it returns.

The FAISS index is saved beside the vectors (``dense.faiss``), and loaded from there rather
than rebuilt (an HNSW graph takes minutes at scale): with the live vectors only, or, for an
HNSW graph, with every row it holds and which of them are alive, until removed rows are more
than :data:`HNSW_DEAD_SHARE` of them (then the live vectors only are saved). A process that
loads a directory without the graph it needs serves from the 8-bit scan, made at its first
search, while a background thread builds the graph (see :meth:`DenseIndex._index`).
Loaded with ``mmap``, its codes and the vectors are read-only file mappings that every worker
process on the host shares; the first edit in a process makes that process a private copy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import overload

import faiss
import numpy as np

# The 8-bit scan's time grows with the vectors; an HNSW graph's hardly does, but it takes
# ~0.3 ms a vector to build. At 132,740 vectors (the 10,000-table benchmark KB, 772 questions,
# one thread, a slow day of this 2-core box) the pool's signals took p50 18.5 ms with the scan
# and 9.3 ms with the graph, whose top-1 tables were an exact scan's on 772/772 questions
# (top 5: 771/772); building the graph took ~40 s.
HNSW_MIN_VECTORS = 100_000
# The graph is searched this many times deeper than the vectors a search fetches (efSearch):
# with the fetch itself as the depth, 2 of those 772 top-1s differed from the exact scan's.
HNSW_EF_FACTOR = 2
# Removed rows an HNSW graph may carry into a save (a share of its rows): each one is a row a
# search fetches and drops; beyond this the graph is left to be built again from the live rows.
HNSW_DEAD_SHARE = 0.25
# Flat 9.9 ms vs SQ8 2.9 ms per query at 88k clustered unit vectors (one thread, p50), SQ8
# recall of the flat top 100: 0.992. Below ~20k vectors the flat scan is already ~2 ms.
SQ8_MIN_VECTORS = 20_000
HUB_NEIGHBOURS = 10
# Appended rows go into arrays with this much room to spare (over the rows they hold): an
# approval's few vectors are written into the spare room, not added by copying every vector
# (a copy per update was 86 ms at 10,000 tables, under the lock searches wait for).
GROWTH = 1.25
HUB_MIN_TABLES = 50
CENTER_SHRINK = 50  # mean weight n / (n + CENTER_SHRINK): a tiny KB's mean is mostly noise

KIND_CODES = {"title": 0, "question": 1, "body": 2, "entry": 3}
KINDS = tuple(KIND_CODES)
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}


@dataclass
class TableVectors:
    """One table's raw vectors and what each stands for."""

    table_id: int
    vectors: np.ndarray
    kinds: Sequence[str]
    public: Sequence[bool]
    refs: Sequence[str]


@dataclass
class DenseHit:
    table_id: int
    score: float  # best vector's (weighted) cosine
    kind: str
    ref: str


class BestRefs(Sequence[list[str]]):
    """Per table of a pool, the ref of each kind's best vector ("" where none), looked up only
    for the tables a query shows (a pool has hundreds; a search shows five)."""

    def __init__(self, n: int, cells: np.ndarray, rows: np.ndarray, refs: list[str]) -> None:
        self._n, self._cells, self._rows, self._refs = n, cells, rows, refs  # cells ascending

    def __len__(self) -> int:
        return self._n

    def __eq__(self, other: object) -> bool:  # as the list of lists it stands for
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    @overload
    def __getitem__(self, i: int) -> list[str]: ...
    @overload
    def __getitem__(self, i: slice) -> list[list[str]]: ...
    def __getitem__(self, i: int | slice) -> list[str] | list[list[str]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        if not -self._n <= i < self._n:
            raise IndexError(i)
        i %= self._n
        n_kinds = len(KINDS)
        out = ["" for _ in KINDS]
        lo, hi = np.searchsorted(self._cells, [i * n_kinds, (i + 1) * n_kinds])
        for cell, row in zip(self._cells[lo:hi].tolist(), self._rows[lo:hi].tolist(), strict=True):
            out[cell % n_kinds] = self._refs[row]
        return out


@dataclass(frozen=True)
class RowFilter:
    """The rows a search may return: ``rows[row]``, and the same as a FAISS selector over the
    rows' ids (searches skip the others inside the index; ``bitmap`` is the memory it reads)."""

    rows: np.ndarray
    bitmap: np.ndarray
    selector: faiss.IDSelector


class DenseIndex:
    """Vectors with per-vector table id, kind, audience and reference."""

    def __init__(
        self,
        dim: int,
        mean_q: np.ndarray | None = None,
        mean_p: np.ndarray | None = None,
        mean_e: np.ndarray | None = None,
    ):
        self.dim = dim
        zero = np.zeros(dim, np.float32)
        self.mean_q = zero if mean_q is None else mean_q.astype(np.float32)
        self.mean_p = zero if mean_p is None else mean_p.astype(np.float32)
        self.mean_e = zero if mean_e is None else mean_e.astype(np.float32)
        self.vectors = np.zeros((0, dim), np.float32)
        self.ids = np.zeros(0, np.int64)
        self.table = np.zeros(0, np.int64)
        self.kind = np.zeros(0, np.int8)
        self.public = np.zeros(0, np.bool_)
        self.alive = np.zeros(0, np.bool_)
        self.refs: list[str] = []
        self.hub: dict[int, float] = {}
        self._rows: dict[int, list[int]] = {}
        self._next_id = 0
        self._room: dict[str, np.ndarray] = {}  # per appended array, its buffer with room
        self._faiss: faiss.Index | None = None
        self._hnsw = False
        self._approximate = False  # SQ8 or HNSW: re-score what the scan returns
        self._mapped = False  # _faiss is a read-only file mapping: copy before editing
        self._building = threading.Lock()  # one build of _faiss at a time (see _index)
        self._loaded = False  # from saved arrays: a graph due is built in the background
        self._graph: threading.Thread | None = None  # that build

    # --- geometry -------------------------------------------------------------------------

    def set_means(self, vectors: np.ndarray, kinds: np.ndarray) -> None:
        """Per form of text, the mean vector (shrunk toward zero for small KBs)."""
        groups = (
            ("mean_q", kinds <= KIND_CODES["question"]),
            ("mean_p", kinds == KIND_CODES["body"]),
            ("mean_e", kinds == KIND_CODES["entry"]),
        )
        for name, mask in groups:
            n = int(mask.sum())
            mean = vectors[mask].mean(0) * (n / (n + CENTER_SHRINK)) if n else np.zeros(self.dim)
            setattr(self, name, mean.astype(np.float32))

    def _mean_of(self, kind: int) -> np.ndarray:
        if kind == KIND_CODES["body"]:
            return self.mean_p
        if kind == KIND_CODES["entry"]:
            return self.mean_e
        return self.mean_q

    def center(self, vectors: np.ndarray, *, kind: int = 0) -> np.ndarray:
        """Vectors of one kind less that kind's mean, L2-normalized (queries: ``kind`` 0)."""
        out = vectors - self._mean_of(kind)
        # np.linalg.norm(out, axis=1) for real input: the same sum of squares, but it squares
        # a conjugated copy (at 88,000 vectors, one 135 MB temporary more).
        norms = np.sqrt(np.add.reduce(out * out, axis=1, keepdims=True))
        out /= np.maximum(norms, 1e-12)
        return np.asarray(out, dtype=np.float32)

    # --- editing --------------------------------------------------------------------------

    def add_tables(self, items: Sequence[TableVectors]) -> None:
        """Add tables' raw (uncentered) vectors, replacing what they had; one copy for all."""
        for item in items:
            self.remove_table(item.table_id)
        items = [i for i in items if len(i.vectors)]
        if not items:
            return
        vectors = np.vstack([i.vectors for i in items]).astype(np.float32, copy=False)
        codes = np.asarray([KIND_CODES[k] for i in items for k in i.kinds], np.int8)
        centered = np.empty_like(vectors)
        for mean_kind in (KIND_CODES["title"], KIND_CODES["body"], KIND_CODES["entry"]):
            mask = codes == mean_kind
            if mean_kind == KIND_CODES["title"]:
                mask |= codes == KIND_CODES["question"]
            if mask.any():
                centered[mask] = self.center(vectors[mask], kind=mean_kind)
        n = len(vectors)
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        owners = np.concatenate([np.full(len(i.vectors), i.table_id, np.int64) for i in items])
        with self._building:  # the rows and the FAISS index as one (see _start_graph)
            start = len(self.ids)
            # A first add keeps its array: at 88,000 vectors every copy is 135 MB of fresh memory.
            if len(self.vectors):
                self._append("vectors", centered)
            else:
                self.vectors = centered
            self._append("ids", ids)
            self._append("table", owners)
            self._append("kind", codes)
            self._append("public", np.asarray([p for i in items for p in i.public], np.bool_))
            self._append("alive", np.ones(n, np.bool_))
            for item in items:
                self.refs.extend(item.refs)
                self._rows[item.table_id] = list(range(start, start + len(item.vectors)))
                start += len(item.vectors)
            if self._faiss is not None:
                self._own_faiss().add_with_ids(centered, ids)

    def _append(self, name: str, rows: np.ndarray) -> None:
        """``self.<name>`` with ``rows`` after its own: written into the room its buffer has
        left, or copied once into a buffer :data:`GROWTH` times larger. A view taken before
        (a search under way) keeps its rows: they are never written again."""
        current: np.ndarray = getattr(self, name)
        n, m = len(current), len(rows)
        room = self._room.get(name)
        if room is None or current.base is not room or len(room) < n + m:
            room = np.empty((max(n + m, int(n * GROWTH)), *current.shape[1:]), current.dtype)
            room[:n] = current
            self._room[name] = room
        room[n : n + m] = rows
        setattr(self, name, room[: n + m])

    def remove_table(self, table_id: int) -> None:
        rows = self._rows.pop(table_id, None)
        self.hub.pop(table_id, None)
        if not rows:
            return
        with self._building:
            self.alive[rows] = False
            if self._faiss is not None and not self._hnsw:
                self._own_faiss().remove_ids(self.ids[rows])  # type: ignore[arg-type]  # faiss takes arrays

    def _own_faiss(self) -> faiss.Index:
        """The FAISS index, copied out of its file mapping first (FAISS aborts the process on
        an edit of mapped codes)."""
        assert self._faiss is not None
        if self._mapped:
            self._faiss = faiss.deserialize_index(faiss.serialize_index(self._faiss))
            self._mapped = False
        return self._faiss

    def table_ids(self) -> set[int]:
        return set(self._rows)

    def compute_hubs(self, table_ids: Sequence[int] | None = None) -> None:
        """Hub score of the given tables (all when None) against every table's title."""
        title_rows = [r[0] for r in self._rows.values() if r and self.kind[r[0]] == 0]
        if len(title_rows) < HUB_MIN_TABLES:
            self.hub = {}
            return
        titles = self.vectors[title_rows]
        # A table has one title vector at most: its column among the titles, to mask.
        column = {int(t): c for c, t in enumerate(self.table[title_rows])}
        targets = (
            list(self._rows) if table_ids is None else [t for t in table_ids if t in self._rows]
        )
        k = min(HUB_NEIGHBOURS, len(title_rows) - 1)
        for start in range(0, len(targets), 1024):
            chunk = targets[start : start + 1024]
            queries = self.vectors[[self._rows[t][0] for t in chunk]]
            sims = queries @ titles.T
            own = [(i, column[t]) for i, t in enumerate(chunk) if t in column]
            sims[[i for i, _ in own], [c for _, c in own]] = -1.0
            top = np.partition(sims, -k, axis=1)[:, -k:]
            for t, value in zip(chunk, top.mean(1), strict=True):
                self.hub[int(t)] = float(value)

    # --- search ---------------------------------------------------------------------------

    def _index(self) -> faiss.Index:
        """The FAISS index, made by the first call that needs it; calls that come meanwhile
        wait for that one rather than make their own.

        An index built in this process gets its kind at once (flat, 8-bit or HNSW: a build
        saves what it will serve). A loaded one whose HNSW graph is due but was not saved (too
        many removed rows, or saved before the KB grew past :data:`HNSW_MIN_VECTORS`) is served
        by the 8-bit scan, made or loaded at once, while a background thread builds the graph
        (minutes at a million vectors), which then takes over."""
        if self._faiss is None:
            with self._building:
                if self._faiss is None:
                    self._faiss, self._hnsw, self._approximate = self._made(graph=not self._loaded)
        if self._loaded and not self._hnsw and self._graph is None and self._graph_due():
            self._start_graph()
        return self._faiss

    def _graph_due(self) -> bool:
        return len(self.ids) >= HNSW_MIN_VECTORS and self.alive.sum() >= HNSW_MIN_VECTORS

    def _made(self, *, graph: bool) -> tuple[faiss.Index, bool, bool]:
        """A new FAISS index over the vectors, flat, 8-bit or (``graph``) HNSW by how many
        there are; whether it is HNSW, and whether it is approximate."""
        live = np.flatnonzero(self.alive)
        if graph and len(live) >= HNSW_MIN_VECTORS:
            return _hnsw_index(self.dim, self.vectors, self.ids), True, True
        # One query at a time: FAISS's OpenMP workers only spin against each other (and
        # against the encoder) on a two-core box; one thread searches 50k vectors in ~4 ms,
        # two took ~9 ms under load (measured).
        faiss.omp_set_num_threads(1)
        approximate = len(live) >= SQ8_MIN_VECTORS
        base: faiss.Index
        if approximate:
            base = faiss.IndexScalarQuantizer(
                self.dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
            base.train(self.vectors[live])
        else:
            base = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIDMap2(base)
        if len(live):
            index.add_with_ids(self.vectors[live], self.ids[live])
        return index, False, approximate

    def _start_graph(self) -> None:
        """Build the HNSW graph over the rows there are now, in a background thread; the rows
        added meanwhile go into it before it replaces the 8-bit scan."""
        with self._building:
            if self._graph is not None or self._hnsw:
                return
            n = len(self.ids)
            vectors, ids = self.vectors[:n], self.ids[:n]  # appended rows never move these

            def build() -> None:
                graph = _hnsw_index(self.dim, vectors, ids)
                with self._building:
                    more = len(self.ids)
                    if more > n:
                        graph.add_with_ids(self.vectors[n:more], self.ids[n:more])
                    self._faiss, self._hnsw, self._approximate = graph, True, True
                    self._mapped = False

            self._graph = threading.Thread(target=build, name="zhiku-hnsw-graph", daemon=True)
            self._graph.start()

    def graph_built(self, timeout: float | None = None) -> bool:
        """Wait for a background HNSW build (if one was started); whether none is under way."""
        if self._graph is not None:
            self._graph.join(timeout)
            return not self._graph.is_alive()
        return True

    def row_filter(
        self, tables: Callable[[np.ndarray], np.ndarray], *, public_only: bool
    ) -> RowFilter:
        """The live rows (public ones only, ``public_only``) of the tables ``tables`` admits
        (given an array of table ids, it says which)."""
        n = len(self.ids)
        rows = self.alive[:n] & tables(self.table[:n])
        if public_only:
            rows &= self.public[:n]
        by_id = np.zeros(int(self.ids[n - 1]) + 1 if n else 0, np.bool_)
        by_id[self.ids[:n]] = rows
        bitmap = np.packbits(by_id, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(by_id), faiss.swig_ptr(bitmap))
        return RowFilter(rows, bitmap, selector)

    def search(
        self,
        query: np.ndarray,
        k_vectors: int,
        *,
        public_only: bool,
        weights: Sequence[float],
        only: RowFilter | None = None,
    ) -> dict[int, DenseHit]:
        """Best-vector hits among the top ``k_vectors`` vectors (filtered by audience; ``only``:
        among those rows, skipped inside the index); a vector's cosine is multiplied by its
        kind's weight (``weights[KIND_CODES[kind]]``)."""
        index = self._index()
        if index.ntotal == 0:
            return {}
        # What kind of index this is, from the index itself (a background graph may replace
        # the scan between reading one attribute and the next).
        hnsw, approximate = _kind(index)
        fetch = min(index.ntotal, k_vectors * (3 if public_only or hnsw else 1))
        query = query.reshape(-1).astype(np.float32)
        params = _search_params(hnsw, fetch, None if only is None else only.selector)
        # OpenMP's thread count is the calling thread's own: set where the index was made, it
        # left every request's thread at one per core, whose idle workers spun against the
        # encoder (twice the CPU of a search, measured). One thread, as _index() says.
        faiss.omp_set_num_threads(1)
        scores, ids = index.search(query.reshape(1, -1), fetch, params=params)
        rows = np.searchsorted(self.ids, ids[0][ids[0] >= 0])
        exact = self.vectors[rows] @ query if approximate else scores[0][: len(rows)]
        keep = self.alive[rows] & (self.public[rows] if public_only else True)
        if only is not None:  # rows added since the filter was made are not in it
            inside = rows < len(only.rows)
            keep &= inside
            keep[inside] &= only.rows[rows[inside]]
        rows = rows[keep]
        weighted = exact[keep] * np.asarray(weights, np.float64)[self.kind[rows]]
        tables = self.table[rows]
        # Each table's best row: by table, then best weighted score, then fetch order (the
        # first of equal scores wins, as a row-by-row scan keeps it).
        order = np.lexsort((np.arange(len(rows)), -weighted, tables))
        first = order[np.r_[True, tables[order][1:] != tables[order][:-1]]] if len(order) else order
        return {
            int(t): DenseHit(int(t), float(w), KIND_NAMES[int(k)], self.refs[int(r)])
            for t, w, k, r in zip(
                tables[first].tolist(),
                weighted[first].tolist(),
                self.kind[rows[first]].tolist(),
                rows[first].tolist(),
                strict=True,
            )
        }

    def kind_scores(
        self, query: np.ndarray, table_ids: Sequence[int], *, public_only: bool
    ) -> tuple[np.ndarray, BestRefs]:
        """Per table (rows, in order) and vector kind (columns, :data:`KINDS`): the best cosine
        of that kind, NaN where the table has none; and per table the ref of each best."""
        n_kinds = len(KINDS)
        out = np.full(len(table_ids) * n_kinds, np.nan, np.float32)
        none = np.zeros(0, np.int64)
        lists = [self._rows.get(t, ()) for t in table_ids]
        rows = np.fromiter(chain.from_iterable(lists), np.int64)
        position = np.repeat(np.arange(len(table_ids)), [len(rs) for rs in lists])
        if public_only and len(rows):
            keep = self.public[rows]
            rows, position = rows[keep], position[keep]
        if not len(rows):
            return out.reshape(len(table_ids), n_kinds), BestRefs(len(table_ids), none, none, [])
        sims = self.vectors[rows] @ query.reshape(-1).astype(np.float32)
        cell = position * n_kinds + self.kind[rows]
        # The best row of each (table, kind) cell: order by cell, then by cosine; last wins.
        order = np.lexsort((sims, cell))
        cell_sorted = cell[order]
        last = np.flatnonzero(np.r_[cell_sorted[1:] != cell_sorted[:-1], True])
        best_rows = order[last]
        out[cell[best_rows]] = sims[best_rows]
        refs = BestRefs(len(table_ids), cell[best_rows], rows[best_rows], self.refs)
        return out.reshape(len(table_ids), n_kinds), refs

    def rows_of(self, table_id: int) -> list[int]:
        return list(self._rows.get(table_id, ()))

    # --- persistence ----------------------------------------------------------------------

    def _saved_rows(self) -> np.ndarray:
        """The rows a save keeps: those the FAISS index holds where it is an HNSW graph with
        few enough removed rows in it (it is saved with them), else the live ones."""
        index = self._index()
        if self._hnsw and index.ntotal == len(self.ids):
            if (~self.alive).sum() <= HNSW_DEAD_SHARE * len(self.ids):
                return np.arange(len(self.ids))
        return np.flatnonzero(self.alive)

    def to_arrays(self) -> tuple[list[str], dict[str, np.ndarray]]:
        rows = self._saved_rows()
        hub_ids = np.asarray(sorted(self.hub), np.int64)
        return [self.refs[i] for i in rows], {
            "dense_vectors": self.vectors[rows],
            "dense_ids": self.ids[rows],
            "dense_table": self.table[rows],
            "dense_kind": self.kind[rows],
            "dense_public": self.public[rows],
            "dense_alive": self.alive[rows],
            "dense_mean_q": self.mean_q,
            "dense_mean_p": self.mean_p,
            "dense_mean_e": self.mean_e,
            "hub_table": hub_ids,
            "hub_score": np.asarray([self.hub[int(t)] for t in hub_ids], np.float64),
        }

    @property
    def searchable(self) -> bool:
        """Whether a search finds the FAISS index made (a load without a usable file leaves it
        to the first search: the 8-bit scan, seconds at a million vectors, then the graph in
        the background, minutes)."""
        return self._faiss is not None or not len(self.ids)

    def save_faiss(self, path: Path) -> bool:
        """Write the FAISS index to ``path`` when it holds exactly the rows :meth:`to_arrays`
        saves (an HNSW graph with too many removed rows does not: the loader builds a fresh one)."""
        index = self._index()
        if index.ntotal != len(self._saved_rows()):
            return False
        faiss.write_index(index, str(path))
        return True

    def load_faiss(self, path: Path, *, mmap: bool) -> bool:
        """Use the FAISS index saved at ``path`` (mapped read-only with ``mmap``) if it holds
        exactly these vectors; otherwise the first search builds one."""
        if not path.exists():
            return False
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index = faiss.read_index(str(path), flags)
        if index.ntotal != len(self.ids) or index.d != self.dim:
            return False
        faiss.omp_set_num_threads(1)  # as _index()
        self._hnsw, self._approximate = _kind(index)
        self._faiss, self._mapped = index, mmap
        return True

    @classmethod
    def from_arrays(cls, refs: list[str], arrays: dict[str, np.ndarray]) -> DenseIndex:
        vectors = arrays["dense_vectors"]
        index = cls(
            vectors.shape[1],
            arrays["dense_mean_q"],
            arrays["dense_mean_p"],
            arrays["dense_mean_e"],
        )
        # No copies: arrays loaded with mmap stay file mappings, shared between processes.
        index.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index.ids = np.asarray(arrays["dense_ids"], np.int64)
        index.table = np.asarray(arrays["dense_table"], np.int64)
        index.kind = np.asarray(arrays["dense_kind"], np.int8)
        index.public = np.asarray(arrays["dense_public"], np.bool_)
        alive = arrays.get("dense_alive")  # (a directory saved before it had one: all alive)
        index.alive = np.ones(len(index.ids), np.bool_) if alive is None else np.array(alive)
        index.refs = list(refs)
        index._loaded = True
        index._next_id = int(index.ids.max()) + 1 if len(index.ids) else 0
        tables = index.table.tolist()
        for row in np.flatnonzero(index.alive).tolist():
            index._rows.setdefault(tables[row], []).append(row)
        index.hub = {
            int(t): float(s) for t, s in zip(arrays["hub_table"], arrays["hub_score"], strict=True)
        }
        return index


def _hnsw_index(dim: int, vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
    """An HNSW graph over every row given (removed ones too: it cannot delete, and holds them as
    it does after removals; see :meth:`DenseIndex._saved_rows`).

    The graph keeps 8-bit codes of the vectors, not float copies: it only finds candidates,
    which are re-scored from the vectors. At 1,327,496 vectors (the 100,000-table benchmark KB)
    its file is 840 MB against 2,299 MB with float copies, with the same top-1 on 300 of 300
    questions (top 5: 297) and the same search time; building it took ~20% longer."""
    faiss.omp_set_num_threads(1)  # as the other indexes (see DenseIndex._made)
    kind = faiss.ScalarQuantizer.QT_8bit
    graph = faiss.IndexHNSWSQ(dim, kind, 32, faiss.METRIC_INNER_PRODUCT)  # type: ignore[arg-type]
    index = faiss.IndexIDMap2(graph)
    if len(ids):
        graph.train(vectors)
        index.add_with_ids(vectors, ids)
    return index


def _search_params(
    hnsw: bool, fetch: int, selector: faiss.IDSelector | None
) -> faiss.SearchParameters | None:
    """A graph is searched :data:`HNSW_EF_FACTOR` times deeper than it fetches; a selector
    makes any index skip the rows it does not select."""
    params: faiss.SearchParameters
    if hnsw:
        params = faiss.SearchParametersHNSW(efSearch=HNSW_EF_FACTOR * fetch)  # type: ignore[attr-defined]
    elif selector is None:
        return None
    else:
        params = faiss.SearchParameters()
    params.sel = selector
    return params


def _kind(index: faiss.Index) -> tuple[bool, bool]:
    """Whether ``index`` (an IndexIDMap2 over the base index, as made and saved here) is an
    HNSW graph, and whether its scores are approximate (to be re-scored from the vectors)."""
    base = faiss.downcast_index(faiss.downcast_index(index).index)  # type: ignore[attr-defined]
    return isinstance(base, faiss.IndexHNSW), not isinstance(base, faiss.IndexFlat)
