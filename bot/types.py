"""The two values that cross the adapter boundary: one frozen inbound message, one reply."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class ReplyKind(StrEnum):
    ANSWER = "answer"
    OFFLINE = "offline"
    REFUSAL = "refusal"
    ERROR = "error"
    COMMAND = "command"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatMessage:
    """A staff message as every adapter hands it to the pipeline; built only by adapters.

    `thread` identifies the conversation inside `channel` (a Slack thread ts, a Teams
    reply chain, a terminal session). `event_id` is the platform's delivery id, used to
    drop retried deliveries.
    """

    platform: str
    tenant: str
    channel: str
    thread: str
    user: str
    text: str
    locale: str = "en"
    event_id: str = ""
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """What the pipeline answers; adapters render it for their platform."""

    text: str
    kind: ReplyKind = ReplyKind.ANSWER
    model: str | None = None
    region: str | None = None
    task: str | None = None
    cost_usd: float = 0.0
    cached: bool = False
    fallback: bool = False
    decision_id: int | None = None

    @property
    def offline(self) -> bool:
        return self.kind is ReplyKind.OFFLINE
