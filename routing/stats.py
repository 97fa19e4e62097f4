"""Live per-model statistics for dynamic routing: latency percentiles, error rate, in-flight load.

In-process and lock-free (one event loop): every provider attempt is recorded here by
`complete_with_fallbacks`. The decision records in the database hold the long-term KPIs; these
numbers are the last few minutes' view that the dynamic strategy scores candidates on.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


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


class LiveStats:
    """Rolling window (by count and age) of attempts per model; `observer` hears of each attempt too."""

    def __init__(self, *, window: int = 200, max_age_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, observer: AttemptObserver | None = None) -> None:
        self._observer = observer
        self._windows: dict[str, _Window] = {}
        self._size = window
        self._max_age_s = max_age_s
        self._clock = clock

    def _window(self, model_id: str) -> _Window:
        found = self._windows.get(model_id)
        if found is None:
            found = self._windows[model_id] = _Window(deque(maxlen=self._size))
        return found

    def started(self, model_id: str) -> None:
        self._window(model_id).in_flight += 1
        if self._observer is not None:
            self._observer.started(model_id)

    def finished(self, model_id: str, *, latency_ms: float, ok: bool) -> None:
        w = self._window(model_id)
        w.in_flight = max(0, w.in_flight - 1)
        w.outcomes.append((self._clock(), latency_ms, ok))
        if self._observer is not None:
            self._observer.finished(model_id, latency_ms=latency_ms, ok=ok)

    def abandoned(self, model_id: str) -> None:
        """The attempt never reached the provider (e.g. no credentials): no sample."""
        w = self._window(model_id)
        w.in_flight = max(0, w.in_flight - 1)
        if self._observer is not None:
            self._observer.abandoned(model_id)

    def snapshot(self, model_id: str) -> ModelLive:
        w = self._window(model_id)
        cutoff = self._clock() - self._max_age_s
        while w.outcomes and w.outcomes[0][0] < cutoff:
            w.outcomes.popleft()
        if not w.outcomes:
            return ModelLive(model_id, 0, 0.0, 0.0, 0.0, w.in_flight)
        # failures count for the error rate but not for latency (a fast 503 is not a fast model)
        lat = sorted(ms for _, ms, ok in w.outcomes if ok)
        errors = sum(not ok for _, _, ok in w.outcomes)
        return ModelLive(model=model_id, samples=len(w.outcomes), p50_ms=_pct(lat, 0.50), p95_ms=_pct(lat, 0.95),
                         error_rate=errors / len(w.outcomes), in_flight=w.in_flight)


def _pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
