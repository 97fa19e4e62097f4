"""The routing decision: privacy constraints first, then the task's rule, as a pure function."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import NoModelAvailableError
from privacy.verdict import PrivacyVerdict
from routing.policy import ModelSpec, Policy, Strategy


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingDecision:
    task: str
    task_confidence: float
    strategy: Strategy
    chain: tuple[ModelSpec, ...]  # first answers; the rest are fallbacks, all inside the allowed regions
    reason: str
    policy_version: int
    critical: bool = False
    verifier: bool = True  # cascade: a verifier model grades cheaper tiers' answers (TaskRule.verifier)

    @property
    def model(self) -> ModelSpec:
        return self.chain[0]

    @property
    def region(self) -> str:
        return self.model.region


def allowed_models(policy: Policy, verdict: PrivacyVerdict) -> list[ModelSpec]:
    """Enabled models in regions the verdict allows: the only ones any strategy may touch."""
    return [m for m in policy.models if m.enabled and verdict.allows(m.region)]


def _by_price(models: list[ModelSpec]) -> list[ModelSpec]:
    return sorted(models, key=lambda m: (m.tier.rank, sum(m.prices())))


def decide(*, policy: Policy, task: str, task_confidence: float, verdict: PrivacyVerdict,
           from_thread: bool = False) -> RoutingDecision:
    """Pick the model chain for one request.

    The task rule's candidates are kept in their order when the verdict allows them; models of
    allowed regions that declare the task come next (cheapest first), so a pinned request
    always has an EU/local chain when one exists.
    """
    allowed = allowed_models(policy, verdict)
    if not allowed:
        regions = ", ".join(sorted(verdict.allowed_regions or ())) or "any region"
        raise NoModelAvailableError(
            f"no enabled model in {regions}; enable one with `model enable ID`",
            user_message="No model is available for this request right now.",
        )
    rule = policy.rules[task]
    allowed_ids = {m.id for m in allowed}
    chain = [policy.model(c) for c in rule.candidates if c in allowed_ids]
    extra = _by_price([m for m in allowed if task in m.tasks and m.id not in rule.candidates])
    chain += extra
    if not chain:
        chain = _by_price(allowed)
    if rule.strategy is Strategy.CASCADE:  # the cheapest tier answers first; order inside a tier stays
        chain.sort(key=lambda m: m.tier.rank)
    why = _reason(task, task_confidence, verdict, chain[0], from_rule=chain[0].id in rule.candidates,
                  from_thread=from_thread)
    return RoutingDecision(task=task, task_confidence=task_confidence, strategy=rule.strategy,
                           chain=tuple(chain), reason=why, policy_version=policy.version,
                           critical=rule.critical, verifier=rule.verifier)


def _reason(task: str, confidence: float, verdict: PrivacyVerdict, model: ModelSpec, *, from_rule: bool,
            from_thread: bool) -> str:
    if verdict.contains_pii and verdict.allowed_regions is not None:
        where = "/".join(sorted(verdict.allowed_regions)) or "no region"
        privacy = f"{verdict.reason}; only {where} models allowed"
    elif verdict.contains_pii:  # the privacy rules let this kind of personal data go anywhere
        privacy = f"{verdict.reason}; models of every region allowed"
    else:
        privacy = "no personal data"
    pick = "first allowed candidate of the rule" if from_rule else "cheapest allowed model for the task"
    basis = "follow-up in a thread" if from_thread else f"{confidence:.2f}"
    return (f"{privacy}; task {task} ({basis}) → {model.id} "
            f"[{model.region}, {model.tier.value}]: {pick}")
