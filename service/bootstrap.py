"""The one place that builds the ledger, the store, the projection runner and its read
models, for every entrypoint: ``serve`` (the API's lifespan), ``project``, ``rebuild``,
``demo``, the bench and the tests. It imports no web framework, so a command that only
needs the ledger starts without one.

``LEDGER_POLICY_FILE`` lists policy versions to bootstrap onto the ledger at start. Once
adopted, a version is read from the ledger only (SPEC §2 "Policy is on the ledger"); the
file can add versions, never change one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

import psycopg
import sqlalchemy as sa
from eventsourcing.persistence import InterfaceError, OperationalError

from domain.errors import LedgerError
from domain.policy import PolicyVersion
from projections.registry import read_models
from projections.runner import Runner
from service.eventstore import LedgerRecorder
from service.ledger.application import Ledger
from service.ledger.commands import Clock, InvalidRequest, utc_now
from service.ledger.fields import parse
from service.ledger.payloads import POLICY_FILE
from service.settings import Settings

# what a lost or unreachable database raises, through each layer: answered 503 by the API
DB_ERRORS = (
    OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError,
    sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError,
    sqlite3.OperationalError,
)
ReadLog = Callable[[int, int], list[dict[str, Any]]]


def build_ledger(settings: Settings, clock: Clock = utc_now) -> Ledger:
    return Ledger(settings.eventsourcing_env(), settings.snapshot_interval, clock,
                  settings.aggregate_cache_size, settings.aggregate_cache_bytes)


def start_ledger(settings: Settings, clock: Clock = utc_now) -> Ledger:
    """A ledger that judges by its policies: on a new (or upgraded) ledger the shipped
    versions are adopted first, then ``LEDGER_POLICY_FILE``'s new ones."""
    from_file = load_policy_file(settings.policy_file)
    ledger = build_ledger(settings, clock)
    try:
        ledger.adopt_on_start(from_file)
    except Exception:
        ledger.close()
        raise
    return ledger


def read_log(store: LedgerRecorder) -> ReadLog:
    """The log as the projections read it: envelopes after a position, from the store."""

    def read(after: int, limit: int) -> list[dict[str, Any]]:
        return store.select_log(after, limit)

    return read


def build_runner(settings: Settings, ledger: Ledger, engine: sa.Engine) -> Runner:
    """The projection runner over ``ledger``'s log, judging by its policy versions."""
    return Runner(engine, read_log(ledger.store), ledger.store.head,
                  read_models(ledger.policy_book), unavailable=DB_ERRORS,
                  state_cache_size=settings.projection_state_cache_size,
                  state_cache_bytes=settings.projection_state_cache_bytes,
                  read_streams=ledger.store.select_streams)


class PolicyFileError(LedgerError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__("policy_file_invalid", f"LEDGER_POLICY_FILE {path}: {reason}")


def load_policy_file(path: str | None) -> list[PolicyVersion]:
    """The versions the file lists, checked like ``POST /v1/policies`` bodies."""
    if not path:
        return []
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except OSError as e:
        raise PolicyFileError(path, f"cannot be read ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PolicyFileError(path, f"not valid JSON ({e})") from None
    try:
        versions = [body.version() for body in parse(POLICY_FILE, raw)]
    except InvalidRequest as e:
        errors: list[dict[str, str]] = e.extra["errors"]  # type: ignore[assignment]
        problems = "; ".join(f"{err['field']}: {err['message']}" for err in errors)
        raise PolicyFileError(path, f"expected a list of policy versions: {problems}") from None
    for i, version in enumerate(versions):
        for earlier in versions[:i]:
            if version.id == earlier.id or version.effective_from == earlier.effective_from:
                raise PolicyFileError(path, f"entries {versions.index(earlier)} and {i} share "
                                            "an id or an effective date")
    return versions
