"""Confidence that a suggestion answers the query, and when to give no answer at all.

A logistic model over what the retrievers say of a candidate, on a fixed scale whatever the
KB's own fusion weights (:func:`indexer.features.confidence_features`): the default blend's
score, its margin to the best *other* candidate of the pool (positive only for the top one),
the best cosine, the lexical coverage, the share of the title the question says, and the
*lead*: the margin in the ranking actually served (the KB's blend or reranker, latent terms
joined), in standard deviations of the pool. Down the ranking, a suggestion never shows more
confidence than a better-ranked one (:func:`ranked_confidences`), so the order and the
figures shown agree.

The default coefficients were fitted once on three public benchmarks of different styles at
once (BQ and ATEC: short questions against questions; a medical consultation set: long
descriptions against questions with answers; only these six numbers are kept, no data).
Self-tuning (:mod:`indexer.selftune`) refits them per KB on real users' wordings: the KB's own
similar questions, held out and searched for, and the queries staff confirmed against their
table (the golden set, ``kb golden add``) and the queries agents voted on, some with their
table taken out of the index (the answer is not in the KB: the top suggestion is wrong by
construction). A model does not carry from one KB to another: fitted on two of the
benchmarks, its ECE on the third was 0.05–0.22 (docs/benchmarks.md, Confidence), so a KB is
calibrated on its own wordings as soon as it has 100 of them, and until then, if it has
answers, on its own content: answer spans masked out of their answer and loosened titles, the
hardest and the easiest of questions, between which its users' questions lie (the two weigh
half each), the model's log-odds then raised by :data:`CONTENT_SHIFT` (users' questions were
still answered right more often than that fit said, on seven of eight runs measured) and
steepened by :data:`CONTENT_STEEPNESS` (what the lead says of a user's question is surer than of a
pseudo-query's, on both sides of one half).

The abstain threshold per channel is the lowest confidence at which the fitting queries'
answered top-1s reach the channel's target precision (customers: 0.85 — a wrong answer to a
customer costs more than a hand-over to an agent; agents: 0.5 — an agent judges suggestions),
and never under :data:`UNSURE_BELOW` in a fitted model: a suggestion it thinks more likely
wrong than right is no answer (agents see 无把握 on it, customers are offered a person), even
where the others answered beside it would keep the set's precision on target. A model fitted
on content, whose pseudo-queries are harder than users' questions (hence the shift), sets no
channel's threshold above the channel's target: a suggestion the raised model gives 0.85 is
one users' questions get right that often, whatever the pseudo-queries' precision there
(which moved the customers' threshold from 0.86 to 0.92 with the seed of their draw).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

FEATURES = ("score", "margin", "dense", "coverage", "covered", "lead")
TARGET_PRECISION = {"customer": 0.85, "agent": 0.5}
# A fitted model's confidence is a probability on the KB's own questions: under one half, its
# top suggestion is more likely wrong than right, whatever the channel.
UNSURE_BELOW = 0.5
# Chosen with the default coefficients on the same benchmarks for the targets below.
DEFAULT_THRESHOLDS = {"customer": 0.62, "agent": 0.25}
MIN_ANSWERED = 20  # answered top-1s a threshold must rest on
# Log-odds added to a model fitted on a KB's own content (answer spans and titles): users'
# questions with the same scores are right more often than those pseudo-queries. Measured on
# the two KBs with answers and real questions at hand (the demo KB's similar questions, also in
# Traditional, and cmdd's patient descriptions; a tenth of the entries held out or none), the
# unshifted fit's ECE was 0.10–0.18, the best shift 0.7–1.3 for each, and this one's ECE
# ≤ 0.05 on all five runs; on three runs it was not chosen on, 0.06–0.13 (unshifted 0.05–0.13):
# the content fit varies from KB to KB by as much (docs/benchmarks.md, Confidence). Only this
# number is kept.
CONTENT_SHIFT = 1.0
# The raised log-odds of a model fitted on content, times this: users' questions of a high
# lead are right more often than those pseudo-queries, and of a low lead less often (the
# fitted slope on users' own answers was 1.1–2.4 times the served one on 9 of 11 runs with
# answers). Over the 11 runs (the demo KB's similar questions and its questions inside answers,
# Simplified and Traditional, and cmdd; a tenth held out or none), mean ECE 0.073 → 0.058
# (1.1: 0.069, 1.3: 0.055, 1.5: 0.059); customers at 0.85 answered 3–9 points more questions,
# right 86–98% of the time (docs/benchmarks.md, "Steeper for users' questions").
CONTENT_STEEPNESS = 1.25
# What a model fitted on a KB's own content reads (the others weigh 0): the served ranking's
# lead alone. How well a pseudo-query matches (the blend's score, the title covered) says
# whether *it* is answered right and carries over badly to users' questions: fitted on all
# six, users' questions inside the demo KB's answers got AUROC 0.64 and ECE 0.20; on the lead,
# 0.79 and 0.07. Over eight runs (the demo's questions inside answers and its similar
# questions, in Simplified and Traditional, a tenth held out or none; cmdd, both ways) ECE
# 0.06-0.09 against 0.02-0.21, AUROC 0.76-0.88 against 0.54-0.90; cmdd, whose patients write
# like its titles, loses (ECE 0.031 -> 0.087 with a tenth held out, AUROC 0.90 -> 0.88)
# (docs/benchmarks.md, "Confidence on the ranking served").
CONTENT_FEATURES: tuple[str, ...] = ("lead",)


@dataclass
class Calibration:
    # The default model's, fitted before the lead was a feature (its weight 0: not used).
    coef: list[float] = field(
        default_factory=lambda: [8.515, 4.9078, -6.4359, -9.4644, 2.4246, 0.0]
    )
    intercept: float = -1.5765
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    fitted_on: int = 0  # pseudo-queries used (0: defaults)
    source: str = "default"
    reliability: list[dict[str, float]] = field(default_factory=list)
    ece: float | None = None  # on the fitting queries, before the shift
    shift: float = 0.0  # log-odds added to what the fitted model says (CONTENT_SHIFT)
    steepness: float = 1.0  # the raised log-odds times this (CONTENT_STEEPNESS)

    def __post_init__(self) -> None:
        if len(self.coef) != len(FEATURES):
            raise ValueError(
                f"coef has {len(self.coef)} numbers; the model takes {len(FEATURES)}, "
                f"one per feature: {', '.join(FEATURES)}"
            )

    def confidences(self, features: np.ndarray) -> np.ndarray:
        """One confidence per row of ``features`` (columns :data:`FEATURES`)."""
        if not len(features):
            return np.zeros(0)
        z = self.intercept + self.shift + features @ np.asarray(self.coef, np.float64)
        z = self.steepness * z
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0))))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibration:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        coef = list(known.get("coef", []))
        if len(coef) == len(FEATURES) - 1:  # saved before the lead was a feature: it read none
            known["coef"] = [*coef, 0.0]
        elif len(coef) != len(FEATURES):
            return cls(source="default (the saved model had other features)")
        return cls(**known)


def adjusted_note(saved: Mapping[str, Any]) -> str:
    """How a saved model's (:meth:`Calibration.to_json`) ECE on its fitting queries relates to
    what it serves: ``" (before the shift)"``, ``" (before the shift and the steepening)"``, or
    ``""`` where it serves what it was fitted to say."""
    changes = [
        name
        for name, key, unchanged in (
            ("the shift", "shift", 0.0),
            ("the steepening", "steepness", 1.0),
        )
        if saved.get(key, unchanged) != unchanged
    ]
    return f" (before {' and '.join(changes)})" if changes else ""


def margins(scores: np.ndarray) -> np.ndarray:
    """Each score less the best *other* score of the same pool (0 for a pool of one)."""
    if len(scores) < 2:
        return np.zeros(len(scores))
    order = np.argsort(-scores, kind="stable")
    best, second = scores[order[0]], scores[order[1]]
    out = scores - best
    out[order[0]] = best - second
    return np.asarray(out)


def ranked_confidences(confidences: np.ndarray, order: Sequence[int]) -> np.ndarray:
    """Confidences taken down the ranking ``order``: none above a better-ranked one's."""
    out = np.asarray(confidences, np.float64).copy()
    if len(order):
        out[list(order)] = np.minimum.accumulate(out[list(order)])
    return out


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 1e-2,
    iterations: int = 50,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Newton-Raphson logistic regression with a small ridge (features unscaled, few of them);
    ``weights``: how much each row counts (a row of weight 2 counts as two copies of it)."""
    design = np.hstack([x, np.ones((len(x), 1))])
    counts = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64)
    w = np.zeros(design.shape[1])
    ridge = l2 * np.eye(design.shape[1])
    ridge[-1, -1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -40, 40)))
        grad = design.T @ (counts * (p - y)) + ridge @ w
        hess = (design * (counts * p * (1 - p))[:, None]).T @ design + ridge
        step = np.linalg.solve(hess + 1e-9 * np.eye(len(w)), grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def confidence_bins(conf: np.ndarray | Sequence[float], bins: int = 10) -> np.ndarray:
    """Each confidence's bin of ``bins`` equal-width bins on [0, 1]: bin b holds [b/bins,
    (b+1)/bins), the last one 1.0 too; values outside [0, 1] count in the nearest end bin.
    Every reliability table and ECE, here and in ``eval``, bins with this."""
    c = np.clip(np.asarray(conf, dtype=float), 0.0, 1.0)
    edges = np.arange(bins) / bins
    return np.asarray(np.minimum(np.searchsorted(edges, c, side="right") - 1, bins - 1))


@dataclass(frozen=True)
class Bin:
    """One non-empty confidence bin: its place (bin ``index`` of n holds [index/n,
    (index+1)/n)), its count, mean confidence and accuracy."""

    index: int
    count: int
    confidence: float
    accuracy: float


def binned(
    conf: np.ndarray | Sequence[float], correct: np.ndarray | Sequence[bool], bins: int = 10
) -> list[Bin]:
    """The non-empty ones of ``bins`` bins (:func:`confidence_bins`), in order."""
    member = confidence_bins(conf, bins)
    c = np.asarray(conf, dtype=float)
    ok = np.asarray(correct, dtype=float)
    out = []
    for b in range(bins):
        mask = member == b
        if mask.any():
            out.append(
                Bin(
                    b,
                    int(mask.sum()),
                    float(c[mask].mean()),
                    float(ok[mask].mean()),
                )
            )
    return out


def reliability_table(
    conf: np.ndarray, correct: np.ndarray, bins: int = 10
) -> list[dict[str, float]]:
    """Per confidence bin that holds any (:func:`binned`): how many, mean confidence,
    observed accuracy, rounded as saved with a fitted model."""
    return [
        {
            "low": round(b.index / bins, 2),
            "high": round((b.index + 1) / bins, 2),
            "n": b.count,
            "confidence": round(b.confidence, 3),
            "accuracy": round(b.accuracy, 3),
        }
        for b in binned(conf, correct, bins)
    ]


def expected_calibration_error(
    conf: np.ndarray | Sequence[float], correct: np.ndarray | Sequence[bool], bins: int = 10
) -> float:
    """Σ over equal-width bins of (share of queries) × |accuracy − mean confidence|."""
    return ece_of(binned(conf, correct, bins), len(conf))


def ece_of(bins: Iterable[Bin], total: int) -> float:
    """The expected calibration error of ``bins`` (:func:`binned`) over ``total`` queries."""
    if not total:
        return 0.0
    return float(sum(b.count * abs(b.accuracy - b.confidence) for b in bins)) / total


def choose_thresholds(
    conf: np.ndarray, correct: np.ndarray, targets: Mapping[str, float] = TARGET_PRECISION
) -> dict[str, float]:
    """Lowest threshold per channel whose answered top-1s reach the target precision.

    Where no threshold does (with :data:`MIN_ANSWERED` answered), the target itself: the
    model was fitted on these queries, so a suggestion it is that confident of is right that
    often."""
    out = {}
    for channel, target in targets.items():
        chosen = target
        for hundredths in range(5, 100):
            t = hundredths / 100
            answered = conf >= t
            if answered.sum() >= MIN_ANSWERED and correct[answered].mean() >= target:
                chosen = t
                break
        out[channel] = chosen
    return out


def fit(
    features: np.ndarray,
    correct: Sequence[bool],
    source: str,
    weights: np.ndarray | None = None,
    shift: float = 0.0,
    using: Sequence[str] = FEATURES,
    steepness: float = 1.0,
) -> Calibration:
    """A calibration fitted on top-1 suggestions' features (columns :data:`FEATURES`), each
    counted by its weight where ``weights`` are given (the model only: the thresholds,
    reliability and ECE are those of the queries as they are), its confidences raised by
    ``shift`` in log-odds for the questions it will serve (the reliability and ECE are the
    fitted model's, before the shift; the thresholds are chosen on the shifted scale, so they
    answer the same fitting queries as they would unshifted, lowered to each channel's target
    precision where above it when shifted, and raised to :data:`UNSURE_BELOW` where under
    it); ``using``: the features fitted on (the others weigh 0); ``steepness``: the raised
    log-odds times this (the reliability and ECE are still the fitted model's; the thresholds
    are taken on the steepened scale, as on the raised one)."""
    x = np.asarray(features, float)
    y = np.asarray(correct, float)
    columns = [FEATURES.index(name) for name in using]
    fitted_coef, intercept = fit_logistic(x[:, columns], y, weights=weights)
    coef = np.zeros(len(FEATURES))
    coef[columns] = fitted_coef
    fitted = Calibration(
        coef=[round(float(c), 4) for c in coef],
        intercept=round(intercept, 4),
        fitted_on=len(y),
        source=source,
    )
    conf = fitted.confidences(x)
    fitted.reliability = reliability_table(conf, y)
    fitted.ece = round(expected_calibration_error(conf, y), 4)
    fitted.shift = shift
    fitted.steepness = steepness
    chosen = choose_thresholds(fitted.confidences(x), y)
    if shift > 0:
        # The fitting queries are harder than the questions served (the reason for the
        # shift): their precision at a threshold understates users'. Where the raised model
        # says an answer is right as often as the channel needs, it is answered.
        chosen = {channel: min(t, TARGET_PRECISION[channel]) for channel, t in chosen.items()}
    fitted.thresholds = {channel: max(t, UNSURE_BELOW) for channel, t in chosen.items()}
    return fitted
