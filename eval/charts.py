"""PNG charts of run records, drawn with matplotlib's Agg canvas (no pyplot, no display).

Chart text is ASCII on purpose: the default fonts have no CJK glyphs. The metric, latency,
reliability and risk–coverage charts show the full configuration (and the baselines where
they fit); the ablation variants have a chart of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from eval.ablation import BASELINE, FULL
from eval.metrics import MAIN_METRICS
from eval.report_format import label, variant

LABELS = {
    "mrr@10": "MRR@10",
    "recall@1": "R@1",
    "recall@5": "R@5",
    "recall@10": "R@10",
    "ndcg@10": "nDCG@10",
}


def _datasets(records: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["dataset"]["name"] for r in records))


def _main(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The full configuration's runs and the baselines (not the ablation variants)."""
    return [r for r in records if variant(r) in (FULL, BASELINE)]


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=110)
    return path


def metrics_by_mode(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """Grouped bars: each main metric per mode, one panel per dataset, 95% CI whiskers."""
    records = _main(records)
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
                label=_ascii(label(run)),
            )
        ax.set_xticks(x, [LABELS[m] for m in MAIN_METRICS])
        ax.set_ylim(0, 1)
        ax.set_title(_ascii(f"{name}: metric by mode (95% bootstrap CI)"))
        ax.legend(loc="upper left", fontsize="small")
        ax.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def latency(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """Per-query latency distribution per (dataset, mode) as box plots on a log scale."""
    records = _main(records)
    figure = Figure(figsize=(7.5, 3.6), layout="constrained")
    ax = figure.subplots()
    data = [[max(q["latency_ms"], 1e-3) for q in r["queries"]] for r in records]
    labels = [_ascii(f"{r['dataset']['name']}\n{label(r)}") for r in records]
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
    records = [r for r in records if variant(r) == FULL and r["calibration"]]
    names = _datasets(records) or ["no runs with confidences"]
    figure = Figure(figsize=(4.2 * len(names), 4.0), layout="constrained")
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
        for run in (r for r in records if r["dataset"]["name"] == name):
            bins = [b for b in run["calibration"]["bins"] if b["count"]]
            ax.plot(
                [b["confidence"] for b in bins],
                [b["accuracy"] for b in bins],
                marker="o",
                label=reliability_label(run),
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence of top suggestion (bin mean)")
        ax.set_ylabel("accuracy@1")
        ax.set_title(_ascii(f"{name}: confidence reliability"))
        ax.legend(loc="upper left", fontsize="small")
        ax.grid(alpha=0.3)
    return _save(figure, path)


def reliability_label(run: dict[str, Any]) -> str:
    """The mode, its ECE and the 95th percentile a calibrated confidence would show."""
    calibration = run["calibration"]
    ece, floor = calibration["ece"], calibration.get("ece_if_calibrated")
    if ece is None:
        return str(run["mode"])
    chance = f", by chance < {floor['p95']:.3f}" if floor else ""
    return f"{run['mode']} (ECE {ece:.3f}{chance})"


CHANNEL_MARKERS = {"customer": "v", "agent": "s"}


def risk_coverage(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """Coverage against the error rate of the answered as the abstain threshold sweeps, one
    curve per mode, each channel's threshold marked on it."""
    records = [r for r in records if variant(r) == FULL and r.get("confidence")]
    names = _datasets(records) or ["no runs with confidences"]
    figure = Figure(figsize=(4.4 * len(names), 4.0), layout="constrained")
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        for run in (r for r in records if r["dataset"]["name"] == name):
            curve = [p for p in run["confidence"]["risk_coverage"] if p["risk"] is not None]
            (line,) = ax.plot(
                [p["coverage"] for p in curve], [p["risk"] for p in curve], label=run["mode"]
            )
            for channel, c in run["confidence"]["channels"].items():
                if c["risk"] is None:
                    continue
                ax.plot(
                    [c["coverage"]],
                    [c["risk"]],
                    marker=CHANNEL_MARKERS.get(channel, "o"),
                    markersize=8,
                    color=line.get_color(),
                    linestyle="none",
                    label=_ascii(f"{run['mode']}: {channel} t={c['threshold']:.2f}"),
                )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("coverage (share of queries answered)")
        ax.set_ylabel("error rate of the answered")
        ax.set_title(_ascii(f"{name}: risk-coverage (threshold sweep)"))
        if ax.has_data():
            ax.legend(loc="upper left", fontsize="x-small")
        ax.grid(alpha=0.3)
    return _save(figure, path)


def ablation(records: Sequence[dict[str, Any]], path: Path) -> Path:
    """Per dataset, each variant's MRR@10 difference to the full configuration (hybrid) with
    its paired 95% bootstrap interval."""
    from eval import report_ablation

    seed = records[0]["params"]["seed"] if records else 0
    tables = {
        name: report_ablation.rows([r for r in records if r["dataset"]["name"] == name], seed=seed)
        for name in _datasets(records)
    }
    tables = {name: rows[1:] for name, rows in tables.items() if len(rows) > 1}
    names = list(tables) or ["no ablation runs"]
    height = max((len(rows) for rows in tables.values()), default=1)
    figure = Figure(figsize=(4.4 * len(names), 1.2 + 0.45 * height), layout="constrained")
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        rows = tables.get(name, [])
        y = np.arange(len(rows))
        diffs = [r["diff"] or 0.0 for r in rows]
        low = [max(d - (r["ci"] or (d, d))[0], 0.0) for d, r in zip(diffs, rows, strict=True)]
        high = [max((r["ci"] or (d, d))[1] - d, 0.0) for d, r in zip(diffs, rows, strict=True)]
        colors = ["tab:red" if d < 0 else "tab:green" for d in diffs]
        ax.barh(y, diffs, xerr=[low, high], capsize=3, color=colors)
        ax.set_yticks(y, [_ascii(r["variant"]) for r in rows])
        ax.invert_yaxis()
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set_xlabel("MRR@10 difference to full (paired 95% CI)")
        ax.set_title(_ascii(f"{name}: ablation (hybrid)"))
        ax.grid(axis="x", alpha=0.3)
    return _save(figure, path)
