"""Pseudonymise → call → restore for requests whose verdict action is `pseudonymise`.

Every message of the prompt (system, history, new message) is analysed on its own and its
findings replaced by conversation-stable placeholders from the vault, so the provider never
sees a value; the answer (and every streamed partial) is restored before staff see it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence

from privacy.engine import TextAnalysis
from privacy.pseudonymise import PseudonymVault
from routing.providers import PartialCallback

_TRAILING_PARTIAL = re.compile(r"<[A-Z_]*\d*$")


class PromptPseudonymiser:
    def __init__(self, *, analyze: Callable[[str], TextAnalysis], vault: PseudonymVault,
                 min_score: float = 0.5) -> None:
        self._analyze = analyze
        self._vault = vault
        self._min_score = min_score

    def _one(self, tenant: str, conversation: str, text: str) -> str:
        findings = [f for f in self._analyze(text).findings if f.score >= self._min_score]
        return self._vault.pseudonymise(tenant, conversation, text, findings) if findings else text

    async def prepare(self, *, tenant: str, conversation: str,
                      messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
        """The prompt with every detected value replaced by its placeholder."""

        def work() -> list[dict[str, str]]:
            return [{**m, "content": self._one(tenant, conversation, m["content"])} for m in messages]

        return await asyncio.to_thread(work)

    def restore(self, tenant: str, conversation: str, text: str) -> str:
        return self._vault.restore(tenant, conversation, text)

    def restoring(self, tenant: str, conversation: str, on_partial: PartialCallback | None) -> PartialCallback | None:
        """Wraps a partial-text callback: restores placeholders and hides a half-streamed one."""
        if on_partial is None:
            return None

        async def restored(accumulated: str) -> None:
            await on_partial(self.restore(tenant, conversation, _TRAILING_PARTIAL.sub("", accumulated)))

        return restored

    def erase(self, tenant: str, conversation: str) -> None:
        self._vault.erase(tenant, conversation)
