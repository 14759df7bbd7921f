"""The listening socket that ``kb serve --workers N`` hands to uvicorn's worker processes.

uvicorn binds it itself (``Config.bind_socket``) with protocol number 0, its accepted
connections inherit that, and asyncio turns Nagle's algorithm off (``TCP_NODELAY``) only on a
socket that says ``IPPROTO_TCP`` (uvicorn issue #3149, open in 0.54). The single-process server
is not affected (asyncio binds it from ``getaddrinfo``, which says TCP). With Nagle on, a
response written in two parts (headers, then body) waits for the client's delayed ACK before
its second part: on a kept-alive connection every request after the first took ~40 ms more
(measured with two workers on the demo KB: one client 14 req/s, p50 64-80 ms, against 39 req/s,
p50 26 ms, with one worker).
"""

from __future__ import annotations

import socket

from uvicorn import Config


def tcp_listener(config: Config) -> socket.socket:
    """``config``'s socket, bound as uvicorn binds it, and marked TCP where it is a TCP socket
    (a Unix socket or an inherited descriptor is left as uvicorn made it)."""
    sock = config.bind_socket()
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
        return sock
    tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    tcp.set_inheritable(True)  # the worker processes receive it
    return tcp
