"""Accepted messages that were never answered are resumed exactly once, by one of the replicas sharing
the database (SQLite file or PostgreSQL), and never while their own replica still holds the lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from bot.memory.models import Message, PendingDelivery
from bot.memory.store import Lease, Resumable, SqlMemoryStore, build_memory_store
from bot.recovery import DeliveryRecovery
from bot.types import ChatMessage
from tests.postgres import PostgresServer

REPLICAS = 4


@dataclass
class RecordingResumer:
    """A platform that records what it is asked to finish (slowly, so passes overlap)."""

    platform: str = "slack"
    resumed: list[tuple[str, bool]] = field(default_factory=list)
    fail: bool = False

    async def resume(self, pending: Resumable, *, apologise: bool) -> None:
        await asyncio.sleep(0.05)
        if self.fail:
            raise ConnectionError("the platform is down")
        self.resumed.append((pending.msg.text, apologise))


@pytest.fixture(params=["sqlite", "postgresql"])
async def url(request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgresServer | None) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    if postgres is None:
        pytest.skip("PostgreSQL server binaries not installed (.ci/run installs them)")
    yield postgres.url
    engine = build_memory_store(postgres.url).engine
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE pendingdelivery, message, conversation, processedevent RESTART IDENTITY CASCADE"))
    engine.dispose()


async def replicas(url: str) -> list[SqlMemoryStore]:
    stores = [build_memory_store(url) for _ in range(REPLICAS)]  # an engine each: separate connections
    for store in stores:
        await store.create_schema()
    return stores


def chat(text_: str) -> ChatMessage:
    return ChatMessage(platform="slack", tenant="T1", channel="D1", thread=f"1700000000.{abs(hash(text_)) % 10**6}",
                       user="U1", text=text_, event_id=f"Ev-{text_}")


def recovery(store: SqlMemoryStore, resumer: RecordingResumer, *, max_age_s: float = 600.0) -> DeliveryRecovery:
    return DeliveryRecovery(memory=store, resumers=[resumer], lease=Lease(owner=f"r{id(resumer)}", seconds=60),
                            max_age_s=max_age_s)


async def test_replicas_resume_an_orphaned_message_exactly_once(url: str) -> None:
    stores = await replicas(url)
    try:
        dead = Lease(owner="dead-replica", seconds=0)  # its process died: the lease is over at once
        for n in range(3):
            assert await stores[0].add_user_turn(chat(f"orphan {n}"), event_key=f"k{n}", lease=dead)
        alive = Lease(owner="live-replica", seconds=60)  # still being answered by its replica
        assert await stores[0].add_user_turn(chat("in progress"), event_key="k-live", lease=alive)
        await asyncio.sleep(0.01)
        resumers = [RecordingResumer() for _ in stores]
        await asyncio.gather(*(recovery(s, r).run_once() for s, r in zip(stores, resumers, strict=True)))
        resumed = sorted(item for r in resumers for item in r.resumed)
        assert resumed == [("orphan 0", False), ("orphan 1", False), ("orphan 2", False)]
        # delivered now: later passes find nothing, and the live replica's message stays its own
        again = [RecordingResumer() for _ in stores]
        assert sum(await asyncio.gather(*(recovery(s, r).run_once() for s, r in zip(stores, again, strict=True)))) == 0
        with Session(stores[0].engine) as s:
            states = sorted((r.state, r.owner) for r in s.exec(select(PendingDelivery)).all())
        assert states == [("delivered", ""), ("delivered", ""), ("delivered", ""), ("pending", "live-replica")]
    finally:
        for store in stores:
            store.engine.dispose()


async def test_a_failed_resume_is_retried_and_an_old_message_gets_an_apology(url: str) -> None:
    stores = await replicas(url)
    try:
        assert await stores[0].add_user_turn(chat("late"), event_key="k", lease=Lease(owner="dead", seconds=0))
        await asyncio.sleep(0.01)
        down = RecordingResumer(fail=True)
        assert await recovery(stores[0], down).run_once() == 1  # taken, not delivered: the lease will run out
        up = RecordingResumer()
        short = DeliveryRecovery(memory=stores[1], resumers=[up], lease=Lease(owner="b", seconds=60), max_age_s=0)
        assert await short.run_once() == 0  # leased by the failed pass for 60 s
        with stores[1].engine.begin() as conn:  # that lease runs out
            conn.execute(text("UPDATE pendingdelivery SET lease_until = created_at"))
        assert await short.run_once() == 1
        assert up.resumed == [("late", True)]  # older than max_age_s: an apology, not an answer
    finally:
        for store in stores:
            store.engine.dispose()


async def test_a_lease_is_renewed_only_by_its_own_holder(url: str) -> None:
    stores = await replicas(url)
    try:
        mine = Lease(owner="answering-replica", seconds=0)
        turn = await stores[0].add_user_turn(chat("slow one"), event_key="k", lease=mine)
        assert turn is not None
        await asyncio.sleep(0.01)
        assert await stores[1].renew_lease(turn.message_id, Lease(owner="someone-else", seconds=60)) is False
        # the holder renews it before anyone claimed it: no recovery pass takes it now
        assert await stores[0].renew_lease(turn.message_id, Lease(owner="answering-replica", seconds=60)) is True
        assert await recovery(stores[1], RecordingResumer()).run_once() == 0
        # its lease runs out after all (the database was out of reach): a pass takes it, with a token of its own
        with stores[1].engine.begin() as conn:
            conn.execute(text("UPDATE pendingdelivery SET lease_until = created_at"))
        [taken] = await stores[1].claim_pending(lease=Lease(owner="pass", seconds=60), platforms=["slack"])
        assert taken.lease.owner.startswith("pass/") and taken.lease.seconds == 60
        assert await stores[0].renew_lease(turn.message_id, mine) is False  # the old holder learns it lost it
        assert await stores[2].renew_lease(turn.message_id, Lease(owner="pass", seconds=60)) is False
        assert await stores[1].renew_lease(turn.message_id, taken.lease) is True
        await stores[1].mark_delivered(turn.message_id)
        assert await stores[1].renew_lease(turn.message_id, taken.lease) is False  # delivered: nothing to hold
        await stores[1].forget_user(chat("x").identity)
        assert await stores[1].renew_lease(turn.message_id, taken.lease) is None  # forgotten: gone
    finally:
        for store in stores:
            store.engine.dispose()


async def test_two_claims_by_one_replica_hold_different_tokens(url: str) -> None:
    stores = await replicas(url)
    try:
        for n in range(2):
            assert await stores[0].add_user_turn(chat(f"orphan {n}"), event_key=f"k{n}",
                                                 lease=Lease(owner="dead", seconds=0))
        await asyncio.sleep(0.01)
        taken = await stores[1].claim_pending(lease=Lease(owner="pass", seconds=60), platforms=["slack"])
        assert len({t.lease.owner for t in taken}) == 2
        with Session(stores[0].engine) as s:
            assert sorted(r.owner for r in s.exec(select(PendingDelivery)).all()) == sorted(t.lease.owner
                                                                                          for t in taken)
    finally:
        for store in stores:
            store.engine.dispose()


async def test_delivered_rows_older_than_a_week_are_pruned_a_batch_at_a_time(url: str) -> None:
    stores = await replicas(url)
    try:
        dead = Lease(owner="dead", seconds=0)
        for n in range(5):
            assert await stores[0].add_user_turn(chat(f"old {n}"), event_key=f"k{n}", lease=dead)
        assert await stores[0].add_user_turn(chat("new"), event_key="k-new", lease=dead)
        with stores[0].engine.begin() as conn:  # five rows eight days old, four of them delivered
            conn.execute(text("UPDATE pendingdelivery SET state = 'delivered', owner = '' WHERE message_id <= 4"))
            conn.execute(text("UPDATE pendingdelivery SET lease_until = :long_ago, created_at = :long_ago "
                              "WHERE message_id <= 5"), {"long_ago": datetime.now(UTC) - timedelta(days=8)})
            conn.execute(text("UPDATE pendingdelivery SET state = 'delivered', owner = '' WHERE message_id = 6"))
        pruning = DeliveryRecovery(memory=stores[1], resumers=[RecordingResumer(fail=True)],
                                   lease=Lease(owner="p", seconds=60), max_age_s=600, prune_batch=3)
        assert await pruning.prune() == 3
        assert await pruning.prune() == 1
        assert await pruning.prune() == 0
        with Session(stores[0].engine) as s:
            left = sorted((r.message_id, r.state) for r in s.exec(select(PendingDelivery)).all())
        # the old one never delivered stays (the recovery pass finishes it), and so does the recent one
        assert left == [(5, "pending"), (6, "delivered")]
        with Session(stores[0].engine) as s:  # the messages themselves are the conversation's memory: kept
            assert len(s.exec(select(Message)).all()) == 6
    finally:
        for store in stores:
            store.engine.dispose()
