"""The memory store's hot path on PostgreSQL: today's sync SQLAlchemy in threads, and SQLAlchemy's async engine
(asyncpg, psycopg 3) doing the same statements, side by side. It decides whether an async PostgreSQL path pays.

Usage, from the project checkout (the async drivers are not Switchboard dependencies: install them for this
measurement, e.g. `.venv/bin/pip install --target /tmp/bench-deps asyncpg==0.32.0 psycopg==3.3.9
psycopg-binary==3.3.9 greenlet==3.5.6` (SQLAlchemy's asyncio needs greenlet) and run with
`PYTHONPATH=/tmp/bench-deps`; a driver that is missing is left out):
    .venv/bin/python bench/bench_store.py [--messages 400] [--rounds 3] [--concurrency 1,50]

One "message" is what the pipeline does with the database for an answered message: `add_user_turn` (claims the
delivery id, finds or creates the conversation, stores the turn: one transaction), `history` (the last 20 turns)
and `record_decision`. At concurrency C, C tasks run messages one after the other on the event loop, spread over
100 conversations. Figures: messages per second and the per-message latency (median, p99), medians over `--rounds`
rounds, each round on emptied tables; the two paths alternate round by round so the machine's load hits both.
"CPU ms/msg" is the client process's CPU time (all its threads) per message: the figure a loaded machine
disturbs least (wall-clock figures on a busy machine favour the path with more runnable threads).

- sync: `bot.memory.store.SqlMemoryStore` as serve uses it (psycopg2, 8 worker threads, SQLAlchemy's pool);
- async: the same SQL through `sqlalchemy.ext.asyncio`, 8 pooled connections (as many as the sync path has
  threads), no threads: with asyncpg, and with psycopg 3's asyncio support.

The PostgreSQL server is a throw-away one started from Debian's binaries (`tests/postgres.py`), on loopback
with fsync off: these are CPU and round-trip costs, not disk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.exc import IntegrityError  # noqa: E402

from bot.memory.models import Conversation, Decision, Message, ProcessedEvent  # noqa: E402
from bot.memory.store import DB_THREADS, SqlMemoryStore, build_memory_store  # noqa: E402
from bot.types import ChatMessage  # noqa: E402
from tests.postgres import running_postgres  # noqa: E402

THREADS = 100
HISTORY = 20


def _msg(n: int) -> ChatMessage:
    return ChatMessage(platform="slack", tenant="T1", channel="C1", thread=f"t{n % THREADS}", user=f"U{n % 37}",
                       text=f"message {n}: can you summarise the meeting notes from Tuesday?", event_id=f"Ev{n}")


def _decision(conversation_id: int, message_id: int) -> Decision:
    return Decision(conversation_id=conversation_id, message_id=message_id, platform="slack", tenant="T1",
                    channel="C1", user="U1", policy_version=1, task="summarization", strategy="task",
                    model="mistral/mistral-small-latest", region="eu", reason="bench", prompt_tokens=120,
                    completion_tokens=80, cost_usd=0.0001, latency_ms=850.0, outcome="answered")


class SyncPath:
    name = "sync (threads)"

    def __init__(self, url: str) -> None:
        self.store: SqlMemoryStore = build_memory_store(url)

    async def message(self, n: int) -> None:
        turn = await self.store.add_user_turn(_msg(n), event_key=f"slack:T1:{n}")
        assert turn is not None
        await self.store.history(turn.conversation.id, limit=HISTORY, before=turn.message_id)
        await self.store.record_decision(_decision(turn.conversation.id, turn.message_id))

    async def close(self) -> None:
        self.store.engine.dispose()


class AsyncPath:
    """The same statements as SqlMemoryStore's add_user_turn, history and record_decision, on an AsyncEngine."""

    driver = "asyncpg"
    name = "async (asyncpg)"

    def __init__(self, url: str) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        self.engine = create_async_engine(url.replace("postgresql+psycopg2:", f"postgresql+{self.driver}:"),
                                          pool_size=DB_THREADS, max_overflow=0)

    async def message(self, n: int) -> None:
        try:
            conv_id, message_id = await self._add_user_turn(n)
        except IntegrityError:  # another task created the conversation just now: once more, it exists
            conv_id, message_id = await self._add_user_turn(n)
        async with self.engine.connect() as db:  # history
            rows = (await db.execute(select(Message.role, Message.text).where(
                Message.conversation_id == conv_id, Message.id < message_id)
                .order_by(Message.id.desc()).limit(HISTORY))).all()
            assert len(rows) <= HISTORY
        decision = _decision(conv_id, message_id)
        values = {c.name: getattr(decision, c.name) for c in Decision.__table__.columns if c.name != "id"}
        async with self.engine.begin() as db:  # record_decision
            (await db.execute(insert(Decision).values(**values).returning(Decision.id))).scalar_one()

    async def _add_user_turn(self, n: int) -> tuple[int, int]:
        msg, now = _msg(n), datetime.now(UTC)
        async with self.engine.begin() as db:  # one transaction, as SqlMemoryStore.add_user_turn
            await db.execute(insert(ProcessedEvent).values(event_key=f"slack:T1:{n}", created_at=now))
            found = (await db.execute(select(Conversation.id).where(
                Conversation.platform == msg.platform, Conversation.tenant == msg.tenant,
                Conversation.channel == msg.channel, Conversation.thread == msg.thread))).first()
            if found is None:
                conv_id = (await db.execute(insert(Conversation).values(
                    platform=msg.platform, tenant=msg.tenant, channel=msg.channel, thread=msg.thread, user=msg.user,
                    pii_seen=False, created_at=now, updated_at=now).returning(Conversation.id))).scalar_one()
            else:
                conv_id = int(found[0])
            message_id = (await db.execute(insert(Message).values(
                conversation_id=conv_id, role="user", platform=msg.platform, tenant=msg.tenant, user=msg.user,
                text=msg.text, created_at=now).returning(Message.id))).scalar_one()
        return conv_id, message_id

    async def close(self) -> None:
        await self.engine.dispose()


class PsycopgAsyncPath(AsyncPath):
    driver = "psycopg"  # psycopg 3's own asyncio support
    name = "async (psycopg3)"


def _empty(url: str) -> None:
    store = build_memory_store(url)
    with store.engine.begin() as conn:
        conn.execute(text("TRUNCATE decision, message, conversation, processedevent RESTART IDENTITY CASCADE"))
    store.engine.dispose()


async def _round(path: Any, *, messages: int, concurrency: int) -> tuple[float, float, list[float]]:
    latencies: list[float] = []
    counter = iter(range(messages))

    async def worker() -> None:
        for n in counter:
            started = time.perf_counter()
            await path.message(n)
            latencies.append(time.perf_counter() - started)

    await path.message(10**6)  # connections and statement caches warm
    latencies.clear()
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu_ms = (time.process_time() - cpu) / messages * 1000  # this process's CPU (all threads), not the server's
    return messages / (time.perf_counter() - started), cpu_ms, latencies


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main_async(args: argparse.Namespace, url: str) -> None:
    store = build_memory_store(url)
    await store.create_schema()
    store.engine.dispose()
    makers: list[Callable[[str], Any]] = [SyncPath]
    for module, path in (("asyncpg", AsyncPath), ("psycopg", PsycopgAsyncPath)):
        try:
            __import__(module)
            __import__("greenlet")
        except ImportError:
            print(f"{module} or greenlet is not installed: {path.name} is not measured")
        else:
            makers.append(path)
    results: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {}
    for concurrency in args.concurrency:
        for r in range(args.rounds):
            for make in makers if r % 2 == 0 else list(reversed(makers)):
                _empty(url)
                path = make(url)
                try:
                    rate, cpu_ms, lat = await _round(path, messages=args.messages, concurrency=concurrency)
                finally:
                    await path.close()
                results.setdefault((path.name, concurrency), []).append(
                    (rate, statistics.median(lat) * 1000, _p(lat, 0.99) * 1000, cpu_ms))
            print(f"concurrency {concurrency}: round {r + 1}/{args.rounds} done", file=sys.stderr)
    _report(results, [m.name for m in makers], args)


def _report(results: dict[tuple[str, int], list[tuple[float, float, float, float]]], names: list[str],
            args: argparse.Namespace) -> None:
    print(f"\nmemory store on PostgreSQL (loopback, fsync off): {args.messages} messages per round, median of "
          f"{args.rounds} rounds; one message = add_user_turn + history + record_decision; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'concurrency':>11}  {'path':<16} {'msg/s':>8} {'median ms':>10} {'p99 ms':>8} {'CPU ms/msg':>11}")
    for concurrency in args.concurrency:
        rates = {}
        for name in names:
            rows = results[(name, concurrency)]
            rate = statistics.median(r[0] for r in rows)
            rates[name] = rate
            print(f"{concurrency:>11}  {name:<16} {rate:>8.0f} {statistics.median(r[1] for r in rows):>10.2f} "
                  f"{statistics.median(r[2] for r in rows):>8.2f} {statistics.median(r[3] for r in rows):>11.2f}")
        for name in names[1:]:
            print(f"{concurrency:>11}  {name.removeprefix('async '):<16} {rates[name] / rates[names[0]]:>8.2f}x "
                  "the sync path's messages per second")


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=400, help="messages per round (default 400)")
    p.add_argument("--rounds", type=int, default=3, help="rounds per path and concurrency (default 3)")
    p.add_argument("--concurrency", type=lambda v: [int(x) for x in v.split(",")], default=[1, 50],
                   help="comma-separated concurrency levels (default 1,50)")
    return p.parse_args()


def main() -> None:
    args = _parse()
    with running_postgres() as server:
        if server is None:
            sys.exit("PostgreSQL server binaries not found (apt-get install postgresql)")
        asyncio.run(main_async(args, server.url))


if __name__ == "__main__":
    main()
