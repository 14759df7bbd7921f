"""Shared fixtures: databases on SQLite (always) and PostgreSQL (when a server is given).

``db`` runs a test on both backends; ``sqlite_db`` on in-memory SQLite only. The PostgreSQL
URL comes from ZHIKU_TEST_PG_URL (``make test`` and ``.ci/run`` start a server and set it).
With ZHIKU_REQUIRE_PG=1 a missing server fails the run instead of skipping.

Every test runs on a fixed calendar: the clock (``kb.clock``) reads :data:`TEST_EPOCH` when
the session starts and runs on from there, in this process and in every process a test starts
(``ZHIKU_CLOCK_OFFSET``), so the demo KB's validity dates mean the same on any day the suite
runs (it passes under ``faketime`` a year ahead: ``make test-future``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session

from kb import clock
from kb.db import Database, create_schema, drop_schema, open_database

# A weekday morning in Beijing for which the demo KB was written (some tables expired, some
# expiring within weeks, most fresh).
TEST_EPOCH = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="session", autouse=True)
def private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Caches that default under ~/.cache (kb eval's embeddings) go to a temporary directory."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture(scope="session", autouse=True)
def fixed_calendar() -> Iterator[None]:
    """The clock of this process and of the processes tests start runs from TEST_EPOCH."""
    saved = os.environ.get(clock.OFFSET_ENV)
    os.environ[clock.OFFSET_ENV] = str(round(clock.offset_to(TEST_EPOCH)))
    with clock.running_from(TEST_EPOCH):
        yield
    if saved is None:
        os.environ.pop(clock.OFFSET_ENV, None)
    else:
        os.environ[clock.OFFSET_ENV] = saved


@pytest.fixture(scope="session", autouse=True)
def no_timer_outlives_the_session() -> Iterator[None]:
    """Cancel timers left running when the session ends (the rate limiter's in-memory storage
    re-arms a 10 ms ``threading.Timer``). The interpreter waits for them at exit, and under
    ``faketime`` (make test-future) a timed wait may not wake: a worker hung after its last test."""
    yield
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer):
            thread.cancel()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test process's own on the server (xdist workers run side by side)."""
    base = os.environ.get("ZHIKU_TEST_PG_URL", "")
    if not base:
        if os.environ.get("ZHIKU_REQUIRE_PG") == "1":
            pytest.fail("ZHIKU_REQUIRE_PG=1 but ZHIKU_TEST_PG_URL is not set")
        pytest.skip("no PostgreSQL server: set ZHIKU_TEST_PG_URL (make test does)")
    name = f"zhiku_t{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def sqlite_db() -> Iterator[Database]:
    db = open_database("sqlite://", create=True)
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    if request.param == "sqlite":
        database = open_database("sqlite://", create=True)
    else:
        database = Database(request.getfixturevalue("postgres_url"))
        drop_schema(database.engine)
        create_schema(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def session(sqlite_db: Database) -> Iterator[Session]:
    with sqlite_db.session() as s:
        yield s
