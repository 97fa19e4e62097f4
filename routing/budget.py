"""Monthly budgets per user and per team: a soft limit degrades to a cheaper tier, a hard limit refuses.

Spend is the sum of `cost_usd` in the decision records (token usage × the model's price) since
the first day of the calendar month (UTC). A "team" is the channel the message came from (a Slack
channel, a Teams channel): that is what both platforms hand us for every message. Keys are
qualified like every identity, `platform:tenant:id` (`slack:T012AB:U123`, `slack:T012AB:C0GENERAL`),
so a limit never reaches the same raw id on another platform or in another tenant. Limits with the
key `*` apply to every user (or team) without a limit of its own.

Under concurrency (several requests, several replicas) a hard limit holds through reservations: before
the provider call, `BudgetGuard.reserve` holds an estimate (`estimate_usd`: the prompt's length and
`ESTIMATED_COMPLETION_TOKENS` at the chain's prices) against a per-month counter in the database, taken
atomically only while something is left (`spent + reserved < hard`); `settle` replaces it with the real
cost. So requests racing for the last cents overspend by at most one request's estimate, as long as a
real cost stays within its estimate (providers are not sent a max_tokens: a longer answer can cost more).
A reservation whose holder died is released after `reservation_s`.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Protocol

from routing.policy import Strategy
from routing.router import RoutingDecision

SCOPES: tuple[str, ...] = ("user", "team")
ANY = "*"


class BudgetLevel(IntEnum):
    OK = 0
    SOFT = 1  # over the soft limit: cheaper tier
    HARD = 2  # over the hard limit: refuse


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetLimit:
    scope: str  # user | team
    key: str  # the qualified user or channel id (platform:tenant:id), or `*` for everyone without their own limit
    soft_usd: float | None = None
    hard_usd: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetStatus:
    level: BudgetLevel = BudgetLevel.OK
    left_fraction: float | None = None  # of the tightest limit; None when no limit applies
    detail: str = ""
    limits: tuple[BudgetLimit, ...] = ()  # the limits that applied (what `BudgetGuard.reserve` holds against)

    @property
    def refused(self) -> bool:
        return self.level is BudgetLevel.HARD


class BudgetLedger(Protocol):
    """Where limits and spend come from (`SqlMemoryStore` implements it)."""

    async def budget_limits(self, *, user: str, team: str) -> list[BudgetLimit]:
        """The limits that apply: the user's and the team's own, else the `*` defaults."""
        ...

    async def spend(self, *, scope: str, key: str, since: datetime) -> float:
        """USD spent by `key` (a user or a channel) since `since`."""
        ...

    async def reserve_budget(self, *, token: str, holds: Sequence[tuple[BudgetLimit, str]], amount_usd: float,
                             since: datetime, expires_at: datetime) -> tuple[int, ...] | None:
        """Hold `amount_usd` against each (hard limit, qualified key) for the month starting `since`, all or
        none, each only while its spent + reserved is below the limit; the counters' ids, or None (refused)."""
        ...

    async def settle_budget(self, *, token: str, usage_ids: Sequence[int], cost_usd: float) -> None:
        """Release the reservations of `token` (if not released already) and count `cost_usd` as spent."""
        ...


@dataclass(frozen=True, slots=True)
class Reservation:
    """What `BudgetGuard.reserve` holds for one request; `usage_ids` empty when no hard limit applies."""

    token: str
    amount_usd: float
    usage_ids: tuple[int, ...] = ()


ESTIMATED_COMPLETION_TOKENS = 1024  # providers are sent no max_tokens: a generous answer's length
_CHARS_PER_TOKEN = 3  # a high token count for a prompt: most tokenizers average 3.5-4 characters per token


def estimate_usd(decision: RoutingDecision, messages: Sequence[Mapping[str, str]]) -> float:
    """What a request may cost before it runs: the dearest model of the chain for one answer; every model of
    the chain for an ensemble or a cascade (each may be called)."""
    prompt = sum(len(m.get("content", "")) for m in messages) // _CHARS_PER_TOKEN + 1
    costs = [m.cost(prompt, ESTIMATED_COMPLETION_TOKENS) for m in decision.chain] or [0.0]
    return sum(costs) if decision.strategy in (Strategy.ENSEMBLE, Strategy.CASCADE) else max(costs)


def month_start(now: datetime) -> datetime:
    now = now.astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def evaluate(spent: Sequence[tuple[BudgetLimit, float]]) -> BudgetStatus:
    """The strictest outcome over every applicable limit, as a pure function."""
    worst = BudgetStatus()
    left: list[float] = []
    for limit, usd in spent:
        who = f"{limit.scope} {limit.key}" if limit.key != ANY else f"every {limit.scope}"
        for cap, level in ((limit.hard_usd, BudgetLevel.HARD), (limit.soft_usd, BudgetLevel.SOFT)):
            if cap is None:
                continue
            left.append(max(0.0, 1 - usd / cap) if cap > 0 else 0.0)
            if usd >= cap and level > worst.level:
                kind = "hard" if level is BudgetLevel.HARD else "soft"
                worst = BudgetStatus(level=level, detail=f"${usd:.2f} spent of the ${cap:.2f} {kind} limit "
                                                          f"for {who} this month")
    return dataclasses.replace(worst, left_fraction=min(left) if left else None)


def degrade(decision: RoutingDecision, status: BudgetStatus) -> RoutingDecision:
    """The same request on the cheapest tier that is allowed: cheap models first, no ensemble.

    The chain is only reordered, never extended, so the privacy filter that built it still holds.
    """
    chain = sorted(decision.chain, key=lambda m: (m.tier.rank, sum(m.prices())))
    strategy = Strategy.TASK if decision.strategy in (Strategy.ENSEMBLE, Strategy.CASCADE) else decision.strategy
    return dataclasses.replace(decision, chain=tuple(chain), strategy=strategy,
                               reason=f"{decision.reason}; budget: {status.detail} → cheapest tier {chain[0].id}")


class BudgetGuard:
    """Looks up the limits and month-to-date spend for one request, and reserves its estimate."""

    def __init__(self, ledger: BudgetLedger, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 reservation_s: float = 300.0) -> None:
        self._ledger = ledger
        self._clock = clock
        self._reservation = timedelta(seconds=reservation_s)

    async def reserve(self, *, user: str, team: str, amount_usd: float,
                      status: BudgetStatus | None = None) -> Reservation | None:
        """Hold `amount_usd` against the hard limits that apply (those `status` found, else looked up); None
        when one of them has nothing left."""
        token = secrets.token_hex(16)
        found = status.limits if status is not None else await self._ledger.budget_limits(user=user, team=team)
        limits = [limit for limit in found if limit.hard_usd is not None]
        if not limits:
            return Reservation(token=token, amount_usd=amount_usd)
        now = self._clock()
        holds = [(limit, user if limit.scope == "user" else team) for limit in limits]
        ids = await self._ledger.reserve_budget(token=token, holds=holds, amount_usd=amount_usd,
                                                since=month_start(now), expires_at=now + self._reservation)
        return None if ids is None else Reservation(token=token, amount_usd=amount_usd, usage_ids=ids)

    async def settle(self, reservation: Reservation, *, cost_usd: float) -> None:
        """The request ended (answered or not): its real cost replaces its reservation."""
        if reservation.usage_ids:
            await self._ledger.settle_budget(token=reservation.token, usage_ids=reservation.usage_ids,
                                             cost_usd=cost_usd)

    async def status(self, *, user: str, team: str) -> BudgetStatus:
        limits = await self._ledger.budget_limits(user=user, team=team)
        if not limits:
            return BudgetStatus()
        since = month_start(self._clock())
        spent = []
        for limit in limits:
            key = user if limit.scope == "user" else team
            spent.append((limit, await self._ledger.spend(scope=limit.scope, key=key, since=since)))
        return dataclasses.replace(evaluate(spent), limits=tuple(limits))
