"""SQLModel tables. Decision records hold entity *types* only, never the values found."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from bot.memory.crypto import EncryptedText


def _now() -> datetime:
    return datetime.now(UTC)


class Conversation(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("platform", "tenant", "channel", "thread"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)
    tenant: str = Field(max_length=128)
    channel: str = Field(max_length=128)
    thread: str = Field(max_length=128)
    user: str = Field(max_length=128, index=True)  # who started it
    pii_seen: bool = False  # once true, the whole thread stays pinned
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class Message(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    role: str = Field(max_length=16)  # user | assistant
    # (platform, tenant, user): the author, or whom the assistant answered; rows from before identities were
    # qualified get platform and tenant from their conversation (migration 0003)
    platform: str = Field(default="", max_length=32)
    tenant: str = Field(default="", max_length=128)
    user: str = Field(max_length=128, index=True)
    text: str = Field(sa_column=Column(EncryptedText, nullable=False))  # encrypted at rest with a key
    created_at: datetime = Field(default_factory=_now)


class Decision(SQLModel, table=True):
    """One record per answered message: what was found, where it went, what it cost."""

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id", index=True)
    message_id: int | None = Field(default=None, foreign_key="message.id")  # NULL once purged or erased
    platform: str = Field(default="", max_length=32)
    tenant: str = Field(default="", max_length=128)
    channel: str = Field(default="", max_length=128, index=True)
    user: str = Field(default="", max_length=128, index=True)  # with platform and tenant: whom it answered
    policy_version: int = 0
    sensitivity: str = Field(default="public", max_length=16)
    privacy_action: str = Field(default="", max_length=16)  # allow | pin | pseudonymise | block ('' before)
    entity_types: str = Field(default="", max_length=512)  # comma-separated types, never values
    task: str = Field(default="", max_length=32)
    strategy: str = Field(default="", max_length=32)
    model: str = Field(default="", max_length=128, index=True)
    region: str = Field(default="", max_length=16)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    outcome: str = Field(default="", max_length=32)  # answered | offline | refused | failed | blocked
    fallback: bool = False
    cached: bool = False
    escalated: bool = False
    # every model called for this answer, in order, as JSON: [{"model", "region", "role", "ok"}], role one of
    # answer | tier | member | verifier | judge | cache (a cache hit: the model whose stored answer was served)
    attempts: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=_now, index=True)


class Feedback(SQLModel, table=True):
    # one vote per person and decision: a vote is only taken from the decision's own platform and tenant
    # (SqlMemoryStore.add_feedback), so the user id is unique there
    __table_args__ = (UniqueConstraint("decision_id", "user"),)

    id: int | None = Field(default=None, primary_key=True)
    decision_id: int = Field(foreign_key="decision.id", index=True)
    platform: str = Field(default="", max_length=32)
    tenant: str = Field(default="", max_length=128)
    user: str = Field(max_length=128)
    score: int  # +1 / -1
    created_at: datetime = Field(default_factory=_now)


class SentAnswer(SQLModel, table=True):
    """An answer as posted on its platform (`message_ref`: the Teams activity id) → its decision record. Teams'
    own feedback buttons send only the id of the activity voted on (`replyToId`), and the vote may reach any
    replica, so the mapping lives here, not in one process's memory."""

    __table_args__ = (UniqueConstraint("platform", "tenant", "message_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)
    tenant: str = Field(default="", max_length=128)
    message_ref: str = Field(max_length=255)
    decision_id: int = Field(foreign_key="decision.id", index=True)
    created_at: datetime = Field(default_factory=_now, index=True)


class ProcessedEvent(SQLModel, table=True):
    """Platform delivery ids already taken; the primary key makes retries lose the race."""

    event_key: str = Field(primary_key=True, max_length=255)
    created_at: datetime = Field(default_factory=_now)


class PolicyVersion(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(index=True, unique=True)
    body: str = Field(sa_column=Column(Text, nullable=False))  # YAML
    author: str = Field(max_length=128)
    comment: str = Field(default="", max_length=512)
    created_at: datetime = Field(default_factory=_now)


class Budget(SQLModel, table=True):
    """A monthly spending limit (USD) for one user or team (channel); key `*` is everyone's default.

    Keys are qualified, `platform:tenant:id`; a bare key (written before identities were qualified)
    matches nobody and `budget show` marks it so.
    """

    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=16)  # user | team
    key: str = Field(max_length=128)
    soft_usd: float | None = None
    hard_usd: float | None = None
    updated_by: str = Field(default="", max_length=128)
    updated_at: datetime = Field(default_factory=_now)


class AuditEntry(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=128, index=True)  # platform:tenant:user (older rows: the bare user id)
    platform: str = Field(default="", max_length=32)
    command: str = Field(sa_column=Column(Text, nullable=False))
    allowed: bool
    outcome: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=_now)


class PendingDelivery(SQLModel, table=True):
    """An accepted message until its answer (or an apology) is posted: what is needed to finish it after a
    crash (`bot.recovery`). `lease_until` is a compare-and-set lock: whoever moves it forward owns the row
    until then; the replica that admitted the message owns it from the start."""

    message_id: int = Field(primary_key=True, foreign_key="message.id")
    platform: str = Field(max_length=32)
    tenant: str = Field(default="", max_length=128)
    channel: str = Field(max_length=128)
    thread: str = Field(max_length=128)
    user: str = Field(max_length=128)
    placeholder: str = Field(default="", max_length=128)  # the platform's id of our "Thinking…" message
    # what the platform needs to answer later, as JSON (Teams: the conversation reference with its serviceUrl
    # and the user's name): encrypted at rest with a key
    reference: str = Field(default="", sa_column=Column(EncryptedText, nullable=False, default=""))
    # what the message carried besides its text, as JSON (`{"mentions": [names], "files": [FileRef fields]}`),
    # so a resumed answer counts the people mentioned and reads the files; files leave it once their text is
    # stored in the message. Names: encrypted at rest with a key
    material: str = Field(default="", sa_column=Column(EncryptedText, nullable=False, default=""))
    state: str = Field(default="pending", max_length=16, index=True)  # pending | delivered
    owner: str = Field(default="", max_length=64)
    lease_until: datetime = Field(default_factory=_now, index=True)
    created_at: datetime = Field(default_factory=_now)


# --- state the replicas share (bot.shared_state), and budget reservations (routing.budget) -----------------


class ModelCooldown(SQLModel, table=True):
    """A model in cooldown for every replica (a circuit breaker): skipped until `until` (wall clock, epoch
    seconds); `strikes` failures in a row double the span. No row: the model is fine."""

    model: str = Field(primary_key=True, max_length=255)
    until: float
    strikes: int = 1
    updated_at: datetime = Field(default_factory=_now)


class ModelWindow(SQLModel, table=True):
    """One replica's recent attempts at one model (live statistics for dynamic routing), as JSON
    `[[epoch seconds, latency ms, ok], ...]`; each replica overwrites only its own rows."""

    replica: str = Field(primary_key=True, max_length=64)
    model: str = Field(primary_key=True, max_length=255)
    published_at: float = Field(index=True)
    in_flight: int = 0
    outcomes: str = Field(sa_column=Column(Text, nullable=False))


class PseudonymEntry(SQLModel, table=True):
    """A placeholder of a pseudonymised conversation and the value it stands for. The placeholder is unique
    in its conversation, so two replicas cannot give one placeholder two values; no normalised key is
    stored (it would be personal data in clear), it is computed from the value when loaded."""

    __table_args__ = (UniqueConstraint("tenant", "conversation", "placeholder"),
                      Index("ix_pseudonymentry_conversation", "tenant", "conversation"))

    id: int | None = Field(default=None, primary_key=True)
    tenant: str = Field(max_length=128)
    conversation: str = Field(max_length=400)  # platform:channel:thread (bot.pipeline.vault_scope)
    placeholder: str = Field(max_length=64)
    value: str = Field(sa_column=Column(EncryptedText, nullable=False))  # encrypted at rest, like message texts
    expires_at: datetime = Field(index=True)


class BudgetUsage(SQLModel, table=True):
    """What a user or team (`scope`, `key`) spent and holds reserved in one calendar month (`YYYY-MM`, UTC):
    the counter a reservation is taken against atomically (`SqlMemoryStore.reserve_budget`)."""

    __table_args__ = (UniqueConstraint("scope", "key", "month"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=16)
    key: str = Field(max_length=128)
    month: str = Field(max_length=7)
    spent_usd: float = 0.0
    reserved_usd: float = 0.0


class BudgetReservation(SQLModel, table=True):
    """An estimate held against a budget while its request runs; settled with the real cost, or released
    when `expires_at` passes (the replica holding it died)."""

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, index=True)  # one request's reservations share it (user and team)
    usage_id: int = Field(foreign_key="budgetusage.id", index=True)
    amount_usd: float
    expires_at: datetime = Field(index=True)
