"""Budgets under concurrency: requests on two replicas (two engines on one database) race for the last
cents of a hard limit; reservations held before the call and settled after keep the overspend within one
request's estimate. On PostgreSQL (row locks) and on a SQLite file."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.memory.models import BudgetReservation, BudgetUsage, Decision
from bot.memory.store import SqlMemoryStore
from routing.budget import BudgetGuard
from tests.conftest import replica_stores
from tests.postgres import PostgresServer

USER, TEAM = "slack:T1:U1", "slack:T1:C1"
HARD_USD = 0.10
ESTIMATE_USD = 0.004


@pytest.fixture(params=["postgresql", "sqlite"])
async def replicas(request: pytest.FixtureRequest, tmp_path: Path,
                   postgres: PostgresServer | None) -> AsyncIterator[list[SqlMemoryStore]]:
    async with replica_stores(request.param, tmp_path, postgres) as stores:
        yield stores


async def _one_request(store: SqlMemoryStore, guard: BudgetGuard, rng: random.Random) -> float:
    """Reserve, "call the model", record its decision and settle; the real cost, 0 when refused."""
    held = await guard.reserve(user=USER, team=TEAM, amount_usd=ESTIMATE_USD)
    if held is None:
        return 0.0
    await asyncio.sleep(rng.uniform(0, 0.02))  # the provider call
    cost = rng.uniform(0.5, 1.0) * ESTIMATE_USD
    await store.record_decision(Decision(platform="slack", tenant="T1", channel="C1", user="U1", cost_usd=cost,
                                         outcome="answered"))
    await guard.settle(held, cost_usd=cost)
    return cost


async def test_replicas_racing_for_the_last_cents_overspend_by_at_most_one_estimate(
        replicas: list[SqlMemoryStore]) -> None:
    await replicas[0].set_budget(scope="user", key=USER, soft_usd=None, hard_usd=HARD_USD, author="admin")
    await replicas[1].set_budget(scope="team", key=TEAM, soft_usd=None, hard_usd=1.0, author="admin")
    await replicas[0].record_decision(Decision(platform="slack", tenant="T1", channel="C1", user="U1",
                                               cost_usd=0.05, outcome="answered"))  # spent before the race
    guards = [BudgetGuard(store) for store in replicas]
    rng = random.Random(7)
    costs = await asyncio.gather(*(_one_request(replicas[i % 2], guards[i % 2], rng) for i in range(80)))
    spent = await replicas[1].spend(scope="user", key=USER, since=_month_start())
    assert spent <= HARD_USD + ESTIMATE_USD + 1e-9, f"spent {spent:.4f} of {HARD_USD}"
    # and it refused only once the estimates held filled what was left ($0.05): 13 of them fit
    admitted = sum(c > 0 for c in costs)
    assert 0.05 / ESTIMATE_USD <= admitted < 80
    with Session(replicas[0].engine) as s:
        usage = {u.scope: u for u in s.exec(select(BudgetUsage)).all()}
        assert abs(usage["user"].reserved_usd) < 1e-9 and s.exec(select(BudgetReservation)).all() == []
        assert usage["user"].spent_usd == pytest.approx(spent)  # the counter agrees with the records
        assert usage["team"].spent_usd == pytest.approx(spent)
    # what the estimates held back is free again: one after the other, requests use it up, and no more
    while (held := await guards[0].reserve(user=USER, team=TEAM, amount_usd=ESTIMATE_USD)) is not None:
        await guards[0].settle(held, cost_usd=ESTIMATE_USD)
        spent += ESTIMATE_USD
    assert HARD_USD <= spent <= HARD_USD + ESTIMATE_USD + 1e-9


async def test_a_reservation_of_a_crashed_replica_is_released_after_its_timeout(
        replicas: list[SqlMemoryStore]) -> None:
    await replicas[0].set_budget(scope="user", key=USER, soft_usd=None, hard_usd=0.01, author="admin")
    crashed = BudgetGuard(replicas[0], reservation_s=0.2)
    assert await crashed.reserve(user=USER, team=TEAM, amount_usd=0.02) is not None  # never settled
    survivor = BudgetGuard(replicas[1])
    assert await survivor.reserve(user=USER, team=TEAM, amount_usd=0.001) is None  # held by the dead one
    await asyncio.sleep(0.3)
    held = await survivor.reserve(user=USER, team=TEAM, amount_usd=0.001)
    assert held is not None
    await survivor.settle(held, cost_usd=0.0005)
    with Session(replicas[1].engine) as s:
        [usage] = s.exec(select(BudgetUsage)).all()
        assert usage.reserved_usd == pytest.approx(0.0, abs=1e-9)
        assert usage.spent_usd == pytest.approx(0.0005)


def _month_start() -> object:
    from datetime import UTC, datetime

    from routing.budget import month_start

    return month_start(datetime.now(UTC))
