"""Per-client request budgets: anonymous writes, customer searches, failed token checks.

Budgets are moving windows (the ``limits`` library, in this process's memory) keyed by the
kind of request and the client's address, an IPv6 client's by its /64 (a subscriber's block:
one address each would be a fresh budget per request). Behind a reverse proxy on the same
machine the address is the one it forwards (uvicorn trusts ``X-Forwarded-For`` from 127.0.0.1). With
several API replicas each keeps its own budgets: a client gets at most N times the budget,
still bounded. A spent budget is a 429 with ``Retry-After``.

Kinds and where they are spent:

- ``anonymous_write``: FAQ votes and contact requests (:mod:`api.routes_faq`);
- ``anonymous_search``: FAQ searches and look-ups of a contact request by its token, API and
  page;
- ``failed_auth``: each unknown, revoked or missing token (:func:`api.deps.current_user`);
  once spent, every token from that client is refused until the window frees, so guessing
  slows to the budget's pace.

:meth:`RateLimiter.first_time` answers "first time in this window?", with which a customer's
repeated query is logged once per client per window (the dashboard's top queries cannot be
stuffed by one client).
"""

from __future__ import annotations

import ipaddress
import math
import time

from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerSecond, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api.errors import TooManyRequests
from kb.settings import Settings

ANONYMOUS_WRITE = "anonymous_write"
ANONYMOUS_SEARCH = "anonymous_search"
FAILED_AUTH = "failed_auth"

WHAT = {
    ANONYMOUS_WRITE: "votes and requests",
    ANONYMOUS_SEARCH: "searches and look-ups",
    FAILED_AUTH: "failed token checks",
}


def client_of(request: Request) -> str:
    """The caller's address (the one a local reverse proxy forwards, see the module doc); an
    IPv6 caller is its /64, the block one subscriber is given (any address in it is theirs)."""
    return client_key(request.client.host) if request.client else "unknown"


def client_key(host: str) -> str:
    """An IPv4 address as is; IPv6 as its /64 network (an IPv4-mapped one as the IPv4)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host  # a test client's name, or a proxy's label
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class RateLimiter:
    """Budgets per kind of request and client; ``enabled=False`` lets everything through."""

    def __init__(self, budgets: dict[str, str], *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._budgets: dict[str, list[RateLimitItem]] = {
            kind: parse_many(spec) for kind, spec in budgets.items()
        }
        self._windows = MovingWindowRateLimiter(MemoryStorage())

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(
            {
                ANONYMOUS_WRITE: settings.rate_anonymous_writes,
                ANONYMOUS_SEARCH: settings.rate_anonymous_search,
                FAILED_AUTH: settings.rate_failed_auth,
            },
            enabled=settings.rate_limits,
        )

    def _refusal(self, kind: str, client: str) -> TooManyRequests | None:
        for item in self._budgets[kind]:
            if not self._windows.test(item, kind, client):
                reset = self._windows.get_window_stats(item, kind, client).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                return TooManyRequests(
                    f"Too many {WHAT.get(kind, kind)} from your address ({item}); "
                    f"try again in {wait} s.",
                    retry_after=wait,
                )
        return None

    def check(self, kind: str, client: str) -> None:
        """429 when ``client`` has no budget of ``kind`` left; spends nothing."""
        if self.enabled and (refusal := self._refusal(kind, client)) is not None:
            raise refusal

    def spend(self, kind: str, client: str) -> None:
        """Spend one request of ``kind`` from ``client``'s budget; 429 when none is left."""
        if not self.enabled:
            return
        self.check(kind, client)
        for item in self._budgets[kind]:
            self._windows.hit(item, kind, client)

    def first_time(self, key: str, client: str, window_s: int) -> bool:
        """Whether ``client`` brings ``key`` for the first time in the last ``window_s`` seconds."""
        if not self.enabled or window_s <= 0:
            return True
        return self._windows.hit(RateLimitItemPerSecond(1, window_s), "once", client, key)
