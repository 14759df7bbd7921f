"""The governance scenario end to end through the ``kb`` command."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from kb import tables
from kb.clock import frozen
from kb.db import open_database
from kb.visibility import Channel, visible
from tests.factories import make_package, make_table

NOW = datetime(2026, 5, 22, 8, 0, tzinfo=UTC)  # the demo table is published
TODAY = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # when the commands run


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ZHIKU_TIMEZONE", "Asia/Shanghai")
    monkeypatch.setenv("ZHIKU_ENCODER", "fake")
    monkeypatch.delenv("ZHIKU_DATABASE_URL", raising=False)
    monkeypatch.delenv("ZHIKU_USER", raising=False)
    monkeypatch.delenv("ZHIKU_ALLOW_SELF_APPROVAL", raising=False)
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'zhiku.db'}", create=True)
    with db.transaction() as session, frozen(NOW):
        package = make_package(session, owner="李娜", review_interval_days=180)
        make_table(session, package=package, actor="李娜")
    db.dispose()
    yield CliRunner()


def kb(runner: CliRunner, *args: str, code: int = 0, now: datetime = TODAY) -> str:
    """Run ``kb ARGS`` at ``now``: its stdout on success, its stderr when ``code`` is not 0."""
    with frozen(now):
        result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.stdout if code == 0 else result.stderr


def table_state(tmp_path: Path, code: str = "TX-GH-001") -> tuple[object, ...]:
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'zhiku.db'}")
    with db.session() as session:
        table = tables.get_table(session, code)
        live = table.live_revision
        found = (
            [(r.number, r.state.value) for r in table.revisions],
            live.fields["answer"] if live else None,
            table.valid_until,
            table.last_verified_at,
        )
    db.dispose()
    return found


def test_users_and_tokens(runner: CliRunner) -> None:
    out = kb(runner, "user", "add", "reviewer1", "--role", "reviewer", "--scope", "通信业务")
    assert (
        out
        == "Added reviewer1 (reviewer, 通信业务). Give them a token with `kb user token reviewer1`.\n"
    )
    kb(runner, "user", "add", "agent1", "--role", "agent")
    token = runner.invoke(app, ["user", "token", "agent1", "--label", "坐席"])
    assert token.exit_code == 0
    assert token.stdout.startswith("zk_") and len(token.stdout.strip()) == 46
    listed = json.loads(kb(runner, "user", "list", "--json"))
    assert listed == [
        {
            "name": "agent1",
            "display_name": "",
            "role": "agent",
            "scopes": [],
            "active": True,
            "tokens": 1,
        },
        {
            "name": "reviewer1",
            "display_name": "",
            "role": "reviewer",
            "scopes": ["通信业务"],
            "active": True,
            "tokens": 0,
        },
    ]
    assert kb(runner, "user", "revoke", "1") == "Token 1 of agent1 revoked.\n"
    err = kb(runner, "user", "add", "x", "--role", "boss", code=1)
    assert "错误 error: role must be one of agent, editor, reviewer, admin" in err


def test_scripted_review_scenario(runner: CliRunner, tmp_path: Path) -> None:
    kb(runner, "user", "add", "editor1", "--role", "editor")
    kb(runner, "user", "add", "reviewer1", "--role", "reviewer", "--scope", "通信业务/改号业务")
    kb(runner, "user", "add", "agent1", "--role", "agent")

    out = kb(runner, "draft", "TX-GH-001", "--as", "editor1", "--field", "answer=次月起停止计费。")
    assert out == (
        "Saved draft revision 2 of TX-GH-001. Submit it with `kb submit TX-GH-001 --as editor1`.\n"
    )
    assert (
        kb(runner, "submit", "TX-GH-001", "--as", "editor1")
        == "Revision 2 of TX-GH-001 is in review.\n"
    )
    queue = json.loads(kb(runner, "review", "queue", "--as", "reviewer1", "--json"))
    assert [(i["code"], i["revision"], i["author"], i["live_revision"]) for i in queue] == [
        ("TX-GH-001", 2, "editor1", 1)
    ]
    err = kb(runner, "reject", "TX-GH-001", "--as", "reviewer1", "--comment", " ", code=1)
    assert "rejecting needs a comment" in err
    out = kb(
        runner, "reject", "TX-GH-001", "--as", "reviewer1", "--comment", "请写明改号当月如何计费"
    )
    assert (
        out == "Revision 2 of TX-GH-001 rejected; editor1 can fix it with `kb draft TX-GH-001`.\n"
    )
    assert table_state(tmp_path)[:2] == (
        [(1, "published"), (2, "rejected")],
        "改号完成后原号码停止计费。",
    )

    kb(
        runner,
        "draft",
        "TX-GH-001",
        "--as",
        "editor1",
        "--field",
        "answer=次月起停止计费，改号当月按实际天数折算。",
        "--note",
        "补充当月计费",
    )
    kb(runner, "submit", "TX-GH-001", "--as", "editor1")
    err = kb(runner, "approve", "TX-GH-001", "--as", "editor1", code=1)
    assert "错误 error: editor1 (editor) may not review; allowed for: reviewer, admin." in err
    out = kb(runner, "approve", "TX-GH-001", "--as", "reviewer1", "--comment", "口径已确认")
    assert out == "Revision 3 of TX-GH-001 is live.\n"
    assert table_state(tmp_path)[:2] == (
        [(1, "archived"), (2, "rejected"), (3, "published")],
        "次月起停止计费，改号当月按实际天数折算。",
    )

    trail = json.loads(kb(runner, "audit", "TX-GH-001", "--json"))
    assert [(e["actor"], e["action"], e["revision"], e["comment"]) for e in trail] == [
        ("李娜", "create", None, ""),
        ("李娜", "revise", 1, ""),
        ("李娜", "publish", 1, ""),
        ("editor1", "revise", 2, ""),
        ("editor1", "submit", 2, ""),
        ("reviewer1", "reject", 2, "请写明改号当月如何计费"),
        ("editor1", "revise", 3, "补充当月计费"),
        ("editor1", "submit", 3, ""),
        ("reviewer1", "approve", 3, "口径已确认"),
        ("reviewer1", "publish", 3, ""),
    ]
    diff = json.loads(kb(runner, "diff", "TX-GH-001", "1", "3", "--json"))
    assert [(c["key"], c["lines"]) for c in diff["changes"]] == [
        ("answer", ["- 改号完成后原号码停止计费。", "+ 次月起停止计费，改号当月按实际天数折算。"])
    ]
    revs = json.loads(kb(runner, "revisions", "TX-GH-001", "--json"))
    assert [(r["revision"], r["state"], r["live"], r["based_on"]) for r in revs] == [
        (1, "archived", False, None),
        (2, "rejected", False, 1),
        (3, "published", True, 2),
    ]


def customer_sees(tmp_path: Path, at: datetime) -> bool:
    db = open_database(f"sqlite:///{tmp_path / 'data' / 'zhiku.db'}")
    with db.session() as session:
        seen = visible(tables.get_table(session, "TX-GH-001"), Channel.CUSTOMER, at)
    db.dispose()
    return seen


def test_verify_extends_validity_and_expiry_hides_at_once(
    runner: CliRunner, tmp_path: Path
) -> None:
    kb(runner, "user", "add", "reviewer1", "--role", "reviewer")
    # Published on May 22nd with a 180-day interval: stale from 2026-11-18 08:00 UTC on.
    assert json.loads(kb(runner, "review", "due", "--days", "170", "--json")) == []
    due = json.loads(kb(runner, "review", "due", "--days", "171", "--json"))
    assert [(i["code"], i["expires_at"]) for i in due] == [
        ("TX-GH-001", "2026-11-18T08:00:00+00:00")
    ]
    nov_20 = datetime(2026, 11, 20, tzinfo=UTC)
    assert customer_sees(tmp_path, nov_20) is False
    out = kb(runner, "verify", "TX-GH-001", "--as", "reviewer1", "--comment", "资费未变")
    # Re-verified on June 1st: the 180 days count from there.
    assert out == (
        "TX-GH-001 verified; it stays valid until 2026-11-28T02:00+00:00 "
        "(re-verify every 180 days).\n"
    )
    assert table_state(tmp_path)[3] == TODAY
    assert customer_sees(tmp_path, nov_20) is True

    out = kb(runner, "verify", "TX-GH-001", "--as", "reviewer1", "--until", "2026-09-30")
    # Valid through September 30th in Asia/Shanghai: until 2026-10-01 00:00+08:00.
    assert out == (
        "TX-GH-001 verified; it stays valid until 2026-09-30T16:00+00:00 "
        "(valid_until 2026-09-30T16:00+00:00; re-verify every 180 days).\n"
    )
    assert table_state(tmp_path)[2] == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
    assert customer_sees(tmp_path, datetime(2026, 9, 30, 15, 59, tzinfo=UTC)) is True
    assert customer_sees(tmp_path, datetime(2026, 9, 30, 16, 0, tzinfo=UTC)) is False  # no sweep
    err = kb(runner, "verify", "TX-GH-001", "--as", "reviewer1", "--until", "next week", code=1)
    assert "--until is not a date." in err
    actions = [e["action"] for e in json.loads(kb(runner, "audit", "TX-GH-001", "--json"))]
    assert actions == ["create", "revise", "publish", "verify", "verify"]


def test_flag_queue_and_dismiss(runner: CliRunner) -> None:
    kb(runner, "user", "add", "agent1", "--role", "agent")
    kb(runner, "user", "add", "reviewer1", "--role", "reviewer")
    out = kb(
        runner,
        "flag",
        "TX-GH-001",
        "--reason",
        "outdated",
        "--as",
        "agent1",
        "--comment",
        "资费已调整",
    )
    assert out == "Flag 1 on TX-GH-001 (outdated) is in the reviewers' queue.\n"
    flagged = json.loads(kb(runner, "review", "flagged", "--json"))
    assert [(i["code"], [(f["id"], f["reason"]) for f in i["flags"]]) for i in flagged] == [
        ("TX-GH-001", [(1, "outdated")])
    ]
    err = kb(runner, "flag", "TX-GH-001", "--reason", "meh", "--as", "agent1", code=1)
    assert "reason must be one of wrong, outdated, unclear, duplicate" in err
    out = kb(runner, "dismiss", "1", "--as", "reviewer1", "--comment", "已核实")
    assert out == "Flag 1 on TX-GH-001 dismissed.\n"
    assert json.loads(kb(runner, "review", "flagged", "--json")) == []


def test_sweep_and_expired_queue(runner: CliRunner) -> None:
    assert json.loads(kb(runner, "review", "expired", "--json")) == []
    assert json.loads(kb(runner, "sweep", "--json")) == {
        "published": [],
        "expired": [],
        "revived": [],
        "held": [],
    }
    digest = json.loads(kb(runner, "review", "digest", "--owner", "李娜", "--json"))
    assert [(d["owner"], d["packages"]) for d in digest] == [("李娜", ["通信业务/改号业务"])]


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        (
            "title: 副卡\nquestions: 改号后积分还在吗\n",
            "questions",
        ),  # was 8 questions, a character each
        ("title: 副卡\nfields: text\n", "fields"),
        ("title: 副卡\ntags: 5\n", "tags"),
        ("title: [副卡]\n", "title"),
    ],
)
def test_a_draft_file_value_of_the_wrong_kind_is_named(
    runner: CliRunner, tmp_path: Path, yaml_text: str, key: str
) -> None:
    kb(runner, "user", "add", "editor1", "--role", "editor")
    source = tmp_path / "draft.yaml"
    source.write_text("package: 通信业务/改号业务\n" + yaml_text, encoding="utf-8")
    err = kb(runner, "draft", "TX-NEW-1", "--as", "editor1", "--from-file", str(source), code=1)
    assert f"{source}: {key} must be" in err


def test_new_table_from_file_and_archive_and_rollback(runner: CliRunner, tmp_path: Path) -> None:
    kb(runner, "user", "add", "editor1", "--role", "editor")
    kb(runner, "user", "add", "reviewer1", "--role", "reviewer")
    source = tmp_path / "draft.yaml"
    source.write_text(
        "package: 通信业务/改号业务\ntitle: 副卡如何办理\nquestions: [怎么办副卡]\n"
        "fields:\n  answer: 携带身份证到营业厅办理。\n  steps: [到营业厅, 出示身份证]\n",
        encoding="utf-8",
    )
    out = kb(runner, "draft", "TX-NEW-1", "--as", "editor1", "--from-file", str(source))
    assert out.startswith("Created draft revision 1 of TX-NEW-1.")
    err = kb(runner, "draft", "TX-NEW-2", "--as", "editor1", "--title", "x", code=1)
    assert "give --package category/package to create it" in err
    kb(runner, "submit", "TX-NEW-1", "--as", "editor1")
    kb(runner, "approve", "TX-NEW-1", "--as", "reviewer1")
    kb(runner, "draft", "TX-NEW-1", "--as", "editor1", "--field", "steps=")
    kb(runner, "submit", "TX-NEW-1", "--as", "editor1")
    kb(runner, "approve", "TX-NEW-1", "--as", "reviewer1")
    out = kb(runner, "rollback", "TX-NEW-1", "--to", "1", "--as", "editor1")
    assert out == (
        "Draft revision 3 of TX-NEW-1 copies revision 1. "
        "Submit it with `kb submit TX-NEW-1 --as editor1`.\n"
    )
    err = kb(runner, "approve", "TX-NEW-1", "--as", "reviewer1", code=1)
    assert "its latest revision 3 is draft (live: revision 2); allowed now: edit, submit." in err
    out = kb(runner, "archive", "TX-NEW-1", "--as", "reviewer1", "--comment", "业务下线")
    assert out == "TX-NEW-1 archived (revision 2 is no longer live).\n"
    assert table_state(tmp_path, "TX-NEW-1")[:2] == (
        [(1, "archived"), (2, "archived"), (3, "draft")],
        None,
    )


def test_index_is_told_after_commit_and_its_failure_is_a_warning(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    from cli import work

    calls: list[set[int]] = []

    def failing(config: object, db: object, changed: set[int]) -> None:
        calls.append(set(changed))
        raise RuntimeError("index offline")

    fake = types.SimpleNamespace(sync_after_commit=failing)
    monkeypatch.setattr(work.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(work.importlib, "import_module", lambda name: fake)
    kb(runner, "user", "add", "reviewer1", "--role", "reviewer")
    assert calls == []  # nothing live changed
    with frozen(TODAY):
        result = runner.invoke(app, ["verify", "TX-GH-001", "--as", "reviewer1"])
    assert result.exit_code == 0
    assert calls == [{1}]
    assert (
        "警告 warning: saved, but the search index was not updated (index offline)" in result.output
    )
    assert json.loads(kb(runner, "audit", "TX-GH-001", "--json"))[-1]["action"] == "verify"


def test_scheduled_approval_goes_live_with_the_sweep(runner: CliRunner, tmp_path: Path) -> None:
    kb(runner, "user", "add", "editor1", "--role", "editor")
    kb(runner, "user", "add", "reviewer1", "--role", "reviewer")
    kb(runner, "draft", "TX-GH-001", "--as", "editor1", "--field", "answer=七月起新口径。")
    kb(runner, "submit", "TX-GH-001", "--as", "editor1")
    out = kb(runner, "approve", "TX-GH-001", "--as", "reviewer1", "--at", "2026-07-01")
    # 2026-07-01 00:00 in Asia/Shanghai.
    assert out == "Revision 2 of TX-GH-001 approved; it goes live at 2026-06-30T16:00+00:00.\n"
    before = datetime(2026, 6, 30, 15, 59, tzinfo=UTC)
    assert json.loads(kb(runner, "sweep", "--json", now=before))["published"] == []
    assert table_state(tmp_path)[1] == "改号完成后原号码停止计费。"
    after = datetime(2026, 6, 30, 16, 0, tzinfo=UTC)
    assert json.loads(kb(runner, "sweep", "--json", now=after))["published"] == ["TX-GH-001"]
    assert table_state(tmp_path)[1] == "七月起新口径。"
    trail = json.loads(kb(runner, "audit", "TX-GH-001", "--json"))
    assert [(e["actor"], e["action"], e["at"]) for e in trail[-2:]] == [
        ("reviewer1", "approve", TODAY.isoformat()),
        ("system", "publish", after.isoformat()),
    ]


def test_approving_a_table_past_its_valid_until_warns(runner: CliRunner) -> None:
    kb(runner, "user", "add", "editor1", "--role", "editor")
    kb(runner, "user", "add", "reviewer1", "--role", "reviewer")
    kb(runner, "verify", "TX-GH-001", "--as", "reviewer1", "--until", "2026-06-10")
    later = datetime(2026, 6, 20, tzinfo=UTC)
    kb(runner, "draft", "TX-GH-001", "--as", "editor1", "--field", "answer=新口径。", now=later)
    kb(runner, "submit", "TX-GH-001", "--as", "editor1", now=later)
    with frozen(later):
        result = runner.invoke(app, ["approve", "TX-GH-001", "--as", "reviewer1"])
    assert result.exit_code == 0
    assert result.stdout == "Revision 2 of TX-GH-001 is live.\n"
    assert result.stderr == (
        "警告 warning: TX-GH-001 is stale (expired 2026-06-10T16:00+00:00), so it is hidden "
        "from search; extend it with `kb verify TX-GH-001 --until DATE`.\n"
    )


def test_self_approval_follows_the_setting(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb(runner, "user", "add", "reviewer1", "--role", "reviewer")
    kb(runner, "draft", "TX-GH-001", "--as", "reviewer1", "--field", "answer=自己写的。")
    kb(runner, "submit", "TX-GH-001", "--as", "reviewer1")
    assert json.loads(kb(runner, "review", "queue", "--as", "reviewer1", "--json")) == []
    err = kb(runner, "approve", "TX-GH-001", "--as", "reviewer1", code=1)
    assert "they wrote it, and self-approval is off (ZHIKU_ALLOW_SELF_APPROVAL)" in err
    monkeypatch.setenv("ZHIKU_ALLOW_SELF_APPROVAL", "true")
    queue = json.loads(kb(runner, "review", "queue", "--as", "reviewer1", "--json"))
    assert [(i["code"], i["author"]) for i in queue] == [("TX-GH-001", "reviewer1")]
    assert kb(runner, "approve", "TX-GH-001", "--as", "reviewer1") == (
        "Revision 2 of TX-GH-001 is live.\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("dismiss", "99999999999999999999", "--as", "x", "--comment", "c"),
        ("rollback", "TX-GH-001", "--to", "99999999999999999999", "--as", "x"),
        ("diff", "TX-GH-001", "1", "99999999999999999999"),
        ("user", "revoke", "99999999999999999999"),
        ("gaps", "--days", "999999999"),
        ("dashboard", "--days", "999999999"),
        ("golden", "endorsed", "--days", "999999999"),
        ("review", "due", "--days", "999999999"),
        ("review", "digest", "--days", "999999999"),
    ],
)
def test_numbers_past_what_the_database_or_calendar_holds_are_refused_by_name(
    runner: CliRunner, args: tuple[str, ...]
) -> None:
    """They ended in OverflowError tracebacks (an id past SQLite's INTEGER, a date past 9999)."""
    error = " ".join(re.sub(r"[│╭╮╰╯─]", " ", kb(runner, *args, code=2)).split())
    bound = "365" if "--days" in args else "2147483647"
    assert f"less than or equal to {bound}" in error, error


def test_a_decision_names_the_submission_it_read(runner: CliRunner, tmp_path: Path) -> None:
    kb(runner, "user", "add", "editor1", "--role", "editor")
    kb(runner, "user", "add", "reviewer1", "--role", "reviewer")
    kb(runner, "draft", "TX-GH-001", "--as", "editor1", "--field", "answer=次月起停止计费。")
    kb(runner, "submit", "TX-GH-001", "--as", "editor1")
    queue = json.loads(kb(runner, "review", "queue", "--as", "reviewer1", "--json"))
    read = queue[0]["submitted_at"]
    assert read == TODAY.isoformat()
    later = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
    kb(runner, "withdraw", "TX-GH-001", "--as", "editor1", now=later)
    kb(runner, "draft", "TX-GH-001", "--as", "editor1", "--field", "answer=立即停止。", now=later)
    kb(runner, "submit", "TX-GH-001", "--as", "editor1", now=later)

    for verb, extra in (("approve", ()), ("reject", ("--comment", "不对"))):
        err = kb(
            runner,
            verb,
            "TX-GH-001",
            "--as",
            "reviewer1",
            *extra,
            "--submitted-at",
            read,
            code=1,
            now=later,
        )
        assert "submitted again at 2026-06-01T03:00:00+00:00, after the submission you" in err
    err = kb(
        runner,
        "approve",
        "TX-GH-001",
        "--as",
        "reviewer1",
        "--submitted-at",
        "2026-06-01",
        code=1,
        now=later,
    )
    assert "--submitted-at: give the revision's submitted_at" in err
    assert table_state(tmp_path)[:2] == (
        [(1, "published"), (2, "in_review")],
        "改号完成后原号码停止计费。",
    )

    out = kb(
        runner,
        "approve",
        "TX-GH-001",
        "--as",
        "reviewer1",
        "--submitted-at",
        later.isoformat(),
        now=later,
    )
    assert out == "Revision 2 of TX-GH-001 is live.\n"
