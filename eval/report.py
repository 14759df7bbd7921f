"""Writing a run's results: ``results.json``, ``report.md`` and its PNG charts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.extras import require
from eval.runner import results_document

RESULTS_FILE = "results.json"
REPORT_FILE = "report.md"
CHARTS = {  # file → drawing function in eval.charts (imported on use: matplotlib is an extra)
    "metrics_by_mode.png": "metrics_by_mode",
    "latency.png": "latency",
    "reliability.png": "reliability",
}
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


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def fmt_ci(entry: dict[str, Any]) -> str:
    if entry["value"] is None:
        return "–"
    if entry["ci"] is None:
        return fmt(entry["value"])
    low, high = entry["ci"]
    return f"{entry['value']:.3f} [{low:.3f}, {high:.3f}]"


def summary_rows(records: Sequence[dict[str, Any]]) -> list[list[str]]:
    """One row per run, in the order of :data:`SUMMARY_COLUMNS`."""
    rows = []
    for r in records:
        m = r["metrics"]
        rows.append(
            [
                r["dataset"]["name"],
                r["mode"],
                *(
                    fmt(m[key]["value"])
                    for key in ("mrr@10", "recall@1", "recall@5", "recall@10", "ndcg@10")
                ),
                fmt(r["latency"]["p50_ms"], 1),
                fmt(r["latency"]["p95_ms"], 1),
                fmt(r["build"]["total_s"], 1),
                fmt(r["memory"]["rss_mb"], 0),
            ]
        )
    return rows


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
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
        *_table(SUMMARY_COLUMNS, summary_rows(records)),
        "",
        "Build is import plus a cold index build (empty embedding cache), once per dataset and "
        "shared by its modes. RSS is the process's resident memory after the mode's queries. "
        "Latency is measured around `SearchService.search`, in-process; each mode loads the "
        "index afresh (no query vectors cached by another mode) and runs one untimed warm-up "
        "query that is not in the dataset.",
    ]
    for name in dict.fromkeys(r["dataset"]["name"] for r in records):
        runs = [r for r in records if r["dataset"]["name"] == name]
        ds = runs[0]["dataset"]
        build = runs[0]["build"]
        lines += [
            "",
            f"## {name}",
            "",
            f"{ds['entries']} entries ({ds['held_out_entries']} held out of the index), "
            f"{ds['queries']} queries ({ds['answerable_queries']} answerable, "
            f"{ds['held_out_queries']} whose answer was held out), "
            f"{ds['queries_with_hard_negatives']} with hard negatives. "
            f"Build: import {build['import_s']:.1f} s, index {build['index_s']:.1f} s.",
            "",
            "Metrics with 95% bootstrap intervals (answerable queries):",
            "",
            *_table(
                ("mode", "MRR@10", "R@1", "R@5", "R@10", "nDCG@10"),
                [
                    [
                        r["mode"],
                        *(
                            fmt_ci(r["metrics"][key])
                            for key in ("mrr@10", "recall@1", "recall@5", "recall@10", "ndcg@10")
                        ),
                    ]
                    for r in runs
                ],
            ),
            "",
            *_table(
                (
                    "mode",
                    "hard-negative rate (n)",
                    "abstention precision",
                    "abstention recall",
                    "false abstentions",
                    "ECE",
                    "p50 / p95 / p99 ms",
                    "load avg",
                ),
                [
                    [
                        r["mode"],
                        f"{fmt_ci(r['metrics']['hard_negative_rate'])} "
                        f"({r['metrics']['hard_negative_rate']['n']})",
                        fmt(r["abstention"]["precision"]),
                        fmt(r["abstention"]["recall"]),
                        fmt(r["abstention"]["false_abstention_rate"]),
                        fmt(r["calibration"]["ece"]),
                        " / ".join(fmt(r["latency"][p], 1) for p in ("p50_ms", "p95_ms", "p99_ms")),
                        fmt(r["machine"].get("load_avg_1m"), 2),
                    ]
                    for r in runs
                ],
            ),
        ]
    lines += [
        "",
        "Hard-negative rate: share of queries with labelled hard negatives where one is ranked "
        'above every relevant entry (lower is better). Abstention: "no confident answer" on '
        "queries whose entries were held out (precision, recall) and on answerable queries "
        "(false abstentions). ECE: expected calibration error of the top suggestion's "
        "confidence. Load avg: the machine's 1-minute load average when the mode finished "
        "(above the CPU count, other work was competing and latencies are inflated).",
    ]
    if chart_files:
        lines += ["", "## Charts", ""]
        lines += [f"![{Path(f).stem}]({f})" for f in chart_files]
    return "\n".join(lines) + "\n"


def write(records: Sequence[dict[str, Any]], out_dir: Path) -> dict[str, Path]:
    """Write the JSON results, the charts and the Markdown report into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    results = out_dir / RESULTS_FILE
    results.write_text(
        # compact: per-query records make this file large (MBs for a few thousand queries)
        json.dumps(results_document(list(records)), ensure_ascii=False, separators=(",", ":"))
        + "\n",
        encoding="utf-8",
    )
    written["json"] = results
    require("matplotlib", "kb eval --out (charts)")
    from eval import charts

    for filename, draw in CHARTS.items():
        written[filename] = getattr(charts, draw)(records, out_dir / filename)
    report = out_dir / REPORT_FILE
    report.write_text(markdown(records, list(CHARTS)), encoding="utf-8")
    written["markdown"] = report
    return written
