"""scripts/governance-demo.sh: the review scenario of the governance issue on the demo KB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_governance_demo_script_runs_the_whole_scenario(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(
        ZHIKU_DATA_DIR=str(tmp_path / "data"),
        ZHIKU_ENCODER="fake",
        KB=str(Path(sys.executable).with_name("kb")),
        NO_COLOR="1",
        COLUMNS="200",
    )
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "governance-demo.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    before, after = out.split("== After: kb search serves the approved answer")
    new_answer = "改号当月月租按新旧号码的实际使用天数折算，合并在新号码账单中收取"
    assert "TX-GH-001" in before and new_answer not in before.split("== The editor drafts")[0]
    assert "Revision 2 of TX-GH-001 rejected" in before
    assert "editor1 (editor) may not review" in done.stderr
    assert "Revision 3 of TX-GH-001 is live." in before
    first_result = after.split("== Re-verification")[0]
    assert "1. 改号后原号码是否还会产生话费  TX-GH-001" in first_result
    assert new_answer in first_result.replace("\n", "").replace(" ", "")
    assert "TX-GH-002 verified; it stays valid until 2027-05-22" in after
    expiry = after.split("== Expiry is decided at query time")[1]
    today, later, agent = expiry.split("$ kb search")[1:4]
    assert "TX-GH-002" in today
    assert "TX-GH-002" not in later and "hand the question to an agent" in later
    assert "TX-GH-002" in agent and "已过期 expired" in agent
