"""The listening sockets of ``kb serve --workers N``: one per worker, connections with TCP_NODELAY."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from uvicorn import Config

from cli.listener import Supervisor, tcp_listener


async def _accepted_nodelay(listener: socket.socket) -> int:
    """TCP_NODELAY of a connection the asyncio server on ``listener`` accepted (as uvicorn's
    worker serves it)."""
    loop = asyncio.get_running_loop()
    seen: asyncio.Future[int] = loop.create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await loop.create_server(Probe, sock=listener)
    try:
        host, port = listener.getsockname()[:2]
        _, writer = await asyncio.open_connection(host, port)
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
    finally:
        server.close()
        await server.wait_closed()


def test_workers_connections_send_at_once() -> None:
    """uvicorn's own socket (protocol 0) left Nagle's algorithm on: ~40 ms on every kept-alive
    request to a server of several workers."""
    listener = tcp_listener(Config("api.app:create_app", host="127.0.0.1", port=0))
    assert listener.proto == socket.IPPROTO_TCP and listener.get_inheritable()
    assert asyncio.run(_accepted_nodelay(listener)) != 0


def test_a_unix_socket_is_left_as_uvicorn_binds_it(tmp_path: Path) -> None:
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no Unix sockets here")
    path = tmp_path / "zhiku.sock"
    listener = tcp_listener(Config("api.app:create_app", uds=str(path)))
    try:
        assert listener.family == socket.AF_UNIX and path.exists()
    finally:
        listener.close()


def test_each_worker_gets_a_socket_of_its_own_on_the_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One shared socket let one worker accept every connection that arrived together."""
    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT here: the workers share one socket")
    monkeypatch.setattr(signal, "signal", lambda *_args: None)  # the supervisor's handlers
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    supervisor = Supervisor(Config("api.app:create_app", host="127.0.0.1", port=port, workers=2))
    # uvicorn reads the sockets once for each worker it starts
    (first,), (second,) = supervisor.sockets, supervisor.sockets
    assert first is not second
    for sock in (first, second):
        assert sock.getsockname() == ("127.0.0.1", port) and sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
    first.listen()
    assert asyncio.run(_accepted_nodelay(first)) != 0
    supervisor._close_handed()  # the workers hold them now; the supervisor keeps none
    assert first.fileno() == -1 and second.fileno() == -1


class _Worker:
    """uvicorn's worker process, not started: what the supervisor did to it."""

    made: list[_Worker] = []

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        self.sockets, self.events = sockets, ["made"]
        self.exitcode: int | None = None
        self.pid = 1000 + len(_Worker.made)
        _Worker.made.append(self)

    def start(self) -> None:
        self.events.append("started")

    def terminate(self) -> None:
        self.events.append("terminated")

    def join(self) -> None:
        self.events.append("joined")

    def kill(self) -> None:
        self.events.append("killed")

    def is_alive(self, timeout: float = 5) -> bool:
        return False  # every check finds it dead


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> list[_Worker]:
    import uvicorn.supervisors.multiprocess as supervised

    monkeypatch.setattr(supervised, "Process", _Worker)
    monkeypatch.setattr(signal, "signal", lambda *_args: None)
    _Worker.made = []
    return _Worker.made


def _port_taken_after(
    n: int, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, int], socket.socket]:
    from cli import listener

    bind, calls = listener.port_listener, []

    def flaky(host: str, port: int) -> socket.socket:
        calls.append(port)
        if len(calls) > n:
            raise OSError(98, "Address already in use")
        return bind(host, port)

    monkeypatch.setattr(listener, "port_listener", flaky)
    return flaky


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_port_taken_while_workers_start_stops_those_started(
    workers: list[_Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT here: the workers share one socket")
    _port_taken_after(1, monkeypatch)
    config = Config("api.app:create_app", host="127.0.0.1", port=_free_port(), workers=2)
    supervisor = Supervisor(config)
    with pytest.raises(OSError, match="already in use"):
        supervisor.init_processes()
    assert [w.events for w in workers] == [["made", "started", "terminated", "joined"]]
    assert workers[0].sockets[0].fileno() == -1  # the supervisor kept no copy


def test_a_worker_that_cannot_be_replaced_stops_the_server(
    workers: list[_Worker], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        pytest.skip("no SO_REUSEPORT here: the workers share one socket")
    _port_taken_after(1, monkeypatch)
    config = Config("api.app:create_app", host="127.0.0.1", port=_free_port(), workers=1)
    supervisor = Supervisor(config)
    supervisor.init_processes()
    supervisor.keep_subprocess_alive()  # the worker died; its replacement finds no port
    assert supervisor.should_exit.is_set()
    assert workers[0].events == ["made", "started", "killed", "joined"]
