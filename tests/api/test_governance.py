"""Role × action over HTTP for the ways around review that issue 11 found: import, PATCH of
audience and validity, approving a revision one wrote into."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient

from kb import hierarchy, users
from tests.api.conftest import Env
from tests.factories import TEMPLATE, make_package, make_table

ROLES = ["agent1", "editor1", "reviewer1", "admin1"]
CSV_HEADER = "category,package,code,title,audience,标准答复\n"


def _csv(*rows: str) -> bytes:
    return (CSV_HEADER + "".join(f"{r}\n" for r in rows)).encode("utf-8")


def _upload(
    client: TestClient, env: Env, who: str, name: str, data: bytes, *, draft: bool = True
) -> dict[str, object]:
    response = client.post(
        "/api/admin/import",
        files={"file": (name, data, "application/octet-stream")},
        data={"draft": "true" if draft else "false"},
        headers=env.auth(who),
    )
    return {"status": response.status_code, **response.json()}


def _export(client: TestClient, env: Env) -> dict[str, bytes]:
    exported = client.get("/api/admin/export", headers=env.auth("editor1"))
    archive = zipfile.ZipFile(io.BytesIO(exported.content))
    return {name: archive.read(name) for name in archive.namelist()}


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _scoped_editor(env: Env) -> None:
    """card_editor, scoped to 银行服务/信用卡 (which holds YH-XYK-001)."""
    with env.db.transaction() as session:
        make_table(session, make_package(session, "银行服务", "信用卡"), code="YH-XYK-001")
        user = users.create_user(session, "card_editor", "editor", ["银行服务/信用卡"])
        env.tokens["card_editor"] = users.issue_token(session, user)[1]


def test_scoped_editor_cannot_publish_internal_out_of_scope_content_by_import(
    client: TestClient, env: Env
) -> None:
    """Issue 11 #1: a one-line CSV with draft=true made an internal answer public."""
    _scoped_editor(env)
    assert client.get("/api/faq/tables/TX-GH-002").status_code == 404
    data = _csv("通信业务,改号业务,TX-GH-002,内部：改号计费争议处理流程,public,转计费组。")
    body = _upload(client, env, "card_editor", "one.csv", data)
    assert body["status"] == 403
    assert body["error"] == "import_refused"
    assert [(p["location"], p["field"]) for p in body["problems"]] == [  # type: ignore[attr-defined]
        ("one.csv row 2", "package")
    ]
    assert "their scope is 银行服务/信用卡" in body["problems"][0]["message"]  # type: ignore[index]
    assert client.get("/api/faq/tables/TX-GH-002").status_code == 404
    new = _csv("通信业务,改号业务,TX-GH-301,新表,public,答复。")
    assert _upload(client, env, "card_editor", "new.csv", new)["status"] == 403
    mine = _csv("银行服务,信用卡,YH-XYK-002,信用卡年费,public,首年免年费。")
    assert _upload(client, env, "card_editor", "mine.csv", mine)["status"] == 200


def test_editor_zip_cannot_create_hierarchy_or_replace_the_dictionary(
    client: TestClient, env: Env
) -> None:
    """Issue 11 #2: a zip made a category and package, replaced the synonyms, relabelled."""
    synonyms = client.get("/api/admin/synonyms", headers=env.auth("editor1")).json()
    files = _export(client, env)
    files["_dictionary.yaml"] = "synonyms:\n  - [甲, 乙]\nterms: [丙]\n".encode()
    package = files["通信业务/改号业务.yaml"].decode()
    files["通信业务/改号业务.yaml"] = package.replace("label: 标准答复", "label: 客服答复").encode()
    files["新类/新包.yaml"] = (
        package.replace("package: 改号业务", "package: 新包").replace("TX-GH-", "XL-").encode()
    )
    body = _upload(client, env, "editor1", "all.zip", _zip(files))
    assert body["status"] == 403, body
    assert [(p["location"], p["field"]) for p in body["problems"]] == [  # type: ignore[attr-defined]
        ("all.zip/_dictionary.yaml:2", "dictionary"),
        ("all.zip/新类", "category"),
        ("all.zip/新类/新包.yaml:1", "package"),
        ("all.zip/通信业务/改号业务.yaml:1", "package"),
    ]
    assert client.get("/api/admin/synonyms", headers=env.auth("editor1")).json() == synonyms
    names = [
        c["name"] for c in client.get("/api/admin/categories", headers=env.auth("editor1")).json()
    ]
    assert names == ["通信业务"]


IMPORT_MATRIX = [
    # (what, draft, who may): tried in this order by each role, on one app
    ("new table as a draft", True, {"editor1", "reviewer1", "admin1"}),
    ("new table published", False, {"admin1"}),
    ("new category", True, {"admin1"}),
    ("dictionary", True, {"reviewer1", "admin1"}),
    ("audience of a table, as a draft", True, {"editor1", "reviewer1", "admin1"}),
]
PUBLIC_ROW = (
    "通信业务,改号业务,TX-GH-002,内部：改号计费争议处理流程,public,转计费组，工单类型选计费争议。"
)


def _import_file(client: TestClient, env: Env, what: str) -> tuple[str, bytes]:
    if what == "new table as a draft":
        return "new.csv", _csv("通信业务,改号业务,TX-GH-401,新表,public,答复。")
    if what == "new table published":
        return "new.csv", _csv("通信业务,改号业务,TX-GH-402,另一新表,public,答复。")
    if what == "audience of a table, as a draft":
        return "public.csv", _csv(PUBLIC_ROW)
    files = _export(client, env)
    if what == "new category":
        package = files["通信业务/改号业务.yaml"].decode()
        files["新类/新包.yaml"] = (
            package.replace("package: 改号业务", "package: 新包").replace("TX-GH-", "XL-").encode()
        )
    else:
        files["_dictionary.yaml"] = "synonyms:\n  - [甲, 乙]\nterms: [丙]\n".encode()
    return "content.zip", _zip(files)


@pytest.mark.parametrize("who", ROLES)
def test_import_role_by_action(client: TestClient, env: Env, who: str) -> None:
    outcome = {}
    for what, draft, _ in IMPORT_MATRIX:
        name, data = _import_file(client, env, what)
        body = _upload(client, env, who, name, data, draft=draft)
        outcome[what] = body["status"]
        if what == "audience of a table, as a draft" and body["status"] == 200:
            assert body["proposed"] == ["TX-GH-002"]
    assert outcome == {what: 200 if who in may else 403 for what, _, may in IMPORT_MATRIX}
    assert client.get("/api/faq/tables/TX-GH-002").status_code == 404  # waits for review


PATCHES = [
    ("TX-GH-002", {"audience": "public"}, {"audience": "public"}),
    (
        "TX-GH-003",
        {"valid_until": "2030-01-01T00:00:00Z"},
        {"valid_until": "2030-01-01T00:00:00+00:00"},
    ),
]


@pytest.mark.parametrize("who", ROLES)
def test_patch_of_audience_or_validity_role_by_action(
    client: TestClient, env: Env, who: str
) -> None:
    """Issue 11 #3: only the publish right changes audience or validity at once (making an
    internal table public, reviving an expired one); for editors and reviewers the change
    waits on a draft for another person's approval."""
    for code, change, proposed in PATCHES:
        assert client.get(f"/api/faq/tables/{code}").status_code == 404
        response = client.patch(f"/api/admin/tables/{code}", json=change, headers=env.auth(who))
        if who == "agent1":
            assert response.status_code == 403
            continue
        assert response.status_code == 200, response.text
        latest = response.json()["latest"]
        if who == "admin1":
            assert (latest["number"], latest["proposed"]) == (1, None)
            assert client.get(f"/api/faq/tables/{code}").status_code == 200
            continue
        assert (latest["number"], latest["state"], latest["proposed"]) == (2, "draft", proposed)
        assert latest["contributors"] == [who]
        assert client.get(f"/api/faq/tables/{code}").status_code == 404
        submit = client.post(f"/api/admin/tables/{code}/submit", headers=env.auth(who))
        assert submit.status_code == 200
        own = client.post(f"/api/admin/tables/{code}/approve", json={}, headers=env.auth(who))
        assert own.status_code == 403
        other = "admin1" if who == "reviewer1" else "reviewer1"
        approved = client.post(
            f"/api/admin/tables/{code}/approve", json={}, headers=env.auth(other)
        )
        assert approved.status_code == 200, approved.text
        assert client.get(f"/api/faq/tables/{code}").status_code == 200


@pytest.mark.parametrize("who", ROLES)
def test_a_move_to_another_package_role_by_action(client: TestClient, env: Env, who: str) -> None:
    """A move applies the target's template and review interval at once: an editor's move
    made an internal field public (and revived a table stale under the old interval)."""
    with env.db.transaction() as session:  # its note was public once, in its version 1
        public_note = [dict(f, audience="public") for f in TEMPLATE]
        target = make_package(session, "通信业务", "套餐业务", template=public_note)
        hierarchy.ensure_package(session, target.category, target.name, template=TEMPLATE)
    move = {"package": "通信业务/套餐业务"}
    response = client.patch("/api/admin/tables/TX-GH-001", json=move, headers=env.auth(who))
    assert response.status_code == (200 if who == "admin1" else 403), response.text
    if who != "admin1":
        assert "an admin moves tables" in response.json()["message"] or who == "agent1"
    shown = client.get("/api/faq/tables/TX-GH-001").json()
    assert shown["path"][1] == ("套餐业务" if who == "admin1" else "改号业务")
    assert "internal_note" not in [f["key"] for f in shown["fields"]]  # read under version 2


def test_admin_who_edits_a_draft_may_not_approve_it(client: TestClient, env: Env) -> None:
    """Issue 11 #4: the admin rewrote an editor's draft, then approved it."""
    edit = client.put(
        "/api/admin/tables/TX-GH-004/draft",
        json={"fields": {"answer": "管理员改写：线上可预约改号。"}},
        headers=env.auth("admin1"),
    )
    assert edit.status_code == 200
    assert edit.json()["latest"]["contributors"] == ["editor1", "admin1"]
    assert (
        client.post("/api/admin/tables/TX-GH-004/submit", headers=env.auth("editor1")).status_code
        == 200
    )
    own = client.post("/api/admin/tables/TX-GH-004/approve", json={}, headers=env.auth("admin1"))
    assert own.status_code == 403
    assert "they edited it" in own.json()["message"]
    queue = client.get("/api/admin/queues/review", headers=env.auth("admin1"))
    assert [i["code"] for i in queue.json()["items"]] == []
    other = client.post(
        "/api/admin/tables/TX-GH-004/approve", json={}, headers=env.auth("reviewer1")
    )
    assert other.status_code == 200


def test_rights_are_checked_before_the_upload_the_names_and_the_state(
    client: TestClient, env: Env
) -> None:
    """Import and the rename routes: whoever may not do it gets 403, before the form or body is
    found wanting (422), the category or package is missing (404) or the name is taken (409)."""
    agent, editor = env.auth("agent1"), env.auth("editor1")
    imports = {
        "no file": client.post("/api/admin/import", headers=agent),
        "not a form": client.post("/api/admin/import", json={"file": 1}, headers=agent),
        "a file": client.post(
            "/api/admin/import", files={"file": ("x.csv", _csv(PUBLIC_ROW))}, headers=agent
        ),
    }
    assert {k: r.status_code for k, r in imports.items()} == dict.fromkeys(imports, 403)
    publish = client.post(
        "/api/admin/import",
        files={"file": ("x.csv", b"\xff not a csv")},
        data={"draft": "false"},
        headers=editor,
    )
    assert publish.status_code == 403, publish.text  # publishing without review: not the file
    renames = {
        (path, str(body)): client.post(path, json=body, headers=editor).status_code
        for path in (
            "/api/admin/categories/通信业务/rename",  # 409 for an admin: name taken
            "/api/admin/categories/NOPE/rename",
            "/api/admin/packages/通信业务/改号业务/rename",
            "/api/admin/packages/NOPE/NOPE/rename",
        )
        for body in ({"name": "通信业务"}, {"name": "新名"}, {"name": ""}, {})
    }
    assert set(renames.values()) == {403}, {k: v for k, v in renames.items() if v != 403}
