"""Provider calls through LiteLLM: credentials, retries with backoff, fallbacks, streaming.

Provider exceptions are translated into `ProviderError` here and nowhere else. A chain only
ever contains models the privacy verdict allowed, so a fallback can never cross regions.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.errors import MissingCredentialsError, NoModelAvailableError, ProviderError
from routing.litellm_env import import_litellm
from routing.policy import ModelSpec
from routing.retry_after import retry_after_from_headers
from routing.stats import LiveStats

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

    @property
    def cost_usd(self) -> float:
        return self.model.cost(self.prompt_tokens, self.completion_tokens) + self.extra_cost_usd


class LLMClient(Protocol):
    """Calls one model once; raises ProviderError on failure."""

    async def complete(self, *, model: ModelSpec, messages: ChatMessages,
                       on_partial: PartialCallback | None = None) -> Completion: ...


def missing_credentials(model: ModelSpec, environ: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(v for v in model.env if not environ.get(v))


def any_credentials(models: Sequence[ModelSpec], environ: Mapping[str, str]) -> bool:
    """True when at least one enabled model has everything it needs (otherwise: offline mode)."""
    return any(m.enabled and m.env and not missing_credentials(m, environ) for m in models)


class LiteLLMClient:
    """The production client: `litellm.acompletion`, one attempt per call (we retry ourselves)."""

    def __init__(self, *, timeout_s: float, environ: Mapping[str, str]) -> None:
        self._timeout_s = timeout_s
        self._environ = environ

    async def complete(self, *, model: ModelSpec, messages: ChatMessages,
                       on_partial: PartialCallback | None = None) -> Completion:
        missing = missing_credentials(model, self._environ)
        if missing:
            raise MissingCredentialsError(model.id, missing)
        litellm = import_litellm()
        kwargs: dict[str, Any] = {"model": model.id, "messages": list(messages), "timeout": self._timeout_s,
                                  "num_retries": 0}
        if model.api_base:
            kwargs["api_base"] = model.api_base
        if model.api_key_env:
            kwargs["api_key"] = self._environ.get(model.api_key_env)
        started = time.perf_counter()
        try:
            if on_partial is None:
                resp = await asyncio.wait_for(litellm.acompletion(**kwargs), self._timeout_s)
                text = resp.choices[0].message.content or ""
                usage = getattr(resp, "usage", None)
                prompt, completion = _usage(usage, litellm, model.id, messages, text)
            else:
                text, prompt, completion = await asyncio.wait_for(
                    self._stream(litellm, kwargs, messages, on_partial), self._timeout_s)
        except ProviderError:
            raise
        except Exception as exc:
            raise translate_error(exc, model.id) from exc
        return Completion(text=text, model=model, prompt_tokens=prompt, completion_tokens=completion,
                          latency_ms=(time.perf_counter() - started) * 1000)

    async def _stream(self, litellm: Any, kwargs: dict[str, Any], messages: ChatMessages,
                      on_partial: PartialCallback) -> tuple[str, int, int]:
        stream = await litellm.acompletion(**kwargs, stream=True, stream_options={"include_usage": True})
        parts: list[str] = []
        usage = None
        finished = False
        async for chunk in stream:
            usage = getattr(chunk, "usage", None) or usage
            if not chunk.choices:
                continue
            finished = finished or bool(chunk.choices[0].finish_reason)
            delta = chunk.choices[0].delta.content or ""
            if delta:
                parts.append(delta)
                await on_partial("".join(parts))
        text = "".join(parts)
        if not text:
            raise ProviderError(f"{kwargs['model']} returned an empty stream", model=kwargs["model"],
                                retryable=True)
        if not finished:  # the connection ended without a finish_reason: the answer is cut off
            raise ProviderError(f"{kwargs['model']} stream ended before the answer was complete",
                                model=kwargs["model"], retryable=True)
        prompt, completion = _usage(usage, litellm, kwargs["model"], messages, text)
        return text, prompt, completion


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
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return ProviderError(f"{model} timed out", model=model, retryable=True, status=408)
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    if status in (401, 403) or name in ("AuthenticationError", "PermissionDeniedError"):
        return ProviderError(f"{model} rejected the credentials ({name}); check its API key", model=model,
                             retryable=False, status=status)
    retryable = status in _RETRYABLE_STATUS or name in (
        "Timeout", "APIConnectionError", "ServiceUnavailableError", "InternalServerError", "RateLimitError",
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
                                  retry: RetryPolicy, cooldowns: Cooldowns,
                                  on_partial: PartialCallback | None = None,
                                  stats: LiveStats | None = None) -> Completion:
    """Try each model of `chain` in order, retrying transient failures with backoff.

    Cooling models are skipped. A Retry-After longer than `retry.max_s` is not waited out: the
    model cools down for that long and the next one answers. When a stream dies midway, the retry
    (or fallback) starts the answer again from the beginning and `on_partial` receives the new
    accumulated text, which is shorter than what was shown before: adapters must overwrite the
    message they are editing, never append.
    """
    failures: list[str] = []
    missing: list[MissingCredentialsError] = []
    tried = 0
    for model in chain:
        if not cooldowns.acquire(model.id):
            failures.append(f"{model.id} cooling down")
            continue
        tried += 1
        attempts = 0
        while True:
            attempts += 1
            try:
                done = await _attempt(client, model, messages, on_partial, stats)
            except MissingCredentialsError as exc:
                missing.append(exc)
                break
            except ProviderError as exc:
                failures.append(str(exc))
                long_wait = exc.retry_after is not None and exc.retry_after > retry.max_s
                if exc.retryable and attempts <= retry.retries and not long_wait:
                    await asyncio.sleep(retry.delay(attempts - 1, exc.retry_after))
                    continue
                cooldowns.trip(model.id, retry_after=exc.retry_after)
                log.warning("model %s failed after %d attempt(s): %s", model.id, attempts, exc)
                break
            cooldowns.reset(model.id)
            return Completion(text=done.text, model=done.model, prompt_tokens=done.prompt_tokens,
                              completion_tokens=done.completion_tokens, latency_ms=done.latency_ms,
                              fallback=model is not chain[0], attempts=attempts)
    if missing and not failures:
        raise missing[0]
    raise NoModelAvailableError(
        f"every allowed model failed ({tried} tried of {len(chain)}): " + "; ".join(failures[-4:]),
        user_message="Sorry — every model I may use for this request is unavailable right now. "
                     "Please try again in a few minutes.",
    )


async def _attempt(client: LLMClient, model: ModelSpec, messages: ChatMessages, on_partial: PartialCallback | None,
                   stats: LiveStats | None) -> Completion:
    if stats is None:
        return await client.complete(model=model, messages=messages, on_partial=on_partial)
    started = time.perf_counter()
    stats.started(model.id)
    try:
        done = await client.complete(model=model, messages=messages, on_partial=on_partial)
    except MissingCredentialsError:
        stats.abandoned(model.id)  # not the provider's fault: no sample
        raise
    except BaseException:
        stats.finished(model.id, latency_ms=(time.perf_counter() - started) * 1000, ok=False)
        raise
    stats.finished(model.id, latency_ms=(time.perf_counter() - started) * 1000, ok=True)
    return done
