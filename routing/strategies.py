"""The four routing strategies over one `RoutingDecision`: task, cascade, ensemble, dynamic.

Every strategy only touches models of `decision.chain` (answering models) and of `allowed`
(the verifier and the judge); both were filtered by the privacy verdict before the strategy
runs, so no member, fallback, verifier or judge can cross the region the verdict allows.

Streaming: the task and dynamic strategies stream the answering model through `on_partial`. A
cascade streams only its last tier; a cheaper tier's answer is held back until it passed the
sufficiency check and is then sent in one piece. An ensemble sends the final answer in one piece.
After a fallback restart `on_partial` receives the new accumulated text: adapters overwrite.

Time: `StrategyRunner.run` gives every provider call of one answer the same `CallLimits` (the
policy's `deadlines`) and cancels whatever still runs when `total_s` has passed.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any, Protocol

from bot.errors import DeadlineExceededError, NoModelAvailableError, SwitchboardError
from privacy.yamlfile import load_yaml
from routing.deadlines import CallLimits
from routing.policy import Deadlines, ModelSpec, Strategy
from routing.providers import (
    AttemptLog,
    ChatMessages,
    Completion,
    Cooldowns,
    LLMClient,
    PartialCallback,
    RetryPolicy,
    complete_with_fallbacks,
)
from routing.router import RoutingDecision
from routing.stats import LiveStats, ModelLive


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyRequest:
    decision: RoutingDecision
    messages: ChatMessages
    allowed: tuple[ModelSpec, ...]  # every model the verdict allows: the verifier/judge pool
    on_partial: PartialCallback | None = None
    budget_left: float | None = None  # fraction of the tightest budget left; None: no budget applies
    deadlines: Deadlines = field(default_factory=Deadlines)  # the policy's time limits for this answer
    trail: AttemptLog | None = None  # every model called (answer, members, verifier, judge) is entered here


# --- sufficiency (cascade) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sufficiency:
    ok: bool
    reason: str
    cost_usd: float = 0.0  # what checking cost (a verifier call)


class SufficiencyCheck(Protocol):
    """Decides whether a cheaper tier's answer is good enough or the cascade escalates; with
    ``verifier=False`` (the task rule's `verifier: false`) it must not call a model; a model it calls is
    entered in `trail` as the verifier."""

    async def check(self, *, question: str, answer: Completion, pool: Sequence[ModelSpec],
                    limits: CallLimits, verifier: bool = True, trail: AttemptLog | None = None) -> Sufficiency: ...


@dataclass(frozen=True, slots=True)
class _Signals:
    hedging: tuple[str, ...]
    min_answer_words: int
    long_question_words: int


@cache
def _signals() -> _Signals:
    data = load_yaml(resources.files("routing").joinpath("data/sufficiency.yaml").read_text(encoding="utf-8"))
    phrases = tuple(p.lower() for lang in data["hedging"].values() for p in lang)
    return _Signals(phrases, int(data["min_answer_words"]), int(data["long_question_words"]))


def heuristic_sufficiency(question: str, answer: str) -> Sufficiency:
    """Free checks: empty or curt answers to long questions, hedging and refusals (EU languages)."""
    signals = _signals()
    words = len(answer.split())
    if words == 0:
        return Sufficiency(False, "empty answer")
    if len(question.split()) >= signals.long_question_words and words < signals.min_answer_words:
        return Sufficiency(False, f"{words}-word answer to a long question")
    low = answer.lower()
    for phrase in signals.hedging:
        if phrase in low:
            return Sufficiency(False, f"hedging/refusal ({phrase!r})")
    return Sufficiency(True, "no hedging, refusal or truncation")


_VERIFY_PROMPT = (
    "You check answers written by another assistant. Given a question and an answer, decide whether the "
    "answer fully and correctly answers the question. Reply with JSON only, no prose: "
    '{"sufficient": true or false, "confidence": a number from 0 to 1, "reason": "a few words"}'
)


class VerifiedSufficiency:
    """The heuristic first (free); when it passes, a verifier model grades the answer.

    The verifier is the cheapest model of `pool` (the models the verdict allows) other than the one
    that answered, since a model grading itself is lenient. When no verifier answers or its reply
    is not the JSON asked for, the heuristic's verdict stands.
    """

    def __init__(self, *, client: LLMClient, retry: RetryPolicy, cooldowns: Cooldowns, stats: LiveStats | None,
                 threshold: float = 0.7, use_verifier: bool = True) -> None:
        self._client = client
        self._retry = retry
        self._cooldowns = cooldowns
        self._stats = stats
        self._threshold = threshold
        self._use_verifier = use_verifier

    async def check(self, *, question: str, answer: Completion, pool: Sequence[ModelSpec],
                    limits: CallLimits, verifier: bool = True, trail: AttemptLog | None = None) -> Sufficiency:
        first = heuristic_sufficiency(question, answer.text)
        if not first.ok or not self._use_verifier:
            return first
        if not verifier:
            return replace(first, reason=f"{first.reason}; verifier off for this task")
        verifiers = _cheapest_first([m for m in pool if m.id != answer.model.id])
        if not verifiers:
            return first
        messages = [{"role": "system", "content": _VERIFY_PROMPT},
                    {"role": "user", "content": f"Question:\n{question}\n\nAnswer:\n{answer.text}"}]
        try:
            graded = await complete_with_fallbacks(client=self._client, chain=verifiers[:2], messages=messages,
                                                   retry=self._retry, cooldowns=self._cooldowns, stats=self._stats,
                                                   limits=limits, retry_timeouts=False, trail=trail,
                                                   role="verifier")
        except SwitchboardError:
            return replace(first, reason=f"{first.reason}; verifier unavailable")
        verdict = _json_object(graded.text)
        sufficient, confidence = verdict.get("sufficient"), verdict.get("confidence")
        if not isinstance(sufficient, bool):
            return Sufficiency(first.ok, f"{first.reason}; verifier reply unreadable", graded.cost_usd)
        score = float(confidence) if isinstance(confidence, int | float) else (1.0 if sufficient else 0.0)
        ok = sufficient and score >= self._threshold
        why = str(verdict.get("reason", ""))[:120]
        return Sufficiency(ok, f"verifier {graded.model.id}: sufficient={sufficient} confidence={score:.2f} {why}"
                           .strip(), graded.cost_usd)


# --- the runner ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DynamicWeights:
    """How the dynamic strategy trades off; lower scores win. Price weighs more as budget runs out."""

    price: float = 0.5
    price_under_budget_pressure: float = 1.5
    latency: float = 0.3
    errors: float = 2.0
    load: float = 0.2
    quality: float = 0.25
    critical_quality: float = 0.8


class StrategyRunner:
    """Runs the decision's strategy; the pipeline's only way to get an answer from a provider."""

    def __init__(self, *, client: LLMClient, retry: RetryPolicy, cooldowns: Cooldowns, stats: LiveStats,
                 sufficiency: SufficiencyCheck | None = None, ensemble_size: int = 3,
                 weights: DynamicWeights | None = None) -> None:
        self.client = client
        self.retry = retry
        self.cooldowns = cooldowns
        self.stats = stats
        self.sufficiency = sufficiency or VerifiedSufficiency(client=client, retry=retry, cooldowns=cooldowns,
                                                              stats=stats)
        self.ensemble_size = ensemble_size
        self.weights = weights or DynamicWeights()

    async def run(self, request: StrategyRequest) -> Completion:
        """The answer, or `DeadlineExceededError` once `request.deadlines.total_s` has passed.

        Provider attempts end a little before the deadline (`_wrap_up_s`), so a strategy can still
        keep what it has (an ensemble member's answer, the heuristic's verdict); whatever runs at
        the deadline itself is cancelled, which closes its HTTP requests.
        """
        total = request.deadlines.total_s
        stop_at = asyncio.get_running_loop().time() + total
        limits = CallLimits.until(request.deadlines, stop_at - _wrap_up_s(total))
        try:
            async with asyncio.timeout_at(stop_at) as hard_stop:
                return await self._run(request, limits)
        except TimeoutError as exc:
            if not hard_stop.expired():
                raise
            raise DeadlineExceededError(f"the answer's deadline ({total:g} s) passed; its work was cancelled") from exc

    async def _run(self, request: StrategyRequest, limits: CallLimits) -> Completion:
        strategy = request.decision.strategy
        if strategy is Strategy.CASCADE:
            return await self.cascade(request, limits)
        if strategy is Strategy.ENSEMBLE:
            return await self.ensemble(request, limits)
        if strategy is Strategy.DYNAMIC:
            return await self.dynamic(request, limits)
        return await self._chain(request.decision.chain, request.messages, limits, request.on_partial,
                                 trail=request.trail)

    async def _chain(self, chain: Sequence[ModelSpec], messages: ChatMessages, limits: CallLimits,
                     on_partial: PartialCallback | None = None, *, retry_timeouts: bool = True,
                     trail: AttemptLog | None = None, role: str = "answer") -> Completion:
        return await complete_with_fallbacks(client=self.client, chain=chain, messages=messages, retry=self.retry,
                                             cooldowns=self.cooldowns, limits=limits, on_partial=on_partial,
                                             stats=self.stats, retry_timeouts=retry_timeouts, trail=trail, role=role)

    # --- cascade ---------------------------------------------------------------------------

    async def cascade(self, request: StrategyRequest, limits: CallLimits) -> Completion:
        """Cheapest tier first; escalate when its answer fails the sufficiency check (or it is down)."""
        tiers = _tiers(request.decision.chain)
        question = _last_user_text(request.messages)
        spent, notes, escalated, down = 0.0, [], False, False
        for i, tier in enumerate(tiers):
            last = i == len(tiers) - 1
            try:
                done = await self._chain(tier, request.messages, limits, request.on_partial if last else None,
                                         retry_timeouts=last, trail=request.trail)
            except NoModelAvailableError:
                if last:
                    raise
                notes.append(f"{tier[0].tier.value} tier down")
                down = True
                continue
            if last:
                return _final(done, extra=spent, escalated=escalated, notes=notes, strategy="cascade",
                              fallback=done.fallback or down)
            verdict = await self.sufficiency.check(question=question, answer=done, pool=request.allowed,
                                                   limits=limits, verifier=request.decision.verifier,
                                                   trail=request.trail)
            spent += verdict.cost_usd
            if verdict.ok:
                if request.on_partial is not None:
                    await request.on_partial(done.text)
                notes.append(f"{done.model.id} sufficient ({verdict.reason})")
                return _final(done, extra=spent, escalated=escalated, notes=notes, strategy="cascade",
                              fallback=done.fallback or down)
            spent += done.cost_usd
            escalated = True
            notes.append(f"{done.model.id} insufficient ({verdict.reason}) → escalated")
        raise NoModelAvailableError("cascade has no tier left")  # unreachable: the chain is never empty

    # --- ensemble --------------------------------------------------------------------------

    async def ensemble(self, request: StrategyRequest, limits: CallLimits) -> Completion:
        """Several models answer in parallel; a judge from the allowed models picks or merges."""
        chain = request.decision.chain
        members = [m for m in chain if not self.cooldowns.cooling(m.id)][: self.ensemble_size] or list(chain[:1])
        results = await asyncio.gather(*(self._chain([m], request.messages, limits, retry_timeouts=False,
                                                     trail=request.trail, role="member")
                                         for m in members), return_exceptions=True)
        answers = [r for r in results if isinstance(r, Completion)]
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, SwitchboardError):
                raise r
        failed = len(members) - len(answers)
        out_of_time = next((r for r in results if isinstance(r, DeadlineExceededError)), None)
        if not answers and out_of_time is not None:
            raise out_of_time
        if not answers:  # every member failed: the rest of the chain, one after another
            rest = [m for m in chain if m not in members]
            if not rest:
                raise NoModelAvailableError("every ensemble member failed",
                                            user_message="Sorry — every model I may use for this request is "
                                                         "unavailable right now. Please try again in a few minutes.")
            done = await self._chain(rest, request.messages, limits, request.on_partial, trail=request.trail)
            return replace(done, fallback=True, note=f"ensemble: all {len(members)} members failed; fallback")
        notes = [f"{len(answers)}/{len(members)} members answered"] + ([f"{failed} failed"] if failed else [])
        if len(answers) == 1:
            picked, extra, judge_note = answers[0], 0.0, "no judge needed"
        else:
            picked, extra, judge_note = await self._judge(request, answers, limits)
        notes.append(judge_note)
        if request.on_partial is not None:
            await request.on_partial(picked.text)
        others = sum(a.cost_usd for a in answers if a is not picked)
        return _final(picked, extra=extra + others, escalated=False, notes=notes, strategy="ensemble",
                      calls=len(members) + (1 if len(answers) > 1 else 0), fallback=failed > 0)

    async def _judge(self, request: StrategyRequest, answers: list[Completion],
                     limits: CallLimits) -> tuple[Completion, float, str]:
        question = _last_user_text(request.messages)
        judges = _strongest_first([m for m in request.allowed if not self.cooldowns.cooling(m.id)])
        listing = "\n\n".join(f"Answer {i}:\n{a.text}" for i, a in enumerate(answers, 1))
        messages = [{"role": "system", "content": _JUDGE_PROMPT.format(n=len(answers))},
                    {"role": "user", "content": f"Question:\n{question}\n\n{listing}"}]
        fallback = _strongest_answer(question, answers)
        if not judges:
            return fallback, 0.0, "no judge available; strongest sufficient answer kept"
        try:
            verdict = await self._chain(judges[:2], messages, limits, retry_timeouts=False, trail=request.trail,
                                        role="judge")
        except SwitchboardError:
            return fallback, 0.0, "judge unavailable; strongest sufficient answer kept"
        parsed = _json_object(verdict.text)
        merged, best = parsed.get("merged"), parsed.get("best")
        if isinstance(merged, str) and merged.strip():
            text = merged.strip()
            # the merged text is the judge's output: bill the judge's tokens for it, members as extra
            combined = Completion(text=text, model=verdict.model, prompt_tokens=verdict.prompt_tokens,
                                  completion_tokens=verdict.completion_tokens, latency_ms=verdict.latency_ms,
                                  first_token_at=verdict.first_token_at)
            return combined, 0.0, f"judge {verdict.model.id} merged"  # members are billed by the caller
        if isinstance(best, int) and 1 <= best <= len(answers):
            return answers[best - 1], verdict.cost_usd, f"judge {verdict.model.id} picked {answers[best - 1].model.id}"
        return fallback, verdict.cost_usd, f"judge {verdict.model.id} reply unreadable; strongest answer kept"

    # --- dynamic ---------------------------------------------------------------------------

    async def dynamic(self, request: StrategyRequest, limits: CallLimits) -> Completion:
        """Candidates ordered by a live score (price, p95 latency, errors, load, budget, quality)."""
        ranked = score_candidates(request.decision.chain, [self.stats.snapshot(m.id) for m in request.decision.chain],
                                  budget_left=request.budget_left, critical=request.decision.critical,
                                  weights=self.weights)
        done = await self._chain([m for m, _ in ranked], request.messages, limits, request.on_partial,
                                 trail=request.trail)
        top = ", ".join(f"{m.id}={s:.2f}" for m, s in ranked[:3])
        return replace(done, note=f"dynamic: {top}")


_JUDGE_PROMPT = (
    "You are the judge of {n} candidate answers to the same question. Pick the best one, or merge them when "
    "each holds something the others miss. Reply with JSON only, no prose: "
    '{{"best": the number of the best answer, "merged": "the merged answer, or an empty string to keep the '
    'best one as it is", "reason": "a few words"}}'
)


def score_candidates(models: Sequence[ModelSpec], live: Sequence[ModelLive], *, budget_left: float | None,
                     critical: bool = False, weights: DynamicWeights | None = None) -> list[tuple[ModelSpec, float]]:
    """Candidates sorted best first by score (lower is better), a pure function of live numbers.

    Each term is normalised over the candidates: price (input+output per 1M tokens), p95 latency
    (unknown: the average of the known ones), error rate, in-flight requests, and tier as a
    quality proxy. Budget pressure (1 - budget_left) shifts weight from quality to price.
    """
    w = weights or DynamicWeights()
    pressure = 0.0 if budget_left is None else min(1.0, max(0.0, 1.0 - budget_left))
    prices = [sum(m.prices()) for m in models]
    known = [s.p95_ms for s in live if s.samples]
    default_lat = sum(known) / len(known) if known else 0.0
    lats = [s.p95_ms if s.samples else default_lat for s in live]
    loads = [s.in_flight for s in live]
    max_price, max_lat, max_load = max(prices, default=0.0) or 1.0, max(lats, default=0.0) or 1.0, max(loads) + 1
    w_price = w.price + w.price_under_budget_pressure * pressure
    w_quality = (w.critical_quality if critical else w.quality) * (1.0 - pressure)
    scored = []
    for m, s, price, lat, load in zip(models, live, prices, lats, loads, strict=True):
        score = (w_price * price / max_price + w.latency * lat / max_lat + w.errors * s.error_rate
                 + w.load * load / max_load - w_quality * m.tier.rank / 2)
        scored.append((m, round(score, 6)))
    order = {m.id: i for i, m in enumerate(models)}
    return sorted(scored, key=lambda ms: (ms[1], order[ms[0].id]))


# --- helpers ---------------------------------------------------------------------------------


def _wrap_up_s(total_s: float) -> float:
    """Time kept back after the last provider attempt, for the strategy to finish with what it has."""
    return min(1.0, 0.05 * total_s)


def _tiers(chain: Sequence[ModelSpec]) -> list[list[ModelSpec]]:
    """The chain grouped by tier, cheapest tier first; inside a tier the chain's order stays."""
    ranks = sorted({m.tier.rank for m in chain})
    return [[m for m in chain if m.tier.rank == r] for r in ranks]


def _cheapest_first(models: Sequence[ModelSpec]) -> list[ModelSpec]:
    return sorted(models, key=lambda m: (m.tier.rank, sum(m.prices())))


def _strongest_first(models: Sequence[ModelSpec]) -> list[ModelSpec]:
    return sorted(models, key=lambda m: (-m.tier.rank, sum(m.prices())))


def _strongest_answer(question: str, answers: list[Completion]) -> Completion:
    good = [a for a in answers if heuristic_sufficiency(question, a.text).ok] or answers
    return max(good, key=lambda a: (a.model.tier.rank, len(a.text)))


def _last_user_text(messages: ChatMessages) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            return m.get("content", "")
    return ""


_JSON = re.compile(r"\{.*\}", re.DOTALL)


def _json_object(text: str) -> dict[str, Any]:
    """The first JSON object in a model's reply (models like to wrap it in prose or code fences)."""
    found = _JSON.search(text)
    if not found:
        return {}
    try:
        value = json.loads(found.group(0))
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _final(done: Completion, *, extra: float, escalated: bool, notes: list[str], strategy: str,
           calls: int | None = None, fallback: bool | None = None) -> Completion:
    return replace(done, extra_cost_usd=done.extra_cost_usd + extra, escalated=escalated,
                   note=f"{strategy}: " + "; ".join(notes), calls=calls if calls is not None else done.calls,
                   fallback=done.fallback if fallback is None else fallback)
