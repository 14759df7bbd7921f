"""Shared fixtures: databases on SQLite (always) and PostgreSQL (when a server is given).

``db`` runs a test on both backends; ``sqlite_db`` on in-memory SQLite only. The PostgreSQL
URL comes from ZHIKU_TEST_PG_URL (``make test`` and ``.ci/run`` start a server and set it).
With ZHIKU_REQUIRE_PG=1 a missing server fails the run instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session

from kb.db import Database, create_schema, drop_schema, open_database


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
