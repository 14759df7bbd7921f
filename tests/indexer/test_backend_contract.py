"""One contract, every search backend: the same candidates and scores, the same filters.

Each backend is built from the small KB of ``conftest.fill_kb`` and compared with the embedded
one (today's in-process engine, the reference). The Milvus backend runs on milvus-lite from a
file in the test's temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from indexer.analysis import Analyzer
from indexer.backends.base import CandidateParams, Filters, QueryState, SearchBackend
from indexer.backends.embedded import EmbeddedBackend
from indexer.documents import DocField, IndexDocument, document_for
from indexer.encoders import FakeEncoder
from indexer.index import HybridIndex
from kb import repository
from kb.clock import utcnow
from kb.db import Database
from kb.models import Audience
from tests.factories import make_package, make_table
from tests.indexer.conftest import TEMPLATE
from tests.indexer.long_answer import LONG_ANSWER

BACKENDS = ["embedded", "milvus"]
QUERIES = ["改号后旧号码还扣费吗", "信用卡额度内部调整口径", "5G套餐怎么办理", "PayPal 信用卡"]


def _docs(db: Database) -> list[IndexDocument]:
    with db.session() as session:
        tables = repository.all_tables(session)
        return [d for d in (document_for(t) for t in tables) if d is not None]


def _backend(name: str, path: Path, analyzer: Analyzer) -> SearchBackend:
    if name == "embedded":
        return EmbeddedBackend(analyzer, FakeEncoder().dim)
    pytest.importorskip("pymilvus")
    from indexer.backends.milvus import MilvusBackend

    return MilvusBackend(
        str(path / "m.db"), prefix="contract", analyzer=analyzer, dim=FakeEncoder().dim
    )


def _index(name: str, path: Path, db: Database) -> HybridIndex:
    analyzer = Analyzer()
    index = HybridIndex(FakeEncoder(), analyzer, backend=_backend(name, path, analyzer))
    index.build(_docs(db), calibrate=False)
    return index


@pytest.fixture
def reference(filled_db: Database) -> HybridIndex:
    return _index("embedded", Path("."), filled_db)


@pytest.fixture(params=BACKENDS)
def index(
    request: pytest.FixtureRequest, tmp_path: Path, filled_db: Database
) -> Iterator[HybridIndex]:
    built = _index(request.param, tmp_path, filled_db)
    yield built
    built.backend.close()


def _codes(index: HybridIndex, tables: list[int]) -> list[str]:
    return [index.docs[t].code for t in tables]


def _candidates(
    index: HybridIndex, query: str, filters: Filters, mode: str = "hybrid"
) -> tuple[list[str], list[str]]:
    state = index.query_state(query, filters.channel)
    found = index.backend.candidates(
        state, mode=mode, params=index.candidate_params(), filters=filters
    )
    return _codes(index, found.lexical), _codes(index, found.dense)


@pytest.mark.parametrize("query", QUERIES)
def test_same_candidates_as_the_embedded_index(
    index: HybridIndex, reference: HybridIndex, query: str
) -> None:
    for channel in ("agent", "customer"):
        filters = Filters(channel=channel)
        lexical, dense = _candidates(index, query, filters)
        ref_lexical, ref_dense = _candidates(reference, query, filters)
        # Milvus orders lexical candidates by its own BM25 (Lucene's idf, never negative): the
        # same best table, and every table ours found; on five tables it also returns those
        # whose only shared terms have a negative BM25Okapi idf here (the pool scores decide).
        assert lexical[:1] == ref_lexical[:1]
        assert set(ref_lexical) <= set(lexical)
        assert dense == ref_dense
        assert _candidates(index, query, filters, "bm25")[1] == []
        assert _candidates(index, query, filters, "dense")[0] == []


@pytest.mark.parametrize("query", QUERIES)
def test_pool_scores_match_the_embedded_index(
    index: HybridIndex, reference: HybridIndex, query: str
) -> None:
    tables = sorted(index.docs)
    for channel in ("agent", "customer"):
        got = index.backend.score(tables, index.query_state(query, channel), channel=channel)
        ref = reference.backend.score(
            tables, reference.query_state(query, channel), channel=channel
        )
        np.testing.assert_allclose(got.kinds, ref.kinds, rtol=1e-5, atol=1e-6)
        assert got.refs == ref.refs
        np.testing.assert_allclose(got.head, ref.head, rtol=1e-9)
        np.testing.assert_allclose(got.body, ref.body, rtol=1e-9)
        np.testing.assert_allclose(got.head_covered, ref.head_covered, rtol=1e-9)
        np.testing.assert_allclose(got.hub, ref.hub, atol=1e-6)
        assert got.head_attainable == pytest.approx(ref.head_attainable)
        assert got.body_attainable == pytest.approx(ref.body_attainable)


def test_milvus_loads_a_build_a_batch_at_a_time(
    tmp_path: Path,
    filled_db: Database,
    reference: HybridIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows go to Milvus in batches taken as they are made (at 100,000 tables the whole list
    would not fit in memory): every table and vector arrives, the pool scores are the same."""
    pytest.importorskip("pymilvus")
    from indexer.backends import milvus

    monkeypatch.setattr(milvus, "BATCH", 3)
    backend = _backend("milvus", tmp_path, Analyzer())
    assert isinstance(backend, milvus.MilvusBackend)
    sizes: dict[str, list[int]] = {}
    insert = backend.client.insert

    def counted(collection: str, rows: list[dict[str, object]]) -> object:
        sizes.setdefault(collection, []).append(len(rows))
        return insert(collection, rows)

    monkeypatch.setattr(backend.client, "insert", counted)
    index = HybridIndex(FakeEncoder(), Analyzer(), backend=backend)
    index.build(_docs(filled_db), calibrate=False)
    try:
        vectors = int(np.count_nonzero(reference.backend.dense.alive))  # type: ignore[attr-defined]
        assert sum(sizes[backend.tables]) == len(reference.docs)
        assert sum(sizes[backend.vectors]) == vectors
        assert max(max(s) for s in sizes.values()) == 3
        tables = sorted(index.docs)
        for query in QUERIES:
            got = backend.score(tables, index.query_state(query, "agent"), channel="agent")
            ref = reference.backend.score(
                tables, reference.query_state(query, "agent"), channel="agent"
            )
            np.testing.assert_allclose(got.kinds, ref.kinds, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(got.body, ref.body, rtol=1e-9)
    finally:
        backend.close()


def test_customers_never_get_internal_tables(index: HybridIndex) -> None:
    now = utcnow()
    for query in ("信用卡额度内部调整口径", "额度调整内部规则"):
        agent = _candidates(index, query, Filters(channel="agent", now=now))
        assert "BK-IN-009" in agent[0] and "BK-IN-009" in agent[1]
        lexical, dense = _candidates(index, query, Filters(channel="customer", now=now))
        assert "BK-IN-009" not in lexical + dense
        found = index.backend.candidates(
            index.query_state(query, "customer"),
            mode="hybrid",
            params=index.candidate_params(),
            filters=Filters(channel="customer", now=now),
        )
        assert "BK-IN-009" in _codes(index, sorted(found.hidden))  # counted as filtered
    # The internal field's text is not in a customer's body score.
    t = next(t for t, d in index.docs.items() if d.code == "TX-GH-001")
    state = index.query_state("KX9", "customer")
    assert index.backend.score([t], state, channel="customer").body[0] == 0.0
    state = index.query_state("KX9", "agent")
    assert index.backend.score([t], state, channel="agent").body[0] > 0.0


def test_expired_excluded_unless_asked(index: HybridIndex) -> None:
    later = utcnow() + timedelta(days=3650)  # past every review interval
    for channel in ("agent", "customer"):
        lexical, dense = _candidates(index, "5G套餐怎么办理", Filters(channel=channel, now=later))
        assert lexical == [] and dense == []
    lexical, dense = _candidates(
        index, "5G套餐怎么办理", Filters(channel="agent", now=later, include_expired=True)
    )
    assert "TX-5G-002" in lexical and "TX-5G-002" in dense


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hidden_family_on_top_leaves_the_visible_tables_in_the_lists(
    backend: str, tmp_path: Path, kb_db: Database
) -> None:
    # Many internal variants of one answer outrank the public tables for a customer: the lists
    # hold the visible tables that come next, not what is left of an unfiltered cut.
    # (code, title, questions, answer, audience); the unrelated tables keep the query's words
    # rare, as in a real KB.
    rows: list[tuple[str, str, list[str], str, Audience]] = [
        (f"OT-{i:02d}", f"宽带故障报修第{i}类", [], "拨打客服热线报修", Audience.PUBLIC)
        for i in range(24)
    ]
    rows += [
        (
            f"IN-{i}",
            f"国际漫游开通内部口径第{i}版",
            ["国际漫游怎么开通"],
            "国际漫游开通内部口径",
            Audience.INTERNAL,
        )
        for i in range(8)
    ]
    rows += [
        (f"PUB-{i}", f"漫游业务说明{i}", [], "出境前可在APP开通国际漫游", Audience.PUBLIC)
        for i in range(3)
    ]
    with kb_db.transaction() as s:
        package = make_package(s, "通信业务", "国际漫游", template=TEMPLATE)
        for code, title, questions, answer, audience in rows:
            make_table(
                s,
                package,
                code=code,
                title=title,
                questions=questions,
                fields={"answer": answer},
                audience=audience,
            )
    index = _index(backend, tmp_path, kb_db)
    try:
        state = index.query_state("国际漫游怎么开通", "customer")
        found = index.backend.candidates(
            state,
            mode="hybrid",
            params=CandidateParams(3, 0.5, (1.0, 1.0, 1.0, 1.0)),
            filters=Filters(channel="customer", now=utcnow()),
        )
        public = {"PUB-0", "PUB-1", "PUB-2"}
        assert set(_codes(index, found.lexical)) == public
        assert set(_codes(index, found.dense)[:3]) == public
        assert {c for c in _codes(index, sorted(found.hidden)) if c.startswith("IN-")}
    finally:
        index.backend.close()


def test_scope_filters(index: HybridIndex) -> None:
    now = utcnow()
    lexical, dense = _candidates(index, "信用卡 改号", Filters(now=now, category="银行业务"))
    assert lexical and dense
    assert all(code.startswith("BK-") for code in lexical + dense)
    lexical, dense = _candidates(
        index, "信用卡 改号", Filters(now=now, package="通信业务/改号业务")
    )
    assert set(lexical + dense) <= {"TX-GH-001", "TX-5G-002"} and lexical
    lexical, dense = _candidates(index, "改号", Filters(now=now, tags=("改号",)))
    assert set(lexical + dense) == {"TX-GH-001"}


def test_remove_and_add(index: HybridIndex) -> None:
    doc = next(d for d in index.docs.values() if d.code == "TX-5G-002")
    index.remove([doc.table_id])
    lexical, dense = _candidates(index, "5G套餐怎么办理", Filters())
    assert "TX-5G-002" not in lexical + dense
    index.upsert([doc])
    lexical, dense = _candidates(index, "5G套餐怎么办理", Filters())
    assert lexical[0] == "TX-5G-002" and "TX-5G-002" in dense
    state = index.query_state("5G套餐怎么办理", "agent")
    assert index.backend.score([doc.table_id], state, channel="agent").head[0] > 0


def test_a_long_answer_scores_by_its_best_window_in_every_backend(
    index: HybridIndex, reference: HybridIndex
) -> None:
    base = next(d for d in reference.docs.values() if d.code == "TX-5G-002")
    fields = [
        DocField("answer", "答复", "text", "public", True, 1.0, LONG_ANSWER),
        DocField(
            "note", "内部备注", "text", "internal", True, 1.0, "内部口径：" + LONG_ANSWER[40:]
        ),
    ]
    long_doc = replace(base, table_id=999, code="TX-LONG", fields=fields)
    assert len(reference.lexical.body_views(long_doc)) == 2  # a long answer: two windows
    for built in (index, reference):
        built.upsert([long_doc])
    tables = sorted(index.docs)
    for query in ("副卡注销后余额退不退", "营业厅周末几点开门", *QUERIES):
        for channel in ("agent", "customer"):
            got = index.backend.score(tables, index.query_state(query, channel), channel=channel)
            ref = reference.backend.score(
                tables, reference.query_state(query, channel), channel=channel
            )
            np.testing.assert_allclose(got.body, ref.body, rtol=1e-9)
            assert got.body_attainable == pytest.approx(ref.body_attainable)
    for built in (index, reference):
        built.remove([999])
    state = index.query_state("副卡注销", "agent")
    got = index.backend.score(tables[:-1], state, channel="agent")
    ref = reference.backend.score(
        tables[:-1], reference.query_state("副卡注销", "agent"), channel="agent"
    )
    np.testing.assert_allclose(got.body, ref.body, rtol=1e-9)


def test_save_and_load_round_trip(index: HybridIndex, tmp_path: Path) -> None:
    from indexer import store

    directory = tmp_path / "index"
    store.save(index, directory)
    backend = _backend(index.backend.name, tmp_path, Analyzer())
    loaded, params = store.load(directory, FakeEncoder(), Analyzer(), backend=backend)
    assert params["backend"] == index.backend.name
    tables = sorted(index.docs)
    for query in QUERIES:
        assert _candidates(loaded, query, Filters()) == _candidates(index, query, Filters())
        got = loaded.backend.score(tables, loaded.query_state(query, "agent"), channel="agent")
        ref = index.backend.score(tables, index.query_state(query, "agent"), channel="agent")
        np.testing.assert_allclose(got.head, ref.head)
        np.testing.assert_allclose(got.kinds, ref.kinds, rtol=1e-6)
    backend.close()


def test_a_loaded_index_searches_collections_a_restart_released(
    index: HybridIndex, tmp_path: Path
) -> None:
    # A Milvus restart, or a new process on a milvus-lite file (`kb index build`, then
    # `kb serve`), finds the collections released: opening the index loads them.
    from indexer import store

    if index.backend.name != "milvus":
        pytest.skip("only a Milvus collection can be released")
    directory = tmp_path / "index"
    store.save(index, directory)
    client = index.backend.client  # type: ignore[attr-defined]
    for name in (index.backend.tables, index.backend.vectors):  # type: ignore[attr-defined]
        client.release_collection(name)
    backend = _backend("milvus", tmp_path, Analyzer())
    loaded, _ = store.load(directory, FakeEncoder(), Analyzer(), backend=backend)
    found = _candidates(loaded, QUERIES[0], Filters())
    assert found and found == _candidates(index, QUERIES[0], Filters())
    backend.close()


def test_a_loaded_index_refuses_another_backend(index: HybridIndex, tmp_path: Path) -> None:
    from indexer import store
    from indexer.errors import IndexMismatch

    directory = tmp_path / "index"
    store.save(index, directory)
    other = "milvus" if index.backend.name == "embedded" else "embedded"
    with pytest.raises(IndexMismatch, match="ZHIKU_SEARCH_BACKEND"):
        store.load(
            directory, FakeEncoder(), Analyzer(), backend=_backend(other, tmp_path, Analyzer())
        )


def test_a_milvus_index_counted_before_windows_is_refused_with_what_to_run(
    tmp_path: Path, filled_db: Database
) -> None:
    import json

    from indexer import store
    from indexer.backends.milvus import STATE
    from indexer.errors import IndexMismatch

    index = _index("milvus", tmp_path, filled_db)
    directory = tmp_path / "index"
    store.save(index, directory)
    state = json.loads((directory / STATE).read_text(encoding="utf-8"))
    del state["body_windows"]
    (directory / STATE).write_text(json.dumps(state), encoding="utf-8")
    with pytest.raises(IndexMismatch, match="windows of 2 chunks; run `kb index build`"):
        store.load(
            directory, FakeEncoder(), Analyzer(), backend=_backend("milvus", tmp_path, Analyzer())
        )
    index.backend.close()


def test_candidate_params_reach_the_backend(index: HybridIndex) -> None:
    state: QueryState = index.query_state("信用卡", "agent")
    found = index.backend.candidates(
        state,
        mode="hybrid",
        params=CandidateParams(1, 0.5, (1.0, 1.0, 1.0, 1.0)),
        filters=Filters(),
    )
    assert len(found.lexical) == 1


@pytest.mark.parametrize("channel", ["agent", "customer"])
def test_search_results_match_the_embedded_index(
    index: HybridIndex, reference: HybridIndex, channel: str
) -> None:
    from indexer.search import run_search
    from kb.search_contract import SearchRequest
    from kb.visibility import Channel

    now = utcnow()
    for query in [*QUERIES, "工单编号规则 KX9", "ETC办理"]:
        request = SearchRequest(query, channel=Channel(channel), k=5, at=now)
        got = run_search(index, request)
        ref = run_search(reference, request)
        assert [s.code for s in got.suggestions] == [s.code for s in ref.suggestions]
        for a, b in zip(got.suggestions, ref.suggestions, strict=True):
            assert a.scores.score == pytest.approx(b.scores.score, abs=1e-4)
            assert a.confidence == pytest.approx(b.confidence, abs=1e-4)
        assert got.filtered == ref.filtered


def test_unknown_backend_is_refused_with_the_choices() -> None:
    from pydantic import ValidationError

    from kb.settings import Settings

    with pytest.raises(ValidationError, match="'embedded' or 'milvus'"):
        Settings(search_backend="elastic")
