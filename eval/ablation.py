"""Ablation: the hybrid search with one part switched off, to show what each part is worth.

Each variant is a set of settings overrides (:class:`kb.settings.Settings`) relative to the
settings of the run; the runner re-indexes the same throwaway KB under them (vectors come from
the embedding cache, so a rebuild costs the lexical index and self-tuning, not the encoder)
and searches it in hybrid mode. Its records carry the variant's name; the full configuration's
are named :data:`FULL`. A variant that would change nothing under the run's settings (the
part is already off) is skipped, and so is one that would leave no vector kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kb.settings import Settings

FULL = "full"
BASELINE = "baseline"  # the simple setups of eval.baselines, beside the variants
MODE = "hybrid"  # variants run in this mode only


def _without(key: str, part: str) -> Callable[[Settings], dict[str, Any]]:
    def overrides(settings: Settings) -> dict[str, Any]:
        return {key: [p for p in getattr(settings, key) if p != part]}

    return overrides


# name → the overrides, from the run's settings
VARIANTS: dict[str, Callable[[Settings], dict[str, Any]]] = {
    "-entry": _without("vector_kinds", "entry"),  # no whole-entry (title + answer) vectors
    "-body": _without("vector_kinds", "body"),  # no answer-chunk vectors
    "-latent": _without("vector_kinds", "latent"),  # no latent terms (indexer.latent)
    "-reranker": lambda s: {"rerank": False},
    "-selftune": lambda s: {"self_tune": False},  # default fusion and confidence, no reranker
    "words-only": lambda s: {"lexical_channels": ["w"]},  # jieba words only
    "-pinyin": _without("lexical_channels", "p"),
}


def variants(settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    """(name, overrides) of every variant that changes something under ``settings``."""
    out = []
    for name, make in VARIANTS.items():
        overrides = make(settings)
        changes = any(getattr(settings, k) != v for k, v in overrides.items())
        empty = any(isinstance(v, list) and not v for v in overrides.values())
        if changes and not empty:
            out.append((name, overrides))
    return out
