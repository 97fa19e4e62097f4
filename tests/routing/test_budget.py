"""Monthly budgets: pure evaluation, the pipeline degrading and refusing, the admin command."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from bot.commands import CommandContext, CommandProcessor
from bot.memory.models import Decision
from bot.types import ChatMessage, ReplyKind
from routing.budget import BudgetGuard, BudgetLevel, BudgetLimit, evaluate, month_start
from tests.conftest import ALL_TASKS, ServicesFactory, fake_policy
from tests.fakes.openai_server import FakeOpenAI

ADMIN = CommandContext(platform="test", tenant="T", channel="C", user="boss", is_admin=True)


def msg(text: str, *, user: str = "U1", channel: str = "C", thread: str = "t1") -> ChatMessage:
    return ChatMessage(platform="test", tenant="T", channel=channel, thread=thread, user=user, text=text)


def premium_first(base_url: str) -> dict[str, object]:
    rules = {t: {"strategy": "task", "candidates": ["openai/us-premium", "openai/us-small", "openai/eu-large",
                                                    "openai/eu-small"]} for t in ALL_TASKS}
    policy = fake_policy(base_url, **rules)
    for m in policy["models"]:  # type: ignore[union-attr]
        if m["id"] == "openai/us-premium":
            m["input_price"], m["output_price"] = 10.0, 30.0
    return policy


def test_evaluate_takes_the_strictest_limit() -> None:
    user = BudgetLimit(scope="user", key="U1", soft_usd=5.0, hard_usd=10.0)
    team = BudgetLimit(scope="team", key="*", soft_usd=50.0, hard_usd=100.0)
    assert evaluate([(user, 1.0), (team, 10.0)]).level is BudgetLevel.OK
    assert evaluate([(user, 1.0), (team, 10.0)]).left_fraction == 0.8
    soft = evaluate([(user, 6.0), (team, 10.0)])
    assert soft.level is BudgetLevel.SOFT and "$6.00 spent of the $5.00 soft limit for user U1" in soft.detail
    hard = evaluate([(user, 6.0), (team, 100.0)])
    assert hard.refused and "every team" in hard.detail
    assert evaluate([]).left_fraction is None


def test_month_starts_on_the_first_in_utc() -> None:
    assert month_start(datetime(2025, 3, 17, 13, 5, tzinfo=UTC)) == datetime(2025, 3, 1, tzinfo=UTC)


async def test_hard_limit_refuses_with_a_clear_message(make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    services = await make_services()
    await services.memory.set_budget(scope="user", key="test:T:U1", soft_usd=None, hard_usd=1e-9, author="boss")
    first = await services.pipeline.handle(msg("What time is the canteen open?"))
    assert first.kind is ReplyKind.ANSWER and first.cost_usd > 0
    second = await services.pipeline.handle(msg("And on Saturdays?"))
    assert second.kind is ReplyKind.REFUSAL
    assert "budget" in second.text and "hard limit for user test:T:U1" in second.text
    assert len(fake_llm.requests) == 1  # refused before any provider call
    other = await services.pipeline.handle(msg("What time is the canteen open?", user="U2", thread="t2"))
    assert other.kind is ReplyKind.ANSWER  # the limit is U1's alone
    with Session(services.memory.engine) as s:
        outcomes = [d.outcome for d in s.exec(select(Decision).order_by(col(Decision.id))).all()]
    assert outcomes == ["answered", "refused", "answered"]


async def test_soft_limit_degrades_to_the_cheapest_tier(make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    services = await make_services(policy=premium_first(fake_llm.base_url))
    await services.memory.set_budget(scope="team", key="*", soft_usd=1e-9, hard_usd=None, author="boss")
    first = await services.pipeline.handle(msg("Write a slogan for our new valve line."))
    assert first.model == "openai/us-premium"
    second = await services.pipeline.handle(msg("Write another slogan for the valve line."))
    assert second.kind is ReplyKind.ANSWER and second.model == "openai/us-small"
    with Session(services.memory.engine) as s:
        last = s.exec(select(Decision).order_by(col(Decision.id).desc())).first()
    assert last is not None and "soft limit for every team" in last.reason


async def test_cost_is_token_usage_times_price(make_services: ServicesFactory, fake_llm: FakeOpenAI) -> None:
    services = await make_services(policy=premium_first(fake_llm.base_url))
    reply = await services.pipeline.handle(msg("Write a slogan for our new valve line."))
    with Session(services.memory.engine) as s:
        d = s.exec(select(Decision)).one()
    assert d.cost_usd == (d.prompt_tokens * 10.0 + d.completion_tokens * 30.0) / 1_000_000 == reply.cost_usd
    spent = await services.memory.spend(scope="user", key="test:T:U1", since=month_start(datetime.now(UTC)))
    assert spent == d.cost_usd


async def test_spend_resets_with_the_month(make_services: ServicesFactory) -> None:
    services = await make_services()
    await services.memory.set_budget(scope="user", key="*", soft_usd=None, hard_usd=1e-9, author="boss")
    await services.pipeline.handle(msg("What time is the canteen open?"))
    now = BudgetGuard(services.memory)
    assert (await now.status(user="test:T:U1", team="test:T:C")).refused
    next_month = BudgetGuard(services.memory, clock=lambda: datetime(2999, 1, 2, tzinfo=UTC))
    assert not (await next_month.status(user="test:T:U1", team="test:T:C")).refused


async def test_budget_command_sets_and_shows(make_services: ServicesFactory) -> None:
    services = await make_services()
    commands = CommandProcessor(memory=services.memory, policies=services.policies)
    bare = await commands.execute(ADMIN, "budget set user U1 5 10")
    assert not bare.ok and "slack:T012AB:U123" in bare.text  # a bare id would be U1 on every platform
    done = await commands.execute(ADMIN, "budget set user test:T:U1 5 10")
    assert done.ok and "soft $5.00, hard $10.00" in done.text
    assert (await commands.execute(ADMIN, "budget set team * - 200")).ok
    shown = await commands.execute(ADMIN, "budget show")
    assert "user test:T:U1: soft $5.00, hard $10.00" in shown.text and "team *: soft none, hard $200.00" in shown.text
    bad = await commands.execute(ADMIN, "budget set user test:T:U1 20 10")
    assert not bad.ok and "must not exceed" in bad.text
    staff = CommandContext(platform="test", tenant="T", channel="C", user="U1", is_admin=False)
    assert not (await commands.execute(staff, "budget set user U1 1000 1000")).ok


async def test_a_bare_budget_key_from_before_qualified_identities_binds_nobody(make_services: ServicesFactory) -> None:
    services = await make_services()
    await services.memory.set_budget(scope="user", key="U1", soft_usd=None, hard_usd=0.0, author="boss")
    commands = CommandProcessor(memory=services.memory, policies=services.policies)
    assert "applies to nobody" in (await commands.execute(ADMIN, "budget show")).text
    assert (await services.pipeline.handle(msg("What time is the canteen open?"))).kind is ReplyKind.ANSWER


async def test_concurrent_answers_reserve_their_estimate_before_the_call(make_services: ServicesFactory,
                                                                          fake_llm: FakeOpenAI) -> None:
    services = await make_services(SWITCHBOARD_CACHE=False)
    fake_llm.delay_s = 0.3  # every answer is still running when the others ask
    # about two answers' estimates (prompt at 1/3 token per character + 1,024 answer tokens at $1.5/M)
    await services.memory.set_budget(scope="user", key="test:T:U1", soft_usd=None, hard_usd=0.003, author="boss")
    replies = await asyncio.gather(*(services.pipeline.handle(msg(f"Question {i}: when is the canteen open?",
                                                                  thread=f"t{i}")) for i in range(8)))
    answered = [r for r in replies if r.kind is ReplyKind.ANSWER]
    refused = [r for r in replies if r.kind is ReplyKind.REFUSAL]
    assert len(answered) == len(fake_llm.requests) == 2  # the status alone saw $0 spent for all eight
    assert len(refused) == 6 and all("counting the answers in progress" in r.text for r in refused)
