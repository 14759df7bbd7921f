"""Agent endpoints: search, suggest, flags, feedback; tokens and roles."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from kb.models import Feedback, Flag, QueryLogEntry
from tests.api.conftest import Env


def test_search_needs_a_token(client: TestClient) -> None:
    response = client.get("/api/search", params={"q": "改号"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthenticated"
    bad = client.get(
        "/api/search", params={"q": "改号"}, headers={"Authorization": "Bearer zk_nope"}
    )
    assert bad.status_code == 401
    assert "Unknown, revoked or deactivated" in bad.json()["message"]


def test_agent_sees_internal_but_not_expired_or_drafts(client: TestClient, env: Env) -> None:
    response = client.get("/api/search", params={"q": "改号"}, headers=env.auth("agent1"))
    assert response.status_code == 200
    body = response.json()
    assert [s["code"] for s in body["suggestions"]] == ["TX-GH-001", "TX-GH-002"]
    assert body["filtered"] >= 1  # the expired TX-GH-003 matched too
    first = body["suggestions"][0]
    assert first["path"] == ["通信业务", "改号业务", "改号后原号码是否还会产生话费"]
    assert first["match"]["html"].startswith("<mark>")
    assert first["answer_format"] == "plain"
    assert first["freshness"]["expired"] is False
    assert body["suggestions"][1]["audience"] == "internal"
    assert body["query_log_id"] is not None


def test_agent_can_ask_for_expired_content_marked_as_such(client: TestClient, env: Env) -> None:
    params = {"q": "改号", "include_expired": "true"}
    body = client.get("/api/search", params=params, headers=env.auth("agent1")).json()
    expired = {s["code"]: s["freshness"]["expired"] for s in body["suggestions"]}
    assert expired == {"TX-GH-001": False, "TX-GH-002": False, "TX-GH-003": True}
    default = client.get("/api/search", params={"q": "改号"}, headers=env.auth("agent1")).json()
    assert "TX-GH-003" not in [s["code"] for s in default["suggestions"]]


def test_search_limits(client: TestClient, env: Env) -> None:
    headers = env.auth("agent1")
    long = client.get("/api/search", params={"q": "改" * 201}, headers=headers)
    assert long.status_code == 422
    assert long.json()["problems"][0]["field"] == "q"
    many = client.get("/api/search", params={"q": "改号", "k": 50}, headers=headers)
    assert many.status_code == 422
    assert many.json()["problems"][0]["field"] == "k"


def test_search_is_logged(client: TestClient, env: Env) -> None:
    body = client.get("/api/search", params={"q": "改号"}, headers=env.auth("agent1")).json()
    with env.db.session() as session:
        entry = session.get(QueryLogEntry, body["query_log_id"])
        assert entry is not None
        assert (entry.channel, entry.query) == ("agent", "改号")
        assert [r["code"] for r in entry.results] == ["TX-GH-001", "TX-GH-002"]


def test_suggest_answers_the_last_customer_turn(client: TestClient, env: Env) -> None:
    transcript = [
        {"role": "customer", "text": "你好"},
        {"role": "agent", "text": "您好，请问有什么可以帮您"},
        {"role": "customer", "text": "改号有优惠吗"},
        {"role": "agent", "text": "我查一下"},
    ]
    response = client.post(
        "/api/suggest", json={"transcript": transcript, "k": 3}, headers=env.auth("agent1")
    )
    assert response.status_code == 200
    body = response.json()
    assert body["turn"] == 2
    assert body["query"] == "改号有优惠吗"
    assert body["abstained"] is True  # its only real answer (TX-GH-003) has expired
    assert "TX-GH-003" not in [s["code"] for s in body["suggestions"]]


def test_suggest_refuses_a_transcript_without_a_customer_turn(client: TestClient, env: Env) -> None:
    response = client.post(
        "/api/suggest",
        json={"transcript": [{"role": "agent", "text": "您好"}]},
        headers=env.auth("agent1"),
    )
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "transcript"
    bad_role = client.post(
        "/api/suggest",
        json={"transcript": [{"role": "robot", "text": "hi"}]},
        headers=env.auth("agent1"),
    )
    assert bad_role.status_code == 422
    assert bad_role.json()["problems"][0]["field"] == "transcript.0.role"


def test_flag_a_live_table(client: TestClient, env: Env) -> None:
    body = {"code": "TX-GH-001", "reason": "outdated", "comment": "资费已调整"}
    response = client.post("/api/flags", json=body, headers=env.auth("agent1"))
    assert response.status_code == 201
    assert response.json()["raised_by"] == "agent1"
    again = client.post("/api/flags", json=body, headers=env.auth("agent1"))
    assert again.status_code == 409
    with env.db.session() as session:
        assert len(session.scalars(select(Flag)).all()) == 1


def test_flag_refusals(client: TestClient, env: Env) -> None:
    headers = env.auth("agent1")
    draft = client.post(
        "/api/flags", json={"code": "TX-GH-004", "reason": "wrong"}, headers=headers
    )
    assert draft.status_code == 409
    missing = client.post("/api/flags", json={"code": "NOPE", "reason": "wrong"}, headers=headers)
    assert missing.status_code == 404
    reason = client.post(
        "/api/flags", json={"code": "TX-GH-001", "reason": "boring"}, headers=headers
    )
    assert reason.status_code == 422
    assert reason.json()["problems"][0]["field"] == "reason"
    anonymous = client.post("/api/flags", json={"code": "TX-GH-001", "reason": "wrong"})
    assert anonymous.status_code == 401


def test_feedback_on_a_suggestion(client: TestClient, env: Env) -> None:
    search = client.get("/api/search", params={"q": "改号"}, headers=env.auth("agent1")).json()
    body = {
        "code": "TX-GH-001",
        "helpful": True,
        "query": "改号",
        "query_log_id": search["query_log_id"],
    }
    response = client.post("/api/feedback", json=body, headers=env.auth("agent1"))
    assert response.status_code == 201
    with env.db.session() as session:
        vote = session.scalars(select(Feedback)).one()
        assert (vote.channel, vote.helpful, vote.query_log_id) == (
            "agent",
            True,
            search["query_log_id"],
        )
    unknown = client.post(
        "/api/feedback", json={"code": "NOPE", "helpful": False}, headers=env.auth("agent1")
    )
    assert unknown.status_code == 404
