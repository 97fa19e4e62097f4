"""Nothing accepted is lost: accepted messages whose answer was never delivered are finished later.

An adapter admits a message together with a `PendingDelivery` row leased to its own process
(`SqlMemoryStore.add_user_turn`), and marks it delivered once the answer is posted. When the process
dies in between (SIGKILL, OOM kill, node drain), the lease runs out and a recovery pass — at start and
every `interval_s` on every replica — takes the row with a compare-and-set on the lease, so of two
replicas exactly one resumes it. The adapter then answers it through the normal pipeline, in the
placeholder it had posted, or, when the message is older than `max_age_s`, replaces the placeholder
with an apology.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.errors import DatabaseUnavailableError
from bot.memory.store import Lease, Resumable, SqlMemoryStore

log = logging.getLogger(__name__)


class Resumer(Protocol):
    """An adapter that can finish a message of its platform after a restart."""

    @property
    def platform(self) -> str: ...

    async def resume(self, pending: Resumable, *, apologise: bool) -> None:
        """Post the answer to `pending` (or, with `apologise`, an apology) where the user waits for it;
        raises when it could not be delivered."""


def replica_id() -> str:
    """Who holds a lease: host, process and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DeliveryRecovery:
    def __init__(self, *, memory: SqlMemoryStore, resumers: Sequence[Resumer], lease: Lease,
                 max_age_s: float) -> None:
        self._memory = memory
        self._resumers = {r.platform: r for r in resumers}
        self._lease = lease
        self._max_age = timedelta(seconds=max_age_s)
        self._stop = asyncio.Event()

    async def run_once(self) -> int:
        """One pass: resume every pending delivery whose lease ran out; returns how many were taken."""
        if not self._resumers:
            return 0
        taken = await self._memory.claim_pending(lease=self._lease, platforms=sorted(self._resumers))
        for pending in taken:
            await self._finish(pending)
        return len(taken)

    async def _finish(self, pending: Resumable) -> None:
        too_old = datetime.now(UTC) - pending.created_at > self._max_age
        log.warning("recovery: resuming an accepted %s message %d that was not delivered (%s)",
                    pending.msg.platform, pending.turn.message_id, "apology" if too_old else "answer")
        try:
            await self._resumers[pending.msg.platform].resume(pending, apologise=too_old)
        except Exception:  # a background pass has no caller: the lease runs out and a later pass retries
            log.exception("recovery: message %d could not be delivered", pending.turn.message_id)
            if not too_old:
                return
            log.warning("recovery: giving up on message %d (older than %s)", pending.turn.message_id,
                        self._max_age)
        await self._memory.mark_delivered(pending.turn.message_id)

    async def run_forever(self, interval_s: float) -> None:
        """Passes until `stop`; a database that does not answer only postpones the next pass."""
        while not self._stop.is_set():
            try:
                await self.run_once()
            except DatabaseUnavailableError as exc:
                log.warning("recovery: pass skipped: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval_s)

    def stop(self) -> None:
        """No further pass starts; the one running finishes (the adapters' drain waits for it)."""
        self._stop.set()
