"""Whether this process should be sent work: warmed up, not shutting down (the database is checked
on top by `/readyz`); and which platform requests are still in progress when it shuts down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

# what a refused platform request (warming up, shutting down, database down) tells the platform to wait
RETRY_AFTER_S = 10


class Readiness:
    """`warm` once `Services.warm_up` finished; `draining` from SIGTERM on. While either says no,
    the app answers platform requests with 503 + Retry-After (Slack delivers them again later, to a
    ready replica; Bot Framework as it sees fit) and `/readyz` with 503."""

    def __init__(self) -> None:
        self.warm = False
        self.draining = False
        self._requests: set[asyncio.Task[object]] = set()

    def problem(self) -> str | None:
        """Why no work should come here now ("warming up", "shutting down"); None when it may."""
        if self.draining:
            return "shutting down"
        if not self.warm:
            return "warming up"
        return None

    @contextmanager
    def request(self) -> Iterator[None]:
        """Count the current task as a platform request in progress (for `wait_for_requests`)."""
        task = asyncio.current_task()
        if task is not None:
            self._requests.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._requests.discard(task)

    @property
    def requests_in_progress(self) -> int:
        return len(self._requests)

    async def wait_for_requests(self, deadline: float) -> None:
        """Wait until no platform request is in progress, or until `deadline` (time.monotonic())."""
        while self._requests and time.monotonic() < deadline:
            await asyncio.wait(set(self._requests), timeout=deadline - time.monotonic())
