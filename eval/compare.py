"""Comparing two results files run by run (same dataset, variant and mode), with intervals.

Each metric's difference B − A gets a 95% bootstrap interval. When both runs scored the same
queries (same qids: same dataset, holdout and seed) the interval is *paired*: per-query
differences are resampled, which is far tighter than comparing two separate intervals.
Otherwise each side is resampled on its own. An interval that excludes 0 is reported as a
difference; one that contains 0 as "no clear difference".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from eval import metrics
from eval.ablation import FULL
from eval.errors import ResultsInvalid
from eval.runner import FORMAT

COMPARED = (*metrics.MAIN_METRICS, "hard_negative")
LOWER_IS_BETTER = {"hard_negative"}


def load_results(path: Path) -> list[dict[str, Any]]:
    """The run records of a results file written by ``kb eval --out``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsInvalid(
            f"No results file at {path}; run `kb eval DATASET --out DIR` first."
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsInvalid(f"{path} is not a JSON results file: {err}.") from None
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or not isinstance(data.get("runs"), list)
    ):
        raise ResultsInvalid(
            f"{path} is not a `kb eval` results file (expected format {FORMAT!r}); "
            "pass the results.json from a `kb eval --out DIR` run."
        )
    runs: list[dict[str, Any]] = data["runs"]
    return runs


def per_query(run: dict[str, Any], metric: str) -> dict[str, float]:
    """The metric per qid, over the queries it applies to."""
    return {
        q["qid"]: q["metrics"][metric]
        for q in run["queries"]
        if q["metrics"] is not None and q["metrics"].get(metric) is not None
    }


def difference(
    a: dict[str, float], b: dict[str, float], *, seed: int, samples: int = metrics.BOOTSTRAP_SAMPLES
) -> dict[str, Any]:
    """Mean of B minus mean of A with a 95% bootstrap interval; paired when the qids agree."""
    if not a or not b:
        return {
            "a": metrics.mean(list(a.values())),
            "b": metrics.mean(list(b.values())),
            "diff": None,
            "ci": None,
            "paired": False,
        }
    mean_a = float(np.mean(list(a.values())))
    mean_b = float(np.mean(list(b.values())))
    if a.keys() == b.keys():
        deltas = [b[q] - a[q] for q in sorted(a)]
        ci = metrics.bootstrap_ci(deltas, seed=seed, samples=samples)
        paired = True
    else:
        rng = np.random.default_rng(seed)
        va = np.asarray(list(a.values()))
        vb = np.asarray(list(b.values()))
        ma = va[rng.integers(0, len(va), size=(samples, len(va)))].mean(axis=1)
        mb = vb[rng.integers(0, len(vb), size=(samples, len(vb)))].mean(axis=1)
        low, high = np.percentile(mb - ma, [2.5, 97.5])
        ci = (float(low), float(high))
        paired = False
    return {"a": mean_a, "b": mean_b, "diff": mean_b - mean_a, "ci": ci, "paired": paired}


def verdict(metric: str, ci: tuple[float, float] | None) -> str:
    if ci is None:
        return "n/a"
    low, high = ci
    if low <= 0 <= high:
        return "no clear difference"
    better = high < 0 if metric in LOWER_IS_BETTER else low > 0
    return "B better" if better else "B worse"


def compare(
    runs_a: list[dict[str, Any]], runs_b: list[dict[str, Any]], *, seed: int = 0
) -> dict[str, Any]:
    """Differences for every (dataset, variant, mode) present in both, and what is only in one.

    Records written before variants existed count as variant ``full``.
    """
    by_key_a = {_key(r): r for r in runs_a}
    by_key_b = {_key(r): r for r in runs_b}
    pairs = []
    for key in by_key_a:
        if key not in by_key_b:
            continue
        a, b = by_key_a[key], by_key_b[key]
        rows = []
        for metric in COMPARED:
            d = difference(per_query(a, metric), per_query(b, metric), seed=seed)
            rows.append({"metric": metric, **d, "verdict": verdict(metric, d["ci"])})
        latency = {
            p: {
                "a": a["latency"][p],
                "b": b["latency"][p],
                "diff": b["latency"][p] - a["latency"][p],
            }
            for p in ("p50_ms", "p95_ms", "p99_ms")
        }
        pairs.append(
            {
                "dataset": key[0],
                "variant": key[1],
                "mode": key[2],
                "a": {
                    "commit": a["git"]["commit"],
                    "encoder": a["encoder"],
                    "created_at": a["created_at"],
                },
                "b": {
                    "commit": b["git"]["commit"],
                    "encoder": b["encoder"],
                    "created_at": b["created_at"],
                },
                "metrics": rows,
                "latency": latency,
                "build_s": {"a": a["build"]["total_s"], "b": b["build"]["total_s"]},
            }
        )
    return {
        "compared": pairs,
        "only_in_a": [list(k) for k in by_key_a if k not in by_key_b],
        "only_in_b": [list(k) for k in by_key_b if k not in by_key_a],
    }


def _key(run: dict[str, Any]) -> tuple[str, str, str]:
    return (run["dataset"]["name"], str(run.get("variant") or FULL), run["mode"])
