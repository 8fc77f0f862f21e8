"""The write scenarios' baseline: a plain FastAPI app that validates the same request body
with the same pydantic model as ``POST /v1/deals/{id}/events`` and stores nothing.

Served by uvicorn with the options ``exim-ledger serve`` uses, so the ratio of the two is
what the ledger's own work costs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from service.ledger.payloads import EVENT_REQUEST


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/deals/{deal_id}/events", status_code=201)
    async def post_event(deal_id: str, request: Request) -> JSONResponse:
        body: Any = await request.json()
        event = EVENT_REQUEST.validate_python(body)
        return JSONResponse({"deal_id": deal_id, "type": event.type}, status_code=201)

    return app
