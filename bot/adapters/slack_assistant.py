"""Slack's AI-app surfaces: the assistant thread's greeting, suggested prompts, title and status, and the
one-time welcome in the Messages tab.

Everything here runs after the ack and is decoration around the answer: a refusal by Slack (a missing
scope, an app without the assistant view, a rate limit) or a network failure is logged, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import DatabaseUnavailableError
from bot.i18n import t
from bot.memory.store import SqlMemoryStore, welcome_key

log = logging.getLogger(__name__)

PROMPT_TASKS = ("creative", "analysis", "translation", "code")  # Slack shows at most four prompts
MAX_TITLE_CHARS = 60


def suggested_prompts(locale: str) -> list[dict[str, str]]:
    """One prompt per task class, in the user's language: what each kind of work looks like here."""
    prompts = []
    for task in PROMPT_TASKS:
        title, _, message = t(f"slack_prompt_{task}", locale).partition("|")
        prompts.append({"title": title, "message": message})
    return prompts


def thread_title(text: str) -> str:
    """A thread's title from its first message: the first line, at most MAX_TITLE_CHARS characters."""
    line = " ".join(text.strip().splitlines()[0].split()) if text.strip() else ""
    return line if len(line) <= MAX_TITLE_CHARS else line[:MAX_TITLE_CHARS - 1].rstrip() + "…"


class SlackAssistant:
    """Calls the assistant.threads.* methods and posts the greetings, on behalf of the Slack adapter."""

    def __init__(self, client: AsyncWebClient, memory: SqlMemoryStore) -> None:
        self._client = client
        self._memory = memory

    async def greet(self, *, channel: str, thread_ts: str, locale: str) -> None:
        """A new assistant thread: the greeting and the suggested prompts, in the user's language."""
        await _quietly("chat.postMessage", self._client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=t("slack_greeting", locale)))
        await _quietly("assistant.threads.setSuggestedPrompts", self._client.assistant_threads_setSuggestedPrompts(
            channel_id=channel, thread_ts=thread_ts, title=t("slack_prompts_title", locale),
            prompts=suggested_prompts(locale)))

    async def working(self, *, channel: str, thread_ts: str, locale: str) -> bool:
        """Show "is thinking…" with loading messages; True when Slack took it (it then shows until our first
        message in the thread, or two minutes)."""
        call = self._client.assistant_threads_setStatus(
            channel_id=channel, thread_ts=thread_ts, status=t("slack_status", locale),
            loading_messages=t("slack_loading", locale).split("|"))
        return await _quietly("assistant.threads.setStatus", call) is not None

    async def title(self, *, channel: str, thread_ts: str, text: str) -> None:
        title = thread_title(text)
        if title:
            await _quietly("assistant.threads.setTitle", self._client.assistant_threads_setTitle(
                channel_id=channel, thread_ts=thread_ts, title=title))

    async def welcome(self, *, tenant: str, user: str, channel: str, locale: str) -> None:
        """The Messages tab opened: a short welcome, once per person (across replicas and restarts)."""
        try:
            first = await self._memory.claim_event(welcome_key("slack", tenant, user))
        except DatabaseUnavailableError as exc:  # no welcome rather than one on every visit
            log.warning("slack: the welcome was skipped, the database is unavailable: %s", exc)
            return
        if first:
            await _quietly("chat.postMessage", self._client.chat_postMessage(
                channel=channel, text=t("slack_welcome", locale)))


async def _quietly(method: str, call: Awaitable[Any]) -> Any | None:
    """The response of a Web API call, or None (logged) when Slack refused it or could not be reached."""
    try:
        return await call
    except SlackApiError as exc:
        log.warning("%s refused: %s", method, exc.response.get("error"))
    except (ClientError, TimeoutError) as exc:
        log.warning("%s failed: %r", method, exc)
    return None
