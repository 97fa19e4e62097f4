"""The earlier messages of a Slack thread the bot is mentioned into (conversations.replies), as `ThreadContext`.

Slack rate-limits conversations.replies hard for apps not approved for the Slack Marketplace: since May 2025 a
newly created (or newly installed) commercially distributed app gets 1 request per minute and at most 15
messages per request (Tier 1); internal, customer-built apps and Marketplace apps keep Tier 3 (50+ per minute).
So pages are 15 messages, the reading is bounded (messages, characters, time), and a 429 is not waited out
(Retry-After is a minute): the answer goes ahead with what was read, and says so.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack_people import SlackPeople
from bot.adapters.slack_text import mentioned_users, plain_text
from bot.types import ThreadContext

log = logging.getLogger(__name__)

PAGE_SIZE = 15  # the most conversations.replies returns per request to non-Marketplace apps
NAME_LOOKUP_S = 1.0
MAX_NAME_LOOKUPS = 30
_SKIPPED_SUBTYPES = frozenset({"channel_join", "channel_leave", "group_join", "group_leave", "bot_add",
                               "bot_remove", "assistant_app_thread"})


class SlackThreadReader:
    """Reads a thread with its own client: one without the 429 retry handler of the adapter's client, which
    would wait out a minute-long Retry-After before the answer."""

    def __init__(self, client: AsyncWebClient, people: SlackPeople, *, max_messages: int, max_chars: int,
                 timeout_s: float = 5.0) -> None:
        self._client = client
        self._people = people
        self._max_messages = max_messages
        self._max_chars = max_chars
        self._timeout_s = timeout_s

    async def read(self, *, tenant: str, channel: str, thread_ts: str, before_ts: str,
                   bot_user: str) -> ThreadContext:
        """The thread's messages before `before_ts` (the message that mentions us), oldest first."""
        if self._max_messages <= 0 or self._max_chars <= 0:
            return ThreadContext()
        messages, complete, limited = await self._fetch(channel, thread_ts)
        earlier = [m for m in messages if _ts(m) < _ts({"ts": before_ts}) and m.get("subtype") not in _SKIPPED_SUBTYPES
                   and str(m.get("text") or "").strip()]
        users = list(dict.fromkeys(
            [str(m["user"]) for m in earlier if isinstance(m.get("user"), str) and m["user"] != bot_user]
            + [u for m in earlier for u in mentioned_users(str(m.get("text") or ""), bot_user)]))[:MAX_NAME_LOOKUPS]
        people = await self._people.names(tenant, users, timeout_s=NAME_LOOKUP_S) if users else {}
        lines, names = [], []
        for m in earlier:
            read = plain_text(str(m.get("text") or ""), bot_user=bot_user, people=people)
            author = _author(m, bot_user, people)
            names += [*read.mentions, *([author] if m.get("user") in people and people[m["user"]].person else [])]
            lines.append(f"{author}: {read.text}")
        kept = _within(lines, self._max_chars)
        return ThreadContext(lines=tuple(kept), people=tuple(dict.fromkeys(n for n in names if n)),
                             complete=complete and len(kept) == len(lines), limited=limited)

    async def _fetch(self, channel: str, thread_ts: str) -> tuple[list[dict[str, Any]], bool, bool]:
        """(messages, complete, rate limited): pages of `PAGE_SIZE` following the cursor, up to `max_messages`."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        try:
            async with asyncio.timeout(self._timeout_s):
                while True:
                    resp = await self._client.conversations_replies(channel=channel, ts=thread_ts, limit=PAGE_SIZE,
                                                                    cursor=cursor)
                    found += [m for m in resp.get("messages") or [] if isinstance(m, dict)]
                    meta = resp.get("response_metadata")
                    cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
                    if not resp.get("has_more") or not cursor:
                        return found, True, False
                    if len(found) >= self._max_messages:
                        return found[:self._max_messages], False, False
        except SlackApiError as exc:
            limited = exc.response.status_code == 429 or exc.response.get("error") == "ratelimited"
            log.warning("slack: conversations.replies refused (%s, Retry-After %s): answering with %d messages of the "
                        "thread", exc.response.get("error"), exc.response.headers.get("Retry-After"), len(found))
            return found, False, limited
        except (ClientError, TimeoutError) as exc:
            log.warning("slack: conversations.replies failed (%r): answering with %d messages", exc, len(found))
            return found, False, False


def _ts(message: dict[str, Any]) -> tuple[int, int]:
    seconds, _, micros = str(message.get("ts") or "").partition(".")
    return (int(seconds), int(micros)) if seconds.isdigit() and micros.isdigit() else (0, 0)


def _author(message: dict[str, Any], bot_user: str, people: dict[str, Any]) -> str:
    user = message.get("user")
    if user == bot_user:
        return "Switchboard"
    if isinstance(user, str) and user in people and people[user].name:
        return str(people[user].name)
    if message.get("bot_id"):
        return str(message.get("username") or "app")
    return "@colleague"


def _within(lines: list[str], max_chars: int) -> list[str]:
    """The thread's first message (what it is about) and as many of the latest as fit in `max_chars`."""
    if not lines:
        return []
    first = lines[0][:max_chars]
    room = max_chars - len(first)
    latest: list[str] = []
    for line in reversed(lines[1:]):
        if len(line) > room:
            break
        latest.append(line)
        room -= len(line)
    return [first, *reversed(latest)]
