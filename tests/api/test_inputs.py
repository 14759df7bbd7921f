"""Hostile input gets a 422 naming the field, never a 500: NUL, lone surrogates, huge integers.

Run on SQLite and on PostgreSQL (NUL bytes and integers past 32 bits fail only in its driver).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api import limits
from api.app import create_app
from kb.db import Database, create_schema, drop_schema, open_database
from kb.settings import Settings
from kb.text import printable, text_problem
from tests.api.conftest import Env, seed

HUGE = 2**70


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Env]]:
    """One app per backend for the module: every request here is refused, nothing changes."""
    tmp_path = tmp_path_factory.mktemp(f"inputs-{request.param}")
    if request.param == "sqlite":
        settings = Settings(data_dir=tmp_path, encoder="fake")
        db = open_database(settings.resolved_database_url, create=True)
    else:
        url = request.getfixturevalue("postgres_url")
        settings = Settings(data_dir=tmp_path, database_url=url, encoder="fake")
        db = Database(url)
        drop_schema(db.engine)
        create_schema(db.engine)
    env = Env(settings, db, seed(db))
    with TestClient(create_app(settings)) as client:
        yield client, env
    db.dispose()


def problems(response: object) -> list[tuple[str | None, str | None]]:
    body = response.json()  # type: ignore[attr-defined]
    return [(p["field"], p["location"]) for p in body["problems"]]


def test_lone_surrogates_are_refused_not_echoed_into_a_500(
    backend: tuple[TestClient, Env],
) -> None:
    client, env = backend
    raw = '{"helpful": false, "query": "\\ud800"}'
    response = client.post(
        "/api/faq/feedback", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert problems(response) == [("query", "body")]
    assert response.json()["problems"][0]["value"] == "\\ud800"
    nested = client.post(
        "/api/suggest",
        content='{"transcript": [{"role": "customer", "text": "\\udfff改号"}]}',
        headers={"content-type": "application/json", **env.auth("agent1")},
    )
    assert (nested.status_code, problems(nested)) == (422, [("transcript.0.text", "body")])
    key = client.put(
        "/api/admin/tables/TX-GH-004/draft",
        content='{"fields": {"\\ud801": "x"}}',
        headers={"content-type": "application/json", **env.auth("editor1")},
    )
    assert (key.status_code, problems(key)) == (422, [("fields.\\ud801", "body")])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/faq/search?q=%E4%BF%A1%00x", None),
        ("GET", "/faq?q=%00", None),
        ("GET", "/api/faq/tables/TX%00", None),
        ("POST", "/api/faq/feedback", {"helpful": False, "query": "宽带\x00坏了"}),
        ("POST", "/api/faq/feedback", {"helpful": True, "code": "TX-GH-001\x00"}),
    ],
)
def test_nul_is_refused_anonymously(
    backend: tuple[TestClient, Env], method: str, path: str, body: object
) -> None:
    client, _env = backend
    response = client.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["problems"][0]["message"].startswith("text must not contain NUL")


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/admin/categories", {"name": "银行\x00服务"}, "name"),
        ("PUT", "/api/admin/categories/%00", {"description": "x"}, "name"),
        ("GET", "/api/search?q=%00", None, "q"),
        ("GET", "/api/admin/tables?q=a%00", None, "q"),
        ("GET", "/api/admin/audit?actor=%00", None, "actor"),
        (
            "POST",
            "/api/admin/tables",
            {"package": "通信业务/改号业务", "code": "TX-N-1", "title": "标题\x00"},
            "title",
        ),
        ("PUT", "/api/admin/tables/TX-GH-004/draft", {"questions": ["a", "b\x00"]}, "questions.1"),
        (
            "POST",
            "/api/flags",
            {"code": "TX-GH-001", "reason": "wrong", "comment": "\x00"},
            "comment",
        ),
        ("POST", "/api/feedback", {"helpful": True, "query": "\x00"}, "query"),
        ("PUT", "/api/admin/synonyms", {"synonyms": [["改号", "换\x00号"]]}, "synonyms.0.1"),
    ],
)
def test_nul_is_refused_everywhere_naming_the_field(
    backend: tuple[TestClient, Env], method: str, path: str, body: object, field: str
) -> None:
    client, env = backend
    response = client.request(method, path, json=body, headers=env.auth("admin1"))
    assert response.status_code == 422, response.text
    assert [p[0] for p in problems(response)] == [field]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/faq/feedback", {"helpful": True, "query_log_id": HUGE}, "query_log_id"),
        ("POST", "/api/feedback", {"helpful": True, "query_log_id": 2**31}, "query_log_id"),
        (
            "POST",
            "/api/faq/requests",
            {"question": "改号", "query_log_id": HUGE},
            "query_log_id",
        ),
        ("GET", f"/api/admin/requests?page={HUGE}", None, "page"),
        ("GET", f"/api/admin/tables?page={HUGE}", None, "page"),
        ("GET", f"/api/admin/audit?page={HUGE}", None, "page"),
        ("GET", f"/api/admin/usage?page={HUGE}", None, "page"),
        ("GET", f"/api/admin/tables/TX-GH-001/revisions/{HUGE}", None, "number"),
        ("GET", f"/api/admin/tables/TX-GH-001/diff?a={HUGE}", None, "a"),
        ("GET", f"/api/admin/tables/TX-GH-001/diff?b={2**31}", None, "b"),
        ("POST", f"/api/admin/flags/{HUGE}/dismiss", {"comment": "x"}, "flag_id"),
        ("POST", "/api/admin/tables/TX-GH-001/rollback", {"to": HUGE}, "to"),
        ("GET", f"/api/admin/stale-but-used?min_hits={HUGE}", None, "min_hits"),
        ("POST", f"/api/admin/gaps/{HUGE}/attach", {"to": "TX-GH-001"}, "n"),
    ],
)
def test_integers_beyond_the_database_are_422(
    backend: tuple[TestClient, Env], method: str, path: str, body: object, field: str
) -> None:
    client, env = backend
    response = client.request(method, path, json=body, headers=env.auth("admin1"))
    assert response.status_code == 422, response.text
    assert [p[0] for p in problems(response)] == [field]


def test_largest_accepted_integers_are_answered_without_error(
    backend: tuple[TestClient, Env],
) -> None:
    client, env = backend
    admin = env.auth("admin1")
    top = 2**31 - 1
    assert (
        client.get(f"/api/admin/tables/TX-GH-001/revisions/{top}", headers=admin).status_code == 404
    )
    assert client.get("/api/admin/tables?page=100000", headers=admin).json()["tables"] == []
    stale = client.get(f"/api/admin/stale-but-used?min_hits={top}", headers=admin)
    assert (stale.status_code, stale.json()["count"]) == (200, 0)
    vote = client.post("/api/faq/feedback", json={"helpful": True, "query_log_id": top})
    assert vote.status_code == 422 and problems(vote) == [("query_log_id", None)]


def test_text_problem_and_printable() -> None:
    assert text_problem("知库") is None
    assert text_problem("a\x00") == "text must not contain NUL characters (\\u0000)"
    assert text_problem("\ud800") is not None
    assert printable("\ud800x\x00") == "\\ud800x\\x00"
    assert printable("长" * 150) == "长" * 100 + "…"
    assert printable(7) == 7


def test_long_names_that_the_schema_allows_are_stored(backend: tuple[TestClient, Env]) -> None:
    """A long package path used to overflow the audit log's key (100 characters) on PostgreSQL.

    The longest Chinese names a name may have: 80 characters are 240 bytes in UTF-8, the most a
    name may take as a file name (kb.hierarchy.MAX_NAME_BYTES); the path is 161 characters."""
    client, env = backend
    admin = env.auth("admin1")
    category, name = "类" * 80, "包" * 80
    assert (
        client.post("/api/admin/categories", json={"name": category}, headers=admin).status_code
        == 201
    )
    template = [{"key": "answer", "label": "标准答复", "required": True}]
    created = client.post(
        "/api/admin/packages",
        json={"category": category, "name": name, "template": template},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    entries = client.get(
        "/api/admin/audit", params={"object_type": "package"}, headers=admin
    ).json()["entries"]
    assert entries[0]["object_key"] == f"{category}/{name}"[:99] + "…"
    assert entries[0]["detail"]["key"] == f"{category}/{name}"


MiB = 1024 * 1024


def test_a_body_over_its_limit_is_refused_before_it_is_read(
    backend: tuple[TestClient, Env],
) -> None:
    client, env = backend
    vote = b'{"helpful": true, "query": "' + b"a" * limits.MAX_BODY_BYTES + b'"}'
    json_type = {"content-type": "application/json"}
    declared = client.post("/api/faq/feedback", content=vote, headers=json_type)

    def chunks() -> Iterator[bytes]:  # no length declared: counted as it arrives
        for start in range(0, len(vote), MiB):
            yield vote[start : start + MiB]

    streamed = client.post("/api/faq/feedback", content=chunks(), headers=json_type)
    bodyless = client.request("GET", "/api/health", content=vote)
    for response in (declared, streamed, bodyless):
        assert response.status_code == 413
        body = response.json()
        assert body["error"] == "payload_too_large"
        assert body["message"] == "The request body is over 4 MiB, the most this address takes."
    # the import takes a file of up to its own limit, and only a token's owner may send one
    upload = {"file": ("big.csv", b"x" * (limits.MAX_UPLOAD_BYTES + 2 * MiB), "text/csv")}
    anonymous = client.post("/api/admin/import", files=upload)
    assert anonymous.status_code == 413 and "over 11 MiB" in anonymous.json()["message"]
    fits = {"file": ("big.csv", b"x" * (limits.MAX_BODY_BYTES + MiB), "text/csv")}
    assert client.post("/api/admin/import", files=fits).status_code == 401


def test_a_body_nested_past_the_parser_is_no_500(backend: tuple[TestClient, Env]) -> None:
    client, env = backend
    json_type = {"content-type": "application/json"}
    deep = "[" * 100_000 + "]" * 100_000
    for path in ("/api/health", "/api/faq/tree", "/faq"):  # routes that take no body
        assert client.request("GET", path, content=deep, headers=json_type).status_code == 200
    # nested as deep as the parser goes: still walked for NUL, without recursion
    nested = '{"helpful": "yes", "query": "\\u0000", "pad": ' + "[" * 900 + "]" * 900 + "}"
    refused = client.post("/api/faq/feedback", content=nested, headers=json_type)
    assert refused.status_code == 422
    assert ("query", "body") in problems(refused)


def test_an_upload_named_past_the_file_system_is_reported_under_its_name(
    backend: tuple[TestClient, Env],
) -> None:
    client, env = backend
    name = "长" * 100 + ".csv"  # 304 bytes: no file system takes it as a name
    upload = {"file": (name, b"a,b\n", "text/csv")}
    response = client.post("/api/admin/import", files=upload, headers=env.auth("admin1"))
    assert response.status_code == 422
    assert response.json()["problems"][0]["location"].startswith(name)
    assert "/tmp" not in response.text and "upload.csv" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "body", "user"),
    [
        (
            "PATCH",
            "/api/admin/tables/TX-GH-001",
            {"valid_until": "0001-01-01T00:00:00+14:00"},
            "editor1",
        ),
        (
            "PATCH",
            "/api/admin/tables/TX-GH-001",
            {"valid_from": "9999-12-31T23:59:59-14:00"},
            "admin1",
        ),
        (
            "POST",
            "/api/admin/tables/TX-GH-001/verify",
            {"valid_until": "0001-01-01T00:00:00+01:00"},
            "admin1",
        ),
        (
            "POST",
            "/api/admin/tables/TX-GH-001/approve",
            {"publish_at": "9999-12-31T23:00:00-05:00"},
            "reviewer1",
        ),
    ],
)
def test_a_date_at_the_calendar_edge_is_a_422_naming_it(
    backend: tuple[TestClient, Env], method: str, path: str, body: dict[str, str], user: str
) -> None:
    """Such a date-time cannot be moved to UTC; it was a 500 on every write that takes one."""
    client, env = backend
    response = client.request(method, path, json=body, headers=env.auth(user))
    assert response.status_code == 422, response.text
    [problem] = response.json()["problems"]
    assert (problem["field"], problem["location"]) == (next(iter(body)), "body")
    assert "1900 to 8999" in problem["message"]
