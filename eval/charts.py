"""PNG charts of run records, drawn with matplotlib's Agg canvas (no pyplot, no display).

Chart text is ASCII on purpose: the default fonts have no CJK glyphs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eval.metrics import MAIN_METRICS

LABELS = {
    "mrr@10": "MRR@10",
    "recall@1": "R@1",
    "recall@5": "R@5",
    "recall@10": "R@10",
    "ndcg@10": "nDCG@10",
}


def _datasets(records: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["dataset"]["name"] for r in records))


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=110)
    return path


def metrics_by_mode(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """Grouped bars: each main metric per mode, one panel per dataset, 95% CI whiskers."""
    names = _datasets(records)
    figure = Figure(figsize=(7.5, 3.4 * len(names)), layout="constrained")
    axes = figure.subplots(len(names), 1, squeeze=False)[:, 0]
    for ax, name in zip(axes, names, strict=True):
        runs = [r for r in records if r["dataset"]["name"] == name]
        x = np.arange(len(MAIN_METRICS))
        width = 0.8 / max(len(runs), 1)
        for i, run in enumerate(runs):
            values, low, high = [], [], []
            for metric in MAIN_METRICS:
                entry = run["metrics"][metric]
                value = entry["value"] or 0.0
                ci = entry["ci"] or (value, value)
                values.append(value)
                low.append(max(value - ci[0], 0.0))
                high.append(max(ci[1] - value, 0.0))
            ax.bar(
                x + (i - (len(runs) - 1) / 2) * width,
                values,
                width,
                yerr=[low, high],
                capsize=3,
                label=run["mode"],
            )
        ax.set_xticks(x, [LABELS[m] for m in MAIN_METRICS])
        ax.set_ylim(0, 1)
        ax.set_title(_ascii(f"{name}: metric by mode (95% bootstrap CI)"))
        ax.legend(loc="upper left", fontsize="small")
        ax.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def latency(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """Per-query latency distribution per (dataset, mode) as box plots on a log scale."""
    figure = Figure(figsize=(7.5, 3.6), layout="constrained")
    ax = figure.subplots()
    data = [[max(q["latency_ms"], 1e-3) for q in r["queries"]] for r in records]
    labels = [_ascii(f"{r['dataset']['name']}\n{r['mode']}") for r in records]
    ax.boxplot(data, tick_labels=labels, whis=(1, 99), showfliers=False)
    for i, run in enumerate(records, start=1):
        p95 = run["latency"]["p95_ms"]
        ax.plot([i], [max(p95, 1e-3)], marker="v", color="tab:red")
    ax.set_yscale("log")
    ax.set_ylabel("ms per query (log)")
    ax.set_title("Search latency: box = p25-p75, whiskers p1-p99, red = p95")
    ax.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def reliability(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """Reliability diagram: top-1 accuracy against mean confidence per confidence bin."""
    names = _datasets(records)
    figure = Figure(figsize=(4.2 * len(names), 4.0), layout="constrained")
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
        for run in (r for r in records if r["dataset"]["name"] == name):
            bins = [b for b in run["calibration"]["bins"] if b["count"]]
            ece = run["calibration"]["ece"]
            ax.plot(
                [b["confidence"] for b in bins],
                [b["accuracy"] for b in bins],
                marker="o",
                label=f"{run['mode']} (ECE {ece:.3f})" if ece is not None else run["mode"],
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence of top suggestion (bin mean)")
        ax.set_ylabel("accuracy@1")
        ax.set_title(_ascii(f"{name}: confidence reliability"))
        ax.legend(loc="upper left", fontsize="small")
        ax.grid(alpha=0.3)
    return _save(figure, path)
