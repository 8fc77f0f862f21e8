"""Leadership on PostgreSQL: an advisory lock per projection, held on a connection of its
own, keeps one active runner per projection; another process waits as a standby. On
SQLite every runner leads (one process writes the projections)."""

from __future__ import annotations

import logging
import zlib

import sqlalchemy as sa

logger = logging.getLogger("exim_ledger.projections")


def lock_key(name: str) -> int:
    return zlib.crc32(f"exim-ledger:projection:{name}".encode()) & 0x7FFFFFFF


class Leases:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"
        self._held: dict[str, sa.Connection] = {}

    def take(self, name: str) -> bool:
        """Whether this runner leads ``name``, taking its lease if it is free."""
        if not self.is_postgres or name in self._held:
            return True
        conn = self.engine.connect()
        got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(lock_key(name)))).scalar()
        conn.commit()
        if got:
            self._held[name] = conn
            return True
        conn.close()
        return False

    def holds(self, name: str) -> bool:
        return not self.is_postgres or name in self._held

    def drop_if_lost(self, name: str) -> None:
        """Forget the lease on ``name`` if its connection died (the database restarted, or
        the connection was cut): the lock went with it, and another runner may hold it now.
        The next round competes for it afresh."""
        conn = self._held.get(name)
        if conn is None:
            return
        try:
            conn.execute(sa.select(1))
            conn.commit()
        except Exception:
            logger.warning("lost the lease on projection %s; competing for it again", name)
            del self._held[name]
            _discard(conn)

    def drop_lost(self) -> None:
        for name in list(self._held):
            self.drop_if_lost(name)

    def release(self) -> None:
        for name, conn in self._held.items():
            try:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(lock_key(name))))
                conn.commit()
                conn.close()
            except Exception:
                logger.warning("releasing the lease on %s failed; dropping its connection",
                               name, exc_info=True)
                _discard(conn)  # closing the session frees its locks for the standby
        self._held.clear()


def _discard(conn: sa.Connection) -> None:
    """Close ``conn`` for good (not back into the pool, where a session lock would live on)."""
    try:
        conn.invalidate()
        conn.close()
    except Exception:
        logger.debug("discarding a lease connection", exc_info=True)
