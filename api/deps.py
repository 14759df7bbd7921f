"""Request dependencies: the unit of work, the caller's identity and their role.

The session dependency is the edge of every transaction (services flush, never commit): it
commits when the route returns and rolls back when it raises, *before* the response is sent
(``scope="function"``), so a client that gets a 2xx can rely on the change being stored.
After the commit it hands the ids of the tables the request changed to the search index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api import ratelimit
from api.runtime import Runtime
from kb import changes, users
from kb.clock import utcnow
from kb.errors import Unauthenticated
from kb.models import User
from kb.permissions import Action, check


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


_AFTER_COMMIT = "zhiku_after_commit"


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once the request's transaction has committed (e.g. reload the dictionary)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """One session per request: commit on success, roll back on error, then sync the index."""
    session = runtime.db.session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        changed = changes.pop(session)
        stamp = changes.pop_stamp(session)
        actions: list[Callable[[], None]] = session.info.pop(_AFTER_COMMIT, [])
        session.close()
    runtime.sync(changed, stamp)
    for action in actions:
        runtime.guarded(action)


DbSession = Annotated[Session, Depends(get_session, scope="function")]

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token: `kb user token NAME` prints one (`zk_...`).",
)


def current_user(
    request: Request,
    runtime: RuntimeDep,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The user holding the bearer token; 401 when it is missing, unknown or revoked.

    Each wrong token spends the client's ``failed_auth`` budget; once it is spent, the client gets
    429 for every token until the window frees (:mod:`api.ratelimit`).
    """
    client = ratelimit.client_of(request)
    runtime.limiter.check(ratelimit.FAILED_AUTH, client)
    token = credentials.credentials if credentials else ""
    try:
        return users.authenticate(session, token)
    except Unauthenticated:
        if token:  # a wrong token, not a page asking before anyone logged in
            runtime.limiter.spend(ratelimit.FAILED_AUTH, client)
        raise


def spends(kind: str) -> Callable[[Request, Runtime], None]:
    """A dependency that spends one request of ``kind`` from the client's budget (429 when none)."""

    def dependency(request: Request, runtime: RuntimeDep) -> None:
        runtime.limiter.spend(kind, ratelimit.client_of(request))

    dependency.__name__ = f"spends_{kind}"
    return dependency


CurrentUser = Annotated[User, Depends(current_user)]


def require(action: Action) -> Callable[[User], User]:
    """A dependency that lets the request through only if the user may do ``action`` at all.

    Scoped actions are checked again, per package, by the service that does the work.
    """

    def dependency(user: CurrentUser) -> User:
        check(user, action)
        return user

    dependency.__name__ = f"require_{action.value}"
    return dependency


def now() -> datetime:
    return utcnow()


Now = Annotated[datetime, Depends(now)]
