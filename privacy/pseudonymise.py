"""Pseudonymise → call → restore, with a vault scoped per tenant + conversation.

API (the pipeline wires it in when the verdict's action is ``pseudonymise``)::

    vault = PseudonymVault(ttl_s=3600)
    safe = vault.pseudonymise(tenant, conversation, text, findings)   # "Call <PERSON_1> on <PHONE_NUMBER_1>"
    reply = vault.restore(tenant, conversation, provider_reply)       # placeholders → original values
    stream = vault.restorer(tenant, conversation)                     # for streamed replies
    for chunk in provider_chunks:
        emit(stream.feed(chunk))                                      # holds back a split "<PERS"
    emit(stream.flush())
    vault.erase(tenant, conversation)                                 # right to erasure / end of chat
    vault.erase_tenant(tenant)

Across replicas the placeholders of a conversation live in a shared store behind `VaultBackend`
(`bot.shared_state`: the database, or Redis); `PseudonymVault` is that backend in one process too.
A request works on a `PlaceholderMap` loaded from the backend, adds what it issued (all or nothing,
refused when another replica took one of the placeholders first) and restores with that same map.

Placeholders are typed and stable per conversation: the same person is ``<PERSON_1>`` in every
turn, and declined forms of one name ("Anna Nowak", "Annę Nowak") share it. Restoring only
replaces placeholders this conversation issued; values are inserted as plain text (never as a
regex template), so "$1", "\\g<0>" or "<PERSON_2>" inside a value cannot inject anything.
Entries expire ``ttl_s`` after their last use; nothing is logged, and this class persists nothing.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from privacy.lexicon import stem_candidates
from privacy.verdict import Finding

PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*?)_(\d{1,6})>")
_MAX_PLACEHOLDER = 48


def _key(entity_type: str, value: str) -> tuple[str, str]:
    if entity_type == "PERSON":  # one key for every declined form of the same name
        return entity_type, " ".join(min(stem_candidates(w), key=len) for w in value.split())
    return entity_type, re.sub(r"[\s\-./()]", "", value).casefold()


@dataclass(frozen=True, slots=True)
class VaultEntry:
    """One placeholder of a conversation and the value it stands for (personal data)."""

    placeholder: str  # "<PERSON_1>"
    value: str


class VaultBackend(Protocol):
    """Where a conversation's placeholders are kept: `PseudonymVault` (one process), or a store the
    replicas share (`bot.shared_state`), which raises `SharedStateUnavailableError` when it fails."""

    async def load(self, tenant: str, conversation: str) -> list[VaultEntry]:
        """The conversation's entries; their time to live starts again."""
        ...

    async def add(self, tenant: str, conversation: str, entries: Sequence[VaultEntry]) -> bool:
        """Keep all of `entries` or none: False when one of the placeholders is taken already (by another
        replica that pseudonymised the same conversation at the same time)."""
        ...

    async def forget(self, tenant: str, conversations: Sequence[str]) -> None:
        """Erase every entry of these conversations (the right to erasure)."""
        ...


class PlaceholderMap:
    """The placeholders of one conversation as one request sees them: loaded entries plus those it issues."""

    def __init__(self, entries: Iterable[VaultEntry] = ()) -> None:
        self.by_key: dict[tuple[str, str], str] = {}
        self.values: dict[str, str] = {}  # placeholder -> original value
        self.counters: dict[str, int] = {}
        self.new: list[VaultEntry] = []
        self.record(entries)

    def record(self, entries: Iterable[VaultEntry]) -> None:
        """Take in entries issued before (loaded from a vault); they are not `new`."""
        for e in entries:
            m = PLACEHOLDER.fullmatch(e.placeholder)
            if m is None:
                continue
            self.values[e.placeholder] = e.value
            # two replicas racing may both have stored one value: the lower number is its placeholder
            key = _key(m.group(1), e.value)
            if key not in self.by_key or _number(e.placeholder) < _number(self.by_key[key]):
                self.by_key[key] = e.placeholder
            self.counters[m.group(1)] = max(self.counters.get(m.group(1), 0), int(m.group(2)))

    def pseudonymise(self, text: str, findings: Iterable[Finding]) -> str:
        spans = _non_overlapping(f for f in findings if f.entity_type != "SPECIAL_CATEGORY")
        parts, pos = [], 0
        for f in spans:
            parts += [text[pos:f.start], self.placeholder(f.entity_type, text[f.start:f.end])]
            pos = f.end
        parts.append(text[pos:])
        return "".join(parts)

    def placeholder(self, entity_type: str, value: str) -> str:
        key = _key(entity_type, value)
        existing = self.by_key.get(key)
        if existing is not None:
            return existing
        n = self.counters[entity_type] = self.counters.get(entity_type, 0) + 1
        placeholder = f"<{entity_type}_{n}>"
        self.by_key[key] = placeholder
        self.values[placeholder] = value
        self.new.append(VaultEntry(placeholder, value))
        return placeholder

    def restore(self, text: str) -> str:
        """Placeholders of this map → original values; anything else untouched."""
        if not self.values:
            return text
        return PLACEHOLDER.sub(lambda m: self.values.get(m.group(0), m.group(0)), text)


def _number(placeholder: str) -> int:
    m = PLACEHOLDER.fullmatch(placeholder)
    return int(m.group(2)) if m else 0


@dataclass
class _Conversation:
    expires_at: float
    placeholders: PlaceholderMap = field(default_factory=PlaceholderMap)


class PseudonymVault:
    """In-memory vault of placeholder ↔ value per (tenant, conversation), with TTL and erasure."""

    def __init__(self, *, ttl_s: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._store: dict[tuple[str, str], _Conversation] = {}

    def _conversation(self, tenant: str, conversation: str, *, create: bool) -> _Conversation | None:
        now = self._clock()
        for k in [k for k, c in self._store.items() if c.expires_at <= now]:
            del self._store[k]
        conv = self._store.get((tenant, conversation))
        if conv is None and create:
            conv = self._store[tenant, conversation] = _Conversation(expires_at=now + self._ttl_s)
        if conv is not None:
            conv.expires_at = now + self._ttl_s
        return conv

    def pseudonymise(self, tenant: str, conversation: str, text: str, findings: Iterable[Finding]) -> str:
        """``text`` with every finding's span replaced by its conversation-stable placeholder."""
        with self._lock:
            conv = self._conversation(tenant, conversation, create=True)
            assert conv is not None
            safe = conv.placeholders.pseudonymise(text, findings)
            conv.placeholders.new.clear()  # kept here already: this vault is their store
        return safe

    def restore(self, tenant: str, conversation: str, text: str) -> str:
        """Placeholders this conversation issued → original values; anything else untouched."""
        with self._lock:
            conv = self._conversation(tenant, conversation, create=False)
            return conv.placeholders.restore(text) if conv else text

    def restorer(self, tenant: str, conversation: str) -> StreamRestorer:
        return StreamRestorer(lambda chunk: self.restore(tenant, conversation, chunk))

    def erase(self, tenant: str, conversation: str) -> None:
        with self._lock:
            self._store.pop((tenant, conversation), None)

    def erase_tenant(self, tenant: str) -> None:
        with self._lock:
            for k in [k for k in self._store if k[0] == tenant]:
                del self._store[k]

    # --- as a `VaultBackend` (one process) -------------------------------------------------------

    async def load(self, tenant: str, conversation: str) -> list[VaultEntry]:
        with self._lock:
            conv = self._conversation(tenant, conversation, create=False)
            return [VaultEntry(p, v) for p, v in conv.placeholders.values.items()] if conv else []

    async def add(self, tenant: str, conversation: str, entries: Sequence[VaultEntry]) -> bool:
        with self._lock:
            conv = self._conversation(tenant, conversation, create=True)
            assert conv is not None
            if any(e.placeholder in conv.placeholders.values for e in entries):
                return False
            conv.placeholders.record(entries)
            return True

    async def forget(self, tenant: str, conversations: Sequence[str]) -> None:
        for conversation in conversations:
            self.erase(tenant, conversation)

    def __len__(self) -> int:
        with self._lock:
            self._conversation("", "", create=False)  # purge expired
            return len(self._store)


class StreamRestorer:
    """Restores placeholders in streamed chunks; a placeholder split across chunks is held back."""

    _PARTIAL = re.compile(r"<[A-Z_]*\d*$")

    def __init__(self, restore: Callable[[str], str]) -> None:
        self._restore = restore
        self._pending = ""

    def feed(self, chunk: str) -> str:
        buf = self._pending + chunk
        cut = len(buf)
        lt = buf.rfind("<")
        if lt != -1 and len(buf) - lt <= _MAX_PLACEHOLDER and self._PARTIAL.match(buf, lt):
            cut = lt
        self._pending = buf[cut:]
        return self._restore(buf[:cut])

    def flush(self) -> str:
        out, self._pending = self._restore(self._pending), ""
        return out


def _non_overlapping(findings: Iterable[Finding]) -> list[Finding]:
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.start, -(f.end - f.start))):
        if not kept or f.start >= kept[-1].end:
            kept.append(f)
    return kept
