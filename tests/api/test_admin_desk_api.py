"""What the admin desk needs from the API beyond the review cycle: hierarchy deletion, change
notes, revision history, customer labels and hit tests at another threshold."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Env


def test_only_empty_packages_and_categories_are_deleted(client: TestClient, env: Env) -> None:
    admin = env.auth("admin1")
    full = client.delete("/api/admin/packages/通信业务/改号业务", headers=admin)
    assert full.status_code == 409
    assert full.json()["message"].startswith(
        "Package 通信业务/改号业务 still holds 4 table(s) (TX-GH-001, TX-GH-002, TX-GH-003 and "
        "1 more); only an empty package can be deleted."
    )
    category = client.delete("/api/admin/categories/通信业务", headers=admin)
    assert category.status_code == 409
    assert "still has 1 package(s) (改号业务)" in category.json()["message"]

    template = [{"key": "answer", "label": "标准答复"}]
    created = client.post("/api/admin/categories", json={"name": "新大类"}, headers=admin)
    assert created.status_code == 201
    package = client.post(
        "/api/admin/packages",
        json={"category": "新大类", "name": "新包", "template": template},
        headers=admin,
    )
    assert package.status_code == 201
    editor = client.delete("/api/admin/packages/新大类/新包", headers=env.auth("editor1"))
    assert editor.status_code == 403
    gone = client.delete("/api/admin/packages/新大类/新包", headers=admin)
    assert gone.json() == {"ok": True, "message": "Package 新大类/新包 deleted."}
    assert client.delete("/api/admin/categories/新大类", headers=admin).status_code == 200
    names = [c["name"] for c in client.get("/api/admin/categories", headers=admin).json()]
    assert names == ["通信业务"]
    missing = client.delete("/api/admin/categories/新大类", headers=admin)
    assert missing.status_code == 404


def test_change_notes_reach_the_reviewer_and_the_history(client: TestClient, env: Env) -> None:
    editor = env.auth("editor1")
    created = client.post(
        "/api/admin/tables",
        json={
            "package": "通信业务/改号业务",
            "code": "TX-GH-101",
            "title": "改号后积分怎么办",
            "fields": {"answer": "积分随号码迁移。"},
            "note": "客户来电高频问题",
            "related": ["TX-GH-001"],
        },
        headers=editor,
    )
    assert created.status_code == 201
    assert created.json()["latest"]["note"] == "客户来电高频问题"
    assert created.json()["related"] == [
        {"code": "TX-GH-001", "title": "改号后原号码是否还会产生话费"}
    ]
    # A bad related code refuses the whole creation: nothing half-written.
    refused = client.post(
        "/api/admin/tables",
        json={
            "package": "通信业务/改号业务",
            "code": "TX-GH-102",
            "title": "另一条",
            "fields": {"answer": "答复"},
            "related": ["NOPE-9"],
        },
        headers=editor,
    )
    assert refused.status_code == 422
    assert refused.json()["problems"][0]["field"] == "related"
    assert client.get("/api/admin/tables/TX-GH-102", headers=editor).status_code == 404
    client.post("/api/admin/tables/TX-GH-101/submit", headers=editor)
    queue = client.get("/api/admin/queues/review", headers=env.auth("reviewer1")).json()
    assert [(i["code"], i["note"]) for i in queue["items"]] == [("TX-GH-101", "客户来电高频问题")]

    edited = client.put(
        "/api/admin/tables/TX-GH-001/draft",
        json={"fields": {"answer": "新答复。"}, "note": "资费调整后更新"},
        headers=editor,
    ).json()
    history = edited["revisions"]
    assert [(r["number"], r["state"], r["note"], r["based_on"]) for r in history] == [
        (2, "draft", "资费调整后更新", 1),
        (1, "published", "", None),
    ]
    assert history[1]["published_at"] is not None and history[1]["publish_at"] is None


def test_customer_labels_are_set_in_the_template(client: TestClient, env: Env) -> None:
    package = client.get("/api/admin/packages/通信业务/改号业务", headers=env.auth("admin1")).json()
    assert [(f["label"], f["customer_label"], f["customer_sees"]) for f in package["template"]] == [
        ("问题描述", "", "问题"),
        ("标准答复", "", "答复"),
        ("操作步骤", "", "操作步骤"),
        ("内部备注", "", "内部备注"),
    ]
    template = package["template"]
    template[2]["customer_label"] = "办理步骤"
    updated = client.put(
        "/api/admin/packages/通信业务/改号业务",
        json={"template": template},
        headers=env.auth("admin1"),
    )
    assert updated.status_code == 200 and updated.json()["template_version"] == 2
    faq = client.get("/api/faq/tables/TX-GH-001").json()
    assert [f["label"] for f in faq["fields"]] == ["问题", "答复", "办理步骤"]


def test_hit_test_at_another_threshold(client: TestClient, env: Env) -> None:
    headers = env.auth("editor1")
    params = {"q": "改号", "k": 1, "mode": "bm25", "channel": "customer"}
    default = client.get("/api/admin/hit-test", params=params, headers=headers).json()
    assert [s["code"] for s in default["suggestions"]] == ["TX-GH-001"]
    assert default["mode"] == "bm25" and default["threshold"] == default["default_threshold"]
    strict = client.get(
        "/api/admin/hit-test", params={**params, "threshold": 1.0}, headers=headers
    ).json()
    lenient = client.get(
        "/api/admin/hit-test", params={**params, "threshold": 0.0}, headers=headers
    ).json()
    assert (strict["abstained"], strict["threshold"]) == (True, 1.0)
    assert (lenient["abstained"], lenient["threshold"]) == (False, 0.0)
    assert strict["default_threshold"] == default["default_threshold"]
    bad = client.get("/api/admin/hit-test", params={**params, "threshold": 2}, headers=headers)
    assert bad.status_code == 422


def test_permission_is_checked_before_existence_state_and_input(
    client: TestClient, env: Env
) -> None:
    """Deleting a category or package, reading a revision, hit testing at a threshold: whoever
    may not do it gets 403, whether the thing exists, is empty or the input is valid."""
    reviewer, agent = env.auth("reviewer1"), env.auth("agent1")
    probes = [
        ("DELETE", "/api/admin/categories/通信业务", reviewer),  # 409 for an admin: not empty
        ("DELETE", "/api/admin/categories/NOPE", reviewer),
        ("DELETE", "/api/admin/packages/通信业务/改号业务", reviewer),
        ("DELETE", "/api/admin/packages/NOPE/NOPE", reviewer),
        ("GET", "/api/admin/tables/TX-GH-001", agent),
        ("GET", "/api/admin/tables/NOPE", agent),
        ("GET", "/api/admin/tables/TX-GH-001/revisions/99", agent),
        ("GET", "/api/admin/tables/NOPE/revisions/0", agent),
        ("GET", "/api/admin/hit-test?q=改号&threshold=0.5", agent),
        ("GET", "/api/admin/hit-test?q=改号&threshold=7", agent),
        ("GET", "/api/admin/hit-test?threshold=-1", agent),
    ]
    seen = {
        (method, path): client.request(method, path, headers=who).status_code
        for method, path, who in probes
    }
    assert set(seen.values()) == {403}, {k: v for k, v in seen.items() if v != 403}
