"""``kb search``, ``kb hit-test`` and ``kb review due`` as people read them, on the demo KB."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from kb.clock import frozen
from kb.db import open_database
from kb.settings import Settings
from kb.transfer.importer import import_path

DEMO = Path(__file__).resolve().parents[2] / "content" / "demo"
TODAY = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("demo-kb")
    env = {
        "ZHIKU_DATA_DIR": str(data),
        "ZHIKU_DATABASE_URL": "",
        "ZHIKU_ENCODER": "fake",
        "ZHIKU_TIMEZONE": "Asia/Shanghai",
        "COLUMNS": "100",
    }
    settings = Settings(data_dir=data, database_url="", encoder="fake")
    db = open_database(settings.resolved_database_url, create=True)
    with db.transaction() as session:
        import_path(session, DEMO, actor="demo", zone=settings.zone)
    db.dispose()
    built = CliRunner().invoke(app, ["index", "build"], env=env)
    assert built.exit_code == 0, built.output
    return env


def kb(env: dict[str, str], *args: str, **extra: str) -> str:
    with frozen(TODAY):
        result = CliRunner().invoke(app, list(args), env={**env, **extra})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_hit_test_at_100_columns_keeps_codes_and_titles_whole(demo_env: dict[str, str]) -> None:
    out = kb(demo_env, "hit-test", "手机银行转账限额怎么调整", "--k", "5")
    assert max(len(line) for line in out.splitlines()) <= 100
    rows = [line for line in out.splitlines() if re.match(r"^│ +\d+ │", line)]
    assert len(rows) == 5
    codes = [row.split("│")[2].strip() for row in rows]
    assert codes[0] == "YH-SJ-003" and all(re.fullmatch(r"[A-Z]+-[A-Z]+-\d{3}", c) for c in codes)
    titles = [row.split("│")[3].strip() for row in rows]
    assert titles[0] == "手机银行转账限额是多少，怎么调整"
    assert not any("…" in row for row in rows)


def test_search_explain_parts_add_up_to_the_score(demo_env: dict[str, str]) -> None:
    out = kb(demo_env, "search", "信用卡逾期了怎么办", "--explain", COLUMNS="300")
    lines = re.findall(r"(blend: )?score (-?\d+\.\d{4}) = (.+)", out)
    scores = [line for line in lines if not line[0]]
    blends = [line for line in lines if line[0]]
    assert len(scores) == 5
    # Where the demo KB's reranker ranks, or latent terms join, the score's parts stand alone
    # and the blend's parts add up below.
    assert len(blends) == sum(
        "LightGBM reranker" in parts or "latent terms" in parts for _, _, parts in scores
    )
    for _, score, parts in lines:
        terms = [float(x) for x in re.findall(r"(?:^| )([+-]\d+\.\d{4}) \(", parts)]
        assert sum(terms) == pytest.approx(float(score), abs=2e-3)
    for _, _, parts in blends or scores:
        assert "× hub" in parts and "× dense" in parts and "× coverage" in parts


def test_search_lists_by_confidence_and_prints_a_channel(demo_env: dict[str, str]) -> None:
    listed = kb(demo_env, "search", "你们支持火星快递吗", COLUMNS="200")
    shown = [float(x) for x in re.findall(r"置信度 (\d\.\d\d)", listed)]
    assert len(shown) == 5 and shown == sorted(shown, reverse=True)
    # Confidence grows with the ranking score: the order shown is the retrieval's.
    assert "无把握 unsure" in listed and "in retrieval)" not in listed
    sms = kb(
        demo_env, "search", "手机银行转账限额怎么调整", "--format", "sms", "--k", "1", COLUMNS="300"
    )
    segments = re.findall(r"\[(\d)/(\d) · (\d+)\] ", sms)
    assert segments and all(int(n) <= 70 for _, _, n in segments)
    assert "**" not in sms
    traditional = kb(
        demo_env, "search", "手機銀行轉賬限額怎麼調整", "--format", "wechat", "--k", "1"
    )
    assert "手機銀行的轉賬限額" in traditional


def test_review_due_shows_times_in_the_configured_zone(demo_env: dict[str, str]) -> None:
    out = kb(demo_env, "review", "due", "--days", "20")
    assert "expires (Asia/Shanghai)" in out
    row = next(line for line in out.splitlines() if "YH-SJ-005" in line)
    assert "2026-12-04 00:00" in row  # valid until 2026-12-03 in Shanghai: 16:00 UTC
    assert max(len(line) for line in out.splitlines()) <= 100
    utc = kb(demo_env, "review", "due", "--days", "20", ZHIKU_TIMEZONE="UTC")
    assert "expires (UTC)" in utc
    assert "2026-12-03 16:00" in next(line for line in utc.splitlines() if "YH-SJ-005" in line)
