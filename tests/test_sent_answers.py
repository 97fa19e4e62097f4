"""The answer → decision mapping for Teams' own feedback buttons, and a message's text replaced by the text of
its files, against real SQL (SQLite, and PostgreSQL when its binaries exist)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import Session, select

from bot.memory.crypto import TOKEN_PREFIX, build_cipher, new_key
from bot.memory.models import Decision, SentAnswer
from bot.memory.store import SqlMemoryStore
from bot.types import ChatMessage, Identity

STAFF = Identity("teams", "aad-1", "U1")


async def answered(store: SqlMemoryStore, *, tenant: str = "aad-1") -> int:
    turn = await store.add_user_turn(ChatMessage(platform="teams", tenant=tenant, channel="a:1", thread="a:1",
                                                 user="U1", text="hi"))
    assert turn is not None
    return await store.record_decision(Decision(conversation_id=turn.conversation.id, message_id=turn.message_id,
                                                platform="teams", tenant=tenant, channel="a:1", user="U1", model="m"))


async def test_an_answer_is_found_by_its_activity_id_within_its_tenant(store: SqlMemoryStore) -> None:
    decision = await answered(store)
    await store.remember_answer(platform="teams", message_ref="act-1", decision_id=decision)
    await store.remember_answer(platform="teams", message_ref="act-1", decision_id=decision)  # twice: kept once
    assert await store.answered_by(platform="teams", tenant="aad-1", message_ref="act-1") == decision
    assert await store.answered_by(platform="teams", tenant="aad-2", message_ref="act-1") is None
    assert await store.answered_by(platform="teams", tenant="aad-1", message_ref="act-2") is None
    await store.remember_answer(platform="teams", message_ref="act-9", decision_id=999_999)  # no such decision
    with Session(store.engine) as s:
        assert [(r.tenant, r.message_ref) for r in s.exec(select(SentAnswer)).all()] == [("aad-1", "act-1")]


async def test_forgetting_a_user_erases_where_their_answers_went(store: SqlMemoryStore) -> None:
    decision = await answered(store)
    await store.remember_answer(platform="teams", message_ref="act-1", decision_id=decision)
    assert await store.forget_user(STAFF) == 1
    assert await store.answered_by(platform="teams", tenant="aad-1", message_ref="act-1") is None


async def test_a_turn_takes_the_text_of_its_files(store: SqlMemoryStore) -> None:
    turn = await store.add_user_turn(ChatMessage(platform="slack", tenant="T1", channel="C1", thread="t", user="U1",
                                                 text="Summarise"))
    assert turn is not None
    await store.set_message_text(turn.message_id, "Summarise\n\n[Attached file: a.txt]\nA\n[End of a.txt]")
    [stored] = await store.history(turn.conversation.id, limit=5)
    assert stored.text.endswith("[End of a.txt]")


async def test_a_turns_file_text_is_encrypted_at_rest_like_the_rest(store: SqlMemoryStore) -> None:
    encrypted = SqlMemoryStore(store.engine, cipher=build_cipher(new_key()))
    turn = await encrypted.add_user_turn(ChatMessage(platform="slack", tenant="T1", channel="C1", thread="t",
                                                     user="U1", text="Summarise"))
    assert turn is not None
    await encrypted.set_message_text(turn.message_id, "Summarise\n\n[Attached file: cv.pdf]\nAnna Nowak\n[End]")
    with store.engine.connect() as conn:
        stored = conn.execute(text("SELECT text FROM message WHERE id = :i"), {"i": turn.message_id}).scalar_one()
    assert stored.startswith(TOKEN_PREFIX) and "Anna" not in stored
    [read] = await encrypted.history(turn.conversation.id, limit=5)
    assert read.text.endswith("Anna Nowak\n[End]")


async def test_retention_purges_where_answers_were_posted(store: SqlMemoryStore) -> None:
    decision = await answered(store)
    await store.remember_answer(platform="teams", message_ref="act-1", decision_id=decision)
    assert (await store.purge(older_than=datetime.now(UTC) - timedelta(days=1))).deleted["sentanswer"] == 0
    removed = await store.purge(older_than=datetime.now(UTC) + timedelta(seconds=1))
    assert removed.deleted["sentanswer"] == 1
    assert await store.answered_by(platform="teams", tenant="aad-1", message_ref="act-1") is None
