"""What was searched: the index's settings, what self-tuning chose and what the build cost.

Read from a run record's ``params.index`` (:func:`eval.sandbox.recorded_params`) and
``build``; records of older runs or of a fake KB lack parts, and those parts are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eval.report_format import fmt
from indexer import resemblance
from indexer.calibration import adjusted_note

_FUSION_SHOWN = (
    "lexical_weight",
    "lexical_body",
    "hub_weight",
    "title_weight",
    "body_weight",
    "entry_weight",
)


def settings_text(index: Mapping[str, Any]) -> str | None:
    """``vector kinds …; lexical channels …; self-tuning on; reranker allowed``."""
    settings = index.get("settings")
    if not settings:
        return None
    return (
        f"vector kinds {', '.join(settings['vector_kinds'])}; "
        f"lexical channels {', '.join(settings['lexical_channels'])}; "
        f"self-tuning {'on' if settings['self_tune'] else 'off'}; "
        f"reranker {'allowed' if settings['rerank'] else 'off'}"
    )


def pseudo_queries_text(tuning: Mapping[str, Any]) -> str:
    """How many pseudo-queries of which kind self-tuning searched."""
    counts = tuning.get("pseudo_queries") or {}
    total = sum(counts.values())
    kinds = ", ".join(f"{kind} {n}" for kind, n in counts.items())
    text = f"{total} pseudo-queries" + (f" ({kinds})" if kinds else "")
    if tuning.get("seed"):  # another draw than the default's (ZHIKU_TUNE_SEED)
        text += f", drawn with seed {tuning['seed']}"
    if "in_pool" in tuning:
        text += f"; {tuning['in_pool']} found their table among the candidates"
    if "unanswerable" in tuning:
        text += f", {tuning['unanswerable']} were asked without their table"
    return text


def fusion_text(tuning: Mapping[str, Any]) -> str | None:
    fusion = tuning.get("fusion")
    if not fusion:
        return None
    text = str(fusion.get("source", ""))
    if "best_mrr" in fusion:
        text += (
            f"; MRR@10 on pseudo-queries {fmt(fusion.get('default_mrr'))} with the defaults, "
            f"{fmt(fusion['best_mrr'])} at the grid's broad optimum"
        )
    chosen = fusion.get("chosen") or {}
    if chosen:
        text += "; weights " + ", ".join(
            f"{name} {chosen[name]}" for name in _FUSION_SHOWN if name in chosen
        )
    return text


def calibration_text(calibration: Mapping[str, Any]) -> str | None:
    if not calibration:
        return None
    text = str(calibration.get("source", ""))
    thresholds = calibration.get("thresholds") or {}
    if thresholds:
        text += "; thresholds " + ", ".join(
            f"{channel} {value:.2f}" for channel, value in sorted(thresholds.items())
        )
    if calibration.get("ece") is not None:
        text += f"; ECE on those queries {calibration['ece']:.3f}" + adjusted_note(calibration)
    return text


def tuning_lines(index: Mapping[str, Any]) -> list[str]:
    """Markdown bullets: settings, pseudo-queries, fusion, reranker, confidence."""
    lines = []
    settings = settings_text(index)
    if settings:
        lines.append(f"- Index: {settings}.")
    tuning = index.get("tuning") or {}
    if "pseudo_queries" in tuning:
        lines.append(f"- Self-tuning: {pseudo_queries_text(tuning)}.")
        if tuning.get("log"):
            lines.append(f"- Query log: {resemblance.describe(tuning['log'])}.")
        fusion = fusion_text(tuning)
        if fusion:
            lines.append(f"- Fusion: {fusion}.")
    elif "tuning" in index:  # saved by a build without self-tuning
        lines.append("- Self-tuning: off; default fusion weights.")
    reranker = (index.get("reranker") or {}).get("status")
    if reranker:
        lines.append(f"- Reranker: {reranker}.")
    calibration = calibration_text(index.get("calibration") or {})
    if calibration:
        lines.append(f"- Confidence: {calibration}.")
    return lines


def tuning_brief(index: Mapping[str, Any]) -> str:
    """One cell: fusion tuned or default, reranker kept or not, confidence fitted or default."""
    tuning = index.get("tuning") or {}
    if "pseudo_queries" not in tuning:
        return "off" if "tuning" in index else "–"
    fusion = str((tuning.get("fusion") or {}).get("source", "–"))
    reranker = tuning.get("reranker") or {}
    kept = "reranker kept" if reranker.get("kept") else "no reranker"
    source = str((index.get("calibration") or {}).get("source", ""))
    confidence = "default confidence" if source.startswith("default") else "fitted confidence"
    fusion_word = "tuned fusion" if fusion == "pseudo-queries" else "default fusion"
    return f"{fusion_word}, {kept}, {confidence}"


def build_text(build: Mapping[str, Any]) -> str:
    """``import 1.0 s, index 2.0 s; embedding cache 10 hits, 2 misses``."""
    text = f"import {build['import_s']:.1f} s, index {build['index_s']:.1f} s"
    cache = build.get("embedding_cache") or {}
    if cache:
        text += (
            f"; embedding cache {cache['hits']} hits, {cache['misses']} misses "
            "(texts looked up: passages and pseudo-queries)"
        )
    return text
