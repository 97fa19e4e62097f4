"""Fault injection through the fake OpenAI-compatible server: LiteLLM over real HTTP, our retry,
fallback and cooldown code unpatched."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from bot.errors import NoModelAvailableError
from routing.deadlines import CallLimits
from routing.policy import Deadlines, ModelSpec, Tier
from routing.providers import Completion, Cooldowns, LiteLLMClient, RetryPolicy, complete_with_fallbacks
from routing.retry_after import RETRY_AFTER_CAP_S, parse_retry_after, retry_after_from_headers
from routing.stats import LiveStats
from tests.fakes.openai_server import FakeOpenAI, Fault

KEYS = {"K": "sk-test"}
FAST = RetryPolicy(retries=2, base_s=0.01, max_s=1.0)
MESSAGES = [{"role": "user", "content": "When does the warehouse open on Monday?"}]


def gap(fake: FakeOpenAI, first: tuple[str, int], then: tuple[str, int]) -> float:
    """Seconds between two requests the fake received: (model, nth request of that model) each."""
    def at(model: str, nth: int) -> float:
        return [t for m, t in fake.arrivals if m == model][nth]

    return at(*then) - at(*first)


def spec(fake: FakeOpenAI, name: str, tier: Tier = Tier.CHEAP, region: str = "eu") -> ModelSpec:
    return ModelSpec(id=f"openai/{name}", region=region, tier=tier, env=("K",), api_key_env="K",
                     api_base=fake.base_url, input_price=1.0, output_price=2.0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def call(fake: FakeOpenAI, *names: str, first_token_s: float = 2.0, cooldowns: Cooldowns | None = None,
               stats: LiveStats | None = None, partials: list[str] | None = None,
               retry: RetryPolicy = FAST) -> Completion:
    async def on_partial(text: str) -> None:
        assert partials is not None
        partials.append(text)

    limits = CallLimits.starting_now(Deadlines(connect_s=first_token_s, first_token_s=first_token_s,
                                               stall_s=first_token_s, total_s=10))
    return await complete_with_fallbacks(client=LiteLLMClient(environ=KEYS), chain=[spec(fake, n) for n in names],
                                         messages=MESSAGES, retry=retry, cooldowns=cooldowns or Cooldowns(),
                                         stats=stats, limits=limits,
                                         on_partial=on_partial if partials is not None else None)


async def test_429_honours_retry_after_then_succeeds_on_the_same_model(fake_llm: FakeOpenAI) -> None:
    fake_llm.fail("eu-small", Fault(status=429, retry_after=0.4))
    started = time.perf_counter()
    done = await call(fake_llm, "eu-small", "eu-large")
    assert time.perf_counter() - started >= 0.4
    assert done.model.id == "openai/eu-small" and done.attempts == 2 and not done.fallback
    assert fake_llm.models_called() == ["eu-small", "eu-small"]


async def test_long_retry_after_is_not_waited_out_the_next_model_answers(fake_llm: FakeOpenAI) -> None:
    clock = FakeClock()
    cooldowns = Cooldowns(cooldown_s=1.0, clock=clock)
    fake_llm.fail("eu-small", Fault(status=429, retry_after=20))
    started = time.perf_counter()
    done = await call(fake_llm, "eu-small", "eu-large", cooldowns=cooldowns)
    assert time.perf_counter() - started < 2.0
    assert done.model.id == "openai/eu-large" and done.fallback
    clock.now += 10  # Retry-After (20 s) outlasts the 1 s cooldown
    assert cooldowns.cooling("openai/eu-small")
    clock.now += 11
    assert not cooldowns.cooling("openai/eu-small")


async def test_retry_after_as_an_http_date_is_waited_then_the_same_model_answers(fake_llm: FakeOpenAI) -> None:
    fake_llm.fail("eu-small", Fault(status=429, retry_after=formatdate(time.time() + 2, usegmt=True)))
    done = await call(fake_llm, "eu-small", "eu-large", retry=RetryPolicy(retries=2, base_s=0.01, max_s=3.0))
    assert done.model.id == "openai/eu-small" and done.attempts == 2
    # a whole-second date read against the server's Date header: 1 to 2 s, however skewed our clock
    assert 1.0 <= gap(fake_llm, ("eu-small", 0), ("eu-small", 1)) < 3.0


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("form", ["seconds", "http-date"])
async def test_long_retry_after_cools_the_model_for_that_long_and_the_next_answers(
        fake_llm: FakeOpenAI, status: int, form: str) -> None:
    value = "20" if form == "seconds" else formatdate(time.time() + 20, usegmt=True)
    fake_llm.fail("eu-small", Fault(status=status, retry_after=value))
    clock = FakeClock()
    cooldowns = Cooldowns(cooldown_s=1.0, clock=clock)
    done = await call(fake_llm, "eu-small", "eu-large", cooldowns=cooldowns)
    assert done.model.id == "openai/eu-large"
    assert gap(fake_llm, ("eu-small", 0), ("eu-large", 0)) < 0.5  # not waited out
    clock.now += 18  # the 1 s cooldown is long over; the provider asked for ~20 s
    assert cooldowns.cooling("openai/eu-small")
    clock.now += 4
    assert not cooldowns.cooling("openai/eu-small")


@pytest.mark.parametrize("value", ["999999999", "Fri, 31 Dec 2999 23:59:59 GMT"], ids=["seconds", "http-date"])
async def test_absurd_retry_after_is_capped(fake_llm: FakeOpenAI, value: str) -> None:
    fake_llm.fail("eu-small", Fault(status=429, retry_after=value))
    clock = FakeClock()
    cooldowns = Cooldowns(cooldown_s=1.0, max_cooldown_s=1.0, clock=clock)
    await call(fake_llm, "eu-small", "eu-large", cooldowns=cooldowns)
    clock.now += RETRY_AFTER_CAP_S - 1
    assert cooldowns.cooling("openai/eu-small")
    clock.now += 2
    assert not cooldowns.cooling("openai/eu-small")  # probed again after the cap, not in 31 years


async def test_retry_after_ms_wins(fake_llm: FakeOpenAI) -> None:
    fake_llm.fail("eu-small", Fault(status=429, retry_after=20, retry_after_ms=300))
    done = await call(fake_llm, "eu-small", "eu-large")
    assert done.model.id == "openai/eu-small" and done.attempts == 2
    assert 0.3 <= gap(fake_llm, ("eu-small", 0), ("eu-small", 1)) < 0.8


NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT


@pytest.mark.parametrize(("value", "expected"), [
    ("120", 120.0),
    ("  7 ", 7.0),
    ("0.4", 0.4),
    ("0", 0.0),
    ("Tue, 14 Nov 2023 22:15:20 GMT", 120.0),  # IMF-fixdate
    ("Tuesday, 14-Nov-23 22:15:20 GMT", 120.0),  # RFC 850
    ("Tue Nov 14 22:15:20 2023", 120.0),  # asctime
    ("Tue, 14 Nov 2023 22:00:00 GMT", 0.0),  # in the past: now
    ("86400", RETRY_AFTER_CAP_S),
    ("Fri, 31 Dec 2999 23:59:59 GMT", RETRY_AFTER_CAP_S),
    ("-5", None),
    ("nan", None),
    ("inf", None),
    ("soon", None),
    ("Tue, 31 Feb 2023 22:15:20 GMT", None),
    ("", None),
    (None, None),
])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == (None if expected is None else pytest.approx(expected))


def test_an_http_date_is_measured_from_the_responses_date_header() -> None:
    # the provider's clock is years behind ours: its Date header keeps the wait at the 90 s it meant
    headers = {"Date": "Sun, 06 Nov 1994 08:49:37 GMT", "Retry-After": "Sun, 06 Nov 1994 08:51:07 GMT"}
    assert retry_after_from_headers(headers) == 90.0
    assert retry_after_from_headers({"retry-after": "3", "Retry-After-Ms": "250"}) == 0.25
    assert retry_after_from_headers({"retry-after-ms": "x", "retry-after": "3"}) == 3.0
    assert retry_after_from_headers({}) is None


@pytest.mark.parametrize("fault", [Fault(status=500), Fault(status=503), Fault(status=502), Fault(malformed=True)],
                         ids=["500", "503", "502", "malformed-json"])
async def test_transient_failure_is_retried_with_backoff(fake_llm: FakeOpenAI, fault: Fault) -> None:
    fake_llm.fail("eu-small", fault)
    done = await call(fake_llm, "eu-small", "eu-large")
    assert done.model.id == "openai/eu-small" and done.attempts == 2
    assert fake_llm.models_called() == ["eu-small", "eu-small"]


async def test_persistent_503_falls_back_inside_the_chain(fake_llm: FakeOpenAI) -> None:
    fake_llm.fail("eu-small", *[Fault(status=503)] * 3)
    done = await call(fake_llm, "eu-small", "eu-large")
    assert done.model.id == "openai/eu-large" and done.fallback
    assert fake_llm.models_called() == ["eu-small"] * 3 + ["eu-large"]


async def test_auth_failure_is_not_retried(fake_llm: FakeOpenAI) -> None:
    fake_llm.fail("eu-small", Fault(status=401))
    done = await call(fake_llm, "eu-small", "eu-large")
    assert done.model.id == "openai/eu-large"
    assert fake_llm.models_called() == ["eu-small", "eu-large"]


async def test_timeout_of_the_last_model_is_retried(fake_llm: FakeOpenAI) -> None:
    fake_llm.fail("eu-small", Fault(delay_s=1.5))
    done = await call(fake_llm, "eu-small", first_token_s=0.4)
    assert done.model.id == "openai/eu-small" and done.attempts == 2


async def test_hung_connection_gives_up_and_falls_back_in_bounded_time(fake_llm: FakeOpenAI) -> None:
    fake_llm.fail("eu-small", *[Fault(delay_s=30)] * 3)
    started = time.perf_counter()
    done = await call(fake_llm, "eu-small", "eu-large", first_token_s=0.3)
    assert done.model.id == "openai/eu-large"
    assert time.perf_counter() - started < 1.5  # one 0.3 s timeout: a hung model is not retried
    assert fake_llm.models_called() == ["eu-small", "eu-large"]


async def test_stream_dying_midway_restarts_and_partials_are_overwritten(fake_llm: FakeOpenAI) -> None:
    fake_llm.answers["eu-small"] = "The warehouse opens at seven on Monday."
    fake_llm.fail("eu-small", Fault(die_midstream=True))
    partials: list[str] = []
    done = await call(fake_llm, "eu-small", partials=partials)
    assert done.text == "The warehouse opens at seven on Monday."
    assert partials[0] == "The "  # what was shown before the connection died
    # the retry starts the answer again: the next partial is the new accumulated text, not a continuation
    assert partials[1] == "The " and partials[2] == "The warehouse "
    assert partials[-1] == done.text
    assert done.attempts == 2


async def test_stream_dying_on_every_try_falls_back_to_the_next_model(fake_llm: FakeOpenAI) -> None:
    fake_llm.fail("eu-small", *[Fault(die_midstream=True)] * 3)
    fake_llm.answers["eu-large"] = "Seven o'clock."
    partials: list[str] = []
    done = await call(fake_llm, "eu-small", "eu-large", partials=partials)
    assert done.model.id == "openai/eu-large" and done.fallback
    assert partials[-1] == "Seven o'clock."


async def test_single_deployment_group_cools_down_fails_fast_and_recovers(fake_llm: FakeOpenAI) -> None:
    clock = FakeClock()
    cooldowns = Cooldowns(cooldown_s=30, clock=clock)
    fake_llm.fail("eu-small", *[Fault(status=503)] * 3)
    with pytest.raises(NoModelAvailableError) as first:
        await call(fake_llm, "eu-small", cooldowns=cooldowns)
    assert "unavailable" in first.value.user_message
    assert len(fake_llm.requests) == 3
    with pytest.raises(NoModelAvailableError, match="cooling down"):
        await call(fake_llm, "eu-small", cooldowns=cooldowns)
    assert len(fake_llm.requests) == 3  # no request while cooling: fail fast
    clock.now += 31
    done = await call(fake_llm, "eu-small", cooldowns=cooldowns)  # the probe succeeds: breaker closes
    assert done.model.id == "openai/eu-small"
    assert not cooldowns.cooling("openai/eu-small")


async def test_failing_probe_doubles_the_cooldown(fake_llm: FakeOpenAI) -> None:
    clock = FakeClock()
    cooldowns = Cooldowns(cooldown_s=10, clock=clock)
    fake_llm.fail("eu-small", *[Fault(status=500)] * 6)
    for _ in range(2):
        with pytest.raises(NoModelAvailableError):
            await call(fake_llm, "eu-small", cooldowns=cooldowns)
        clock.now += 11
    assert cooldowns.cooling("openai/eu-small")  # second trip: 20 s
    clock.now += 10
    assert not cooldowns.cooling("openai/eu-small")


async def test_live_stats_see_errors_latency_and_load(fake_llm: FakeOpenAI) -> None:
    stats = LiveStats()
    fake_llm.delay_s = 0.05
    fake_llm.fail("eu-small", Fault(status=500))
    await call(fake_llm, "eu-small", stats=stats)
    live = stats.snapshot("openai/eu-small")
    assert live.samples == 2 and live.error_rate == 0.5
    assert live.p95_ms >= 50 and live.in_flight == 0
