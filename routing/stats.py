"""Live per-model statistics for dynamic routing: latency percentiles, error rate, in-flight load.

Lock-free (one event loop): every provider attempt is recorded here by `complete_with_fallbacks`.
The decision records in the database hold the long-term KPIs; these numbers are the last few
minutes' view that the dynamic strategy scores candidates on.

Across replicas (`exchange`): each replica publishes its own per-model windows to a shared store
(`bot.shared_state`) and reads the others' at most every `sync_s`, in a background task started from
the recording calls; `snapshot` merges them from memory, so routing never waits for a round trip.
When the store fails, the local view goes on alone (a warning once per outage).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ModelLive:
    """A snapshot of one model's recent behaviour; `samples == 0` means nothing is known yet."""

    model: str
    samples: int
    p50_ms: float
    p95_ms: float
    error_rate: float
    in_flight: int


@dataclass(slots=True)
class _Window:
    outcomes: deque[tuple[float, float, bool]]  # (when, latency_ms, ok)
    in_flight: int = 0


class AttemptObserver(Protocol):
    """Told of every provider attempt as `LiveStats` is (e.g. `bot.metrics.PrometheusMetrics`)."""

    def started(self, model_id: str) -> None: ...
    def finished(self, model_id: str, *, latency_ms: float, ok: bool) -> None: ...
    def abandoned(self, model_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ReplicaWindow:
    """One replica's recent attempts at one model, as published for the other replicas."""

    replica: str
    model: str
    published_at: float  # wall clock (time.time())
    outcomes: tuple[tuple[float, float, bool], ...]  # (wall-clock time, latency_ms, ok), oldest first
    in_flight: int


class StatsExchange(Protocol):
    """A store the replicas share their windows through (`bot.shared_state`)."""

    async def publish(self, windows: Sequence[ReplicaWindow]) -> None: ...
    async def fetch(self, *, since: float) -> list[ReplicaWindow]:
        """Every replica's windows published at or after `since` (wall clock)."""
        ...


class LiveStats:
    """Rolling window (by count and age) of attempts per model; `observer` hears of each attempt too.
    With `exchange` the windows of the other replicas count too (see the module docstring)."""

    def __init__(self, *, window: int = 200, max_age_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, observer: AttemptObserver | None = None,
                 exchange: StatsExchange | None = None, sync_s: float = 1.0, replica: str | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self._observer = observer
        self._windows: dict[str, _Window] = {}
        self._size = window
        self._max_age_s = max_age_s
        self._clock = clock
        self._exchange = exchange
        self._sync_s = sync_s
        self.replica = replica or uuid.uuid4().hex[:12]
        self._wall = wall
        self._remote: dict[str, list[ReplicaWindow]] = {}
        self._dirty: set[str] = set()
        self._last_sync = float("-inf")
        self._syncing: asyncio.Task[None] | None = None
        self._failing = False

    def _window(self, model_id: str) -> _Window:
        found = self._windows.get(model_id)
        if found is None:
            found = self._windows[model_id] = _Window(deque(maxlen=self._size))
        return found

    def started(self, model_id: str) -> None:
        self._window(model_id).in_flight += 1
        self._changed(model_id)
        if self._observer is not None:
            self._observer.started(model_id)

    def finished(self, model_id: str, *, latency_ms: float, ok: bool) -> None:
        w = self._window(model_id)
        w.in_flight = max(0, w.in_flight - 1)
        w.outcomes.append((self._clock(), latency_ms, ok))
        self._changed(model_id)
        if self._observer is not None:
            self._observer.finished(model_id, latency_ms=latency_ms, ok=ok)

    def abandoned(self, model_id: str) -> None:
        """The attempt never reached the provider (e.g. no credentials): no sample."""
        w = self._window(model_id)
        w.in_flight = max(0, w.in_flight - 1)
        self._changed(model_id)
        if self._observer is not None:
            self._observer.abandoned(model_id)

    def snapshot(self, model_id: str) -> ModelLive:
        w = self._window(model_id)
        now = self._clock()
        cutoff = now - self._max_age_s
        while w.outcomes and w.outcomes[0][0] < cutoff:
            w.outcomes.popleft()
        outcomes: list[tuple[float, float, bool]] = list(w.outcomes)
        in_flight = w.in_flight
        if self._exchange is not None:
            self._maybe_sync()
            wall_now = self._wall()
            for other in self._remote.get(model_id, ()):
                # their wall-clock times on our clock: only the age matters
                outcomes += [(now - (wall_now - at), ms, ok) for at, ms, ok in other.outcomes]
                if wall_now - other.published_at <= 3 * self._sync_s + 1:  # a replica gone quiet is not busy
                    in_flight += other.in_flight
            outcomes = sorted(o for o in outcomes if o[0] >= cutoff)[-self._size:]
        if not outcomes:
            return ModelLive(model_id, 0, 0.0, 0.0, 0.0, in_flight)
        # failures count for the error rate but not for latency (a fast 503 is not a fast model)
        lat = sorted(ms for _, ms, ok in outcomes if ok)
        errors = sum(not ok for _, _, ok in outcomes)
        return ModelLive(model=model_id, samples=len(outcomes), p50_ms=_pct(lat, 0.50), p95_ms=_pct(lat, 0.95),
                         error_rate=errors / len(outcomes), in_flight=in_flight)

    # --- sharing with other replicas ------------------------------------------------------------

    def _changed(self, model_id: str) -> None:
        if self._exchange is not None:
            self._dirty.add(model_id)
            self._maybe_sync()

    def _maybe_sync(self) -> None:
        if self._syncing is not None or self._clock() - self._last_sync < self._sync_s:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a thread, the CLI's dry run): the local view only
            return
        self._last_sync = self._clock()
        self._syncing = loop.create_task(self.sync())
        self._syncing.add_done_callback(lambda _: setattr(self, "_syncing", None))

    async def sync(self) -> None:
        """Publish this replica's changed windows and take the others'; never raises."""
        assert self._exchange is not None
        now, wall_now = self._clock(), self._wall()
        mine = [ReplicaWindow(replica=self.replica, model=m, published_at=wall_now, in_flight=w.in_flight,
                              outcomes=tuple((wall_now - (now - at), ms, ok) for at, ms, ok in w.outcomes))
                for m in sorted(self._dirty) if (w := self._windows.get(m)) is not None]
        self._dirty.clear()
        try:
            if mine:
                await self._exchange.publish(mine)
            found = await self._exchange.fetch(since=wall_now - self._max_age_s)
        except Exception as exc:  # statistics are an optimisation: never fail an answer for them
            self._dirty.update(w.model for w in mine)
            if not self._failing:
                log.warning("live statistics: the shared store failed (%s: %s); routing on this replica's own "
                            "view until it answers", type(exc).__name__, exc)
            self._failing = True
            return
        if self._failing:
            log.warning("live statistics: the shared store answers again")
        self._failing = False
        remote: dict[str, list[ReplicaWindow]] = {}
        for other in found:
            if other.replica != self.replica:
                remote.setdefault(other.model, []).append(other)
        self._remote = remote

    async def aclose(self) -> None:
        if self._syncing is not None:
            self._syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncing


def _pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
