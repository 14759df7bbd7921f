"""BM25 term statistics without postings: what scoring a given document needs.

A remote engine holds the postings and finds candidates with its own BM25; the features of a
pool are computed here, from the pool's stored bags and these collection-wide statistics, with
:class:`indexer.bm25.BM25Index`'s formulas (BM25Okapi idf with the epsilon floor, weighted
fields), so a table scores as it does in the embedded index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from indexer.bm25 import BagField, BM25Params, bag_score


class TermStats:
    """Document frequencies, document count and total length of one BM25 index."""

    def __init__(self, params: BM25Params | None = None) -> None:
        self.params = params or BM25Params()
        self.df: dict[str, int] = {}
        self.n = 0
        self.total = 0.0
        self._idf: dict[str, float] | None = None

    def _terms(self, fields: Iterable[BagField]) -> tuple[set[str], float]:
        terms: set[str] = set()
        length = 0.0
        for bag, weight in fields:
            if weight > 0:
                terms.update(bag.terms)
                length += weight * bag.length
        return terms, length

    def add(self, fields: Iterable[BagField]) -> None:
        terms, length = self._terms(fields)
        for term in terms:
            self.df[term] = self.df.get(term, 0) + 1
        self.n += 1
        self.total += length
        self._idf = None

    def remove(self, fields: Iterable[BagField]) -> None:
        terms, length = self._terms(fields)
        for term in terms:
            left = self.df.get(term, 0) - 1
            if left > 0:
                self.df[term] = left
            else:
                self.df.pop(term, None)
        self.n = max(self.n - 1, 0)
        self.total = max(self.total - length, 0.0)
        self._idf = None

    def idf(self) -> dict[str, float]:
        if self._idf is None:
            terms = list(self.df)
            df = np.fromiter((self.df[t] for t in terms), np.float64, len(terms))
            idf = np.log(self.n - df + 0.5) - np.log(df + 0.5)
            mean = float(idf.mean()) if len(idf) else 0.0
            idf[idf < 0] = self.params.epsilon * mean
            self._idf = dict(zip(terms, idf.tolist(), strict=True))
        return self._idf

    def score(self, query: Sequence[str], fields: Iterable[BagField]) -> float:
        """BM25 of a document of ``fields`` (:meth:`indexer.bm25.BM25Index.score_bags`)."""
        avgdl = self.total / self.n if self.n and self.total > 0 else 1.0
        return bag_score(query, fields, self.idf(), avgdl, self.params)

    def max_score(self, query: Sequence[str]) -> float:
        """Sum of the query tokens' idf (:meth:`indexer.bm25.BM25Index.max_score`)."""
        idf = self.idf()
        return float(sum(max(idf[t], 0.0) for t in query if t in idf))

    def covered(self, query: Sequence[str], fields: Iterable[BagField]) -> float:
        """The share of the document's idf mass the query contains."""
        idf = self.idf()
        terms, _ = self._terms(fields)
        terms &= idf.keys()
        mass = sum(max(idf[t], 0.0) for t in terms)
        wanted = terms & set(query)
        return float(sum(max(idf[t], 0.0) for t in wanted)) / mass if mass > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "total": self.total, "df": self.df}

    @classmethod
    def from_json(cls, data: dict[str, Any], params: BM25Params) -> TermStats:
        stats = cls(params)
        stats.n = int(data["n"])
        stats.total = float(data["total"])
        stats.df = {str(k): int(v) for k, v in data["df"].items()}
        return stats
