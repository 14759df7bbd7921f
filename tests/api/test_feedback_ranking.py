"""A vote recorded through the API counts for the next search at once (feedback ranking on)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.conftest import Env


@pytest.fixture
def voting(env: Env) -> Iterator[TestClient]:
    settings = env.settings.model_copy(update={"feedback_ranking": True})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _feedback(body: dict[str, Any]) -> dict[str, float]:
    return {s["code"]: s["scores"]["feedback"] for s in body["suggestions"]}


def test_an_agent_vote_counts_for_the_next_search_of_that_query(
    voting: TestClient, env: Env
) -> None:
    headers = env.auth("agent1")
    first = voting.get("/api/search", params={"q": "改号"}, headers=headers).json()
    assert _feedback(first) == {"TX-GH-001": 0.0, "TX-GH-002": 0.0}
    # no query text: the vote takes the logged search's
    vote = {"code": "TX-GH-002", "helpful": False, "query_log_id": first["query_log_id"]}
    assert voting.post("/api/feedback", json=vote, headers=headers).status_code == 201
    again = voting.get("/api/search", params={"q": "改号？"}, headers=headers).json()
    assert _feedback(again) == {"TX-GH-001": 0.0, "TX-GH-002": -0.05}
    other = voting.get("/api/search", params={"q": "改号计费"}, headers=headers).json()
    assert set(_feedback(other).values()) == {0.0}


def test_a_customer_vote_does_not_move_what_agents_see(voting: TestClient, env: Env) -> None:
    vote = {"code": "TX-GH-001", "helpful": True, "query": "改号"}
    assert voting.post("/api/faq/feedback", json=vote).status_code == 200
    agent = voting.get("/api/search", params={"q": "改号"}, headers=env.auth("agent1")).json()
    assert set(_feedback(agent).values()) == {0.0}
