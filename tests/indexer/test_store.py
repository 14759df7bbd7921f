"""The index directory describes itself and refuses what it cannot serve."""

from __future__ import annotations

import json
import shutil
import threading
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from indexer import store
from indexer.backends import factory
from indexer.encoders import FakeEncoder
from indexer.errors import IndexMismatch, IndexNotBuilt
from indexer.service import SearchService
from kb import clock
from kb.db import Database
from kb.settings import Settings
from tests.factories import ask


def test_params_describe_the_index(settings: Settings, filled_db: Database) -> None:
    SearchService.build(settings, filled_db)
    text = (settings.index_dir / store.PARAMS).read_text(encoding="utf-8")
    params = json.loads(text)
    assert "改号业务" not in text or "\\u" not in text  # ensure_ascii=False
    assert params["format_version"] == store.FORMAT_VERSION
    assert params["encoder"] == "fake-64" and params["dim"] == 64
    assert params["counts"]["tables"] == 4  # the draft is not indexed
    assert params["built_at"].endswith("+00:00")
    assert {"analyzer_hash", "content_hash", "fusion", "calibration"} <= set(params)
    assert not list(settings.index_dir.glob("*.pkl"))
    assert params["backend"] == settings.search_backend
    if settings.search_backend == "embedded":  # the in-process engine's own files
        vectors = np.load(settings.index_dir / "dense_vectors.npy", allow_pickle=False)
        assert vectors.shape[1] == 64


def test_the_index_is_stamped_by_the_service_clock(settings: Settings, filled_db: Database) -> None:
    with clock.frozen(datetime(2030, 1, 1, tzinfo=UTC)):
        SearchService.build(settings, filled_db)
    params = json.loads((settings.index_dir / store.PARAMS).read_text(encoding="utf-8"))
    assert params["built_at"] == "2030-01-01T00:00:00+00:00"


def test_saved_index_answers_like_the_built_one(settings: Settings, filled_db: Database) -> None:
    built = SearchService.build(settings, filled_db)
    loaded = SearchService.open(settings, filled_db, sync=False, build=False)
    for query in ("改號後舊號碼還扣費嗎", "PayPal", "5G套餐"):
        a = [(s.code, s.confidence) for s in built.search(ask(query)).suggestions]
        b = [(s.code, s.confidence) for s in loaded.search(ask(query)).suggestions]
        assert a == b


def test_missing_index_is_reported_or_built(settings: Settings, filled_db: Database) -> None:
    with pytest.raises(IndexNotBuilt, match="kb index build"):
        SearchService.open(settings, filled_db, build=False)
    assert SearchService.open(settings, filled_db).params["counts"]["tables"] == 4


def test_other_encoder_is_refused_with_the_fix(settings: Settings, filled_db: Database) -> None:
    service = SearchService.build(settings, filled_db)
    with pytest.raises(IndexMismatch, match="kb index build") as err:
        store.load(settings.index_dir, FakeEncoder(dim=32), service.index.analyzer)
    assert "fake-64" in str(err.value) and "fake-32" in str(err.value)


def test_other_format_version_is_refused(settings: Settings, filled_db: Database) -> None:
    SearchService.build(settings, filled_db)
    path = settings.index_dir / store.PARAMS
    params = json.loads(path.read_text(encoding="utf-8"))
    params["format_version"] = 999
    path.write_text(json.dumps(params), encoding="utf-8")
    with pytest.raises(IndexMismatch, match="format version 999"):
        SearchService.open(settings, filled_db)


def test_truncated_index_is_refused(settings: Settings, filled_db: Database) -> None:
    SearchService.build(settings, filled_db)
    engine_file = "dense_vectors.npy" if settings.search_backend == "embedded" else "milvus.json"
    (settings.index_dir / engine_file).unlink()
    with pytest.raises(IndexMismatch, match="incomplete"):
        SearchService.open(settings, filled_db)


@pytest.mark.parametrize("damage", ["null", "[1, 2]", "no slots"])
def test_params_of_the_wrong_shape_are_refused_with_the_fix(
    settings: Settings, filled_db: Database, damage: str
) -> None:
    """Valid JSON of another shape crashed the CLI with an AttributeError or a KeyError."""
    SearchService.build(settings, filled_db)
    path = settings.index_dir / store.PARAMS
    if damage == "no slots":
        params = json.loads(path.read_text(encoding="utf-8"))
        params.pop("slots", None)
        params.pop("bm25")
        path.write_text(json.dumps(params), encoding="utf-8")
    else:
        path.write_text(damage, encoding="utf-8")
    with pytest.raises(IndexMismatch, match="kb index build"):
        SearchService.open(settings, filled_db, build=False)


def test_other_vector_kinds_are_refused_with_the_fix(
    settings: Settings, filled_db: Database
) -> None:
    SearchService.build(settings, filled_db)
    fewer = settings.model_copy(update={"vector_kinds": ["title", "question", "entry"]})
    with pytest.raises(IndexMismatch, match="ZHIKU_VECTOR_KINDS") as err:
        SearchService.open(fewer, filled_db)
    assert "kb index build" in str(err.value)


def test_a_kept_reranker_is_saved_as_text_and_ranks_the_same_after_loading(
    settings: Settings, filled_db: Database
) -> None:
    from tests.indexer.test_selftune import ACTIONS, TOPICS, _doc

    built = SearchService.build(settings, filled_db)
    index = built.index
    docs = [
        _doc(1000 + i, t, a) for i, (t, a) in enumerate((t, a) for t in TOPICS for a in ACTIONS)
    ]
    index.remove(list(index.docs))
    index.upsert(docs)
    index.tune()
    assert index.reranker.active
    built.save()
    model = (settings.index_dir / store.RERANKER).read_text(encoding="utf-8")
    assert model == index.reranker.model and model.startswith("tree")
    params = json.loads((settings.index_dir / store.PARAMS).read_text(encoding="utf-8"))
    assert params["reranker"]["status"] == index.reranker.status
    assert params["tuning"] == json.loads(json.dumps(index.tuning))
    loaded, _ = store.load(
        settings.index_dir,
        index.encoder,
        index.analyzer,
        kinds=settings.vector_kinds,
        backend=factory.create(settings, index.analyzer, index.encoder.dim),
    )
    assert loaded.reranker.active
    for query in ("请问改号怎么查", "信用卡能取消吗", "快递到底要多久"):
        a = index.retrieve(query, channel="agent", k=5).candidates
        b = loaded.retrieve(query, channel="agent", k=5).candidates
        assert [(c.table_id, round(c.score, 6)) for c in a] == [
            (c.table_id, round(c.score, 6)) for c in b
        ]
        assert all(c.rerank is not None for c in b)


def test_an_unreadable_reranker_model_is_refused_at_load_with_the_fix(
    settings: Settings, filled_db: Database
) -> None:
    # The model is parsed when the index opens (not by the first query): a damaged file
    # stops the load with the command that repairs it.
    from tests.indexer.test_selftune import ACTIONS, TOPICS, _doc

    built = SearchService.build(settings, filled_db)
    index = built.index
    index.remove(list(index.docs))
    index.upsert(
        [_doc(1000 + i, t, a) for i, (t, a) in enumerate((t, a) for t in TOPICS for a in ACTIONS)]
    )
    index.tune()
    assert index.reranker.active
    built.save()
    (settings.index_dir / store.RERANKER).write_text("tree\nnot a model\n", encoding="utf-8")
    with pytest.raises(IndexMismatch, match="reranker model does not parse.*kb index build"):
        store.load(
            settings.index_dir,
            index.encoder,
            index.analyzer,
            kinds=settings.vector_kinds,
            backend=factory.create(settings, index.analyzer, index.encoder.dim),
        )


def test_a_model_for_another_feature_list_is_dropped_with_a_reason(
    settings: Settings, filled_db: Database
) -> None:
    from indexer.rerank import Reranker

    loaded = Reranker.from_json({"features": ["fused", "dense"], "status": "old"}, "tree\n")
    assert not loaded.active and "rebuild the index" in loaded.status


def test_a_loaded_index_is_left_out_of_the_cyclic_collector(
    settings: Settings, filled_db: Database
) -> None:
    # At 100,000 tables the first full collection after a load paused a query for over a
    # second: what a load makes is frozen (gc.freeze), and the collector runs again after.
    import gc

    SearchService.build(settings, filled_db)
    gc.unfreeze()
    try:
        service = SearchService.open(settings, filled_db)
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
        assert service.search(ask("改号后旧号码还扣费吗")).suggestions
    finally:
        gc.unfreeze()


def test_the_collector_is_back_on_when_a_load_fails(
    settings: Settings, filled_db: Database
) -> None:
    import gc

    assert gc.isenabled()
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    (settings.index_dir / store.PARAMS).write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexMismatch):
        SearchService.open(settings, filled_db, build=False)
    assert gc.isenabled()
    gc.unfreeze()


def test_a_save_of_the_state_on_disk_writes_nothing_and_another_state_is_written(
    settings: Settings, filled_db: Database
) -> None:
    service = SearchService.build(settings, filled_db)
    index, where = service.index, settings.index_dir
    stamps = service.package_stamps
    on_disk = json.loads((where / store.PARAMS).read_text(encoding="utf-8"))
    params, written = store.save_unless_saved(index, where, package_stamps=stamps)
    assert not written and params["state"] == on_disk["state"]
    index.tuning = {**index.tuning, "changed_since": 7}  # a tuned parameter differs
    params, written = store.save_unless_saved(index, where, package_stamps=stamps)
    assert written and params["state"] != on_disk["state"]
    assert json.loads((where / store.PARAMS).read_text(encoding="utf-8"))["tuning"] == index.tuning


def test_two_threads_of_a_process_may_save_at_once(
    settings: Settings, filled_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = SearchService.build(settings, filled_db)
    errors: list[BaseException] = []
    remove = shutil.rmtree

    def slow_remove(path: Any, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.05)  # a large old copy: the other thread's save gets the lock meanwhile
        remove(path, *args, **kwargs)

    monkeypatch.setattr(store.shutil, "rmtree", slow_remove)

    def saves() -> None:
        try:
            for _ in range(5):
                store.save(service.index, settings.index_dir, package_stamps={})
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=saves) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert SearchService.open(settings, filled_db, sync=False).params["counts"]["tables"] == 4
    assert not list(settings.index_dir.parent.glob(".index.old-*"))


@pytest.mark.realtime  # a timed wait: under libfaketime it never wakes
def test_opening_the_index_waits_while_a_save_swaps_the_directory(
    settings: Settings, filled_db: Database
) -> None:
    """A save swaps the directory with two renames, between which there is none: an open
    there failed (IndexMismatch) or found no index and built a new one."""
    SearchService.build(settings, filled_db)
    opened = threading.Event()

    def open_it() -> None:
        SearchService.open(settings, filled_db, sync=False, build=False).close()
        opened.set()

    with store.unswapped(settings.index_dir):  # as a save holds it, mid-swap
        reader = threading.Thread(target=open_it)
        reader.start()
        assert not opened.wait(0.5)
    reader.join(60)
    assert opened.is_set()


def test_an_opened_index_re_tunes_as_the_settings_say(
    settings: Settings, filled_db: Database
) -> None:
    """ZHIKU_RERANK and ZHIKU_TUNE_SEED hold for the re-tunes of an index opened from its
    directory, not only at a build (an opened index re-tuned with a reranker allowed and seed
    0 whatever was set); ZHIKU_LATENT_READ for its searches."""
    assert SearchService.build(settings, filled_db).index.latent_read == "auto"
    other = settings.model_copy(update={"rerank": False, "tune_seed": 7, "latent_read": "lean"})
    service = SearchService.open(other, filled_db, sync=False)
    assert (service.index.allow_rerank, service.index.tune_seed) == (False, 7)
    assert service.index.latent_read == "lean"
    service.retune(nullcontext, nullcontext)  # as a server re-tunes, whatever the backend
    assert service.index.tuning["seed"] == 7 and not service.index.reranker.active
