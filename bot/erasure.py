"""What a serving process holds about people outside the database, erased on request (GDPR Art. 17).

The semantic cache and the pseudonym vault live in each process's memory: the chat command `forget`
clears them in the process that runs it (the other replicas' entries expire with their TTLs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.types import Identity


class UserCache(Protocol):
    def forget(self, user: str) -> int: ...


class ConversationVault(Protocol):
    def erase(self, tenant: str, conversation: str) -> None: ...


class InMemoryErasure:
    def __init__(self, *, cache: UserCache | None, vault: ConversationVault | None) -> None:
        self._cache = cache
        self._vault = vault

    def forget(self, user: Identity, conversations: Sequence[tuple[str, str, str, str]]) -> dict[str, int]:
        """Drop `user`'s cache entries and the vault of every conversation they wrote in; counts per store."""
        done = {}
        if self._cache is not None:
            done["semantic cache"] = self._cache.forget(str(user))
        if self._vault is not None:
            for platform, tenant, channel, thread in conversations:  # the pipeline's vault scope
                self._vault.erase(tenant, f"{platform}:{channel}:{thread}")
            done["pseudonym vault (conversations)"] = len(conversations)
        return done
