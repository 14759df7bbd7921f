"""Latent terms: packed rows, pooling, the per-table store, its views, and the index around it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexer import documents as documents_module
from indexer import store
from indexer.analysis import Analyzer
from indexer.backends.base import QueryState
from indexer.documents import WINDOW_CHUNKS, DocField, IndexDocument, chunk_text
from indexer.encoders import FakeEncoder
from indexer.errors import IndexMismatch
from indexer.fusion import FusionParams, with_latent
from indexer.index import HybridIndex
from indexer.latent import (
    TOP_K,
    LatentStore,
    expand,
    latent_encoder,
    merge,
    pack,
)
from indexer.query_latent import SEARCHES
from tests.indexer.long_answer import TOPICS

LONG = (
    "套餐变更次月生效，当月仍按原套餐计费。变更后的流量从次月一日起重新计算，不能结转。"
    "如需当月生效，可在营业厅办理加装包。国际漫游流量不包含在套餐内，需另行开通。"
    "注销副卡需要主卡机主本人持身份证到营业厅办理，副卡余额不退。"
)


def _doc(table_id: int, title: str, answer: str, *, internal: str = "") -> IndexDocument:
    fields = [DocField("answer", "答复", "text", "public", True, 1.0, answer)]
    if internal:
        fields.append(DocField("note", "口径", "text", "internal", True, 1.0, internal))
    return IndexDocument(
        table_id, f"T{table_id}", title, [], [], "类", "包", 1, "public", 1, table_id, fields
    )


DOCS = [
    _doc(1, "套餐怎么变更", LONG),
    _doc(2, "话费怎么查询", "发送短信CXHF到10086查询话费余额，也可以在手机营业厅查看账单。"),
    _doc(
        3, "宽带报修", "拨打客服热线报修，维修人员两个工作日内上门。", internal="光猫故障先远程重启"
    ),
]


def _index(encoder: FakeEncoder | None = None) -> HybridIndex:
    index = HybridIndex(encoder or FakeEncoder(), Analyzer())
    index.build(DOCS, calibrate=False)
    return index


def _latent(index: HybridIndex, query: str, tables: list[int], channel: str) -> np.ndarray:
    state = QueryState(query, [], index.encode_query(query), None, index.query_latent(query))
    return np.asarray(index.signals(tables, state, channel=channel).latent)


def test_pack_keeps_the_strongest_features_normalized_and_pads() -> None:
    row = pack(np.arange(TOP_K + 10), np.arange(TOP_K + 10, dtype=np.float32) + 1)
    features, weights = row[:TOP_K].astype(int), row[TOP_K:]
    assert sorted(features) == list(range(10, TOP_K + 10))
    assert np.isclose(np.linalg.norm(weights), 1.0)
    short = pack(np.asarray([7, 3, 9]), np.asarray([0.0, 2.0, 1.0]))  # a zero weight is no feature
    assert list(short[:3].astype(int)) == [3, 9, 0] and short[2 + TOP_K] == 0.0


def test_merge_pools_each_feature_by_its_maximum() -> None:
    a = pack(np.asarray([1, 2]), np.asarray([3.0, 1.0]), normalize=False)
    b = pack(np.asarray([2, 5]), np.asarray([4.0, 2.0]), normalize=False)
    pooled = expand(merge(np.stack([a, b])), 8)
    expected = np.asarray([0, 3.0, 4.0, 0, 0, 2.0, 0, 0]) / np.sqrt(9 + 16 + 4)
    assert np.allclose(pooled, expected)


def test_a_detail_deep_in_a_long_answer_is_found_by_its_latent_terms() -> None:
    index = _index()
    scores = _latent(index, "副卡余额退不退", [1, 2, 3], "agent")
    assert scores[0] > 2 * scores[1:].max()
    assert all(0.0 <= s <= 1.0 + 1e-6 for s in scores)


def test_customers_are_scored_on_the_public_view_only() -> None:
    index = _index()
    agent = _latent(index, "光猫故障远程重启", [3], "agent")[0]
    customer = _latent(index, "光猫故障远程重启", [3], "customer")[0]
    assert agent > 0.3 and customer < agent / 3


def test_updates_keep_the_store_in_step_and_a_save_keeps_it(tmp_path: Path) -> None:
    index = _index()
    index.upsert([_doc(4, "副卡注销", "副卡注销后余额不退，号码九十天后可再放号。")])
    index.remove([1])
    assert sorted(index.latent.rows) == [2, 3, 4]  # type: ignore[union-attr]
    before = _latent(index, "副卡余额退不退", [2, 3, 4], "agent")
    store.save(index, tmp_path / "index")
    loaded, _ = store.load(tmp_path / "index", FakeEncoder(), Analyzer(), mmap=True)
    assert np.allclose(_latent(loaded, "副卡余额退不退", [2, 3, 4], "agent"), before)
    assert _latent(loaded, "副卡余额退不退", [2, 3, 4], "agent")[2] == before.max()


def test_an_index_saved_without_latent_terms_is_refused_with_the_fix(tmp_path: Path) -> None:
    index = _index()
    index.latent = None
    store.save(index, tmp_path / "index")
    with pytest.raises(IndexMismatch, match="no latent terms; .*kb index build"):
        store.load(tmp_path / "index", FakeEncoder(), Analyzer())


class _NoHead(FakeEncoder):
    latent_space = 0  # as sentence-transformers models: no sparse head


def test_an_encoder_without_a_sparse_head_leaves_the_signal_absent() -> None:
    assert latent_encoder(_NoHead()) is None
    index = _index(_NoHead())
    assert index.latent is None
    assert np.isnan(_latent(index, "副卡余额退不退", [1, 2], "agent")).all()
    found = index.retrieve("副卡余额退不退", channel="agent", k=2)
    assert found.candidates and all(c.latent is None for c in found.candidates)


def test_a_store_round_trip_rejects_a_file_of_another_shape(tmp_path: Path) -> None:
    latent = LatentStore(4096)
    latent.put(1, pack(np.asarray([1]), np.asarray([1.0])), None)
    meta = latent.save(tmp_path)
    assert LatentStore.load(tmp_path, meta, mmap=False).rows.keys() == {1}
    np.save(tmp_path / "latent.npy", np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        LatentStore.load(tmp_path, meta, mmap=False)


def _detail_scores(monkeypatch: pytest.MonkeyPatch, window: int) -> tuple[float, float]:
    monkeypatch.setattr(documents_module, "WINDOW_CHUNKS", window)
    long_doc = _doc(1, "业务办理须知", "".join(TOPICS))
    short_doc = _doc(2, "业务办理须知", TOPICS[-1])
    index = HybridIndex(FakeEncoder(), Analyzer())
    index.build([long_doc, short_doc], calibrate=False)
    long_score, short_score = _latent(index, "副卡注销后余额退不退", [1, 2], "agent")
    return float(long_score), float(short_score)


def test_a_detail_of_a_long_answer_weighs_more_in_a_vector_of_two_chunks_than_of_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert len(chunk_text("".join(TOPICS))) == 3  # the detail is the third chunk
    windowed, short = _detail_scores(monkeypatch, WINDOW_CHUNKS)
    # one vector pooled over the whole answer spreads its weight over every topic
    pooled, short_again = _detail_scores(monkeypatch, 99)
    assert short_again == pytest.approx(short)
    assert short > windowed > 1.25 * pooled > 0


def test_a_store_of_several_vectors_a_view_round_trips_and_reads_one_saved_before(
    tmp_path: Path,
) -> None:
    latent = LatentStore(4096)
    one = pack(np.asarray([1, 2]), np.asarray([1.0, 1.0]))
    two = pack(np.asarray([3]), np.asarray([1.0]))
    latent.put(1, np.stack([one, two]), np.stack([one, two, one]))
    latent.put(2, None, two)
    latent.put(3, one, None)
    loaded = LatentStore.load(tmp_path, latent.save(tmp_path), mmap=True)
    for t in (1, 2, 3):
        for saved, read in zip(latent.rows[t], loaded.rows[t], strict=True):
            assert (saved is None and read is None) or np.array_equal(saved, read)
    query = expand(pack(np.asarray([3]), np.asarray([1.0])), 4096)
    assert loaded.scores([1, 2, 3, 4], query, customer=False)[:3].tolist() == [1.0, 1.0, 0.0]
    assert np.isnan(loaded.scores([2, 4], query, customer=True)).all()
    # an index saved with one vector a view: [id, public row, full row]
    np.save(tmp_path / "latent.npy", np.stack([one, two]))
    old = {"space": 4096, "top_k": TOP_K, "slots": [[7, 0, -1], [8, -1, 1]]}
    read = LatentStore.load(tmp_path, old, mmap=False)
    assert np.array_equal(read.rows[7][0], one[None, :]) and read.rows[7][1] is None
    assert read.rows[8][0] is None and np.array_equal(read.rows[8][1], two[None, :])
    # a slot map that points past the file is refused (the index is rebuilt), not served
    with pytest.raises(ValueError, match="table 8's latent rows 1\\+2 are not in"):
        LatentStore.load(tmp_path, {**old, "slots": [[8, 1, 2, -1, 0]]}, mmap=False)


def test_latent_terms_join_the_hybrid_score_standardized_and_only_where_present() -> None:
    hybrid = np.asarray([3.0, 2.9, 1.0])
    latent = np.asarray([0.1, 0.9, 0.2])
    for absent in (with_latent(hybrid, np.full(3, np.nan), 0.4), with_latent(hybrid, latent, 0)):
        assert absent[0] is hybrid and absent[1] is None
    moved, part = with_latent(hybrid, latent, 0.4)
    assert list(np.argsort(-moved)) == [1, 0, 2]  # close on the blend, far apart on latent terms
    assert part is not None and np.allclose(moved - part, (hybrid - 2.3) / hybrid.std())
    scaled, _ = with_latent(hybrid * 100, latent, 0.4)
    assert np.allclose(scaled, moved)  # the reranker's units or the blend's: one scale


def test_question_only_tables_have_no_latent_terms_and_stay_neutral() -> None:
    index = HybridIndex(FakeEncoder(), Analyzer())
    only_title = _doc(5, "副卡余额退不退", "副卡余额退不退")  # the field repeats the title
    internal_only = IndexDocument(
        6, "T6", "副卡规则", [], [], "类", "包", 1, "public", 1, 6,
        [DocField("note", "口径", "text", "internal", True, 1.0, "副卡余额不退，注销需本人办理")],
    )  # fmt: skip
    index.build([*DOCS, only_title, internal_only], calibrate=False)
    assert 5 not in index.latent.rows  # type: ignore[union-attr]
    agent = _latent(index, "副卡余额退不退", [1, 5, 6], "agent")
    customer = _latent(index, "副卡余额退不退", [1, 5, 6], "customer")
    assert np.isnan(agent[1]) and agent[2] > 0 and np.isnan(customer[1:]).all()
    _, part = with_latent(np.asarray([1.0, 2.0, 3.0]), np.asarray([0.2, np.nan, 0.6]), 0.4)
    assert part is not None and part[1] == 0 and part[2] > 0 > part[0]


def test_a_masked_copy_is_scored_without_the_words_taken_out() -> None:
    index = _index()
    query = "副卡余额退不退"
    state = QueryState(query, [], index.encode_query(query), None, index.query_latent(query))
    masked = _doc(
        1,
        "套餐怎么变更",
        LONG.replace("注销副卡需要主卡机主本人持身份证到营业厅办理，副卡余额不退。", ""),
    )
    original, without = index.docs_latent_scores([DOCS[0], masked], [state, state])
    assert original == pytest.approx(_latent(index, query, [1], "agent")[0])
    assert without < original / 2


class _CountingEncoder(FakeEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.latent_texts: list[str] = []

    def latent(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        self.latent_texts += texts
        return super().latent(texts)


def test_a_kb_of_question_only_tables_encodes_no_latent_terms_for_its_queries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """None of its tables has latent terms, so the query's would score nothing: the second
    pass of the encoder (half the CPU of a new question) is not run; the first answer added
    brings it back."""
    encoder = _CountingEncoder()
    # Read whatever the lead (fusion.settled), and in the search's own thread: nothing ahead.
    index = HybridIndex(encoder, Analyzer(), fusion=FusionParams(latent_lead=0.0))
    monkeypatch.setattr(SEARCHES, "spare_below", 0)
    index.build([_doc(5, "副卡余额退不退", "副卡余额退不退")], calibrate=False)
    assert index.retrieve("副卡的余额能退吗", channel="agent") and encoder.latent_texts == []
    index.upsert([DOCS[0]])
    index.retrieve("副卡的余额能退吗", channel="agent")
    assert encoder.latent_texts[-1] == "副卡的余额能退吗"
