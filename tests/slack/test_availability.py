"""When Switchboard cannot take work: during the warm-up, while shutting down, and with the database
down (a real PostgreSQL, stopped and started again). Slack must then get a 503 with Retry-After, never
an ack for a message that would be lost, and never a 500; its retry is answered exactly once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from sqlmodel import Session, col, func, select

from bot.adapters.slack_render import FEEDBACK_UP
from bot.app import drain
from bot.memory.models import Message, ProcessedEvent
from tests.postgres import PostgresServer
from tests.slack.conftest import SlackFactory, SlackHarness, dm, event_body, signed_headers


async def get(slack: SlackHarness, path: str) -> tuple[int, dict[str, Any]]:
    async with slack.http.get(slack.server.make_url(path)) as resp:
        return resp.status, await resp.json()


async def deliver(slack: SlackHarness, body: str, *, retry: int = 0) -> tuple[int, str | None]:
    """POST one signed delivery of `body` as Slack does (a retry carries X-Slack-Retry-Num)."""
    headers = signed_headers(body)
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_error"}
    async with slack.http.post(slack.url, data=body.encode(), headers=headers) as resp:
        await resp.read()
        return resp.status, resp.headers.get("Retry-After")


async def eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def answered(slack: SlackHarness, event: dict[str, Any]) -> list[dict[str, Any]]:
    """The bot's final answers in the event's thread (the placeholder turned into blocks)."""
    return [m for m in slack.api.thread_messages(str(event["ts"])) if "blocks" in m]


async def test_before_the_warm_up_only_the_probes_answer(make_slack: SlackFactory) -> None:
    slack = await make_slack(warm=False)
    assert await get(slack, "/healthz") == (200, {"status": "ok"})
    assert await get(slack, "/readyz") == (503, {"status": "not ready", "reason": "warming up"})
    event = dm("Summarise: the van arrives on Tuesday.")
    body = json.dumps(event_body(event))
    assert await deliver(slack, body) == (503, "10")
    await slack.services.warm_up()
    status, ready = await get(slack, "/readyz")
    assert status == 200 and ready["status"] == "ready" and ready["database"] == "ok"
    assert await deliver(slack, body, retry=1) == (200, None)  # Slack's retry: taken now
    await slack.settle()
    assert len(answered(slack, event)) == 1


async def test_shutting_down_refuses_new_events_and_waits_for_the_answer_in_progress(slack: SlackHarness) -> None:
    slack.llm.delay_s = 1.0
    event = dm("Summarise: the van arrives on Tuesday.")
    assert await slack.send_event(event) == 200
    await eventually(lambda: bool(slack.llm.requests))  # the answer is being written
    slack.services.readiness.draining = True  # what serve does on SIGTERM
    assert await get(slack, "/readyz") == (503, {"status": "not ready", "reason": "shutting down"})
    assert (await get(slack, "/healthz"))[0] == 200
    late = dm("Another question, just after the signal.")
    assert await deliver(slack, json.dumps(event_body(late))) == (503, "10")
    assert not await drain(slack.server.app, timeout_s=0.2)  # bounded: the answer needs longer
    assert answered(slack, event) == []
    assert await drain(slack.server.app, timeout_s=10)
    assert len(answered(slack, event)) == 1
    assert slack.api.thread_messages(str(late["ts"])) == []
    assert len(slack.llm.requests) == 1


async def test_database_down_is_503_and_the_retry_is_answered_once(make_slack: SlackFactory,
                                                                   pg: PostgresServer) -> None:
    slack = await make_slack(SWITCHBOARD_DATABASE_URL=pg.url)
    before = dm("Hello, what can you help me with today?")  # the pool now holds live connections
    assert await slack.send_event(before) == 200
    await slack.settle()
    event = dm("Summarise our meeting: the van comes on Tuesday.")
    body = json.dumps(event_body(event, event_id="EvOUTAGE01"))

    pg.stop()
    assert await deliver(slack, body) == (503, "10")
    assert await get(slack, "/readyz") == (503, {"status": "not ready", "reason": "database unavailable"})
    assert (await get(slack, "/healthz"))[0] == 200
    await slack.settle()
    assert slack.api.thread_messages(str(event["ts"])) == []
    assert len(slack.llm.requests) == 1

    pg.start()
    assert (await get(slack, "/readyz"))[0] == 200
    with Session(slack.services.memory.engine) as s:  # nothing half-claimed, nothing half-stored
        assert s.exec(select(ProcessedEvent).where(col(ProcessedEvent.event_key).contains("EvOUTAGE01"))).all() == []
    assert await deliver(slack, body, retry=1) == (200, None)
    await slack.settle()
    assert await deliver(slack, body, retry=2) == (200, None)
    await slack.settle()
    [message] = answered(slack, event)
    assert message["text"].startswith("answer from us-small")
    assert len(slack.api.thread_messages(str(event["ts"]))) == 1
    assert len(slack.llm.requests) == 2
    with Session(slack.services.memory.engine) as s:
        stored = s.exec(select(func.count()).select_from(Message).where(Message.text == event["text"])).one()
    assert stored == 1


async def test_database_down_commands_and_votes_are_acked_with_an_apology(make_slack: SlackFactory,
                                                                          pg: PostgresServer) -> None:
    slack = await make_slack(SWITCHBOARD_DATABASE_URL=pg.url)
    assert await slack.command("why") == 200
    await slack.settle()
    pg.stop()
    # Slack retries neither: they are acked at once and the apology follows
    assert await slack.command("why") == 200
    assert await slack.click(FEEDBACK_UP, "1") == 200
    await slack.settle()
    assert slack.api.responses[-1]["text"].startswith("Sorry — I cannot reach my database right now")
    [vote_reply] = slack.api.calls_to("chat.postEphemeral")
    assert vote_reply.args["text"].startswith("Sorry — I cannot reach my database right now")
