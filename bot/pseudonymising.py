"""Pseudonymise → call → restore for requests whose verdict action is `pseudonymise`.

Every message of the prompt (system, history, new message) is analysed on its own and its
findings replaced by conversation-stable placeholders from the vault, so the provider never
sees a value; the answer (and every streamed partial) is restored before staff see it.

The vault may be shared by replicas (`bot.shared_state`), so a follow-up landing on another replica
gets the same placeholders. A request restores with exactly the map it pseudonymised with, never with
what another request or replica holds, so a value can only come back where its placeholder was issued.
When the shared store fails, or keeps losing races, the request goes on with a map of its own that is
never written back: its placeholders may differ from the other turns' (the provider sees each prompt
whole, history included, so the prompt stays consistent), a warning says so, and the shared vault never
holds two values for one placeholder.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Callable, Sequence

from bot.errors import SharedStateUnavailableError
from privacy.engine import TextAnalysis
from privacy.pseudonymise import PlaceholderMap, VaultBackend, VaultEntry
from privacy.verdict import Finding
from routing.providers import PartialCallback

log = logging.getLogger(__name__)

_TRAILING_PARTIAL = re.compile(r"<[A-Z_]*\d*$")
ATTEMPTS = 5  # loads and adds when another replica took a placeholder of the same conversation first


class PseudonymisedPrompt:
    """A prompt with its values replaced, and the one map that restores the answer to it."""

    def __init__(self, messages: list[dict[str, str]], placeholders: PlaceholderMap) -> None:
        self.messages = messages
        self._map = placeholders
        self.kept = False  # are its placeholders the conversation's (in the vault), or this request's own

    @property
    def issued(self) -> list[VaultEntry]:
        """The placeholders this prompt issued that the vault did not hold yet."""
        return self._map.new

    def restore(self, text: str) -> str:
        return self._map.restore(text)

    def restoring(self, on_partial: PartialCallback | None) -> PartialCallback | None:
        """Wraps a partial-text callback: restores placeholders and hides a half-streamed one."""
        if on_partial is None:
            return None

        async def restored(accumulated: str) -> None:
            await on_partial(self.restore(_TRAILING_PARTIAL.sub("", accumulated)))

        return restored


class PromptPseudonymiser:
    def __init__(self, *, analyze: Callable[[str], TextAnalysis], vault: VaultBackend,
                 min_score: float = 0.5) -> None:
        self._analyze = analyze
        self.vault = vault
        self._min_score = min_score

    def _findings(self, text: str) -> list[Finding]:
        return [f for f in self._analyze(text).findings if f.score >= self._min_score]

    async def prepare(self, *, tenant: str, conversation: str,
                      messages: Sequence[dict[str, str]]) -> PseudonymisedPrompt:
        """The prompt with every detected value replaced by its conversation's placeholder."""
        found = await asyncio.to_thread(lambda: [self._findings(m["content"]) for m in messages])

        def apply(entries: list[VaultEntry]) -> PseudonymisedPrompt:
            placeholders = PlaceholderMap(entries)
            out = [{**m, "content": placeholders.pseudonymise(m["content"], f) if f else m["content"]}
                   for m, f in zip(messages, found, strict=True)]
            return PseudonymisedPrompt(out, placeholders)

        for attempt in range(ATTEMPTS):
            if attempt:  # lost a race: the winner's entries are there now, unless several keep colliding
                await asyncio.sleep(random.uniform(0, 0.01 * 2 ** attempt))
            try:
                prompt = await asyncio.to_thread(apply, await self.vault.load(tenant, conversation))
                if not prompt.issued or await self.vault.add(tenant, conversation, prompt.issued):
                    prompt.kept = True
                    return prompt
            except SharedStateUnavailableError as exc:
                log.warning("pseudonym vault: the shared store failed (%s); this answer uses placeholders of its "
                            "own, not kept, which may differ from the conversation's other turns", exc)
                return await asyncio.to_thread(apply, [])
        log.warning("pseudonym vault: lost %d races for a conversation's placeholders; this answer uses "
                    "placeholders of its own, not kept", ATTEMPTS)
        return prompt
