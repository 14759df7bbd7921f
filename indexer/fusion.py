"""Fusion of the lexical and dense rankings: pure functions over ``{table_id: score}`` maps.

Two methods, parameters named and saved with the index:

- score blending (default): ``dense_weight × dense − hub_weight × hub + lexical_weight ×
  coverage + covered_weight × covered``, where dense is the best vector's centered cosine (a
  title's times ``title_weight``, an answer chunk's times ``body_weight``, a title + chunk
  passage's times ``entry_weight``), hub the table's hub score
  (see :mod:`indexer.dense`) and coverage the head and ``lexical_body`` × body BM25 scores over
  what the query can attain in both (:mod:`indexer.lexical`), and covered the share of the
  head's informative words the query contains (a long question that names a title in passing
  still says all of it). All four are on fixed scales,
  so the fused score means the same from one query to the next. Self-tuning
  (:mod:`indexer.selftune`) chooses the weights per KB. Where the index has latent terms
  (:mod:`indexer.latent`), the hybrid ranking is then the blend's (or the reranker's) score
  standardized over the pool plus ``latent_weight`` × the latent-terms cosine standardized
  likewise (:func:`with_latent`). Under load only, a pool whose first table already leads the
  next by ``latent_lead`` standard deviations (:func:`settled`) is ranked without them, so
  that the query's are not encoded (:mod:`indexer.query_latent`).
- reciprocal-rank fusion: ``Σ weight / (k + rank)``, for comparison and as an option.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from indexer.calibration import margins


@dataclass(frozen=True)
class FusionParams:
    method: str = "blend"  # blend | rrf
    # Defaults: the weights that did best on three public benchmarks of different styles at
    # once (README, Benchmarks); self-tuning moves them per KB only for a clear gain.
    dense_weight: float = 1.0
    lexical_weight: float = 0.7
    hub_weight: float = 0.3
    # Multiplies a title vector's cosine (tuned per KB that has answers): a question is closer
    # to a question than to a passage, so a broad title ("会员与优惠券") can outscore the one
    # chunk that answers it (docs/benchmarks.md, "Long answers: the demo KB in pages").
    title_weight: float = 1.0
    body_weight: float = 1.0  # multiplies an answer-chunk vector's cosine (tuned per KB)
    entry_weight: float = 1.0  # multiplies a title + answer-chunk passage's cosine
    lexical_body: float = 0.3  # the body BM25's weight beside the head's (title, questions)
    covered_weight: float = 0.1  # the share of a table's head (title…) the query says
    # The latent-terms cosine's weight beside the hybrid score, both standardized over the
    # pool (indexer.latent): a last step after the blend or reranker, not tuned per KB (the
    # pseudo-queries mask what it finds); the value that did best across the benchmarks.
    latent_weight: float = 0.4
    # Under load (every core searching), a pool whose first table leads the next by this many
    # standard deviations of its hybrid scores is ranked without latent terms, and the
    # query's second encoder pass is spared (indexer.query_latent); 0: never. At 1.0, 42–54%
    # of the pools measured, whose first table the latent terms changed in 3 of those 1,509
    # (docs/benchmarks.md, "Latent terms under load").
    latent_lead: float = 1.0
    rrf_k: float = 60.0
    candidates: int = 100  # per retriever, before fusion

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def kind_weights(self) -> tuple[float, float, float, float]:
        """Cosine multipliers per vector kind (title, question, body, entry)."""
        return (self.title_weight, 1.0, self.body_weight, self.entry_weight)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FusionParams:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def with_latent(
    hybrid: np.ndarray,
    latent: np.ndarray | Callable[[], np.ndarray],
    weight: float,
    lead_sd: float = 0.0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The hybrid scores of a pool with the latent terms' cosine added, both standardized over
    the pool (the reranker's units are its own; a z-score is one scale for both), and the
    latent terms' part of each. A table without latent terms (NaN: no answer) gets the pool's
    mean, no evidence either way. Fewer than two tables with latent terms, a weight of 0, or a
    pool :func:`settled` at ``lead_sd`` (0, the default: none is): the hybrid scores as they were
    (part None).

    ``latent``: the cosines, or a function giving them, called only where they are read (not
    for a settled pool: a search under load then never encodes the query's latent terms)."""
    if weight == 0 or len(hybrid) < 2 or settled(hybrid, lead_sd):
        return hybrid, None
    cosines = np.asarray(latent() if callable(latent) else latent, np.float64)
    present = ~np.isnan(cosines)
    if present.sum() < 2:
        return hybrid, None
    part = np.zeros(len(cosines))
    part[present] = weight * standardized(cosines[present])
    return standardized(hybrid) + part, part


def settled(hybrid: np.ndarray, lead_sd: float) -> bool:
    """Whether the pool's best score leads the next by ``lead_sd`` standard deviations of the
    pool's scores or more (``lead_sd`` 0: never): latent terms weigh ``latent_weight`` of a
    standard deviation per standard deviation of theirs, so they would need a spread several
    times the usual to change that first place."""
    if lead_sd <= 0 or len(hybrid) < 2:
        return False
    return bool(lead(hybrid).max() >= lead_sd)


def lead(served: np.ndarray) -> np.ndarray:
    """Each table's served score less the best other's, in standard deviations of the pool's
    served scores (0 for a pool of one, or of equal scores): how far ahead of the rest the
    ranking users see puts the table, on one scale whatever ranks it (blend, reranker, latent
    terms). Where the served ranking and the default blend disagree, the blend's margin alone
    read the first suggestion as an also-ran."""
    scores = np.asarray(served, np.float64)
    spread = float(scores.std()) if len(scores) > 1 else 0.0
    if spread <= 0.0:
        return np.zeros(len(scores))
    return margins(scores) / spread


def standardized(values: np.ndarray) -> np.ndarray:
    """``values`` less their mean, in their standard deviations (all 0 when they are equal)."""
    spread = float(values.std())
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def ranking(scores: Mapping[int, float]) -> list[tuple[int, float]]:
    """Items best first; ties broken by id so results are deterministic."""
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def rrf(
    rankings: Sequence[Sequence[tuple[int, float]]],
    k: float = 60.0,
    weights: Sequence[float] | None = None,
) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of ranked lists (rank 1 contributes ``weight / (k + 1)``)."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[int, float] = {}
    for ranked, weight in zip(rankings, weights, strict=True):
        for rank, (item, _score) in enumerate(ranked, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return ranking(fused)


def minmax(scores: Mapping[int, float]) -> dict[int, float]:
    """Scores rescaled to [0, 1] within the list (all equal → all 1)."""
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi - lo < 1e-12:
        return dict.fromkeys(scores, 1.0)
    return {item: (s - lo) / (hi - lo) for item, s in scores.items()}


def blend(
    channels: Mapping[str, Mapping[int, float]],
    weights: Mapping[str, float],
    *,
    missing: float = 0.0,
) -> list[tuple[int, float]]:
    """Weighted sum of per-channel scores; an item a channel lacks scores ``missing`` there."""
    items = set().union(*(set(c) for c in channels.values())) if channels else set()
    fused = {
        item: sum(weights.get(name, 0.0) * ch.get(item, missing) for name, ch in channels.items())
        for item in items
    }
    return ranking(fused)


def hybrid_scores(
    dense: Mapping[int, float],
    hub: Mapping[int, float],
    coverage: Mapping[int, float],
    params: FusionParams,
) -> dict[int, float]:
    """The blended score of every item in ``dense`` ∪ ``coverage`` (see the module docstring)."""
    items = set(dense) | set(coverage)
    return {
        item: params.dense_weight * dense.get(item, 0.0)
        - params.hub_weight * hub.get(item, 0.0)
        + params.lexical_weight * coverage.get(item, 0.0)
        for item in items
    }


def dense_scores(
    dense: Mapping[int, float], hub: Mapping[int, float], params: FusionParams
) -> dict[int, float]:
    """Dense-only ranking score: cosine less the hub share."""
    return {
        item: params.dense_weight * s - params.hub_weight * hub.get(item, 0.0)
        for item, s in dense.items()
    }
