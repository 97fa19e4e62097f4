"""Deadlines and Retry-After over real HTTP: LiteLLM against the fake OpenAI-compatible server (and a
listener that never accepts), our timeout, fallback and cooldown code unpatched, wall time measured.

The policy's deadlines are small here (0.5 s first token) so each test stays fast; a broken timeout
shows up as a test that waits out the fake's 30 s hang and then fails its time bound. The semantic
cache is off in the pipeline tests: its embedding model loads at the first store (~1.5 s), which
is no part of what is measured here.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.commands import CommandContext, CommandProcessor
from bot.errors import DeadlineExceededError, PolicyValidationError
from bot.memory.models import Decision
from bot.services import Services
from bot.types import ChatMessage, ReplyKind
from privacy.verdict import PrivacyAction, PrivacyVerdict, Sensitivity
from routing.deadlines import CallLimits
from routing.litellm_env import import_litellm
from routing.policy import Deadlines, ModelSpec, Tier, load_policy, policy_from_data
from routing.providers import Completion, Cooldowns, LiteLLMClient, RetryPolicy, complete_with_fallbacks
from routing.router import allowed_models, decide
from routing.stats import LiveStats
from routing.strategies import StrategyRequest, StrategyRunner
from tests.conftest import ALL_TASKS, ServicesFactory, fake_policy
from tests.fakes.openai_server import FakeOpenAI, Fault

KEYS = {"K": "sk-test"}
TIGHT = {"connect_s": 0.3, "first_token_s": 0.5, "stall_s": 0.5, "total_s": 3.0}
HANG_S = 30.0  # longer than any test may take: only a working timeout ends it
SCHEDULING_S = 0.4  # what a loaded 2-core machine may add to a timer before the next request is on the wire
MESSAGES = [{"role": "user", "content": "When does the warehouse open on Monday?"}]
PUBLIC = PrivacyVerdict(level=Sensitivity.PUBLIC, action=PrivacyAction.ALLOW, reason="no personal data")


@pytest.fixture(scope="module", autouse=True)
async def warm_litellm() -> None:
    """LiteLLM's first call in a process spends ~1 s setting itself up; keep that out of the timings."""
    fake = FakeOpenAI()
    await fake.start()
    stream = await import_litellm().acompletion(model="openai/warm", messages=MESSAGES, api_base=fake.base_url,
                                                api_key="sk", stream=True, num_retries=0)
    async for _ in stream:
        pass
    await fake.close()


def spec(base_url: str, name: str, tier: Tier = Tier.CHEAP, tasks: tuple[str, ...] = tuple(ALL_TASKS)) -> ModelSpec:
    return ModelSpec(id=f"openai/{name}", region="eu", tier=tier, tasks=tasks, env=("K",), api_key_env="K",
                     api_base=base_url, input_price=1.0, output_price=2.0)


async def call(chain: list[ModelSpec], *, deadlines: dict[str, float] | None = None, retry: RetryPolicy | None = None,
               cooldowns: Cooldowns | None = None) -> Completion:
    limits = CallLimits.starting_now(Deadlines(**(deadlines or TIGHT)))
    return await complete_with_fallbacks(client=LiteLLMClient(environ=KEYS), chain=chain, messages=MESSAGES,
                                         retry=retry or RetryPolicy(retries=2, base_s=0.01, max_s=1.0),
                                         cooldowns=cooldowns or Cooldowns(), limits=limits, stats=LiveStats())


def arrival(fake: FakeOpenAI, model: str, nth: int = 0) -> float:
    return [t for m, t in fake.arrivals if m == model][nth]


async def with_deadlines(make_services: ServicesFactory, fake: FakeOpenAI, deadlines: dict[str, float]) -> Services:
    return await make_services(policy={**fake_policy(fake.base_url), "deadlines": deadlines}, SWITCHBOARD_CACHE=False)


def msg(text: str, *, thread: str = "t1") -> ChatMessage:
    return ChatMessage(platform="test", tenant="T", channel="C", thread=thread, user="U1", text=text)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- a hung provider costs one first-token timeout, then the fallback answers ----------------------


@pytest.mark.parametrize("fault", [Fault(delay_s=HANG_S), Fault(first_chunk_delay_s=HANG_S),
                                   Fault(stall_after_chunks=3, stall_s=HANG_S)],
                         ids=["hang-before-headers", "hang-after-headers", "stall-mid-stream"])
async def test_hung_primary_hands_over_to_the_fallback_within_its_timeout(
        make_services: ServicesFactory, fake_llm: FakeOpenAI, fault: Fault) -> None:
    services = await with_deadlines(make_services, fake_llm, TIGHT)
    fake_llm.fail("us-small", fault)
    partials: list[str] = []

    async def on_partial(text: str) -> None:
        partials.append(text)

    reply = await services.pipeline.handle(msg("What time is the canteen open on Fridays?"), on_partial=on_partial)
    replied = time.monotonic()
    assert reply.kind is ReplyKind.ANSWER and reply.fallback and reply.model == "openai/us-premium"
    assert fake_llm.models_called() == ["us-small", "us-premium"]  # a hung model is not retried
    cost = arrival(fake_llm, "us-premium") - arrival(fake_llm, "us-small")
    # measured at the server: the primary's request arrives a few ms after our timer started
    assert 0.45 <= cost < 0.5 + SCHEDULING_S, f"the hung model cost {cost:.2f} s before the fallback started"
    assert replied - arrival(fake_llm, "us-small") < 0.5 + 2 * SCHEDULING_S  # the fallback's answer included
    assert [m for m, _ in fake_llm.hangups] == ["us-small"]  # we closed the hung request, not just left it
    assert partials[-1] == reply.text
    if fault.stall_after_chunks:  # what the stalled stream showed is overwritten by the fallback's answer
        assert "answer from us-small " in partials and reply.text.startswith("answer from us-premium")


async def test_the_next_request_skips_the_hung_model_at_once(make_services: ServicesFactory,
                                                             fake_llm: FakeOpenAI) -> None:
    services = await with_deadlines(make_services, fake_llm, TIGHT)
    fake_llm.fail("us-small", Fault(delay_s=HANG_S))
    await services.pipeline.handle(msg("What time is the canteen open on Fridays?"))
    started = time.monotonic()
    reply = await services.pipeline.handle(msg("Who cleans the meeting rooms?", thread="t2"))
    assert reply.model == "openai/us-premium"
    assert fake_llm.models_called() == ["us-small", "us-premium", "us-premium"]  # cooling down: no request
    assert time.monotonic() - started < 0.5  # less than one first-token timeout


async def test_answers_reuse_the_provider_connection(fake_llm: FakeOpenAI) -> None:
    """LiteLLM caches a client (and its connection pool) per timeout value: the timeouts we hand it
    must not change from call to call, or every answer would open a new connection and leak a client."""
    for _ in range(4):
        await call([spec(fake_llm.base_url, "eu-small")])
        await asyncio.sleep(0.05)  # a later call has less of its answer's time left
    assert len(fake_llm.peers) == 4 and len(set(fake_llm.peers)) == 1


async def test_connect_timeout_hands_over_before_the_first_token_timeout(fake_llm: FakeOpenAI) -> None:
    with blackhole() as dead_base:
        started = time.monotonic()
        done = await call([spec(dead_base, "unreachable"), spec(fake_llm.base_url, "eu-large")],
                          deadlines={"connect_s": 0.3, "first_token_s": 1.5, "stall_s": 1.5, "total_s": 5.0})
    cost = arrival(fake_llm, "eu-large") - started
    assert done.model.id == "openai/eu-large" and done.fallback
    assert 0.3 <= cost < 0.3 + SCHEDULING_S < 1.5, f"connecting cost {cost:.2f} s"


def ensemble(base_url: str, members: list[str], **request: Any) -> tuple[StrategyRunner, StrategyRequest]:
    """An ensemble of `members` (cheap EU models) for the analysis task, with a premium EU judge."""
    models = [spec(base_url, m) for m in members] + [spec(base_url, "eu-judge", Tier.PREMIUM, tasks=())]
    rules: dict[str, Any] = {t: {"candidates": [f"openai/{members[0]}"]} for t in ALL_TASKS}
    rules["analysis"] = {"strategy": "ensemble", "candidates": [f"openai/{m}" for m in members]}
    policy = policy_from_data({"models": [m.model_dump() for m in models], "rules": rules}, source="test")
    decision = decide(policy=policy, task="analysis", task_confidence=0.9, verdict=PUBLIC)
    runner = StrategyRunner(client=LiteLLMClient(environ=KEYS), retry=RetryPolicy(retries=2, base_s=0.01),
                            cooldowns=Cooldowns(), stats=LiveStats())
    return runner, StrategyRequest(decision=decision, messages=MESSAGES, allowed=tuple(allowed_models(policy, PUBLIC)),
                                   **request)


async def test_hung_ensemble_member_does_not_hold_the_answer(fake_llm: FakeOpenAI) -> None:
    runner, request = ensemble(fake_llm.base_url, ["eu-a", "eu-b", "eu-c"], deadlines=Deadlines(**TIGHT))
    fake_llm.fail("eu-b", Fault(delay_s=HANG_S))
    fake_llm.answers["eu-judge"] = '{"best": 1, "merged": "", "reason": "x"}'
    started = time.monotonic()
    done = await runner.run(request)
    elapsed = time.monotonic() - started
    assert "2/3 members answered" in done.note and "1 failed" in done.note
    assert fake_llm.models_called().count("eu-b") == 1  # the others answer anyway: no retry of a hung member
    assert 0.5 <= elapsed < 0.5 + 2 * SCHEDULING_S  # one timeout, then the judge


# --- the total deadline stops the work: an apology, never silence --------------------------------


async def test_an_ensemble_keeps_the_answer_it_has_when_the_deadline_cuts_a_slow_member(
        fake_llm: FakeOpenAI) -> None:
    runner, request = ensemble(fake_llm.base_url, ["eu-a", "eu-b"], deadlines=Deadlines(**{**TIGHT, "total_s": 1.5}))
    fake_llm.answers["eu-b"] = " ".join(f"w{i}" for i in range(100))
    fake_llm.fail("eu-b", Fault(chunk_interval_s=0.1))  # alive, but would need 10 s
    started = time.monotonic()
    done = await runner.run(request)
    assert done.model.id == "openai/eu-a" and "1 failed" in done.note
    assert time.monotonic() - started < 1.5  # cut a little before the deadline, so eu-a's answer survives


async def test_the_hard_stop_holds_when_our_own_callback_hangs(fake_llm: FakeOpenAI) -> None:
    async def hung_chat_platform(text: str) -> None:
        await asyncio.sleep(HANG_S)

    runner, request = ensemble(fake_llm.base_url, ["eu-a"], on_partial=hung_chat_platform,
                               deadlines=Deadlines(**{**TIGHT, "total_s": 1.0}))
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError, match="deadline"):
        await runner.run(request)  # the member answered; sending its answer hangs, outside any provider call
    assert 1.0 <= time.monotonic() - started < 1.0 + SCHEDULING_S


async def test_total_deadline_cancels_a_slow_stream_and_apologises(make_services: ServicesFactory,
                                                                   fake_llm: FakeOpenAI) -> None:
    deadlines = {**TIGHT, "total_s": 1.5}
    services = await with_deadlines(make_services, fake_llm, deadlines)
    fake_llm.answers["us-small"] = " ".join(f"w{i}" for i in range(100))  # a live stream: 0.1 s per word
    fake_llm.fail("us-small", Fault(chunk_interval_s=0.1))
    partials: list[str] = []

    async def on_partial(text: str) -> None:
        partials.append(text)

    started = time.monotonic()
    reply = await services.pipeline.handle(msg("What time is the canteen open on Fridays?"), on_partial=on_partial)
    replied = time.monotonic()
    assert reply.kind is ReplyKind.ERROR and "1.5 seconds" in reply.text
    assert partials  # the stream was alive (no stall, no first-token timeout): only the deadline ended it
    assert 1.5 - 0.1 <= replied - started < 1.5 + SCHEDULING_S
    await asyncio.sleep(0.3)
    [(model, hung_up)] = fake_llm.hangups
    assert model == "us-small" and hung_up < replied + 0.2  # the request was closed, not left streaming
    assert fake_llm.models_called() == ["us-small"]  # no fallback starts without time to answer
    with Session(services.memory.engine) as s:
        decision = s.exec(select(Decision)).one()
    assert decision.outcome == "failed" and "deadline" in decision.reason


async def test_every_model_hung_ends_in_an_apology_within_the_total(make_services: ServicesFactory,
                                                                    fake_llm: FakeOpenAI) -> None:
    services = await with_deadlines(make_services, fake_llm, TIGHT)
    for model in ("eu-small", "eu-large"):  # personal data: only these two may answer
        fake_llm.fail(model, *[Fault(delay_s=HANG_S)] * 3)
    started = time.monotonic()
    reply = await services.pipeline.handle(msg("Call Maria Schmidt at +49 151 23456789 tomorrow"))
    assert reply.kind is ReplyKind.ERROR and reply.text.startswith("Sorry")
    assert time.monotonic() - started < 3.0 + SCHEDULING_S
    assert not any(m.startswith("us-") for m in fake_llm.models_called())


# --- Retry-After: a wait that does not fit is not taken ------------------------------------------


async def test_retry_after_beyond_the_answers_deadline_is_not_waited(fake_llm: FakeOpenAI) -> None:
    fake_llm.fail("eu-small", Fault(status=503, retry_after=2))
    started = time.monotonic()
    done = await call([spec(fake_llm.base_url, "eu-small"), spec(fake_llm.base_url, "eu-large")],
                      deadlines={**TIGHT, "total_s": 1.5}, retry=RetryPolicy(retries=2, base_s=0.01, max_s=8.0))
    assert done.model.id == "openai/eu-large"
    assert time.monotonic() - started < 0.5  # a 2 s wait would not fit in 1.5 s: the next model answers


# --- the deadlines are policy: defaults, validation, the admin command ---------------------------


def test_default_deadlines_bound_a_hung_provider_to_15_seconds() -> None:
    d = load_policy().deadlines
    assert d == Deadlines()
    assert d.connect_s <= d.first_token_s <= 15 and d.stall_s <= 15  # what a hung model costs before the fallback
    assert d.total_s >= 2 * d.first_token_s


@pytest.mark.parametrize(("deadlines", "problem"), [
    ({"connect_s": 5, "first_token_s": 4}, "connect_s (5) must not exceed first_token_s (4)"),
    ({"first_token_s": 70}, "first_token_s (70) must be at most half of total_s (120)"),
    ({"stall_s": 40, "total_s": 60}, "stall_s (40) must be at most half of total_s (60)"),
    ({"total_s": 0}, "greater than or equal to 0.5"),
    ({"stall_s": -1}, "greater than or equal to 0.1"),
    ({"total_s": 86400}, "less than or equal to 900"),
])
def test_invalid_deadlines_are_refused_with_the_reason(deadlines: dict[str, float], problem: str) -> None:
    with pytest.raises(PolicyValidationError, match=r"deadlines") as refused:
        policy_from_data({**fake_policy("http://127.0.0.1:9/v1"), "deadlines": deadlines}, source="test")
    assert problem in str(refused.value)


async def test_admins_change_deadlines_with_a_command(make_services: ServicesFactory) -> None:
    services = await make_services()
    commands = CommandProcessor(memory=services.memory, policies=services.policies)
    admin = CommandContext(platform="test", tenant="T", channel="C", user="boss", is_admin=True)
    changed = await commands.execute(admin, "policy deadline first-token 4")
    assert changed.ok and "first-token deadline → 4 s" in changed.text
    assert (await commands.execute(admin, "policy deadline total_s 30")).ok
    refused = await commands.execute(admin, "policy deadline stall 20")
    assert not refused.ok and "stall_s (20) must be at most half of total_s (30)" in refused.text
    assert not (await commands.execute(admin, "policy deadline lunch 5")).ok
    policy = await services.policies.current()
    assert (policy.deadlines.first_token_s, policy.deadlines.total_s, policy.version) == (4, 30, 3)
    shown = await commands.execute(admin, "policy show")
    assert "first token 4 s" in shown.text and "30 s per answer" in shown.text


@contextmanager
def blackhole() -> Iterator[str]:
    """A loopback port whose accept queue is full: connecting hangs (SYNs are dropped), like a dead host."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = [socket.socket() for _ in range(3)]
    for filler in fillers:
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        for sock in [*fillers, listener]:
            sock.close()
