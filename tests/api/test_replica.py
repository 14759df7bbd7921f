"""The follower: what another process commits reaches this process's index, incrementally,
from the change feed; its own commits are not applied twice; a gap or a failure repairs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import can_have_replicas, create_app
from api.ratelimit import RateLimiter
from api.replica import Follower
from api.runtime import Runtime
from indexer.service import SearchService
from kb import change_feed, changes, users, workflow
from kb.clock import utcnow
from kb.db import Database, create_schema, drop_schema
from kb.models import ChangeFeedEntry
from kb.settings import Settings
from tests.api.conftest import Env, seed, until

# The follower polls and waits on timers: real time (see the marker in pyproject.toml).
pytestmark = pytest.mark.realtime


@dataclass
class RecordingService:
    """Stands in for SearchService: records what it was asked to sync."""

    calls: list[set[int] | None] = field(default_factory=list)
    fail: bool = False

    def sync(self, table_ids: set[int] | None = None, **_: Any) -> None:
        if self.fail:
            raise OSError("disk full")
        self.calls.append(None if table_ids is None else set(table_ids))

    def save_pending(self) -> bool:
        return False

    def prepare(self, table_ids: Any) -> int:
        return 0

    def remap(self, reading: Any, writing: Any) -> bool:
        return False


def _runtime(env: Env, service: Any) -> Runtime:
    return Runtime(env.settings, env.db, service, RateLimiter.from_settings(env.settings))


def _follower(runtime: Runtime, **options: Any) -> Follower:
    with runtime.db.session() as s:
        start = change_feed.head(s)
    return Follower(runtime, start, interval_s=options.pop("interval_s", 60.0), **options)


def _archive(db: Database, code: str) -> int | None:
    """Archive ``code`` as another process would (the CLI, another replica); its stamp."""
    with db.transaction() as s:
        workflow.archive(s, users.get_user(s, "admin1"), code)
        table_id = workflow.load(s, code).id
    return table_id


def test_another_process_s_archive_leaves_this_index_at_the_next_round(env: Env) -> None:
    settings = env.settings.model_copy(update={"self_tune": False})
    service = SearchService.open(settings, env.db)
    follower = _follower(_runtime(env, service))
    assert "TX-GH-001" in {d.code for d in service.index.docs.values()}
    _archive(env.db, "TX-GH-001")
    assert "TX-GH-001" in {d.code for d in service.index.docs.values()}  # not yet
    assert follower.catch_up() == 1
    assert "TX-GH-001" not in {d.code for d in service.index.docs.values()}
    status = follower.status()
    assert status["last_stamp"] == status["head_stamp"] == follower.last_stamp
    assert status["behind"] == 0
    assert status["lag_s"] == 0.0 and status["last_delay_s"] is not None


def test_entries_are_applied_together_and_only_once(env: Env) -> None:
    service = RecordingService()
    follower = _follower(_runtime(env, service))
    first = _archive(env.db, "TX-GH-001")
    second = _archive(env.db, "TX-GH-002")
    assert follower.catch_up() == 2
    assert follower.catch_up() == 0
    assert service.calls == [{first, second}]


def test_this_process_s_own_commit_is_not_applied_again(env: Env) -> None:
    service = RecordingService()
    runtime = _runtime(env, service)
    follower = _follower(runtime)
    with env.db.transaction() as s:
        workflow.archive(s, users.get_user(s, "admin1"), "TX-GH-001")
        changed = changes.pop(s)
    runtime.sync(changed, changes.pop_stamp(s))  # what api.deps does after the commit
    assert follower.catch_up() == 1
    assert service.calls == [changed] and runtime.own_stamps == set()


def test_a_failed_own_update_is_repaired_by_the_follower(env: Env) -> None:
    service = RecordingService(fail=True)
    runtime = _runtime(env, service)
    follower = _follower(runtime)
    with env.db.transaction() as s:
        workflow.archive(s, users.get_user(s, "admin1"), "TX-GH-001")
        changed = changes.pop(s)
    runtime.sync(changed, changes.pop_stamp(s))
    assert runtime.repair_due
    service.fail = False
    follower.catch_up()
    assert service.calls == [None] and not runtime.repair_due  # None: compare everything


def test_entries_pruned_before_they_were_read_make_a_full_repair(env: Env) -> None:
    service = RecordingService()
    follower = _follower(_runtime(env, service))
    start = follower.last_stamp
    _archive(env.db, "TX-GH-001")
    _archive(env.db, "TX-GH-002")
    with env.db.transaction() as s:
        s.get_one(ChangeFeedEntry, start + 1).at = utcnow() - timedelta(days=30)
        assert change_feed.prune(s, utcnow() - timedelta(days=1)) == 1
    follower.catch_up()
    assert service.calls == [None] and follower.last_stamp == start + 2
    assert follower.repairs == 1


def test_a_failed_round_is_retried_from_the_same_stamp(env: Env) -> None:
    service = RecordingService(fail=True)
    follower = _follower(_runtime(env, service))
    start = follower.last_stamp
    table_id = _archive(env.db, "TX-GH-001")
    with pytest.raises(OSError):
        follower.catch_up()
    assert follower.last_stamp == start
    service.fail = False
    assert follower.catch_up() == 1 and service.calls == [{table_id}]


def test_the_poll_applies_changes_within_the_interval(env: Env) -> None:
    service = RecordingService()
    follower = _follower(_runtime(env, service), interval_s=0.1)
    follower.start()
    try:
        table_id = _archive(env.db, "TX-GH-001")
        assert until(lambda: service.calls == [{table_id}], timeout=5)
    finally:
        follower.stop()


def test_admins_see_the_replica_s_place_in_the_feed(env: Env) -> None:
    with TestClient(create_app(env.settings)) as client:
        _archive(env.db, "TX-GH-003")
        with env.db.session() as s:
            head = change_feed.head(s)
        replica = client.app.state.runtime.replica  # type: ignore[attr-defined]
        replica.wake()
        assert until(lambda: replica.last_stamp == head)
        body = client.get("/api/admin/health", headers=env.auth("admin1")).json()
        assert client.get("/api/health").json() == {"status": "ok"}
    assert body["replica"]["last_stamp"] == body["replica"]["head_stamp"] == head
    assert body["replica"]["behind"] == 0 and body["replica"]["listening"] is False


def test_only_a_database_other_processes_can_write_is_followed(tmp_path: Any) -> None:
    assert not can_have_replicas(Database("sqlite://"))
    assert can_have_replicas(Database(f"sqlite:///{tmp_path / 'zhiku.db'}"))


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_env(postgres_url: str, tmp_path: Any) -> Iterator[Env]:
    db = Database(postgres_url)
    drop_schema(db.engine)
    create_schema(db.engine)
    tokens = seed(db)
    settings = Settings(data_dir=tmp_path, database_url=postgres_url, encoder="fake")
    yield Env(settings, db, tokens)
    db.dispose()


def _kill_listeners(db: Database) -> int:
    with db.engine.begin() as conn:
        killed = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
                " AND datname = current_database()"
            )
        ).scalar_one()
    return int(killed)


@pytest.mark.postgres
def test_notifications_apply_at_once_and_a_dropped_listener_is_healed(pg_env: Env) -> None:
    service = RecordingService()
    # A poll far slower than the test: only the notification can bring the change in time.
    follower = _follower(_runtime(pg_env, service), interval_s=60.0)
    follower.listen = True
    follower.start()
    try:
        assert until(lambda: follower.listening)
        first = _archive(pg_env.db, "TX-GH-001")
        assert until(lambda: service.calls == [{first}], timeout=3)
        assert _kill_listeners(pg_env.db) == 1
        assert until(lambda: not follower.listening, timeout=5)
        second = _archive(pg_env.db, "TX-GH-002")  # committed while nobody listens
        # The listener reconnects within RECONNECT_MAX_S and catches up at once, long
        # before the 60 s poll.
        assert until(lambda: service.calls == [{first}, {second}], timeout=15)
        assert follower.listening
    finally:
        follower.stop()
