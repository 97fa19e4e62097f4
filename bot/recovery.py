"""Nothing accepted is lost: accepted messages whose answer was never delivered are finished later.

An adapter admits a message together with a `PendingDelivery` row leased to its own process
(`SqlMemoryStore.add_user_turn`), and marks it delivered once the answer is posted. When the process
dies in between (SIGKILL, OOM kill, node drain), the lease runs out and a recovery pass — at start and
every `interval_s` on every replica — takes the row with a compare-and-set on the lease, so of two
replicas exactly one resumes it. The adapter then answers it through the normal pipeline, in the
placeholder it had posted, or, when the message is older than `max_age_s`, replaces the placeholder
with an apology.

An answer may take longer than the lease (the policy's total deadline may be 15 minutes): whoever is
producing one keeps its lease alive (`while_holding`, a renewal every third of the lease, compare-and-set
on its own owner token), so no other replica takes the message while it is answered; should a renewal
find the row taken over anyway (the database was out of reach for longer than the lease), the answer
in progress is dropped and the new owner delivers. Each pass also deletes delivered rows older than
`keep_delivered_s`, a bounded batch at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from bot.errors import DatabaseUnavailableError, LeaseLostError
from bot.memory.store import Lease, Resumable, SqlMemoryStore

log = logging.getLogger(__name__)

T = TypeVar("T")

KEEP_DELIVERED_S = 7 * 86_400.0  # delivered rows are kept a week (what was resumed, for an investigation)
PRUNE_BATCH = 500


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


async def while_holding(memory: SqlMemoryStore, *, message_id: int, lease: Lease, work: Awaitable[T]) -> T:
    """Run `work` (an answer being produced for the pending delivery `message_id`) while renewing `lease`
    every third of its length, and once more when `work` is done: a return means the caller holds the row
    for a whole lease from now, time enough to post the answer. Raises `LeaseLostError`, with `work`
    cancelled, when a renewal finds that another owner took the row (or it was delivered). A database out
    of reach is no proof of a loss: the answer goes on (logged). A row deleted meanwhile (its user was
    forgotten) is no loss either: nothing is renewed any more."""
    task = asyncio.ensure_future(work)
    renewing = True
    try:
        while True:
            await asyncio.wait({task}, timeout=lease.seconds / 3 if renewing else None)
            if renewing:
                held = await _renew(memory, message_id, lease)
                if held is False:
                    log.warning("recovery: message %d was taken over by another instance while %s answered it "
                                "(its lease could not be renewed in time); this answer is dropped, the other "
                                "instance delivers it", message_id, lease.owner)
                    raise LeaseLostError(f"the pending delivery of message {message_id} is no longer held by "
                                         f"{lease.owner}")
                renewing = held is True
            if task.done():
                return task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _renew(memory: SqlMemoryStore, message_id: int, lease: Lease) -> bool | None:
    try:
        return await memory.renew_lease(message_id, lease)
    except DatabaseUnavailableError as exc:
        log.warning("recovery: the lease of message %d was not renewed: %s", message_id, exc)
        return True


class DeliveryRecovery:
    def __init__(self, *, memory: SqlMemoryStore, resumers: Sequence[Resumer], lease: Lease,
                 max_age_s: float, keep_delivered_s: float = KEEP_DELIVERED_S,
                 prune_batch: int = PRUNE_BATCH) -> None:
        self._memory = memory
        self._resumers = {r.platform: r for r in resumers}
        self._lease = lease
        self._max_age = timedelta(seconds=max_age_s)
        self._keep_delivered = timedelta(seconds=keep_delivered_s)
        self._prune_batch = prune_batch
        self._stop = asyncio.Event()

    async def run_once(self) -> int:
        """One pass: resume every pending delivery whose lease ran out; returns how many were taken."""
        if not self._resumers:
            return 0
        taken = await self._memory.claim_pending(lease=self._lease, platforms=sorted(self._resumers))
        for pending in taken:
            await self._finish(pending)
        return len(taken)

    async def prune(self) -> int:
        """Delete one batch of delivered rows older than `keep_delivered_s`; returns how many."""
        pruned = await self._memory.prune_delivered(older_than=datetime.now(UTC) - self._keep_delivered,
                                                    limit=self._prune_batch)
        if pruned:
            log.info("recovery: deleted %d delivered rows older than %s", pruned, self._keep_delivered)
        return pruned

    async def _finish(self, pending: Resumable) -> None:
        too_old = datetime.now(UTC) - pending.created_at > self._max_age
        log.warning("recovery: resuming an accepted %s message %d that was not delivered (%s)",
                    pending.msg.platform, pending.turn.message_id, "apology" if too_old else "answer")
        try:
            await self._resumers[pending.msg.platform].resume(pending, apologise=too_old)
        except LeaseLostError:  # taken over by another pass while answering: it is that pass's to deliver
            return
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
                await self.prune()
            except DatabaseUnavailableError as exc:
                log.warning("recovery: pass skipped: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval_s)

    def stop(self) -> None:
        """No further pass starts; the one running finishes (the adapters' drain waits for it)."""
        self._stop.set()
