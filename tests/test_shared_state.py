"""Cooldowns, live statistics and the pseudonym vault shared by replicas (bot.shared_state): each test runs
two "replicas" (two engines on one database, or two Redis clients) on SQLite, PostgreSQL and Redis, and
the same components with the shared store down (they degrade to local state; the vault never mixes)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.commands import CommandContext, CommandProcessor
from bot.errors import SharedStateUnavailableError
from bot.memory.store import SqlMemoryStore, build_memory_store
from bot.pseudonymising import PromptPseudonymiser
from bot.shared_state import RedisSharedState, SharedCooldowns, SqlSharedState
from bot.types import ChatMessage
from privacy.engine import PrivacyEngine
from privacy.pseudonymise import PLACEHOLDER, VaultEntry
from routing.providers import Cooldowns
from routing.stats import LiveStats
from tests.conftest import ServicesFactory, replica_stores
from tests.postgres import PostgresServer

Backend = SqlSharedState | RedisSharedState


@dataclass
class Replicas:
    a: Backend
    b: Backend


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nobody listens once it is closed


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
async def replicas(request: pytest.FixtureRequest, tmp_path: Path,
                   postgres: PostgresServer | None) -> AsyncIterator[Replicas]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        a, b = RedisSharedState(url, vault_ttl_s=60), RedisSharedState(url, vault_ttl_s=60)
        yield Replicas(a, b)
        await a.aclose()
        await b.aclose()
        return
    async with replica_stores(request.param, tmp_path, postgres) as stores:
        yield Replicas(SqlSharedState(stores[0], vault_ttl_s=60), SqlSharedState(stores[1], vault_ttl_s=60))


@pytest.fixture(params=["database", "redis"])
async def down(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """A shared store that does not answer: PostgreSQL or Redis on a port nobody listens on."""
    port = _closed_port()
    if request.param == "redis":
        backend = RedisSharedState(f"redis://127.0.0.1:{port}/0", vault_ttl_s=60, timeout_s=0.5)
        yield backend
        await backend.aclose()
        return
    store = SqlMemoryStore(build_memory_store(f"postgresql+psycopg2://postgres@127.0.0.1:{port}/x").engine)
    yield SqlSharedState(store, vault_ttl_s=60)
    store.engine.dispose()


def _cooldowns(backend: Backend) -> SharedCooldowns:
    return SharedCooldowns(backend, local=Cooldowns(cooldown_s=0.4, max_cooldown_s=5.0, probe_s=60.0))


# --- cooldowns ---------------------------------------------------------------------------------------


async def test_a_cooldown_tripped_on_one_replica_is_honoured_by_the_other(replicas: Replicas) -> None:
    a, b = _cooldowns(replicas.a), _cooldowns(replicas.b)
    assert await a.acquire("m") and await b.acquire("m")
    await a.trip("m")
    assert not await b.acquire("m")  # B never failed on it: it knows from the shared store
    assert b.cooling("m") and not await a.acquire("m")
    assert await b.acquire("other")  # only that model
    await asyncio.sleep(0.5)  # the cooldown (0.4 s) ends: exactly one replica takes the probe
    assert sorted(await asyncio.gather(a.acquire("m"), b.acquire("m"))) == [False, True]
    await b.trip("m")  # the probe failed: twice as long now (0.8 s)
    await asyncio.sleep(0.5)
    assert not await a.acquire("m")
    await asyncio.sleep(0.4)
    assert await a.acquire("m")  # a's probe
    await a.reset("m")  # it answered: open for everyone
    assert await b.acquire("m") and await a.acquire("m") and not b.cooling("m")


async def test_a_retry_after_from_the_provider_holds_on_every_replica(replicas: Replicas) -> None:
    a, b = _cooldowns(replicas.a), _cooldowns(replicas.b)
    await a.trip("m", retry_after=30)
    await asyncio.sleep(0.5)  # past the 0.4 s cooldown, not past the provider's 30 s
    assert not await b.acquire("m")


async def test_cooldowns_go_on_locally_when_the_shared_store_is_down(
        down: Backend, caplog: pytest.LogCaptureFixture) -> None:
    cooldowns = _cooldowns(down)
    with caplog.at_level(logging.WARNING, logger="bot.shared_state"):
        assert await cooldowns.acquire("m")
        await cooldowns.trip("m")
        assert cooldowns.cooling("m") and not await cooldowns.acquire("m")  # the local breaker decides
        await cooldowns.reset("m")
        assert await cooldowns.acquire("m")
    warnings = [r for r in caplog.records if "shared store failed" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per request


# --- live statistics -----------------------------------------------------------------------------------


async def test_live_statistics_count_every_replicas_attempts(replicas: Replicas) -> None:
    a, b = LiveStats(exchange=replicas.a, sync_s=60), LiveStats(exchange=replicas.b, sync_s=60)
    for _ in range(10):
        a.started("m")
        a.finished("m", latency_ms=100.0, ok=True)
        b.started("m")
        b.finished("m", latency_ms=900.0, ok=False)
    b.started("m")  # one still running on B
    for stats in (a, b, a):
        await stats.sync()
    seen_by_a, seen_by_b = a.snapshot("m"), b.snapshot("m")
    assert (seen_by_a.samples, seen_by_a.error_rate, seen_by_a.in_flight) == (20, 0.5, 1)
    assert (seen_by_b.samples, seen_by_b.error_rate, seen_by_b.in_flight) == (20, 0.5, 1)
    assert seen_by_a.p50_ms == 100.0  # failures count for the error rate only
    assert LiveStats().snapshot("m").samples == 0  # a replica that does not share sees nothing of it
    await a.aclose()
    await b.aclose()


async def test_statistics_sync_in_the_background_and_snapshot_is_local(replicas: Replicas) -> None:
    a, b = LiveStats(exchange=replicas.a, sync_s=0.05), LiveStats(exchange=replicas.b, sync_s=0.05)
    a.started("m")
    a.finished("m", latency_ms=50.0, ok=True)
    deadline = time.monotonic() + 10
    while b.snapshot("m").samples == 0:  # each call only reads memory; a sync runs behind it
        assert time.monotonic() < deadline, "B never saw A's attempt"
        await asyncio.sleep(0.02)
    started = time.perf_counter()
    for _ in range(1000):
        b.snapshot("m")
    per_call_ms = (time.perf_counter() - started)  # 1000 calls: seconds == ms per call
    assert per_call_ms < 1.0, f"snapshot took {per_call_ms:.3f} ms"
    await a.aclose()
    await b.aclose()


async def test_statistics_go_on_locally_when_the_shared_store_is_down(down: Backend) -> None:
    stats = LiveStats(exchange=down, sync_s=60)
    stats.started("m")
    stats.finished("m", latency_ms=10.0, ok=True)
    await stats.sync()  # does not raise
    assert stats.snapshot("m").samples == 1


# --- the pseudonym vault ---------------------------------------------------------------------------------


def _prompt(*turns: str) -> list[dict[str, str]]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]


async def test_a_follow_up_on_another_replica_gets_the_same_placeholders(
        replicas: Replicas, privacy_engine: PrivacyEngine) -> None:
    a = PromptPseudonymiser(analyze=privacy_engine.analyze, vault=replicas.a)
    b = PromptPseudonymiser(analyze=privacy_engine.analyze, vault=replicas.b)
    first = "Email anna.kowalska@example.pl and call +48 601 234 567 about the order."
    on_a = await a.prepare(tenant="T", conversation="slack:D1:1", messages=_prompt(first))
    sent_a = on_a.messages[-1]["content"]
    assert "anna.kowalska" not in sent_a and "<EMAIL_ADDRESS_1>" in sent_a
    follow_up = "Also email jan.nowak@example.pl; and anna.kowalska@example.pl again."
    on_b = await b.prepare(tenant="T", conversation="slack:D1:1",
                           messages=_prompt(first, "Done.", follow_up))
    assert on_b.messages[0]["content"] == sent_a  # the history as A sent it
    assert "<EMAIL_ADDRESS_2>" in on_b.messages[-1]["content"]  # the new address: the next number
    assert on_b.messages[-1]["content"].count("<EMAIL_ADDRESS_1>") == 1
    assert on_b.restore("Wrote <EMAIL_ADDRESS_2> and <EMAIL_ADDRESS_1>.") == \
        "Wrote jan.nowak@example.pl and anna.kowalska@example.pl."
    other = await b.prepare(tenant="T", conversation="slack:D2:1", messages=_prompt(follow_up))
    assert "<EMAIL_ADDRESS_1>" in other.messages[0]["content"]  # another conversation numbers afresh
    assert other.restore("<EMAIL_ADDRESS_1>") == "jan.nowak@example.pl"
    assert other.restore("<EMAIL_ADDRESS_2>") == "anna.kowalska@example.pl"


async def test_replicas_racing_on_one_conversation_never_give_a_placeholder_two_values(
        replicas: Replicas, privacy_engine: PrivacyEngine) -> None:
    assert await replicas.a.add("T", "c", [VaultEntry("<PERSON_1>", "Anna Nowak")])
    assert not await replicas.b.add("T", "c", [VaultEntry("<PERSON_2>", "Jan Kowalski"),
                                               VaultEntry("<PERSON_1>", "Jan Kowalski")])  # all or nothing
    assert await replicas.b.load("T", "c") == [VaultEntry("<PERSON_1>", "Anna Nowak")]
    pseudonymisers = [PromptPseudonymiser(analyze=privacy_engine.analyze, vault=v)
                      for v in (replicas.a, replicas.b) * 3]
    addresses = [f"person{i}@example.com" for i in range(len(pseudonymisers))]
    prompts = await asyncio.gather(*(p.prepare(tenant="T", conversation="race", messages=_prompt(f"Mail {addr}"))
                                     for p, addr in zip(pseudonymisers, addresses, strict=True)))
    stored = await replicas.a.load("T", "race")
    assert len({e.placeholder for e in stored}) == len(stored)
    by_placeholder = {e.placeholder: e.value for e in stored}
    for prompt, addr in zip(prompts, addresses, strict=True):
        [placeholder] = PLACEHOLDER.findall(prompt.messages[0]["content"])
        shown = f"<{placeholder[0]}_{placeholder[1]}>"
        assert prompt.restore(shown) == addr  # each answer comes back with its own value
        if prompt.kept:  # and the vault agrees (a request that kept losing went on with a map of its own)
            assert by_placeholder[shown] == addr
    assert sum(p.kept for p in prompts) >= 4


async def test_forget_erases_the_conversations_entries(replicas: Replicas) -> None:
    assert await replicas.a.add("T", "slack:D1:1", [VaultEntry("<PERSON_1>", "Anna Nowak")])
    assert await replicas.a.add("T", "slack:D2:1", [VaultEntry("<PERSON_1>", "Jan Kowalski")])
    await replicas.b.forget("T", ["slack:D1:1"])
    assert await replicas.a.load("T", "slack:D1:1") == []
    assert await replicas.a.load("T", "slack:D2:1") == [VaultEntry("<PERSON_1>", "Jan Kowalski")]


async def test_redis_keeps_vault_entries_with_a_time_to_live(redis_url: str) -> None:
    import redis.asyncio

    vault = RedisSharedState(redis_url, vault_ttl_s=120)
    assert await vault.add("T", "c", [VaultEntry("<PERSON_1>", "Anna Nowak")])
    client = redis.asyncio.Redis.from_url(redis_url)
    [key] = await client.keys("switchboard:vault:*")
    assert 0 < await client.ttl(key) <= 120
    await client.aclose()
    await vault.aclose()


async def test_a_vault_that_does_not_answer_gives_a_map_of_the_requests_own(
        down: Backend, privacy_engine: PrivacyEngine, caplog: pytest.LogCaptureFixture) -> None:
    pseudonymiser = PromptPseudonymiser(analyze=privacy_engine.analyze, vault=down)
    with caplog.at_level(logging.WARNING, logger="bot.pseudonymising"):
        prompt = await pseudonymiser.prepare(tenant="T", conversation="c",
                                             messages=_prompt("Email anna.kowalska@example.pl today."))
    assert "anna.kowalska" not in prompt.messages[0]["content"]  # still hidden from the provider
    assert prompt.restore("<EMAIL_ADDRESS_1>") == "anna.kowalska@example.pl"
    assert not prompt.kept
    assert any("placeholders of its own" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("kind", ["local", "database"])
async def test_forget_erases_the_users_placeholders(make_services: ServicesFactory, tmp_path: Path,
                                                     kind: str) -> None:
    services = await make_services(warm=False, SWITCHBOARD_SHARED_STATE=kind,
                                   SWITCHBOARD_DATABASE_URL=f"sqlite:///{tmp_path / 'forget.db'}")
    assert services.shared.kind == kind
    admin = CommandContext(platform="test", tenant="T", channel="C", user="boss", is_admin=True)
    commands = CommandProcessor(memory=services.memory, policies=services.policies, erasure=services.erasure)
    assert (await commands.execute(admin, "policy pin personal pseudonymise")).ok

    def says(user: str, channel: str, text_: str) -> ChatMessage:
        return ChatMessage(platform="test", tenant="T", channel=channel, thread="t", user=user, text=text_)

    await services.pipeline.handle(says("U1", "D1", "Email anna.kowalska@example.pl the offer."))
    await services.pipeline.handle(says("U2", "D2", "Email jan.nowak@example.pl the invoice."))
    vault = services.shared.vault
    assert await vault.load("T", "test:D1:t") and await vault.load("T", "test:D2:t")
    user = CommandContext(platform="test", tenant="T", channel="D1", user="U1", is_admin=False)
    assert (await commands.execute(user, "forget")).ok
    assert await vault.load("T", "test:D1:t") == []
    assert await vault.load("T", "test:D2:t") == [VaultEntry("<EMAIL_ADDRESS_1>", "jan.nowak@example.pl")]
    await services.aclose()


async def test_vault_values_are_encrypted_at_rest_with_a_key(tmp_path: Path) -> None:
    from bot.memory.crypto import build_cipher, new_key

    store = build_memory_store(f"sqlite:///{tmp_path / 'vault.db'}", cipher=build_cipher(new_key()))
    await store.create_schema()
    vault = SqlSharedState(store, vault_ttl_s=60)
    assert await vault.add("T", "c", [VaultEntry("<PERSON_1>", "Anna Nowak")])
    with store.engine.connect() as conn:
        [stored] = conn.execute(text("SELECT value FROM pseudonymentry")).scalars().all()
    assert "Anna" not in stored
    assert await vault.load("T", "c") == [VaultEntry("<PERSON_1>", "Anna Nowak")]
    store.engine.dispose()


async def test_redis_vault_values_are_encrypted_with_a_key(redis_url: str) -> None:
    import redis.asyncio

    from bot.memory.crypto import build_cipher, new_key

    key = new_key()
    vault = RedisSharedState(redis_url, vault_ttl_s=60, cipher=build_cipher(key))
    assert await vault.add("T", "c", [VaultEntry("<PERSON_1>", "Anna Nowak")])
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    [stored_key] = await client.keys("switchboard:vault:*")
    assert "Anna" not in str(await client.hgetall(stored_key))
    await client.aclose()
    assert await vault.load("T", "c") == [VaultEntry("<PERSON_1>", "Anna Nowak")]
    other_key = RedisSharedState(redis_url, vault_ttl_s=60, cipher=build_cipher(new_key()))
    with pytest.raises(SharedStateUnavailableError):  # the answer then uses placeholders of its own
        await other_key.load("T", "c")
    for v in (vault, other_key):
        await v.aclose()
