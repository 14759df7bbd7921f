"""The loop endpoints: usage per table, stale-but-used, gaps → drafts, dashboard, golden set."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

from fastapi.testclient import TestClient

from kb import querylog, tables
from kb.clock import utcnow
from kb.models import TableUsage
from tests.api.conftest import Env
from tests.factories import log_unanswered

# The fake encoder puts these in one cluster at 0.5 and apart from the other intent.
WALLET = ["数字人民币钱包怎么开通", "怎么开通数字人民币钱包", "数字人民币钱包在哪开通"]
TRADE_IN = "以旧换新怎么估价"
LOOSE = {"threshold": 0.5}


def _unanswered(env: Env, query: str, times: int = 1) -> None:
    with env.db.transaction() as session:
        log_unanswered(session, query, times)


def _log_gaps(env: Env) -> None:
    _unanswered(env, WALLET[0], 3)
    _unanswered(env, WALLET[1], 2)
    _unanswered(env, WALLET[2])
    _unanswered(env, TRADE_IN, 2)


def _get(client: TestClient, env: Env, path: str, who: str = "editor1", **params: object):  # type: ignore[no-untyped-def]
    return client.get(path, params=params, headers=env.auth(who))


# ---------------------------------------------------------------- usage


def test_a_search_and_a_vote_show_up_in_usage(client: TestClient, env: Env) -> None:
    found = _get(client, env, "/api/search", "agent1", q="改号后原号码是否还会产生话费")
    assert found.json()["suggestions"][0]["code"] == "TX-GH-001"
    vote = client.post(
        "/api/feedback",
        json={"code": "TX-GH-001", "helpful": False, "query": "改号后原号码是否还会产生话费"},
        headers=env.auth("agent1"),
    )
    assert vote.status_code == 201
    listed = _get(client, env, "/api/admin/usage")
    assert listed.status_code == 200
    body = listed.json()
    assert (body["total"], body["sort"], body["order"]) == (3, "hits", "desc")
    first = body["rows"][0]
    assert (first["code"], first["hits"], first["not_helpful"], first["helpful_rate"]) == (
        "TX-GH-001",
        1,
        1,
        0.0,
    )
    assert first["last_hit_at"] is not None
    # The draft TX-GH-004 was never live: it has no usage to show.
    assert sorted(r["code"] for r in body["rows"]) == ["TX-GH-001", "TX-GH-002", "TX-GH-003"]


def test_usage_sorts_and_pages(client: TestClient, env: Env) -> None:
    with env.db.transaction() as session:
        for code, hits in (("TX-GH-002", 7), ("TX-GH-003", 2)):
            table = tables.get_table(session, code)
            session.add(TableUsage(table_id=table.id, hits=hits, helpful=0, not_helpful=0))
    page = _get(client, env, "/api/admin/usage", page_size=2).json()
    assert [r["code"] for r in page["rows"]] == ["TX-GH-002", "TX-GH-003"]
    rest = _get(client, env, "/api/admin/usage", page_size=2, page=2).json()
    assert [r["code"] for r in rest["rows"]] == ["TX-GH-001"]
    by_code = _get(client, env, "/api/admin/usage", sort="code", order="asc").json()
    assert [r["code"] for r in by_code["rows"]] == ["TX-GH-001", "TX-GH-002", "TX-GH-003"]


def test_usage_refuses_bad_sorts_and_agents(client: TestClient, env: Env) -> None:
    bad = _get(client, env, "/api/admin/usage", sort="popularity")
    assert bad.status_code == 422
    assert bad.json()["problems"][0]["field"] == "sort"
    assert "hits, last_hit" in bad.json()["message"]
    order = _get(client, env, "/api/admin/usage", order="up")
    assert order.status_code == 422 and order.json()["problems"][0]["field"] == "order"
    agent = _get(client, env, "/api/admin/usage", "agent1")
    assert agent.status_code == 403 and agent.json()["error"] == "permission_denied"
    anonymous = client.get("/api/admin/usage")
    assert anonymous.status_code == 401


def test_one_tables_usage_lists_the_queries_that_found_it(client: TestClient, env: Env) -> None:
    for _ in range(2):
        _get(client, env, "/api/search", "agent1", q="改号后原号码是否还会产生话费")
    detail = _get(client, env, "/api/admin/usage/TX-GH-001")
    assert detail.status_code == 200
    body = detail.json()
    assert body["usage"]["hits"] == 2
    assert body["queries"] == [{"query": "改号后原号码是否还会产生话费", "count": 2}]
    assert body["open_flags"] == []
    missing = _get(client, env, "/api/admin/usage/NOPE-1")
    assert missing.status_code == 404 and "NOPE-1" in missing.json()["message"]


def test_stale_but_used_lists_busy_expired_tables(client: TestClient, env: Env) -> None:
    with env.db.transaction() as session:
        expired = tables.get_table(session, "TX-GH-003")  # valid_until was yesterday
        session.add(TableUsage(table_id=expired.id, hits=9, helpful=0, not_helpful=0))
    found = _get(client, env, "/api/admin/stale-but-used", "reviewer1")
    assert found.status_code == 200
    body = found.json()
    assert body["count"] == 1
    item = body["items"][0]
    assert (item["code"], item["hits"], item["expired"], item["package"]) == (
        "TX-GH-003",
        9,
        True,
        "通信业务/改号业务",
    )
    busier = _get(client, env, "/api/admin/stale-but-used", "reviewer1", min_hits=10)
    assert busier.json()["count"] == 0
    bad = _get(client, env, "/api/admin/stale-but-used", min_hits=0)
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "min_hits"


# ---------------------------------------------------------------- gaps


def test_gaps_are_clustered_and_ranked(client: TestClient, env: Env) -> None:
    _log_gaps(env)
    listed = _get(client, env, "/api/admin/gaps", **LOOSE)
    assert listed.status_code == 200
    body = listed.json()
    assert (body["total"], body["threshold"]) == (2, 0.5)
    first, second = body["clusters"]
    assert (first["n"], first["name"], first["volume"]) == (1, WALLET[0], 6)
    assert first["queries"] == [
        {"query": WALLET[0], "count": 3},
        {"query": WALLET[1], "count": 2},
        {"query": WALLET[2], "count": 1},
    ]
    assert (second["n"], second["name"], second["volume"]) == (2, TRADE_IN, 2)
    strict = _get(client, env, "/api/admin/gaps", threshold=0.99).json()
    assert strict["total"] == 4
    assert _get(client, env, "/api/admin/gaps", "agent1").status_code == 403


def test_gap_draft_goes_through_review_to_answer_the_queries(client: TestClient, env: Env) -> None:
    _log_gaps(env)
    body = {
        **LOOSE,
        "package": "通信业务/改号业务",
        "code": "TX-SZ-901",
        "title": "怎么开通数字人民币钱包",
        "answer": "在营业厅 App 的“数字人民币”页面开通钱包，绑定本人银行卡即可。",
        "expected_name": WALLET[0],
    }
    drafted = client.post("/api/admin/gaps/1/draft", json=body, headers=env.auth("editor1"))
    assert drafted.status_code == 201, drafted.json()
    out = drafted.json()
    assert (out["code"], out["revision"], out["state"], out["cluster"]) == (
        "TX-SZ-901",
        1,
        "draft",
        WALLET[0],
    )
    assert out["questions"] == [WALLET[0], WALLET[2]]  # the title itself is not repeated
    headers = env.auth("editor1")
    assert client.post("/api/admin/tables/TX-SZ-901/submit", headers=headers).status_code == 200
    approved = client.post(
        "/api/admin/tables/TX-SZ-901/approve",
        json={"comment": "口径已核对"},
        headers=env.auth("reviewer1"),
    )
    assert approved.json()["state"] == "published"
    for query in WALLET:
        found = _get(client, env, "/api/search", "agent1", q=query).json()
        assert found["suggestions"][0]["code"] == "TX-SZ-901"
        assert not found["abstained"]


def test_gap_draft_refusals(client: TestClient, env: Env) -> None:
    _log_gaps(env)
    body = {**LOOSE, "package": "通信业务/改号业务", "code": "TX-SZ-902", "answer": "…"}

    def post(n: int, who: str = "editor1", **changes: object):  # type: ignore[no-untyped-def]
        return client.post(
            f"/api/admin/gaps/{n}/draft", json={**body, **changes}, headers=env.auth(who)
        )

    missing = post(9)
    assert missing.status_code == 404
    assert missing.json()["message"].startswith("No gap cluster 9; there are 2 clusters")
    moved = post(1, expected_name=TRADE_IN)
    assert moved.status_code == 409 and "reload the gaps" in moved.json()["message"]
    no_answer = post(1, answer="")
    assert no_answer.status_code == 422
    assert "answer" in {p["field"] for p in no_answer.json()["problems"]}
    taken = post(1, code="TX-GH-001")
    assert taken.status_code == 409 and "already exists" in taken.json()["message"]
    nowhere = post(1, package="通信业务/没有")
    assert nowhere.status_code == 404
    assert post(1, "agent1").status_code == 403
    window = post(1, days=0)
    assert window.status_code == 422 and window.json()["problems"][0]["field"] == "days"


def test_gap_attach_makes_a_draft_revision_to_review(client: TestClient, env: Env) -> None:
    _log_gaps(env)
    body = {**LOOSE, "to": "TX-GH-001", "expected_name": TRADE_IN}
    attached = client.post("/api/admin/gaps/2/attach", json=body, headers=env.auth("editor1"))
    assert attached.status_code == 200, attached.json()
    out = attached.json()
    assert (out["code"], out["revision"], out["state"]) == ("TX-GH-001", 2, "draft")
    assert out["questions"][-1] == TRADE_IN
    table = _get(client, env, "/api/admin/tables/TX-GH-001").json()
    assert table["live_revision"] == 1  # the live answer is untouched until review
    again = client.post("/api/admin/gaps/2/attach", json=body, headers=env.auth("editor1"))
    assert again.status_code == 409  # the open draft already has them
    wallet = {**body, "expected_name": WALLET[0]}
    other = client.post("/api/admin/gaps/1/attach", json=wallet, headers=env.auth("editor2"))
    assert other.status_code == 403 and "editor1's draft" in other.json()["message"]
    unknown = client.post(
        "/api/admin/gaps/2/attach", json={**body, "to": "NOPE-1"}, headers=env.auth("editor1")
    )
    assert unknown.status_code == 404


# ---------------------------------------------------------------- dashboard


def test_dashboard_figures(client: TestClient, env: Env) -> None:
    _log_gaps(env)
    _get(client, env, "/api/search", "agent1", q="改号后原号码是否还会产生话费")
    client.post(
        "/api/feedback",
        json={"code": "TX-GH-001", "helpful": True, "query": "改号"},
        headers=env.auth("agent1"),
    )
    board = _get(client, env, "/api/admin/dashboard", days=7, top=3, **LOOSE)
    assert board.status_code == 200
    body = board.json()
    assert len(body["daily"]) == 8  # every day of the window, today included
    assert sum(d["searches"] for d in body["daily"]) == 9
    assert body["totals"] == {
        "searches": 9,
        "abstained": 8,
        "abstention_rate": 0.8889,
        "votes": 1,
        "helpful": 1,
        "helpful_rate": 1.0,
        "distinct_queries": 5,
    }
    # ties (2 each) in text order
    assert [q["query"] for q in body["top_queries"]] == [WALLET[0], TRADE_IN, WALLET[1]]
    assert [(g["n"], g["name"], g["volume"]) for g in body["top_gaps"]] == [
        (1, WALLET[0], 6),
        (2, TRADE_IN, 2),
    ]
    assert body["gap_count"] == 2 and body["stale_but_used"] == []
    # the agent's helpful vote is offered for the golden set until a reviewer confirms it
    endorsed = [(e["query"], e["code"], e["helpful"], e["not_helpful"]) for e in body["endorsed"]]
    assert endorsed == [("改号", "TX-GH-001", 1, 0)]
    pair = {"query": "改号", "code": "TX-GH-001"}
    assert client.post("/api/admin/golden", json=pair, headers=env.auth("reviewer1")).is_success
    board = _get(client, env, "/api/admin/dashboard", days=7, top=3, **LOOSE).json()
    assert board["endorsed"] == []
    assert _get(client, env, "/api/admin/dashboard", "agent1").status_code == 403
    assert _get(client, env, "/api/admin/dashboard", days=0).status_code == 422


def test_dashboard_counts_days_in_the_configured_zone(client: TestClient, env: Env) -> None:
    with env.db.transaction() as session:
        querylog.log_search(
            session,
            enabled=True,
            channel="agent",
            query="昨天的问题",
            normalized="昨天的问题",
            results=[],
            abstained=True,
            latency_ms=1.0,
            at=utcnow() - timedelta(days=1),
        )
    body = _get(client, env, "/api/admin/dashboard", days=3).json()
    days = [d["date"] for d in body["daily"]]
    assert days == sorted(days) and len(set(days)) == len(days)
    assert [d["searches"] for d in body["daily"]].count(1) == 1


# ---------------------------------------------------------------- golden set


def test_golden_promote_list_and_export(client: TestClient, env: Env) -> None:
    pair = {"query": "换号后旧号还扣钱吗", "code": "TX-GH-001"}
    refused = client.post("/api/admin/golden", json=pair, headers=env.auth("editor1"))
    assert refused.status_code == 403
    added = client.post("/api/admin/golden", json=pair, headers=env.auth("reviewer1"))
    assert added.status_code == 201
    assert (added.json()["code"], added.json()["added_by"], added.json()["live"]) == (
        "TX-GH-001",
        "reviewer1",
        True,
    )
    again = client.post("/api/admin/golden", json=pair, headers=env.auth("reviewer1"))
    assert again.json()["id"] == added.json()["id"]
    draft_only = client.post(
        "/api/admin/golden", json={**pair, "code": "TX-GH-004"}, headers=env.auth("reviewer1")
    )
    assert draft_only.status_code == 409 and "no published revision" in draft_only.json()["message"]
    empty = client.post(
        "/api/admin/golden", json={**pair, "query": ""}, headers=env.auth("reviewer1")
    )
    assert empty.status_code == 422 and empty.json()["problems"][0]["field"] == "query"
    listed = _get(client, env, "/api/admin/golden").json()
    assert listed["count"] == 1 and listed["items"][0]["query"] == "换号后旧号还扣钱吗"
    exported = _get(client, env, "/api/admin/golden/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    assert sorted(archive.namelist()) == ["entries.jsonl", "queries.jsonl"]
    queries = [json.loads(line) for line in archive.read("queries.jsonl").decode().splitlines()]
    assert queries == [
        {
            "qid": f"golden-{added.json()['id']}",
            "query": "换号后旧号还扣钱吗",
            "relevant": ["TX-GH-001"],
        }
    ]
    assert _get(client, env, "/api/admin/golden/export", "agent1").status_code == 403
