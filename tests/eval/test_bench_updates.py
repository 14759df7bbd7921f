"""The update benchmark serves a copy of a built KB, updates it while searching, and reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval import bench_updates
from indexer.service import SearchService
from kb.db import open_database
from kb.settings import Settings
from tests.api.conftest import seed

# A searching thread and timed pauses (see the marker in pyproject.toml).
pytestmark = pytest.mark.realtime


def test_updates_are_measured_on_a_copy_and_the_kb_is_left_as_it_was(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "kb", database_url="", encoder="fake")
    db = open_database(settings.resolved_database_url, create=True)
    seed(db)
    SearchService.build(settings, db)
    db.dispose()
    params = settings.index_dir / "params.json"
    before = params.read_bytes()

    result = bench_updates.run(
        settings.data_dir, updates=2, every_s=0.05, pause_s=0.005, settings=settings
    )

    assert result["updates"] == 2 and result["update_ms"]["n"] == 2
    assert result["search_ms_during"]["n"] >= 1
    assert result["update_ms"]["p50"] <= result["update_ms"]["max"]
    assert result["index_save_delay_s"] == settings.index_save_delay
    assert params.read_bytes() == before  # measured on a copy
