"""The listening sockets that ``kb serve --workers N`` hands to uvicorn's worker processes.

Two things uvicorn's supervisor does not do are done here:

- **TCP_NODELAY.** uvicorn binds the socket itself (``Config.bind_socket``) with protocol number
  0, its accepted connections inherit that, and asyncio turns Nagle's algorithm off only on a
  socket that says ``IPPROTO_TCP`` (uvicorn issue #3149, open in 0.54; the single-process server
  is not affected, asyncio binds it from ``getaddrinfo``). With Nagle on, a response written in
  two parts (headers, then body) waited for the client's delayed ACK before its second part: on
  a kept-alive connection every request after the first took ~40 ms more (two workers, one
  client: 14 req/s, p50 64-80 ms, against 39 req/s, p50 26 ms, with one worker).
- **A socket per worker** (``SO_REUSEPORT``, Linux). On one shared socket every worker's event
  loop is woken by a new connection, and the first to run accepts all that are pending: 8
  connections opened together went to one worker in one run of three, the other idle (91
  against 113-116 req/s). With a socket each, the kernel spreads new connections over the
  workers by a hash of their addresses.
"""

from __future__ import annotations

import logging
import socket

from uvicorn import Config
from uvicorn.supervisors import Multiprocess

log = logging.getLogger("uvicorn.error")  # where the supervisor's own messages go


def tcp_listener(config: Config) -> socket.socket:
    """``config``'s socket, bound as uvicorn binds it, and marked TCP where it is a TCP socket
    (a Unix socket or an inherited descriptor is left as uvicorn made it)."""
    sock = config.bind_socket()
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
        return sock
    tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    tcp.set_inheritable(True)  # the worker processes receive it
    return tcp


def port_listener(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT``, not yet listening (its
    worker listens): one of a group the kernel spreads connections over."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class Supervisor(Multiprocess):
    """uvicorn's supervisor of worker processes (restarts, signals, health checks as it does
    them), each worker started on a socket of its own (:func:`port_listener`) where the
    platform has ``SO_REUSEPORT``, else all on one (:func:`tcp_listener`).

    uvicorn reads ``self.sockets`` once for each worker it starts (at start, on a restart, when
    one died): here each read binds a new socket. The supervisor's own copy is closed once the
    worker holds it (after each round that starts workers), so that a worker that dies takes
    its socket with it: a socket left open and listening would receive its share of
    connections and never accept them.
    """

    def __init__(self, config: Config) -> None:
        self._handed: list[socket.socket] = []
        self._shared = None if hasattr(socket, "SO_REUSEPORT") else tcp_listener(config)
        super().__init__(config, sockets=[])

    @property
    def sockets(self) -> list[socket.socket]:
        if self._shared is not None:
            return [self._shared]
        sock = port_listener(self.config.host, self.config.port)
        self._handed.append(sock)
        return [sock]

    @sockets.setter
    def sockets(self, _value: list[socket.socket]) -> None:
        pass  # uvicorn's __init__ sets it; the property makes them

    def _close_handed(self) -> None:
        while self._handed:
            self._handed.pop().close()

    def init_processes(self) -> None:
        """Start the workers; where one's socket cannot be bound (the port was taken since
        it was checked), stop those already started and raise the error."""
        try:
            super().init_processes()
        except OSError:
            self.terminate_all()
            self.join_all()
            raise
        finally:
            self._close_handed()

    def restart_all(self) -> None:
        """Replace each worker (SIGHUP); where a new socket cannot be bound, the workers
        serving go on and the restart stops there."""
        try:
            super().restart_all()
        except OSError as err:
            log.error("restart stopped: cannot listen on %s:%s (%s)", *self._where, err)
        finally:
            self._close_handed()

    def keep_subprocess_alive(self) -> None:
        """Replace a worker that died; where its socket cannot be bound, the server stops
        (as uvicorn's does when a worker cannot start), and says why."""
        try:
            super().keep_subprocess_alive()
        except OSError as err:
            log.error("cannot listen on %s:%s for a new worker (%s); stopping", *self._where, err)
            self.should_exit.set()
        finally:
            self._close_handed()

    @property
    def _where(self) -> tuple[str, int]:
        return self.config.host, self.config.port
