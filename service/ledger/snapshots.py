"""Snapshots: a cache of a deal's state in the store, taken off the request path."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from uuid import UUID

logger = logging.getLogger("exim_ledger.ledger")


class Snapshotter:
    """Takes due snapshots one at a time on its own thread, off the request path.

    A snapshot is a cache of a deal's state: taken inline, every request that crossed an
    interval waited for its own write transaction, and when many deals crossed at once
    (deals written at the same pace do) they queued for the one writer connection and
    the pool behind it. A due snapshot that is still queued when a later one of the same
    deal arrives is replaced by it; at most ``capacity`` deals wait, the rest are skipped
    (the next interval takes them)."""

    def __init__(self, take: Callable[[UUID, int], None], capacity: int = 10_000,
                 interval: int = 100) -> None:
        self._take = take
        self._capacity = capacity
        self.interval = interval
        self._due: dict[UUID, int] = {}
        self._lock = threading.Lock()
        self._wake = queue.SimpleQueue[bool]()
        self._thread: threading.Thread | None = None
        self._taking = False
        self._closed = False

    def crossed(self, touched: dict[UUID, tuple[int, int]]) -> None:
        """Each deal whose version passed a multiple of the interval is due: the write is
        acknowledged without waiting for its snapshot."""
        interval = self.interval
        for deal_id, (before, after) in touched.items():
            if after // interval > before // interval:
                self.due(deal_id, (after // interval) * interval)

    def due(self, deal_id: UUID, version: int) -> None:
        with self._lock:
            if self._closed or (deal_id not in self._due and len(self._due) >= self._capacity):
                return
            self._due[deal_id] = max(version, self._due.get(deal_id, 0))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="snapshots",
                                                daemon=True)
                self._thread.start()
        self._wake.put(True)

    def _next(self) -> tuple[UUID, int] | None:
        with self._lock:
            self._taking = bool(self._due)
            if not self._due:
                return None
            deal_id = next(iter(self._due))
            return deal_id, self._due.pop(deal_id)

    def _run(self) -> None:
        while self._wake.get():
            while (item := self._next()) is not None:
                deal_id, version = item
                try:
                    self._take(deal_id, version)
                except Exception:  # a snapshot only speeds loading up; the events are saved
                    logger.warning("snapshot of %s at %s not taken", deal_id, version,
                                   exc_info=True)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until no snapshot is due (tests, and a clean shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._due and not self._taking:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._wake.put(False)
            thread.join(30.0)
