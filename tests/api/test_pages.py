"""The web pages render, show only public content to customers, and every route has a summary."""

from __future__ import annotations

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api import pages, routes_admin, routes_agent, routes_faq, routes_ops, routes_review
from kb.models import Audience, RevisionState
from tests.api.conftest import Env
from tests.factories import make_package, make_table

DRAFT = RevisionState.DRAFT

HTML = {"Accept": "text/html"}


def test_every_route_has_a_summary() -> None:
    routes = [
        r
        for module in (routes_agent, routes_faq, routes_admin, routes_review, routes_ops, pages)
        for r in module.router.routes
        if isinstance(r, APIRoute)
    ]
    assert len(routes) >= 45
    assert [r.path for r in routes if not (r.summary or "").strip()] == []


def test_openapi_lists_the_api_with_summaries(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    operations = [op for path in spec["paths"].values() for op in path.values()]
    assert all(op.get("summary") for op in operations)
    assert "/api/search" in spec["paths"] and "/faq" not in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_home_redirects_to_the_faq(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "/faq")


def test_faq_page_shows_the_public_tree(client: TestClient) -> None:
    response = client.get("/faq", headers=HTML)
    assert response.status_code == 200
    assert "改号后原号码是否还会产生话费" in response.text
    for hidden in ("内部：改号计费争议处理流程", "改号优惠活动", "改号草稿"):
        assert hidden not in response.text


def test_faq_search_page_offers_a_human_when_nothing_fits(client: TestClient) -> None:
    found = client.get("/faq", params={"q": "改号"}, headers=HTML)
    assert "faq-hit" in found.text and "计费组" not in found.text
    nothing = client.get("/faq", params={"q": "宽带坏了怎么报修"}, headers=HTML)
    assert 'id="contact"' in nothing.text and "联系人工客服" in nothing.text


def test_faq_table_page_has_public_fields_and_a_vote(client: TestClient) -> None:
    response = client.get("/faq/tables/TX-GH-001", headers=HTML)
    assert response.status_code == 200
    assert "这个回答有帮助吗？" in response.text
    assert "<strong>停止计费</strong>" in response.text
    assert "内部备注" not in response.text and "计费组" not in response.text


def test_faq_table_page_for_internal_content_is_an_html_404(client: TestClient) -> None:
    response = client.get("/faq/tables/TX-GH-002", headers=HTML)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "没有找到" in response.text and "改号计费争议" not in response.text


def test_agent_and_admin_pages_render(client: TestClient, env: Env) -> None:
    agent = client.get("/agent", headers=HTML)
    assert agent.status_code == 200 and 'id="agent-q"' in agent.text
    admin = client.get("/admin", headers=HTML)
    assert admin.status_code == 200 and 'id="admin-app"' in admin.text
    assert client.get("/static/zhiku.css").status_code == 200


def test_the_console_names_categories_only_to_a_signed_in_user(
    client: TestClient, env: Env
) -> None:
    with env.db.transaction() as session:
        make_table(session, make_package(session, "未发布新业务", "新包"), "NEW-1", state=DRAFT)
        internal = make_package(session, "内部风控专区", "风控")
        make_table(session, internal, "RISK-1", audience=Audience.INTERNAL)
    page = client.get("/agent", headers=HTML).text
    assert "通信业务" not in page and "内部风控专区" not in page and "未发布新业务" not in page
    assert client.get("/api/search/categories").status_code == 401
    names = client.get("/api/search/categories", headers=env.auth("agent1")).json()
    assert names == ["内部风控专区", "通信业务"]  # an agent reads internal tables; drafts no one


def test_pages_escape_what_people_type(client: TestClient) -> None:
    attack = '"><script>alert(1)</script>'
    response = client.get("/faq", params={"q": attack}, headers=HTML)
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text
