"""The report's account of the index: settings, self-tuning's choices, the build's cache use."""

from __future__ import annotations

from typing import Any

from eval.report_index import build_text, calibration_text, tuning_brief, tuning_lines

# the shape indexer.store saves (values from a demo KB build, fake encoder)
TUNED: dict[str, Any] = {
    "vector_kinds": ["body", "entry", "question", "title"],
    "tuning": {
        "seed": 0,
        "pseudo_queries": {"question": 233, "answer": 233, "title": 150},
        "in_pool": 532,
        "unanswerable": 84,
        "fusion": {
            "source": "pseudo-queries",
            "tuned": ["lexical_weight", "lexical_body", "hub_weight", "body_weight"],
            "default_mrr": 0.6188,
            "best_mrr": 0.708,
            "chosen": {
                "lexical_weight": 1.0,
                "lexical_body": 1.0,
                "hub_weight": 0.6,
                "body_weight": 0.8,
                "entry_weight": 0.9,
            },
        },
        "reranker": {"kept": True, "trained_on": 532},
    },
    "reranker": {"status": "LightGBM LambdaRank on 532 pseudo-queries", "scale": 7.1},
    "calibration": {
        "thresholds": {"customer": 0.65, "agent": 0.05},
        "fitted_on": 616,
        "source": "616 pseudo-queries (reranker scores, out of fold)",
        "ece": 0.0299,
    },
    "settings": {
        "vector_kinds": ["title", "question", "body", "entry"],
        "lexical_channels": ["w", "c", "b", "p"],
        "self_tune": True,
        "rerank": True,
    },
}


def test_what_self_tuning_chose_in_words() -> None:
    assert tuning_lines(TUNED) == [
        "- Index: vector kinds title, question, body, entry; lexical channels w, c, b, p; "
        "self-tuning on; reranker allowed.",
        "- Self-tuning: 616 pseudo-queries (question 233, answer 233, title 150); 532 found "
        "their table among the candidates, 84 were asked without their table.",
        "- Fusion: pseudo-queries; MRR@10 on pseudo-queries 0.619 with the defaults, 0.708 at "
        "the grid's broad optimum; weights lexical_weight 1.0, lexical_body 1.0, hub_weight 0.6, "
        "body_weight 0.8, entry_weight 0.9.",
        "- Reranker: LightGBM LambdaRank on 532 pseudo-queries.",
        "- Confidence: 616 pseudo-queries (reranker scores, out of fold); thresholds agent "
        "0.05, customer 0.65; ECE on those queries 0.030.",
    ]
    assert tuning_brief(TUNED) == "tuned fusion, reranker kept, fitted confidence"
    reseeded = {**TUNED, "tuning": {**TUNED["tuning"], "seed": 3}}
    assert tuning_lines(reseeded)[1].startswith(
        "- Self-tuning: 616 pseudo-queries (question 233, answer 233, title 150), drawn with "
        "seed 3; 532 found"
    )


def test_a_shifted_fit_says_its_ece_is_the_one_before_the_shift() -> None:
    content = {**TUNED["calibration"], "source": "233 answer spans and 150 titles", "shift": 1.0}
    assert calibration_text(content) == (
        "233 answer spans and 150 titles; thresholds agent 0.05, customer 0.65; "
        "ECE on those queries 0.030 (before the shift)"
    )
    assert calibration_text(TUNED["calibration"]).endswith("ECE on those queries 0.030")
    steeper = {**content, "steepness": 1.25}
    assert calibration_text(steeper).endswith(
        "ECE on those queries 0.030 (before the shift and the steepening)"
    )


def test_self_tuning_switched_off_and_defaults_kept() -> None:
    off = {  # what a build with ZHIKU_SELF_TUNE=false saves
        **TUNED,
        "tuning": {"fusion": {"source": "default (self-tuning off)"}},
        "reranker": {"status": "not trained (self-tuning off): the blend ranks"},
        "calibration": {
            "thresholds": {"customer": 0.6, "agent": 0.2},
            "source": "default (self-tuning off)",
        },
        "settings": {**TUNED["settings"], "self_tune": False},
    }
    assert tuning_lines(off)[1:] == [
        "- Self-tuning: off; default fusion weights.",
        "- Reranker: not trained (self-tuning off): the blend ranks.",
        "- Confidence: default (self-tuning off); thresholds agent 0.20, customer 0.60.",
    ]
    assert tuning_lines({**off, "tuning": {}})[1] == "- Self-tuning: off; default fusion weights."
    assert tuning_brief(off) == "off"
    few = {
        **TUNED,
        "tuning": {"pseudo_queries": {"answer": 3, "title": 5}, "fusion": {"source": "default"}},
        "calibration": {"source": "default (8 pseudo-queries)"},
    }
    assert tuning_brief(few) == "default fusion, no reranker, default confidence"
    assert tuning_brief({"rrf_k": 60}) == "–"  # a record without tuning (a fake, an old run)


def test_build_text_names_the_cache_use() -> None:
    build = {"import_s": 1.25, "index_s": 30.0}
    assert build_text(build) == "import 1.2 s, index 30.0 s"
    cached = {**build, "embedding_cache": {"path": "/c", "hits": 900, "misses": 12}}
    assert build_text(cached) == (
        "import 1.2 s, index 30.0 s; embedding cache 900 hits, 12 misses "
        "(texts looked up: passages and pseudo-queries)"
    )


def test_what_the_query_log_said_is_reported() -> None:
    log = {
        "questions": 116,
        "odds": {"answer": 1.764, "reworded": 0.778, "title": 0.159},
        "tuned_on": "reworded answer spans instead of titles",
    }
    logged = {**TUNED, "tuning": {**TUNED["tuning"], "log": log}}
    assert tuning_lines(logged)[2] == (
        "- Query log: 116 logged questions; resemblance (odds) answer 1.76, reworded 0.78, "
        "title 0.16; ranking tuned on reworded answer spans instead of titles."
    )
    assert not any(line.startswith("- Query log") for line in tuning_lines(TUNED))
