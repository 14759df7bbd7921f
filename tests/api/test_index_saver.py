"""A serving process writes its index directory a while after a change, off the request path:
the change is served at once, written within the configured delay (a burst in one write),
and written when the server stops; workers do not write the same state twice."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from api.index_saver import IndexSaver
from api.ratelimit import RateLimiter
from api.runtime import Runtime
from indexer import dense, store
from indexer.service import SearchService
from kb import users, workflow
from kb.search_contract import SearchRequest
from kb.visibility import Channel
from tests.api.conftest import Env, until
from tests.factories import make_package, make_table

# Timers and a thread of its own (see the marker in pyproject.toml).
pytestmark = pytest.mark.realtime


def _archive(env: Env, code: str) -> int:
    with env.db.transaction() as s:
        workflow.archive(s, users.get_user(s, "admin1"), code)
        return workflow.load(s, code).id


def _runtime(env: Env, delay_s: float, backend: str = "embedded") -> tuple[Runtime, SearchService]:
    settings = env.settings.model_copy(
        update={"index_save_delay": delay_s, "search_backend": backend}
    )
    service = SearchService.open(settings, env.db)
    return Runtime(settings, env.db, service, RateLimiter.from_settings(settings)), service


def _saved_codes(env: Env, backend: str = "embedded") -> set[str]:
    settings = env.settings.model_copy(update={"search_backend": backend})
    reopened = SearchService.open(settings, env.db, sync=False)
    return {d.code for d in reopened.index.docs.values()}


def test_a_change_is_served_at_once_and_written_when_the_server_stops(env: Env) -> None:
    runtime, service = _runtime(env, delay_s=3600)
    before = (env.settings.index_dir / store.PARAMS).stat().st_mtime_ns
    runtime.sync([_archive(env, "TX-GH-002")])
    assert "TX-GH-002" not in {d.code for d in service.index.docs.values()}  # served at once
    assert (env.settings.index_dir / store.PARAMS).stat().st_mtime_ns == before  # not written
    assert "TX-GH-002" in _saved_codes(env)
    runtime.close()
    assert "TX-GH-002" not in _saved_codes(env)


def test_a_burst_of_changes_is_written_once_within_the_delay(env: Env) -> None:
    runtime, service = _runtime(env, delay_s=2)
    saver = runtime._saver
    assert saver is not None
    for code in ("TX-GH-001", "TX-GH-002"):
        runtime.sync([_archive(env, code)])
    assert until(lambda: saver.saves >= 1, timeout=10)
    assert saver.saves == 1 and not service.unsaved
    assert {"TX-GH-001", "TX-GH-002"}.isdisjoint(_saved_codes(env))
    runtime.close()
    assert saver.saves == 1  # nothing was left to write


def test_without_a_delay_the_change_is_written_in_the_update(env: Env) -> None:
    runtime, service = _runtime(env, delay_s=0)
    assert runtime._saver is None
    runtime.sync([_archive(env, "TX-GH-002")])
    assert not service.unsaved
    assert "TX-GH-002" not in _saved_codes(env)


def test_with_the_engine_outside_the_directory_it_is_written_in_the_update(env: Env) -> None:
    pytest.importorskip("pymilvus")
    # Milvus has changed at once: the directory's documents must agree with it (a start
    # refuses a directory that does not), so its write does not wait.
    runtime, service = _runtime(env, delay_s=3600, backend="milvus")
    runtime.sync([_archive(env, "TX-GH-002")])
    assert not service.unsaved
    assert "TX-GH-002" not in _saved_codes(env, backend="milvus")
    runtime.close()
    service.close()


def test_a_worker_does_not_write_what_another_already_wrote(env: Env) -> None:
    settings = env.settings.model_copy(update={"search_backend": "embedded"})
    first = SearchService.open(settings, env.db)
    second = SearchService.open(settings, env.db)
    table_id = _archive(env, "TX-GH-002")
    for worker in (first, second):  # both follow the same change
        worker.sync({table_id}, tune=False, save=False)
    assert first.save_pending()
    written = (env.settings.index_dir / store.PARAMS).stat().st_mtime_ns
    assert not second.save_pending()  # the directory already holds this state
    assert (env.settings.index_dir / store.PARAMS).stat().st_mtime_ns == written
    assert not second.unsaved
    assert second.params["state"] == first.params["state"]


def test_a_failed_write_is_tried_again_after_the_delay() -> None:
    attempts: list[int] = []
    done = threading.Event()

    def save() -> bool:
        attempts.append(1)
        if len(attempts) == 1:
            raise OSError("No space left on device")
        done.set()
        return True

    saver = IndexSaver(save, delay_s=0.05)
    saver.due()
    assert done.wait(10)
    assert (saver.failures, saver.saves) == (1, 1)
    saver.close()


def test_close_writes_at_once_and_later_changes_start_no_thread() -> None:
    saves: list[int] = []

    def save() -> bool:
        saves.append(1)
        return True

    saver = IndexSaver(save, delay_s=3600)
    saver.due()
    saver.close(timeout=10)
    assert saves == [1]
    saver.due()  # a change after the server stopped: nothing runs any more
    assert saver._thread is not None and not saver._thread.is_alive()


def test_an_update_encodes_new_text_before_it_takes_the_index(env: Env) -> None:
    runtime, service = _runtime(env, delay_s=3600)
    encoder = service.index.encoder
    locked_during: list[bool] = []

    class Watched:  # the index's encoder, noting whether the update held the index meanwhile
        id, dim = encoder.id, encoder.dim

        def encode(self, texts: Any, kind: Any) -> Any:
            locked_during.append(runtime._lock._writing)
            return encoder.encode(texts, kind)

    service.index.encoder = Watched()  # type: ignore[assignment]
    with env.db.transaction() as s:
        table = make_table(
            s,
            make_package(s),
            code="TX-GH-900",
            title="副卡停机后主卡套餐怎么变",
            fields={"answer": "副卡停机后，主卡套餐中的共享流量不再分给副卡。" * 8},
        )
        table_id = table.id
    runtime.sync([table_id])
    assert "TX-GH-900" in {d.code for d in service.index.docs.values()}
    assert locked_during and not any(locked_during)  # every new text encoded beforehand
    runtime.close()


def test_after_the_write_the_engine_is_mapped_from_the_files_again(env: Env) -> None:
    _runtime(env, delay_s=0)  # builds the index directory
    runtime, service = _runtime(env, delay_s=0.2)
    assert service.index.backend.private is False  # loaded mapped, shared by the workers
    runtime.sync([_archive(env, "TX-GH-002")])
    assert service.index.backend.private  # the update made the arrays this process's own
    assert until(lambda: not service.index.backend.private, timeout=10)  # written, mapped
    served = {d.code for d in service.index.docs.values()}
    assert "TX-GH-002" not in served
    result = runtime.search(SearchRequest("改号后原号码还扣费吗", Channel.AGENT))
    assert result.suggestions and result.suggestions[0].code == "TX-GH-001"
    runtime.close()


def test_an_engine_changed_since_the_write_is_not_swapped_for_the_files(env: Env) -> None:
    runtime, service = _runtime(env, delay_s=3600)
    runtime.sync([_archive(env, "TX-GH-002")])
    reading, writing = runtime._lock.reading, runtime._lock.writing
    assert not service.remap(reading, writing)  # the directory does not hold it yet
    with runtime._lock.background_reading():
        assert service.save_pending()
    runtime.sync([_archive(env, "TX-GH-001")])  # changed after the write
    assert not service.remap(reading, writing)
    assert service.index.backend.private
    runtime.close()  # writes, and maps the written files
    assert not service.index.backend.private


@pytest.mark.parametrize("dead_share", [0.25, 0.0])
def test_an_hnsw_graph_is_mapped_again_when_it_was_saved_with_its_removed_rows(
    env: Env, monkeypatch: pytest.MonkeyPatch, dead_share: float
) -> None:
    """HNSW cannot delete: the graph is saved with removed rows marked dead, and mapped again;
    past HNSW_DEAD_SHARE of them it is not saved (the next load builds it), and a process that
    would have to build it keeps its own engine."""
    monkeypatch.setattr(dense, "HNSW_MIN_VECTORS", 1)
    monkeypatch.setattr(dense, "HNSW_DEAD_SHARE", dead_share)
    _runtime(env, delay_s=0)  # builds the index directory
    runtime, service = _runtime(env, delay_s=3600)
    runtime.sync([_archive(env, "TX-GH-002")])  # its vectors stay in the graph, dead
    runtime.close()  # writes; maps the written files where the graph is among them
    saved = dead_share > 0
    assert (env.settings.index_dir / "dense.faiss").exists() is saved
    assert service.index.backend.private is not saved
    result = runtime.search(SearchRequest("改号后原号码还扣费吗", Channel.AGENT))
    assert result.suggestions and result.suggestions[0].code == "TX-GH-001"
    assert "TX-GH-002" not in {s.code for s in result.suggestions}
