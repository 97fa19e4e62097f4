"""The policy in force: the newest stored version, seeded from the policy file.

Every replica reads the newest version number on each request, so an admin change is
effective at once everywhere; the YAML is parsed again only when the number changes.
"""

from __future__ import annotations

from bot.errors import PolicyValidationError
from bot.memory.store import SqlMemoryStore
from routing.policy import Policy, policy_from_yaml


class PolicyStore:
    def __init__(self, *, memory: SqlMemoryStore, seed: Policy) -> None:
        self._memory = memory
        self._seed = seed
        self._cached: Policy | None = None

    @property
    def seed(self) -> Policy:
        """The policy from the policy file (what a new database starts with)."""
        return self._seed

    async def current(self) -> Policy:
        row = await self._memory.latest_policy()
        if row is None:
            await self._memory.save_policy(version=self._seed.version, body=self._seed.to_yaml(),
                                           author="system", comment="seeded from the policy file")
            row = await self._memory.latest_policy()
            assert row is not None
        if self._cached is None or self._cached.version != row.version:
            self._cached = policy_from_yaml(row.body, source=f"stored version {row.version}")
        return self._cached

    async def apply(self, policy: Policy, *, author: str, comment: str) -> Policy:
        """Store `policy` as the next version; validation already happened when it was built."""
        for _ in range(5):
            base = await self.current()
            nxt = policy.model_copy(update={"version": base.version + 1})
            # re-validate the whole document as it will be read back
            nxt = policy_from_yaml(nxt.to_yaml(), source="the proposed change")
            if await self._memory.save_policy(version=nxt.version, body=nxt.to_yaml(), author=author,
                                              comment=comment):
                self._cached = nxt
                return nxt
        raise PolicyValidationError("the policy changed concurrently five times; try again")

    async def rollback(self, version: int, *, author: str) -> Policy:
        row = await self._memory.policy_version(version)
        if row is None:
            raise PolicyValidationError(f"there is no policy version {version}; `policy history` lists them")
        old = policy_from_yaml(row.body, source=f"stored version {version}")
        return await self.apply(old, author=author, comment=f"rollback to version {version}")
