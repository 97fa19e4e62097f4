"""Cascade, ensemble and dynamic strategies against the fake OpenAI-compatible server (real HTTP)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from bot.commands import CommandContext, CommandProcessor
from bot.errors import PolicyValidationError
from bot.memory.models import Decision
from bot.types import ChatMessage, ReplyKind
from privacy.verdict import PrivacyAction, PrivacyVerdict, Sensitivity
from routing.policy import ModelSpec, Policy, Strategy, Tier, policy_from_data
from routing.providers import Cooldowns, LiteLLMClient, RetryPolicy
from routing.router import allowed_models, decide
from routing.stats import LiveStats, ModelLive
from routing.strategies import StrategyRequest, StrategyRunner, heuristic_sufficiency, score_candidates
from tests.conftest import ALL_TASKS, ServicesFactory, fake_policy
from tests.fakes.openai_server import FakeOpenAI, Fault

PUBLIC = PrivacyVerdict(level=Sensitivity.PUBLIC, action=PrivacyAction.ALLOW, reason="no personal data")
PERSONAL = PrivacyVerdict(level=Sensitivity.PERSONAL, action=PrivacyAction.PIN,
                          allowed_regions=frozenset({"eu", "local"}), reason="personal data (EMAIL_ADDRESS) → pin")
QUESTION = [{"role": "user", "content": "Which risks does clause 7 of the supplier contract carry for us?"}]
JUDGE_PICKS_2 = '{"best": 2, "merged": "", "reason": "most complete"}'


def ensemble_policy(base_url: str, strategy: str = "ensemble") -> Policy:
    def model(name: str, region: str, tier: str, tasks: list[str] | None = None) -> dict[str, Any]:
        return {"id": f"openai/{name}", "region": region, "tier": tier, "tasks": ALL_TASKS if tasks is None else tasks,
                "env": ["K"], "api_key_env": "K", "api_base": base_url, "input_price": 1.0 + Tier(tier).rank,
                "output_price": 2.0 + 4 * Tier(tier).rank}

    models = [model("eu-a", "eu", "cheap"), model("eu-b", "eu", "cheap"), model("eu-c", "eu", "mid"),
              model("eu-judge", "eu", "premium", tasks=[]), model("us-x", "us", "premium")]
    rule = {"strategy": strategy, "critical": True, "candidates": ["us-x", "eu-a", "eu-b", "eu-c"]}
    rules = {t: {"strategy": "task", "candidates": ["openai/eu-a"]} for t in ALL_TASKS}
    rules["analysis"] = {**rule, "candidates": [f"openai/{c}" for c in rule["candidates"]]}
    return policy_from_data({"models": models, "rules": rules}, source="test")


def runner(**kw: Any) -> StrategyRunner:
    retry = RetryPolicy(retries=1, base_s=0.01)
    return StrategyRunner(client=LiteLLMClient(environ={"K": "sk"}), retry=retry,
                          cooldowns=Cooldowns(), stats=kw.pop("stats", None) or LiveStats(), **kw)


def request(policy: Policy, verdict: PrivacyVerdict, task: str = "analysis",
            budget_left: float | None = None) -> StrategyRequest:
    decision = decide(policy=policy, task=task, task_confidence=0.9, verdict=verdict)
    return StrategyRequest(decision=decision, messages=QUESTION, allowed=tuple(allowed_models(policy, verdict)),
                           budget_left=budget_left)


# --- ensemble ----------------------------------------------------------------------------------


async def test_ensemble_with_personal_data_keeps_members_and_judge_in_the_eu(fake_llm: FakeOpenAI) -> None:
    policy = ensemble_policy(fake_llm.base_url)
    fake_llm.answers["eu-judge"] = JUDGE_PICKS_2
    done = await runner().run(request(policy, PERSONAL))
    called = fake_llm.models_called()
    assert sorted(called[:3]) == ["eu-a", "eu-b", "eu-c"] and called[3] == "eu-judge"
    assert "us-x" not in called
    assert done.model.id == "openai/eu-b"  # the judge's pick
    assert done.calls == 4 and "judge openai/eu-judge picked openai/eu-b" in done.note
    own = policy.model("openai/eu-b").cost(done.prompt_tokens, done.completion_tokens)
    assert done.extra_cost_usd > 0 and done.cost_usd == pytest.approx(own + done.extra_cost_usd)  # all 4 calls


async def test_ensemble_tolerates_a_failing_member(fake_llm: FakeOpenAI) -> None:
    policy = ensemble_policy(fake_llm.base_url)
    fake_llm.fail("eu-a", *[Fault(status=500)] * 2)
    fake_llm.answers["eu-judge"] = '{"best": 1, "merged": "", "reason": "x"}'
    done = await runner().run(request(policy, PERSONAL))
    assert done.model.id in ("openai/eu-b", "openai/eu-c")
    assert "2/3 members answered" in done.note and "1 failed" in done.note


async def test_ensemble_judge_can_merge(fake_llm: FakeOpenAI) -> None:
    policy = ensemble_policy(fake_llm.base_url)
    fake_llm.answers["eu-judge"] = '```json\n{"best": 1, "merged": "Clause 7 caps liability at EUR 10k.", ' \
                                   '"reason": "combined"}\n```'
    done = await runner().run(request(policy, PERSONAL))
    assert done.text == "Clause 7 caps liability at EUR 10k." and done.model.id == "openai/eu-judge"


async def test_ensemble_unreadable_judge_keeps_the_strongest_sufficient_answer(fake_llm: FakeOpenAI) -> None:
    policy = ensemble_policy(fake_llm.base_url)
    fake_llm.answers["eu-judge"] = "I think the second one is good."
    fake_llm.answers["eu-c"] = "I'm not sure about clause 7."
    done = await runner().run(request(policy, PERSONAL))
    assert done.model.tier is Tier.CHEAP  # the mid-tier answer hedged, so a cheap one is kept
    assert "unreadable" in done.note


async def test_ensemble_without_personal_data_may_use_every_region(fake_llm: FakeOpenAI) -> None:
    policy = ensemble_policy(fake_llm.base_url)
    fake_llm.answers["eu-judge"] = JUDGE_PICKS_2
    fake_llm.answers["us-x"] = JUDGE_PICKS_2
    await runner().run(request(policy, PUBLIC))
    assert "us-x" in fake_llm.models_called()


# --- cascade -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "ok"), [
    ("Clause 7 makes us liable for consequential damages without a cap.", True),
    ("I'm not sure what clause 7 means.", False),
    ("Nie jestem pewien, co oznacza ta klauzula.", False),
    ("Ich bin mir nicht sicher.", False),
    ("Jeg ved det ikke.", False),
    ("", False),
])
def test_heuristic_sufficiency(answer: str, ok: bool) -> None:
    assert heuristic_sufficiency("What does clause 7 mean?", answer).ok is ok


async def test_cascade_keeps_a_sufficient_cheap_answer_checked_by_an_eu_verifier(fake_llm: FakeOpenAI) -> None:
    policy = ensemble_policy(fake_llm.base_url, strategy="cascade")
    fake_llm.answers["eu-a"] = "Clause 7 makes us liable for consequential damages without a cap."
    fake_llm.answers["eu-b"] = '{"sufficient": true, "confidence": 0.9, "reason": "complete"}'
    partials: list[str] = []

    async def on_partial(text: str) -> None:
        partials.append(text)

    req = request(policy, PERSONAL)
    done = await runner().run(StrategyRequest(decision=req.decision, messages=req.messages, allowed=req.allowed,
                                              on_partial=on_partial))
    assert done.model.id == "openai/eu-a" and not done.escalated
    assert fake_llm.models_called() == ["eu-a", "eu-b"]  # answer, then the cheapest other EU model verifies
    assert partials == [done.text]  # a cheap tier's answer is sent only once it passed the check
    assert done.extra_cost_usd > 0  # the verifier's call


async def test_cascade_escalates_when_the_verifier_says_insufficient(fake_llm: FakeOpenAI) -> None:
    policy = ensemble_policy(fake_llm.base_url, strategy="cascade")
    fake_llm.answers["eu-a"] = "Clause 7 is fine."
    fake_llm.answers["eu-b"] = '{"sufficient": false, "confidence": 0.8, "reason": "ignores liability"}'
    fake_llm.answers["eu-c"] = "Clause 7 shifts unlimited liability to us; negotiate a cap."
    done = await runner().run(request(policy, PERSONAL))
    assert done.model.id == "openai/eu-c" and done.escalated
    assert "insufficient" in done.note and "escalated" in done.note
    assert "us-x" not in fake_llm.models_called()


async def test_cascade_escalates_on_hedging_without_calling_a_verifier(fake_llm: FakeOpenAI) -> None:
    policy = ensemble_policy(fake_llm.base_url, strategy="cascade")
    fake_llm.answers["eu-a"] = "I don't know, contracts are hard."
    done = await runner().run(request(policy, PERSONAL))
    assert fake_llm.models_called() == ["eu-a", "eu-c"]  # cheap tier, then straight to the mid tier
    assert done.escalated and "hedging" in done.note


async def test_cascade_skips_a_tier_that_is_down(fake_llm: FakeOpenAI) -> None:
    policy = ensemble_policy(fake_llm.base_url, strategy="cascade")
    for m in ("eu-a", "eu-b"):
        fake_llm.fail(m, *[Fault(status=503)] * 2)
    done = await runner().run(request(policy, PERSONAL))
    assert done.model.id == "openai/eu-c" and done.fallback and not done.escalated


async def test_pipeline_records_the_escalation(make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    rules = {t: {"strategy": "cascade", "candidates": ["openai/us-premium", "openai/eu-large", "openai/us-small"]}
             for t in ALL_TASKS}
    services = await make_services(policy=fake_policy(fake_llm.base_url, **rules))
    fake_llm.answers["us-small"] = "I'm not sure."
    msg = ChatMessage(platform="test", tenant="T", channel="C", thread="t", user="U1",
                      text="What should our reply to the customer's complaint about late delivery say?")
    reply = await services.pipeline.handle(msg)
    assert reply.kind is ReplyKind.ANSWER
    assert fake_llm.models_called()[0] == "us-small"
    with Session(services.memory.engine) as s:
        d = s.exec(select(Decision)).one()
    assert d.escalated and d.strategy == "cascade" and d.model == reply.model != "openai/us-small"
    assert "escalated" in d.reason and d.cost_usd == pytest.approx(reply.cost_usd)


# --- dynamic -----------------------------------------------------------------------------------


def _live(model: ModelSpec, *, p95: float = 100, errors: float = 0.0, load: int = 0, n: int = 50) -> ModelLive:
    return ModelLive(model.id, n, p95 / 2, p95, errors, load)


def test_dynamic_score_prefers_healthy_fast_idle_models(fake_llm: FakeOpenAI) -> None:
    policy = ensemble_policy(fake_llm.base_url)
    a, b = policy.model("openai/eu-a"), policy.model("openai/eu-b")
    assert score_candidates([a, b], [_live(a, errors=0.3), _live(b)], budget_left=None)[0][0] is b
    assert score_candidates([a, b], [_live(a, p95=900), _live(b, p95=100)], budget_left=None)[0][0] is b
    assert score_candidates([a, b], [_live(a, load=20), _live(b)], budget_left=None)[0][0] is b
    assert score_candidates([a, b], [_live(a), _live(b)], budget_left=None)[0][0] is a  # tie: policy order


def test_dynamic_score_shifts_to_cheap_models_as_the_budget_runs_out(fake_llm: FakeOpenAI) -> None:
    policy = ensemble_policy(fake_llm.base_url)
    cheap, premium = policy.model("openai/eu-a"), policy.model("openai/eu-judge")
    live = [_live(cheap), _live(premium)]
    assert score_candidates([cheap, premium], live, budget_left=1.0, critical=True)[0][0] is premium
    assert score_candidates([cheap, premium], live, budget_left=0.05, critical=True)[0][0] is cheap


async def test_dynamic_routes_away_from_a_model_that_errors(fake_llm: FakeOpenAI) -> None:
    policy = ensemble_policy(fake_llm.base_url, strategy="dynamic")
    stats = LiveStats()
    for _ in range(10):
        stats.started("openai/eu-a")
        stats.finished("openai/eu-a", latency_ms=80, ok=False)
    done = await runner(stats=stats).run(request(policy, PERSONAL))
    assert "eu-a" not in fake_llm.models_called() and len(fake_llm.requests) == 1
    assert done.model.id == "openai/eu-c"  # critical rule, no budget pressure: quality (tier) counts
    assert done.note.startswith("dynamic:")
    assert request(policy, PERSONAL).decision.strategy is Strategy.DYNAMIC


async def test_the_verifier_switch_skips_the_verifier_call(make_services: ServicesFactory,
                                                           fake_llm: FakeOpenAI) -> None:
    """`policy verifier TASK off`: a cheap tier's answer is kept on the free hedging check alone, with no
    verifier request reaching the provider; validated, versioned, shown, and `on` brings the call back."""
    cascade = {"strategy": "cascade", "candidates": ["openai/us-small", "openai/eu-small", "openai/us-premium"]}
    services = await make_services(policy=fake_policy(fake_llm.base_url, **{t: cascade for t in ALL_TASKS}),
                                   SWITCHBOARD_CACHE=False)  # each question must reach the provider
    commands = CommandProcessor(memory=services.memory, policies=services.policies)
    admin = CommandContext(platform="test", tenant="T", channel="C", user="boss", is_admin=True)
    fake_llm.answers["eu-small"] = '{"sufficient": true, "confidence": 0.9, "reason": "complete"}'
    fake_llm.answers["us-small"] = "Copenhagen is the capital of Denmark."

    def ask(thread: str) -> ChatMessage:
        return ChatMessage(platform="test", tenant="T", channel="C", thread=thread, user="U1",
                           text="What is the capital of Denmark?")

    before = await services.pipeline.handle(ask("on"))
    assert before.model == "openai/us-small" and fake_llm.models_called() == ["us-small", "eu-small"]
    task = before.task or "general"
    shown = await commands.execute(admin, f"policy show {task}")
    assert "cascade (verifier on)" in shown.text

    off = await commands.execute(admin, f"policy verifier {task} off")
    assert off.ok and f"{task} cascade verifier → off" in off.text
    policy = await services.policies.current()
    assert not policy.rules[task].verifier and policy.version == 2
    assert "(verifier off: hedging check only)" in (await commands.execute(admin, "policy show")).text
    assert not (await commands.execute(admin, f"policy verifier {task} maybe")).ok
    assert "policy verifier TASK on|off" in (await commands.execute(admin, "policy help")).text

    fake_llm.requests.clear()
    after = await services.pipeline.handle(ask("off"))
    assert after.model == "openai/us-small" and fake_llm.models_called() == ["us-small"]  # no verifier call

    assert (await commands.execute(admin, f"policy verifier {task} on")).ok
    fake_llm.requests.clear()
    await services.pipeline.handle(ask("on-again"))
    assert fake_llm.models_called() == ["us-small", "eu-small"]


def test_the_verifier_field_is_validated() -> None:
    data = fake_policy("http://127.0.0.1:9/v1")
    data["rules"]["general"] = {**data["rules"]["general"], "verifier": "sometimes"}
    with pytest.raises(PolicyValidationError, match=r"rules\.general\.verifier"):
        policy_from_data(data, source="test")
