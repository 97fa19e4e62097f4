"""SqlMemoryStore: conversations, turns, decisions, feedback, policy versions and the audit log.

SQLAlchemy sessions are synchronous; every public method is async and runs its unit of
work in a worker thread of the store's own pool, so the event loop never blocks on the database
and database work never queues behind CPU work (privacy analysis, embeddings) in asyncio's
default pool: a platform event is stored before it is acknowledged. A database that does
not answer raises `DatabaseUnavailableError`, and the unit of work then kept nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import CursorResult, Engine, String, and_, case, delete, event, func, insert, or_, type_coerce, update
from sqlalchemy import select as sa_select  # more columns than sqlmodel's select is typed for
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, col, create_engine, select

from bot.errors import ConfigurationError, DatabaseUnavailableError
from bot.kpis import KpiRecord
from bot.memory import schema
from bot.memory.crypto import FieldCipher, attach_cipher, encrypted_columns, engine_cipher, rotate_column
from bot.memory.models import (
    AuditEntry,
    Budget,
    BudgetReservation,
    BudgetUsage,
    Conversation,
    Decision,
    Feedback,
    Message,
    PendingDelivery,
    PolicyVersion,
    ProcessedEvent,
    PseudonymEntry,
    SentAnswer,
)
from bot.types import ChatMessage, FileRef, Identity, vault_scope
from routing.budget import ANY, BudgetLimit

T = TypeVar("T")
log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5
PERSONAL_LEVELS = frozenset({"personal", "special"})  # Sensitivity labels at PERSONAL or above
DB_THREADS = 8  # below SQLAlchemy's default pool limit (5 + 10 overflow): no thread waits for a connection
# what a database that does not answer raises (refused, reset, timed out, locked, pool exhausted)
_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError)


@dataclass(frozen=True, slots=True)
class ConversationRef:
    id: int
    pii_seen: bool


@dataclass(frozen=True, slots=True)
class Turn:
    role: str
    text: str


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """A user's message as stored: its conversation and its row id."""

    conversation: ConversationRef
    message_id: int


@dataclass(frozen=True, slots=True)
class Lease:
    """Delivery tracking for an admitted message (`PendingDelivery`): `owner` holds it for `seconds`."""

    owner: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Resumable:
    """An accepted message whose answer was not delivered, now leased to the caller."""

    msg: ChatMessage
    turn: StoredTurn
    placeholder: str
    created_at: datetime
    reference: str = ""  # what the adapter stored with it to answer later (`add_user_turn`)
    lease: Lease = Lease(owner="", seconds=0.0)  # as claimed: its owner is this claim's own token


def build_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get their folder created and WAL journaling."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if url in ("sqlite://", "sqlite:///:memory:"):
            return create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith(("postgresql:", "postgresql+psycopg2:")) and "connect_timeout" not in url:
        # an unreachable server is an error after 5 s, not after the kernel's TCP timeout (minutes)
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    try:
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except Exception as exc:  # bad URL or missing driver
        raise ConfigurationError(f"cannot use database {url.split('@')[-1]!r}: {exc}; "
                                 "fix SWITCHBOARD_DATABASE_URL") from exc


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL with synchronous=NORMAL: a commit does not wait for fsync (every platform event is stored
    # before its ack, one after the other); nothing is lost when the process dies, only the last
    # commits when the machine loses power (the SQLite default suits one node; use PostgreSQL beyond)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@dataclass(frozen=True, slots=True)
class Removed:
    """Rows deleted (or, for `changed`, anonymised in place) per table by a purge or an erasure."""

    deleted: dict[str, int]
    changed: dict[str, int] = field(default_factory=dict)
    # (platform, tenant, channel, thread) of the conversations the person wrote in (an erasure's)
    conversations: tuple[tuple[str, str, str, str], ...] = ()

    @property
    def messages(self) -> int:
        return self.deleted.get("message", 0)

    def describe(self) -> str:
        parts = [f"{table}: {n} deleted" for table, n in self.deleted.items()]
        parts += [f"{table}: {n} anonymised" for table, n in self.changed.items()]
        return "; ".join(parts)


class SqlMemoryStore:
    """Everything Switchboard remembers, behind async methods. With `cipher`, message texts and other
    content columns (`bot.memory.crypto.EncryptedText`) are encrypted at rest."""

    def __init__(self, engine: Engine, *, cipher: FieldCipher | None = None) -> None:
        self._engine = engine
        attach_cipher(engine, cipher)
        # SQLite: an in-memory database is one connection shared by every thread (StaticPool), so units
        # of work must not interleave, or one unit's rollback undoes another's uncommitted insert; a file
        # takes one writer at a time, and its busy handler makes the others sleep and poll (tens of ms
        # each under a burst of events): a lock queues them instead
        self._serial = threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        self._one_connection = isinstance(engine.pool, StaticPool)  # in-memory SQLite: every unit shares it
        self._threads = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="switchboard-db")

    @property
    def engine(self) -> Engine:
        return self._engine

    async def _run(self, fn: Callable[[Session], T], *, read_only: bool = False) -> T:
        # a long read-only unit (KPIs over 100,000 records) on a SQLite file takes its own connection without
        # the lock: WAL lets it read beside the writer, so platform events are not stored (and acked) seconds late
        lock = contextlib.nullcontext() if read_only and not self._one_connection else self._serial

        def unit() -> T:
            with lock, Session(self._engine, expire_on_commit=False) as session:
                return fn(session)

        return await self._unavailable_as_error(unit)

    async def run_unit(self, fn: Callable[[Session], T]) -> T:
        """`fn` as one unit of work in the store's database threads: for state kept in the same database by
        other modules (`bot.shared_state`); raises `DatabaseUnavailableError` like every method here."""
        return await self._run(fn)

    async def _unavailable_as_error(self, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, fn)
        except _UNAVAILABLE as exc:
            where = self._engine.url.render_as_string(hide_password=True)
            cause = getattr(exc, "orig", None) or exc
            first_line = (str(cause).strip().splitlines() or [""])[0][:200]
            raise DatabaseUnavailableError(
                f"the database {where} does not answer ({type(cause).__name__}: {first_line}); check that "
                "it is up and reachable, or fix SWITCHBOARD_DATABASE_URL") from exc

    async def create_schema(self) -> list[str]:
        """Bring the database to this release's schema (`bot.memory.schema`: Alembic migrations under a lock,
        one query when it is already there); returns the revisions applied."""
        return await self._unavailable_as_error(lambda: schema.upgrade(self._engine))

    async def schema_state(self) -> schema.SchemaState:
        return await self._unavailable_as_error(lambda: schema.state(self._engine))

    # --- conversations and turns -------------------------------------------------------

    async def conversation(self, msg: ChatMessage) -> ConversationRef:
        def unit(s: Session) -> ConversationRef:
            found = _find_conversation(s, msg)
            if found is None:
                conv = Conversation(platform=msg.platform, tenant=msg.tenant, channel=msg.channel,
                                    thread=msg.thread, user=msg.user)
                s.add(conv)
                try:
                    s.commit()
                except IntegrityError:  # another replica created it first
                    s.rollback()
                    found = _find_conversation(s, msg)
                    assert found is not None
                    conv = found
                found = conv
            assert found.id is not None
            return ConversationRef(id=found.id, pii_seen=found.pii_seen)

        return await self._run(unit)

    async def has_conversation(self, *, platform: str, tenant: str, channel: str, thread: str) -> bool:
        def unit(s: Session) -> bool:
            return s.exec(select(Conversation.id).where(
                Conversation.platform == platform, Conversation.tenant == tenant, Conversation.channel == channel,
                Conversation.thread == thread)).first() is not None

        return await self._run(unit)

    async def history(self, conversation_id: int, *, limit: int, before: int | None = None) -> list[Turn]:
        """The last `limit` turns, oldest first; with `before` (a message id) only the turns before it."""

        def unit(s: Session) -> list[Turn]:
            q = select(Message).where(Message.conversation_id == conversation_id)
            if before is not None:
                q = q.where(col(Message.id) < before)
            rows = s.exec(q.order_by(col(Message.id).desc()).limit(limit)).all()
            return [Turn(r.role, r.text) for r in reversed(rows)]

        return await self._run(unit)

    async def last_task(self, conversation_id: int, *, before: int | None = None) -> str | None:
        """The task decided for the conversation's latest message (before message id `before`), if any."""

        def unit(s: Session) -> str | None:
            q = select(Decision.task).where(Decision.conversation_id == conversation_id, Decision.task != "")
            if before is not None:
                q = q.where(col(Decision.message_id) < before)
            return s.exec(q.order_by(col(Decision.id).desc()).limit(1)).first()

        return await self._run(unit)

    async def add_user_turn(self, msg: ChatMessage, *, event_key: str | None = None,
                            lease: Lease | None = None, reference: str = "") -> StoredTurn | None:
        """Store `msg` as the user's next turn (creating its conversation), in one transaction. With
        `event_key` (a platform delivery id) the key is claimed in the same transaction: None when
        another delivery (or replica) claimed it first, and then nothing is stored. Either all is kept
        or nothing, so a platform retry after a database failure is taken afresh. With `lease` the
        message is also recorded as pending delivery (`PendingDelivery`), held by the lease's owner, with
        `reference`: whatever the adapter needs to answer it after a restart."""

        def unit(s: Session) -> StoredTurn | None:
            try:
                return _add_user_turn(s, msg, event_key=event_key, lease=lease, reference=reference)
            except _ConversationRaced:  # another replica created it just now: once more, it exists
                return _add_user_turn(s, msg, event_key=event_key, lease=lease, reference=reference)

        return await self._run(unit)

    async def add_message(self, conversation_id: int, *, role: str, user: Identity, text: str) -> int:
        """Store a turn; `user` is its author, or for an answer the person it answers."""

        def unit(s: Session) -> int:
            row = Message(conversation_id=conversation_id, role=role, platform=user.platform, tenant=user.tenant,
                          user=user.user, text=text)
            s.add(row)
            conv = s.get(Conversation, conversation_id)
            if conv is not None:
                conv.updated_at = datetime.now(UTC)
            s.commit()
            assert row.id is not None
            return row.id

        return await self._run(unit)

    async def set_message_text(self, message_id: int, text: str, *, mentions: Sequence[str] = ()) -> None:
        """Replace a stored turn's text: a user's message once the text of its files (and its thread) is read
        into it; `mentions` are then all the people it names. A pending delivery keeps the mentions, not the
        files any more (their text is in the message now), in the same transaction."""

        def unit(s: Session) -> None:
            db = s.connection()
            db.execute(update(Message).where(col(Message.id) == message_id).values(text=text))
            db.execute(update(PendingDelivery).where(col(PendingDelivery.message_id) == message_id)
                       .values(material=_material(mentions, ())))
            s.commit()

        await self._run(unit)

    async def mark_pii(self, conversation_id: int) -> None:
        def unit(s: Session) -> None:
            conv = s.get(Conversation, conversation_id)
            if conv is not None and not conv.pii_seen:
                conv.pii_seen = True
                s.commit()

        await self._run(unit)

    async def record_decision(self, decision: Decision) -> int:
        def unit(s: Session) -> int:
            s.add(decision)
            s.commit()
            assert decision.id is not None
            return decision.id

        return await self._run(unit)

    async def last_decision(self, *, platform: str, tenant: str, channel: str,
                            user: Identity | None = None) -> Decision | None:
        def unit(s: Session) -> Decision | None:
            q = select(Decision).where(Decision.platform == platform, Decision.tenant == tenant,
                                       Decision.channel == channel)
            if user is not None:
                q = q.where(*_decided_for(user))
            return s.exec(q.order_by(col(Decision.id).desc()).limit(1)).first()

        return await self._run(unit)

    async def forget_user(self, user: Identity) -> int:
        """GDPR Art. 17 (`erase_user`); returns the number of messages erased."""
        return (await self.erase_user(user)).messages

    async def erase_user(self, user: Identity) -> Removed:
        """GDPR Art. 17: erase the user's messages, the answers to them, their pending deliveries, their
        votes, their budget, and conversations left empty; in conversations others still use, the user's id
        as starter is blanked. Their decision records (content-free) and the admin trail keep their entries,
        anonymised: the user's id replaced by `(erased)`, a record's conversation, channel and message link
        removed. Reports what was removed or anonymised per table.

        Only rows of this (platform, tenant, user): the same raw id elsewhere is someone else."""

        def unit(s: Session) -> Removed:
            db = s.connection()
            messages = (col(Message.platform) == user.platform, col(Message.tenant) == user.tenant,
                        col(Message.user) == user.user)
            convs = select(Message.conversation_id).where(*messages).distinct()
            touched = [int(c) for c in db.execute(convs).scalars()]
            where = tuple((str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in db.execute(select(
                Conversation.platform, Conversation.tenant, Conversation.channel, Conversation.thread).where(
                col(Conversation.id).in_(touched))))
            deleted: dict[str, int] = {}

            def gone(table: str, statement: Any) -> None:
                deleted[table] = deleted.get(table, 0) + int(db.execute(statement).rowcount)

            gone("feedback", delete(Feedback).where(col(Feedback.platform) == user.platform,
                                                    col(Feedback.tenant) == user.tenant,
                                                    col(Feedback.user) == user.user))
            # where their answers were posted (Teams activity ids) leads back to them: gone
            gone("sentanswer", delete(SentAnswer).where(col(SentAnswer.decision_id).in_(
                select(Decision.id).where(*_decided_for(user)))))
            # their decision records stay for the audit (Art. 30: what was sent where, residency proof) and
            # the KPIs, anonymised: no user, no conversation, channel or message to lead back to them
            changed = {"decision": int(db.execute(update(Decision).where(*_decided_for(user)).values(
                user=_ERASED, channel="", conversation_id=None, message_id=None)).rowcount)}
            gone("pendingdelivery", delete(PendingDelivery).where(col(PendingDelivery.message_id).in_(
                select(Message.id).where(*messages))))
            # others' decisions may point at these messages (an answer's record): they stay, without the link
            db.execute(update(Decision).where(col(Decision.message_id).in_(select(Message.id).where(*messages)))
                       .values(message_id=None))
            gone("message", delete(Message).where(*messages))
            gone("budget", delete(Budget).where(col(Budget.scope) == "user", col(Budget.key) == str(user)))
            # "welcomed once" records carry the person's id in their key (bot.adapters.slack_assistant)
            gone("processedevent", delete(ProcessedEvent).where(
                col(ProcessedEvent.event_key) == welcome_key(user.platform, user.tenant, user.user)))
            spending = select(BudgetUsage.id).where(col(BudgetUsage.scope) == "user", col(BudgetUsage.key) == str(user))
            gone("budgetreservation", delete(BudgetReservation).where(col(BudgetReservation.usage_id).in_(spending)))
            gone("budgetusage", delete(BudgetUsage).where(col(BudgetUsage.id).in_(spending)))
            for platform, tenant, channel, thread in where:  # the vault shared through the database
                gone("pseudonymentry", delete(PseudonymEntry).where(
                    col(PseudonymEntry.tenant) == tenant,
                    col(PseudonymEntry.conversation) == vault_scope(platform, channel, thread)))
            started = (col(Conversation.platform) == user.platform, col(Conversation.tenant) == user.tenant,
                       col(Conversation.user) == user.user)
            # a conversation of theirs goes when nothing refers to it any more; others' records keep theirs
            empty = select(Conversation.id).where(
                or_(col(Conversation.id).in_(touched), and_(*started)),
                ~select(Message.id).where(Message.conversation_id == Conversation.id).exists(),
                ~select(Decision.id).where(Decision.conversation_id == Conversation.id).exists())
            gone("conversation", delete(Conversation).where(col(Conversation.id).in_(empty)))
            changed["conversation"] = int(db.execute(update(Conversation).where(*started).values(user="")).rowcount)
            changed["auditentry"] = _anonymise_trail(db, str(user))
            s.commit()
            return Removed(deleted=deleted, changed={k: v for k, v in changed.items() if v}, conversations=where)

        return await self._run(unit)

    async def purge(self, *, older_than: datetime, batch: int = 1000) -> Removed:
        """Retention: delete conversation content created before `older_than` — messages (with their
        pending deliveries) and the platform delivery ids taken — in transactions of `batch` messages.
        Decision records, feedback and the admin trail are content-free and stay; a decision's link to a
        purged message becomes NULL. Where answers were posted (`SentAnswer`, for Teams' feedback buttons)
        goes with the same age."""
        deleted = {"message": 0, "pendingdelivery": 0, "processedevent": 0, "sentanswer": 0}

        def unit(s: Session) -> int:
            db = s.connection()
            ids = list(db.execute(select(Message.id).where(col(Message.created_at) < older_than)
                                  .order_by(col(Message.id)).limit(batch)).scalars())
            if ids:
                deleted["pendingdelivery"] += int(db.execute(delete(PendingDelivery).where(
                    col(PendingDelivery.message_id).in_(ids))).rowcount)
                db.execute(update(Decision).where(col(Decision.message_id).in_(ids)).values(message_id=None))
                deleted["message"] += int(db.execute(delete(Message).where(col(Message.id).in_(ids))).rowcount)
            events = list(db.execute(select(ProcessedEvent.event_key).where(
                col(ProcessedEvent.created_at) < older_than).limit(batch)).scalars())
            if events:
                deleted["processedevent"] += int(db.execute(delete(ProcessedEvent).where(
                    col(ProcessedEvent.event_key).in_(events))).rowcount)
            sent = list(db.execute(select(SentAnswer.id).where(
                col(SentAnswer.created_at) < older_than).limit(batch)).scalars())
            if sent:
                deleted["sentanswer"] += int(db.execute(delete(SentAnswer).where(
                    col(SentAnswer.id).in_(sent))).rowcount)
            s.commit()
            return max(len(ids), len(events), len(sent))

        while await self._run(unit) >= batch:
            pass
        return Removed(deleted=deleted)

    async def rotate_keys(self, *, batch: int = 500) -> dict[str, int]:
        """Re-encrypt every encrypted column under the current key (plain-text rows get encrypted);
        rows rewritten per `table.column`."""
        cipher = engine_cipher(self._engine)
        if cipher is None:
            raise ConfigurationError("rotate-key needs SWITCHBOARD_ENCRYPTION_KEY: the new key first, then the old "
                                     "ones, comma-separated (`switchboard keygen` makes a key)")

        def work() -> dict[str, int]:
            done = {}
            for target in encrypted_columns(SQLModel.metadata):
                with self._serial:
                    done[f"{target.table}.{target.column}"] = rotate_column(self._engine, cipher, target, batch=batch)
            return done

        return await self._unavailable_as_error(work)

    # --- delivery of accepted messages (bot.recovery) -----------------------------------

    async def set_placeholder(self, message_id: int, placeholder: str) -> None:
        """Remember the platform id of the message that will carry the answer."""
        await self._run(lambda s: _commit(s, update(PendingDelivery).where(
            col(PendingDelivery.message_id) == message_id).values(placeholder=placeholder[:128])))

    async def mark_delivered(self, message_id: int) -> None:
        await self._run(lambda s: _commit(s, update(PendingDelivery).where(
            col(PendingDelivery.message_id) == message_id).values(state="delivered", owner="")))

    async def claim_pending(self, *, lease: Lease, platforms: Sequence[str], limit: int = 20) -> list[Resumable]:
        """Pending deliveries whose lease ran out (their owner died), each taken with a compare-and-set on
        `lease_until`: of replicas racing for one row, exactly one UPDATE matches it. Each row taken gets an
        owner token of its own (`Resumable.lease`), so only this claim can renew it (`renew_lease`), not a
        later claim of the same replica."""
        now = datetime.now(UTC)

        def unit(s: Session) -> list[Resumable]:
            stale = (col(PendingDelivery.state) == "pending", col(PendingDelivery.lease_until) < now)
            rows = s.exec(select(PendingDelivery).where(*stale, col(PendingDelivery.platform).in_(platforms))
                          .order_by(col(PendingDelivery.message_id)).limit(limit)).all()
            taken = []
            for row in rows:
                claim = Lease(owner=f"{lease.owner[:56]}/{secrets.token_hex(3)}", seconds=lease.seconds)
                won = s.connection().execute(update(PendingDelivery).where(
                    col(PendingDelivery.message_id) == row.message_id, *stale).values(
                    owner=claim.owner, lease_until=now + timedelta(seconds=lease.seconds)))
                s.commit()
                if won.rowcount == 1:
                    taken.append((row, claim))
            return [_resumable(s, row, claim) for row, claim in taken]

        return await self._run(unit)

    async def renew_lease(self, message_id: int, lease: Lease) -> bool | None:
        """Move the lease of a pending delivery `lease.seconds` ahead, only while `lease.owner` still holds
        it (a compare-and-set on the owner: never someone else's claim). True when renewed; False when
        another owner took it over or it was delivered; None when the row is gone (its user was forgotten)."""

        def unit(s: Session) -> bool | None:
            until = datetime.now(UTC) + timedelta(seconds=lease.seconds)
            renewed = s.connection().execute(update(PendingDelivery).where(
                col(PendingDelivery.message_id) == message_id, col(PendingDelivery.owner) == lease.owner,
                col(PendingDelivery.state) == "pending").values(lease_until=until))
            s.commit()
            if renewed.rowcount == 1:
                return True
            exists = s.exec(select(PendingDelivery.message_id).where(
                col(PendingDelivery.message_id) == message_id)).first()
            return None if exists is None else False

        return await self._run(unit)

    async def prune_delivered(self, *, older_than: datetime, limit: int = 500) -> int:
        """Delete at most `limit` delivered rows created before `older_than`; returns how many. Bounded, so
        a large backlog is worked off over several passes without one long transaction."""

        def unit(s: Session) -> int:
            oldest = select(PendingDelivery.message_id).where(
                col(PendingDelivery.state) == "delivered", col(PendingDelivery.created_at) < older_than,
            ).order_by(col(PendingDelivery.message_id)).limit(limit)
            ids = list(s.exec(oldest).all())
            if not ids:
                return 0
            gone = s.connection().execute(delete(PendingDelivery).where(
                col(PendingDelivery.message_id).in_(ids), col(PendingDelivery.state) == "delivered"))
            s.commit()
            return int(gone.rowcount)

        return await self._run(unit)

    # --- deduplication of platform retries ---------------------------------------------

    async def claim_event(self, key: str) -> bool:
        """True the first time `key` is seen, across every replica sharing the database."""

        return await self._run(lambda s: _insert_unique(s, ProcessedEvent(event_key=key[:255])))

    # --- feedback ----------------------------------------------------------------------

    async def remember_answer(self, *, platform: str, message_ref: str, decision_id: int) -> None:
        """Where the answer of `decision_id` was posted (a Teams activity id), for the platform's own feedback
        buttons, which name only that; kept under the decision's tenant. A second call for the same message
        keeps the first."""

        def unit(s: Session) -> None:
            decision = s.get(Decision, decision_id)
            if decision is not None:
                _insert_unique(s, SentAnswer(platform=platform, tenant=decision.tenant, message_ref=message_ref[:255],
                                             decision_id=decision_id))

        await self._run(unit)

    async def answered_by(self, *, platform: str, tenant: str, message_ref: str) -> int | None:
        """The decision whose answer was posted as `message_ref` on this platform and tenant, if any."""
        return await self._run(lambda s: s.exec(select(SentAnswer.decision_id).where(
            SentAnswer.platform == platform, SentAnswer.tenant == tenant,
            SentAnswer.message_ref == message_ref[:255])).first())

    async def add_feedback(self, *, decision_id: int, user: Identity, score: int) -> bool:
        """Store (or change) a vote; False when the decision does not exist, or was made on another
        platform or in another tenant than the voter's (a vote cannot reach across)."""

        def unit(s: Session) -> bool:
            decision = s.get(Decision, decision_id)
            if decision is None or (decision.platform, decision.tenant) != (user.platform, user.tenant):
                return False
            row = s.exec(select(Feedback).where(Feedback.decision_id == decision_id,
                                                Feedback.user == user.user)).first()
            if row is None:
                s.add(Feedback(decision_id=decision_id, platform=user.platform, tenant=user.tenant, user=user.user,
                               score=1 if score > 0 else -1))
            else:
                row.score = 1 if score > 0 else -1
            s.commit()
            return True

        return await self._run(unit)

    # --- policy versions and audit -----------------------------------------------------

    async def latest_policy(self) -> PolicyVersion | None:
        return await self._run(lambda s: s.exec(
            select(PolicyVersion).order_by(col(PolicyVersion.version).desc()).limit(1)).first())

    async def policy_version(self, version: int) -> PolicyVersion | None:
        return await self._run(lambda s: s.exec(
            select(PolicyVersion).where(PolicyVersion.version == version)).first())

    async def policy_history(self, *, limit: int = 10) -> Sequence[PolicyVersion]:
        return await self._run(lambda s: s.exec(
            select(PolicyVersion).order_by(col(PolicyVersion.version).desc()).limit(limit)).all())

    async def save_policy(self, *, version: int, body: str, author: str, comment: str = "") -> bool:
        """Store version `version`; False when another writer took that number first."""

        row = PolicyVersion(version=version, body=body, author=author, comment=comment[:512])
        return await self._run(lambda s: _insert_unique(s, row))

    async def audit(self, *, actor: str, platform: str, command: str, allowed: bool, outcome: str) -> None:
        def unit(s: Session) -> None:
            s.add(AuditEntry(actor=actor, platform=platform, command=command, allowed=allowed, outcome=outcome))
            s.commit()

        await self._run(unit)

    async def audit_log(self, *, limit: int = 20) -> Sequence[AuditEntry]:
        return await self._run(lambda s: s.exec(
            select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)).all())

    async def decisions_after(self, *, since: datetime, after_id: int = 0, limit: int = 5000) -> Sequence[Decision]:
        """At most `limit` decision records created since `since` with an id above `after_id`, by id: a long
        history read in pages."""
        return await self._run(lambda s: s.exec(
            select(Decision).where(col(Decision.created_at) >= since, col(Decision.id) > after_id)
            .order_by(col(Decision.id)).limit(limit)).all())

    async def audit_trail(self, *, since: datetime) -> tuple[Sequence[Decision], Sequence[AuditEntry]]:
        """Decision records and admin entries created since `since`, oldest first (`switchboard audit`)."""

        def unit(s: Session) -> tuple[Sequence[Decision], Sequence[AuditEntry]]:
            decisions = s.exec(select(Decision).where(col(Decision.created_at) >= since)
                               .order_by(col(Decision.id))).all()
            entries = s.exec(select(AuditEntry).where(col(AuditEntry.created_at) >= since)
                             .order_by(col(AuditEntry.id))).all()
            return decisions, entries

        return await self._run(unit)

    async def policy_versions(self) -> Sequence[PolicyVersion]:
        """Every stored policy version, oldest first."""
        return await self._run(lambda s: s.exec(select(PolicyVersion).order_by(col(PolicyVersion.version))).all())

    # --- budgets -----------------------------------------------------------------------

    async def set_budget(self, *, scope: str, key: str, soft_usd: float | None, hard_usd: float | None,
                         author: str) -> None:
        def unit(s: Session) -> None:
            row = s.exec(select(Budget).where(Budget.scope == scope, Budget.key == key)).first()
            if row is None:
                row = Budget(scope=scope, key=key)
                s.add(row)
            row.soft_usd, row.hard_usd, row.updated_by = soft_usd, hard_usd, author
            row.updated_at = datetime.now(UTC)
            s.commit()

        await self._run(unit)

    async def budgets(self) -> list[BudgetLimit]:
        rows = await self._run(lambda s: s.exec(select(Budget).order_by(Budget.scope, Budget.key)).all())
        return [_limit(r) for r in rows]

    async def budget_limits(self, *, user: str, team: str) -> list[BudgetLimit]:
        """The user's and the team's own limits, each falling back to the `*` default of its scope."""

        def unit(s: Session) -> list[BudgetLimit]:
            rows = s.exec(select(Budget).where(col(Budget.key).in_([user, team, ANY]))).all()
            found = {(r.scope, r.key): r for r in rows}
            out = []
            for scope, key in (("user", user), ("team", team)):
                row = found.get((scope, key)) or found.get((scope, ANY))
                if row is not None:
                    out.append(_limit(row))
            return out

        return await self._run(unit)

    async def spend(self, *, scope: str, key: str, since: datetime) -> float:
        """USD spent by a user (scope `user`) or in a channel (scope `team`) since `since`; `key` is
        qualified, `platform:tenant:id`."""
        return await self._run(lambda s: _spent(s, scope=scope, key=key, since=since))

    async def reserve_budget(self, *, token: str, holds: Sequence[tuple[BudgetLimit, str]], amount_usd: float,
                             since: datetime, expires_at: datetime) -> tuple[int, ...] | None:
        """`routing.budget.BudgetLedger.reserve_budget`: one transaction; each counter is taken with an atomic
        UPDATE … WHERE spent + reserved < hard (PostgreSQL locks the row until the commit, so replicas racing for
        the last cents queue there), after releasing reservations that expired (their replica died)."""
        month = since.strftime("%Y-%m")

        def unit(s: Session) -> tuple[int, ...] | None:
            db = s.connection()
            _release_expired(s)
            ids = []
            for limit, key in sorted(holds, key=lambda h: (h[0].scope, h[1])):  # one lock order: no deadlock
                assert limit.hard_usd is not None
                where = (col(BudgetUsage.scope) == limit.scope, col(BudgetUsage.key) == key,
                         col(BudgetUsage.month) == month)
                if db.execute(sa_select(col(BudgetUsage.id)).where(*where)).first() is None:
                    # the month's first reservation starts from what the decision records say was spent
                    spent = _spent(s, scope=limit.scope, key=key, since=since)
                    db.execute(_insert_ignoring_duplicates(s, BudgetUsage, dict(
                        scope=limit.scope, key=key, month=month, spent_usd=spent, reserved_usd=0.0)))
                taken = db.execute(update(BudgetUsage).where(
                    *where, col(BudgetUsage.spent_usd) + col(BudgetUsage.reserved_usd) < limit.hard_usd)
                    .values(reserved_usd=col(BudgetUsage.reserved_usd) + amount_usd)
                    .returning(col(BudgetUsage.id))).first()
                if taken is None:
                    s.rollback()
                    return None
                usage_id = int(taken[0] or 0)  # RETURNING a primary key: never NULL
                ids.append(usage_id)
                db.execute(insert(BudgetReservation).values(token=token, usage_id=usage_id,
                                                            amount_usd=amount_usd, expires_at=expires_at))
            s.commit()
            return tuple(ids)

        return await self._run(unit)

    async def settle_budget(self, *, token: str, usage_ids: Sequence[int], cost_usd: float) -> None:
        """`routing.budget.BudgetLedger.settle_budget`."""

        def unit(s: Session) -> None:
            db = s.connection()
            held = db.execute(delete(BudgetReservation).where(col(BudgetReservation.token) == token)
                              .returning(col(BudgetReservation.usage_id), col(BudgetReservation.amount_usd))).all()
            for usage_id, amount in held:
                # each reservation is deleted once (DELETE … RETURNING), so its amount is given back once
                db.execute(update(BudgetUsage).where(col(BudgetUsage.id) == usage_id).values(
                    reserved_usd=col(BudgetUsage.reserved_usd) - amount))
            db.execute(update(BudgetUsage).where(col(BudgetUsage.id).in_(list(usage_ids))).values(
                spent_usd=col(BudgetUsage.spent_usd) + cost_usd))
            s.commit()

        await self._run(unit)

    # --- KPIs --------------------------------------------------------------------------

    async def kpi_records(self, *, since: datetime, until: datetime, limit: int | None = None) -> list[KpiRecord]:
        """The content-free part of the decision records created in [since, until), each with its votes;
        with `limit`, only the newest `limit` of them (a bound on what one request scans)."""
        votes = (sa_select(col(Feedback.decision_id).label("decision_id"),
                        func.sum(case((col(Feedback.score) > 0, 1), else_=0)).label("up"),
                        func.sum(case((col(Feedback.score) < 0, 1), else_=0)).label("down"))
                 .group_by(col(Feedback.decision_id)).subquery())
        # SQLite: the stored text, parsed by datetime.fromisoformat (~4x faster than SQLAlchemy's processor; the
        # dashboard reads up to 200,000 rows); KpiRecord readers take a naive time as UTC
        created = (type_coerce(col(Decision.created_at), String) if self._engine.dialect.name == "sqlite"
                   else col(Decision.created_at))
        columns: tuple[Any, ...] = (
            Decision.platform, Decision.tenant, Decision.channel, Decision.model, Decision.task,
            Decision.outcome, Decision.latency_ms, Decision.prompt_tokens, Decision.completion_tokens,
            Decision.cost_usd, Decision.fallback, Decision.cached, Decision.escalated, Decision.region,
            Decision.sensitivity)
        query = (sa_select(created, *(col(c) for c in columns), func.coalesce(votes.c.up, 0),
                           func.coalesce(votes.c.down, 0))
                 .outerjoin(votes, votes.c.decision_id == col(Decision.id))
                 .where(col(Decision.created_at) >= since, col(Decision.created_at) < until))
        query = (query.order_by(col(Decision.id)) if limit is None
                 else query.order_by(col(Decision.created_at).desc()).limit(limit))

        def unit(s: Session) -> list[KpiRecord]:
            same: dict[str, str] = {}  # one string object per distinct value (memory: up to 200,000 records)
            one = same.setdefault
            return [KpiRecord(created_at=_as_datetime(row[0]), team=one(f"{row[1]}:{row[2]}:{row[3]}",
                                                                        f"{row[1]}:{row[2]}:{row[3]}"),
                              model=one(row[4], row[4]), task=one(row[5], row[5]), outcome=one(row[6], row[6]),
                              latency_ms=float(row[7]), tokens=int(row[8]) + int(row[9]), cost_usd=float(row[10]),
                              fallback=bool(row[11]), cached=bool(row[12]), escalated=bool(row[13]),
                              region=one(row[14], row[14]), personal=row[15] in PERSONAL_LEVELS, up=int(row[16]),
                              down=int(row[17]))
                    for row in s.connection().execute(query)]

        return await self._run(unit, read_only=True)


class _ConversationRaced(Exception):
    """Another writer created the conversation between our look-up and our insert."""


def _add_user_turn(s: Session, msg: ChatMessage, *, event_key: str | None,
                   lease: Lease | None, reference: str = "") -> StoredTurn | None:
    # few SQL expressions, no ORM objects: this runs before the platform gets its ack, under a burst
    # of events one after the other (SQLite) and each waiting for the GIL between two statements
    db = s.connection()
    now = datetime.now(UTC)
    if event_key is not None:
        try:
            db.execute(insert(ProcessedEvent).values(event_key=event_key[:255], created_at=now))
        except IntegrityError:  # a re-delivery: the first one holds the key
            s.rollback()
            return None
    found = db.execute(select(Conversation.id, Conversation.pii_seen).where(
        Conversation.platform == msg.platform, Conversation.tenant == msg.tenant,
        Conversation.channel == msg.channel, Conversation.thread == msg.thread)).first()
    if found is None:
        try:
            created = db.execute(insert(Conversation).values(
                platform=msg.platform, tenant=msg.tenant, channel=msg.channel, thread=msg.thread, user=msg.user,
                pii_seen=False, created_at=now, updated_at=now))
        except IntegrityError as exc:
            s.rollback()  # the claim too: the caller starts over
            raise _ConversationRaced from exc
        conv = ConversationRef(id=_new_id(created), pii_seen=False)
    else:  # (its updated_at moves with the answer's add_message)
        conv = ConversationRef(id=int(found[0]), pii_seen=bool(found[1]))
    added = db.execute(insert(Message).values(conversation_id=conv.id, role="user", platform=msg.platform,
                                              tenant=msg.tenant, user=msg.user, text=msg.text, created_at=now))
    message_id = _new_id(added)
    if lease is not None:
        db.execute(insert(PendingDelivery).values(
            message_id=message_id, platform=msg.platform, tenant=msg.tenant, channel=msg.channel,
            thread=msg.thread, user=msg.user, placeholder="", reference=reference,
            material=_material(msg.mentions, msg.files), state="pending", owner=lease.owner,
            lease_until=now + timedelta(seconds=lease.seconds), created_at=now))
    s.commit()
    return StoredTurn(conversation=conv, message_id=message_id)


def _spent(s: Session, *, scope: str, key: str, since: datetime) -> float:
    who = Identity.parse(key)
    column = Decision.user if scope == "user" else Decision.channel
    total = s.exec(select(func.coalesce(func.sum(Decision.cost_usd), 0.0))
                   .where(Decision.platform == who.platform, Decision.tenant == who.tenant,
                          column == who.user, Decision.created_at >= since)).one()
    return float(total)


def _release_expired(s: Session, *, limit: int = 100) -> None:
    """Give back what reservations of dead holders still hold (at most `limit` of them per call)."""
    db = s.connection()
    now = datetime.now(UTC)
    expired = sa_select(col(BudgetReservation.id)).where(col(BudgetReservation.expires_at) < now).limit(limit)
    for usage_id, amount in db.execute(delete(BudgetReservation).where(col(BudgetReservation.id).in_(expired))
                                       .returning(col(BudgetReservation.usage_id), col(BudgetReservation.amount_usd))):
        db.execute(update(BudgetUsage).where(col(BudgetUsage.id) == usage_id).values(
            reserved_usd=col(BudgetUsage.reserved_usd) - amount))


def _insert_ignoring_duplicates(s: Session, table: type[SQLModel], values: dict[str, Any]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, in the dialect at hand (SQLite or PostgreSQL)."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).values(**values).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).values(**values).on_conflict_do_nothing()


def _as_datetime(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _commit(s: Session, statement: Any) -> None:
    s.connection().execute(statement)
    s.commit()


def welcome_key(platform: str, tenant: str, user: str) -> str:
    """The event key that records a person's one-time welcome (claimed like a platform delivery id)."""
    return f"{platform}:{tenant}:welcome:{user}"


def _material(mentions: Sequence[str], files: Sequence[FileRef]) -> str:
    """A pending delivery's `material`: '' when the message carried nothing besides its text."""
    if not mentions and not files:
        return ""
    return json.dumps({"mentions": list(mentions), "files": [dataclasses.asdict(f) for f in files]},
                      ensure_ascii=False)


def _read_material(stored: str) -> tuple[tuple[str, ...], tuple[FileRef, ...]]:
    """`_material` read back; a row from before the column (or unreadable JSON) carried nothing."""
    try:
        found = json.loads(stored) if stored else {}
        mentions = tuple(str(m) for m in found.get("mentions", ()))
        files = tuple(FileRef(name=str(f["name"]), url=str(f.get("url", "")), mimetype=str(f.get("mimetype", "")),
                              filetype=str(f.get("filetype", "")),
                              size=None if f.get("size") is None else int(f["size"]))
                      for f in found.get("files", ()))
    except (ValueError, TypeError, KeyError, AttributeError):
        log.warning("a pending delivery's stored mentions and files could not be read; resumed without them")
        return (), ()
    return mentions, files


def _resumable(s: Session, row: PendingDelivery, lease: Lease) -> Resumable:
    message = s.get(Message, row.message_id)
    conv = s.get(Conversation, message.conversation_id) if message is not None else None
    assert message is not None and conv is not None and conv.id is not None  # a foreign key keeps them
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    mentions, files = _read_material(row.material)
    msg = ChatMessage(platform=row.platform, tenant=row.tenant, channel=row.channel, thread=row.thread,
                      user=row.user, text=message.text, received_at=created, mentions=mentions, files=files)
    return Resumable(msg=msg, turn=StoredTurn(conversation=ConversationRef(id=conv.id, pii_seen=conv.pii_seen),
                                              message_id=row.message_id),
                     placeholder=row.placeholder, created_at=created, reference=row.reference, lease=lease)


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _insert_unique(s: Session, row: SQLModel) -> bool:
    """Insert `row`; False when a unique key says another writer (or replica) got there first."""
    s.add(row)
    try:
        s.commit()
    except IntegrityError:
        s.rollback()
        return False
    return True


_ERASED = "(erased)"  # an erased person's id in the records that stay


def _anonymise_trail(db: Any, qualified: str) -> int:
    """The admin trail keeps what was done; `qualified` (platform:tenant:user) becomes `(erased)` in it."""
    erased = _ERASED
    changed = db.execute(update(AuditEntry).where(col(AuditEntry.actor) == qualified).values(actor=erased)).rowcount
    for column in (AuditEntry.command, AuditEntry.outcome):
        changed += db.execute(update(AuditEntry).where(col(column).contains(qualified, autoescape=True)).values(
            {column.key: func.replace(col(column), qualified, erased)})).rowcount  # type: ignore[attr-defined]
    return int(changed)


def _decided_for(user: Identity) -> tuple[Any, ...]:
    return (col(Decision.platform) == user.platform, col(Decision.tenant) == user.tenant,
            col(Decision.user) == user.user)


def _find_conversation(s: Session, msg: ChatMessage) -> Conversation | None:
    return s.exec(select(Conversation).where(
        Conversation.platform == msg.platform, Conversation.tenant == msg.tenant,
        Conversation.channel == msg.channel, Conversation.thread == msg.thread)).first()


def _limit(row: Budget) -> BudgetLimit:
    return BudgetLimit(scope=row.scope, key=row.key, soft_usd=row.soft_usd, hard_usd=row.hard_usd)


def build_memory_store(url: str, *, cipher: FieldCipher | None = None) -> SqlMemoryStore:
    return SqlMemoryStore(build_engine(url), cipher=cipher)
