"""Writing a run's results: ``results.json``, ``report.md`` and its PNG charts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval import baselines, report_ablation, report_confidence
from eval.ablation import BASELINE, FULL
from eval.extras import require
from eval.report_format import fmt as fmt
from eval.report_format import fmt_calibrated_ece, label, table, variant
from eval.report_format import fmt_ci as fmt_ci
from eval.report_index import build_text, tuning_lines
from eval.runner import results_document

RESULTS_FILE = "results.json"
REPORT_FILE = "report.md"
CHARTS = {  # file → drawing function in eval.charts (imported on use: matplotlib is an extra)
    "metrics_by_mode.png": "metrics_by_mode",
    "latency.png": "latency",
    "reliability.png": "reliability",
    "risk_coverage.png": "risk_coverage",
}
ABLATION_CHART = ("ablation.png", "ablation")  # only when variants were run
SUMMARY_COLUMNS = (
    "dataset",
    "mode",
    "MRR@10",
    "R@1",
    "R@5",
    "R@10",
    "nDCG@10",
    "p50 ms",
    "p95 ms",
    "build s",
    "RSS MiB",
)
METRIC_KEYS = ("mrr@10", "recall@1", "recall@5", "recall@10", "ndcg@10")


def summary_rows(records: Sequence[dict[str, Any]]) -> list[list[str]]:
    """One row per run, in the order of :data:`SUMMARY_COLUMNS`."""
    rows = []
    for r in records:
        m = r["metrics"]
        rows.append(
            [
                r["dataset"]["name"],
                label(r),
                *(fmt(m[key]["value"]) for key in METRIC_KEYS),
                fmt(r["latency"]["p50_ms"], 1),
                fmt(r["latency"]["p95_ms"], 1),
                fmt(r["build"]["total_s"], 1),
                fmt(r["memory"]["rss_mb"], 0),
            ]
        )
    return rows


def _system(record: dict[str, Any]) -> str:
    """The metrics table's first cell: Zhiku's mode, or what a baseline is."""
    if variant(record) == BASELINE:
        return f"baseline: {baselines.LABELS.get(record['mode'], record['mode'])}"
    return f"Zhiku {label(record)}"


def _metrics_table(runs: Sequence[dict[str, Any]]) -> list[str]:
    return table(
        ("system", "MRR@10", "R@1", "R@5", "R@10", "nDCG@10"),
        [[_system(r), *(fmt_ci(r["metrics"][key]) for key in METRIC_KEYS)] for r in runs],
    )


def _details_table(runs: Sequence[dict[str, Any]]) -> list[str]:
    rows = []
    for r in runs:
        abstention = r["abstention"] or {}
        calibration = r["calibration"] or {}
        rows.append(
            [
                label(r),
                f"{fmt_ci(r['metrics']['hard_negative_rate'])} "
                f"({r['metrics']['hard_negative_rate']['n']})",
                fmt(abstention.get("precision")),
                fmt(abstention.get("recall")),
                fmt(abstention.get("false_abstention_rate")),
                fmt(calibration.get("ece")),
                fmt_calibrated_ece(calibration),
                " / ".join(fmt(r["latency"][p], 1) for p in ("p50_ms", "p95_ms", "p99_ms")),
                fmt(r["machine"].get("load_avg_1m"), 2),
            ]
        )
    return table(
        (
            "mode",
            "hard-negative rate (n)",
            "abstention precision",
            "abstention recall",
            "false abstentions",
            "ECE",
            "ECE if calibrated (mean / p95)",
            "p50 / p95 / p99 ms",
            "load avg",
        ),
        rows,
    )


def _dataset_section(name: str, runs: Sequence[dict[str, Any]], seed: int) -> list[str]:
    shown = [r for r in runs if variant(r) in (FULL, BASELINE)]
    full = [r for r in runs if variant(r) == FULL] or list(runs)
    ds = full[0]["dataset"]
    lines = [
        "",
        f"## {name}",
        "",
        f"{ds['entries']} entries ({ds['held_out_entries']} held out of the index), "
        f"{ds['queries']} queries ({ds['answerable_queries']} answerable, "
        f"{ds['held_out_queries']} whose answer was held out), "
        f"{ds['queries_with_hard_negatives']} with hard negatives. "
        f"Build: {build_text(full[0]['build'])}.",
    ]
    logged = ds.get("logged_queries")
    if logged:
        lines.append(
            f"{logged} more queries were logged (without their answers) before the build, as a "
            "KB in use has its users' questions logged: self-tuning compares its pseudo-queries "
            "with them; they are not measured (`--log-share`)."
        )
    confirmed = ds.get("confirmed_queries")
    if confirmed:
        top_k = full[0]["params"].get("confirm_shown")
        lines.append(
            f"{confirmed} more queries were confirmed into the KB's golden set before the build "
            "(self-tuning fits confidence on them) and are not measured (`--confirm-share`"
            + (
                f"; only those a first build showed in its top {top_k}, as agents' helpful "
                "votes would, `--confirm-shown`)."
                if top_k
                else ")."
            )
        )
    tuning = tuning_lines(full[0]["params"]["index"])
    if tuning:
        lines += ["", "What the index holds and what self-tuning chose:", "", *tuning]
    lines += [
        "",
        "Metrics with 95% bootstrap intervals (answerable queries):",
        "",
        *_metrics_table(shown),
        "",
        *_details_table(shown),
        *report_confidence.section(full),
        *report_ablation.section(runs, seed=seed),
    ]
    return lines


def markdown(records: Sequence[dict[str, Any]], chart_files: Sequence[str] = ()) -> str:
    """The report for people: summary table, then per dataset the details with intervals."""
    if not records:
        return "# Zhiku retrieval benchmark\n\nNo runs.\n"
    first = records[0]
    git = first["git"]
    machine = first["machine"]
    params = first["params"]
    lines = [
        "# Zhiku retrieval benchmark",
        "",
        f"- date (UTC): {first['created_at']}",
        f"- commit: {git['commit'] or 'unknown'}{' (uncommitted changes)' if git['dirty'] else ''}",
        f"- encoder: {first['encoder']}",
        f"- machine: {machine['cpu_count']} CPUs, {machine['memory_gb']} GB, {machine['platform']}, "
        f"Python {machine['python']}",
        f"- parameters: k={params['k']}, seed={params['seed']}, holdout={params['holdout']}, "
        f"channel={params['channel']}, bootstrap samples={params['bootstrap_samples']}",
        "",
        "## Summary",
        "",
        *table(SUMMARY_COLUMNS, summary_rows(records)),
        "",
        "Build is import plus index build (with self-tuning), once per dataset and shared by "
        "its modes; embeddings come from the shared cache when an earlier run encoded the same "
        "texts (the hits and misses are given per dataset). RSS is the process's resident "
        "memory after the mode's queries. Latency is measured around `SearchService.search`, in-process; each mode loads the "
        "index afresh (no query vectors cached by another mode) and runs one untimed warm-up "
        "query that is not in the dataset.",
    ]
    for name in dict.fromkeys(r["dataset"]["name"] for r in records):
        runs = [r for r in records if r["dataset"]["name"] == name]
        lines += _dataset_section(name, runs, params["seed"])
    lines += [
        "",
        "Hard-negative rate: share of queries with labelled hard negatives where one is ranked "
        'above every relevant entry (lower is better). Abstention: "no confident answer" on '
        "queries whose entries were held out (precision, recall) and on answerable queries "
        "(false abstentions). ECE: expected calibration error of the top suggestion's "
        "confidence; ECE if calibrated: what a perfectly calibrated confidence would show on "
        "the same confidences and number of queries (each answer drawn right as often as its "
        "confidence says, 1,000 seeded draws: the mean and the 95th percentile), so an ECE "
        "under that percentile is no evidence of miscalibration. Load avg: the machine's "
        "1-minute load average when the mode finished "
        "(above the CPU count, other work was competing and latencies are inflated). "
        "Baselines (`--baselines`, eval/baselines.py) are the simple setups a new user would "
        "try, on the same entries, queries and encoder; they have no confidence. The "
        "risk–coverage chart sweeps the abstain threshold: coverage (share answered) against "
        "the error rate of the answered, with each channel's threshold marked.",
    ]
    if chart_files:
        lines += ["", "## Charts", ""]
        lines += [f"![{Path(f).stem}]({f})" for f in chart_files]
    return "\n".join(lines) + "\n"


def _ablation_summary(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per dataset, the ablation table's rows (the report's figures, for scripts)."""
    if not records:
        return {}
    seed = records[0]["params"]["seed"]
    out = {}
    for name in dict.fromkeys(r["dataset"]["name"] for r in records):
        rows = report_ablation.rows([r for r in records if r["dataset"]["name"] == name], seed=seed)
        if rows:
            out[name] = rows
    return out


def write(records: Sequence[dict[str, Any]], out_dir: Path) -> dict[str, Path]:
    """Write the JSON results, the charts and the Markdown report into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    results = out_dir / RESULTS_FILE
    document = results_document(list(records))
    ablation = _ablation_summary(records)
    if ablation:
        document["ablation"] = ablation
    results.write_text(
        # compact: per-query records make this file large (MBs for a few thousand queries)
        json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n",
        encoding="utf-8",
    )
    written["json"] = results
    require("matplotlib", "kb eval --out (charts)")
    from eval import charts

    drawn = dict(CHARTS)
    if any(variant(r) not in (FULL, BASELINE) for r in records):
        drawn[ABLATION_CHART[0]] = ABLATION_CHART[1]
    for filename, draw in drawn.items():
        written[filename] = getattr(charts, draw)(records, out_dir / filename)
    report = out_dir / REPORT_FILE
    report.write_text(markdown(records, list(drawn)), encoding="utf-8")
    written["markdown"] = report
    return written
