"""Customer endpoints: only public, published, in-validity content and public fields."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_tree_lists_only_public_live_valid_tables(client: TestClient) -> None:
    response = client.get("/api/faq/tree")
    assert response.status_code == 200
    tree = response.json()["categories"]
    assert [c["name"] for c in tree] == ["通信业务"]
    codes = [t["code"] for p in tree[0]["packages"] for t in p["tables"]]
    assert codes == ["TX-GH-001"]


def test_table_shows_public_fields_only(client: TestClient) -> None:
    response = client.get("/api/faq/tables/TX-GH-001", params={"format": "html"})
    assert response.status_code == 200
    body = response.json()
    assert [f["key"] for f in body["fields"]] == ["question", "answer", "steps"]
    # Customers read customer labels (标准答复 and 问题描述 are staff words).
    assert [f["label"] for f in body["fields"]] == ["问题", "答复", "操作步骤"]
    assert body["answer"] == "<p>改号完成后原号码<strong>停止计费</strong>。</p>"
    assert "计费组" not in response.text
    assert body["path"] == ["通信业务", "改号业务", "改号后原号码是否还会产生话费"]


def test_table_formats(client: TestClient) -> None:
    plain = client.get("/api/faq/tables/TX-GH-001", params={"format": "plain"}).json()
    markdown = client.get("/api/faq/tables/TX-GH-001", params={"format": "markdown"}).json()
    assert plain["answer"] == "改号完成后原号码停止计费。"
    assert markdown["answer"] == "改号完成后原号码**停止计费**。"
    steps = next(f for f in plain["fields"] if f["key"] == "steps")
    assert steps["content"] == "1. 登录营业厅 App\n2. 查看已办业务"


def test_internal_expired_draft_and_unknown_tables_are_all_not_found(client: TestClient) -> None:
    for code in ("TX-GH-002", "TX-GH-003", "TX-GH-004", "NOPE-1"):
        response = client.get(f"/api/faq/tables/{code}")
        assert response.status_code == 404, code
        assert response.json() == {
            "error": "not_found",
            "message": f"No public knowledge table with code {code!r}.",
            "problems": [],
        }


def test_bad_format_is_a_422_naming_the_parameter(client: TestClient) -> None:
    response = client.get("/api/faq/tables/TX-GH-001", params={"format": "pdf"})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_failed"
    assert body["problems"][0]["field"] == "format"
    assert body["problems"][0]["location"] == "query"
    assert body["problems"][0]["value"] == "pdf"


def test_search_finds_public_and_never_internal_or_expired(client: TestClient) -> None:
    response = client.get("/api/faq/search", params={"q": "改号"})
    assert response.status_code == 200
    body = response.json()
    assert [r["code"] for r in body["results"]] == ["TX-GH-001"]
    assert body["abstained"] is False
    assert "计费组" not in response.text
    for q in ("计费争议怎么转单", "改号有优惠吗", "改号新政策是什么"):
        found = client.get("/api/faq/search", params={"q": q}).json()
        # Each query's own answer is internal, expired or a draft: nothing confident is left.
        assert found["abstained"] is True, q
        assert {r["code"] for r in found["results"]} <= {"TX-GH-001"}, q
        assert "10000" in found["contact"]


def test_search_refuses_a_too_long_or_empty_query(client: TestClient) -> None:
    assert client.get("/api/faq/search", params={"q": "问" * 201}).status_code == 422
    empty = client.get("/api/faq/search", params={"q": ""})
    assert empty.status_code == 422
    assert empty.json()["problems"][0]["field"] == "q"


def test_customer_feedback_on_a_public_table_and_a_gap(client: TestClient) -> None:
    ok = client.post(
        "/api/faq/feedback", json={"code": "TX-GH-001", "helpful": True, "query": "改号"}
    )
    assert ok.status_code == 200
    assert ok.json()["helpful"] is True
    gap = client.post(
        "/api/faq/feedback", json={"code": None, "helpful": False, "query": "宽带坏了"}
    )
    assert gap.status_code == 200
    hidden = client.post("/api/faq/feedback", json={"code": "TX-GH-002", "helpful": True})
    assert hidden.status_code == 404
