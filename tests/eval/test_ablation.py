"""Which ablation variants a run's settings allow, and what each one overrides."""

from __future__ import annotations

from eval.ablation import variants
from kb.settings import Settings


def test_every_variant_switches_one_part_off_the_defaults() -> None:
    assert variants(Settings(encoder="fake")) == [
        ("-entry", {"vector_kinds": ["title", "question", "body", "latent"]}),
        ("-body", {"vector_kinds": ["title", "question", "entry", "latent"]}),
        ("-latent", {"vector_kinds": ["title", "question", "body", "entry"]}),
        ("-reranker", {"rerank": False}),
        ("-selftune", {"self_tune": False}),
        ("words-only", {"lexical_channels": ["w"]}),
        ("-pinyin", {"lexical_channels": ["w", "c", "b"]}),
    ]


def test_variants_that_would_change_nothing_or_leave_nothing_are_skipped() -> None:
    settings = Settings(
        encoder="fake", vector_kinds=["entry"], lexical_channels=["w"], rerank=False
    )
    # -entry would leave no vector kind; -body, -reranker, words-only, -pinyin change nothing
    assert variants(settings) == [("-selftune", {"self_tune": False})]
    relative = Settings(encoder="fake", vector_kinds=["title", "body"], lexical_channels=["w", "p"])
    assert dict(variants(relative))["-body"] == {"vector_kinds": ["title"]}
    assert dict(variants(relative))["-pinyin"] == {"lexical_channels": ["w"]}
    assert "-entry" not in dict(variants(relative))
