"""The listening socket of ``kb serve --workers N``: its connections get TCP_NODELAY."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from uvicorn import Config

from cli.listener import tcp_listener


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
