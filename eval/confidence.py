"""Confidence per channel: what each channel's abstain threshold does on a run's queries.

The index keeps one threshold per channel (``calibration.thresholds`` of its params: agents
see suggestions down to a low confidence, customers only confident ones). A run searches on
one channel, but the top suggestion's confidence does not depend on the channel when every
table is public (as in a benchmark dataset), so each channel's outcome is read off the same
top-1: answered when there is a suggestion and its confidence reaches the threshold, as
:func:`indexer.search.run_search` decides.

Per channel: the share answered (coverage), the share of *all* queries answered with a wrong
top-1 (what a customer would be told wrongly), and abstention precision/recall against the
queries whose answer was held out of the index. The risk–coverage curve sweeps the threshold:
for each, the coverage and the error rate among the answered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eval import metrics

SWEEP = [round(t / 100, 2) for t in range(101)]  # thresholds of the risk–coverage curve


def _top(query: Mapping[str, Any]) -> tuple[float | None, bool]:
    """Top-1 confidence (None: nothing suggested) and whether the top-1 is relevant."""
    if not query["top"] or query["top"][0]["confidence"] is None:
        return None, False
    top = query["top"][0]
    return float(top["confidence"]), top["id"] in query["relevant"]


def _answered(confidence: float | None, threshold: float) -> bool:
    return confidence is not None and confidence >= threshold


def point(per_query: Sequence[Mapping[str, Any]], threshold: float) -> dict[str, Any]:
    """Coverage, answered-and-wrong rate and error rate of the answered at ``threshold``."""
    tops = [_top(q) for q in per_query]
    answered = [ok for conf, ok in tops if _answered(conf, threshold)]
    wrong = sum(1 for ok in answered if not ok)
    total = len(per_query)
    return {
        "threshold": threshold,
        "coverage": len(answered) / total if total else None,
        "answered_wrong_rate": wrong / total if total else None,
        "risk": wrong / len(answered) if answered else None,
    }


def channel(per_query: Sequence[Mapping[str, Any]], threshold: float) -> dict[str, Any]:
    """What ``threshold`` does: :func:`point` plus abstention against held-out queries."""
    abstained = [not _answered(_top(q)[0], threshold) for q in per_query]
    return {
        **point(per_query, threshold),
        "abstention": metrics.abstention([q["held_out"] for q in per_query], abstained),
    }


def risk_coverage(per_query: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The curve over :data:`SWEEP` (coverage falls as the threshold rises)."""
    return [point(per_query, t) for t in SWEEP]


def summary(
    per_query: Sequence[Mapping[str, Any]], thresholds: Mapping[str, float] | None
) -> dict[str, Any] | None:
    """Every channel with a threshold, and the risk–coverage curve; None without thresholds
    or without confidences (a baseline)."""
    if not thresholds or not any(_top(q)[0] is not None for q in per_query):
        return None
    return {
        "channels": {name: channel(per_query, t) for name, t in sorted(thresholds.items())},
        "risk_coverage": risk_coverage(per_query),
    }
