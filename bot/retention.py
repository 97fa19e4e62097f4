"""Retention: conversation content older than SWITCHBOARD_RETENTION_DAYS is deleted, decision records stay.

`switchboard purge` runs one purge; `serve` runs one every SWITCHBOARD_PURGE_INTERVAL_S after the warm-up,
on every replica (a purge is idempotent: replicas racing delete disjoint or already deleted rows).
The semantic cache and the pseudonym vault live in each process's memory and expire on their own TTLs
(SWITCHBOARD_CACHE_TTL_S, SWITCHBOARD_PSEUDONYM_TTL_S), both far below any retention period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from bot.errors import DatabaseUnavailableError
from bot.memory.store import Removed, SqlMemoryStore

log = logging.getLogger(__name__)


async def purge_expired(memory: SqlMemoryStore, *, older_than: timedelta) -> Removed:
    """Delete the content created more than `older_than` ago; what was deleted per table."""
    return await memory.purge(older_than=datetime.now(UTC) - older_than)


class RetentionTask:
    """`serve`'s periodic purge, stopped with the server."""

    def __init__(self, *, memory: SqlMemoryStore, retention: timedelta) -> None:
        self._memory = memory
        self._retention = retention
        self._stop = asyncio.Event()

    async def run_forever(self, interval_s: float) -> None:
        """A purge now and then every `interval_s` until `stop`; a database that does not answer only
        postpones the next one."""
        while not self._stop.is_set():
            try:
                removed = await purge_expired(self._memory, older_than=self._retention)
                if any(removed.deleted.values()):
                    log.info("retention: content older than %s purged (%s)", self._retention, removed.describe())
            except DatabaseUnavailableError as exc:
                log.warning("retention: purge skipped: %s", exc)
            except Exception:  # a background task has no caller: say so, and try again at the next interval
                log.exception("retention: purge failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval_s)

    def stop(self) -> None:
        self._stop.set()
