"""Operations endpoints: health, identity, audit, dictionary, import/export, hit test."""

from __future__ import annotations

import io
import zipfile

from fastapi.testclient import TestClient

from api import limits
from tests.api.conftest import Env
from tests.kb.hostile_files import alias_bomb

CSV_HEADER = "category,package,code,title,questions,标准答复\n"


def test_health(client: TestClient, env: Env) -> None:
    # Anyone: alive or not, nothing about the content (no index path, counts or codes).
    public = client.get("/api/health")
    assert (public.status_code, public.json()) == (200, {"status": "ok"})
    assert client.get("/api/admin/health").status_code == 401
    assert client.get("/api/admin/health", headers=env.auth("reviewer1")).status_code == 403
    response = client.get("/api/admin/health", headers=env.auth("admin1"))
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["tables"], body["live_tables"]) == (
        "ok",
        "sqlite",
        4,
        3,
    )
    assert body["index"]["encoder"].startswith("fake")
    assert body["index"]["drift"] == {
        "tables_to_update": 0,
        "tables_to_remove": 0,
        "dictionary_changed": False,
    }
    assert body["last_sweep"]["expired"] == ["TX-GH-003"]  # the sweep ran at start
    assert body["retuning"] is False


def test_me(client: TestClient, env: Env) -> None:
    body = client.get("/api/me", headers=env.auth("reviewer1")).json()
    assert (body["name"], body["role"]) == ("reviewer1", "reviewer")
    assert "review" in body["actions"] and "manage_users" not in body["actions"]
    assert client.get("/api/me").status_code == 401


def test_audit_log(client: TestClient, env: Env) -> None:
    client.post("/api/admin/tables/TX-GH-004/submit", headers=env.auth("editor1"))
    body = client.get(
        "/api/admin/audit", params={"key": "TX-GH-004"}, headers=env.auth("editor1")
    ).json()
    assert [e["action"] for e in body["entries"]] == ["submit", "revise", "create"]
    assert body["entries"][0]["actor"] == "editor1"
    assert client.get("/api/admin/audit", headers=env.auth("agent1")).status_code == 403


def _analyzer_hash(client: TestClient, env: Env) -> str:
    index = client.get("/api/admin/health", headers=env.auth("admin1")).json()["index"]
    assert index["drift"]["dictionary_changed"] is False  # the live index uses the stored one
    return str(index["analyzer_hash"])


def test_synonyms_take_effect_without_restart(client: TestClient, env: Env) -> None:
    before = _analyzer_hash(client, env)
    body = {"synonyms": [["改号", "换号", "更换号码"]]}
    agent = client.put("/api/admin/synonyms", json=body, headers=env.auth("agent1"))
    assert agent.status_code == 403
    response = client.put("/api/admin/synonyms", json=body, headers=env.auth("reviewer1"))
    assert response.status_code == 200
    assert response.json() == body
    after = _analyzer_hash(client, env)
    assert after != before
    same = client.put("/api/admin/synonyms", json=body, headers=env.auth("reviewer1"))
    assert same.status_code == 200
    assert _analyzer_hash(client, env) == after
    got = client.get("/api/admin/synonyms", headers=env.auth("agent1")).json()
    assert got == body
    bad = client.put(
        "/api/admin/synonyms", json={"synonyms": [["改号"]]}, headers=env.auth("reviewer1")
    )
    assert bad.status_code == 422
    assert bad.json()["problems"][0]["field"] == "synonyms[0]"


def test_terms(client: TestClient, env: Env) -> None:
    before = _analyzer_hash(client, env)
    response = client.put(
        "/api/admin/terms", json={"terms": ["携号转网", "副卡"]}, headers=env.auth("reviewer1")
    )
    assert response.json() == {"terms": ["副卡", "携号转网"]}
    assert _analyzer_hash(client, env) != before
    bad = client.put("/api/admin/terms", json={"terms": ["两个 词"]}, headers=env.auth("reviewer1"))
    assert bad.status_code == 422


def _csv(rows: list[str]) -> bytes:
    return (CSV_HEADER + "".join(r + "\n" for r in rows)).encode("utf-8")


def test_import_csv_as_drafts(client: TestClient, env: Env) -> None:
    data = _csv(["通信业务,改号业务,TX-GH-201,改号会影响积分吗,改号积分还在吗,积分随号码迁移。"])
    response = client.post(
        "/api/admin/import",
        files={"file": ("new.csv", data, "text/csv")},
        data={"draft": "true"},
        headers=env.auth("editor1"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == ["TX-GH-201"]
    assert response.json()["published"] is False
    table = client.get("/api/admin/tables/TX-GH-201", headers=env.auth("editor1")).json()
    assert table["state"] == "draft"


def test_import_publishing_needs_the_publish_right(client: TestClient, env: Env) -> None:
    data = _csv(["通信业务,改号业务,TX-GH-201,改号会影响积分吗,,积分随号码迁移。"])
    files = {"file": ("new.csv", data, "text/csv")}
    editor = client.post("/api/admin/import", files=files, headers=env.auth("editor1"))
    assert editor.status_code == 403
    admin = client.post("/api/admin/import", files=files, headers=env.auth("admin1"))
    assert admin.status_code == 200
    assert client.get("/api/faq/tables/TX-GH-201").status_code == 200


def test_import_is_all_or_nothing_with_a_row_report(client: TestClient, env: Env) -> None:
    data = _csv(
        [
            "通信业务,改号业务,TX-GH-301,好的一行,,答复",
            "通信业务,改号业务,TX-GH-302,缺少答复的一行,,",
        ]
    )
    response = client.post(
        "/api/admin/import",
        files={"file": ("bad.csv", data, "text/csv")},
        headers=env.auth("admin1"),
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "import_rejected"
    assert [(p["location"], p["field"]) for p in body["problems"]] == [("bad.csv row 3", "answer")]
    assert "/tmp" not in response.text
    assert client.get("/api/admin/tables/TX-GH-301", headers=env.auth("admin1")).status_code == 404


def test_import_refuses_other_files_and_oversized_ones(client: TestClient, env: Env) -> None:
    headers = env.auth("admin1")
    pdf = client.post(
        "/api/admin/import", files={"file": ("a.pdf", b"%PDF", "application/pdf")}, headers=headers
    )
    assert pdf.status_code == 422
    assert pdf.json()["problems"][0]["field"] == "file"
    big = b"x" * (limits.MAX_UPLOAD_BYTES + 1)
    large = client.post(
        "/api/admin/import", files={"file": ("big.csv", big, "text/csv")}, headers=headers
    )
    assert large.status_code == 413
    assert large.json()["error"] == "payload_too_large"
    broken = client.post(
        "/api/admin/import", files={"file": ("a.zip", b"nope", "application/zip")}, headers=headers
    )
    assert broken.status_code == 422
    agent = client.post(
        "/api/admin/import", files={"file": ("a.csv", b"", "text/csv")}, headers=env.auth("agent1")
    )
    assert agent.status_code == 403


def test_export_then_import_the_zip_changes_nothing(client: TestClient, env: Env) -> None:
    exported = client.get("/api/admin/export", headers=env.auth("editor1"))
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(exported.content)).namelist()
    assert "通信业务/改号业务.yaml" in names
    again = client.post(
        "/api/admin/import",
        files={"file": ("export.zip", exported.content, "application/zip")},
        headers=env.auth("admin1"),
    )
    assert again.status_code == 200, again.text
    assert again.json()["created"] == [] and again.json()["revised"] == []
    assert client.get("/api/admin/export", headers=env.auth("agent1")).status_code == 403


def test_zip_with_unsafe_paths_is_refused(client: TestClient, env: Env) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.yaml", "x: 1")
    response = client.post(
        "/api/admin/import",
        files={"file": ("evil.zip", buffer.getvalue(), "application/zip")},
        headers=env.auth("admin1"),
    )
    assert response.status_code == 422
    assert "unsafe path" in response.json()["message"]


def test_hit_test_uses_the_channel_rules(client: TestClient, env: Env) -> None:
    headers = env.auth("editor1")
    agent = client.get("/api/admin/hit-test", params={"q": "改号"}, headers=headers).json()
    customer = client.get(
        "/api/admin/hit-test", params={"q": "改号", "channel": "customer"}, headers=headers
    ).json()
    assert [s["code"] for s in agent["suggestions"]] == ["TX-GH-001", "TX-GH-002"]
    assert [s["code"] for s in customer["suggestions"]] == ["TX-GH-001"]
    assert customer["filtered"] > agent["filtered"]  # the internal table, for customers
    assert (agent["channel"], customer["channel"]) == ("agent", "customer")
    assert agent["query_log_id"] is None  # hit tests stay out of the query log
    assert (
        client.get(
            "/api/admin/hit-test", params={"q": "改号"}, headers=env.auth("agent1")
        ).status_code
        == 403
    )


def test_unknown_api_path_is_a_json_404(client: TestClient) -> None:
    response = client.get("/api/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_yaml_alias_bomb_upload_is_refused(client: TestClient, env: Env) -> None:
    """Issue 11 #7: a 492-byte upload took the server to 5.3 GB and never returned."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("通信业务/炸弹.yaml", alias_bomb())
    response = client.post(
        "/api/admin/import",
        files={"file": ("bomb.zip", buffer.getvalue(), "application/zip")},
        data={"draft": "true"},
        headers=env.auth("editor1"),
    )
    # Refused before expansion: the memory bound is tested on the reader itself
    # (tests/kb/test_transfer_limits.py); no timing is asserted here.
    assert response.status_code == 422
    [problem] = response.json()["problems"]
    assert problem["location"] == "bomb.zip/通信业务/炸弹.yaml:1"
    assert "(ZHIKU_IMPORT_MAX_YAML_NODES)" in problem["message"]
