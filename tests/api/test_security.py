"""Security headers, the offline API docs, request budgets and the public health check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from api.headers import HEADERS
from kb import gaps
from kb.clock import utcnow
from kb.models import QueryLogEntry
from kb.settings import Settings
from tests.api.conftest import Env

TEMPLATES = Path(__file__).resolve().parents[2] / "api" / "templates"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/faq"),
        ("GET", "/admin"),
        ("GET", "/faq/tables/NOPE"),
        ("GET", "/api/health"),
        ("GET", "/api/me"),
        ("GET", "/api/faq/search?q="),
        ("POST", "/api/faq/feedback"),
        ("GET", "/static/zhiku.css"),
        ("GET", "/docs"),
        ("GET", "/docs/assets/swagger-ui.css"),
        ("GET", "/openapi.json"),
        ("GET", "/nowhere"),
    ],
)
def test_every_response_carries_the_security_headers(
    client: TestClient, method: str, path: str
) -> None:
    response = client.request(method, path, headers={"accept": "text/html"})
    assert {name: response.headers.get(name) for name in HEADERS} == HEADERS
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_pages_have_no_inline_script_handler_or_style() -> None:
    """What the CSP would block: every script is a file, every style is in zhiku.css."""
    found = []
    for page in sorted(TEMPLATES.glob("*.html")):
        text = page.read_text(encoding="utf-8")
        for pattern in (
            r"<script(?![^>]*\bsrc=)[^>]*>",
            r"\son[a-z]+\s*=",
            r"\sstyle\s*=",
            "<style",
        ):
            found += [f"{page.name}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert found == []


def test_docs_are_served_from_this_server(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert re.findall(r"(?:src|href)=\"([^\"]+)\"", page.text) == [
        "data:,",
        "/docs/assets/swagger-ui.css",
        "/docs/assets/swagger-ui-bundle.js",
        "http://testserver/static/docs.js",
    ]
    assert "https://" not in page.text
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert (bundle.status_code, bundle.headers["content-type"]) == (
        200,
        "text/javascript; charset=utf-8",
    )


def test_public_health_tells_nothing_about_the_content(client: TestClient) -> None:
    body = client.get("/api/health").json()
    assert body == {"status": "ok"}  # no index path, no counts with drafts, no codes


# ---------------------------------------------------------------- budgets


@pytest.fixture
def tight(env: Env) -> Iterator[TestClient]:
    """The app with small budgets, so that a test can spend them."""
    settings = Settings(
        data_dir=env.settings.data_dir,
        encoder="fake",
        rate_anonymous_writes="3/minute",
        rate_anonymous_search="5/minute",
        rate_failed_auth="4/minute",
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_anonymous_votes_run_out_with_retry_after(tight: TestClient) -> None:
    vote = {"code": "TX-GH-001", "helpful": True, "query": "改号"}
    codes = [tight.post("/api/faq/feedback", json=vote).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    refused = tight.post("/api/faq/feedback", json=vote)
    assert refused.json()["error"] == "too_many_requests"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # Another address has its own budget (same app: a `with` would start a fresh one).
    other = TestClient(tight.app, client=("203.0.113.9", 50000))
    assert other.post("/api/faq/feedback", json=vote).status_code == 200


def test_an_ipv6_client_has_one_budget_for_its_whole_64(tight: TestClient) -> None:
    vote = {"code": "TX-GH-001", "helpful": True, "query": "改号"}

    def from_(host: str) -> int:
        other = TestClient(tight.app, client=(host, 50000))  # the app started by `tight`
        return other.post("/api/faq/feedback", json=vote).status_code

    rotated = [from_(f"2001:db8:1:2::{n:x}") for n in range(1, 6)]
    assert rotated == [200, 200, 200, 429, 429]
    assert from_("2001:db8:1:3::1") == 200  # the next subscriber's block
    assert [from_("::ffff:198.51.100.7"), from_("198.51.100.7")] == [200, 200]
    assert [from_("198.51.100.7") for _ in range(2)] == [200, 429]


def test_bad_tokens_slow_down_to_429_even_for_a_good_one(tight: TestClient, env: Env) -> None:
    bad = {"Authorization": "Bearer zk_guess"}
    codes = [tight.get("/api/me", headers=bad).status_code for _ in range(6)]
    assert codes == [401, 401, 401, 401, 429, 429]
    good = tight.get("/api/me", headers=env.auth("agent1"))
    assert good.status_code == 429
    assert int(good.headers["retry-after"]) >= 1
    # Calls without any token (a page before login) are not guesses and spend nothing.
    other = TestClient(
        tight.app, client=("203.0.113.10", 50000)
    )  # the running app: `with` starts another
    assert [other.get("/api/me").status_code for _ in range(6)] == [401] * 6
    assert other.get("/api/me", headers=env.auth("agent1")).status_code == 200


def test_customer_searches_have_a_budget_on_the_api_and_the_page(tight: TestClient) -> None:
    codes = [tight.get("/api/faq/search", params={"q": f"改号 {i}"}).status_code for i in range(4)]
    page = tight.get("/faq", params={"q": "改号"}, headers={"accept": "text/html"})
    assert codes + [page.status_code] == [200, 200, 200, 200, 200]
    again = tight.get("/faq", params={"q": "改号"}, headers={"accept": "text/html"})
    assert again.status_code == 429
    assert "请求太频繁" in again.text and again.headers["retry-after"]
    assert tight.get("/faq").status_code == 200  # browsing without a query costs nothing


def test_one_client_repeating_a_query_is_logged_once(client: TestClient, env: Env) -> None:
    for _ in range(5):
        assert (
            client.get("/api/faq/search", params={"q": "改号以后原号码还扣钱吗"}).status_code == 200
        )
    other = TestClient(
        client.app, client=("203.0.113.11", 50000)
    )  # the running app: `with` starts another
    first = other.get("/api/faq/search", params={"q": "改号以后原号码还扣钱吗"}).json()
    repeat = other.get("/api/faq/search", params={"q": "改号以后原号码还扣钱吗"}).json()
    assert first["query_log_id"] is not None and repeat["query_log_id"] is None
    with env.db.session() as session:
        logged = session.scalar(
            select(func.count()).where(QueryLogEntry.query == "改号以后原号码还扣钱吗")
        )
    assert logged == 2  # once per client


def test_one_client_repeating_a_gap_counts_once_toward_the_gap_list(
    client: TestClient, env: Env
) -> None:
    """One address voting a made-up sentence 20 times (within its budget) made it gap #1."""
    vote = {"helpful": False, "query": "编造的一句话"}
    for _ in range(5):
        assert client.post("/api/faq/feedback", json=vote).status_code == 200
    asked = client.post("/api/faq/requests", json={"question": "编造的一句话"})
    assert asked.status_code == 201  # the customer's request is made all the same
    other = TestClient(
        client.app, client=("203.0.113.12", 50000)
    )  # the running app: `with` starts another
    assert other.post("/api/faq/feedback", json=vote).status_code == 200
    with env.db.session() as session:
        counted = gaps.gap_signals(session, since=utcnow() - timedelta(days=1))
    assert counted["编造的一句话"] == 2  # once per client


def test_rate_settings_are_checked_at_start() -> None:
    with pytest.raises(ValueError, match="is not a rate"):
        Settings(rate_failed_auth="ten a minute")


def test_contact_requests_and_their_look_ups_have_budgets(tight: TestClient) -> None:
    ask = {"question": "改号以后积分怎么办"}
    made = [tight.post("/api/faq/requests", json=ask) for _ in range(4)]
    assert [r.status_code for r in made] == [201, 201, 201, 429]
    ref, token = made[0].json()["ref"], made[0].json()["token"]
    # Guessing a token through the API or the status page spends the same budget.
    api = [tight.get(f"/api/faq/requests/{ref}", params={"token": "GUESS"}) for _ in range(3)]
    page = [
        tight.get(f"/faq/request/{ref}", params={"token": "GUESS"}, headers={"accept": "text/html"})
        for _ in range(2)
    ]
    assert [r.status_code for r in api + page] == [404] * 5
    right = tight.get(
        f"/faq/request/{ref}", params={"token": token}, headers={"accept": "text/html"}
    )
    assert right.status_code == 429 and "请求太频繁" in right.text
    assert tight.get(f"/api/faq/requests/{ref}", params={"token": token}).status_code == 429
    other = TestClient(
        tight.app, client=("203.0.113.12", 50000)
    )  # the running app: `with` starts another
    assert other.get(f"/api/faq/requests/{ref}", params={"token": token}).status_code == 200
