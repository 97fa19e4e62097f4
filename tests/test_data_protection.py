"""Retention, erasure (GDPR Art. 17) and encryption at rest, against real SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, create_engine, inspect, select, text
from sqlalchemy.pool import StaticPool

from bot.cli import main
from bot.commands import CommandContext, CommandProcessor
from bot.erasure import InMemoryErasure
from bot.errors import ConfigurationError
from bot.memory.crypto import (
    PLAIN_MARK,
    TOKEN_PREFIX,
    EncryptedText,
    EncryptionKeyError,
    attach_cipher,
    build_cipher,
    is_token,
    new_key,
)
from bot.memory.models import Decision
from bot.memory.store import Lease, SqlMemoryStore, welcome_key
from bot.operations import forget, purge
from bot.policy_store import PolicyStore
from bot.retention import RetentionTask
from bot.settings import Settings
from bot.types import ChatMessage, Identity
from privacy.pseudonymise import PseudonymVault
from privacy.verdict import Finding
from routing.policy import load_policy
from tests.conftest import ServicesFactory

ANNA_TEXT = "Anna Nowak asked for a raise to 9,400 PLN, please draft the answer"
ANNA = Identity("slack", "T1", "U0ANNA77")
BOB = Identity("slack", "T1", "U0BOB42")


def said(who: Identity, text_: str, *, thread: str = "t1", event: str = "") -> ChatMessage:
    return ChatMessage(platform=who.platform, tenant=who.tenant, channel="C1", thread=thread, user=who.user,
                       text=text_, event_id=event)


async def _turn(store: SqlMemoryStore, who: Identity, text_: str, *, thread: str = "t1", event: str = "",
                pending: bool = False) -> int:
    """A user's message, the assistant's answer and the decision record, as the pipeline stores them."""
    stored = await store.add_user_turn(said(who, text_, thread=thread, event=event), event_key=event or None,
                                       lease=Lease(owner="r1", seconds=60) if pending else None,
                                       reference=json.dumps({"user": {"name": who.user}}))
    assert stored is not None
    await store.add_message(stored.conversation.id, role="assistant", user=who, text=f"Answer to: {text_}")
    decision = await store.record_decision(Decision(
        conversation_id=stored.conversation.id, message_id=stored.message_id, platform=who.platform,
        tenant=who.tenant, channel="C1", user=who.user, sensitivity="personal", entity_types="PERSON",
        task="general", model="openai/eu-small", region="eu", outcome="answered"))
    await store.add_feedback(decision_id=decision, user=who, score=1)
    return stored.message_id


def _everything(store: SqlMemoryStore) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text column of every table, read by raw SQL."""
    found = []
    with store.engine.connect() as conn:
        for name in inspect(store.engine).get_table_names():
            columns = [c["name"] for c in inspect(store.engine).get_columns(name)
                       if isinstance(c["type"], String | Text)]
            for column in columns:
                for (value,) in conn.execute(text(f'SELECT "{column}" FROM "{name}"')):
                    if value is not None:
                        found.append((name, column, str(value)))
    return found


def _age(store: SqlMemoryStore, *, days: int, where: str) -> None:
    old = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
    with store.engine.begin() as conn:
        for table in ("message", "processedevent", "pendingdelivery"):
            conn.execute(text(f"UPDATE {table} SET created_at = :t WHERE {where}"), {"t": old})


# --- retention -------------------------------------------------------------------------------------


async def test_purge_deletes_old_content_and_keeps_the_decision_records(store: SqlMemoryStore) -> None:
    old_id = await _turn(store, ANNA, ANNA_TEXT, event="Ev1", pending=True)
    _age(store, days=120, where="1 = 1")
    new_id = await _turn(store, BOB, "What is on the canteen menu today?", thread="t2", event="Ev2")
    out = io.StringIO()
    assert await purge(store, out, older_than=timedelta(days=90)) == 0
    assert "message: 2 deleted" in out.getvalue() and "pendingdelivery: 1 deleted" in out.getvalue()
    assert "processedevent: 1 deleted" in out.getvalue()
    values = [v for _, _, v in _everything(store)]
    assert not any("Anna Nowak" in v for v in values)
    assert any("canteen menu" in v for v in values)
    with store.engine.connect() as conn:
        kept = conn.execute(text("SELECT message_id FROM decision ORDER BY id")).scalars().all()
        votes = conn.execute(text("SELECT count(*) FROM feedback")).scalar_one()
    assert kept == [None, new_id] and old_id != new_id and votes == 2  # records and votes stay
    history = await store.history(1, limit=10)
    assert history == []  # the purged thread starts afresh
    again = io.StringIO()
    await purge(store, again, older_than=timedelta(days=90))
    assert "message: 0 deleted" in again.getvalue()


async def test_purge_works_in_batches(store: SqlMemoryStore) -> None:
    for i in range(7):
        await _turn(store, ANNA, f"note {i}", thread=f"t{i}")
    _age(store, days=100, where="1 = 1")
    removed = await store.purge(older_than=datetime.now(UTC) - timedelta(days=90), batch=3)
    assert removed.deleted["message"] == 14
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM message")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM decision")).scalar_one() == 7


async def test_serve_purges_on_its_own_schedule(store: SqlMemoryStore) -> None:
    await _turn(store, ANNA, ANNA_TEXT)
    _age(store, days=10, where="1 = 1")
    task = RetentionTask(memory=store, retention=timedelta(days=7))
    running = asyncio.create_task(task.run_forever(0.05))
    for _ in range(100):
        await asyncio.sleep(0.05)
        with store.engine.connect() as conn:
            if conn.execute(text("SELECT count(*) FROM message")).scalar_one() == 0:
                break
    task.stop()
    await asyncio.wait_for(running, 5)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM message")).scalar_one() == 0


# --- erasure ---------------------------------------------------------------------------------------


async def test_forget_leaves_nothing_of_the_person_in_any_table(store: SqlMemoryStore) -> None:
    await _turn(store, ANNA, ANNA_TEXT, event="EvA", pending=True)
    assert await store.claim_event(welcome_key(ANNA.platform, ANNA.tenant, ANNA.user))  # welcomed in the Home tab
    await _turn(store, BOB, "Bob here: the printer on floor 2 is broken", event="EvB")  # same thread as Anna's
    await _turn(store, ANNA, "Anna again: book the meeting room", thread="t9")
    await _turn(store, BOB, "Bob's own thread", thread="t8")
    with store.engine.connect() as conn:  # Bob votes on Anna's answer; an admin set a budget for her
        anna_decision = conn.execute(text("SELECT min(id) FROM decision WHERE \"user\" = 'U0ANNA77'")).scalar_one()
    await store.add_feedback(decision_id=anna_decision, user=BOB, score=-1)
    policies = PolicyStore(memory=store, seed=load_policy())
    commands = CommandProcessor(memory=store, policies=policies)
    admin = CommandContext(platform="slack", tenant="T1", channel="C1", user="UBOSS", is_admin=True)
    assert (await commands.execute(admin, f"budget set user {ANNA} 5 10")).ok
    staff = CommandContext(platform="slack", tenant="T1", channel="C1", user=ANNA.user, is_admin=False)
    assert not (await commands.execute(staff, "model disable openai/gpt-4.1")).ok  # a refusal on the trail
    before = _everything(store)
    assert any(ANNA.user in v for _, _, v in before) and any(ANNA_TEXT in v for _, _, v in before)

    out = io.StringIO()
    assert await forget(store, out, user=ANNA) == 0
    report = out.getvalue()
    for line in ("message: 4 deleted", "decision: 2 anonymised", "feedback: 2 deleted", "pendingdelivery: 1 deleted",
                 "budget: 1 deleted", "conversation: 1 deleted", "auditentry: 3 anonymised"):
        assert line in report, report
    leftovers = [(t, c) for t, c, v in _everything(store)
                 if ANNA.user in v or "Anna" in v or "meeting room" in v or "9,400" in v]
    assert leftovers == []
    after = [v for _, _, v in _everything(store)]
    assert any("printer on floor 2" in v for v in after) and any("Bob's own thread" in v for v in after)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM decision WHERE \"user\" = 'U0BOB42'")).scalar_one() == 2
        # her records stay for the audit and the KPIs, with nothing that leads back to her
        kept = conn.execute(text("SELECT \"user\", channel, conversation_id, message_id, model FROM decision "
                                 "WHERE \"user\" = '(erased)'")).all()
        assert len(kept) == 2 and all(tuple(r)[:4] == ("(erased)", "", None, None) and r[4] for r in kept)
        # Bob's vote on her answer is Bob's: it stays, on the anonymised record
        assert conn.execute(text("SELECT \"user\" FROM feedback WHERE decision_id = :d"),
                            {"d": anna_decision}).scalars().all() == ["U0BOB42"]
        trail = conn.execute(text("SELECT actor, command FROM auditentry ORDER BY id")).all()
    assert [tuple(r) for r in trail] == [("slack:T1:UBOSS", "budget set user (erased) 5 10"),
                                         ("(erased)", "model disable openai/gpt-4.1")]


async def test_forget_only_touches_its_own_platform_and_tenant(store: SqlMemoryStore) -> None:
    twin = Identity("teams", "aad-1", ANNA.user)  # the same raw id elsewhere is someone else
    await _turn(store, ANNA, ANNA_TEXT)
    await _turn(store, twin, "the twin's text", thread="x")
    removed = await store.erase_user(ANNA)
    assert removed.messages == 2
    assert any("the twin's text" in v for _, _, v in _everything(store))


def test_forget_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    _cli_env(tmp_path, monkeypatch)
    assert main(["forget", "--user", str(ANNA)]) == 0
    assert f"Erased {ANNA} (GDPR Art. 17)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as bare:
        main(["forget", "--user", "U0ANNA77"])
    assert bare.value.code == 2 and "not a qualified identity" in capsys.readouterr().err


# --- encryption at rest ----------------------------------------------------------------------------


async def test_raw_sql_shows_no_plaintext_and_the_store_reads_it_back(store: SqlMemoryStore) -> None:
    encrypted = SqlMemoryStore(store.engine, cipher=build_cipher(new_key()))
    message_id = await _turn(encrypted, ANNA, ANNA_TEXT, pending=True)
    raw = _everything(encrypted)
    assert not any("Anna" in v or "9,400" in v for _, _, v in raw)
    [reference] = [v for t, c, v in raw if (t, c) == ("pendingdelivery", "reference")]
    assert is_token(reference) and ANNA.user not in reference
    with store.engine.connect() as conn:
        stored = conn.execute(text("SELECT text FROM message WHERE id = :i"), {"i": message_id}).scalar_one()
    assert stored.startswith(TOKEN_PREFIX) and is_token(stored)
    conv_id = (await encrypted.conversation(said(ANNA, "x"))).id
    assert [t.text for t in await encrypted.history(conv_id, limit=5)] == [ANNA_TEXT, f"Answer to: {ANNA_TEXT}"]


async def test_rows_stored_before_a_key_stay_readable_and_rotation_retires_the_old_key(
        store: SqlMemoryStore) -> None:
    await _turn(store, ANNA, "written before a key was set")  # plain text
    old, new = new_key(), new_key()
    first = SqlMemoryStore(store.engine, cipher=build_cipher(old))
    await _turn(first, BOB, ANNA_TEXT, thread="t2")
    conv = (await first.conversation(said(ANNA, "x"))).id
    assert (await first.history(conv, limit=1, before=None))[0].text == "Answer to: written before a key was set"

    both = SqlMemoryStore(store.engine, cipher=build_cipher(f"{new},{old}"))
    done = await both.rotate_keys(batch=2)
    assert done == {"message.text": 4, "pendingdelivery.reference": 0,
                    "pendingdelivery.material": 0, "pseudonymentry.value": 0}
    only_new = SqlMemoryStore(store.engine, cipher=build_cipher(new))
    bob_conv = (await only_new.conversation(said(BOB, "x", thread="t2"))).id
    assert [t.text for t in await only_new.history(bob_conv, limit=5)] == [ANNA_TEXT, f"Answer to: {ANNA_TEXT}"]
    assert (await only_new.history(conv, limit=1))[0].text == "Answer to: written before a key was set"
    assert all(is_token(v) for t, c, v in _everything(only_new) if (t, c) == ("message", "text"))
    only_old = SqlMemoryStore(store.engine, cipher=build_cipher(old))
    with pytest.raises(EncryptionKeyError, match="rotate-key"):
        await only_old.history(bob_conv, limit=5)
    keyless = SqlMemoryStore(store.engine)
    with pytest.raises(EncryptionKeyError, match="SWITCHBOARD_ENCRYPTION_KEY is not set"):
        await keyless.history(bob_conv, limit=5)


def test_a_malformed_key_is_a_clear_error() -> None:
    with pytest.raises(EncryptionKeyError, match=r"key 2 of 2 is not a Fernet key.*switchboard keygen"):
        build_cipher(f"{new_key()}, not-a-key")
    assert build_cipher(" , ") is None


def _engine_with(cipher_keys: str | None) -> tuple[Table, Engine]:
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("v", EncryptedText))
    table.metadata.create_all(engine)
    attach_cipher(engine, build_cipher(cipher_keys) if cipher_keys else None)
    return table, engine


_WITH_KEY = _engine_with(new_key())
_WITHOUT_KEY = _engine_with(None)
_OTHER = build_cipher(new_key())
assert _OTHER is not None
_TOKEN_LIKE = st.text(max_size=40).map(_OTHER.encrypt)  # a real token under a key nobody configured


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=300), st.text(max_size=40).map(lambda t: PLAIN_MARK + t),
                 st.text(max_size=40).map(lambda t: TOKEN_PREFIX + t), _TOKEN_LIKE))
def test_any_text_round_trips_with_and_without_a_key(value: str) -> None:
    for table, engine in (_WITH_KEY, _WITHOUT_KEY):
        with engine.begin() as conn:
            conn.execute(table.delete())
            conn.execute(table.insert().values(id=1, v=value))
            assert conn.execute(select(table.c.v)).scalar_one() == value


# --- production needs a key ------------------------------------------------------------------------


def _cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    for name in ("SWITCHBOARD_DATABASE_URL", "SWITCHBOARD_ENCRYPTION_KEY", "SWITCHBOARD_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's


def test_production_serve_without_a_key_refuses_and_says_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    _cli_env(tmp_path, monkeypatch)
    monkeypatch.setenv("SWITCHBOARD_ENV", "production")
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "SWITCHBOARD_ENV=production needs SWITCHBOARD_ENCRYPTION_KEY" in err and "switchboard keygen" in err
    assert not (tmp_path / "switchboard.db").exists()  # refused before anything was stored


def test_development_without_a_key_warns(caplog: pytest.LogCaptureFixture) -> None:
    Settings(_env_file=None).check_encryption()  # type: ignore[call-arg]
    assert "stored in plain text" in caplog.text and "switchboard keygen" in caplog.text
    with pytest.raises(ConfigurationError):
        Settings(_env_file=None, SWITCHBOARD_ENV="production").check_encryption()  # type: ignore[call-arg]
    Settings(_env_file=None, SWITCHBOARD_ENV="production",  # type: ignore[call-arg]
             SWITCHBOARD_ENCRYPTION_KEY=new_key()).check_encryption()


def test_keygen_and_rotate_key_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _cli_env(tmp_path, monkeypatch)
    assert main(["keygen"]) == 0
    key = capsys.readouterr().out.strip()
    assert build_cipher(key) is not None
    assert main(["rotate-key"]) == 2
    assert "rotate-key needs SWITCHBOARD_ENCRYPTION_KEY" in capsys.readouterr().err
    monkeypatch.setenv("SWITCHBOARD_ENCRYPTION_KEY", key)
    assert main(["rotate-key"]) == 0
    assert "message.text: 0 rows" in capsys.readouterr().out


# --- what a serving process holds in memory --------------------------------------------------------


async def test_the_chat_forget_also_clears_this_process_cache_and_vault(make_services: ServicesFactory) -> None:
    services = await make_services()
    assert services.cache is not None and services.erasure is not None
    anna = ChatMessage(platform="test", tenant="T", channel="C", thread="a1", user="U0ANNA77",
                       text="How do I reset my VPN password?")
    bob = ChatMessage(platform="test", tenant="T", channel="C", thread="b1", user="U0BOB42",
                      text="How do I order a new laptop charger?")
    await services.pipeline.handle(anna)  # shared entry (no personal data), asked by Anna
    await services.pipeline.handle(bob)
    assert len(services.cache) == 2
    commands = CommandProcessor(memory=services.memory, policies=services.policies, erasure=services.erasure)
    me = CommandContext(platform="test", tenant="T", channel="C", user="U0ANNA77", is_admin=False)
    done = await commands.execute(me, "forget")
    assert done.ok and done.data["in_memory"] == {"semantic cache": 1, "pseudonym vault (conversations)": 1}
    assert len(services.cache) == 1
    again = await services.pipeline.handle(ChatMessage(platform="test", tenant="T", channel="C", thread="b2",
                                                       user="U0BOB42", text="How can I order a new laptop charger?"))
    assert again.cached  # Bob's entry stays


async def test_the_vault_of_each_conversation_written_in_is_erased() -> None:
    vault = PseudonymVault(ttl_s=60)
    finding = Finding("PERSON", 0, 10, 0.9)
    vault.pseudonymise("T1", "slack:C1:t1", "Anna Nowak is late", [finding])
    vault.pseudonymise("T1", "slack:C1:t2", "Piotr Wójcik is late", [finding])
    erased = await InMemoryErasure(cache=None, vault=vault).forget(ANNA, [("slack", "T1", "C1", "t1")])
    assert erased == {"pseudonym vault (conversations)": 1}
    assert vault.restore("T1", "slack:C1:t1", "<PERSON_1>") == "<PERSON_1>"
    assert vault.restore("T1", "slack:C1:t2", "<PERSON_1>") == "Piotr Wójc"
