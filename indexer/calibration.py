"""Confidence that a suggestion answers the query, and when to give no answer at all.

A logistic model over four features of a candidate: its fused score, its margin to the best
*other* candidate (positive only for the top one), its dense cosine and its lexical coverage.
The KB's own similar questions are the labelled data: at build time some are held out (their
vectors and tokens kept out of the scoring), searched for, and the model is fitted on whether
each top-5 candidate is the question's own table. With too few similar questions (under 100)
the default coefficients stay (fitted once on two public FAQ-matching benchmarks).

The abstain threshold per channel is the lowest confidence at which held-out top-1 answers
reach the channel's target precision (customers: 0.85 — a wrong answer to a customer costs more
than a hand-over to an agent; agents: 0.5 — an agent judges suggestions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

FEATURES = ("fused", "margin", "dense", "coverage")
TARGET_PRECISION = {"customer": 0.85, "agent": 0.5}
DEFAULT_THRESHOLDS = {"customer": 0.6, "agent": 0.2}
MIN_HELDOUT = 100


@dataclass
class Calibration:
    # Defaults: fitted on the top-5 candidates of 3,259 queries of two public Chinese FAQ-matching
    # sets (BQ, ATEC; fusion defaults). Only these five numbers are kept, no data. Their labels
    # are incomplete, so the defaults lean cautious.
    coef: list[float] = field(default_factory=lambda: [5.434, 3.028, -2.645, -2.6745])
    intercept: float = -1.5436
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    fitted_on: int = 0  # held-out questions used (0: defaults)
    source: str = "default"
    reliability: list[dict[str, float]] = field(default_factory=list)
    heldout_mrr: float | None = None

    def confidence(self, features: Sequence[float]) -> float:
        z = self.intercept + sum(c * x for c, x in zip(self.coef, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibration:
        return cls(**dict(data))


def candidate_features(
    fused: Sequence[float], dense: Sequence[float], coverage: Sequence[float]
) -> list[list[float]]:
    """Feature rows for candidates given best first: margin is to the best other candidate."""
    rows = []
    for i, score in enumerate(fused):
        best_other = fused[1] if i == 0 and len(fused) > 1 else (fused[0] if i else score)
        margin = score - best_other if len(fused) > 1 else 0.0
        rows.append([score, margin, dense[i], coverage[i]])
    return rows


def fit_logistic(
    x: np.ndarray, y: np.ndarray, *, l2: float = 1e-2, iterations: int = 50
) -> tuple[np.ndarray, float]:
    """Newton-Raphson logistic regression with a small ridge (features unscaled, few of them)."""
    design = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(design.shape[1])
    ridge = l2 * np.eye(design.shape[1])
    ridge[-1, -1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -40, 40)))
        grad = design.T @ (p - y) + ridge @ w
        hess = (design * (p * (1 - p))[:, None]).T @ design + ridge
        step = np.linalg.solve(hess + 1e-9 * np.eye(len(w)), grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def reliability_table(
    conf: np.ndarray, correct: np.ndarray, bins: int = 10
) -> list[dict[str, float]]:
    """Per confidence bin: how many, mean confidence, observed accuracy."""
    table = []
    edges = np.linspace(0, 1, bins + 1)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (conf >= lo) & ((conf < hi) if hi < 1 else (conf <= hi))
        if mask.any():
            table.append(
                {
                    "low": round(float(lo), 2),
                    "high": round(float(hi), 2),
                    "n": int(mask.sum()),
                    "confidence": round(float(conf[mask].mean()), 3),
                    "accuracy": round(float(correct[mask].mean()), 3),
                }
            )
    return table


def choose_thresholds(conf: np.ndarray, correct: np.ndarray) -> dict[str, float]:
    """Lowest threshold per channel whose answered top-1s reach the target precision."""
    out = {}
    for channel, target in TARGET_PRECISION.items():
        chosen = DEFAULT_THRESHOLDS[channel]
        for t in np.arange(0.05, 0.96, 0.05):
            answered = conf >= t
            if answered.sum() >= 10 and correct[answered].mean() >= target:
                chosen = round(float(t), 2)
                break
        out[channel] = chosen
    return out
