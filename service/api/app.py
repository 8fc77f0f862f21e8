"""The app factory: nothing is built at import time; the lifespan owns every resource."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

from service.api import problems
from service.api.cors import AuditCors
from service.api.deps import DeclaredQueries, clean_query
from service.api.metrics import Metrics, MetricsMiddleware, ProjectionLag
from service.api.openapi import complete_openapi
from service.api.refusals import RefusalCapture
from service.api.requestlog import RequestLog
from service.api.routes import (
    audit,
    batches,
    dashboard,
    deals,
    docs,
    exposure,
    integrity,
    licenses,
    log,
    ops,
    policies,
    portfolio,
    program,
    projections,
    refusals,
)
from service.api.routes import keys as key_admin
from service.bootstrap import DB_ERRORS, build_runner, start_ledger
from service.db import check_at_head, create_engine
from service.keys import KeyStore
from service.ledger.commands import Clock, utc_now
from service.refusals import RefusalLog
from service.settings import Settings

logger = logging.getLogger("exim_ledger")


def create_app(settings: Settings | None = None, clock: Clock = utc_now) -> FastAPI:
    """The API; ``clock`` is what the ledger judges business time by (tests move it)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        try:
            head = check_at_head(settings, engine)
            keys = KeyStore(engine, settings.key_cache_seconds)
            if settings.bootstrap_keys:
                keys.load_bootstrap(settings.bootstrap_keys)
            ledger = start_ledger(settings, clock)
        except Exception:
            engine.dispose()
            raise
        runner = build_runner(settings, ledger, engine)
        runner.ensure_rows()
        refused = RefusalLog(engine, app.state.metrics.drop_refusals,
                             settings.refusal_queue_size,
                             policy_at=lambda moment: ledger.policy_book().at(moment).id)
        refused.start()
        app.state.refusals = refused
        loop = asyncio.get_running_loop()
        feed_wake = asyncio.Event()
        ledger.on_append.append(runner.wake.set)
        ledger.on_append.append(app.state.metrics.appended.inc)

        def wake_feed() -> None:
            loop.call_soon_threadsafe(feed_wake.set)

        ledger.on_append.append(wake_feed)
        app.state.settings, app.state.engine, app.state.head = settings, engine, head
        app.state.keys, app.state.ledger = keys, ledger
        app.state.runner, app.state.feed_wake = runner, feed_wake
        app.state.metrics.watch(ProjectionLag(ledger.store.head, runner.statuses))
        if settings.projections_in_process:
            runner.start()
        try:
            yield
        finally:
            runner.stop()
            refused.close()
            ledger.close()
            engine.dispose()
            app.state.metrics.close()

    app = FastAPI(
        title="ExportAI Deal Ledger",
        version="0.1.0",
        summary="Event-sourced, hash-chained ledger of EXIM's AI export financing deals.",
        lifespan=lifespan,
        dependencies=[Depends(clean_query)],
        docs_url=None,  # served by routes/docs.py from the package's own assets
        redoc_url=None,  # ReDoc loads its script and fonts from a CDN: no use offline
    )
    app.state.metrics = Metrics()
    app.state.declared_queries = DeclaredQueries()
    app.add_middleware(RefusalCapture)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(AuditCors, origins=settings.audit_origins)
    app.add_middleware(RequestLog)  # outermost: its id is on every response it sees
    problems.install(app)

    async def _db_down(_: Request, exc: Exception) -> Response:
        logger.warning("database unavailable: %s", exc)
        return problems.problem(503, "database_unavailable", "the database is unavailable",
                                headers={"Retry-After": "1"})

    for error in DB_ERRORS:
        app.add_exception_handler(error, _db_down)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # answered outside every middleware: the request's id comes from its scope
        request_id = request.scope.get("state", {}).get("request_id")
        logger.exception("unexpected error", exc_info=exc, extra={"request_id": request_id})
        return problems.problem(500, "internal_error", "an unexpected error occurred",
                                headers={"X-Request-ID": request_id} if request_id else None)

    for module in (deals, batches, log, portfolio, licenses, exposure, projections, policies,
                   program, audit, refusals, integrity, key_admin, ops, dashboard, docs):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC), name="static")
    complete_openapi(app)
    return app
