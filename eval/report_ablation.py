"""The report's ablation table: each variant against the full configuration, hybrid mode.

The difference to ``full`` is the paired bootstrap of :func:`eval.compare.difference` over
the per-query MRR@10 (the variants search the same queries over the same entries).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eval.ablation import BASELINE, FULL, MODE
from eval.compare import difference, per_query
from eval.report_format import fmt, fmt_ci, fmt_diff, table, variant
from eval.report_index import tuning_brief

COLUMNS = (
    "variant",
    "MRR@10",
    "R@1",
    "R@10",
    "MRR@10 − full [95%]",
    "index s",
    "self-tuning",
)


def rows(runs: Sequence[dict[str, Any]], *, seed: int) -> list[dict[str, Any]]:
    """Per hybrid run of one dataset (full first): its figures and its difference to full."""
    hybrid = [r for r in runs if r["mode"] == MODE and variant(r) != BASELINE]
    full = next((r for r in hybrid if variant(r) == FULL), None)
    if full is None or len(hybrid) < 2:
        return []
    out = []
    for run in [full, *(r for r in hybrid if r is not full)]:
        d = difference(per_query(full, "mrr@10"), per_query(run, "mrr@10"), seed=seed)
        out.append(
            {
                "variant": variant(run),
                "mrr@10": run["metrics"]["mrr@10"],
                "recall@1": run["metrics"]["recall@1"]["value"],
                "recall@10": run["metrics"]["recall@10"]["value"],
                "diff": None if run is full else d["diff"],
                "ci": None if run is full else d["ci"],
                "index_s": run["build"]["index_s"],
                "tuning": tuning_brief(run["params"]["index"]),
            }
        )
    return out


def section(runs: Sequence[dict[str, Any]], *, seed: int) -> list[str]:
    """Markdown lines of the ablation table; empty when no variant was run."""
    found = rows(runs, seed=seed)
    if not found:
        return []
    return [
        "",
        "Ablation (hybrid; each variant re-indexes the same KB with one part switched off; "
        "the difference is paired over the same queries):",
        "",
        *table(
            COLUMNS,
            [
                [
                    r["variant"],
                    fmt_ci(r["mrr@10"]),
                    fmt(r["recall@1"]),
                    fmt(r["recall@10"]),
                    fmt_diff(r["diff"], r["ci"]),
                    fmt(r["index_s"], 1),
                    r["tuning"],
                ]
                for r in found
            ],
        ),
    ]
