"""The two values that cross the adapter boundary: one frozen inbound message, one reply."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from bot.errors import InvalidIdentityError

SEPARATOR = ":"
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who someone is: always (platform, tenant, user). A raw user id means nothing on its own: the same
    id on another platform, or in another Slack workspace or Azure AD tenant, is another person.

    The written form is `platform:tenant:user` (`slack:T012AB:U123`, `teams:<tenant-guid>:<aad-object-id>`);
    the user part may itself hold colons (Teams ids such as `29:1a2b…`), platform and tenant may not.
    """

    platform: str
    tenant: str
    user: str

    def __str__(self) -> str:
        return SEPARATOR.join((self.platform, self.tenant, self.user))

    @classmethod
    def parse(cls, text: str) -> Identity:
        """`platform:tenant:user`; raises `InvalidIdentityError` for anything less (a bare id above all)."""
        parts = text.strip().split(SEPARATOR, 2)
        if len(parts) != 3 or not all(p.strip() for p in parts) or "*" in parts:
            raise InvalidIdentityError(
                f"{text.strip()!r} is not a qualified identity; write platform:tenant:user, e.g. "
                "slack:T012AB:U123 (Slack team id, user id) or teams:<tenant-guid>:<aad-object-id>")
        platform, tenant, user = (p.strip() for p in parts)
        return cls(platform.lower(), tenant, user).normalised()

    def normalised(self) -> Identity:
        """Teams tenants and AAD object ids are GUIDs, written in either case: lowercased. (Channel account
        ids such as `29:1AbC…` are case-sensitive and stay as they are.)"""
        if self.platform != "teams":
            return self
        user = self.user.lower() if _GUID.fullmatch(self.user) else self.user
        return Identity(self.platform, self.tenant.lower(), user)

    def scoped(self, local_id: str) -> str:
        """Another id of the same tenant (a channel), qualified the same way: `platform:tenant:id`."""
        return SEPARATOR.join((self.platform, self.tenant, local_id))


class ReplyKind(StrEnum):
    ANSWER = "answer"
    OFFLINE = "offline"
    REFUSAL = "refusal"
    ERROR = "error"
    COMMAND = "command"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRef:
    """A file sent with a message, as the platform describes it: its name, where the platform serves it
    (`url`; read by the adapter's `bot.files.FileSource`), its MIME type, the platform's own file type
    (Slack's `filetype`, Teams' `fileType`) and its size in bytes when the platform tells it."""

    name: str
    url: str = ""
    mimetype: str = ""
    filetype: str = ""
    size: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadContext:
    """The earlier messages of a platform thread the bot was called into, read by the adapter: `lines` oldest
    first, each "Name: text"; `people` the names of their authors and of those they mention (each counts as
    personal data, like `ChatMessage.mentions`). `complete` is False when some or all of the thread could not
    be read (`limited`: the platform's rate limit said no)."""

    lines: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    complete: bool = True
    limited: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatMessage:
    """A staff message as every adapter hands it to the pipeline; built only by adapters.

    `tenant` is the Slack workspace (team id; the enterprise id when a payload has no team), the
    Azure AD tenant of a Teams activity, or `SWITCHBOARD_TENANT` for the terminal. `thread` identifies
    the conversation inside `channel` (a Slack thread ts, a Teams reply chain, a terminal session).
    `event_id` is the platform's delivery id, used to drop retried deliveries. `mentions` are the names of
    the people the text mentions (resolved by the adapter from the platform's mention markup): each counts
    as personal data, whatever the analyzer makes of the name. `files` are the files sent with the text; the
    pipeline reads their text into the message (`bot.files`), and says which it could not read.
    """

    platform: str
    tenant: str
    channel: str
    thread: str
    user: str
    text: str
    locale: str = "en"
    event_id: str = ""
    mentions: tuple[str, ...] = ()
    files: tuple[FileRef, ...] = ()
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def attachments(self) -> tuple[str, ...]:
        """The names of the files sent with the message."""
        return tuple(f.name for f in self.files)

    @property
    def identity(self) -> Identity:
        """The author as (platform, tenant, user): the only key memory, budgets, cache and admins use."""
        return Identity(self.platform, self.tenant, self.user)

    @property
    def team_key(self) -> str:
        """The channel qualified by platform and tenant (the `team` of budgets)."""
        return self.identity.scoped(self.channel)


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


def vault_scope(platform: str, channel: str, thread: str) -> str:
    """The pseudonym vault's key of a conversation, inside its tenant."""
    return f"{platform}:{channel}:{thread}"
