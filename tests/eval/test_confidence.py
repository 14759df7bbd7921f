"""Per-channel confidence figures and the risk–coverage curve, on hand-made queries."""

from __future__ import annotations

from typing import Any

from eval import confidence


def _q(confidence_: float | None, right: bool, *, held_out: bool = False) -> dict[str, Any]:
    top = [] if confidence_ is None else [{"id": "a" if right else "b", "confidence": confidence_}]
    return {"top": top, "relevant": [] if held_out else ["a"], "held_out": held_out}


# five answerable queries and two whose answer was held out (any answer to them is wrong)
QUERIES = [
    _q(0.9, True),
    _q(0.8, True),
    _q(0.7, False),
    _q(0.4, True),
    _q(None, False),
    _q(0.75, False, held_out=True),
    _q(0.3, False, held_out=True),
]


def test_a_channel_at_its_threshold() -> None:
    # at 0.75: answered 0.9 ✓, 0.8 ✓, 0.75 (held out) ✗; abstained on 0.7, 0.4, none, 0.3
    assert confidence.channel(QUERIES, 0.75) == {
        "threshold": 0.75,
        "coverage": 3 / 7,
        "answered_wrong_rate": 1 / 7,
        "risk": 1 / 3,
        "abstention": {
            "precision": 1 / 4,  # of the 4 abstentions only the 0.3 one was held out
            "recall": 1 / 2,
            "abstained": 4,
            "should_abstain": 2,
            "false_abstention_rate": 3 / 5,
        },
    }


def test_the_curve_sweeps_every_hundredth() -> None:
    curve = confidence.risk_coverage(QUERIES)
    assert [p["threshold"] for p in curve][:3] == [0.0, 0.01, 0.02] and curve[-1][
        "threshold"
    ] == 1.0
    at = {p["threshold"]: p for p in curve}
    assert at[0.0] == {
        "threshold": 0.0,
        "coverage": 6 / 7,  # the query with no suggestion is never answered
        "answered_wrong_rate": 3 / 7,
        "risk": 3 / 6,
    }
    assert (at[0.41]["coverage"], at[0.41]["risk"]) == (4 / 7, 2 / 4)
    assert (at[0.85]["coverage"], at[0.85]["risk"]) == (1 / 7, 0.0)
    assert at[0.91]["risk"] is None and at[0.91]["coverage"] == 0.0


def test_summary_needs_thresholds_and_confidences() -> None:
    summary = confidence.summary(QUERIES, {"customer": 0.85, "agent": 0.5})
    assert summary is not None
    assert list(summary["channels"]) == ["agent", "customer"]
    assert summary["channels"]["customer"]["coverage"] == 1 / 7
    assert confidence.summary(QUERIES, None) is None
    baseline = [{**q, "top": [{**t, "confidence": None} for t in q["top"]]} for q in QUERIES]
    assert confidence.summary(baseline, {"agent": 0.5}) is None
