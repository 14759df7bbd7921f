"""Customer contact requests over HTTP: the customer's side (by token) and the staff's side."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kb.models import Feedback
from tests.api.conftest import Env

HTML = {"Accept": "text/html"}


def _ask(client: TestClient, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "question": "改号以后积分怎么办",
        "name": "王先生",
        "phone": "138 1234 5678",
        "shown": ["TX-GH-001"],
        "abstained": True,
    }
    body.update(overrides)
    response = client.post("/api/faq/requests", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def test_a_customer_asks_for_a_person_and_reads_the_status(client: TestClient, env: Env) -> None:
    created = _ask(client)
    ref, token = created["ref"], created["token"]
    assert ref.startswith("KF") and len(token) == 12
    assert created["status"] == "new"
    assert created["status_url"] == f"/faq/request/{ref}?token={token}"
    status = client.get(f"/api/faq/requests/{ref}", params={"token": token})
    assert status.status_code == 200
    assert status.json() == {
        "ref": ref,
        "status": "new",
        "question": "改号以后积分怎么办",
        "created_at": status.json()["created_at"],
        "updated_at": status.json()["updated_at"],
        "replies": [],
        "contact": {"name": "王***", "phone": "138****5678", "email": "", "wechat": ""},
    }
    with env.db.session() as session:
        vote = session.scalars(select(Feedback)).one()
    assert (vote.query, vote.helpful, vote.table_id) == ("改号以后积分怎么办", False, None)


def test_no_one_reads_another_customers_request(client: TestClient) -> None:
    mine, other = _ask(client), _ask(client, question="别人的问题")
    for ref, token in (
        (mine["ref"], other["token"]),
        (mine["ref"], ""),
        ("KF999999", mine["token"]),
    ):
        response = client.get(f"/api/faq/requests/{ref}", params={"token": token})
        assert response.status_code == 404
        assert "别人的问题" not in response.text and "王先生" not in response.text
    page = client.get(f"/faq/request/{mine['ref']}", params={"token": other["token"]}, headers=HTML)
    assert page.status_code == 404
    assert "没有找到这个请求" in page.text and "改号以后积分怎么办" not in page.text


def test_bad_contact_details_are_refused_naming_each_field(client: TestClient) -> None:
    response = client.post(
        "/api/faq/requests",
        json={"question": "问题", "phone": "12345", "email": "x@", "wechat": "1abc"},
    )
    assert response.status_code == 422
    assert [p["field"] for p in response.json()["problems"]] == [
        "contact_phone",
        "contact_email",
        "contact_wechat",
    ]
    too_long = client.post("/api/faq/requests", json={"question": "问" * 501})
    assert too_long.status_code == 422 and too_long.json()["problems"][0]["field"] == "question"
    bounded = client.post("/api/faq/requests", json={"question": "问题", "name": "名" * 51})
    assert bounded.status_code == 422 and bounded.json()["problems"][0]["field"] == "name"


def test_staff_roles_and_the_customer_see_the_work(client: TestClient, env: Env) -> None:
    created = _ask(client)
    ref, token = created["ref"], created["token"]
    assert client.get("/api/admin/requests").status_code == 401
    assert client.get("/api/admin/requests", headers=env.auth("editor1")).status_code == 403
    listed = client.get("/api/admin/requests", headers=env.auth("agent1"))
    assert listed.status_code == 200
    body = listed.json()
    assert [r["ref"] for r in body["items"]] == [ref]
    assert body["counts"] == {"new": 1, "in_progress": 0, "answered": 0, "closed": 0}
    assert body["items"][0]["has_contact"] is True

    handlers = client.get("/api/admin/requests/handlers", headers=env.auth("agent1")).json()
    assert [h["name"] for h in handlers] == ["admin1", "agent1", "reviewer1"]
    assigned = client.post(
        f"/api/admin/requests/{ref}/assign", json={"to": "agent1"}, headers=env.auth("reviewer1")
    )
    assert assigned.status_code == 200
    assert (assigned.json()["status"], assigned.json()["assignee"]) == ("in_progress", "agent1")
    refused = client.post(
        f"/api/admin/requests/{ref}/assign", json={"to": "editor1"}, headers=env.auth("reviewer1")
    )
    assert refused.status_code == 422
    client.post(
        f"/api/admin/requests/{ref}/note", json={"text": "已致电未接通"}, headers=env.auth("agent1")
    )
    replied = client.post(
        f"/api/admin/requests/{ref}/reply",
        json={"text": "积分会随号码迁移。"},
        headers=env.auth("agent1"),
    )
    detail = replied.json()
    assert detail["status"] == "answered"
    assert detail["contact"] == {
        "name": "王先生",
        "phone": "13812345678",
        "email": "",
        "wechat": "",
    }
    assert detail["shown"] == [{"code": "TX-GH-001", "title": "改号后原号码是否还会产生话费"}]
    assert detail["abstained"] is True
    assert detail["next_statuses"] == ["in_progress", "closed"]
    assert [(m["author"], m["to_customer"]) for m in detail["messages"]] == [
        ("agent1", False),
        ("agent1", True),
    ]
    assert [h["action"] for h in detail["history"]] == ["create", "assign", "note", "reply"]

    # The customer sees the reply, never the note or who wrote it.
    seen = client.get(f"/api/faq/requests/{ref}", params={"token": token})
    assert [r["text"] for r in seen.json()["replies"]] == ["积分会随号码迁移。"]
    assert "已致电未接通" not in seen.text and "agent1" not in seen.text
    page = client.get(f"/faq/request/{ref}", params={"token": token}, headers=HTML)
    assert page.status_code == 200
    assert "客服已答复" in page.text and "积分会随号码迁移。" in page.text
    assert "已致电未接通" not in page.text and "13812345678" not in page.text

    closed = client.post(
        f"/api/admin/requests/{ref}/status",
        json={"status": "closed", "comment": "客户已满意"},
        headers=env.auth("agent1"),
    )
    assert closed.json()["status"] == "closed"
    again = client.post(
        f"/api/admin/requests/{ref}/status",
        json={"status": "answered"},
        headers=env.auth("agent1"),
    )
    assert again.status_code == 409
    assert "it can go to in_progress, not answered" in again.json()["message"]
    open_now = client.get("/api/admin/requests", headers=env.auth("agent1")).json()
    assert open_now["items"] == []
    everything = client.get(
        "/api/admin/requests", params={"status": "all"}, headers=env.auth("admin1")
    )
    assert [r["ref"] for r in everything.json()["items"]] == [ref]
    bad = client.get("/api/admin/requests", params={"status": "x"}, headers=env.auth("admin1"))
    assert bad.status_code == 422


def test_a_request_names_its_search_and_the_table_page_offers_the_form(
    client: TestClient,
) -> None:
    found = client.get("/api/faq/search", params={"q": "宽带坏了怎么报修"}).json()
    created = _ask(
        client,
        question="宽带坏了怎么报修",
        query_log_id=found["query_log_id"],
        shown=[],
        abstained=None,
    )
    assert created["status"] == "new"
    page = client.get("/faq/tables/TX-GH-001", params={"q": "改号"}, headers=HTML)
    assert 'data-shown="TX-GH-001"' in page.text and 'data-abstained="false"' in page.text
    assert 'id="contact-form"' in page.text


def test_the_lookup_form_takes_the_customer_to_the_status_page(client: TestClient) -> None:
    created = _ask(client)
    form = client.get("/faq/request", headers=HTML)
    assert form.status_code == 200 and 'id="request-lookup"' in form.text
    sent = client.get(
        "/faq/request",
        params={"ref": created["ref"].lower(), "token": created["token"]},
        headers=HTML,
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == created["status_url"]


@pytest.mark.parametrize("accept", [HTML, {}])
def test_a_too_long_question_in_the_url_gets_a_friendly_page(
    client: TestClient, accept: dict[str, str]
) -> None:
    response = client.get("/faq", params={"q": "问" * 260}, headers=accept)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "您的问题有 260 个字，超过了 200 字的搜索上限" in response.text
    assert 'id="contact-form"' in response.text  # a long story can still reach a person
    table = client.get("/faq/tables/TX-GH-001", params={"q": "问" * 260}, headers=accept)
    assert table.status_code == 200


def test_customer_pages_link_to_no_staff_page(client: TestClient) -> None:
    for path in ("/faq", "/faq/tables/TX-GH-001", "/faq?q=改号", "/faq/request"):
        text = client.get(path, headers=HTML).text
        assert 'href="/agent"' not in text and 'href="/admin"' not in text, path
        assert "客服工作台" not in text and "知识管理" not in text, path
        assert "左侧" not in text, path
    assert 'href="/admin"' in client.get("/admin", headers=HTML).text


def test_permission_is_checked_before_the_request_and_the_body(
    client: TestClient, env: Env
) -> None:
    """Whoever may not handle requests learns nothing: 403 before 404, 409 or 422 (and 401
    without a token), whatever the reference and the body."""
    ref = _ask(client)["ref"]
    probes = [
        ("GET", "", None),
        ("GET", "?status=nonsense&page=0", None),
        ("GET", "/handlers", None),
        ("GET", f"/{ref}", None),
        ("GET", "/KF999999", None),
        ("POST", "/KF999999/assign", {"to": "nobody"}),
        ("POST", f"/{ref}/assign", {"to": 5}),
        ("POST", "/KF999999/reply", {"text": "您好"}),
        ("POST", f"/{ref}/reply", {}),
        ("POST", "/KF999999/note", {"text": ""}),
        ("POST", f"/{ref}/status", {"status": "answered"}),  # 409 for a handler: no reply yet
        ("POST", f"/{ref}/status", {"status": "nonsense"}),
    ]
    for who, expected in (({}, 401), (env.auth("editor1"), 403)):
        seen = {
            (method, path, str(body)): client.request(
                method, f"/api/admin/requests{path}", json=body, headers=who
            ).status_code
            for method, path, body in probes
        }
        assert set(seen.values()) == {expected}, {k: v for k, v in seen.items() if v != expected}
    handler = client.post(
        f"/api/admin/requests/{ref}/status", json={"status": "answered"}, headers=env.auth("agent1")
    )
    assert handler.status_code == 409
