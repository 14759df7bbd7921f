"""Number formats, run labels and Markdown tables shared by the report's sections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eval.ablation import BASELINE, FULL


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_calibrated_ece(calibration: Mapping[str, Any]) -> str:
    """ "mean / p95" of what a perfectly calibrated confidence would show (``kb eval`` reports),
    or "–" (no confidences, or a results file written before it was measured)."""
    floor = calibration.get("ece_if_calibrated")
    return "–" if not floor else f"{fmt(floor['mean'])} / {fmt(floor['p95'])}"


def fmt_ci(entry: Mapping[str, Any]) -> str:
    if entry["value"] is None:
        return "–"
    if entry["ci"] is None:
        return fmt(entry["value"])
    low, high = entry["ci"]
    return f"{entry['value']:.3f} [{low:.3f}, {high:.3f}]"


def fmt_diff(diff: float | None, ci: Sequence[float] | None) -> str:
    if diff is None:
        return "–"
    if ci is None:
        return f"{diff:+.3f}"
    return f"{diff:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]"


def variant(record: Mapping[str, Any]) -> str:
    """The record's variant; records written before variants existed are the full one."""
    return str(record.get("variant") or FULL)


def label(record: Mapping[str, Any]) -> str:
    """What searched, for tables: the mode, ``baseline MODE`` or ``MODE VARIANT``."""
    name = variant(record)
    if name == FULL:
        return str(record["mode"])
    if name == BASELINE:
        return f"baseline {record['mode']}"
    return f"{record['mode']} {name}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines
