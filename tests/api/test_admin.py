"""Admin endpoints for the hierarchy and tables."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Env

TEMPLATE = [
    {"key": "answer", "label": "标准答复", "type": "markdown", "required": True},
    {"key": "internal_note", "label": "内部备注", "audience": "internal"},
]


def test_categories_list_and_roles(client: TestClient, env: Env) -> None:
    listed = client.get("/api/admin/categories", headers=env.auth("editor1"))
    assert listed.status_code == 200
    assert listed.json()[0]["packages"][0]["path"] == "通信业务/改号业务"
    agent = client.get("/api/admin/categories", headers=env.auth("agent1"))
    assert agent.status_code == 403
    assert agent.json()["error"] == "permission_denied"


def test_create_and_update_a_category(client: TestClient, env: Env) -> None:
    body = {"name": "银行服务", "description": "信用卡与借记卡"}
    created = client.post("/api/admin/categories", json=body, headers=env.auth("admin1"))
    assert created.status_code == 201
    assert created.json() == {"name": "银行服务", "description": "信用卡与借记卡", "packages": []}
    again = client.post("/api/admin/categories", json=body, headers=env.auth("admin1"))
    assert again.status_code == 409
    editor = client.post("/api/admin/categories", json={"name": "X"}, headers=env.auth("editor1"))
    assert editor.status_code == 403
    updated = client.put(
        "/api/admin/categories/银行服务", json={"description": "银行卡"}, headers=env.auth("admin1")
    )
    assert updated.json()["description"] == "银行卡"
    missing = client.put(
        "/api/admin/categories/没有", json={"description": "x"}, headers=env.auth("admin1")
    )
    assert missing.status_code == 404


def test_create_package_checks_the_template(client: TestClient, env: Env) -> None:
    body = {
        "category": "通信业务",
        "name": "宽带报修",
        "template": [{"key": "steps", "label": "步骤"}],
    }
    bad = client.post("/api/admin/packages", json=body, headers=env.auth("admin1"))
    assert bad.status_code == 422
    assert bad.json()["problems"][0]["field"] == "template"
    body["template"] = TEMPLATE
    created = client.post("/api/admin/packages", json=body, headers=env.auth("admin1"))
    assert created.status_code == 201
    assert created.json()["template_version"] == 1
    assert [f["key"] for f in created.json()["template"]] == ["answer", "internal_note"]
    dup = client.post("/api/admin/packages", json=body, headers=env.auth("admin1"))
    assert dup.status_code == 409


def test_get_and_update_a_package(client: TestClient, env: Env) -> None:
    got = client.get("/api/admin/packages/通信业务/改号业务", headers=env.auth("editor1"))
    assert got.status_code == 200
    assert [t["code"] for t in got.json()["table_rows"]] == [
        "TX-GH-001",
        "TX-GH-002",
        "TX-GH-003",
        "TX-GH-004",
    ]
    template = got.json()["template"] + [{"key": "scope", "label": "适用范围"}]
    updated = client.put(
        "/api/admin/packages/通信业务/改号业务",
        json={"template": template, "review_interval_days": 90},
        headers=env.auth("admin1"),
    )
    assert updated.status_code == 200
    assert updated.json()["template_version"] == 2
    assert updated.json()["review_interval_days"] == 90
    missing = client.get("/api/admin/packages/通信业务/没有", headers=env.auth("editor1"))
    assert missing.status_code == 404


def test_list_tables_filters_and_pages(client: TestClient, env: Env) -> None:
    headers = env.auth("editor1")
    drafts = client.get("/api/admin/tables", params={"state": "draft"}, headers=headers).json()
    assert [t["code"] for t in drafts["tables"]] == ["TX-GH-004"]
    page = client.get(
        "/api/admin/tables", params={"page_size": 2, "page": 2}, headers=headers
    ).json()
    assert (page["total"], [t["code"] for t in page["tables"]]) == (4, ["TX-GH-003", "TX-GH-004"])
    text = client.get("/api/admin/tables", params={"q": "优惠"}, headers=headers).json()
    assert [t["code"] for t in text["tables"]] == ["TX-GH-003"]
    too_big = client.get("/api/admin/tables", params={"page_size": 1000}, headers=headers)
    assert too_big.status_code == 422
    # a misspelt state is named, not answered with an empty list
    unknown = client.get("/api/admin/tables", params={"state": "in-review"}, headers=headers)
    assert unknown.status_code == 422
    [problem] = unknown.json()["problems"]
    assert (problem["field"], problem["value"], problem["location"]) == (
        "state",
        "in-review",
        "query",
    )
    assert "in_review" in problem["message"] and "scheduled" in problem["message"]


def test_create_a_table_as_a_draft(client: TestClient, env: Env) -> None:
    body = {
        "package": "通信业务/改号业务",
        "code": "TX-GH-101",
        "title": "改号后微信还能用吗",
        "questions": ["换号了微信怎么办"],
        "fields": {"answer": "微信绑定需要您自行更换。", "internal_note": "不要代客操作"},
    }
    created = client.post("/api/admin/tables", json=body, headers=env.auth("editor1"))
    assert created.status_code == 201
    table = created.json()
    assert (table["state"], table["live_revision"], table["author"]) == ("draft", None, "editor1")
    assert table["allowed_actions"] == ["edit", "submit"]
    dup = client.post("/api/admin/tables", json=body, headers=env.auth("editor1"))
    assert dup.status_code == 409
    agent = client.post(
        "/api/admin/tables", json={**body, "code": "X-1"}, headers=env.auth("agent1")
    )
    assert agent.status_code == 403


def test_create_a_table_names_every_bad_field(client: TestClient, env: Env) -> None:
    body = {
        "package": "通信业务/改号业务",
        "code": "bad code",
        "title": "",
        "fields": {"nope": "x"},
    }
    response = client.post("/api/admin/tables", json=body, headers=env.auth("editor1"))
    assert response.status_code == 422
    fields = sorted(p["field"] for p in response.json()["problems"])
    assert fields == ["answer", "code", "nope", "title"]


def test_get_a_table_and_a_revision(client: TestClient, env: Env) -> None:
    table = client.get("/api/admin/tables/TX-GH-001", headers=env.auth("editor1"))
    assert table.status_code == 200
    body = table.json()
    assert body["live"]["fields"]["internal_note"] == "坚持扣费的转计费组核查"
    assert body["revisions"][0]["number"] == 1
    revision = client.get("/api/admin/tables/TX-GH-001/revisions/1", headers=env.auth("editor1"))
    assert revision.json()["state"] == "published"
    missing = client.get("/api/admin/tables/TX-GH-001/revisions/9", headers=env.auth("editor1"))
    assert missing.status_code == 404
    assert client.get("/api/admin/tables/NOPE", headers=env.auth("editor1")).status_code == 404


def test_edit_draft_only_by_its_author(client: TestClient, env: Env) -> None:
    change = {"fields": {"answer": "新政策：线上可预约改号。"}, "note": "补充"}
    other = client.put(
        "/api/admin/tables/TX-GH-004/draft", json=change, headers=env.auth("editor2")
    )
    assert other.status_code == 403
    own = client.put("/api/admin/tables/TX-GH-004/draft", json=change, headers=env.auth("editor1"))
    assert own.status_code == 200
    assert own.json()["latest"]["fields"]["answer"] == "新政策：线上可预约改号。"
    assert own.json()["latest"]["number"] == 1


def test_editing_a_live_table_starts_a_new_draft(client: TestClient, env: Env) -> None:
    change = {"title": "改号后原号码还扣费吗"}
    response = client.put(
        "/api/admin/tables/TX-GH-001/draft", json=change, headers=env.auth("editor1")
    )
    body = response.json()
    assert (body["latest"]["number"], body["latest"]["state"], body["live_revision"]) == (
        2,
        "draft",
        1,
    )


def test_update_metadata_hides_a_table_from_customers_once_reviewed(
    client: TestClient, env: Env
) -> None:
    assert client.get("/api/faq/tables/TX-GH-001").status_code == 200
    response = client.patch(
        "/api/admin/tables/TX-GH-001",
        json={"audience": "internal", "related": ["TX-GH-002"]},
        headers=env.auth("editor1"),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["audience"] == "public"  # not yet: the change waits for review
    assert (body["latest"]["number"], body["latest"]["state"], body["latest"]["proposed"]) == (
        2,
        "draft",
        {"audience": "internal"},
    )
    assert body["related"] == [{"code": "TX-GH-002", "title": "内部：改号计费争议处理流程"}]
    assert client.get("/api/faq/tables/TX-GH-001").status_code == 200
    submitted = client.post("/api/admin/tables/TX-GH-001/submit", headers=env.auth("editor1"))
    assert submitted.status_code == 200
    approved = client.post(
        "/api/admin/tables/TX-GH-001/approve", json={}, headers=env.auth("reviewer1")
    )
    assert approved.status_code == 200, approved.text
    table = client.get("/api/admin/tables/TX-GH-001", headers=env.auth("editor1")).json()
    assert (table["audience"], table["live_revision"]) == ("internal", 2)
    assert client.get("/api/faq/tables/TX-GH-001").status_code == 404
    bad = client.patch(
        "/api/admin/tables/TX-GH-001", json={"related": ["TX-GH-001"]}, headers=env.auth("editor1")
    )
    assert bad.status_code == 422
    assert bad.json()["problems"][0]["field"] == "related"
    agent = client.patch("/api/admin/tables/TX-GH-001", json={}, headers=env.auth("agent1"))
    assert agent.status_code == 403


def test_category_names_are_checked_and_categories_can_be_renamed(
    client: TestClient, env: Env
) -> None:
    bad = client.post("/api/admin/categories", json={"name": ".隐藏"}, headers=env.auth("admin1"))
    assert bad.status_code == 422
    assert [(p["field"], p["value"]) for p in bad.json()["problems"]] == [("category", ".隐藏")]
    body = {"name": "通信服务"}
    editor = client.post(
        "/api/admin/categories/通信业务/rename", json=body, headers=env.auth("editor1")
    )
    assert editor.status_code == 403
    renamed = client.post(
        "/api/admin/categories/通信业务/rename", json=body, headers=env.auth("admin1")
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["packages"][0]["path"] == "通信服务/改号业务"
    package = client.post(
        "/api/admin/packages/通信服务/改号业务/rename",
        json={"name": "改号"},
        headers=env.auth("admin1"),
    )
    assert package.status_code == 200, package.text
    assert package.json()["name"] == "改号"
    table = client.get("/api/admin/tables/TX-GH-001", headers=env.auth("editor1")).json()
    assert (table["category"], table["package"]) == ("通信服务", "改号")
    found = client.get(
        "/api/search",
        params={"q": "改号后原号码是否还会产生话费", "package": "改号"},
        headers=env.auth("agent1"),
    ).json()
    assert found["suggestions"][0]["path"][:2] == ["通信服务", "改号"]


def test_draft_and_create_refuse_too_many_similar_questions(client: TestClient, env: Env) -> None:
    many = [f"改号以后旧号码第{i}次还扣钱吗" for i in range(10_000)]
    edit = client.put(
        "/api/admin/tables/TX-GH-004/draft", json={"questions": many}, headers=env.auth("editor1")
    )
    assert edit.status_code == 422
    assert [(p["field"], p["value"]) for p in edit.json()["problems"]] == [("questions", 10_000)]
    body = {
        "package": "通信业务/改号业务",
        "code": "TX-GH-500",
        "title": "改号",
        "tags": [f"t{i}" for i in range(31)],
        "fields": {"answer": "答" * 20_001},
    }
    created = client.post("/api/admin/tables", json=body, headers=env.auth("editor1"))
    assert created.status_code == 422
    assert [p["field"] for p in created.json()["problems"]] == ["tags", "answer"]
    related = client.patch(
        "/api/admin/tables/TX-GH-001",
        json={"related": [f"X-{i}" for i in range(51)]},
        headers=env.auth("editor1"),
    )
    assert related.status_code == 422
    assert related.json()["problems"][0]["field"] == "related"
