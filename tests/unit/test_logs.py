"""The access log's short path renders exactly what structlog's processor chain does."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from service import logs

FIELDS: list[dict[str, Any]] = [
    {"request_id": "r-1", "correlation_id": None, "actor": "bench", "method": "POST",
     "path": "/v1/deals/x/events", "status": 201, "duration_ms": 1.25,
     "deal_id": "3ee9addf-b96e-55f1-ae27-e1c61cedb16a", "position": 4255},
    {"request_id": "r-2", "correlation_id": 'a "quoted" id = é', "actor": None,
     "method": "GET", "path": "/v1/portfolio", "status": 401, "duration_ms": 0.5},
    {"request_id": "r-3", "correlation_id": "c", "actor": "a b", "method": "POST",
     "path": "/v1/batches", "status": 201, "duration_ms": 12.0, "deal_id": ["a", "b"],
     "position": 9},
    {"request_id": "r=4", "correlation_id": "tab\there", "actor": "it's", "method": "GET",
     "path": "/v1/deals/" + "x" * 40, "status": 200, "duration_ms": 0.001},
    {"request_id": "r-5", "correlation_id": "line\nbreak", "actor": "", "method": "GET",
     "path": "/", "status": 307, "duration_ms": 3.0, "position": None},
]


@pytest.fixture(params=["console", "json"])
def formatter(request: pytest.FixtureRequest) -> Iterator[logs.Formatter]:
    root = logging.getLogger()
    saved = root.handlers, root.level
    logs.configure("info", request.param)
    try:
        yield root.handlers[0].formatter  # type: ignore[misc]
    finally:
        root.handlers, root.level = saved
        structlog.reset_defaults()


def stamp(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    event["timestamp"] = "2026-12-01T02:30:09.184687Z"
    return event


def record(fields: dict[str, Any]) -> logging.LogRecord:
    logger = logging.getLogger(logs.ACCESS)
    return logger.makeRecord(logger.name, logging.INFO, __file__, 1, "%s %s %s",
                             (fields["method"], fields["path"], fields["status"]), None,
                             extra=fields)


@pytest.mark.parametrize("fields", FIELDS)
@pytest.mark.parametrize("request_id", [None, "ctx-id"])
def test_an_access_line_is_rendered_as_the_processor_chain_renders_it(
    formatter: logs.Formatter, fields: dict[str, Any], request_id: str | None,
):
    # one moment for both renderings: the same stamp wherever the chain takes it
    chain_stamper = formatter.foreign_pre_chain.index(  # type: ignore[union-attr]
        next(p for p in formatter.foreign_pre_chain or ()
             if isinstance(p, structlog.processors.TimeStamper)))
    formatter.foreign_pre_chain[chain_stamper] = stamp  # type: ignore[index]
    formatter._stamp = stamp  # type: ignore[assignment]
    token = logs.REQUEST_ID.set(request_id)
    try:
        fast = formatter.format(record(fields))
        chain = structlog.stdlib.ProcessorFormatter.format(formatter, record(fields))
    finally:
        logs.REQUEST_ID.reset(token)
    assert fast == chain
    assert fields["path"] in fast


def test_other_records_and_bound_context_take_the_chain(formatter: logs.Formatter):
    other = logging.getLogger("exim_ledger").makeRecord(
        "exim_ledger", logging.WARNING, __file__, 1, "snapshot of %s not taken", ("d",), None)
    assert "snapshot of d not taken" in formatter.format(other)
    structlog.contextvars.bind_contextvars(job="import")
    try:
        assert "job" in formatter.format(record(FIELDS[0]))
    finally:
        structlog.contextvars.clear_contextvars()


def test_uvicorns_coloured_copy_of_a_message_is_not_logged(formatter: logs.Formatter):
    uvicorn = logging.getLogger("uvicorn.error")
    started = uvicorn.makeRecord(
        uvicorn.name, logging.INFO, __file__, 1, "Uvicorn running on %s", ("http://x:1",),
        None, extra={"color_message": "Uvicorn running on \x1b[1m%s\x1b[0m"})
    line = formatter.format(started)
    assert "Uvicorn running on http://x:1" in line
    assert "color_message" not in line and "\x1b" not in line and "\\x1b" not in line
