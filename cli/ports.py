"""Is the port free? Checked before any work, so a busy port fails at once with a clear message.

Standard library only: ``make run`` runs this file with the system Python before it installs
anything (``python3 cli/ports.py HOST PORT``); ``kb serve`` calls :func:`port_problem` first.
"""

from __future__ import annotations

import errno
import socket
import sys


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (None when it can)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        return (
            f"cannot listen on {host}: {err.strerror}; use --host with an address of this machine"
        )
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # As uvicorn binds: a port left in TIME_WAIT by a server that just stopped is usable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                return (
                    f"port {port} on {host} is already in use (another `kb serve` or `make run`?); "
                    f"stop it, or choose another port: kb serve --port {port + 1} "
                    f"(or ZHIKU_PORT={port + 1} make run)"
                )
            if err.errno == errno.EACCES:
                return f"no permission to listen on port {port}; use a port above 1023 (--port)"
            if err.errno == errno.EADDRNOTAVAIL:
                return f"{host} is not an address of this machine; use --host 127.0.0.1 or 0.0.0.0"
            return f"cannot listen on {host}:{port}: {err.strerror}"
    return None


if __name__ == "__main__":
    problem = port_problem(sys.argv[1], int(sys.argv[2]))
    if problem:
        sys.stderr.write(f"错误 error: {problem}\n")
        sys.exit(1)
