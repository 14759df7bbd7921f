"""API fixtures: a temporary SQLite file with a small governed KB, users with tokens, a client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from indexer.calibration import Calibration
from kb import users
from kb.clock import utcnow
from kb.db import Database, open_database
from kb.models import Audience, RevisionState
from kb.settings import Settings
from tests.api.browsing import browser, server, tab  # noqa: F401  (fixtures for browser tests)
from tests.factories import make_package, make_table

ROLES = {
    "agent1": "agent",
    "editor1": "editor",
    "editor2": "editor",
    "reviewer1": "reviewer",
    "admin1": "admin",
}


def until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds passed (real time: tests that
    use it are marked ``realtime``); whether it holds."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


@dataclass
class Env:
    settings: Settings
    db: Database
    tokens: dict[str, str]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url="", encoder="fake", query_log_enabled=True)


def seed(db: Database) -> dict[str, str]:
    """Four tables in 通信业务/改号业务: public, internal, expired, and a draft; one user per role."""
    now = utcnow()
    tokens: dict[str, str] = {}
    with db.transaction() as session:
        package = make_package(session)
        make_table(
            session,
            package,
            code="TX-GH-001",
            last_verified_at=now,
            fields={
                "question": "客户担心改号后原号码继续扣费。",
                "answer": "改号完成后原号码**停止计费**。",
                "steps": ["登录营业厅 App", "查看已办业务"],
                "internal_note": "坚持扣费的转计费组核查",
            },
        )
        make_table(
            session,
            package,
            code="TX-GH-002",
            title="内部：改号计费争议处理流程",
            questions=["计费争议怎么转单"],
            audience=Audience.INTERNAL,
            last_verified_at=now,
            fields={"answer": "转计费组，工单类型选计费争议。"},
        )
        make_table(
            session,
            package,
            code="TX-GH-003",
            title="改号优惠活动（已结束）",
            questions=["改号有优惠吗"],
            valid_until=now - timedelta(days=1),
            fields={"answer": "活动已结束。"},
        )
        make_table(
            session,
            package,
            code="TX-GH-004",
            title="改号草稿：新政策",
            questions=["改号新政策是什么"],
            state=RevisionState.DRAFT,
            actor="editor1",
            fields={"answer": "草稿内容，尚未审核。"},
        )
        for name, role in ROLES.items():
            user = users.create_user(session, name, role)
            tokens[name] = users.issue_token(session, user)[1]
    return tokens


@pytest.fixture
def env(settings: Settings) -> Iterator[Env]:
    db = open_database(settings.resolved_database_url, create=True)
    tokens = seed(db)
    yield Env(settings, db, tokens)
    db.dispose()


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    """The app as `kb serve` builds it: the real SearchService, with the fake encoder.

    The default confidence coefficients were fitted on e5 blend scores, which the fake
    encoder's hashed n-grams do not resemble, and a four-table KB is too small to fit its own.
    So the confidence is pinned to the default blend score alone (1.1 → 0.79, 0.85 → 0.33): these tests
    check what the service does with a confidence (abstain, hand over to a human), the model
    itself is tested in ``tests/indexer``.
    """
    with TestClient(create_app(env.settings)) as test_client:
        index = test_client.app.state.runtime.service.index  # type: ignore[attr-defined]
        # one coefficient per calibration.FEATURES (score, margin, dense, coverage, covered, lead)
        index.calibration = Calibration(
            coef=[8.0, 0.0, 0.0, 0.0, 0.0, 0.0], intercept=-7.5, source="pinned for API tests"
        )
        yield test_client
