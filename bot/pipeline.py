"""The pipeline every adapter shares: memory → privacy → routing → provider → memory.

`Pipeline.handle` is the one top-level error handler: whatever fails below it, staff get a
polite reply in their locale, and their message is already stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from bot.errors import (
    BudgetExceededError,
    DatabaseUnavailableError,
    DeadlineExceededError,
    MissingCredentialsError,
    NoModelAvailableError,
    SwitchboardError,
)
from bot.files import SUPPORTED_DESCRIPTION, FileReader, FileReading, FileSource, Problem, with_files
from bot.i18n import t
from bot.memory.models import Decision
from bot.memory.store import ConversationRef, Lease, SqlMemoryStore, StoredTurn, Turn
from bot.policy_store import PolicyStore
from bot.pseudonymising import PromptPseudonymiser, PseudonymisedPrompt
from bot.types import ChatMessage, Reply, ReplyKind, ThreadContext, vault_scope
from privacy.engine import Segment
from privacy.rules import PrivacyRules
from privacy.verdict import Finding, PrivacyAction, PrivacyVerdict
from routing.budget import BudgetGuard, BudgetLevel, degrade, estimate_usd
from routing.classifier import TaskPrediction
from routing.followup import FollowUpRule, build_followup_rule
from routing.policy import ModelSpec, Policy
from routing.providers import (
    AttemptLog,
    Completion,
    CooldownBoard,
    Cooldowns,
    LLMClient,
    PartialCallback,
    RetryPolicy,
    any_credentials,
)
from routing.router import RoutingDecision, allowed_models, decide
from routing.stats import LiveStats
from routing.strategies import StrategyRequest, StrategyRunner

log = logging.getLogger(__name__)


class Classifier(Protocol):
    def classify(self, text: str) -> TaskPrediction: ...


class AnswerCache(Protocol):
    """The semantic cache as the pipeline uses it (`routing.cache.SemanticCache`)."""

    async def lookup(self, *, tenant: str, user: str | None, task: str, text: str) -> CachedAnswer | None: ...
    async def store(self, *, tenant: str, user: str | None, task: str, text: str, answer: str,
                    model: str, author: str = "") -> None: ...


class CachedAnswer(Protocol):
    @property
    def answer(self) -> str: ...
    @property
    def model(self) -> str: ...


class AnswerMetrics(Protocol):
    """Told of every message handled (`bot.metrics.PrometheusMetrics`); never given user ids or text."""

    def verdict(self, *, level: str, action: str) -> None: ...
    def answer_started(self) -> None: ...
    def answer_ended(self) -> None: ...
    def answer_finished(self, record: Decision, *, first_token_s: float | None) -> None: ...


class PrivacyAssessor(Protocol):
    async def assess(self, segments: Sequence[Segment], *, rules: PrivacyRules) -> PrivacyVerdict: ...


@dataclass(frozen=True, slots=True)
class Admission:
    """A platform delivery taken before it is acknowledged: its event id is claimed and, when the
    message can be answered, the message is stored (`turn`); an invalid one only gets its explanation."""

    turn: StoredTurn | None


@dataclass(frozen=True, slots=True)
class DryRun:
    """What would happen to a message, without any LLM call or database write."""

    verdict: PrivacyVerdict
    decision: RoutingDecision


class Pipeline:
    def __init__(self, *, memory: SqlMemoryStore, policies: PolicyStore, privacy: PrivacyAssessor,
                 classifier: Classifier, llm: LLMClient, environ: Mapping[str, str],
                 max_message_chars: int = 16_000, history_turns: int = 20, offline: bool | None = None,
                 retry: RetryPolicy | None = None, cooldowns: CooldownBoard | None = None,
                 stats: LiveStats | None = None, runner: StrategyRunner | None = None,
                 budgets: BudgetGuard | None = None, cache: AnswerCache | None = None,
                 pseudonymiser: PromptPseudonymiser | None = None,
                 followups: FollowUpRule | None = None, metrics: AnswerMetrics | None = None,
                 files: FileReader | None = None) -> None:
        self.memory = memory
        self.policies = policies
        self._privacy = privacy
        self._classifier = classifier
        self._followups = followups or build_followup_rule()
        self._llm = llm
        self._environ = environ
        self._max_chars = max_message_chars
        self._history_turns = history_turns
        self._offline = offline
        self._retry = retry or RetryPolicy()
        self._cooldowns = cooldowns or Cooldowns()
        self.stats = stats or LiveStats()
        self.runner = runner or StrategyRunner(client=llm, retry=self._retry, cooldowns=self._cooldowns,
                                               stats=self.stats)
        self._budgets = budgets or BudgetGuard(memory)
        self._cache = cache
        self._pseudonymiser = pseudonymiser
        self._metrics = metrics
        self.files = files or FileReader()

    async def is_new_delivery(self, msg: ChatMessage) -> bool:
        """False when the platform re-delivers an event already taken (by any replica)."""
        key = _event_key(msg)
        return key is None or await self.memory.claim_event(key)

    async def admit(self, msg: ChatMessage, *, lease: Lease | None = None,
                    reference: str = "") -> Admission | None:
        """Take a platform delivery before acknowledging it: claim its event id and store the message,
        in one transaction. None for a re-delivery already taken (by any replica). Raises
        `DatabaseUnavailableError` when the database cannot take it; nothing is kept then, so the
        platform's retry (after a 5xx) is taken afresh. With `lease` the message is recorded as pending
        delivery too, for `bot.recovery` to finish should this process die before it is answered, with the
        adapter's `reference` (where to answer)."""
        if self.validate(msg) is not None:
            return Admission(turn=None) if await self.is_new_delivery(msg) else None
        turn = await self.memory.add_user_turn(msg, event_key=_event_key(msg), lease=lease, reference=reference)
        return None if turn is None else Admission(turn=turn)

    def validate_text(self, text: str, locale: str = "en") -> str | None:
        """Why `text` cannot be processed, in the user's language; None when it can."""
        if not text.strip():
            return t("empty", locale)
        if len(text) > self._max_chars:
            return t("too_long", locale, size=len(text), limit=self._max_chars)
        return None

    def validate(self, msg: ChatMessage) -> Reply | None:
        if msg.files and not msg.text.strip():  # a file alone is a message: its text is the question
            return None
        problem = self.validate_text(msg.text, msg.locale)
        return None if problem is None else Reply(text=problem, kind=ReplyKind.ERROR)

    async def handle(self, msg: ChatMessage, *, on_partial: PartialCallback | None = None,
                     admission: Admission | None = None, files: FileSource | None = None,
                     context: ThreadContext | None = None) -> Reply:
        """The reply to `msg`; its message is stored here unless `admit` stored it already. The text of
        `msg.files` (fetched from `files`, the adapter's source) and the earlier messages of the platform
        thread the bot was called into (`context`) become part of the message, stored with it."""
        invalid = self.validate(msg)
        if invalid is not None:
            return invalid
        started = time.perf_counter()
        turn = admission.turn if admission is not None else None
        if self._metrics is not None:
            self._metrics.answer_started()
        try:
            if turn is None:
                try:
                    turn = await self.memory.add_user_turn(msg)
                except DatabaseUnavailableError:
                    log.warning("database unavailable: a %s message was not taken", msg.platform)
                    return Reply(text=t("db_down", msg.locale), kind=ReplyKind.ERROR)
                assert turn is not None  # no event key, nothing to lose a race for
            reading = FileReading()
            if msg.files:
                reading = await self.files.read(msg.files, files)
                if not reading.read and not msg.text.strip():  # nothing to answer: say why
                    return Reply(text=self._files_note(reading, msg.locale), kind=ReplyKind.ERROR)
            task_text, note = None, self._files_note(reading, msg.locale)
            if msg.files or context is not None:
                own_words = msg.text
                msg = await self._with_material(msg, turn, reading, context)
                # the task is what the person asked for; with files alone, what their text starts with
                task_text = own_words if own_words.strip() else msg.text[:TASK_TEXT_CHARS]
                note = " ".join(n for n in (_context_note(context, msg.locale), note) if n)
            reply = await self._handle(msg, turn, on_partial, started, task_text=task_text)
            return _noting(reply, note)
        except Exception:  # the one place broad failures turn into a polite reply
            log.exception("pipeline failed for a %s message", msg.platform)
            saved = turn is not None  # only then is "your message is saved" true
            return Reply(text=t("internal" if saved else "internal_unsaved", msg.locale), kind=ReplyKind.ERROR)
        finally:
            if self._metrics is not None:
                self._metrics.answer_ended()

    async def _with_material(self, msg: ChatMessage, turn: StoredTurn, reading: FileReading,
                             context: ThreadContext | None) -> ChatMessage:
        """The message with the thread's earlier messages before it and the files' text after it, stored so as
        the user's turn: follow-ups (and an answer resumed after a restart) see what the model saw; the people
        of the thread count as mentioned."""
        text = with_files(msg.text, reading.read)
        mentions = msg.mentions
        if context is not None and context.lines:
            text = with_thread(context.lines, text)
            mentions = tuple(dict.fromkeys([*mentions, *context.people]))
        if text != msg.text:
            await self.memory.set_message_text(turn.message_id, text, mentions=mentions)
        return replace(msg, text=text, files=(), mentions=mentions)

    def _files_note(self, reading: FileReading, locale: str) -> str:
        """What was not read (or read only in part), and why, in the user's language; "" when all was read."""
        limits = self.files.limits
        notes = []
        for problem in (Problem.UNSUPPORTED, Problem.TOO_LARGE, Problem.TOO_SLOW, Problem.UNREADABLE,
                        Problem.NOT_FETCHED, Problem.TOO_MANY):
            names = [u.name for u in reading.unread if u.problem == problem]
            if names:
                notes.append(t(f"files_{problem}", locale, files=_file_list(names), supported=SUPPORTED_DESCRIPTION,
                               mb=f"{limits.max_bytes / 1024 / 1024:.3g}", seconds=f"{limits.timeout_s:g}",
                               count=limits.max_files, chars=limits.max_chars))
        cut = [f.name for f in reading.read if f.truncated]
        if cut:
            notes.append(t("files_truncated", locale, files=_file_list(cut), chars=limits.max_chars,
                           pages=limits.max_pages))
        return " ".join(notes)

    async def dry_run(self, text: str, *, history: list[Turn] | None = None, pii_seen: bool = False,
                      previous_task: str | None = None) -> DryRun:
        """What `handle` would decide for `text` in a thread with `history` (oldest first; the last
        `history_turns` are used, as in `handle`), that carried personal data earlier (`pii_seen`) and
        whose latest message was decided as `previous_task`."""
        policy = await self.policies.current()
        verdict, prediction = await self._analyse(policy, text, (history or [])[-self._history_turns:],
                                                  pii_seen=pii_seen, previous_task=previous_task)
        decision = decide(policy=policy, task=prediction.task, task_confidence=prediction.confidence,
                          verdict=verdict, from_thread=prediction.from_thread)
        return DryRun(verdict=verdict, decision=decision)

    def _task(self, text: str, previous_task: str | None) -> TaskPrediction:
        return self._followups.resolve(text, self._classifier.classify(text), previous_task)

    async def _analyse(self, policy: Policy, text: str, history: list[Turn], *, pii_seen: bool,
                       previous_task: str | None, mentions: Sequence[str] = (),
                       task_text: str | None = None) -> tuple[PrivacyVerdict, TaskPrediction]:
        segments = [Segment("message", text)]
        if not pii_seen:  # a pinned thread stays pinned; otherwise check every byte we would send
            segments += [Segment("history", turn.text) for turn in history]
            segments.append(Segment("system", policy.system_prompt))
        # the task costs ~0.1 ms of CPU (0.8 ms for a 16,000-character message): precomputed weights,
        # applied on the event loop. A hop to a worker thread and back would wait behind every ready
        # callback of a busy loop (+20 ms p50 at 50 conversations, bench/bench_overhead.py)
        prediction = self._task(text if task_text is None else task_text, previous_task)
        verdict = await self._privacy.assess(segments, rules=policy.privacy)
        if mentions and not verdict.failed_closed:
            verdict = policy.privacy.verdict([*verdict.findings, *_mention_findings(text, mentions)],
                                             language=verdict.language)
        if pii_seen and not verdict.contains_pii:
            verdict = _sticky(verdict, policy)
        return verdict, prediction

    async def _handle(self, msg: ChatMessage, turn: StoredTurn, on_partial: PartialCallback | None,
                      started: float, *, task_text: str | None = None) -> Reply:
        conv, message_id = turn.conversation, turn.message_id
        history, previous_task = await asyncio.gather(
            self.memory.history(conv.id, limit=self._history_turns, before=message_id),
            self.memory.last_task(conv.id, before=message_id))
        policy = await self.policies.current()
        verdict, prediction = await self._analyse(policy, msg.text, history, pii_seen=conv.pii_seen,
                                                  previous_task=previous_task, mentions=msg.mentions,
                                                  task_text=task_text)
        if verdict.contains_pii and not conv.pii_seen:
            await self.memory.mark_pii(conv.id)
        if self._metrics is not None:
            self._metrics.verdict(level=verdict.level.label, action=verdict.action.value)
        record = _record(msg, conv, message_id, policy, verdict, prediction)
        if verdict.action is PrivacyAction.BLOCK:
            types = ", ".join(verdict.entity_types) or "personal data"
            return await self._finish(record, Reply(text=t("blocked", msg.locale, types=types),
                                                    kind=ReplyKind.REFUSAL), "blocked", started)
        try:
            decision = decide(policy=policy, task=prediction.task, task_confidence=prediction.confidence,
                              verdict=verdict, from_thread=prediction.from_thread)
        except NoModelAvailableError:
            return await self._finish(record, Reply(text=t("unavailable", msg.locale), kind=ReplyKind.ERROR),
                                      "refused", started)
        _describe(record, decision)
        if self.offline(policy):
            reply = self._offline_reply(msg, verdict, decision, sticky=conv.pii_seen)
            return await self._finish(record, reply, "offline", started)
        return await self._answer(msg, conv, history, policy, verdict, decision, record, on_partial, started)

    def offline(self, policy: Policy) -> bool:
        if self._offline is not None:
            return self._offline
        return not any_credentials(policy.models, self._environ)

    async def _answer(self, msg: ChatMessage, conv: ConversationRef, history: list[Turn], policy: Policy,
                      verdict: PrivacyVerdict, decision: RoutingDecision, record: Decision,
                      on_partial: PartialCallback | None, started: float) -> Reply:
        budget = await self._budgets.status(user=str(msg.identity), team=msg.team_key)
        if budget.level is BudgetLevel.HARD:
            record.reason = f"{record.reason}; budget: {budget.detail}"
            return await self._finish(record, Reply(text=t("budget", msg.locale, detail=budget.detail),
                                                    kind=ReplyKind.REFUSAL), "refused", started)
        if budget.level is BudgetLevel.SOFT:
            decision = degrade(decision, budget)
            _describe(record, decision)
        allowed = allowed_models(policy, verdict)
        # personal data: the entry is scoped to this (platform, tenant, user); follow-ups depend on the thread,
        # so no cache. Without personal data an entry is shared inside the platform's tenant, never beyond.
        cache_user = str(msg.identity) if verdict.contains_pii else None
        pseudonymise = verdict.action is PrivacyAction.PSEUDONYMISE
        use_cache = (self._cache is not None and not history and not pseudonymise
                     and policy.rules[decision.task].cache)
        if use_cache:
            hit = await self._cached(msg, decision, cache_user, allowed)
            if hit is not None:
                await self.memory.add_message(conv.id, role="assistant", user=msg.identity, text=hit.text)
                record.cached = True
                record.model, record.region = hit.model or record.model, hit.region or record.region
                record.attempts = json.dumps([{"model": record.model, "region": record.region, "role": "cache",
                                               "calls": 0, "ok": True}], separators=(",", ":"))
                if on_partial is not None:
                    await on_partial(hit.text)
                return await self._finish(record, hit, "answered", started)
        messages = _prompt(policy, history, msg.text)
        scope = vault_scope(msg.platform, msg.channel, msg.thread)
        hidden: PseudonymisedPrompt | None = None
        if pseudonymise:
            if self._pseudonymiser is None:  # no vault: fail closed rather than send values anywhere
                raise SwitchboardError("pseudonymise requested without a pseudonymiser")
            hidden = await self._pseudonymiser.prepare(tenant=msg.tenant, conversation=scope, messages=messages)
            messages, on_partial = hidden.messages, hidden.restoring(on_partial)
        trail = AttemptLog()
        request = StrategyRequest(decision=decision, messages=messages, allowed=tuple(allowed),
                                  on_partial=on_partial, budget_left=budget.left_fraction,
                                  deadlines=policy.deadlines, trail=trail)
        # held before the call, settled after it: replicas racing for a hard limit's last cents overspend
        # by at most one request's estimate
        reservation = await self._budgets.reserve(user=str(msg.identity), team=msg.team_key,
                                                  amount_usd=estimate_usd(decision, messages), status=budget)
        if reservation is None:
            detail = "the hard limit is reached, counting the answers in progress"
            record.reason = f"{record.reason}; budget: {detail}"
            return await self._finish(record, Reply(text=t("budget", msg.locale, detail=detail),
                                                    kind=ReplyKind.REFUSAL), "refused", started)
        cost_usd = 0.0
        try:
            try:
                done = await self.runner.run(request)
                cost_usd = done.cost_usd
            finally:  # what was sent where, also when no answer came of it
                record.attempts = trail.to_json()
        except MissingCredentialsError as exc:
            text = t("credentials", msg.locale, model=exc.model, env=" and ".join(exc.env_vars))
            return await self._finish(record, Reply(text=text, kind=ReplyKind.ERROR), "failed", started)
        except BudgetExceededError as exc:
            text = t("budget", msg.locale, detail=exc.user_message)
            return await self._finish(record, Reply(text=text, kind=ReplyKind.REFUSAL), "refused", started)
        except DeadlineExceededError as exc:
            record.reason = f"{record.reason}; {exc}"
            text = t("too_slow", msg.locale, seconds=f"{policy.deadlines.total_s:g}")
            return await self._finish(record, Reply(text=text, kind=ReplyKind.ERROR), "failed", started)
        except SwitchboardError:
            return await self._finish(record, Reply(text=t("unavailable", msg.locale), kind=ReplyKind.ERROR),
                                      "failed", started)
        finally:
            await self._budgets.settle(reservation, cost_usd=cost_usd)
        _account(record, done)
        if hidden is not None:
            done = replace(done, text=hidden.restore(done.text))
        await self.memory.add_message(conv.id, role="assistant", user=msg.identity, text=done.text)
        if use_cache and self._cache is not None:
            await self._cache.store(tenant=_cache_tenant(msg), user=cache_user, task=decision.task, text=msg.text,
                                    answer=done.text, model=done.model.id, author=str(msg.identity))
        reply = Reply(text=done.text, kind=ReplyKind.ANSWER, model=done.model.id, region=done.model.region,
                      task=decision.task, cost_usd=done.cost_usd, fallback=done.fallback)
        return await self._finish(record, reply, "answered", started, first_token_at=done.first_token_at)

    async def _cached(self, msg: ChatMessage, decision: RoutingDecision, user: str | None,
                      allowed: list[ModelSpec]) -> Reply | None:
        assert self._cache is not None
        hit = await self._cache.lookup(tenant=_cache_tenant(msg), user=user, task=decision.task, text=msg.text)
        regions = {m.id: m.region for m in allowed}
        if hit is None or hit.model not in regions:  # an answer from a model the verdict forbids stays unused
            return None
        return Reply(text=hit.answer, kind=ReplyKind.ANSWER, model=hit.model, region=regions[hit.model],
                     task=decision.task, cached=True)

    def _offline_reply(self, msg: ChatMessage, verdict: PrivacyVerdict, decision: RoutingDecision, *,
                       sticky: bool) -> Reply:
        model = decision.model
        regions = "/".join(sorted(verdict.allowed_regions or ()))
        if not verdict.contains_pii:
            privacy = t("privacy_none", msg.locale)
        elif verdict.entity_types:
            privacy = t("privacy_pinned", msg.locale, types=", ".join(verdict.entity_types), regions=regions)
        elif verdict.failed_closed:
            privacy = t("privacy_unchecked", msg.locale, regions=regions)
        elif sticky:  # pinned by the conversation, not by anything found in this message
            privacy = t("privacy_sticky", msg.locale, regions=regions)
        else:
            privacy = t("privacy_pinned", msg.locale, types=verdict.level.label, regions=regions)
        forced = self._offline is True  # SWITCHBOARD_OFFLINE, whatever keys exist
        text = t("offline_forced" if forced else "offline", msg.locale, task=decision.task, model=model.id,
                 region=model.region, tier=model.tier.value, privacy=privacy,
                 env=" and ".join(model.env) or "the provider's key")
        return Reply(text=text, kind=ReplyKind.OFFLINE, model=model.id, region=model.region,
                     task=decision.task)

    async def _finish(self, record: Decision, reply: Reply, outcome: str, started: float, *,
                      first_token_at: float | None = None) -> Reply:
        record.outcome = outcome
        record.latency_ms = (time.perf_counter() - started) * 1000
        decision_id = await self.memory.record_decision(record)
        if self._metrics is not None:
            first_token_s = None if first_token_at is None else max(0.0, first_token_at - started)
            self._metrics.answer_finished(record, first_token_s=first_token_s)
        return Reply(text=reply.text, kind=reply.kind, model=reply.model, region=reply.region,
                     task=reply.task or record.task, cost_usd=reply.cost_usd, cached=reply.cached,
                     fallback=reply.fallback, decision_id=decision_id)


MAX_LISTED_FILES = 5
# the task of a message that is only files is read from the start of their text (what a person skims first)
TASK_TEXT_CHARS = 2_000


def _file_list(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_LISTED_FILES])
    return shown + (f" +{len(names) - MAX_LISTED_FILES}" if len(names) > MAX_LISTED_FILES else "")


def with_thread(lines: Sequence[str], text: str) -> str:
    """The message after the earlier messages of the thread it was written in."""
    thread = "\n".join(lines)
    return f"[Earlier messages in this thread]\n{thread}\n[End of the earlier messages]\n\n{text}".rstrip()


def _context_note(context: ThreadContext | None, locale: str) -> str:
    """Said before the answer when the thread could not be read in full."""
    if context is None or context.complete:
        return ""
    why = t("thread_rate_limited", locale) if context.limited else ""
    key = "thread_partial" if context.lines else "thread_unread"
    return t(key, locale, count=len(context.lines), why=why).replace("  ", " ")


def _noting(reply: Reply, note: str) -> Reply:
    """An answer to a message whose files were not all read says so first."""
    if not note or reply.kind not in (ReplyKind.ANSWER, ReplyKind.OFFLINE):
        return reply
    return replace(reply, text=f"{note}\n\n{reply.text}")


def _event_key(msg: ChatMessage) -> str | None:
    return f"{msg.platform}:{msg.tenant}:{msg.event_id}" if msg.event_id else None


def _sticky(verdict: PrivacyVerdict, policy: Policy) -> PrivacyVerdict:
    regions = "/".join(policy.privacy.pii_regions)
    return policy.privacy.pinned(reason=f"this conversation carried personal data earlier; only {regions} models",
                                 language=verdict.language, findings=verdict.findings)


def _mention_findings(text: str, mentions: Sequence[str]) -> list[Finding]:
    """A mentioned colleague is a person, whether or not a recognizer knows the name (a nickname, a name
    from another language): one PERSON finding where each name stands."""
    found = []
    for name in mentions:
        start = max(text.find(name), 0)
        found.append(Finding("PERSON", start, start + len(name), 1.0, segment="message", source="mention"))
    return found


def _prompt(policy: Policy, history: list[Turn], text: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": policy.system_prompt}] if policy.system_prompt else []
    messages += [{"role": turn.role, "content": turn.text} for turn in history]
    messages.append({"role": "user", "content": text})
    return messages


def _record(msg: ChatMessage, conv: ConversationRef, message_id: int, policy: Policy, verdict: PrivacyVerdict,
            prediction: TaskPrediction) -> Decision:
    return Decision(conversation_id=conv.id, message_id=message_id, platform=msg.platform, tenant=msg.tenant,
                    channel=msg.channel, user=msg.user, policy_version=policy.version, sensitivity=verdict.level.label,
                    privacy_action=verdict.action.value, entity_types=",".join(verdict.entity_types),
                    task=prediction.task, reason=verdict.reason)


def _cache_tenant(msg: ChatMessage) -> str:
    """The cache's tenant scope: a Slack team id and an Azure AD tenant id are different namespaces."""
    return f"{msg.platform}:{msg.tenant}"


def _describe(record: Decision, decision: RoutingDecision) -> None:
    record.strategy = decision.strategy.value
    record.model = decision.model.id
    record.region = decision.region
    record.reason = decision.reason


def _account(record: Decision, done: Completion) -> None:
    record.model = done.model.id
    record.region = done.model.region
    record.prompt_tokens = done.prompt_tokens
    record.completion_tokens = done.completion_tokens
    record.cost_usd = done.cost_usd
    record.fallback = done.fallback
    record.escalated = done.escalated
    if done.note:
        record.reason = f"{record.reason}; {done.note}"
