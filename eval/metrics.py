"""Retrieval metrics over one ranked list per query; pure functions, no I/O.

Relevance is binary and a query may have several relevant entries.

- ``recall_at(k)``: the share of a query's relevant entries found in the top k (with one
  relevant entry: 1 if it is in the top k, else 0).
- ``reciprocal_rank(k)``: 1 / rank of the first relevant entry, 0 when none is in the top k.
- ``ndcg_at(k)``: DCG with gain 1 per relevant entry and discount 1/log2(rank + 1), divided
  by the DCG of the ideal list (all relevant entries first, at most k of them).
- ``hard_negative_outranks``: whether a labelled hard negative is ranked above every relevant
  entry (also when the relevant entries are not in the list at all but a hard negative is).

**Ties.** A ranking is a list of ``(id, score)``; consecutive items with equal scores form a
tie group (a score of ``None`` never ties). Every metric is the *expected* value over all
orders of each tie group, computed exactly (McSherry & Najork, ECIR 2008): no random tie
breaking, no reward or penalty for returning equal scores, the same numbers on every run.
Within a group of n items holding r relevant ones, each position gets gain r/n (nDCG),
r·m/n relevant entries fall in the m positions above the cutoff (recall), and the first
relevant one sits at offset j with probability C(n−j, r−1)/C(n, r) (reciprocal rank).
Ties are seen among the returned items only.

Latency percentiles use the nearest-rank method (always a latency that was observed).
Bootstrap intervals resample queries with a seeded generator, so two modes evaluated on the
same queries with the same seed get the same resamples (a paired comparison).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.calibration import binned, confidence_bins, ece_of

Ranking = Sequence[tuple[str, float | None]]
CUTOFFS = (1, 5, 10)
BOOTSTRAP_SAMPLES = 1000


@dataclass(frozen=True)
class Group:
    start: int  # 1-based rank of the group's first position
    ids: tuple[str, ...]

    def positions_within(self, k: int) -> int:
        return max(0, min(len(self.ids), k - self.start + 1))


def tie_groups(ranking: Ranking) -> list[Group]:
    """Consecutive items with equal (non-None) scores, in rank order."""
    groups: list[Group] = []
    current: list[str] = []
    current_score: float | None = None
    start = 1
    for position, (item, score) in enumerate(ranking, start=1):
        if current and score is not None and score == current_score:
            current.append(item)
            continue
        if current:
            groups.append(Group(start, tuple(current)))
        current, current_score, start = [item], score, position
    if current:
        groups.append(Group(start, tuple(current)))
    return groups


def _count(group: Group, ids: Collection[str]) -> int:
    return sum(1 for item in group.ids if item in ids)


def recall_at(ranking: Ranking, relevant: Collection[str], k: int) -> float:
    """Expected share of relevant entries in the top k."""
    if not relevant:
        raise ValueError("recall needs at least one relevant id")
    found = 0.0
    for group in tie_groups(ranking):
        r = _count(group, relevant)
        if r:
            found += r * group.positions_within(k) / len(group.ids)
    return found / len(relevant)


def reciprocal_rank(ranking: Ranking, relevant: Collection[str], k: int) -> float:
    """Expected 1/rank of the first relevant entry within the top k (0 when none)."""
    for group in tie_groups(ranking):
        r = _count(group, relevant)
        if not r:
            continue
        n = len(group.ids)
        total = math.comb(n, r)
        value = 0.0
        for j in range(1, n - r + 2):
            rank = group.start + j - 1
            if rank > k:
                break
            value += math.comb(n - j, r - 1) / total / rank
        return value
    return 0.0


def ndcg_at(ranking: Ranking, relevant: Collection[str], k: int) -> float:
    """Expected DCG@k over the ideal DCG@k, binary gains."""
    if not relevant:
        raise ValueError("nDCG needs at least one relevant id")
    dcg = 0.0
    for group in tie_groups(ranking):
        r = _count(group, relevant)
        if not r:
            continue
        gain = r / len(group.ids)
        for rank in range(group.start, group.start + group.positions_within(k)):
            dcg += gain / math.log2(rank + 1)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def hard_negative_outranks(
    ranking: Ranking, relevant: Collection[str], negatives: Collection[str]
) -> float | None:
    """Probability that a hard negative is ranked above every relevant entry; None without negatives.

    A hard negative tied with the best relevant entry outranks it with probability h/(h+r)
    (h negatives and r relevant entries in that tie group).
    """
    if not negatives:
        return None
    for group in tie_groups(ranking):
        h = _count(group, negatives)
        r = _count(group, relevant)
        if r:
            return h / (h + r)
        if h:
            return 1.0
    return 0.0


def query_metrics(
    ranking: Ranking,
    relevant: Collection[str],
    negatives: Collection[str] = (),
    *,
    k: int = 10,
) -> dict[str, float | None]:
    """Every per-query metric; cutoffs above ``k`` (the depth asked for) are None."""
    out: dict[str, float | None] = {}
    for cutoff in CUTOFFS:
        out[f"recall@{cutoff}"] = recall_at(ranking, relevant, cutoff) if cutoff <= k else None
    top = min(k, 10)
    out["mrr@10"] = reciprocal_rank(ranking, relevant, top) if k >= 10 else None
    out["ndcg@10"] = ndcg_at(ranking, relevant, top) if k >= 10 else None
    out["hard_negative"] = hard_negative_outranks(ranking, relevant, negatives)
    return out


MAIN_METRICS = ("mrr@10", "recall@1", "recall@5", "recall@10", "ndcg@10")


def mean(values: Sequence[float]) -> float | None:
    return float(sum(values) / len(values)) if values else None


def bootstrap_ci(
    values: Sequence[float],
    *,
    seed: int,
    samples: int = BOOTSTRAP_SAMPLES,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean, resampling the values with a seeded generator."""
    if not values:
        return None
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(data), size=(samples, len(data)))
    means = data[index].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest observed value with at least p% of values at or below."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


def latency_summary(milliseconds: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(milliseconds, 50),
        "p95_ms": percentile(milliseconds, 95),
        "p99_ms": percentile(milliseconds, 99),
        "mean_ms": float(sum(milliseconds) / len(milliseconds)),
        "max_ms": float(max(milliseconds)),
    }


def abstention(should: Sequence[bool], did: Sequence[bool]) -> dict[str, float | int | None]:
    """Precision and recall of abstaining, where ``should`` marks queries whose answers were held out."""
    tp = sum(1 for s, d in zip(should, did, strict=True) if s and d)
    abstained = sum(did)
    expected = sum(should)
    answerable = len(should) - expected
    return {
        "precision": tp / abstained if abstained else None,
        "recall": tp / expected if expected else None,
        "abstained": abstained,
        "should_abstain": expected,
        # answerable queries that got "no confident answer" although their entry is indexed
        "false_abstention_rate": (abstained - tp) / answerable if answerable else None,
    }


def reliability(
    confidences: Sequence[float], correct: Sequence[bool], *, bins: int = 10
) -> dict[str, object]:
    """Confidence bins (equal width on [0, 1]) with their accuracy, the expected calibration
    error, and what a perfectly calibrated model would show on the same confidences
    (:func:`ece_if_calibrated`): on a few hundred queries that is itself several hundredths."""
    found = {b.index: b for b in binned(confidences, correct, bins)}
    rows: list[dict[str, float | int]] = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        if b in found:
            row = found[b]
            rows.append(
                {
                    "low": low,
                    "high": high,
                    "count": row.count,
                    "confidence": row.confidence,
                    "accuracy": row.accuracy,
                }
            )
        else:
            rows.append({"low": low, "high": high, "count": 0})
    total = len(confidences)
    return {
        "bins": rows,
        "ece": ece_of(found.values(), total) if total else None,
        "ece_if_calibrated": ece_if_calibrated(confidences, bins=bins) if total else None,
    }


ECE_DRAWS = 1000
DRAW_CELLS = 2_000_000  # simulated answers held in memory at once


def ece_if_calibrated(
    confidences: Sequence[float], *, bins: int = 10, draws: int = ECE_DRAWS, seed: int = 0
) -> dict[str, float]:
    """The ECE a perfectly calibrated model would show on these confidences: each answer drawn
    right with the probability its confidence says (seeded), binned as :func:`reliability`
    bins; the mean and the 95th percentile over ``draws`` draws. An observed ECE under that
    percentile is no evidence of miscalibration."""
    c = np.clip(np.asarray(confidences, dtype=float), 0.0, 1.0)
    member = confidence_bins(c, bins)
    one_hot = np.zeros((len(c), bins))
    one_hot[np.arange(len(c)), member] = 1.0
    expected = c @ one_hot
    rng = np.random.default_rng(seed)
    batch = max(1, DRAW_CELLS // len(c))  # draws at a time: memory bounded whatever the count
    eces = np.concatenate(
        [
            # ECE = the sum over bins of |right answers - summed confidence| / n
            np.abs((rng.random((n, len(c))) < c) @ one_hot - expected).sum(axis=1) / len(c)
            for n in [min(batch, draws - start) for start in range(0, draws, batch)]
        ]
    )
    return {"mean": float(eces.mean()), "p95": float(np.percentile(eces, 95))}
