"""Admin and staff commands — one parser shared by Slack, Teams and the CLI.

`CommandProcessor.execute(ctx, "policy strategy analysis ensemble")` validates, applies,
versions and audits; adapters only render the `CommandResult`.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.audit import attempts_of
from bot.erasure import InMemoryErasure
from bot.errors import CommandError, InvalidIdentityError, PolicyValidationError
from bot.kpis import KpiInputError, build_report, parse_by, parse_since, render_report
from bot.memory.models import AuditEntry, Decision
from bot.memory.store import SqlMemoryStore
from bot.policy_store import PolicyStore
from bot.types import Identity
from privacy.verdict import PrivacyAction, Sensitivity
from routing.budget import ANY, SCOPES
from routing.policy import TASKS, Policy, Strategy, TaskRule, policy_from_data

HELP = """Switchboard commands
  why                                   explain the last routing decision in this channel
  forget                                erase your conversations and decisions (GDPR Art. 17)
  help                                  this text
Admin:
  policy show [TASK]                    the policy in force
  policy set TASK MODEL [MODEL…]        candidate models for a task, in order
  policy strategy TASK task|cascade|ensemble|dynamic
  policy cache TASK on|off              serve this task's answers from the semantic cache or not
  policy verifier TASK on|off           cascade: a verifier model grades a cheaper tier's answer
                                        (one more call per answer) or only the free hedging check
  policy deadline connect|first-token|stall|total SECONDS
                                        time limits: per attempt (a timed-out model hands over
                                        to the next one) and per answer (then an apology)
  policy pin personal|special|ENTITY pin|pseudonymise|block
                                        what happens to personal data
  policy history                        versions, authors, comments
  policy rollback VERSION               make an old version the newest
  model list                            models with region, tier, price, state
  model enable|disable MODEL
  budget show                           monthly budgets per user and team (channel)
  budget set user|team ID|* SOFT HARD   limits in USD per month; `-` for none; * is everyone's default;
                                        ID is platform:tenant:id, e.g. slack:T012AB:U123 or
                                        teams:<tenant-guid>:<aad-object-id> (a channel likewise)
  stats [--since 7d] [--by model|task|team|tier]
                                        KPIs of real model calls (requests, errors, fallbacks,
                                        latency, tokens, cost, 👍/👎), offline/refused/blocked counted
                                        apart, the tier mix against 80/15/5, warning signs
  audit [N]                             the latest N (20) admin changes and refusals
Who is an admin: a person is always (platform, tenant, user), never a bare user id. Admins are the
identities listed in SWITCHBOARD_ADMINS (slack:TEAM_ID:USER_ID, teams:TENANT_ID:AAD_OBJECT_ID), plus
Slack workspace admins and owners of the workspace the command comes from when
SWITCHBOARD_SLACK_WORKSPACE_ADMINS=true, plus whoever runs the `switchboard` CLI on the server."""

STAFF_COMMANDS = frozenset({"help", "why", "forget"})
# what an admin command does without a subcommand, and the subcommands that only read: these are not
# audited (the trail holds changes, attempted changes and refusals)
DEFAULT_SUBCOMMANDS = {"policy": "show", "model": "list", "budget": "show"}
READ_ONLY = frozenset({("policy", "show"), ("policy", "history"), ("model", "list"), ("budget", "show"),
                       ("stats", ""), ("audit", "")})
AUDIT_OUTCOME_CHARS = 2_000
AUDIT_MAX_ENTRIES = 500
DEADLINES = {"connect": "connect", "first_token": "first-token", "stall": "stall", "total": "total"}


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandContext:
    platform: str
    tenant: str
    channel: str
    user: str
    is_admin: bool
    locale: str = "en"

    @property
    def identity(self) -> Identity:
        return Identity(self.platform, self.tenant, self.user)


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandResult:
    text: str
    ok: bool = True
    data: dict[str, Any] = field(default_factory=dict)  # structured payload for cards


Handler = Callable[[CommandContext, list[str]], Awaitable[CommandResult]]


class CommandProcessor:
    def __init__(self, *, memory: SqlMemoryStore, policies: PolicyStore,
                 erasure: InMemoryErasure | None = None) -> None:
        self._memory = memory
        self._policies = policies
        self._erasure = erasure  # the process's cache and pseudonym vault, cleared by `forget`
        self._handlers: dict[str, Handler] = {
            "help": self._help, "why": self._why, "forget": self._forget, "policy": self._policy,
            "model": self._model, "stats": self._stats, "audit": self._audit, "budget": self._budget,
        }

    async def execute(self, ctx: CommandContext, text: str) -> CommandResult:
        """Run one command line; every outcome is a result (never an exception)."""
        try:
            words = shlex.split(text.strip())
        except ValueError as exc:
            return CommandResult(text=f"Cannot parse the command: {exc}. Try `help`.", ok=False)
        if not words:
            return CommandResult(text=HELP)
        name = words[0].lower().lstrip("/")
        if len(words) > 1 and words[1].lower() in ("help", "--help", "-h"):
            return CommandResult(text=HELP)
        handler = self._handlers.get(name)
        if handler is None:
            return CommandResult(text=f"Unknown command `{words[0]}`. Try `help`.", ok=False)
        if name not in STAFF_COMMANDS and not ctx.is_admin:
            await self._memory.audit(actor=str(ctx.identity), platform=ctx.platform, command=text, allowed=False,
                                     outcome="refused: not an admin")
            return CommandResult(text="Sorry, only Switchboard admins can use this command.", ok=False)
        try:
            result = await handler(ctx, words[1:])
        except (CommandError, PolicyValidationError) as exc:
            result = CommandResult(text=str(exc), ok=False)
        if name not in STAFF_COMMANDS and not is_read_only(name, words[1:]):
            await self._memory.audit(actor=str(ctx.identity), platform=ctx.platform, command=text, allowed=True,
                                     outcome=("ok: " if result.ok else "rejected: ") + _clip(result.text))
        return result

    # --- staff -------------------------------------------------------------------------

    async def _help(self, ctx: CommandContext, args: list[str]) -> CommandResult:
        return CommandResult(text=HELP)

    async def _why(self, ctx: CommandContext, args: list[str]) -> CommandResult:
        d = await self._memory.last_decision(platform=ctx.platform, tenant=ctx.tenant, channel=ctx.channel)
        if d is None:
            return CommandResult(text="I have not answered anything in this channel yet.")
        found = d.entity_types.replace(",", ", ") or "none"
        text = (f"Last answer: task *{d.task}*, model *{d.model or '—'}* ({d.region or '—'}), "
                f"strategy {d.strategy or '—'}, outcome {d.outcome}.\n"
                f"Personal data: {found} (sensitivity {d.sensitivity}).\nWhy: {d.reason}\n"
                f"Cost ${d.cost_usd:.5f}, {d.latency_ms:.0f} ms, policy v{d.policy_version}"
                + (", fallback used" if d.fallback else "") + (", from cache" if d.cached else "")
                + _calls_line(d))
        return CommandResult(text=text, data={"decision_id": d.id})

    async def _forget(self, ctx: CommandContext, args: list[str]) -> CommandResult:
        removed = await self._memory.erase_user(ctx.identity)
        held = self._erasure.forget(ctx.identity, removed.conversations) if self._erasure is not None else {}
        return CommandResult(text=f"Done: I erased {removed.messages} of your messages and every record of your "
                                  "conversations with me.", data={"erased": removed.messages,
                                                                  "deleted": removed.deleted, "in_memory": held})

    # --- policy ------------------------------------------------------------------------

    async def _policy(self, ctx: CommandContext, args: list[str]) -> CommandResult:
        sub = args[0].lower() if args else "show"
        rest = args[1:]
        if sub == "show":
            return await self._policy_show(rest)
        if sub == "history":
            rows = await self._memory.policy_history(limit=15)
            lines = [f"v{r.version}  {r.created_at:%Y-%m-%d %H:%M}  {r.author}  {r.comment}" for r in rows]
            return CommandResult(text="\n".join(lines) or "No versions stored yet.")
        if sub == "rollback":
            version = _int(_need(rest, 1, "policy rollback VERSION")[0], "VERSION")
            new = await self._policies.rollback(version, author=str(ctx.identity))
            return CommandResult(text=f"Policy v{new.version} is now in force (copy of v{version}).",
                                 data={"version": new.version})
        changes = {"set": self._policy_set, "strategy": self._policy_strategy, "pin": self._policy_pin,
                   "cache": self._policy_cache, "verifier": self._policy_verifier, "deadline": self._policy_deadline}
        change = changes.get(sub)
        if change is None:
            raise CommandError(f"Unknown `policy {sub}`; use show, set, strategy, pin, cache, verifier, deadline, "
                               "history or rollback.")
        policy = await self._policies.current()
        data, comment = change(policy, rest)
        new = await self._policies.apply(policy_from_data(data, source="the proposed change"), author=str(ctx.identity),
                                         comment=comment)
        return CommandResult(text=f"Policy v{new.version} is in force: {comment}.", data={"version": new.version})

    async def _policy_show(self, args: list[str]) -> CommandResult:
        policy = await self._policies.current()
        if args:
            task = _task(args[0])
            rule = policy.rules[task]
            return CommandResult(text=f"{task}: strategy {rule.strategy.value}{_verifier_note(rule)}, candidates "
                                      f"{', '.join(rule.candidates)}", data={"task": task})
        return CommandResult(text=describe_policy(policy), data={"policy": policy.model_dump(mode="json")})

    def _policy_set(self, policy: Policy, args: list[str]) -> tuple[dict[str, Any], str]:
        args = _need(args, 2, "policy set TASK MODEL [MODEL…]")
        task, models = _task(args[0]), args[1:]
        for m in models:
            policy.model(m)  # raises with the list hint when unknown
        data = policy.model_dump(mode="json")
        data["rules"][task]["candidates"] = models
        return data, f"{task} candidates → {', '.join(models)}"

    def _policy_strategy(self, policy: Policy, args: list[str]) -> tuple[dict[str, Any], str]:
        task, name = _need(args, 2, "policy strategy TASK STRATEGY")[:2]
        task = _task(task)
        try:
            strategy = Strategy(name.lower())
        except ValueError:
            raise CommandError(f"Unknown strategy {name!r}; use {', '.join(s.value for s in Strategy)}.") from None
        data = policy.model_dump(mode="json")
        data["rules"][task]["strategy"] = strategy.value
        return data, f"{task} strategy → {strategy.value}"

    def _policy_cache(self, policy: Policy, args: list[str]) -> tuple[dict[str, Any], str]:
        data, task, on = _switch(policy, args, "cache", "policy cache TASK on|off")
        return data, f"{task} cache → {'on' if on else 'off'}"

    def _policy_verifier(self, policy: Policy, args: list[str]) -> tuple[dict[str, Any], str]:
        data, task, on = _switch(policy, args, "verifier", "policy verifier TASK on|off")
        note = "" if policy.rules[task].strategy is Strategy.CASCADE else \
            f" (applies when {task} uses the cascade strategy; it uses {policy.rules[task].strategy.value})"
        return data, f"{task} cascade verifier → {'on' if on else 'off'}{note}"

    def _policy_deadline(self, policy: Policy, args: list[str]) -> tuple[dict[str, Any], str]:
        name, value = _need(args, 2, "policy deadline connect|first-token|stall|total SECONDS")[:2]
        key = name.lower().replace("-", "_").removesuffix("_s")
        if key not in DEADLINES:
            raise CommandError(f"Unknown deadline {name!r}; use {', '.join(DEADLINES.values())}.")
        try:
            seconds = float(value.lower().removesuffix("s"))
        except ValueError:
            raise CommandError(f"SECONDS must be a number, not {value!r}.") from None
        data = policy.model_dump(mode="json")
        data["deadlines"][f"{key}_s"] = seconds  # bounds and consistency: the policy's validation
        return data, f"{DEADLINES[key]} deadline → {seconds:g} s"

    def _policy_pin(self, policy: Policy, args: list[str]) -> tuple[dict[str, Any], str]:
        target, action_name = _need(args, 2, "policy pin personal|special|ENTITY pin|pseudonymise|block")[:2]
        try:
            action = PrivacyAction(action_name.lower())
        except ValueError:
            raise CommandError("Action must be pin, pseudonymise or block.") from None
        if action is PrivacyAction.ALLOW:
            raise PolicyValidationError("Refused: personal data may not be sent to every region (GDPR); "
                                        "use pin, pseudonymise or block.")
        data = policy.model_dump(mode="json")
        key = target.lower()
        if key in ("personal", "special"):
            data["privacy"]["actions"][key] = action.value
            return data, f"{key} data → {action.value}"
        entity = target.upper()
        level = Sensitivity.SPECIAL if action is PrivacyAction.BLOCK else policy.privacy.level_of(entity)
        data["privacy"]["levels"][entity] = level.label
        if action is not PrivacyAction.PIN:
            data["privacy"]["actions"][level.label] = action.value
        return data, f"{entity} → {level.label} level, {action.value}"

    # --- models ------------------------------------------------------------------------

    async def _model(self, ctx: CommandContext, args: list[str]) -> CommandResult:
        sub = args[0].lower() if args else "list"
        policy = await self._policies.current()
        if sub == "list":
            return CommandResult(text=describe_models(policy))
        if sub not in ("enable", "disable"):
            raise CommandError(f"Unknown `model {sub}`; use list, enable or disable.")
        model_id = _need(args[1:], 1, f"model {sub} MODEL")[0]
        policy.model(model_id)
        data = policy.model_dump(mode="json")
        for m in data["models"]:
            if m["id"] == model_id:
                m["enabled"] = sub == "enable"
        new = await self._policies.apply(policy_from_data(data, source="the proposed change"), author=str(ctx.identity),
                                         comment=f"{sub} {model_id}")
        return CommandResult(text=f"Policy v{new.version}: {model_id} {sub}d.", data={"version": new.version})

    # --- budgets -----------------------------------------------------------------------

    async def _budget(self, ctx: CommandContext, args: list[str]) -> CommandResult:
        sub = args[0].lower() if args else "show"
        if sub == "show":
            limits = await self._memory.budgets()
            if not limits:
                return CommandResult(text="No budgets set: spending is unlimited. "
                                          "Set one with `budget set user|team ID|* SOFT HARD`.")
            lines = ["Monthly budgets (USD; soft → cheaper tier, hard → refuse):"]
            lines += [f"  {b.scope} {b.key}: soft {_usd(b.soft_usd)}, hard {_usd(b.hard_usd)}{_legacy(b.key)}"
                      for b in limits]
            return CommandResult(text="\n".join(lines))
        if sub != "set":
            raise CommandError(f"Unknown `budget {sub}`; use show or set.")
        scope, key, soft_raw, hard_raw = _need(args[1:], 4, "budget set user|team ID|* SOFT HARD")[:4]
        if scope.lower() not in SCOPES:
            raise CommandError("Budget scope must be `user` or `team` (a team is a channel).")
        key = _budget_key(key)
        soft, hard = _limit_value(soft_raw, "SOFT"), _limit_value(hard_raw, "HARD")
        if soft is not None and hard is not None and soft > hard:
            raise CommandError(f"The soft limit ({soft:.2f}) must not exceed the hard limit ({hard:.2f}).")
        await self._memory.set_budget(scope=scope.lower(), key=key, soft_usd=soft, hard_usd=hard,
                                      author=str(ctx.identity))
        return CommandResult(text=f"Budget for {scope.lower()} {key}: soft {_usd(soft)}, hard {_usd(hard)} "
                                  "per month.")

    # --- KPIs and audit ----------------------------------------------------------------

    async def _stats(self, ctx: CommandContext, args: list[str]) -> CommandResult:
        period, by = _stats_options(args)
        until = datetime.now(UTC)
        since = until - period
        records = await self._memory.kpi_records(since=since - period, until=until)  # with the period before
        tiers = {m.id: m.tier.value for m in (await self._policies.current()).models}
        report = await asyncio.to_thread(build_report, records, since=since, until=until, by=by, tiers=tiers)
        return CommandResult(text=render_report(report), data={
            "rows": [asdict(r) for r in report.rows], "total": asdict(report.total), "apart": report.apart,
            "tier_mix": report.tier_mix, "warnings": report.warnings})

    async def _audit(self, ctx: CommandContext, args: list[str]) -> CommandResult:
        limit = _int(args[0], "N") if args else 20
        if not 1 <= limit <= AUDIT_MAX_ENTRIES:
            raise CommandError(f"N must be between 1 and {AUDIT_MAX_ENTRIES}, not {limit}.")
        rows = await self._memory.audit_log(limit=limit)
        return CommandResult(text="\n".join(describe_audit_entry(r) for r in rows) or "The audit log is empty.")


def _calls_line(d: Decision) -> str:
    """The models called for a decision, in order (`bot.audit.attempts_of`)."""
    calls = [f"{a.get('model')} ({a.get('region')}, {a.get('role')}"
             + (", failed" if a.get("ok") is False else ", cut off" if a.get("ok") is None else "") + ")"
             for a in attempts_of(d)]
    return f"\nModels called: {' → '.join(calls)}" if calls else ""


def command_help(name: str) -> str:
    """The lines of HELP about command `name` (with their continuation lines), for `switchboard NAME --help`."""
    lines, inside = [], False
    for line in HELP.splitlines():
        if line.startswith(f"  {name} ") or line == f"  {name}":
            inside = True
        elif not line.startswith("      "):  # a continuation is indented further than a command
            inside = False
        if inside:
            lines.append(line)
    return "\n".join(lines)


def is_read_only(name: str, args: list[str]) -> bool:
    """True for an admin command that only shows something (`policy show`, `stats`, …)."""
    if name in ("stats", "audit"):
        return True
    sub = args[0].lower() if args else DEFAULT_SUBCOMMANDS.get(name, "")
    return (name, sub) in READ_ONLY


def describe_audit_entry(entry: AuditEntry) -> str:
    """One entry, its whole outcome: ✓ for a change that was made, ✗ for a refusal or a rejected change;
    an outcome of several lines continues indented below."""
    done = entry.allowed and entry.outcome.startswith("ok")
    first, *more = entry.outcome.splitlines() or [""]
    head = f"{entry.created_at:%Y-%m-%d %H:%M} {entry.actor} {'✓' if done else '✗'} {entry.command} → {first}"
    return "\n".join([head, *(f"    {line}" for line in more)])


def _clip(text: str) -> str:
    """At most AUDIT_OUTCOME_CHARS, cut at a line's end and saying so (never mid-line, never silently)."""
    if len(text) <= AUDIT_OUTCOME_CHARS:
        return text
    cut = text.rfind("\n", 0, AUDIT_OUTCOME_CHARS)
    cut = cut if cut > 0 else AUDIT_OUTCOME_CHARS
    return f"{text[:cut]}\n… ({len(text) - cut} more characters not kept)"


def describe_policy(policy: Policy) -> str:
    lines = [f"Policy v{policy.version}",
             f"Personal data → {', '.join(policy.privacy.pii_regions)} only; actions: "
             + ", ".join(f"{k} → {v.value}" for k, v in policy.privacy.actions.items())]
    lines += [f"  {task}: {rule.strategy.value}{_verifier_note(rule)} → {', '.join(rule.candidates)}"
              for task, rule in policy.rules.items()]
    d = policy.deadlines
    lines.append(f"Deadlines: connect {d.connect_s:g} s, first token {d.first_token_s:g} s, stall {d.stall_s:g} s "
                 f"per attempt; {d.total_s:g} s per answer")
    lines.append(describe_models(policy))
    return "\n".join(lines)


def describe_models(policy: Policy) -> str:
    lines = ["Models (USD per 1M tokens in/out):"]
    for m in policy.models:
        inp, out = m.prices()
        state = "enabled" if m.enabled else "DISABLED"
        lines.append(f"  {m.id}  [{m.region}, {m.tier.value}]  {inp:.2f}/{out:.2f}  {state}"
                     f"  needs {' + '.join(m.env) or 'nothing'}")
    return "\n".join(lines)


def _verifier_note(rule: TaskRule) -> str:
    """For a cascade: whether a verifier model grades the cheaper tiers' answers."""
    if rule.strategy is not Strategy.CASCADE:
        return ""
    return " (verifier on)" if rule.verifier else " (verifier off: hedging check only)"


def _stats_options(args: list[str]) -> tuple[timedelta, str]:
    """`stats [SINCE] [--since SINCE] [--by GROUP]` (also `by GROUP`); SINCE is 7d, 24h, 2w or days."""
    period, by = timedelta(days=7), "model"
    words = list(args)
    try:
        while words:
            word = words.pop(0).lower()
            name, _, value = word.partition("=")
            if name in ("--since", "since", "--by", "by") and not value:
                value = _need(words, 1, "stats [--since 7d] [--by model|task|team|tier]").pop(0)
            if name in ("--by", "by"):
                by = parse_by(value)
            else:
                period = parse_since(value if name in ("--since", "since") else word)
    except KpiInputError as exc:
        raise CommandError(str(exc)) from None
    return period, by


def _switch(policy: Policy, args: list[str], field: str, usage: str) -> tuple[dict[str, Any], str, bool]:
    """`policy cache|verifier TASK on|off`: the policy data with the task's switch set, the task, the state."""
    task, state = _need(args, 2, usage)[:2]
    task = _task(task)
    if state.lower() not in ("on", "off"):
        raise CommandError("Say `on` or `off`.")
    data = policy.model_dump(mode="json")
    data["rules"][task][field] = state.lower() == "on"
    return data, task, state.lower() == "on"


def _need(args: list[str], n: int, usage: str) -> list[str]:
    if len(args) < n:
        raise CommandError(f"Usage: {usage}")
    return args


def _usd(value: float | None) -> str:
    return "none" if value is None else f"${value:.2f}"


def _limit_value(value: str, name: str) -> float | None:
    if value in ("-", "none"):
        return None
    try:
        usd = float(value.lstrip("$"))
    except ValueError:
        raise CommandError(f"{name} must be an amount in USD (or `-`), not {value!r}.") from None
    if usd < 0:
        raise CommandError(f"{name} must not be negative.")
    return usd


def _budget_key(key: str) -> str:
    """`*` or a qualified `platform:tenant:id`: a bare id would be someone on every platform."""
    if key == ANY:
        return key
    try:
        return str(Identity.parse(key))
    except InvalidIdentityError as exc:
        raise CommandError(f"Budget ID: {exc}, or * for everyone.") from None


def _legacy(key: str) -> str:
    if key == ANY or key.count(":") >= 2:
        return ""
    return "  (unqualified, set before identities were: applies to nobody; set it again as platform:tenant:id)"


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise CommandError(f"{name} must be a number, not {value!r}.") from None


def _task(name: str) -> str:
    if name.lower() not in TASKS:
        raise CommandError(f"Unknown task {name!r}; tasks are {', '.join(TASKS)}.")
    return name.lower()
