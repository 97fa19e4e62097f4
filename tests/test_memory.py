"""SqlMemoryStore against real SQL: SQLite in memory, and PostgreSQL when its binaries exist."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from bot.errors import DatabaseUnavailableError
from bot.memory.models import Decision, Message
from bot.memory.store import SqlMemoryStore, build_memory_store
from bot.types import ChatMessage, Identity
from tests.postgres import PostgresServer


def who(user: str, *, platform: str = "slack", tenant: str = "T1") -> Identity:
    return Identity(platform, tenant, user)


def chat(user: str = "U1", thread: str = "t1") -> ChatMessage:
    return ChatMessage(platform="slack", tenant="T1", channel="C1", thread=thread, user=user, text="hi")


async def test_conversation_is_created_once_even_concurrently(store: SqlMemoryStore) -> None:
    refs = await asyncio.gather(*[store.conversation(chat()) for _ in range(8)])
    assert len({r.id for r in refs}) == 1


async def test_history_keeps_order_and_limit(store: SqlMemoryStore) -> None:
    conv = await store.conversation(chat())
    for i in range(5):
        await store.add_message(conv.id, role="user" if i % 2 == 0 else "assistant", user=who("U1"), text=f"m{i}")
    turns = await store.history(conv.id, limit=3)
    assert [t.text for t in turns] == ["m2", "m3", "m4"]


async def test_event_claimed_once(store: SqlMemoryStore) -> None:
    results = await asyncio.gather(*[store.claim_event("slack:T1:Ev42") for _ in range(6)])
    assert sorted(results) == [False] * 5 + [True]


async def test_pii_flag_sticks(store: SqlMemoryStore) -> None:
    conv = await store.conversation(chat())
    await store.mark_pii(conv.id)
    assert (await store.conversation(chat())).pii_seen


async def test_forget_erases_only_the_callers_data(store: SqlMemoryStore) -> None:
    mine = await store.conversation(chat(user="U1", thread="a"))
    theirs = await store.conversation(chat(user="U2", thread="b"))
    m1 = await store.add_message(mine.id, role="user", user=who("U1"), text="my secret")
    await store.add_message(mine.id, role="assistant", user=who("U1"), text="answer to U1")
    await store.add_message(theirs.id, role="user", user=who("U2"), text="their text")
    d1 = await store.record_decision(Decision(conversation_id=mine.id, message_id=m1, platform="slack", tenant="T1",
                                              channel="C1", user="U1", model="m"))
    assert await store.add_feedback(decision_id=d1, user=who("U1"), score=1)
    await store.record_decision(Decision(conversation_id=theirs.id, platform="slack", tenant="T1", channel="C1",
                                         user="U2", model="m"))
    assert await store.forget_user(who("U1")) == 2
    assert await store.history(mine.id, limit=10) == []
    assert [t.text for t in await store.history(theirs.id, limit=10)] == ["their text"]
    assert await store.last_decision(platform="slack", tenant="T1", channel="C1", user=who("U1")) is None
    assert await store.last_decision(platform="slack", tenant="T1", channel="C1", user=who("U2")) is not None


async def test_policy_version_numbers_are_unique(store: SqlMemoryStore) -> None:
    assert await store.save_policy(version=1, body="a: 1", author="x")
    assert not await store.save_policy(version=1, body="a: 2", author="y")
    latest = await store.latest_policy()
    assert latest is not None and latest.body == "a: 1"


async def test_kpi_records_carry_outcomes_and_votes(store: SqlMemoryStore) -> None:
    ids = []
    for i, outcome in enumerate(["answered", "answered", "failed", "answered"]):
        ids.append(await store.record_decision(Decision(model="mistral/x", outcome=outcome, latency_ms=100 * (i + 1),
                                                        cost_usd=0.01, fallback=i == 3, platform="slack",
                                                        tenant="T1", channel="C1", prompt_tokens=3,
                                                        completion_tokens=4)))
    await store.add_feedback(decision_id=ids[0], user=who("U1"), score=1)
    await store.add_feedback(decision_id=ids[1], user=who("U1"), score=-1)
    await store.add_feedback(decision_id=ids[1], user=who("U1"), score=1)  # a changed vote replaces the old one
    await store.add_feedback(decision_id=ids[1], user=who("U2"), score=-1)
    assert not await store.add_feedback(decision_id=99999, user=who("U1"), score=1)
    now = datetime.now(UTC)
    records = await store.kpi_records(since=now - timedelta(days=1), until=now + timedelta(seconds=1))
    assert [(r.outcome, r.latency_ms, r.fallback, r.up, r.down) for r in records] == [
        ("answered", 100, False, 1, 0), ("answered", 200, False, 1, 1), ("failed", 300, False, 0, 0),
        ("answered", 400, True, 0, 0)]
    assert {(r.model, r.team, r.tokens, r.cost_usd) for r in records} == {("mistral/x", "slack:T1:C1", 7, 0.01)}
    assert await store.kpi_records(since=now - timedelta(days=2), until=now - timedelta(days=1)) == []


async def test_a_delivery_is_claimed_and_stored_once(store: SqlMemoryStore) -> None:
    msg = chat()
    turns = await asyncio.gather(*[store.add_user_turn(msg, event_key="slack:T1:Ev7") for _ in range(6)])
    [turn] = [t for t in turns if t is not None]
    assert [t.text for t in await store.history(turn.conversation.id, limit=10)] == ["hi"]
    assert await store.history(turn.conversation.id, limit=10, before=turn.message_id) == []


async def test_a_turn_stored_before_the_ack_carries_its_identity(store: SqlMemoryStore) -> None:
    slack = await store.add_user_turn(chat(user="U1"), event_key="slack:T1:Ev8")
    teams = await store.add_user_turn(ChatMessage(platform="teams", tenant="aad-1", channel="a:1", thread="a:1",
                                                  user="U1", text="hi"), event_key="teams:aad-1:a:1/m1")
    assert slack is not None and teams is not None
    with Session(store.engine) as s:
        assert sorted((m.platform, m.tenant, m.user) for m in s.exec(select(Message)).all()) == [
            ("slack", "T1", "U1"), ("teams", "aad-1", "U1")]
    assert await store.forget_user(who("U1", platform="teams", tenant="aad-1")) == 1
    assert [t.text for t in await store.history(slack.conversation.id, limit=5)] == ["hi"]


async def test_a_database_outage_keeps_nothing_and_raises_one_error(pg: PostgresServer) -> None:
    store = build_memory_store(pg.url)
    await store.create_schema()
    before = await store.add_user_turn(chat(), event_key="slack:T1:Ev1")
    assert before is not None
    pg.stop()
    with pytest.raises(DatabaseUnavailableError, match="does not answer"):
        await store.add_user_turn(chat(), event_key="slack:T1:Ev2")
    with pytest.raises(DatabaseUnavailableError):
        await store.latest_policy()
    pg.start()
    retried = await store.add_user_turn(chat(), event_key="slack:T1:Ev2")
    assert retried is not None and retried.conversation == before.conversation
    assert await store.add_user_turn(chat(), event_key="slack:T1:Ev2") is None
    assert [t.text for t in await store.history(before.conversation.id, limit=10)] == ["hi", "hi"]
    store.engine.dispose()
