"""One JSON shape: `GET /api/search` and `kb search --json` give the same body for one search."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app
from tests.api.conftest import Env

# What differs between two runs of one search: the time taken, and the API's query log entry.
PER_RUN = ("took_ms", "timings", "query_log_id")


def _same_parts(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in PER_RUN}


@pytest.mark.parametrize(
    ("query", "params", "options"),
    [
        ("改号后原号码还扣费吗", {}, []),
        (
            "改號後原號碼",
            {"format": "sms", "renderings": "true"},
            ["--format", "sms", "--renderings"],
        ),
        (
            "改号优惠",
            {"include_expired": "true", "k": "3", "mode": "bm25"},
            ["--include-expired", "--k", "3", "--mode", "bm25"],
        ),
    ],
)
def test_the_api_and_the_cli_give_the_same_json(
    client: TestClient,
    env: Env,
    monkeypatch: pytest.MonkeyPatch,
    query: str,
    params: dict[str, str],
    options: list[str],
) -> None:
    # The CLI reads the index from disk: save the confidence the client fixture pinned.
    client.app.state.runtime.service.save()  # type: ignore[attr-defined]
    response = client.get("/api/search", params={"q": query, **params}, headers=env.auth("agent1"))
    assert response.status_code == 200, response.text
    api = response.json()
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(env.settings.data_dir))
    monkeypatch.setenv("ZHIKU_ENCODER", "fake")
    monkeypatch.delenv("ZHIKU_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["search", query, "--json", *options])
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    assert api["suggestions"], api
    assert set(api) == set(cli)
    assert _same_parts(cli) == _same_parts(api)
    assert api["query_log_id"] is not None and cli["query_log_id"] is None
    top = api["suggestions"][0]
    if "--renderings" in options:  # a question in Traditional: renderings in both scripts
        assert top["traditional"]["sms"]["text"] != top["renderings"]["sms"]["text"]
    if "--include-expired" in options:
        assert any(s["freshness"]["expired"] for s in api["suggestions"])
