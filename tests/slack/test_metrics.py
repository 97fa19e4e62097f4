"""GET /metrics of a real server on loopback (Slack against the fake Web API, models on the fake OpenAI
server): answered messages show up in the counters and histograms, labelled by model, region, task,
strategy and outcome, and nothing in the exposition names a user or repeats a message."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.openai_server import Fault
from tests.slack.conftest import STAFF, SlackFactory, SlackHarness, dm
from tests.slack.fake_slack_api import TEAM

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(slack: SlackHarness, *, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with slack.http.get(str(slack.server.make_url("/metrics")), headers=headers) as resp:
        return resp.status, await resp.text()


def samples(exposition: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(exposition) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_an_answered_message_shows_in_the_metrics_without_who_or_what(slack: SlackHarness) -> None:
    text = "Give me three slogans for a valve company."
    await slack.send_event(dm(text, user=STAFF, channel="D0METRICS1"))
    await slack.settle()
    status, exposition = await scrape(slack)
    assert status == 200
    found = samples(exposition)
    call = {"model": "openai/us-small", "region": "us", "task": "creative", "strategy": "task"}
    assert value(found, "switchboard_answers_total", **call, outcome="answered") == 1
    assert value(found, "switchboard_answer_seconds_count", **call, outcome="answered") == 1
    assert 0 < value(found, "switchboard_answer_seconds_sum", **call, outcome="answered") < 30
    assert value(found, "switchboard_first_token_seconds_count", **call) == 1
    assert 0 < value(found, "switchboard_first_token_seconds_sum", **call) <= value(
        found, "switchboard_answer_seconds_sum", **call, outcome="answered")
    assert value(found, "switchboard_tokens_total", **call, kind="prompt") == 11  # the fake's usage
    assert value(found, "switchboard_tokens_total", **call, kind="completion") > 0
    assert value(found, "switchboard_cost_usd_total", **call) > 0
    assert value(found, "switchboard_privacy_verdicts_total", level="public", action="allow") == 1
    assert value(found, "switchboard_provider_attempts_total", model="openai/us-small", result="ok") == 1
    assert value(found, "switchboard_answers_in_flight") == 0
    assert value(found, "switchboard_provider_calls_in_flight", model="openai/us-small") == 0
    for secret in (STAFF, TEAM, "D0METRICS1", "slogans", "valve"):
        assert secret not in exposition


async def test_fallbacks_errors_and_personal_data_are_counted(slack: SlackHarness) -> None:
    slack.llm.fail("eu-small", Fault(status=400))  # not retryable: the next model of the chain answers
    await slack.send_event(dm("Write to jan.nowak@example.com that the order shipped.", channel="D0METRICS2"))
    await slack.settle()
    found = samples((await scrape(slack))[1])
    eu = {"model": "openai/eu-large", "region": "eu", "task": "general", "strategy": "task"}
    assert value(found, "switchboard_privacy_verdicts_total", level="personal", action="pin") == 1
    assert value(found, "switchboard_answers_total", **eu, outcome="answered") == 1
    assert value(found, "switchboard_fallbacks_total", **eu) == 1
    assert value(found, "switchboard_provider_attempts_total", model="openai/eu-small", result="error") == 1
    assert value(found, "switchboard_provider_attempts_total", model="openai/eu-large", result="ok") == 1
    assert "jan.nowak" not in (await scrape(slack))[1]


async def test_metrics_token_guards_the_exposition(make_slack: SlackFactory) -> None:
    slack = await make_slack(SWITCHBOARD_METRICS_TOKEN="s3cret-scrape")
    assert (await scrape(slack))[0] == 401
    assert (await scrape(slack, token="wrong"))[0] == 401
    status, exposition = await scrape(slack, token="s3cret-scrape")
    assert status == 200 and "switchboard_answers_in_flight 0.0" in exposition
    async with slack.http.post(str(slack.server.make_url("/metrics"))) as resp:
        assert resp.status == 405  # read-only
    assert isinstance(slack.http, aiohttp.ClientSession)
