"""Re-tuning in a serving process: in the background, searches and writes go on meanwhile, and
the result is swapped in when it is ready."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from api.ratelimit import RateLimiter
from api.runtime import Runtime, open_search
from indexer import selftune
from indexer.backends.embedded import EmbeddedBackend
from indexer.service import SearchService
from kb import feedback, users, workflow
from kb.search_contract import SearchRequest
from kb.visibility import Channel
from tests.api.conftest import Env, until
from tests.factories import log_unanswered

# Threads that wait on each other (see the marker in pyproject.toml).
pytestmark = pytest.mark.realtime


def _archive(env: Env, code: str) -> int:
    with env.db.transaction() as s:
        workflow.archive(s, users.get_user(s, "admin1"), code)
        return workflow.load(s, code).id


def _serving(env: Env) -> tuple[SearchService, Runtime]:
    """A server's search service (built and tuned) and its runtime."""
    service = SearchService.open(env.settings, env.db)
    return service, Runtime(env.settings, env.db, service, RateLimiter.from_settings(env.settings))


@dataclass
class HeldFit:
    """selftune.fit made to wait: ``fitting`` is set when a fit starts, ``release`` lets it go
    on; ``fits`` counts the pseudo-queries of each fit."""

    fitting: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    fits: list[int] = field(default_factory=list)


def _hold_fits(monkeypatch: pytest.MonkeyPatch) -> HeldFit:
    """From now on, each fit waits (after the services were opened: opening may build)."""
    held = HeldFit()
    real_fit = selftune.fit

    def slow_fit(index: Any, gathered: selftune.Gathered) -> None:
        held.fits.append(len(gathered.examples))
        held.fitting.set()
        assert held.release.wait(30)
        real_fit(index, gathered)

    monkeypatch.setattr(selftune, "fit", slow_fit)
    return held


def test_searches_and_writes_go_on_while_the_index_re_tunes(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selftune, "RETUNE_MIN_CHANGES", 1)  # every change calls for a re-tune
    service, runtime = _serving(env)
    served = service.index.calibration
    held = _hold_fits(monkeypatch)
    fitting, release, fits = held.fitting, held.release, held.fits
    runtime.sync([_archive(env, "TX-GH-003")])
    assert fitting.wait(30), "no re-tune started"
    assert runtime.retuning  # what admins' health says meanwhile

    # While the weights are being fitted: a search is answered, with the parameters served...
    result = runtime.search(SearchRequest("改号后原号码还扣费吗", Channel.AGENT))
    assert result.suggestions and result.suggestions[0].code == "TX-GH-001"
    assert service.index.calibration is served
    # ... and a change is indexed at once (it counts towards the next re-tune).
    runtime.sync([_archive(env, "TX-GH-002")])
    assert "TX-GH-002" not in {d.code for d in service.index.docs.values()}
    assert service.index.tuning["changed_since"] == 2

    release.set()
    assert until(lambda: not runtime.retuning, timeout=30)
    # The change made meanwhile called for one more round; then nothing is due.
    assert len(fits) == 2
    assert service.index.calibration is not served
    assert service.index.tuning["changed_since"] == 0
    assert service.index.tuning["tables"] == 1  # the second round saw the second archive
    runtime.close()  # a server writes its index directory a while later, or when it stops
    reopened = SearchService.open(env.settings, env.db, sync=False)
    assert reopened.index.tuning == service.index.tuning  # saved with the index


def test_a_failed_re_tune_keeps_the_parameters_served(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selftune, "RETUNE_MIN_CHANGES", 1)
    service, runtime = _serving(env)
    served = (service.index.fusion, service.index.calibration, service.index.tuning)

    def broken(index: Any, gathered: selftune.Gathered) -> None:
        raise MemoryError("out of memory while fitting")

    monkeypatch.setattr(selftune, "fit", broken)
    runtime.sync([_archive(env, "TX-GH-003")])
    assert until(lambda: not runtime._retuning, timeout=30)
    assert (service.index.fusion, service.index.calibration, service.index.tuning) == served
    result = runtime.search(SearchRequest("改号后原号码还扣费吗", Channel.AGENT))
    assert result.suggestions[0].code == "TX-GH-001"


def test_a_server_starts_at_once_and_re_tunes_serving_when_its_start_calls_for_it(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changes made while no server ran: the start repairs them into the index without
    re-tuning (a minute or more on a large KB before the first answer); the re-tune they call
    for runs in the background of the started server."""
    monkeypatch.setattr(selftune, "RETUNE_MIN_CHANGES", 1)
    SearchService.open(env.settings, env.db)  # built and saved
    _archive(env, "TX-GH-003")  # committed while no server runs
    held = _hold_fits(monkeypatch)
    service = open_search(env.settings, env.db)
    assert held.fits == [] and service.retune_due  # repaired, not re-tuned
    assert "TX-GH-003" not in {d.code for d in service.index.docs.values()}
    runtime = Runtime(env.settings, env.db, service, RateLimiter.from_settings(env.settings))
    runtime.start()
    assert held.fitting.wait(30), "no re-tune started"
    result = runtime.search(SearchRequest("改号后原号码还扣费吗", Channel.AGENT))
    assert result.suggestions and result.suggestions[0].code == "TX-GH-001"  # served meanwhile
    held.release.set()
    assert until(lambda: not runtime._retuning, timeout=30)
    assert len(held.fits) == 1 and not service.retune_due
    runtime.close()


def test_a_server_re_tunes_on_the_agents_votes_that_came_since_its_tuning(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No table changes, but agents vote: at its sweep timer the server re-tunes on them."""
    monkeypatch.setattr(selftune, "RETUNE_MIN_LABELS", 3)
    service, runtime = _serving(env)
    assert not runtime.retune_on_labels()  # nothing voted since the build

    def vote(channel: str, code: str | None, query: str) -> None:
        with env.db.transaction() as s:
            table = workflow.load(s, code) if code else None
            feedback.record_vote(s, channel=channel, table=table, helpful=bool(code), query=query)

    vote("agent", "TX-GH-001", "改号还扣费吗")
    vote("agent", "TX-GH-001", "换号以后旧号还扣钱吗")
    vote("customer", "TX-GH-001", "改号扣费")  # anonymous: not a label
    assert not runtime.retune_on_labels()
    assert service.status()["labels_since_tuning"] == {"new": 2, "logged": 0, "retune_due": False}
    vote("agent", None, "都不对")
    held = _hold_fits(monkeypatch)
    assert runtime.retune_on_labels()
    assert held.fitting.wait(30), "no re-tune started"
    held.release.set()
    assert until(lambda: not runtime._retuning, timeout=30)
    assert len(held.fits) == 1
    assert service.index.tuning["labels"]["vote_id"] > 0  # where the votes it read stood
    assert service.status()["labels_since_tuning"] == {"new": 0, "logged": 0, "retune_due": False}
    assert not runtime.retune_on_labels()
    runtime.close()


def test_a_server_re_tunes_once_its_query_log_is_worth_comparing(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built before anyone searched: once MIN_LOGGED searches are logged, the server re-tunes
    and compares them; after that, searches alone call for no re-tune."""
    monkeypatch.setattr(selftune, "MIN_LOGGED", 3)
    service, runtime = _serving(env)
    assert "log" not in service.index.tuning
    questions = ["改号以后原来的号码还要交钱吗", "换了号码旧号码会停机吗", "改号要带什么证件"]

    def ask(text: str) -> None:
        with env.db.transaction() as s:
            log_unanswered(s, text)

    for text in questions[:2]:
        ask(text)
    assert not runtime.retune_on_labels()
    ask(questions[2])
    assert service.status()["labels_since_tuning"] == {"new": 0, "logged": 3, "retune_due": True}
    assert runtime.retune_on_labels()
    assert until(lambda: not runtime._retuning, timeout=60)
    log = service.index.tuning["log"]
    assert log["questions"] == 3 and set(log["odds"]) >= {"answer", "reworded", "title"}
    for text in questions:
        ask(text + "？")
    assert not runtime.retune_on_labels()  # compared already: searches alone change nothing
    runtime.close()


def test_workers_of_one_server_take_turns_and_the_second_takes_the_first_s_tuning(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selftune, "RETUNE_MIN_CHANGES", 1)
    first = SearchService.open(env.settings, env.db)  # two workers on one index directory
    second = SearchService.open(env.settings, env.db)
    held = _hold_fits(monkeypatch)
    fitting, release, fits = held.fitting, held.release, held.fits
    table_id = _archive(env, "TX-GH-003")
    for worker in (first, second):  # both follow the change: both are due
        assert worker.sync({table_id}, tune=False, save=False).retune_due
    runtimes = [
        Runtime(env.settings, env.db, w, RateLimiter.from_settings(env.settings))
        for w in (first, second)
    ]
    runtimes[0]._retune_in_background()
    assert fitting.wait(30)
    runtimes[1]._retune_in_background()  # waits for the first one's turn
    release.set()
    assert until(lambda: not any(r._retuning for r in runtimes), timeout=60)
    assert len(fits) == 1  # one re-tune for the two workers
    assert second.index.tuning == first.index.tuning
    assert second.index.tuning["generation"] == 2  # the build's, then this one
    assert second.index.calibration.to_json() == first.index.calibration.to_json()
    assert not selftune.due(second.index)
    for runtime in runtimes:
        runtime.close()


def test_another_backend_s_tuning_engine_is_built_while_updates_go_on(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pymilvus")
    monkeypatch.setattr(selftune, "RETUNE_MIN_CHANGES", 1)
    settings = env.settings.model_copy(update={"search_backend": "milvus"})
    service = SearchService.open(settings, env.db)
    runtime = Runtime(settings, env.db, service, RateLimiter.from_settings(settings))
    building, release = threading.Event(), threading.Event()
    real_build = EmbeddedBackend.build

    def slow_build(self: EmbeddedBackend, *args: Any, **kwargs: Any) -> None:
        building.set()  # the in-process engine self-tuning searches instead of Milvus
        assert release.wait(30)
        real_build(self, *args, **kwargs)

    monkeypatch.setattr(EmbeddedBackend, "build", slow_build)
    runtime.sync([_archive(env, "TX-GH-003")])
    assert building.wait(30), "no re-tune started"
    updated = threading.Event()

    def update() -> None:
        runtime.sync([_archive(env, "TX-GH-002")])
        updated.set()

    threading.Thread(target=update).start()
    assert updated.wait(30), "the update waited for the tuning engine's build"
    result = runtime.search(SearchRequest("改号后原号码还扣费吗", Channel.AGENT))
    assert result.suggestions and result.suggestions[0].code == "TX-GH-001"
    release.set()
    assert until(lambda: not runtime._retuning, timeout=60)
    runtime.close()
    service.close()
