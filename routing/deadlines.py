"""Time bounds of provider calls.

`CallLimits` carries one answer's per-attempt timeouts (the policy's `deadlines`) and the moment
its provider work must end, on the event loop's clock; every call made for that answer (retries,
fallbacks, cascade tiers, ensemble members, judge, verifier) shares it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from routing.policy import Deadlines


@dataclass(frozen=True, slots=True, kw_only=True)
class CallLimits:
    connect_s: float
    first_token_s: float
    stall_s: float
    ends_at: float  # event-loop time (`loop.time()`) after which no attempt may run

    @classmethod
    def until(cls, deadlines: Deadlines, ends_at: float) -> CallLimits:
        return cls(connect_s=deadlines.connect_s, first_token_s=deadlines.first_token_s,
                   stall_s=deadlines.stall_s, ends_at=ends_at)

    @classmethod
    def starting_now(cls, deadlines: Deadlines) -> CallLimits:
        """The policy's limits with the whole `total_s` from now (direct calls outside a strategy)."""
        return cls.until(deadlines, asyncio.get_running_loop().time() + deadlines.total_s)

    def remaining(self) -> float:
        return self.ends_at - asyncio.get_running_loop().time()

    def clip(self, at: float) -> float:
        """`at`, or the end of the answer's time when that comes first."""
        return min(at, self.ends_at)
