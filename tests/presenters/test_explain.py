"""``--explain``: the parts shown add up to the ranking score, in every mode and fusion method."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from indexer.service import SearchService
from kb.db import open_database
from kb.settings import Settings
from presenters.explain import explain_line, score_terms
from tests.factories import ask
from tests.indexer.conftest import fill_kb


@pytest.fixture
def service(tmp_path: Path) -> Iterator[SearchService]:
    db = open_database("sqlite://", create=True)
    fill_kb(db)
    yield SearchService.open(Settings(data_dir=tmp_path, encoder="fake"), db)
    db.dispose()


def _check(service: SearchService, mode: str) -> None:
    fusion = service.index.fusion.to_json()
    for query in ("改号后旧号码还扣钱吗", "信用卡 PayPal", "5G套餐"):
        for s in service.search(ask(query, mode=mode, k=4)).suggestions:
            hub = service.index.dense.hub.get(s.table_id, 0.0)
            terms = score_terms(s.scores.as_dict(), fusion, mode=mode, hub=hub)
            # scores are rounded to 4 places: the sum agrees to that
            assert sum(t.contribution for t in terms) == pytest.approx(s.scores.score, abs=4e-4)
            line = explain_line(terms, s.scores.score)
            shown = [float(x) for x in re.findall(r"(?:= | )([+-]\d+\.\d{4}) \(", line)]
            assert len(shown) == len(terms)
            assert sum(shown) == pytest.approx(s.scores.score, abs=5e-4 * len(terms))


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_parts_add_up_to_the_score(service: SearchService, mode: str) -> None:
    _check(service, mode)


def test_parts_add_up_with_rank_fusion(service: SearchService) -> None:
    service.index.fusion = replace(service.index.fusion, method="rrf")
    _check(service, "hybrid")


def test_the_line_names_weights_and_the_hub_term() -> None:
    scores = {"score": 0.7323, "dense": 0.2649, "coverage": 0.7964, "feedback": 0.05}
    fusion = {"method": "blend", "dense_weight": 1.0, "lexical_weight": 0.7, "hub_weight": 0.3}
    terms = score_terms(scores, fusion, mode="hybrid", hub=0.3003)
    assert explain_line(terms, 0.7823) == (
        "score 0.7823 = +0.2649 (1.00 × dense 0.2649) -0.0901 (0.30 × hub 0.3003) "
        "+0.5575 (0.70 × coverage 0.7964) +0.0500 (votes)"
    )


def test_a_reranked_score_is_the_reranker_s_and_votes() -> None:
    scores = {"score": 2.35, "rerank": 2.3, "fused": 0.81, "feedback": 0.05, "dense": 0.5}
    fusion = {"method": "blend", "dense_weight": 1.0, "lexical_weight": 0.5, "hub_weight": 0.6}
    terms = score_terms(scores, fusion, mode="hybrid", hub=0.1)
    assert explain_line(terms, 2.35) == (
        "score 2.3500 = +2.3000 (LightGBM reranker; blend 0.8100) +0.0500 (votes)"
    )
