"""What a serving process holds about people outside the database, erased on request (GDPR Art. 17).

The semantic cache lives in each process's memory: the chat command `forget` clears it in the process that
runs it (the other replicas' entries expire with their TTL). The pseudonym vault is this process's, or the
one every replica shares (`bot.shared_state`: the database or Redis), and then it is erased for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.types import Identity, vault_scope


class UserCache(Protocol):
    def forget(self, user: str) -> int: ...


class ConversationVault(Protocol):
    """`privacy.pseudonymise.VaultBackend.forget`."""

    async def forget(self, tenant: str, conversations: Sequence[str]) -> None: ...


class InMemoryErasure:
    def __init__(self, *, cache: UserCache | None, vault: ConversationVault | None) -> None:
        self._cache = cache
        self._vault = vault

    async def forget(self, user: Identity, conversations: Sequence[tuple[str, str, str, str]]) -> dict[str, int]:
        """Drop `user`'s cache entries and the vault of every conversation they wrote in; counts per store."""
        done = {}
        if self._cache is not None:
            done["semantic cache"] = self._cache.forget(str(user))
        if self._vault is not None:
            by_tenant: dict[str, list[str]] = {}
            for platform, tenant, channel, thread in conversations:
                by_tenant.setdefault(tenant, []).append(vault_scope(platform, channel, thread))
            for tenant, scopes in by_tenant.items():
                await self._vault.forget(tenant, scopes)
            done["pseudonym vault (conversations)"] = len(conversations)
        return done
