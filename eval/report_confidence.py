"""The report's confidence section: each channel at its threshold, and the reliability table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eval.report_format import fmt, fmt_calibrated_ece, label, table

CHANNEL_COLUMNS = (
    "mode",
    "channel",
    "threshold",
    "coverage",
    "answered and wrong",
    "error rate of the answered",
    "abstention precision",
    "abstention recall",
    "false abstentions",
)


def channel_rows(runs: Sequence[dict[str, Any]]) -> list[list[str]]:
    """One row per (run, channel) of the runs that have confidences."""
    rows = []
    for run in runs:
        summary = run.get("confidence")
        if not summary:
            continue
        for name, c in summary["channels"].items():
            abstention = c["abstention"]
            rows.append(
                [
                    label(run),
                    name,
                    f"{c['threshold']:.2f}",
                    fmt(c["coverage"]),
                    fmt(c["answered_wrong_rate"]),
                    fmt(c["risk"]),
                    fmt(abstention["precision"]),
                    fmt(abstention["recall"]),
                    fmt(abstention["false_abstention_rate"]),
                ]
            )
    return rows


def reliability_rows(run: dict[str, Any]) -> list[list[str]]:
    """The run's confidence bins that hold queries."""
    return [
        [
            f"{b['low']:.1f}–{b['high']:.1f}",
            str(b["count"]),
            fmt(b["confidence"]),
            fmt(b["accuracy"]),
        ]
        for b in run["calibration"]["bins"]
        if b["count"]
    ]


def section(runs: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines: the per-channel table, then the reliability of the hybrid run (or the
    first run with confidences). Empty when no run has confidences."""
    rows = channel_rows(runs)
    if not rows:
        return []
    calibrated = [r for r in runs if r.get("calibration")]
    shown = next((r for r in calibrated if r["mode"] == "hybrid"), calibrated[0])
    source = (shown["params"]["index"].get("calibration") or {}).get("source")
    lines = [
        "",
        "Confidence per channel, each at the threshold the index chose for it"
        + (f" ({source})" if source else "")
        + ": coverage is the share of all queries answered, answered and wrong the share of "
        "all queries answered with a wrong top suggestion; abstention against the queries "
        "whose answer was held out of the index.",
        "",
        *table(CHANNEL_COLUMNS, rows),
        "",
        f"Reliability of the top suggestion's confidence, {label(shown)} "
        f"(ECE {fmt(shown['calibration']['ece'])}; a perfectly calibrated confidence would show "
        f"{fmt_calibrated_ece(shown['calibration'])} (mean / p95) on as many queries):",
        "",
        *table(("confidence", "queries", "mean confidence", "accuracy@1"), reliability_rows(shown)),
    ]
    return lines
