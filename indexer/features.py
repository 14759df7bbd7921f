"""What the retrievers say about each table of a query's candidate pool, as numbers.

:class:`PoolSignals` holds one query's raw signals for its pool: the best cosine per vector
kind, head and body BM25, the hub score, and sizes of the query and of each table. From them,
pure functions give the scores the blend fuses (:func:`dense_score`, :func:`lexical_score`,
:func:`fused_score`) and the feature matrix the reranker reads (:func:`feature_matrix`, columns
:data:`FEATURES`). The same functions serve a live query and self-tuning's pseudo-queries, so
the reranker is trained on exactly what it will see.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from indexer.calibration import margins
from indexer.fusion import FusionParams, lead

FEATURES = (
    "fused",  # the blend score
    "dense",  # best weighted cosine of any vector
    "d_title",
    "d_question",  # NaN: no similar questions
    "d_body",  # NaN: no searchable body
    "d_entry",  # NaN: no title + chunk passage (question-only knowledge)
    "lexical",  # head + weighted body BM25 over what the query can attain
    "lex_head",
    "lex_body",
    "head_covered",  # the share of the head's (title, questions) idf mass the query contains
    "hub",
    "fused_gap",  # … less the best of the pool
    "dense_gap",
    "lexical_gap",
    "fused_rank",  # log2 of the rank in the pool
    "dense_rank",
    "lexical_rank",
    "query_chars",  # log2
    "query_idf",  # what the query can attain in the head index (its informative mass)
    "title_chars",  # log2
    "body_chars",  # log2
    "questions",  # log2(1 + similar questions)
)


@dataclass
class PoolSignals:
    """Raw signals of one query over its candidate tables (rows in ``tables`` order)."""

    tables: list[int]
    kinds: np.ndarray  # (n, 4) best cosine per kind (title, question, body, entry); NaN: none
    head: np.ndarray  # head BM25
    body: np.ndarray  # body BM25
    hub: np.ndarray
    head_attainable: float
    body_attainable: float
    head_covered: np.ndarray
    query_chars: int
    title_chars: np.ndarray
    body_chars: np.ndarray
    questions: np.ndarray
    refs: Sequence[Sequence[str]] = field(default_factory=list)  # per table, each kind's best ref
    latent: np.ndarray | None = None  # (n,) latent-terms cosine; None or NaN: none

    def __post_init__(self) -> None:
        if self.latent is None:
            self.latent = np.full(len(self.tables), np.nan)

    def latent_at(self, position: int, value: float) -> None:
        """Set one table's latent-terms cosine (self-tuning's masked copy of it)."""
        latent = np.array(self.latent, np.float64)
        latent[position] = value
        self.latent = latent

    @property
    def latent_score(self) -> np.ndarray:
        """The latent-terms cosine, 0 where there is none."""
        return np.nan_to_num(np.asarray(self.latent, np.float64), nan=0.0)

    def __len__(self) -> int:
        return len(self.tables)

    def without(self, position: int) -> PoolSignals:
        """The same pool less one table (self-tuning: as if it had never been indexed)."""
        keep = np.ones(len(self.tables), np.bool_)
        keep[position] = False
        return PoolSignals(
            tables=[t for i, t in enumerate(self.tables) if i != position],
            kinds=self.kinds[keep],
            head=self.head[keep],
            body=self.body[keep],
            hub=self.hub[keep],
            head_attainable=self.head_attainable,
            body_attainable=self.body_attainable,
            head_covered=self.head_covered[keep],
            query_chars=self.query_chars,
            title_chars=self.title_chars[keep],
            body_chars=self.body_chars[keep],
            questions=self.questions[keep],
            refs=[r for i, r in enumerate(self.refs) if i != position],
            latent=np.asarray(self.latent)[keep],
        )


def dense_score(sig: PoolSignals, fusion: FusionParams) -> np.ndarray:
    """Best cosine of any vector, each kind's times its weight (-1 where a table has none)."""
    return best_weighted(sig.kinds, fusion.kind_weights)


def best_weighted(kinds: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """Per row of ``kinds`` (cosine per vector kind, NaN: none), the best one times its kind's
    weight, -1 where a row has none (self-tuning's stacked pools use it as well)."""
    weighted = kinds * np.asarray(weights, kinds.dtype)
    best = np.fmax.reduce(weighted, axis=1) if len(weighted) else np.zeros(0, kinds.dtype)
    return np.nan_to_num(best.astype(np.float64), nan=-1.0)


def lexical_score(sig: PoolSignals, fusion: FusionParams) -> np.ndarray:
    """Head and ``lexical_body`` × body BM25 over what the query can attain in both."""
    return lexical_coverage(
        sig.head, sig.body, sig.head_attainable, sig.body_attainable, fusion.lexical_body
    )


def lexical_coverage(
    head: np.ndarray,
    body: np.ndarray,
    head_attainable: float | np.ndarray,
    body_attainable: float | np.ndarray,
    body_weight: float,
) -> np.ndarray:
    """Head and ``body_weight`` × body BM25 over what the query can attain in both: one pool's
    (the attainable are numbers) or self-tuning's stacked pools' (an attainable per row); 0
    where nothing can be attained."""
    total = head + body_weight * body
    attainable = head_attainable + body_weight * body_attainable
    if np.ndim(attainable) == 0:
        return np.asarray(total / attainable) if attainable > 0 else np.zeros(len(head))
    return np.divide(total, attainable, out=np.zeros_like(total), where=attainable > 0)


def fused_score(sig: PoolSignals, fusion: FusionParams) -> np.ndarray:
    return np.asarray(
        fusion.dense_weight * dense_score(sig, fusion)
        - fusion.hub_weight * sig.hub
        + fusion.lexical_weight * lexical_score(sig, fusion)
        + fusion.covered_weight * sig.head_covered
    )


CONFIDENCE_FUSION = FusionParams()  # the fixed scale confidence is read on (any KB's weights)


def confidence_features(sig: PoolSignals, served: np.ndarray) -> np.ndarray:
    """Per pool table, :data:`indexer.calibration.FEATURES`: the default blend's score and
    margin to the best other, the best cosine, lexical coverage and head covered, all on one
    scale whatever the KB's weights; and the *lead* of the ranking served (``served``: the
    scores the tables are ordered by, the KB's own blend or reranker with its latent terms).
    """
    if not len(sig):
        return np.zeros((0, 6))
    fused = fused_score(sig, CONFIDENCE_FUSION)
    return np.column_stack(
        [
            fused,
            margins(fused),
            dense_score(sig, CONFIDENCE_FUSION),
            lexical_score(sig, CONFIDENCE_FUSION),
            sig.head_covered,
            lead(served),
        ]
    )


def _coverage(scores: np.ndarray, attainable: float) -> np.ndarray:
    return scores / attainable if attainable > 0 else np.zeros_like(scores)


def _rank(values: np.ndarray) -> np.ndarray:
    """1-based rank of each value, best (highest) first; ties share the better rank."""
    order = np.sort(values)[::-1]
    return np.searchsorted(-order, -values, side="left") + 1


def _log2(values: np.ndarray) -> np.ndarray:
    return np.log2(1.0 + np.asarray(values, np.float64))


def feature_matrix(sig: PoolSignals, fusion: FusionParams) -> np.ndarray:
    """One row per pool table, columns :data:`FEATURES`."""
    n = len(sig.tables)
    if n == 0:
        return np.zeros((0, len(FEATURES)))
    fused = fused_score(sig, fusion)
    dense = dense_score(sig, fusion)
    lexical = lexical_score(sig, fusion)
    columns = [
        fused,
        dense,
        sig.kinds[:, 0],
        sig.kinds[:, 1],
        sig.kinds[:, 2],
        sig.kinds[:, 3],
        lexical,
        _coverage(sig.head, sig.head_attainable),
        _coverage(sig.body, sig.body_attainable),
        sig.head_covered,
        sig.hub,
        fused - fused.max(),
        dense - dense.max(),
        lexical - lexical.max(),
        np.log2(_rank(fused)),
        np.log2(_rank(dense)),
        np.log2(_rank(lexical)),
        np.full(n, math.log2(1 + sig.query_chars)),
        np.full(n, sig.head_attainable),
        _log2(sig.title_chars),
        _log2(sig.body_chars),
        _log2(sig.questions),
    ]
    return np.column_stack([np.asarray(c, np.float64) for c in columns])
