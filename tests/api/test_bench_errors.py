"""The HTTP benchmarks say in one line why a server cannot be measured (no traceback)."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from api import loadbench, replicabench
from api.bench_errors import BenchRefused, explained


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_server_not_running_is_named_with_what_to_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    assert loadbench.main(["--url", url, "--token", "zk_x", "--seconds", "1"]) == 2
    assert replicabench.main(["--url", url, "--url", url, "--token", "t", "--code", "C"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "Traceback" not in "".join(err)
    assert err[0].startswith(f"error: cannot reach {url}/api/faq/tree (")
    assert err[0].endswith("is `kb serve` running there?")
    assert err[1].startswith(f"error: cannot reach {url}/api/admin/tables/C (")


@pytest.mark.parametrize(
    ("status", "hint"),
    [(401, "the token is not valid"), (429, "ZHIKU_RATE_LIMITS=false"), (500, "server's log")],
)
def test_an_error_answer_names_the_request_the_status_and_a_hint(status: int, hint: str) -> None:
    request = httpx.Request("GET", "http://h/api/search?q=x")
    with pytest.raises(BenchRefused) as caught, explained():
        httpx.Response(status, request=request).raise_for_status()
    assert str(caught.value).startswith(f"GET http://h/api/search answered {status}: ")
    assert hint in str(caught.value)


@pytest.mark.parametrize(
    ("text", "said"), [("", "no query in it"), (b"\xff\xfe\x00", "cannot be read as UTF-8")]
)
def test_a_queries_file_that_cannot_be_used_is_refused_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | bytes, said: str
) -> None:
    path = tmp_path / "q.txt"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(SystemExit) as caught:
        loadbench.main(["--token", "t", "--queries", str(path)])
    assert caught.value.code == 2 and said in capsys.readouterr().err
