"""What sharing state across replicas adds to one request (bot.shared_state, routing.budget), per store:
in this process, a SQLite file, PostgreSQL and Redis (throw-away servers from Debian's binaries, as the
tests start them). Per request the pipeline does, on the event loop:

- cooldowns: `acquire` of the answering model (one read), `reset` after its success (free while healthy);
- live statistics: `snapshot` of each candidate for dynamic routing (memory only: a background sync);
- budgets, when a hard limit applies: `reserve` before the call and `settle` after (database only);
- the vault, only for pseudonymised requests: `load` (+ `add` when new values appear).

Run: PYTHONPATH=. LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python bench/bench_shared_state.py [N]
Prints the median and p95 in milliseconds per operation over N requests (default 300), one after the other.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.memory.store import build_memory_store
from bot.shared_state import RedisSharedState, SharedCooldowns, SqlSharedState
from privacy.pseudonymise import PseudonymVault, VaultBackend, VaultEntry
from routing.budget import BudgetGuard
from routing.providers import CooldownBoard, Cooldowns
from routing.stats import LiveStats, StatsExchange
from tests.postgres import running_postgres
from tests.redis_server import running_redis


async def _timed(n: int, op: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    times = []
    for i in range(n):
        started = time.perf_counter()
        await op(i)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


async def _row(name: str, n: int, cooldowns: CooldownBoard, exchange: StatsExchange | None, vault: VaultBackend,
               url: str | None) -> None:
    async def request_cooldowns(_: int) -> None:
        assert await cooldowns.acquire("openai/m")
        await cooldowns.reset("openai/m")

    stats = LiveStats(exchange=exchange, sync_s=1.0)
    for _ in range(200):
        stats.started("openai/m")
        stats.finished("openai/m", latency_ms=120.0, ok=True)
    if exchange is not None:
        await stats.sync()

    async def snapshot(_: int) -> None:
        for model in ("openai/a", "openai/b", "openai/m", "openai/c"):
            stats.snapshot(model)

    async def pseudonymised(i: int) -> None:
        entries = await vault.load("T", f"c{i % 20}")
        await vault.add("T", f"c{i % 20}", [VaultEntry(f"<PERSON_{len(entries) + 1}>", f"Person {i}")])

    figures = [await _timed(n, request_cooldowns), await _timed(n, snapshot), await _timed(n, pseudonymised)]
    if url is not None:
        memory = build_memory_store(url)
        await memory.create_schema()
        await memory.set_budget(scope="user", key="slack:T:U1", soft_usd=None, hard_usd=1e9, author="bench")
        guard = BudgetGuard(memory)

        async def budget(_: int) -> None:
            held = await guard.reserve(user="slack:T:U1", team="slack:T:C1", amount_usd=0.001)
            assert held is not None
            await guard.settle(held, cost_usd=0.0005)

        figures.append(await _timed(n, budget))
        memory.engine.dispose()
    else:
        figures.append((float("nan"), float("nan")))
    await stats.aclose()
    print(f"{name:<12}" + "".join(f"{p50:>9.3f} {p95:>8.3f}" for p50, p95 in figures))


async def main(n: int) -> None:
    print(f"{n} requests one after the other; ms per request, median and p95")
    print(f"{'store':<12}{'cooldowns':>18}{'stats snapshot x4':>18}{'vault load+add':>18}{'budget':>18}")
    await _row("in-process", n, Cooldowns(), None, PseudonymVault(), None)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        memory = build_memory_store(url)
        await memory.create_schema()
        sql = SqlSharedState(memory, vault_ttl_s=3600)
        await _row("sqlite file", n, SharedCooldowns(sql), sql, sql, url)
        memory.engine.dispose()
    with running_postgres() as pg:
        if pg is None:
            print("postgresql  (server binaries not installed)")
        else:
            memory = build_memory_store(pg.url)
            await memory.create_schema()
            sql = SqlSharedState(memory, vault_ttl_s=3600)
            await _row("postgresql", n, SharedCooldowns(sql), sql, sql, pg.url)
            memory.engine.dispose()
    with running_redis() as server:
        if server is None:
            print("redis       (redis-server not installed)")
        else:
            redis = RedisSharedState(server.url, vault_ttl_s=3600)
            await _row("redis", n, SharedCooldowns(redis), redis, redis, None)
            await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
