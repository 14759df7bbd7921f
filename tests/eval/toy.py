"""A hand-sized dataset and a fake search service with fixed rankings, for runner tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eval.datasets import Dataset
from eval.sandbox import EvalKB
from kb.search_contract import MatchedField, SearchRequest, SearchResult
from tests.factories import make_scores, make_suggestion

ENTRIES = [
    {"id": "e1", "question": "怎么改号", "answer": "到营业厅办理改号。", "category": "通信"},
    {"id": "e2", "question": "宽带坏了找谁", "answer": "", "category": "通信"},
    {"id": "e3", "question": "话费怎么查", "answer": "发送短信CXHF到10086。", "category": None},
    {"id": "e4", "question": "账单在哪里看", "answer": "", "category": None},
    {"id": "e5", "question": "套餐怎么换", "answer": "在营业厅或APP办理。", "category": None},
]
QUERIES = [
    {"qid": "q1", "query": "换号码", "relevant": ["e1"], "hard_negatives": ["e2"]},
    {"qid": "q2", "query": "网断了", "relevant": ["e2"], "hard_negatives": ["e3"]},
    {"qid": "q3", "query": "查话费账单", "relevant": ["e3", "e4"]},
    {"qid": "q4", "query": "改套餐", "relevant": ["e5"]},
]
# Rankings the fake returns: (entry id, score, confidence). q2 has its relevant entry tied
# with a hard negative at rank 1; q4 gets nothing and abstains.
RANKINGS: dict[str, list[tuple[str, float, float]]] = {
    "换号码": [("e1", 3.0, 0.9), ("e2", 1.0, 0.3), ("e3", 0.5, 0.1)],
    "网断了": [("e3", 2.0, 0.6), ("e2", 2.0, 0.6), ("e1", 1.0, 0.2)],
    "查话费账单": [("e4", 5.0, 0.95), ("e1", 4.0, 0.5), ("e5", 3.0, 0.4), ("e3", 2.0, 0.3)],
    "改套餐": [],
}
# What the fake's index is re-indexed into without a reranker (eval.ablation "-reranker"): q1
# finds its entry second. Every other variant ranks as the full configuration does.
WITHOUT_RERANKER = {**RANKINGS, "换号码": [("e2", 3.0, 0.9), ("e1", 1.0, 0.3)]}
THRESHOLDS = {"agent": 0.5, "customer": 0.7}


def write_toy(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in (("entries.jsonl", ENTRIES), ("queries.jsonl", QUERIES)):
        lines = [json.dumps(row, ensure_ascii=False) for row in rows]
        (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


class FakeService:
    """Same ``search`` signature as indexer.service.SearchService; fixed rankings by query."""

    def __init__(
        self,
        held_out: frozenset[str] = frozenset(),
        threshold: float = 0.5,
        calls: list[tuple[str, str, int]] | None = None,
        rankings: dict[str, list[tuple[str, float, float]]] | None = None,
    ) -> None:
        self.held_out = held_out
        self.threshold = threshold
        self.calls = [] if calls is None else calls
        self.rankings = RANKINGS if rankings is None else rankings

    def search(self, request: SearchRequest) -> SearchResult:
        query, k = request.query, request.k
        self.calls.append((query, request.mode, k))
        rows = [r for r in self.rankings.get(query, []) if r[0] not in self.held_out][:k]
        suggestions = tuple(
            make_suggestion(
                f"T-{entry}",
                i,
                conf,
                title=entry,
                scores=make_scores(score, bm25=score, lexical_rank=i, dense_rank=None),
                matched=MatchedField("title", "标题", entry, ()),
            )
            for i, (entry, score, conf) in enumerate(rows, start=1)
        )
        abstained = not suggestions or suggestions[0].confidence < self.threshold
        return SearchResult(
            query=query,
            normalized=query,
            channel=request.channel,
            mode=request.mode,
            suggestions=suggestions,
            abstained=abstained,
            threshold=self.threshold,
            filtered=0,
            timings={"total_ms": 0.1},
        )


@contextmanager
def fake_kb(
    dataset: Dataset,
    settings: Any,
    *,
    held_out: frozenset[str] = frozenset(),
    progress: Any = None,
    calls: list[tuple[str, str, int]] | None = None,
) -> Iterator[EvalKB]:
    """Stands in for eval.sandbox.temporary_kb; ``calls`` collects (query, mode, k).

    Re-indexing for an ablation variant gives a fake whose index params carry the overrides.
    """
    if progress is not None:
        progress(len(dataset.entries) - len(held_out), len(dataset.entries) - len(held_out))
    codes = {f"T-{e.id}": e.id for e in dataset.entries}

    def kb(overrides: dict[str, Any]) -> EvalKB:
        rankings = WITHOUT_RERANKER if overrides.get("rerank") is False else RANKINGS
        return EvalKB(
            open_service=lambda: FakeService(held_out, calls=calls, rankings=rankings),
            codes=codes,
            import_s=0.25 if not overrides else 0.0,
            index_s=0.5,
            encoder="fake-for-tests",
            index_params={
                "rrf_k": 60,
                "calibration": {"thresholds": THRESHOLDS, "source": "fixed for tests"},
                **({"overrides": overrides} if overrides else {}),
            },
            embedding_cache={"path": None, "hits": 7, "misses": 2},
            rebuild=kb,
        )

    yield kb({})
