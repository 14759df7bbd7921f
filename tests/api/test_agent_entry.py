"""The agent's whole entry, answers per output channel, the shown order, and lasting marks."""

from __future__ import annotations

from fastapi.testclient import TestClient

from indexer.calibration import Calibration
from kb import tables
from tests.api.conftest import Env


def _link(env: Env, code: str, related: list[str]) -> None:
    with env.db.transaction() as session:
        tables.set_links(session, tables.get_table(session, code), related, actor="editor1")


def test_agent_reads_the_whole_live_entry_with_internal_fields(
    client: TestClient, env: Env
) -> None:
    _link(env, "TX-GH-001", ["TX-GH-002", "TX-GH-004"])  # 004 is only a draft
    response = client.get("/api/tables/TX-GH-001", headers=env.auth("agent1"))
    assert response.status_code == 200
    body = response.json()
    assert body["path"] == ["通信业务", "改号业务", "改号后原号码是否还会产生话费"]
    assert [(f["key"], f["label"], f["internal"], f["content"]) for f in body["fields"]] == [
        ("question", "问题描述", False, "客户担心改号后原号码继续扣费。"),
        ("answer", "标准答复", False, "改号完成后原号码停止计费。"),
        ("steps", "操作步骤", False, "1. 登录营业厅 App\n2. 查看已办业务"),
        ("internal_note", "内部备注", True, "坚持扣费的转计费组核查"),
    ]
    assert body["related"] == [{"code": "TX-GH-002", "title": "内部：改号计费争议处理流程"}]
    assert body["expired"] is False and body["revision"] == 1
    assert body["questions"] == ["换号以后旧号码还扣钱吗"]
    html = client.get(
        "/api/tables/TX-GH-001", params={"format": "html"}, headers=env.auth("agent1")
    ).json()
    assert html["fields"][1]["content"] == "<p>改号完成后原号码<strong>停止计费</strong>。</p>"


def test_the_entry_route_is_for_live_tables_and_signed_in_staff(
    client: TestClient, env: Env
) -> None:
    headers = env.auth("agent1")
    expired = client.get("/api/tables/TX-GH-003", headers=headers).json()
    assert expired["expired"] is True
    draft = client.get("/api/tables/TX-GH-004", headers=headers)
    assert draft.status_code == 404
    assert "drafts and archived tables are in the admin desk" in draft.json()["message"]
    assert client.get("/api/tables/NOPE", headers=headers).status_code == 404
    assert client.get("/api/tables/TX-GH-001").status_code == 401


def test_the_answer_in_each_channel_format(client: TestClient, env: Env) -> None:
    headers = env.auth("agent1")

    def answer(fmt: str) -> str:
        params = {"q": "改号后原号码", "format": fmt}
        body = client.get("/api/search", params=params, headers=headers).json()
        first = body["suggestions"][0]
        assert first["code"] == "TX-GH-001" and first["answer_format"] == fmt
        return str(first["answer"])

    assert answer("sms") == "改号完成后原号码停止计费。"
    assert answer("voice") == "改号完成后原号码停止计费。"
    assert answer("web") == "改号完成后原号码**停止计费**。"
    assert answer("agent").startswith(
        "改号后原号码是否还会产生话费（TX-GH-001）\n通信业务 › 改号业务"
    )
    assert "【内部备注·内部】\n坚持扣费的转计费组核查" in answer("agent")
    bad = client.get("/api/search", params={"q": "改号", "format": "fax"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "format"


def test_renderings_for_the_console_and_traditional_questions(client: TestClient, env: Env) -> None:
    headers = env.auth("agent1")
    simplified = client.get(
        "/api/search", params={"q": "改号后原号码", "renderings": "true"}, headers=headers
    ).json()
    assert simplified["script"] == "simplified"
    first = simplified["suggestions"][0]
    assert set(first["renderings"]) == {"agent", "web", "sms", "wechat", "voice"}
    assert first["renderings"]["sms"]["parts"] == ["改号完成后原号码停止计费。"]
    assert (
        first["renderings"]["web"]["html"] == "<p>改号完成后原号码<strong>停止计费</strong>。</p>"
    )
    assert first["traditional"] is None
    traditional = client.get(
        "/api/search", params={"q": "改號後原號碼", "renderings": "true"}, headers=headers
    ).json()
    assert traditional["script"] == "traditional"
    top = traditional["suggestions"][0]
    assert top["code"] == "TX-GH-001"
    assert top["traditional"]["sms"]["text"] == "改號完成後原號碼停止計費。"
    assert top["renderings"]["sms"]["text"] == "改号完成后原号码停止计费。"
    plain = client.get("/api/search", params={"q": "改號後原號碼"}, headers=headers).json()
    assert plain["suggestions"][0]["renderings"] is None


def test_suggestions_are_listed_by_the_confidence_shown(client: TestClient, env: Env) -> None:
    # A confidence model that disagrees with the ranking (the lower the blend, the surer): a
    # suggestion never shows more confidence than a better-ranked one, so the order and the
    # figures shown still agree.
    index = client.app.state.runtime.service.index  # type: ignore[attr-defined]
    index.calibration = Calibration(
        coef=[-8.0, 0.0, 0.0, 0.0, 0.0, 0.0], intercept=6.0, source="test"
    )
    body = client.get("/api/search", params={"q": "改号"}, headers=env.auth("agent1")).json()
    shown = [(s["rank"], s["confidence"]) for s in body["suggestions"]]
    assert [rank for rank, _ in shown] == [1, 2]
    assert shown[0][1] >= shown[1][1]
    assert body["unsure_below"] == 0.5
    assert [s["unsure"] for s in body["suggestions"]] == [
        s["confidence"] < 0.5 for s in body["suggestions"]
    ]


def test_own_flags_come_back_with_the_next_search_and_the_entry(
    client: TestClient, env: Env
) -> None:
    flag = {"code": "TX-GH-001", "reason": "outdated", "comment": "资费已调整"}
    assert client.post("/api/flags", json=flag, headers=env.auth("agent1")).status_code == 201
    mine = client.get("/api/search", params={"q": "改号"}, headers=env.auth("agent1")).json()
    marks = {s["code"]: [f["reason"] for f in s["my_flags"]] for s in mine["suggestions"]}
    assert marks == {"TX-GH-001": ["outdated"], "TX-GH-002": []}
    entry = client.get("/api/tables/TX-GH-001", headers=env.auth("agent1")).json()
    assert [(f["reason"], f["comment"]) for f in entry["my_flags"]] == [("outdated", "资费已调整")]
    others = client.get("/api/search", params={"q": "改号"}, headers=env.auth("editor1")).json()
    assert all(s["my_flags"] == [] for s in others["suggestions"])


def test_the_entry_in_a_channel_and_in_traditional(client: TestClient, env: Env) -> None:
    headers = env.auth("agent1")
    sms = client.get("/api/tables/TX-GH-001", params={"format": "sms"}, headers=headers).json()
    assert sms["rendering"] == {
        "channel": "sms",
        "text": "改号完成后原号码停止计费。",
        "parts": ["改号完成后原号码停止计费。"],
        "truncated": False,
        "html": None,
    }
    assert sms["fields"][1]["content"] == "改号完成后原号码停止计费。"  # plain beside a channel
    both = client.get(
        "/api/tables/TX-GH-001",
        params={"format": "voice", "renderings": "true", "traditional": "true"},
        headers=headers,
    ).json()
    assert both["rendering"]["text"] == "改號完成後原號碼停止計費。"
    assert both["traditional"]["agent"]["text"].startswith(
        "改號後原號碼是否還會產生話費（TX-GH-001）"
    )
    assert both["renderings"]["agent"]["text"].endswith("【内部备注·内部】\n坚持扣费的转计费组核查")
