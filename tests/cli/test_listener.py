"""The listening sockets of ``kb serve --workers N``: one per worker, connections with TCP_NODELAY."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import pytest
from uvicorn import Config

from cli import listener
from cli.listener import Supervisor, tcp_listener
from tests.api.browsing import free_port

per_worker = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT here: the workers share one socket"
)


async def _accepted_nodelay(listening: socket.socket) -> int:
    """TCP_NODELAY of a connection the asyncio server on ``listening`` accepted (as uvicorn's
    worker serves it)."""
    loop = asyncio.get_running_loop()
    seen: asyncio.Future[int] = loop.create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await loop.create_server(Probe, sock=listening)
    try:
        host, port = listening.getsockname()[:2]
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


@per_worker
def test_each_worker_gets_a_socket_of_its_own_on_the_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One shared socket let one worker accept every connection that arrived together."""
    monkeypatch.setattr(signal, "signal", lambda *_args: None)  # the supervisor's handlers
    supervisor = _supervisor(2)
    port = supervisor.config.port
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


def _supervisor(workers: int) -> Supervisor:
    config = Config("api.app:create_app", host="127.0.0.1", port=free_port(), workers=workers)
    return Supervisor(config)


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
def port_taken_after_one(monkeypatch: pytest.MonkeyPatch) -> list[_Worker]:
    """uvicorn's workers stood in for, and the port taken once the first worker's socket is
    bound: the workers made, as the supervisor handled them."""
    import uvicorn.supervisors.multiprocess as supervised

    monkeypatch.setattr(supervised, "Process", _Worker)
    monkeypatch.setattr(signal, "signal", lambda *_args: None)
    bind, bound = listener.port_listener, []

    def taken(host: str, port: int) -> socket.socket:
        if bound:
            raise OSError(98, "Address already in use")
        bound.append(bind(host, port))
        return bound[0]

    monkeypatch.setattr(listener, "port_listener", taken)
    _Worker.made = []
    return _Worker.made


@per_worker
def test_a_port_taken_while_workers_start_stops_those_started(
    port_taken_after_one: list[_Worker],
) -> None:
    supervisor = _supervisor(2)
    with pytest.raises(OSError, match="already in use"):
        supervisor.init_processes()
    workers = port_taken_after_one
    assert [w.events for w in workers] == [["made", "started", "terminated", "joined"]]
    assert workers[0].sockets[0].fileno() == -1  # the supervisor kept no copy


@per_worker
def test_a_worker_that_cannot_be_replaced_stops_the_server(
    port_taken_after_one: list[_Worker],
) -> None:
    supervisor = _supervisor(1)
    supervisor.init_processes()
    supervisor.keep_subprocess_alive()  # the worker died; its replacement finds no port
    assert supervisor.should_exit.is_set()
    assert [w.events for w in port_taken_after_one] == [["made", "started", "killed", "joined"]]
