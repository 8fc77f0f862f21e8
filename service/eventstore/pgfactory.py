"""The library's PostgreSQL infrastructure, made to fail fast and to recover at once.

As shipped, the library retries each recorder read ten times, every attempt waiting the
pool's whole timeout, so one request could hang for most of a minute while the database
is down; and its pool re-makes lost connections with an exponential back-off that grows
with the outage, so service came back seconds after the database did. Here a statement
is tried once (the client retries a 503; an idempotency key makes that safe for writes),
a pool wait is bounded by the lock timeout (``POSTGRES_CONNECT_TIMEOUT``), and a lost
connection is re-made on demand, as soon as a request needs one.

Once a statement has found the database gone, and until one reaches it again, a request
waits only briefly for a connection: requests that queue behind one another (loads of
one deal share the library's fast-forward lock) would otherwise each add a full wait.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar, cast

from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import (
    ConnectionPool,
    PostgresAggregateRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.utils import Environment, EnvType

F = TypeVar("F", bound=Callable[..., Any])
LOST = (OperationalError, InterfaceError)
# How long the pool keeps re-trying a lost connection in the background before it gives
# that slot up; the next request that waits grows the pool again, so reconnection follows
# demand and never waits out a back-off that doubled through a long outage.
RECONNECT_SECONDS = 0.5
# At most one sweep of the idle connections a second after failures.
RECHECK_SECONDS = 1.0
# The wait for a connection while the database is known to be away: long enough for the
# pool to connect again when it is back, short enough that queued requests stay prompt.
AWAY_WAIT_SECONDS = 0.25

_checked: weakref.WeakKeyDictionary[ConnectionPool[Any], float] = weakref.WeakKeyDictionary()
_checked_lock = threading.Lock()
_usual_wait: weakref.WeakKeyDictionary[ConnectionPool[Any], float] = weakref.WeakKeyDictionary()


def reached(datastore: PostgresDatastore) -> None:
    """A statement reached the database: waits for a connection are as usual again."""
    pool = datastore.pool
    usual = _usual_wait.get(pool)
    if usual is not None and pool.timeout != usual:
        pool.timeout = usual


def lost(datastore: PostgresDatastore) -> None:
    """A statement found the database gone: wait briefly for connections until one reaches
    it again, and sweep the pool's idle connections in the background, so that none of
    the broken ones fails a request once the database is back. (A pool starved under load
    times out alike; the next statement that gets through restores the usual wait.)"""
    pool = datastore.pool
    pool.timeout = min(pool.timeout, AWAY_WAIT_SECONDS)
    now = time.monotonic()
    with _checked_lock:
        if now - _checked.get(pool, -RECHECK_SECONDS) < RECHECK_SECONDS:
            return
        _checked[pool] = now
    threading.Thread(target=_check, args=(pool,), name="pool-recheck", daemon=True).start()


def _check(pool: ConnectionPool[Any]) -> None:
    with contextlib.suppress(Exception):  # a closed pool, or a database still away
        pool.check()


def once(method: F) -> F:
    """A recorder method of the library, without its ``retry`` decorator: tried once, and a
    lost database noted (see ``lost``)."""
    inner = cast(F, method.__wrapped__)  # type: ignore[attr-defined]

    @functools.wraps(inner)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = inner(self, *args, **kwargs)
        except LOST:
            lost(self.datastore)
            raise
        reached(self.datastore)
        return result

    return cast(F, call)


class SnapshotRecorder(PostgresAggregateRecorder):
    """The snapshot table's recorder, its statements tried once."""

    insert_events = once(PostgresAggregateRecorder.insert_events)
    select_events = once(PostgresAggregateRecorder.select_events)


class LedgerPostgresFactory(PostgresFactory):
    """The library's factory with the pool tuned for outages (see the module's text), whose
    connections also get the database URL's query parameters (``POSTGRES_OPTIONS``, a JSON
    object: ``sslmode`` and the like), which the library's own settings have no place for."""

    aggregate_recorder_class = SnapshotRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        pool = self.datastore.pool
        assert isinstance(pool.kwargs, dict)
        pool.kwargs.update(json.loads(self.env.get("POSTGRES_OPTIONS") or "{}"))
        _usual_wait[pool] = pool.timeout
        pool.reconnect_timeout = RECONNECT_SECONDS
        if isinstance(pool.kwargs, dict):  # the pool's own connection attempts, bounded too
            pool.kwargs["connect_timeout"] = max(1, round(pool.timeout))
