"""The second stage: a LightGBM LambdaRank model that reorders a query's candidate pool.

It reads :data:`indexer.features.FEATURES` (both retrievers, every vector kind, coverage,
margins, ranks, sizes) and is trained per KB on self-tuning's pseudo-queries
(:mod:`indexer.selftune`). It does not replace the blend's order but joins it: the top is
ordered by the model's score and the blend's, each standardized over the top, the blend's
weighing :data:`BLEND_SHARE` (a model trained on a few hundred pseudo-queries, which are not
users' questions, errs where the blend does not, and the other way round). The joined order is
kept unless the blend alone is clearly better on pseudo-queries the model was not trained on
(:func:`indexer.selftune.clearly_worse`); then (or when a KB is too small to train one) the
blend's order stands and :attr:`Reranker.status` says why. Saved with the index as LightGBM's own text format (no pickle), checked against the
feature list it was trained on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexer.features import FEATURES, PoolSignals, feature_matrix, fused_score
from indexer.fusion import FusionParams, standardized

# Small trees, few rounds: a few hundred pseudo-queries are the training set.
PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.8,
    "lambda_l2": 1.0,
    "lambdarank_truncation_level": 20,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "seed": 0,
    "verbosity": -1,
}
ROUNDS = 150
# The reranker reorders the blend's top this many; the rest of the pool keeps the blend's order
# below them.
DEPTH = 40
# The blend's weight in the top's order, beside the model's (both standardized over the top).
# Measured against the model alone on the demo KB's similar questions and its questions about
# details inside the answers, three tuning seeds, Simplified and Traditional, and on cmdd
# (docs/benchmarks.md, "The reranker joined with the blend").
BLEND_SHARE = 0.3


@dataclass
class Reranker:
    """A trained model, or none (the blend's order stands); ``status`` says which and why."""

    model: str | None = None
    status: str = "not trained"
    features: list[str] = field(default_factory=lambda: list(FEATURES))
    # The spread (standard deviation) of a pool's top ten reranked scores over the blend's, in
    # blend units per model unit: votes (indexer.feedback_boost) move a reranked score on the
    # blend's scale.
    scale: float = 1.0
    # The blend's weight in the top's order (:data:`BLEND_SHARE`); 0: the model's alone (as
    # a model saved before the two were joined orders it).
    blend_share: float = 0.0
    _booster: Any = field(default=None, repr=False, compare=False)

    @property
    def active(self) -> bool:
        return self.model is not None

    def ready(self) -> Reranker:
        """Parse the model now (importing LightGBM takes a second: not the first query's)."""
        if self.model is not None and self._booster is None:
            import lightgbm

            try:
                self._booster = lightgbm.Booster(model_str=self.model)
            except lightgbm.basic.LightGBMError as err:
                raise ValueError(f"the reranker model does not parse ({err})") from err
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        """Model scores of the rows of ``x`` (columns :data:`FEATURES`)."""
        if self.model is None:
            raise ValueError("no reranker model: check Reranker.active first")
        self.ready()
        return np.asarray(self._booster.predict(x, num_threads=1), np.float64)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "features": self.features,
            "scale": self.scale,
            "blend_share": self.blend_share,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], model: str | None) -> Reranker:
        features = list(data.get("features", []))
        if model is not None and features != list(FEATURES):
            # A model reads columns by position: one trained on other features is unusable.
            return cls(status="dropped: trained on another feature list; rebuild the index")
        return cls(
            model=model,
            status=str(data.get("status", "")),
            features=features or list(FEATURES),
            scale=float(data.get("scale", 1.0)),
            blend_share=float(data.get("blend_share", 0.0)),
        )


def top_rows(fused: np.ndarray) -> np.ndarray:
    """Positions of the blend's top :data:`DEPTH` (best first; ties by position)."""
    return np.argsort(-fused, kind="stable")[:DEPTH]


def pool_scores(reranker: Reranker, sig: PoolSignals, fusion: FusionParams) -> np.ndarray:
    """The hybrid ranking score of every pool table: for the blend's top :data:`DEPTH`, the
    reranker's joined with the blend's (:attr:`Reranker.blend_share`), and below the lowest
    of those, the rest in the blend's order."""
    fused = fused_score(sig, fusion)
    if not reranker.active or len(sig) < 2:
        return fused
    top = top_rows(fused)
    x = feature_matrix(sig, fusion)[top]
    out = np.empty(len(fused))
    share = reranker.blend_share
    model = reranker.score(x)
    if share:
        model = (1 - share) * standardized(model) + share * standardized(fused[top])
    out[top] = model
    rest = np.setdiff1d(np.arange(len(fused)), top, assume_unique=True)
    if len(rest):
        # One unit below the top's lowest, then the blend's differences (all under 3 units).
        floor = float(out[top].min()) - 1.0
        out[rest] = floor + (fused[rest] - fused[rest].max())
    return out


def train(x: np.ndarray, labels: np.ndarray, groups: Sequence[int], *, rounds: int = ROUNDS) -> str:
    """A LambdaRank model over pools (``groups``: rows per pool, in order), as model text."""
    import lightgbm

    data = lightgbm.Dataset(
        x, label=labels, group=list(groups), feature_name=list(FEATURES), free_raw_data=False
    )
    booster = lightgbm.train(PARAMS, data, num_boost_round=rounds)
    return str(booster.model_to_string())
