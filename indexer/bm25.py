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

import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

Field = tuple[Sequence[str], float]  # (tokens, weight)

# A term's postings scored once are kept as their impacts (the tf part of BM25, by the current
# lengths) while the index is unchanged, up to this many postings per index (8 bytes each): the
# terms that recur in questions are the common ones, whose lists are the longest. At 100,000
# tables 4 million held 80% (head) and 71% (body) of the postings 600 benchmark questions
# touched; a list shorter than IMPACT_MIN_POSTINGS costs less to score than to keep.
IMPACT_CACHE_POSTINGS = 4_000_000
IMPACT_MIN_POSTINGS = 512


@dataclass(frozen=True)
class BM25Params:
    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25


@dataclass(frozen=True, eq=False)
class Bag:
    """One field's tokens as distinct terms (in first-occurrence order) with their counts.

    A text that recurs (the same answer under many tables) is counted once and its bag reused.
    """

    terms: tuple[str, ...]
    counts: tuple[int, ...]
    length: int  # tokens in all

    @classmethod
    def of(cls, tokens: Sequence[str]) -> Bag:
        counted = Counter(tokens)
        return cls(tuple(counted), tuple(counted.values()), len(tokens))


BagField = tuple[Bag, float]  # (bag, weight)


def bag_score(
    query: Sequence[str],
    fields: Iterable[BagField],
    idf: Mapping[str, float],
    avgdl: float,
    params: BM25Params,
) -> float:
    """BM25 of one document of weighted ``fields`` for ``query``, given the collection's
    ``idf`` of the query's terms (a term missing from it scores nothing) and average length.

    Only the query's terms are counted in the bags; repeated query tokens count again, as in
    rank_bm25 and :meth:`BM25Index.scores`.
    """
    wanted = Counter(query)
    tf = dict.fromkeys(wanted, 0.0)
    length = 0.0
    for bag, weight in fields:
        if weight <= 0:
            continue
        length += weight * bag.length
        for term, count in zip(bag.terms, bag.counts, strict=True):
            if term in tf:
                tf[term] += weight * count
    k1, b = params.k1, params.b
    norm = k1 * (1 - b + b * length / avgdl) if avgdl > 0 else k1
    total = 0.0
    for token, count in wanted.items():
        freq = tf[token]
        if freq and token in idf:
            total += count * idf[token] * freq * (k1 + 1) / (freq + norm)
    return total


def _exact(weight: float) -> bool:
    """Whether sums of ``weight`` are exact in float64 at any realistic token count.

    A multiple of 2**-10 up to 1024: a document's term frequencies are then multiples of 2**-10
    far below 2**43, so adding the weight once per occurrence (as rank_bm25 counts) and adding
    ``weight × count`` give the same bits, in any order.
    """
    return 0 < weight <= 1024 and (weight * 1024).is_integer()


def _resolve(terms: tuple[str, ...], vocab: dict[str, int]) -> list[int]:
    """Term ids, new terms numbered in order of appearance."""
    out = []
    for term in terms:
        tid = vocab.get(term)
        if tid is None:
            tid = vocab[term] = len(vocab)
        out.append(tid)
    return out


def _tf(fields: Sequence[tuple[Sequence[int], Sequence[int], float]]) -> dict[int, float]:
    """Weighted term frequencies of one document from its fields' (term ids, counts, weight)."""
    exact = all(_exact(weight) for _, _, weight in fields)
    tf: dict[int, float] = {}
    for tids, counts, weight in fields:
        if exact:
            for tid, count in zip(tids, counts, strict=True):
                tf[tid] = tf.get(tid, 0.0) + weight * count
        else:
            # Inexact weights: add once per occurrence, in order, as a token list would.
            for tid, count in zip(tids, counts, strict=True):
                value = tf.get(tid, 0.0)
                for _ in range(count):
                    value += weight
                tf[tid] = value
    return tf


def _weighted_tf(
    fields: Iterable[BagField], vocab: dict[str, int]
) -> tuple[dict[int, float], float]:
    """Weighted term frequencies and length of one document (terms get ids in ``vocab``)."""
    kept = [(bag, weight) for bag, weight in fields if weight > 0]
    tf = _tf([(_resolve(bag.terms, vocab), bag.counts, weight) for bag, weight in kept])
    length = 0.0
    for bag, weight in kept:
        length += weight * bag.length
    return tf, length


def _row_terms(rows: np.ndarray, cols: np.ndarray, n_terms: int) -> np.ndarray:
    """The terms of unique (slot, term) pairs in slot-major order."""
    return np.sort(rows * max(n_terms, 1) + cols) % max(n_terms, 1)


def _stable_argsort(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` for non-negative int64 keys, several times faster.

    Each key carries its position in its low digits, so a plain sort (vectorized, no index
    array to move) orders equal keys by position; ``argsort`` is the fallback when that
    product would overflow.
    """
    n = len(keys)
    if n == 0 or int(keys.max()) >= (2**62) // n:
        return np.argsort(keys, kind="stable")
    return np.sort(keys * n + np.arange(n, dtype=np.int64)) % n


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
        self._cache: tuple[np.ndarray, np.ndarray] | None = None
        self._impacts: OrderedDict[int, np.ndarray] = OrderedDict()  # term id → base impacts
        self._impacts_held = 0  # postings in _impacts
        self._impacts_lock = threading.Lock()  # searches run at once

    # --- building -------------------------------------------------------------------------

    @classmethod
    def build(cls, docs: Iterable[Iterable[Field]], params: BM25Params | None = None) -> BM25Index:
        """An index of ``docs`` in slots 0..n-1, made in bulk (much faster than :meth:`add`)."""
        return cls.build_bags(([(Bag.of(t), w) for t, w in fields] for fields in docs), params)

    @classmethod
    def build_bags(
        cls, docs: Iterable[Iterable[BagField]], params: BM25Params | None = None
    ) -> BM25Index:
        """:meth:`build` over bags: a bag object seen again costs no term lookups."""
        index = cls(params)
        number: dict[int, int] = {}  # id(bag) → its place in ``bags``
        bags: list[Bag] = []  # held, so that an id stays unique
        bag_tids: list[list[int]] = []
        field_bag: list[int] = []  # fields of documents with exact weights …
        field_weight: list[float] = []
        fields_of: list[int] = []  # … and how many each document has
        summed: list[tuple[int, dict[int, float]]] = []  # (slot, tf) of the other documents
        exact_weight: dict[float, bool] = {}
        for slot, fields in enumerate(docs):
            refs = []
            weights = []
            length = 0.0
            exact = True
            for bag, weight in fields:
                if weight <= 0:
                    continue
                found = number.get(id(bag))
                if found is None:
                    found = number[id(bag)] = len(bags)
                    bags.append(bag)
                    bag_tids.append(_resolve(bag.terms, index.vocab))
                refs.append(found)
                weights.append(weight)
                length += weight * bag.length
                ok = exact_weight.get(weight)
                if ok is None:
                    ok = exact_weight[weight] = _exact(weight)
                exact = exact and ok
            if exact:
                field_bag += refs
                field_weight += weights
                fields_of.append(len(refs))
            else:
                fields_of.append(0)
                parts = [
                    (bag_tids[n], bags[n].counts, w) for n, w in zip(refs, weights, strict=True)
                ]
                summed.append((slot, _tf(parts)))
            index._doc_len.append(length)
            index._alive.append(True)
        n_slots = len(index._doc_len)
        # Every field's (slot, term id, count × weight), gathered from the distinct bags.
        sizes = np.asarray([len(t) for t in bag_tids], np.int64)
        flat_tids = np.fromiter(chain.from_iterable(bag_tids), np.int64, int(sizes.sum()))
        flat_counts = np.fromiter(
            chain.from_iterable(b.counts for b in bags), np.float64, int(sizes.sum())
        )
        which = np.asarray(field_bag, np.int64)
        n = sizes[which]
        at = np.arange(int(n.sum()), dtype=np.int64) + np.repeat(
            (np.cumsum(sizes) - sizes)[which] - (np.cumsum(n) - n), n
        )
        field_slot = np.repeat(np.arange(n_slots, dtype=np.int64), fields_of)
        rows = [np.repeat(field_slot, n)]
        cols = [flat_tids[at]]
        vals = [flat_counts[at] * np.repeat(np.asarray(field_weight, np.float64), n)]
        for slot, tf in summed:
            rows.append(np.full(len(tf), slot, np.int64))
            cols.append(np.fromiter(tf.keys(), np.int64, len(tf)))
            vals.append(np.fromiter(tf.values(), np.float64, len(tf)))
        # One entry per (slot, term): a term's fields add up. Exact weights make the order of
        # the sum immaterial; a document with other weights arrives summed already.
        key = np.concatenate(cols) * n_slots + np.concatenate(rows)
        order = _stable_argsort(key)
        key = key[order]
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else key[:0]
        summed_vals = np.concatenate(vals)[order]
        tf_vals = np.add.reduceat(summed_vals, first) if len(first) else summed_vals
        key = key[first]
        index._set_base(key % max(n_slots, 1), key // max(n_slots, 1), tf_vals, by_term=True)
        return index

    def _set_base(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        vals: np.ndarray,
        *,
        by_term: bool = False,
        row_terms: np.ndarray | None = None,
    ) -> None:
        """Make (slot, term, tf) triples the base; ``by_term``: already in term-major order;
        ``row_terms``: their terms in slot-major order, when known (a saved index has them)."""
        n_terms = len(self.vocab)
        self._base_slots = len(self._doc_len)
        if not by_term:
            order = _stable_argsort(cols * max(self._base_slots, 1) + rows)
            rows, cols, vals = rows[order], cols[order], vals[order]
        self._b_slots, self._b_tf = rows, vals
        counts = np.bincount(cols, minlength=n_terms)
        self._b_indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        # (slot, term) pairs are unique: sorting their keys is their slot-major order.
        self._r_terms = _row_terms(rows, cols, n_terms) if row_terms is None else row_terms
        self._r_indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(rows, minlength=self._base_slots))]
        ).astype(np.int64)
        self._df = counts.astype(np.int64)
        self._d_post, self._d_terms, self._d_arrays = {}, {}, {}
        self._cache = None

    def add(self, fields: Iterable[Field]) -> int:
        """Index one more document; returns its slot."""
        return self.add_bags([(Bag.of(tokens), weight) for tokens, weight in fields])

    def add_bags(self, fields: Iterable[BagField]) -> int:
        """:meth:`add` over bags."""
        tf, length = _weighted_tf(fields, self.vocab)
        if len(self.vocab) > len(self._df):
            self._df = np.concatenate(
                [self._df, np.zeros(len(self.vocab) - len(self._df), np.int64)]
            )
        slot = len(self._doc_len)
        self._doc_len.append(length)
        self._alive.append(True)
        self._d_terms[slot] = terms = list(tf)
        for tid, freq in tf.items():
            self._d_post.setdefault(tid, {})[slot] = freq
        # A document's term ids are distinct: one fancy-index increment counts each once.
        self._df[np.asarray(terms, np.int64)] += 1
        self._forget_arrays(terms)
        self._cache = None
        return slot

    def _forget_arrays(self, terms: list[int]) -> None:
        if self._d_arrays:
            for tid in terms:
                self._d_arrays.pop(tid, None)

    def remove(self, slot: int) -> None:
        """Forget the document in ``slot`` (the slot stays, empty)."""
        if not self._alive[slot]:
            return
        if slot < self._base_slots:
            terms = self._r_terms[self._r_indptr[slot] : self._r_indptr[slot + 1]]
            np.subtract.at(self._df, terms, 1)
        else:
            added = self._d_terms.pop(slot, [])
            for tid in added:
                self._d_post[tid].pop(slot, None)
            self._df[np.asarray(added, np.int64)] -= 1
            self._forget_arrays(added)
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

    def _stats(self) -> tuple[np.ndarray, np.ndarray]:
        """idf per term and each slot's length normalization (infinite once removed)."""
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
            # An index of empty documents (question-only knowledge has no body text) has no
            # average length to normalize by.
            avgdl = float(lengths.sum()) / n if n and lengths.sum() > 0 else 1.0
            k1, b = self.params.k1, self.params.b
            # Once per slot rather than once per posting of every query token (same values).
            norm = k1 * (1 - b + b * lengths / avgdl)
            # A removed slot's normalization is infinite: its postings score tf / (tf + inf) = 0
            # without a liveness gather per posting of every query token.
            norm[~np.asarray(self._alive, np.bool_)] = np.inf
            with self._impacts_lock:  # made with the lengths of before
                self._impacts, self._impacts_held = OrderedDict(), 0
            self._cache = (idf, norm)
        return self._cache

    def _impact(self, slots: np.ndarray, tf: np.ndarray, norms: np.ndarray) -> np.ndarray:
        """The tf part of BM25 of these postings: ``tf (k1 + 1) / (tf + norm)``."""
        impact: np.ndarray = tf * (self.params.k1 + 1) / (tf + norms[slots])
        return impact

    def _base_impact(self, tid: int, norms: np.ndarray) -> np.ndarray:
        """:meth:`_impact` of a term's base postings, kept for the next query while the index is
        unchanged (see :data:`IMPACT_CACHE_POSTINGS`)."""
        lo, hi = int(self._b_indptr[tid]), int(self._b_indptr[tid + 1])
        if hi - lo < IMPACT_MIN_POSTINGS:
            return self._impact(self._b_slots[lo:hi], self._b_tf[lo:hi], norms)
        with self._impacts_lock:
            found = self._impacts.get(tid)
            if found is not None:
                self._impacts.move_to_end(tid)
                return found
        found = self._impact(self._b_slots[lo:hi], self._b_tf[lo:hi], norms)
        with self._impacts_lock:
            if tid not in self._impacts and hi - lo <= IMPACT_CACHE_POSTINGS:
                self._impacts[tid] = found
                self._impacts_held += hi - lo
                while self._impacts_held > IMPACT_CACHE_POSTINGS:
                    _, dropped = self._impacts.popitem(last=False)
                    self._impacts_held -= len(dropped)
        return found

    def covered(self, query: Sequence[str], slots: Sequence[int]) -> np.ndarray:
        """Per slot, the share of its documents' idf mass that ``query`` contains: how much of a
        title the question says, however much else it says (coverage the other way round)."""
        idf = np.maximum(self._stats()[0], 0.0)
        out = np.zeros(len(slots))
        wanted = [tid for tid in (self.vocab.get(t) for t in query) if tid is not None]
        if not wanted or not len(slots):
            return out
        want = np.zeros(len(idf), np.bool_)
        want[wanted] = True
        at = np.asarray(slots, np.int64)
        alive = np.asarray([self._alive[s] for s in at.tolist()], np.bool_)
        # The base slots' term lists in one gather (a loop over the pool was a fifth of a
        # query at 10,000 tables), summed per slot.
        base = np.flatnonzero(alive & (at < self._base_slots))
        starts = self._r_indptr[at[base]]
        lengths = self._r_indptr[at[base] + 1] - starts
        if lengths.sum():
            owner = np.repeat(np.arange(len(base)), lengths)
            first = np.cumsum(lengths) - lengths
            terms = self._r_terms[np.repeat(starts - first, lengths) + np.arange(len(owner))]
            weights = idf[terms]
            mass = np.bincount(owner, weights=weights, minlength=len(base))
            hit = np.bincount(owner, weights=weights * want[terms], minlength=len(base))
            some = mass > 0
            out[base[some]] = hit[some] / mass[some]
        for i in np.flatnonzero(alive & (at >= self._base_slots)).tolist():
            added = np.asarray(self._d_terms.get(int(at[i]), []), np.int64)
            total = float(idf[added].sum())
            if total > 0:
                out[i] = float(idf[added[want[added]]].sum()) / total
        return out

    def covered_bags(self, query: Sequence[str], fields: Iterable[BagField]) -> float:
        """:meth:`covered` of an ad-hoc document (terms the index never saw weigh nothing)."""
        idf = np.maximum(self._stats()[0], 0.0)
        terms = {
            tid
            for bag, weight in fields
            if weight > 0
            for tid in (self.vocab.get(t) for t in bag.terms)
            if tid is not None
        }
        wanted = {tid for tid in (self.vocab.get(t) for t in query) if tid is not None}
        mass = float(sum(idf[t] for t in terms))
        return float(sum(idf[t] for t in terms & wanted)) / mass if mass > 0 else 0.0

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
        idf, norms = self._stats()
        n_base_terms = len(self._b_indptr) - 1
        for token, count in Counter(query).items():
            tid = self.vocab.get(token)
            if tid is None or not self._df[tid]:
                continue
            weight = count * idf[tid]
            if tid < n_base_terms and self._b_indptr[tid + 1] > self._b_indptr[tid]:
                slots = self._b_slots[self._b_indptr[tid] : self._b_indptr[tid + 1]]
                out[slots] += weight * self._base_impact(tid, norms)
            delta = self._delta(tid)
            if delta is not None:
                slots, tf = delta
                out[slots] += weight * self._impact(slots, tf, norms)
        return out

    def score_bags(self, query: Sequence[str], fields: Iterable[BagField]) -> float:
        """What a document of ``fields`` would score for ``query`` if it were in the index
        (the index's idf and average length; the document itself does not change them)."""
        idf, _ = self._stats()
        known = {}
        for token in query:
            tid = self.vocab.get(token)
            if tid is not None and self._df[tid]:  # a term no live document has has no idf
                known[token] = float(idf[tid])
        n = self.size
        total = float(sum(self._doc_len))
        avgdl = total / n if n and total > 0 else 1.0
        return bag_score(query, fields, known, avgdl, self.params)

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
        order = _stable_argsort(cols * max(self.slots, 1) + rows)  # pairs are unique
        counts = np.bincount(cols, minlength=len(self.vocab))
        return list(self.vocab), {
            "bm25_indptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            "bm25_slots": rows[order],
            "bm25_tf": vals[order],
            "bm25_doc_len": np.asarray(self._doc_len, np.float64),
            "bm25_alive": np.asarray(self._alive, np.bool_),
            "bm25_row_terms": _row_terms(rows, cols, len(self.vocab)),
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
        # Saved term-major (to_arrays), so no re-sort: the postings stay as loaded, file
        # mappings when loaded with mmap (shared by every worker process).
        index._set_base(
            np.asarray(arrays["bm25_slots"], np.int64),
            cols,
            np.asarray(arrays["bm25_tf"], np.float64),
            by_term=True,
            row_terms=arrays.get("bm25_row_terms"),
        )
        return index
