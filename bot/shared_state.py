"""State the replicas share: model cooldowns, live statistics, the pseudonym vault.

Three implementations of each, chosen by `build_shared_state`:

- in this process only (`routing.providers.Cooldowns`, `routing.stats.LiveStats`,
  `privacy.pseudonymise.PseudonymVault`): the CLI, the tests, one process on SQLite;
- in the shared SQL database (`SqlSharedState`, tables `ModelCooldown`, `ModelWindow`,
  `PseudonymEntry`): PostgreSQL in production, SQLite works too;
- in Redis (`RedisSharedState`) when `SWITCHBOARD_REDIS_URL` is set.

Cooldowns and statistics are an optimisation: when the shared store fails, a replica goes on with its
own view (a warning once per outage) and asks the store again after `RETRY_S`; an answer never fails
for them. The vault is personal data and must not diverge: see `bot.pseudonymising` for what a request
does when the store fails. Redis keeps vault entries with a time to live; the database purges them.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from cryptography.fernet import InvalidToken
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.errors import ConfigurationError, DatabaseUnavailableError, SharedStateUnavailableError
from bot.memory.crypto import PLAIN_MARK, FieldCipher, is_token
from bot.memory.models import ModelCooldown, ModelWindow, PseudonymEntry
from bot.memory.store import SqlMemoryStore
from privacy.pseudonymise import PseudonymVault, VaultBackend, VaultEntry
from routing.providers import CooldownBoard, Cooldowns
from routing.stats import AttemptObserver, LiveStats, ReplicaWindow, StatsExchange

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_S = 5.0  # after a failure, the shared store is asked again after this long
WINDOW_ROWS_KEPT_S = 3600.0  # a replica's statistics rows are deleted this long after it last wrote them


@dataclass(frozen=True, slots=True)
class SharedCooldown:
    until: float  # wall clock, epoch seconds
    strikes: int


class CooldownStore(Protocol):
    """Where `SharedCooldowns` keeps one row per cooling model; failures raise SharedStateUnavailableError."""

    async def cooldown(self, model: str) -> SharedCooldown | None: ...

    async def take_probe(self, model: str, *, seen: SharedCooldown, until: float) -> bool:
        """Move a passed cooldown to `until` if nobody did since `seen` (a compare-and-set): one probe."""
        ...

    async def trip(self, model: str, *, now: float, cooldown_s: float, max_cooldown_s: float,
                   retry_after: float) -> float:
        """One more strike, atomically: cooling until `now` + the doubled span (or Retry-After); the end."""
        ...

    async def clear(self, model: str) -> None: ...


class _Outage:
    """Remembers a failing shared store: warn once, fall back to local state, try again after RETRY_S."""

    def __init__(self, what: str, clock: Callable[[], float]) -> None:
        self._what = what
        self._clock = clock
        self._until = float("-inf")
        self._failing = False

    def down(self) -> bool:
        return self._clock() < self._until

    def failed(self, exc: Exception) -> None:
        if not self._failing:
            log.warning("%s: the shared store failed (%s); this replica uses its own state until it answers",
                        self._what, exc)
        self._failing = True
        self._until = self._clock() + RETRY_S

    def answered(self) -> None:
        if self._failing:
            log.warning("%s: the shared store answers again", self._what)
        self._failing = False


class SharedCooldowns:
    """`CooldownBoard` for every replica: while the shared store answers it alone decides (a cooldown tripped
    by one replica is honoured by all; after it, exactly one replica wins the probe); each trip and reset
    is mirrored in a local `Cooldowns`, which decides while the store does not answer."""

    def __init__(self, store: CooldownStore, *, local: Cooldowns | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self.local = local or Cooldowns()
        self._clock = clock
        self._seen: dict[str, float] = {}  # model -> the end of its cooldown, as last read from the store
        self._outage = _Outage("cooldowns", clock)

    def cooling(self, model_id: str) -> bool:
        if self._outage.down():
            return self.local.cooling(model_id)
        return self._seen.get(model_id, 0.0) > self._clock()

    async def _shared(self, call: Awaitable[T]) -> tuple[bool, T | None]:
        try:
            result = await call
        except SharedStateUnavailableError as exc:
            self._outage.failed(exc)
            return False, None
        self._outage.answered()
        return True, result

    async def acquire(self, model_id: str) -> bool:
        if self._outage.down():
            return self.local.acquire_now(model_id)
        ok, seen = await self._shared(self._store.cooldown(model_id))
        if not ok:
            return self.local.acquire_now(model_id)
        if seen is None:
            self._seen.pop(model_id, None)
            return True
        self._seen[model_id] = seen.until
        now = self._clock()
        if seen.until > now:
            return False
        ok, won = await self._shared(self._store.take_probe(model_id, seen=seen, until=now + self.local.probe_s))
        return bool(won) if ok else self.local.acquire_now(model_id)

    async def trip(self, model_id: str, *, retry_after: float | None = None) -> None:
        self.local.trip_now(model_id, retry_after=retry_after)
        if self._outage.down():
            return
        ok, until = await self._shared(self._store.trip(
            model_id, now=self._clock(), cooldown_s=self.local.cooldown_s, max_cooldown_s=self.local.max_cooldown_s,
            retry_after=retry_after or 0.0))
        if ok and until is not None:
            self._seen[model_id] = until

    async def reset(self, model_id: str) -> None:
        # only a model seen cooling costs a write: a success on a healthy model is free
        known = model_id in self._seen or self.local.knows(model_id)
        self.local.reset_now(model_id)
        if known and not self._outage.down():
            ok, _ = await self._shared(self._store.clear(model_id))
            if ok:
                self._seen.pop(model_id, None)


# --- in the shared SQL database ----------------------------------------------------------------------


class SqlSharedState:
    """Cooldowns (`CooldownStore`), live statistics (`StatsExchange`) and the vault (`VaultBackend`) in the
    database every replica uses; every unit of work runs in the store's database threads."""

    def __init__(self, memory: SqlMemoryStore, *, vault_ttl_s: float) -> None:
        self._memory = memory
        self._ttl = timedelta(seconds=vault_ttl_s)

    async def _unit(self, fn: Callable[[Session], T]) -> T:
        try:
            return await self._memory.run_unit(fn)
        except DatabaseUnavailableError as exc:
            raise SharedStateUnavailableError(str(exc)) from exc

    # cooldowns

    async def cooldown(self, model: str) -> SharedCooldown | None:
        def unit(s: Session) -> SharedCooldown | None:
            row = s.get(ModelCooldown, model)
            return None if row is None else SharedCooldown(until=row.until, strikes=row.strikes)

        return await self._unit(unit)

    async def take_probe(self, model: str, *, seen: SharedCooldown, until: float) -> bool:
        def unit(s: Session) -> bool:
            won = s.connection().execute(update(ModelCooldown).where(
                col(ModelCooldown.model) == model, col(ModelCooldown.until) == seen.until).values(until=until))
            s.commit()
            return bool(won.rowcount == 1)

        return await self._unit(unit)

    async def trip(self, model: str, *, now: float, cooldown_s: float, max_cooldown_s: float,
                   retry_after: float) -> float:
        def unit(s: Session) -> float:
            for _ in range(2):  # a second time when another replica inserted the row first
                row = s.exec(select(ModelCooldown).where(ModelCooldown.model == model).with_for_update()).first()
                strikes = 1 if row is None else row.strikes + 1
                until = now + max(min(max_cooldown_s, cooldown_s * 2.0 ** (strikes - 1)), retry_after)
                if row is None:
                    s.add(ModelCooldown(model=model, until=until, strikes=strikes))
                else:
                    # as in `Cooldowns`: the new span replaces the old end (a probe's hold included)
                    row.until, row.strikes, row.updated_at = until, strikes, datetime.now(UTC)
                try:
                    s.commit()
                except IntegrityError:
                    s.rollback()
                    continue
                return until
            raise SharedStateUnavailableError(f"could not record the cooldown of {model}")

        return await self._unit(unit)

    async def clear(self, model: str) -> None:
        def unit(s: Session) -> None:
            s.connection().execute(delete(ModelCooldown).where(col(ModelCooldown.model) == model))
            s.commit()

        await self._unit(unit)

    # live statistics

    async def publish(self, windows: Sequence[ReplicaWindow]) -> None:
        def unit(s: Session) -> None:
            for w in windows:  # each replica writes only its own rows: nobody races for them
                s.merge(ModelWindow(replica=w.replica, model=w.model, published_at=w.published_at,
                                    in_flight=w.in_flight, outcomes=json.dumps(w.outcomes)))
            oldest = min(w.published_at for w in windows) - WINDOW_ROWS_KEPT_S
            s.connection().execute(delete(ModelWindow).where(col(ModelWindow.published_at) < oldest))
            s.commit()

        await self._unit(unit)

    async def fetch(self, *, since: float) -> list[ReplicaWindow]:
        def unit(s: Session) -> list[ReplicaWindow]:
            rows = s.exec(select(ModelWindow).where(col(ModelWindow.published_at) >= since)).all()
            return [_window(r.replica, r.model, r.published_at, r.in_flight, r.outcomes) for r in rows]

        return await self._unit(unit)

    # the pseudonym vault

    async def load(self, tenant: str, conversation: str) -> list[VaultEntry]:
        mine = (col(PseudonymEntry.tenant) == tenant, col(PseudonymEntry.conversation) == conversation)

        def unit(s: Session) -> list[VaultEntry]:
            now = datetime.now(UTC)
            db = s.connection()
            db.execute(delete(PseudonymEntry).where(*mine, col(PseudonymEntry.expires_at) < now))
            rows = s.exec(select(PseudonymEntry.placeholder, PseudonymEntry.value).where(*mine)).all()
            if rows:
                db.execute(update(PseudonymEntry).where(*mine).values(expires_at=now + self._ttl))
            s.commit()
            return [VaultEntry(p, v) for p, v in rows]

        return await self._unit(unit)

    async def add(self, tenant: str, conversation: str, entries: Sequence[VaultEntry]) -> bool:
        def unit(s: Session) -> bool:
            now = datetime.now(UTC)
            expired = select(PseudonymEntry.id).where(col(PseudonymEntry.expires_at) < now).limit(500)
            s.connection().execute(delete(PseudonymEntry).where(col(PseudonymEntry.id).in_(expired)))
            s.add_all(PseudonymEntry(tenant=tenant, conversation=conversation, placeholder=e.placeholder,
                                     value=e.value, expires_at=now + self._ttl) for e in entries)
            try:
                s.commit()
            except IntegrityError:  # another replica issued one of these placeholders first
                s.rollback()
                return False
            return True

        return await self._unit(unit)

    async def forget(self, tenant: str, conversations: Sequence[str]) -> None:
        def unit(s: Session) -> None:
            s.connection().execute(delete(PseudonymEntry).where(
                col(PseudonymEntry.tenant) == tenant, col(PseudonymEntry.conversation).in_(list(conversations))))
            s.commit()

        if conversations:
            await self._unit(unit)


def _window(replica: str, model: str, published_at: float, in_flight: int, outcomes: str) -> ReplicaWindow:
    return ReplicaWindow(replica=replica, model=model, published_at=float(published_at), in_flight=int(in_flight),
                         outcomes=tuple((float(at), float(ms), bool(ok)) for at, ms, ok in json.loads(outcomes)))


# --- in Redis ----------------------------------------------------------------------------------------

_TRIP = """
local strikes = redis.call('HINCRBY', KEYS[1], 'strikes', 1)
local span = math.max(math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) * 2 ^ (strikes - 1)), tonumber(ARGV[4]))
local ends = tonumber(ARGV[1]) + span
redis.call('HSET', KEYS[1], 'until', string.format('%.6f', ends))
redis.call('EXPIRE', KEYS[1], math.ceil(ends - tonumber(ARGV[1]) + tonumber(ARGV[5])))
return string.format('%.6f', ends)
"""
_PROBE = """
if redis.call('HGET', KEYS[1], 'until') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'until', ARGV[2])
  return 1
end
return 0
"""
_ADD = """
for i = 1, #ARGV - 1, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then return 0 end
end
for i = 1, #ARGV - 1, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[#ARGV])
return 1
"""


class RedisSharedState:
    """The same three stores in Redis (`redis.asyncio`): a hash per cooling model (expiring after its cooldown
    and a probe), one hash of every replica's statistics windows, a hash per pseudonymised conversation that
    expires `vault_ttl_s` after its last use. Lua scripts make a trip, a probe and an addition atomic."""

    def __init__(self, url: str, *, vault_ttl_s: float, probe_s: float = 60.0, prefix: str = "switchboard:",
                 timeout_s: float = 1.0, cipher: FieldCipher | None = None) -> None:
        import redis.asyncio  # only when configured: the CLI's admin commands stay lean

        try:
            self._redis: Any = redis.asyncio.Redis.from_url(url, decode_responses=True, socket_timeout=timeout_s,
                                                             socket_connect_timeout=timeout_s)
        except ValueError as exc:
            raise ConfigurationError(f"cannot use Redis at {url.split('@')[-1]!r}: {exc}; "
                                     "fix SWITCHBOARD_REDIS_URL") from exc
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError, TimeoutError)
        self._cipher = cipher  # vault values encrypted like message texts (SWITCHBOARD_ENCRYPTION_KEY)
        self._ttl_s = max(1, math.ceil(vault_ttl_s))
        self._probe_s = probe_s
        self._prefix = prefix
        self._trip = self._redis.register_script(_TRIP)
        self._probe = self._redis.register_script(_PROBE)
        self._add = self._redis.register_script(_ADD)

    async def _call(self, call: Awaitable[T]) -> T:
        try:
            return await call
        except self._errors as exc:
            raise SharedStateUnavailableError(f"Redis does not answer ({type(exc).__name__}: {exc}); check "
                                              "that it is up, or fix SWITCHBOARD_REDIS_URL") from exc

    def _key(self, kind: str, *parts: str) -> str:
        return self._prefix + kind + ":" + json.dumps(parts)  # JSON: "a:b"+"c" and "a"+"b:c" stay apart

    async def ping(self) -> None:
        await self._call(self._redis.ping())

    async def aclose(self) -> None:
        await self._redis.aclose()

    # cooldowns

    async def cooldown(self, model: str) -> SharedCooldown | None:
        found = await self._call(self._redis.hgetall(self._key("cooldown", model)))
        if not found or "until" not in found:
            return None
        return SharedCooldown(until=float(found["until"]), strikes=int(found.get("strikes", 1)))

    async def take_probe(self, model: str, *, seen: SharedCooldown, until: float) -> bool:
        won = await self._call(self._probe(keys=[self._key("cooldown", model)],
                                           args=[f"{seen.until:.6f}", f"{until:.6f}"]))
        return bool(int(won))

    async def trip(self, model: str, *, now: float, cooldown_s: float, max_cooldown_s: float,
                   retry_after: float) -> float:
        ends = await self._call(self._trip(keys=[self._key("cooldown", model)],
                                           args=[now, cooldown_s, max_cooldown_s, retry_after,
                                                 self._probe_s + max_cooldown_s]))
        return float(ends)

    async def clear(self, model: str) -> None:
        await self._call(self._redis.delete(self._key("cooldown", model)))

    # live statistics

    async def publish(self, windows: Sequence[ReplicaWindow]) -> None:
        fields = {json.dumps([w.replica, w.model]): json.dumps([w.published_at, w.in_flight, w.outcomes])
                  for w in windows}
        await self._call(self._redis.hset(self._key("stats"), mapping=fields))

    async def fetch(self, *, since: float) -> list[ReplicaWindow]:
        found = await self._call(self._redis.hgetall(self._key("stats")))
        out, stale = [], []
        for field, value in found.items():
            (replica, model), (published_at, in_flight, outcomes) = json.loads(field), json.loads(value)
            if published_at < since - WINDOW_ROWS_KEPT_S:
                stale.append(field)
            elif published_at >= since:
                out.append(_window(replica, model, published_at, in_flight, json.dumps(outcomes)))
        if stale:  # replicas gone long ago
            await self._call(self._redis.hdel(self._key("stats"), *stale))
        return out

    # the pseudonym vault

    async def load(self, tenant: str, conversation: str) -> list[VaultEntry]:
        key = self._key("vault", tenant, conversation)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.expire(key, self._ttl_s)
            found, _ = await self._call(pipe.execute())
        return [VaultEntry(p, self._reveal(v)) for p, v in found.items()]

    def _hide(self, value: str) -> str:
        if self._cipher is not None:
            return self._cipher.encrypt(value)
        return PLAIN_MARK + value if value.startswith(PLAIN_MARK) or is_token(value) else value

    def _reveal(self, stored: str) -> str:
        if not is_token(stored):
            return stored.removeprefix(PLAIN_MARK)
        try:
            if self._cipher is None:
                raise InvalidToken
            return self._cipher.decrypt(stored)
        except InvalidToken:  # the request goes on with placeholders of its own (bot.pseudonymising)
            raise SharedStateUnavailableError("the pseudonym vault in Redis is encrypted with a key that is not in "
                                              "SWITCHBOARD_ENCRYPTION_KEY") from None

    async def add(self, tenant: str, conversation: str, entries: Sequence[VaultEntry]) -> bool:
        args: list[str | int] = [x for e in entries for x in (e.placeholder, self._hide(e.value))]
        added = await self._call(self._add(keys=[self._key("vault", tenant, conversation)],
                                           args=[*args, self._ttl_s]))
        return bool(int(added))

    async def forget(self, tenant: str, conversations: Sequence[str]) -> None:
        if conversations:
            await self._call(self._redis.delete(*(self._key("vault", tenant, c) for c in conversations)))


# --- choosing ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SharedState:
    kind: str  # local | database | redis
    cooldowns: CooldownBoard
    stats: LiveStats
    vault: VaultBackend
    redis: RedisSharedState | None = None

    async def aclose(self) -> None:
        await self.stats.aclose()
        if self.redis is not None:
            await self.redis.aclose()


def build_shared_state(settings: Settings, memory: SqlMemoryStore, *,
                       observer: AttemptObserver | None = None) -> SharedState:
    """Redis when SWITCHBOARD_REDIS_URL is set; else the database, unless it is SQLite (one process) or
    SWITCHBOARD_SHARED_STATE says `local` (or `database`, to share through SQLite too)."""
    kind = settings.shared_state
    if kind == "auto":
        sqlite = memory.engine.dialect.name == "sqlite"
        kind = "redis" if settings.redis_url else ("local" if sqlite else "database")
    if kind == "local":
        return SharedState(kind=kind, cooldowns=Cooldowns(), stats=LiveStats(observer=observer),
                           vault=PseudonymVault(ttl_s=settings.pseudonym_ttl_s))
    store: SqlSharedState | RedisSharedState
    if kind == "redis":
        if not settings.redis_url:
            raise ConfigurationError("SWITCHBOARD_SHARED_STATE=redis needs SWITCHBOARD_REDIS_URL")
        store = RedisSharedState(settings.redis_url, vault_ttl_s=settings.pseudonym_ttl_s, cipher=settings.cipher())
    else:
        store = SqlSharedState(memory, vault_ttl_s=settings.pseudonym_ttl_s)
    exchange: StatsExchange = store
    return SharedState(kind=kind, cooldowns=SharedCooldowns(store), vault=store,
                       stats=LiveStats(observer=observer, exchange=exchange,
                                       sync_s=settings.shared_stats_sync_s),
                       redis=store if isinstance(store, RedisSharedState) else None)
