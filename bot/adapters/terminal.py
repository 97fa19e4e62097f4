"""Terminal adapter: `switchboard chat` — interactive, or one answer per piped input line."""

from __future__ import annotations

import asyncio
import getpass
import sys
from datetime import UTC, datetime
from typing import TextIO

from bot.pipeline import Pipeline
from bot.types import ChatMessage, Reply, ReplyKind


def render(reply: Reply) -> str:
    if reply.kind in (ReplyKind.ANSWER,) and reply.model:
        footer = f"[{reply.model} · {reply.region} · ${reply.cost_usd:.5f}"
        footer += " · fallback]" if reply.fallback else "]"
        return f"{reply.text}\n{footer}"
    return reply.text


class TerminalAdapter:
    def __init__(self, *, pipeline: Pipeline, tenant: str, thread: str | None = None, user: str | None = None,
                 locale: str = "en") -> None:
        self._pipeline = pipeline
        self._tenant = tenant
        self._thread = thread or datetime.now(UTC).strftime("session-%Y%m%dT%H%M%S")
        self._user = user or getpass.getuser()
        self._locale = locale

    def message(self, text: str) -> ChatMessage:
        return ChatMessage(platform="terminal", tenant=self._tenant, channel="terminal", thread=self._thread,
                           user=self._user, text=text, locale=self._locale)

    async def run(self, stdin: TextIO, stdout: TextIO) -> int:
        interactive = stdin.isatty()
        if interactive:
            stdout.write(f"Switchboard chat — thread {self._thread}. Ctrl-D to quit.\n")
        while True:
            if interactive:
                stdout.write("you> ")
                stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                return 0
            text = line.rstrip("\n")
            if not text.strip():
                continue
            reply = await self._pipeline.handle(self.message(text))
            prefix = "switchboard> " if interactive else ""
            stdout.write(f"{prefix}{render(reply)}\n")
            stdout.flush()


def default_streams() -> tuple[TextIO, TextIO]:
    return sys.stdin, sys.stdout
