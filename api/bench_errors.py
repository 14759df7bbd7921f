"""What the HTTP benchmarks (``api.loadbench``, ``api.replicabench``) say when a server cannot
be used: one line naming the URL, what it answered and what to check, not a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

_HINTS = {
    401: "the token is not valid (issue one with `kb user token NAME`)",
    403: "the token's user lacks the role this needs",
    404: "nothing there: check the URL (and the table code)",
    429: "rate-limited: start the server with ZHIKU_RATE_LIMITS=false for a load test",
}


class BenchRefused(Exception):
    """A server that cannot be measured, and why."""


@contextmanager
def explained() -> Iterator[None]:
    """Turn a connection failure or an error answer into :class:`BenchRefused`."""
    try:
        yield
    except httpx.HTTPStatusError as err:
        response = err.response
        hint = _HINTS.get(response.status_code, "see the server's log")
        raise BenchRefused(
            f"{err.request.method} {err.request.url.copy_with(query=None)} answered "
            f"{response.status_code}: {hint}"
        ) from err
    except httpx.TransportError as err:
        why = str(err) or type(err).__name__
        raise BenchRefused(
            f"cannot reach {_where(err)} ({why}); is `kb serve` running there?"
        ) from err


def _where(err: httpx.TransportError) -> str:
    try:
        return str(err.request.url)
    except RuntimeError:  # an error raised before any request was made carries none
        return "the server"


def run(body: Callable[[], int]) -> int:
    """``body()``'s exit status, or 2 with one line on stderr when the server cannot be used."""
    try:
        with explained():
            return body()
    except BenchRefused as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
