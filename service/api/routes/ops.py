"""Health, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, PlainTextResponse, Response

from service.api.responses import Status
from service.db import check_at_head

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Status, summary="The process is up")
async def healthz() -> Response:
    return JSONResponse({"status": "ok"})


@router.get("/readyz", response_model=Status, responses={503: {"model": Status}},
            summary="Database reachable and migrations at head")
async def readyz(request: Request) -> Response:
    state = request.app.state

    def check() -> None:
        state.ledger.store.ping()
        check_at_head(state.settings, state.engine, state.head)

    try:
        await run_in_threadpool(check)
    except Exception as e:  # any failure means not ready, with the reason
        return JSONResponse({"status": "unavailable", "detail": str(e)}, status_code=503,
                            headers={"Retry-After": "1"})
    return JSONResponse({"status": "ready"})


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    body = await run_in_threadpool(request.app.state.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
