"""Every request body bounded as it is received, before anything parses or authenticates it.

A body that declares a length over its route's limit is refused at once (413), unread; one sent
without a length (chunked) is counted as it arrives and refused the moment it passes the limit.
The limits are :data:`api.limits.MAX_BODY_BYTES`, and larger ones for the routes that take files
(``by_path``). Without this, a 40 MiB anonymous vote was read, parsed and walked whole, and a
40 MiB import was received in full before its missing token was even looked at.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PayloadTooLarge, refusal
from kb.errors import Problem


class BodyLimit:
    """ASGI middleware: at most ``default`` bytes of body per request, ``by_path`` per path."""

    def __init__(self, app: ASGIApp, *, default: int, by_path: Mapping[str, int]) -> None:
        self.app = app
        self.default = default
        self.by_path = dict(by_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.by_path.get(scope["path"], self.default)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            response = refusal(Request(scope), too_large(limit))
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        await self.app(scope, counted, send)


def too_large(limit: int) -> PayloadTooLarge:
    size = f"{limit / (1024 * 1024):g} MiB"
    return PayloadTooLarge(
        f"The request body is over {size}, the most this address takes.",
        problems=[Problem(f"over {size}", None, None, "body")],
    )
