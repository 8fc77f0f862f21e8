"""Logging: stdlib loggers everywhere, rendered by structlog as console lines or, with
``LEDGER_LOG_FORMAT=json``, one JSON object a line (request fields as keys)."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any, Literal

import structlog
from structlog.typing import Processor

LogFormat = Literal["console", "json"]
# the request being served, for every record logged while serving it (threadpool calls
# copy the context, so they see it too); a bare ContextVar costs next to nothing
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

# stdlib loggers that a server process runs; they go through our one handler (uvicorn's
# access log is off: the request middleware writes a richer one)
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "exim_ledger")


def configure(level: str = "info", fmt: LogFormat = "console") -> None:
    """Send every record of this process to stderr through structlog's formatter.

    Called once per server process (each worker configures its own logging)."""
    shared: list[Processor] = [
        add_request_id,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        drop_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if fmt == "json":
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Formatter(shared, renderer))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in SERVER_LOGGERS:  # uvicorn's own handlers would print a second copy
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


ACCESS = "exim_ledger.access"
# what a LogRecord holds of its own: anything else came as ``extra`` (as structlog's
# ExtraAdder tells them apart)
_RECORD_KEYS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


class Formatter(structlog.stdlib.ProcessorFormatter):
    """structlog's formatter, with a short path for the access log's lines: one a
    request, they are the hot path of logging. Such a line gets the same fields in the
    same order, rendered by the same renderer, as the processor chain would give it
    (``tests/unit/test_logs.py`` holds the two equal), without copying the record and
    running the chain."""

    def __init__(self, shared: list[Processor], renderer: Processor) -> None:
        super().__init__(foreign_pre_chain=shared, processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer])
        self._render = (console_line if isinstance(renderer, structlog.dev.ConsoleRenderer)
                        else renderer)
        self._stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)

    def format(self, record: logging.LogRecord) -> str:
        if (record.name != ACCESS or record.exc_info or record.stack_info
                or structlog.contextvars.get_contextvars()):
            return super().format(record)
        event: dict[str, Any] = {"event": record.getMessage()}
        request_id = REQUEST_ID.get()
        if request_id is not None:
            event["request_id"] = request_id
        event["level"] = record.levelname.lower()
        event["logger"] = record.name
        for key, value in vars(record).items():
            if key not in _RECORD_KEYS:
                event[key] = value
        return self._render(None, "", self._stamp(None, "", event))  # type: ignore[return-value]


_PLAIN = frozenset(" \t=\r\n\"'")  # a string value with any of these is shown quoted


def console_line(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> str:
    """An access line as structlog's ``ConsoleRenderer(colors=False)`` writes it (its
    columns: timestamp, level, event, logger, then the other keys sorted), in one pass."""
    head = (f"{event.pop('timestamp')} [{event.pop('level'):<9}] {event.pop('event'):<30} "
            f"[{event.pop('logger')}]")
    pairs = " ".join(f"{key}={_value(event[key])}" for key in sorted(event))
    return f"{head} {pairs}" if pairs else head


def _value(value: Any) -> str:
    if isinstance(value, str) and _PLAIN.isdisjoint(value):
        return value
    return repr(value)


def add_request_id(_logger: Any, _method: str,
                   event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


def drop_color_message(_logger: Any, _method: str,
                       event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Without uvicorn's ``color_message`` extra: its message again, with ANSI colour codes
    (for uvicorn's own formatter), which would show as escapes in a log line."""
    event.pop("color_message", None)
    return event
