"""The FastAPI application factory: ``create_app(settings)``; nothing is opened at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from api import (
    docs,
    errors,
    limits,
    pages,
    routes_admin,
    routes_agent,
    routes_faq,
    routes_gaps,
    routes_ops,
    routes_requests,
    routes_review,
    routes_usage,
)
from api.body_limit import BodyLimit
from api.headers import SecurityHeaders
from api.inputs import clean_text
from api.ratelimit import RateLimiter
from api.replica import Follower
from api.runtime import Runtime, SearchFactory, open_search
from api.sweeper import SweepTurn, sweep_once
from indexer.query_latent import SEARCHES
from kb import change_feed
from kb.db import Database, open_database
from kb.settings import Settings, get_settings

log = logging.getLogger("zhiku.api")
HERE = Path(__file__).resolve().parent
SWEEP_INTERVAL_S = 15 * 60

DESCRIPTION = """知库 Zhiku: suggested answers for agents, a public FAQ for customers, and the
review desk for knowledge admins.

Agent and admin endpoints take `Authorization: Bearer zk_...` (create one with
`kb user add NAME --role agent` and `kb user token NAME`); the `/api/faq/*` endpoints are
public. Errors are JSON: `{"error", "message", "problems": [{field, value, message, location}]}`.
"""


async def _sweep_forever(runtime: Runtime, interval_s: float, turn: SweepTurn) -> None:
    while True:
        await asyncio.sleep(interval_s)
        if turn.mine():
            await asyncio.to_thread(sweep_once, runtime)
        # Every worker: agents' votes reach each one's tuning (the first re-tunes, the rest
        # take what it saved).
        await asyncio.to_thread(runtime.retune_on_labels)


def can_have_replicas(db: Database) -> bool:
    """Whether other processes can write this database (not one in this process's memory)."""
    url = db.engine.url
    return not (url.get_backend_name() == "sqlite" and url.database in {None, "", ":memory:"})


def create_app(
    settings: Settings | None = None,
    *,
    search_factory: SearchFactory = open_search,
    sweep_interval_s: float = SWEEP_INTERVAL_S,
) -> FastAPI:
    """The Zhiku web service: API under /api, pages at /, /agent and /admin, docs at /docs."""
    config = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = open_database(config.resolved_database_url)
        try:
            with db.session() as session:
                # Read before the index opens: opening repairs drift up to now, the follower
                # applies what commits after.
                start = change_feed.head(session)
            search = search_factory(config, db)
            runtime = Runtime(
                settings=config,
                db=db,
                service=search,
                limiter=RateLimiter.from_settings(config),
                started_at=time.time(),
            )
            app.state.runtime = runtime
            runtime.start()
            # Each worker process counts only its own searches: it counts on its share of
            # the cores to encode a query's latent terms ahead.
            SEARCHES.share_with(config.workers)
            # Several worker processes (kb serve --workers): one sweeps; each follows the
            # change feed, so what one worker commits reaches the others' indexes.
            turn = SweepTurn(config.data_dir / "sweep.lock" if config.workers > 1 else None)
            if turn.mine():
                sweep_once(runtime)
            if can_have_replicas(db):
                runtime.replica = Follower(
                    runtime, start, interval_s=config.sync_interval, listen=config.sync_listen
                )
                runtime.replica.start()
            task = asyncio.create_task(_sweep_forever(runtime, sweep_interval_s, turn))
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                if runtime.replica is not None:
                    await asyncio.to_thread(runtime.replica.stop)
                await asyncio.to_thread(runtime.close)
                turn.release()
        finally:
            db.dispose()

    app = FastAPI(
        title="知库 Zhiku",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by api.docs from local files, not a CDN
        redoc_url=None,
        # One input rule for every route, pages included (NUL, lone surrogates): api.inputs.
        dependencies=[Depends(clean_text)],
        responses=errors.documented(422),
    )
    errors.install(app)
    routers = (routes_agent, routes_faq, routes_admin, routes_review, routes_ops, routes_usage)
    for module in (*routers, routes_gaps, routes_requests, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    docs.install(app)
    app.add_middleware(
        BodyLimit,
        default=limits.MAX_BODY_BYTES,
        by_path={"/api/admin/import": limits.MAX_UPLOAD_BODY_BYTES},
    )
    app.add_middleware(SecurityHeaders)
    return app
