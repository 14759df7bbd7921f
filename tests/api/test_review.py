"""Workflow endpoints: submit, approve, reject, publish, archive, rollback, verify; queues, diff."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from kb.clock import utcnow
from tests.api.conftest import Env


def _submit(client: TestClient, env: Env, code: str = "TX-GH-004", who: str = "editor1") -> dict:
    response = client.post(f"/api/admin/tables/{code}/submit", headers=env.auth(who))
    assert response.status_code == 200, response.text
    return response.json()


def _agent_codes(client: TestClient, env: Env, q: str) -> list[str]:
    body = client.get("/api/search", params={"q": q}, headers=env.auth("agent1")).json()
    return [s["code"] for s in body["suggestions"]]


def test_submit_then_approve_publishes_and_syncs_the_index(client: TestClient, env: Env) -> None:
    assert "TX-GH-004" not in _agent_codes(client, env, "改号新政策是什么")
    assert _submit(client, env)["state"] == "in_review"
    queue = client.get("/api/admin/queues/review", headers=env.auth("reviewer1")).json()
    assert [(i["code"], i["revision"]) for i in queue["items"]] == [("TX-GH-004", 1)]
    approved = client.post(
        "/api/admin/tables/TX-GH-004/approve", json={"comment": "好"}, headers=env.auth("reviewer1")
    )
    assert approved.status_code == 200
    assert approved.json() == {
        "code": "TX-GH-004",
        "revision": 1,
        "state": "published",
        "live_revision": 1,
        "duplicates": [],
    }
    assert _agent_codes(client, env, "改号新政策是什么")[0] == "TX-GH-004"
    assert client.get("/api/faq/tables/TX-GH-004").status_code == 200


def test_submit_refusals(client: TestClient, env: Env) -> None:
    other = client.post("/api/admin/tables/TX-GH-004/submit", headers=env.auth("editor2"))
    assert other.status_code == 403
    live = client.post("/api/admin/tables/TX-GH-001/submit", headers=env.auth("editor1"))
    assert live.status_code == 409
    assert "allowed now" in live.json()["message"]
    assert (
        client.post("/api/admin/tables/NOPE/submit", headers=env.auth("editor1")).status_code == 404
    )


def test_approve_refusals(client: TestClient, env: Env) -> None:
    not_in_review = client.post(
        "/api/admin/tables/TX-GH-004/approve", json={}, headers=env.auth("reviewer1")
    )
    assert not_in_review.status_code == 409
    _submit(client, env)
    editor = client.post(
        "/api/admin/tables/TX-GH-004/approve", json={}, headers=env.auth("editor2")
    )
    assert editor.status_code == 403


def test_a_decision_names_the_submission_it_read(client: TestClient, env: Env) -> None:
    """Withdrawn, rewritten in place and submitted again between the reviewer's reading and
    their click, the revision keeps its number; its submission time is what tells them apart."""
    _submit(client, env)
    reviewer = env.auth("reviewer1")
    read = client.get("/api/admin/tables/TX-GH-004", headers=reviewer).json()["latest"]
    client.post("/api/admin/tables/TX-GH-004/withdraw", json={}, headers=env.auth("editor1"))
    change = {"fields": {"answer": "没人审过的口径"}}
    client.put("/api/admin/tables/TX-GH-004/draft", json=change, headers=env.auth("editor1"))
    _submit(client, env)
    for verb, body in (("approve", {}), ("reject", {"comment": "再看看"})):
        stale = client.post(
            f"/api/admin/tables/TX-GH-004/{verb}",
            json=body | {"submitted_at": read["submitted_at"]},
            headers=reviewer,
        )
        assert stale.status_code == 409, stale.text
        assert "submitted again" in stale.json()["message"]
    now = client.get("/api/admin/tables/TX-GH-004", headers=reviewer).json()["latest"]
    assert (now["number"], now["fields"]["answer"]) == (read["number"], "没人审过的口径")
    approved = client.post(
        "/api/admin/tables/TX-GH-004/approve",
        json={"submitted_at": now["submitted_at"]},
        headers=reviewer,
    )
    assert approved.status_code == 200, approved.text


def test_reviewer_cannot_approve_their_own_revision(client: TestClient, env: Env) -> None:
    change = {"title": "改号后原号码会扣费吗（审核员改）"}
    client.put("/api/admin/tables/TX-GH-001/draft", json=change, headers=env.auth("reviewer1"))
    _submit(client, env, "TX-GH-001", "reviewer1")
    own = client.post("/api/admin/tables/TX-GH-001/approve", json={}, headers=env.auth("reviewer1"))
    assert own.status_code == 403
    assert "self-approval" in own.json()["message"]


def test_reject_needs_a_comment(client: TestClient, env: Env) -> None:
    _submit(client, env)
    empty = client.post(
        "/api/admin/tables/TX-GH-004/reject", json={"comment": ""}, headers=env.auth("reviewer1")
    )
    assert empty.status_code == 422
    assert empty.json()["problems"][0]["field"] == "comment"
    rejected = client.post(
        "/api/admin/tables/TX-GH-004/reject",
        json={"comment": "请补充办理渠道"},
        headers=env.auth("reviewer1"),
    )
    assert rejected.json()["state"] == "rejected"
    table = client.get("/api/admin/tables/TX-GH-004", headers=env.auth("editor1")).json()
    assert table["latest"]["review_comment"] == "请补充办理渠道"


def test_withdraw(client: TestClient, env: Env) -> None:
    _submit(client, env)
    response = client.post(
        "/api/admin/tables/TX-GH-004/withdraw", json={}, headers=env.auth("editor1")
    )
    assert response.json()["state"] == "draft"


def test_scheduled_approval_then_publish_now(client: TestClient, env: Env) -> None:
    _submit(client, env)
    later = (utcnow() + timedelta(days=3)).isoformat()
    approved = client.post(
        "/api/admin/tables/TX-GH-004/approve",
        json={"publish_at": later},
        headers=env.auth("reviewer1"),
    )
    assert approved.json()["state"] == "scheduled"
    assert client.get("/api/faq/tables/TX-GH-004").status_code == 404
    reviewer = client.post(
        "/api/admin/tables/TX-GH-004/publish", json={}, headers=env.auth("reviewer1")
    )
    assert reviewer.status_code == 403
    published = client.post(
        "/api/admin/tables/TX-GH-004/publish", json={}, headers=env.auth("admin1")
    )
    assert published.json()["state"] == "published"
    again = client.post("/api/admin/tables/TX-GH-004/publish", json={}, headers=env.auth("admin1"))
    assert again.status_code == 409


def test_archive_removes_a_table_from_customers(client: TestClient, env: Env) -> None:
    editor = client.post(
        "/api/admin/tables/TX-GH-001/archive", json={}, headers=env.auth("editor1")
    )
    assert editor.status_code == 403
    archived = client.post(
        "/api/admin/tables/TX-GH-001/archive",
        json={"comment": "业务下线"},
        headers=env.auth("reviewer1"),
    )
    assert archived.json()["state"] == "archived"
    assert archived.json()["live_revision"] is None
    assert client.get("/api/faq/tables/TX-GH-001").status_code == 404
    again = client.post(
        "/api/admin/tables/TX-GH-001/archive", json={}, headers=env.auth("reviewer1")
    )
    assert again.status_code == 409


def test_rollback_starts_a_draft(client: TestClient, env: Env) -> None:
    client.put(
        "/api/admin/tables/TX-GH-001/draft", json={"title": "新标题"}, headers=env.auth("editor1")
    )
    _submit(client, env, "TX-GH-001")
    client.post("/api/admin/tables/TX-GH-001/approve", json={}, headers=env.auth("reviewer1"))
    rolled = client.post(
        "/api/admin/tables/TX-GH-001/rollback", json={"to": 1}, headers=env.auth("editor1")
    )
    assert rolled.json() == {
        "code": "TX-GH-001",
        "revision": 3,
        "state": "draft",
        "live_revision": 2,
        "duplicates": [],
    }
    missing = client.post(
        "/api/admin/tables/TX-GH-002/rollback", json={"to": 7}, headers=env.auth("editor1")
    )
    assert missing.status_code == 404
    bad = client.post(
        "/api/admin/tables/TX-GH-001/rollback", json={"to": 0}, headers=env.auth("editor1")
    )
    assert bad.status_code == 422


def test_diff_between_live_and_latest(client: TestClient, env: Env) -> None:
    client.put(
        "/api/admin/tables/TX-GH-001/draft", json={"title": "新标题"}, headers=env.auth("editor1")
    )
    response = client.get("/api/admin/tables/TX-GH-001/diff", headers=env.auth("reviewer1"))
    assert response.status_code == 200
    body = response.json()
    assert (body["a"], body["b"]) == (1, 2)
    assert [(c["key"], c["kind"]) for c in body["changes"]] == [("title", "changed")]
    missing = client.get("/api/admin/tables/TX-GH-001/diff?a=1&b=9", headers=env.auth("reviewer1"))
    assert missing.status_code == 404


def test_verify_an_expired_table_needs_a_new_date(client: TestClient, env: Env) -> None:
    assert client.get("/api/faq/tables/TX-GH-003").status_code == 404
    plain = client.post(
        "/api/admin/tables/TX-GH-003/verify", json={}, headers=env.auth("reviewer1")
    )
    assert plain.status_code == 422
    until = (utcnow() + timedelta(days=30)).isoformat()
    verified = client.post(
        "/api/admin/tables/TX-GH-003/verify",
        json={"valid_until": until},
        headers=env.auth("reviewer1"),
    )
    assert verified.status_code == 200
    assert client.get("/api/faq/tables/TX-GH-003").status_code == 200
    editor = client.post("/api/admin/tables/TX-GH-001/verify", json={}, headers=env.auth("editor1"))
    assert editor.status_code == 403


def test_queues(client: TestClient, env: Env) -> None:
    headers = env.auth("reviewer1")
    expired = client.get("/api/admin/queues/expired", headers=headers).json()
    assert [i["code"] for i in expired["items"]] == ["TX-GH-003"]
    expiring = client.get(
        "/api/admin/queues/expiring", params={"days": 365}, headers=headers
    ).json()
    assert sorted(i["code"] for i in expiring["items"]) == ["TX-GH-001", "TX-GH-002"]
    client.post(
        "/api/flags", json={"code": "TX-GH-001", "reason": "wrong"}, headers=env.auth("agent1")
    )
    flagged = client.get("/api/admin/queues/flagged", headers=headers).json()
    assert flagged["count"] == 1
    assert flagged["items"][0]["flags"][0]["raised_by"] == "agent1"
    editor_review = client.get("/api/admin/queues/review", headers=env.auth("editor1")).json()
    assert editor_review["items"] == []
    assert client.get("/api/admin/queues/nope", headers=headers).status_code == 422
    assert client.get("/api/admin/queues/expired", headers=env.auth("agent1")).status_code == 403


def test_dismiss_a_flag(client: TestClient, env: Env) -> None:
    flag = client.post(
        "/api/flags", json={"code": "TX-GH-001", "reason": "wrong"}, headers=env.auth("agent1")
    ).json()
    editor = client.post(
        f"/api/admin/flags/{flag['id']}/dismiss",
        json={"comment": "无误"},
        headers=env.auth("editor1"),
    )
    assert editor.status_code == 403
    done = client.post(
        f"/api/admin/flags/{flag['id']}/dismiss",
        json={"comment": "无误"},
        headers=env.auth("reviewer1"),
    )
    assert done.status_code == 200
    again = client.post(
        f"/api/admin/flags/{flag['id']}/dismiss",
        json={"comment": "无误"},
        headers=env.auth("reviewer1"),
    )
    assert again.status_code == 409
    assert (
        client.post(
            "/api/admin/flags/999/dismiss", json={"comment": "x"}, headers=env.auth("reviewer1")
        ).status_code
        == 404
    )


# Every write route, with a body that is valid for it (or not): whoever may not do the action at
# all gets 403, before the table's existence (404), its revision state (409) or the body (422).
PROBES = [
    ("submit", None),
    ("withdraw", {}),
    ("approve", {}),
    ("reject", {"comment": "不行"}),
    ("reject", {}),
    ("publish", {}),
    ("archive", {}),
    ("rollback", {"to": 1}),
    ("rollback", {"to": 0}),
    ("verify", {}),
]


def test_permission_is_checked_before_state_and_existence(client: TestClient, env: Env) -> None:
    _submit(client, env)  # TX-GH-004 in review; TX-GH-001 live; TX-GH-003 expired
    seen = {}
    for code in ("TX-GH-001", "TX-GH-003", "TX-GH-004", "NOPE"):
        for verb, body in PROBES:
            response = client.post(
                f"/api/admin/tables/{code}/{verb}", json=body, headers=env.auth("agent1")
            )
            seen[(code, verb, str(body))] = response.status_code
    assert set(seen.values()) == {403}, {k: v for k, v in seen.items() if v != 403}
    editor_probes = {
        verb: client.post(
            f"/api/admin/tables/{code}/{verb}", json=body, headers=env.auth("editor1")
        ).status_code
        for code in ("TX-GH-001", "NOPE")
        for verb, body in [("approve", {}), ("publish", {}), ("archive", {}), ("verify", {})]
    }
    assert editor_probes == {"approve": 403, "publish": 403, "archive": 403, "verify": 403}
    for body in ({"comment": "无误"}, {}):
        flag = client.post("/api/admin/flags/999/dismiss", json=body, headers=env.auth("editor1"))
        assert flag.status_code == 403
    raised = client.post("/api/flags", json={"code": "NOPE", "reason": "x"}, headers={})
    assert raised.status_code == 401
    drafts = [
        client.put("/api/admin/tables/NOPE/draft", json={}, headers=env.auth("agent1")),
        client.patch("/api/admin/tables/NOPE", json={}, headers=env.auth("agent1")),
        client.post("/api/admin/tables", json={}, headers=env.auth("agent1")),
    ]
    assert [r.status_code for r in drafts] == [403, 403, 403]
