"""Provider calls through LiteLLM: credentials, timeouts, retries with backoff, fallbacks, streaming.

Provider exceptions are translated into `ProviderError` here and nowhere else. A chain only
ever contains models the privacy verdict allowed, so a fallback can never cross regions. Every
attempt obeys the answer's `CallLimits` (connect, first token, stall, the answer's end).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot.errors import (
    DeadlineExceededError,
    MissingCredentialsError,
    NoModelAvailableError,
    ProviderError,
    ProviderTimeoutError,
)
from routing.deadlines import CallLimits
from routing.litellm_env import import_litellm
from routing.policy import Deadlines, ModelSpec
from routing.retry_after import retry_after_from_headers
from routing.stats import LiveStats

if TYPE_CHECKING:  # httpx (with its CLI: rich, pygments) loads with LiteLLM, at the first call
    import httpx

log = logging.getLogger(__name__)

PartialCallback = Callable[[str], Awaitable[None]]
ChatMessages = Sequence[Mapping[str, str]]

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True, slots=True)
class Completion:
    """One answer. Tokens are the answering model's; `extra_cost_usd` is what other calls for the
    same answer cost (cascade tiers that were not good enough, ensemble members, judge, verifier)."""

    text: str
    model: ModelSpec
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    fallback: bool = False
    attempts: int = 1
    escalated: bool = False
    extra_cost_usd: float = 0.0
    calls: int = 1
    note: str = ""  # what the strategy did, for the decision record
    first_token_at: float | None = None  # time.perf_counter() when its first token arrived (streams only)

    @property
    def cost_usd(self) -> float:
        return self.model.cost(self.prompt_tokens, self.completion_tokens) + self.extra_cost_usd


@dataclass(slots=True)
class Attempt:
    """One model called for an answer (retries of it included in `calls`); `ok` None while it runs or when
    it was cancelled (the answer's deadline): the request was sent all the same."""

    model: str
    region: str
    role: str  # answer | member | verifier | judge | cache
    calls: int = 0
    ok: bool | None = None


class AttemptLog:
    """Every model a request was sent to for one answer, in the order of the first call: the decision
    record's `attempts`, which the residency audit checks (`switchboard audit --verify-residency`). An
    entry is made before the request goes out, so a call cut off by the deadline is listed too."""

    def __init__(self) -> None:
        self.entries: list[Attempt] = []

    def start(self, model: ModelSpec, role: str) -> Attempt:
        entry = Attempt(model=model.id, region=model.region, role=role)
        self.entries.append(entry)
        return entry

    def drop(self, entry: Attempt) -> None:
        """Forget an entry whose request never left (a missing key)."""
        if entry.calls == 0 and entry in self.entries:
            self.entries.remove(entry)

    def to_json(self) -> str:
        return json.dumps([{"model": e.model, "region": e.region, "role": e.role, "calls": e.calls, "ok": e.ok}
                           for e in self.entries], separators=(",", ":"))


class LLMClient(Protocol):
    """Calls one model once within `limits`; raises ProviderError (ProviderTimeoutError) on failure."""

    async def complete(self, *, model: ModelSpec, messages: ChatMessages, limits: CallLimits,
                       on_partial: PartialCallback | None = None) -> Completion: ...


def missing_credentials(model: ModelSpec, environ: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(v for v in model.env if not environ.get(v))


def any_credentials(models: Sequence[ModelSpec], environ: Mapping[str, str]) -> bool:
    """True when at least one enabled model has everything it needs (otherwise: offline mode)."""
    return any(m.enabled and m.env and not missing_credentials(m, environ) for m in models)


class LiteLLMClient:
    """The production client: `litellm.acompletion`, one attempt per call (we retry ourselves).

    Every call streams, also when nobody shows partial answers: only a stream tells a provider
    that is working (chunks arrive) from one that hangs, so the first-token and stall timeouts of
    `limits` apply to every call. The stream is closed whenever the attempt ends, so a timeout or
    a cancelled answer also ends the HTTP request.
    """

    def __init__(self, *, environ: Mapping[str, str]) -> None:
        self._environ = environ

    async def complete(self, *, model: ModelSpec, messages: ChatMessages, limits: CallLimits,
                       on_partial: PartialCallback | None = None) -> Completion:
        missing = missing_credentials(model, self._environ)
        if missing:
            raise MissingCredentialsError(model.id, missing)
        litellm = import_litellm()
        kwargs: dict[str, Any] = {"model": model.id, "messages": list(messages), "timeout": _http_timeout(limits),
                                  "num_retries": 0, "stream": True, "stream_options": {"include_usage": True}}
        if model.api_base:
            kwargs["api_base"] = model.api_base
        if model.api_key_env:
            kwargs["api_key"] = self._environ.get(model.api_key_env)
        loop = asyncio.get_running_loop()
        started = loop.time()
        watch = _Watch(limits, started)
        try:
            async with asyncio.timeout_at(watch.first_token_by) as timer:
                watch.timer = timer
                text, prompt, completion, first_at = await self._stream(litellm, kwargs, messages, on_partial,
                                                                         watch)
        except TimeoutError as exc:
            if watch.timer is not None and watch.timer.expired():
                raise watch.timed_out(model.id) from exc
            raise translate_error(exc, model.id) from exc
        except ProviderError:
            raise
        except Exception as exc:
            raise translate_error(exc, model.id) from exc
        return Completion(text=text, model=model, prompt_tokens=prompt, completion_tokens=completion,
                          latency_ms=(loop.time() - started) * 1000, first_token_at=first_at)

    async def _stream(self, litellm: Any, kwargs: dict[str, Any], messages: ChatMessages,
                      on_partial: PartialCallback | None, watch: _Watch) -> tuple[str, int, int, float]:
        stream = await litellm.acompletion(**kwargs)
        first_at: float | None = None
        try:
            parts: list[str] = []
            usage = None
            finished = False
            async for chunk in stream:
                watch.chunk()
                usage = getattr(chunk, "usage", None) or usage
                if not chunk.choices:
                    continue
                finished = finished or bool(chunk.choices[0].finish_reason)
                delta = chunk.choices[0].delta.content or ""
                if delta:
                    first_at = first_at or time.perf_counter()
                    parts.append(delta)
                    if on_partial is not None:
                        with watch.ours():  # a slow chat platform is no stalled provider
                            await on_partial("".join(parts))
        finally:
            await _close(stream)
        text = "".join(parts)
        if not text:
            raise ProviderError(f"{kwargs['model']} returned an empty stream", model=kwargs["model"],
                                retryable=True)
        if not finished:  # the connection ended without a finish_reason: the answer is cut off
            raise ProviderError(f"{kwargs['model']} stream ended before the answer was complete",
                                model=kwargs["model"], retryable=True)
        prompt, completion = _usage(usage, litellm, kwargs["model"], messages, text)
        assert first_at is not None  # a text arrived
        return text, prompt, completion, first_at


class _Watch:
    """The timers of one attempt: first token, then stall between chunks, never past the answer's end.

    One `asyncio.timeout` is moved forward at each chunk; while our own `on_partial` runs only the
    answer's end applies. When it fires, `phase` says which limit it was.
    """

    def __init__(self, limits: CallLimits, started: float) -> None:
        self.limits = limits
        self.timer: asyncio.Timeout | None = None
        self.first_token_by = limits.clip(started + limits.first_token_s)
        self.chunks = 0

    def chunk(self) -> None:
        self.chunks += 1
        self._move(asyncio.get_running_loop().time() + self.limits.stall_s)

    @contextmanager
    def ours(self) -> Iterator[None]:
        self._move(self.limits.ends_at)
        try:
            yield
        finally:
            self._move(asyncio.get_running_loop().time() + self.limits.stall_s)

    def _move(self, at: float) -> None:
        if self.timer is not None:
            self.timer.reschedule(self.limits.clip(at))

    def timed_out(self, model: str) -> ProviderTimeoutError:
        when = self.timer.when() if self.timer is not None else None
        if when is not None and when >= self.limits.ends_at:
            return ProviderTimeoutError(f"{model} was cut off: the answer's deadline passed", model=model,
                                        phase="deadline")
        if self.chunks == 0:
            return ProviderTimeoutError(f"{model} sent no first token within {self.limits.first_token_s:g} s",
                                        model=model, phase="first token")
        return ProviderTimeoutError(f"{model} stalled: no chunk for {self.limits.stall_s:g} s", model=model,
                                    phase="stall")


def _http_timeout(limits: CallLimits) -> httpx.Timeout:
    """httpx's own timeouts: the connect limit, and a read gap only as a backstop behind our timers.

    The same for every call under one policy: LiteLLM keys its cached clients (and their connection
    pools) by the timeout, so a value that changed per call would build a new client each time.
    LiteLLM applies an httpx.Timeout for OpenAI-compatible, Azure and Bedrock models; for other
    providers it keeps the read value for everything, so there the first-token timer bounds the connect.
    """
    import httpx

    return httpx.Timeout(max(limits.first_token_s, limits.stall_s) + 1.0, connect=limits.connect_s)


async def _close(stream: Any) -> None:
    """End the HTTP request behind a stream, also while the attempt is being cancelled."""
    close = getattr(stream, "aclose", None)
    if close is None:
        return
    try:
        await close()
    except Exception:  # closing is best effort; the attempt's own outcome is what counts
        log.debug("closing a provider stream failed", exc_info=True)


def _usage(usage: Any, litellm: Any, model: str, messages: ChatMessages, text: str) -> tuple[int, int]:
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    if prompt == 0:
        prompt = int(litellm.token_counter(model=model, messages=list(messages)))
    if completion == 0 and text:
        completion = int(litellm.token_counter(model=model, text=text))
    return prompt, completion


def translate_error(exc: BaseException, model: str) -> ProviderError:
    """The one place provider exceptions become ours."""
    name = type(exc).__name__
    if name == "Timeout":  # httpx's own limit: our timers fire before its read backstop, so the connect
        return ProviderTimeoutError(f"{model} did not connect in time ({exc})", model=model, phase="connect")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return ProviderError(f"{model} timed out", model=model, retryable=True, status=408)
    status = getattr(exc, "status_code", None)
    if status in (401, 403) or name in ("AuthenticationError", "PermissionDeniedError"):
        return ProviderError(f"{model} rejected the credentials ({name}); check its API key", model=model,
                             retryable=False, status=status)
    retryable = status in _RETRYABLE_STATUS or name in (
        "APIConnectionError", "ServiceUnavailableError", "InternalServerError", "RateLimitError",
        "APIError", "JSONDecodeError", "MidStreamFallbackError",
    )
    return ProviderError(f"{model} failed: {name} {status or ''}".strip(), model=model, retryable=retryable,
                         status=status if isinstance(status, int) else None, retry_after=_retry_after(exc))


def _retry_after(exc: BaseException) -> float | None:
    """What the provider's response asked for (`Retry-After` in either form, or `retry-after-ms`)."""
    for attr in ("litellm_response_headers", "headers"):
        headers = getattr(exc, attr, None)
        if headers:
            return retry_after_from_headers(headers)
    response = getattr(exc, "response", None)
    return retry_after_from_headers(getattr(response, "headers", None)) if response is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    retries: int = 2
    base_s: float = 0.5
    max_s: float = 8.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter; a provider's Retry-After wins when longer."""
        backoff = random.uniform(0, min(self.max_s, self.base_s * 2 ** attempt))
        return max(backoff, retry_after or 0.0)


class Cooldowns:
    """Deployments that failed recently are skipped until their cooldown ends (a circuit breaker).

    Every model is its own deployment group, so a single-deployment group cools down too: while
    it cools, requests fail over (or fail fast with an apology) instead of hammering a provider
    that is down. When the cooldown ends, one request probes the model (others keep skipping it
    for `probe_s`); success closes the breaker, failure trips it again for twice as long (up to
    `max_cooldown_s`). A provider's Retry-After extends the cooldown.
    """

    def __init__(self, *, cooldown_s: float = 30.0, max_cooldown_s: float = 300.0, probe_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._until: dict[str, float] = {}
        self._strikes: dict[str, int] = {}
        self._cooldown_s = cooldown_s
        self._max_cooldown_s = max_cooldown_s
        self._probe_s = probe_s
        self._clock = clock

    def cooling(self, model_id: str) -> bool:
        return self._until.get(model_id, 0.0) > self._clock()

    def acquire(self, model_id: str) -> bool:
        """May a request use `model_id` now? After a cooldown, the first caller takes the probe."""
        until = self._until.get(model_id)
        if until is None:
            return True
        now = self._clock()
        if until > now:
            return False
        self._until[model_id] = now + self._probe_s
        return True

    def trip(self, model_id: str, *, retry_after: float | None = None) -> None:
        strikes = self._strikes[model_id] = self._strikes.get(model_id, 0) + 1
        span = min(self._max_cooldown_s, self._cooldown_s * 2 ** (strikes - 1))
        self._until[model_id] = self._clock() + max(span, retry_after or 0.0)

    def reset(self, model_id: str) -> None:
        self._until.pop(model_id, None)
        self._strikes.pop(model_id, None)


async def complete_with_fallbacks(*, client: LLMClient, chain: Sequence[ModelSpec], messages: ChatMessages,
                                  retry: RetryPolicy, cooldowns: Cooldowns, limits: CallLimits | None = None,
                                  on_partial: PartialCallback | None = None, stats: LiveStats | None = None,
                                  retry_timeouts: bool = True, trail: AttemptLog | None = None,
                                  role: str = "answer") -> Completion:
    """Try each model of `chain` in order, retrying transient failures with backoff.

    Cooling models are skipped. A timed-out attempt (connect, first token, stall) is not retried
    while a later model of the chain can take over: a hung provider costs one `first_token_s`, not
    three; `retry_timeouts=False` says someone else answers anyway (ensemble members, judge,
    verifier, a cascade tier below the last). A wait (backoff or the provider's Retry-After) is not
    taken when it is longer than `retry.max_s` or than the time `limits` leave: the model cools down
    for at least the Retry-After and the next one answers. When the answer's time is up,
    `DeadlineExceededError`. When a stream dies midway, the retry (or fallback) starts the answer
    again from the beginning and `on_partial` receives the new accumulated text, which is shorter
    than what was shown before: adapters must overwrite the message they are editing, never append.
    Every model a request is sent to is entered in `trail` (as `role`) before the request leaves.
    """
    limits = limits or CallLimits.starting_now(Deadlines())
    failures: list[str] = []
    missing: list[MissingCredentialsError] = []
    tried = 0
    broken = 0  # earlier models of the chain that failed or were cooling down (a missing key is not a failure)
    for index, model in enumerate(chain):
        if not cooldowns.acquire(model.id):
            failures.append(f"{model.id} cooling down")
            broken += 1
            continue
        tried += 1
        attempts = 0
        entry = trail.start(model, role) if trail is not None else None
        while True:
            if limits.remaining() <= 0:
                raise _out_of_time(failures)
            attempts += 1
            if entry is not None:
                entry.calls = attempts
            try:
                done = await _attempt(client, model, messages, limits, on_partial, stats)
            except MissingCredentialsError as exc:  # raised before any request: nothing was sent
                missing.append(exc)
                if trail is not None and entry is not None:
                    entry.calls -= 1
                    trail.drop(entry)
                break
            except ProviderTimeoutError as exc:
                if entry is not None:
                    entry.ok = False
                failures.append(str(exc))
                if exc.phase == "deadline":
                    raise _out_of_time(failures) from exc
                successor = any(not cooldowns.cooling(m.id) for m in chain[index + 1:])
                if retry_timeouts and not successor and await _backed_off(retry, attempts, None, limits):
                    continue
                cooldowns.trip(model.id)
                log.warning("model %s timed out (%s) after %d attempt(s)", model.id, exc.phase, attempts)
                broken += 1
                break
            except ProviderError as exc:
                if entry is not None:
                    entry.ok = False
                failures.append(str(exc))
                if exc.retryable and await _backed_off(retry, attempts, exc.retry_after, limits):
                    continue
                cooldowns.trip(model.id, retry_after=exc.retry_after)
                log.warning("model %s failed after %d attempt(s): %s", model.id, attempts, exc)
                broken += 1
                break
            cooldowns.reset(model.id)
            if entry is not None:
                entry.ok = True
            return Completion(text=done.text, model=done.model, prompt_tokens=done.prompt_tokens,
                              completion_tokens=done.completion_tokens, latency_ms=done.latency_ms,
                              fallback=broken > 0, attempts=attempts, first_token_at=done.first_token_at)
    if missing and not failures:
        raise missing[0]
    raise NoModelAvailableError(
        f"every allowed model failed ({tried} tried of {len(chain)}): " + "; ".join(failures[-4:]),
        user_message="Sorry — every model I may use for this request is unavailable right now. "
                     "Please try again in a few minutes.",
    )


async def _backed_off(retry: RetryPolicy, attempts: int, retry_after: float | None, limits: CallLimits) -> bool:
    """Sleep before retrying the same model; False when no retry is due or the wait does not fit."""
    if attempts > retry.retries or (retry_after is not None and retry_after > retry.max_s):
        return False
    wait = retry.delay(attempts - 1, retry_after)
    if wait >= limits.remaining():
        return False
    await asyncio.sleep(wait)
    return True


def _out_of_time(failures: list[str]) -> DeadlineExceededError:
    return DeadlineExceededError("the answer's deadline passed: " + ("; ".join(failures[-4:]) or "no attempt left"))


async def _attempt(client: LLMClient, model: ModelSpec, messages: ChatMessages, limits: CallLimits,
                   on_partial: PartialCallback | None, stats: LiveStats | None) -> Completion:
    if stats is None:
        return await client.complete(model=model, messages=messages, limits=limits, on_partial=on_partial)
    started = time.perf_counter()
    stats.started(model.id)
    try:
        done = await client.complete(model=model, messages=messages, limits=limits, on_partial=on_partial)
    except (MissingCredentialsError, asyncio.CancelledError):
        stats.abandoned(model.id)  # not the provider's fault (no key, the answer was cancelled): no sample
        raise
    except ProviderTimeoutError as exc:
        if exc.phase == "deadline":  # cut off by the answer's deadline, not by its own limits
            stats.abandoned(model.id)
        else:
            stats.finished(model.id, latency_ms=(time.perf_counter() - started) * 1000, ok=False)
        raise
    except BaseException:
        stats.finished(model.id, latency_ms=(time.perf_counter() - started) * 1000, ok=False)
        raise
    stats.finished(model.id, latency_ms=(time.perf_counter() - started) * 1000, ok=True)
    return done
