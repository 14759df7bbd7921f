"""Our BM25: rank_bm25's ``BM25Okapi`` scoring with weighted fields and incremental updates.

A document is a set of fields, each a token list with a weight. Term frequency and document
length are the weighted sums over fields (BM25F-style), so with every weight 1 a document
scores exactly as ``BM25Okapi`` scores the concatenation of its fields (tested). IDF follows
BM25Okapi too: ``log(N - n + 0.5) - log(n + 0.5)``, negative values floored at
``epsilon × mean idf``.

Storage: a bulk-built or loaded *base* held as numpy arrays (term-major postings for scoring,
slot-major for removals), plus a small dict-based *delta* for documents added since. Removing
a document marks its slot dead and takes it out of the document frequencies, so a publish or
an archive touches only that table and never rebuilds the rest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

Field = tuple[Sequence[str], float]  # (tokens, weight)


@dataclass(frozen=True)
class BM25Params:
    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25


def _weighted_tf(fields: Iterable[Field], vocab: dict[str, int]) -> tuple[dict[int, float], float]:
    tf: dict[int, float] = {}
    length = 0.0
    for tokens, weight in fields:
        if weight <= 0:
            continue
        for token in tokens:
            tid = vocab.get(token)
            if tid is None:
                tid = vocab[token] = len(vocab)
            tf[tid] = tf.get(tid, 0.0) + weight
        length += weight * len(tokens)
    return tf, length


class BM25Index:
    """Inverted index over weighted-field documents in integer slots."""

    def __init__(self, params: BM25Params | None = None) -> None:
        self.params = params or BM25Params()
        self.vocab: dict[str, int] = {}
        self._df = np.zeros(0, np.int64)
        self._doc_len: list[float] = []
        self._alive: list[bool] = []
        # base: term-major (indptr over term ids) and slot-major (for removal)
        self._b_indptr = np.zeros(1, np.int64)
        self._b_slots = np.zeros(0, np.int64)
        self._b_tf = np.zeros(0, np.float64)
        self._r_indptr = np.zeros(1, np.int64)
        self._r_terms = np.zeros(0, np.int64)
        self._base_slots = 0
        # delta: documents added after the base was made
        self._d_post: dict[int, dict[int, float]] = {}
        self._d_terms: dict[int, list[int]] = {}
        self._d_arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cache: tuple[np.ndarray, float, np.ndarray, np.ndarray] | None = None

    # --- building -------------------------------------------------------------------------

    @classmethod
    def build(cls, docs: Iterable[Iterable[Field]], params: BM25Params | None = None) -> BM25Index:
        """An index of ``docs`` in slots 0..n-1, made in bulk (much faster than :meth:`add`)."""
        index = cls(params)
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for slot, fields in enumerate(docs):
            tf, length = _weighted_tf(fields, index.vocab)
            rows.extend([slot] * len(tf))
            cols.extend(tf.keys())
            vals.extend(tf.values())
            index._doc_len.append(length)
            index._alive.append(True)
        index._set_base(
            np.asarray(rows, np.int64), np.asarray(cols, np.int64), np.asarray(vals, np.float64)
        )
        return index

    def _set_base(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        n_terms = len(self.vocab)
        order = np.lexsort((rows, cols))
        self._b_slots, self._b_tf = rows[order], vals[order]
        counts = np.bincount(cols, minlength=n_terms)
        self._b_indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        by_slot = np.lexsort((cols, rows))
        self._r_terms = cols[by_slot]
        self._base_slots = len(self._doc_len)
        self._r_indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(rows, minlength=self._base_slots))]
        ).astype(np.int64)
        self._df = counts.astype(np.int64)
        self._d_post, self._d_terms, self._d_arrays = {}, {}, {}
        self._cache = None

    def add(self, fields: Iterable[Field]) -> int:
        """Index one more document; returns its slot."""
        tf, length = _weighted_tf(fields, self.vocab)
        if len(self.vocab) > len(self._df):
            self._df = np.concatenate(
                [self._df, np.zeros(len(self.vocab) - len(self._df), np.int64)]
            )
        slot = len(self._doc_len)
        self._doc_len.append(length)
        self._alive.append(True)
        self._d_terms[slot] = list(tf)
        for tid, freq in tf.items():
            self._d_post.setdefault(tid, {})[slot] = freq
            self._df[tid] += 1
            self._d_arrays.pop(tid, None)
        self._cache = None
        return slot

    def remove(self, slot: int) -> None:
        """Forget the document in ``slot`` (the slot stays, empty)."""
        if not self._alive[slot]:
            return
        if slot < self._base_slots:
            terms = self._r_terms[self._r_indptr[slot] : self._r_indptr[slot + 1]]
            np.subtract.at(self._df, terms, 1)
        else:
            for tid in self._d_terms.pop(slot, []):
                self._d_post[tid].pop(slot, None)
                self._df[tid] -= 1
                self._d_arrays.pop(tid, None)
        self._alive[slot] = False
        self._doc_len[slot] = 0.0
        self._cache = None

    # --- statistics -----------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Number of live documents (BM25's N)."""
        return sum(self._alive)

    @property
    def slots(self) -> int:
        return len(self._doc_len)

    @property
    def alive(self) -> list[bool]:
        return self._alive

    def _stats(self) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
        """idf per term, average length, lengths and liveness as arrays."""
        if self._cache is None:
            n = self.size
            df = self._df.astype(np.float64)
            present = df > 0
            idf = np.zeros_like(df)
            idf[present] = np.log(n - df[present] + 0.5) - np.log(df[present] + 0.5)
            # rank_bm25 averages over every term of the live corpus, negative ones included.
            mean = float(idf[present].mean()) if present.any() else 0.0
            idf[present & (idf < 0)] = self.params.epsilon * mean
            lengths = np.asarray(self._doc_len, np.float64)
            avgdl = float(lengths.sum()) / n if n else 1.0
            self._cache = (idf, avgdl, lengths, np.asarray(self._alive, np.float64))
        return self._cache

    def idf(self, token: str) -> float:
        tid = self.vocab.get(token)
        return 0.0 if tid is None else float(self._stats()[0][tid])

    def _delta(self, tid: int) -> tuple[np.ndarray, np.ndarray] | None:
        posting = self._d_post.get(tid)
        if not posting:
            return None
        found = self._d_arrays.get(tid)
        if found is None:
            found = (
                np.fromiter(posting.keys(), np.int64, len(posting)),
                np.fromiter(posting.values(), np.float64, len(posting)),
            )
            self._d_arrays[tid] = found
        return found

    # --- scoring --------------------------------------------------------------------------

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """Score of every slot for ``query`` (repeated query tokens count again, as in rank_bm25)."""
        out = np.zeros(self.slots, np.float64)
        if not self.slots:
            return out
        idf, avgdl, lengths, alive = self._stats()
        k1, b = self.params.k1, self.params.b
        n_base_terms = len(self._b_indptr) - 1
        for token, count in Counter(query).items():
            tid = self.vocab.get(token)
            if tid is None or not self._df[tid]:
                continue
            parts = []
            if tid < n_base_terms:
                lo, hi = self._b_indptr[tid], self._b_indptr[tid + 1]
                if hi > lo:
                    parts.append(
                        (self._b_slots[lo:hi], self._b_tf[lo:hi] * alive[self._b_slots[lo:hi]])
                    )
            delta = self._delta(tid)
            if delta is not None:
                parts.append(delta)
            for slots, tf in parts:
                norm = k1 * (1 - b + b * lengths[slots] / avgdl)
                out[slots] += count * idf[tid] * tf * (k1 + 1) / (tf + norm)
        return out

    def max_score(self, query: Sequence[str]) -> float:
        """Sum of the query tokens' idf: what a one-occurrence, average-length match scores.

        Dividing by it turns a score into a coverage comparable across queries.
        """
        idf = self._stats()[0]
        return float(
            sum(
                max(float(idf[t]), 0.0) for t in (self.vocab.get(x) for x in query) if t is not None
            )
        )

    # --- persistence ----------------------------------------------------------------------

    def _triples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(slot, term, tf) of every live posting, base and delta."""
        n_base_terms = len(self._b_indptr) - 1
        cols = np.repeat(np.arange(n_base_terms, dtype=np.int64), np.diff(self._b_indptr))
        alive = np.asarray(self._alive, np.bool_)
        keep = alive[self._b_slots] if len(self._b_slots) else np.zeros(0, np.bool_)
        rows, cols, vals = self._b_slots[keep], cols[keep], self._b_tf[keep]
        d_rows = [s for tid, p in self._d_post.items() for s in p]
        d_cols = [tid for tid, p in self._d_post.items() for _ in p]
        d_vals = [v for p in self._d_post.values() for v in p.values()]
        return (
            np.concatenate([rows, np.asarray(d_rows, np.int64)]),
            np.concatenate([cols, np.asarray(d_cols, np.int64)]),
            np.concatenate([vals, np.asarray(d_vals, np.float64)]),
        )

    def to_arrays(self) -> tuple[list[str], dict[str, np.ndarray]]:
        """Vocabulary and term-major (CSC) arrays, for saving as .npy files."""
        rows, cols, vals = self._triples()
        order = np.lexsort((rows, cols))
        counts = np.bincount(cols, minlength=len(self.vocab))
        return list(self.vocab), {
            "bm25_indptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            "bm25_slots": rows[order],
            "bm25_tf": vals[order],
            "bm25_doc_len": np.asarray(self._doc_len, np.float64),
            "bm25_alive": np.asarray(self._alive, np.bool_),
        }

    @classmethod
    def from_arrays(
        cls, terms: list[str], arrays: dict[str, np.ndarray], params: BM25Params
    ) -> BM25Index:
        index = cls(params)
        index.vocab = {t: i for i, t in enumerate(terms)}
        index._doc_len = arrays["bm25_doc_len"].tolist()
        index._alive = arrays["bm25_alive"].tolist()
        indptr = arrays["bm25_indptr"]
        cols = np.repeat(np.arange(len(terms), dtype=np.int64), np.diff(indptr))
        index._set_base(arrays["bm25_slots"].astype(np.int64), cols, arrays["bm25_tf"])
        return index
