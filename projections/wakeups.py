"""What wakes a projection runner when the log grows in another process: PostgreSQL's
NOTIFY on the event store's channel, or on SQLite (no NOTIFY) a look at the log's head."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger("exim_ledger.projections")

# the channel the event store NOTIFYs on each append (service.eventstore.postgres)
CHANNEL = "ledger_events"
HEAD_POLL_SECONDS = 0.02  # how often a projector on SQLite looks at the head
LISTEN_RETRY_SECONDS = 0.5  # between attempts to LISTEN again; the runner polls meanwhile
LISTEN_CONNECT_SECONDS = 5


class Wakeup:
    """A thread that sets ``wake`` when the log may have grown, until ``stop``."""

    def __init__(self, wake: threading.Event, name: str) -> None:
        self.wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(3.0)


class HeadPoll(Wakeup):
    """Wakes on a move of the log's head, as ``head`` reports it."""

    def __init__(self, head: Callable[[], int], wake: threading.Event) -> None:
        self.head = head
        super().__init__(wake, "projection-head-poll")

    def _run(self) -> None:
        seen = -1
        while not self._stop.wait(HEAD_POLL_SECONDS):
            try:
                head = self.head()
            except Exception:  # the runner's own round reports the database
                continue
            if head != seen:
                seen = head
                self.wake.set()


class Listener(Wakeup):
    """Wakes on PostgreSQL NOTIFY on ``channel``, LISTENing on a connection to ``url``."""

    def __init__(self, url: str, channel: str, wake: threading.Event) -> None:
        self.url, self.channel = url, channel
        super().__init__(wake, "projection-listen")

    def _run(self) -> None:
        import psycopg

        lost = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True,
                                     connect_timeout=LISTEN_CONNECT_SECONDS) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    if lost:
                        logger.info("LISTEN connection back")
                        self.wake.set()  # what was appended meanwhile went unheard
                    lost = False
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.2):
                            self.wake.set()
            except Exception as e:
                if not lost:  # once an outage, not once a retry
                    logger.warning("LISTEN connection lost (%s); polling until it is back", e)
                lost = True
                self._stop.wait(LISTEN_RETRY_SECONDS)
