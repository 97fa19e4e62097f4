"""Events API end to end: signed HTTP → bolt → pipeline (real NLP, SQL, LiteLLM → fake LLM) → fake Slack."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from sqlmodel import Session, select

from bot.adapters.slack_render import FEEDBACK_UP
from bot.memory.models import Feedback
from tests.fakes.openai_server import Fault
from tests.slack.conftest import STAFF, SlackHarness, dm, event_body, signed_headers
from tests.slack.fake_slack_api import BOT_ID, BOT_USER


def final_blocks(message: dict[str, object]) -> list[dict[str, object]]:
    blocks = message.get("blocks")
    assert isinstance(blocks, list), message
    return blocks


async def test_dm_gets_a_streamed_reply_in_its_thread(slack: SlackHarness) -> None:
    slack.adapter.update_interval_s = 0.0  # show every partial update
    event = dm("Hello, what can you help me with today?")
    assert await slack.send_event(event) == 200
    await slack.settle()
    posts = slack.api.calls_to("chat.postMessage")
    assert len(posts) == 1 and posts[0].args["thread_ts"] == event["ts"]
    assert posts[0].args["text"] == "_Thinking…_"
    assert slack.api.calls_to("assistant.threads.setStatus")[0].args["thread_ts"] == event["ts"]
    updates = slack.api.calls_to("chat.update")
    assert len(updates) >= 2  # partial text first, the final render last
    assert updates[0].args["text"].endswith("▍")
    [message] = slack.api.thread_messages(event["ts"])
    assert message["text"].startswith("answer from us-small")
    kinds = [b["type"] for b in final_blocks(message)]
    assert kinds == ["section", "context", "actions"]
    footer = json.dumps(final_blocks(message)[1])
    assert "openai/us-small" in footer and " us " in footer.replace("·", " ") and "$0.0" in footer


async def test_a_retried_delivery_is_answered_once(slack: SlackHarness) -> None:
    slack.llm.delay_s = 0.3  # the first delivery is still being answered when Slack retries
    event = dm("Summarise our meeting: the van comes on Tuesday.")
    statuses = await asyncio.gather(slack.send_event(event, event_id="EvRETRY1"),
                                    slack.send_event(event, event_id="EvRETRY1", retry=1),
                                    slack.send_event(event, event_id="EvRETRY1", retry=2))
    assert statuses == [200, 200, 200]
    await slack.settle()
    assert len(slack.api.calls_to("chat.postMessage")) == 1
    assert len(slack.llm.requests) == 1


async def test_answers_wait_while_other_deliveries_wait_for_their_ack(slack: SlackHarness) -> None:
    """Acks first: an answer's CPU work starts only once no other delivery is still being acknowledged
    (at most ACKS_FIRST_MAX_S), so a burst of events is acknowledged before it is answered."""
    stalled_body = json.dumps(event_body(dm("A message whose upload stalls.")))
    headers = signed_headers(stalled_body)
    rest = asyncio.Event()

    async def slow_upload() -> AsyncIterator[bytes]:
        yield stalled_body[:20].encode()
        await rest.wait()
        yield stalled_body[20:].encode()

    stalled = asyncio.create_task(slack.http.post(slack.url, data=slow_upload(), headers=headers))
    await asyncio.sleep(0.2)  # the stalled delivery is being read by the server
    assert await slack.send_event(dm("Summarise: the van arrives on Tuesday.")) == 200
    await asyncio.sleep(0.5)
    assert slack.llm.requests == []  # acknowledged, but its answer waits for the other ack
    rest.set()
    async with await stalled as resp:
        assert resp.status == 200
    await slack.settle()
    assert len(slack.llm.requests) == 2


async def test_personal_data_is_answered_by_an_eu_model(slack: SlackHarness) -> None:
    event = dm("Write to anna.kowalska@example.pl and call her on +48 601 234 567 about the offer.")
    await slack.send_event(event)
    await slack.settle()
    assert slack.llm.models_called() == ["eu-small"]
    [message] = slack.api.thread_messages(event["ts"])
    assert "openai/eu-small" in json.dumps(final_blocks(message))


async def test_the_users_slack_locale_is_used(slack: SlackHarness) -> None:
    slack.api.users["UPOLISH01"] = {"locale": "pl-PL"}
    await slack.send_event(dm("Cześć, jak napisać dobre ogłoszenie o pracę?", user="UPOLISH01"))
    await slack.send_event(dm("Jeszcze jedno pytanie o ofertę.", user="UPOLISH01"))
    await slack.settle()
    assert {c.args["text"] for c in slack.api.calls_to("chat.postMessage")} == {"_Myślę…_"}
    assert len(slack.api.calls_to("users.info")) == 1  # cached


async def test_thumbs_up_stores_feedback(slack: SlackHarness) -> None:
    event = dm("Give me three slogans for a valve company.")
    await slack.send_event(event)
    await slack.settle()
    [message] = slack.api.thread_messages(event["ts"])
    actions = final_blocks(message)[-1]
    assert actions["type"] == "actions"
    up = actions["elements"][0]  # type: ignore[index]
    assert up["action_id"] == FEEDBACK_UP
    assert await slack.click(FEEDBACK_UP, up["value"]) == 200
    await slack.settle()
    with Session(slack.services.memory.engine) as s:
        [row] = s.exec(select(Feedback)).all()
    assert (row.decision_id, row.user, row.score) == (int(up["value"]), STAFF, 1)
    assert slack.api.calls_to("chat.postEphemeral")[0].args["text"] == "Thanks for the feedback!"
    now = datetime.now(UTC)
    [record] = await slack.services.memory.kpi_records(since=now - timedelta(hours=1), until=now)
    assert (record.up, record.down) == (1, 0)


async def test_long_answers_are_split_without_msg_too_long(slack: SlackHarness) -> None:
    paragraph = "This paragraph explains one more detail of the maintenance schedule for the pumps. " * 8
    slack.llm.answers["us-small"] = "\n\n".join(f"## Part {i}\n{paragraph}" for i in range(20))
    event = dm("Explain the maintenance schedule of our pumps in detail.")
    await slack.send_event(event)
    await slack.settle()
    messages = slack.api.thread_messages(event["ts"])
    assert len(messages) >= 3
    assert all(len(m["text"]) <= 4_000 for m in messages)
    assert all(len(b["text"]["text"]) <= 3_000 for m in messages for b in m.get("blocks", [])
               if b["type"] == "section")
    assert messages[0]["text"].startswith("*Part 0*")
    assert [b["type"] for b in messages[-1]["blocks"]][-2:] == ["context", "actions"]
    assert "actions" not in json.dumps(messages[0].get("blocks", []))


async def test_when_every_model_fails_the_user_gets_a_polite_reply(slack: SlackHarness) -> None:
    for model in ("us-small", "us-premium", "eu-small", "eu-large"):
        slack.llm.fail(model, *[Fault(status=401)] * 3)
    event = dm("Summarise: the van arrives on Tuesday.")
    await slack.send_event(event)
    await slack.settle()
    [message] = slack.api.thread_messages(event["ts"])
    assert message["text"].startswith("Sorry")
    assert [b["type"] for b in final_blocks(message)] == ["section"]  # no footer, nothing to vote on


@pytest.mark.parametrize("event", [
    {**dm("edited"), "subtype": "message_changed"},
    {**dm("gone"), "subtype": "message_deleted"},
    {**dm("from a bot"), "subtype": "bot_message", "bot_id": "B0OTHER"},
    {**dm("from us"), "user": BOT_USER, "bot_id": BOT_ID},
    {**dm("joined"), "subtype": "channel_join"},
], ids=["changed", "deleted", "bot", "self", "join"])
async def test_ignored_messages_get_no_answer(slack: SlackHarness, event: dict[str, object]) -> None:
    assert await slack.send_event(event) == 200
    await slack.settle()
    assert slack.api.calls_to("chat.postMessage") == []
    assert slack.llm.requests == []


async def test_channel_mention_then_thread_follow_up(slack: SlackHarness) -> None:
    mention = {"type": "app_mention", "channel": "C0GENERAL", "user": STAFF, "ts": "1700000100.000100",
               "text": f"<@{BOT_USER}> What is a good name for a newsletter about valves?"}
    # Slack sends the same message as app_mention and as message.channels: one answer only
    await slack.send_event(mention)
    await slack.send_event({**mention, "type": "message", "channel_type": "channel"})
    await slack.settle()
    assert len(slack.api.calls_to("chat.postMessage")) == 1
    assert slack.llm.requests[0]["messages"][-1]["content"] == "What is a good name for a newsletter about valves?"
    follow_up = {"type": "message", "channel": "C0GENERAL", "channel_type": "channel", "user": STAFF,
                 "ts": "1700000100.000200", "thread_ts": mention["ts"], "text": "Make it shorter."}
    stranger = {**follow_up, "ts": "1700000200.000300", "thread_ts": "1700000200.000100", "text": "unrelated"}
    await slack.send_event(follow_up)
    await slack.send_event(stranger)
    await slack.settle()
    assert len(slack.llm.requests) == 2  # the unrelated thread was not ours
    assert [m["role"] for m in slack.llm.requests[1]["messages"]] == ["system", "user", "assistant", "user"]
    assert all(c.args["thread_ts"] == mention["ts"] for c in slack.api.calls_to("chat.postMessage"))


# --- the HTTP boundary -------------------------------------------------------------------------


async def test_bad_signature_is_401(slack: SlackHarness) -> None:
    body = json.dumps(event_body(dm("hello")))
    headers = signed_headers(body, secret="not-the-secret")
    assert (await slack.post(body, headers))[0] == 401
    assert (await slack.post(body, {"Content-Type": "application/json"}))[0] == 401


async def test_stale_timestamp_is_401(slack: SlackHarness) -> None:
    body = json.dumps(event_body(dm("hello")))
    assert (await slack.post(body, signed_headers(body, timestamp=int(time.time()) - 6 * 60)))[0] == 401
    headers = signed_headers(body) | {"X-Slack-Request-Timestamp": "yesterday"}
    assert (await slack.post(body, headers))[0] == 401
    headers = signed_headers(body) | {"X-Slack-Request-Timestamp": "9" * 400}  # OverflowError inside the check
    assert (await slack.post(body, headers))[0] == 401
    raw_headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": str(int(time.time())),
                   "X-Slack-Signature": "v0=\u00e9\u00e9"}  # non-ASCII: TypeError inside compare_digest
    assert (await slack.post(body, raw_headers))[0] == 401
    await slack.settle()
    assert slack.api.calls_to("chat.postMessage") == []


@pytest.mark.parametrize("body", [
    "{not json", "[1, 2, 3]", '{"type": "event_callback"}', '{"type": "event_callback", "event": "x"}',
    '{"type": "surprise"}', "payload=%7Bbroken", '"\\ud800"', "", "[" * 100_000 + "]" * 100_000,
    '{"type": "block_actions", "actions": "x"}', '{"type": "block_actions", "actions": []}',
    '{"type": "block_actions", "actions": [{"value": "1"}]}',
], ids=["json", "list", "no-event", "event-str", "unknown-type", "form", "string", "empty", "deep", "actions-str",
        "no-actions", "no-action-id"])
async def test_malformed_signed_bodies_are_4xx(slack: SlackHarness, body: str) -> None:
    content_type = "application/x-www-form-urlencoded" if body.startswith("payload") else "application/json"
    status, _ = await slack.post(body, signed_headers(body, content_type=content_type))
    assert 400 <= status < 500


async def test_url_verification_challenge(slack: SlackHarness) -> None:
    body = json.dumps({"token": "legacy", "challenge": "abc123", "type": "url_verification"})
    status, text = await slack.post(body, signed_headers(body))
    assert status == 200 and "abc123" in text


async def test_an_unknown_charset_is_ignored_the_body_is_utf8(slack: SlackHarness) -> None:
    body = json.dumps({"token": "legacy", "challenge": "abc123", "type": "url_verification"})
    status, text = await slack.post(body, signed_headers(body, content_type="application/json; charset=bogus"))
    assert status == 200 and "abc123" in text


async def test_odd_button_clicks_and_unreachable_response_urls_fail_quietly(
        slack: SlackHarness, caplog: pytest.LogCaptureFixture) -> None:
    payload = {"type": "block_actions", "team": "T0", "user": ["U1"], "channel": None,
               "actions": [{"action_id": FEEDBACK_UP, "value": ["1"]}]}
    body = urlencode({"payload": json.dumps(payload)})
    command = urlencode({"team_id": "T0", "user_id": STAFF, "command": "/switchboard", "text": "help",
                         "response_url": "http://127.0.0.1:9/nowhere"})  # nothing listens on port 9
    with caplog.at_level(logging.WARNING):
        for form_body in (body, command):
            status, _ = await slack.post(form_body, signed_headers(form_body,
                                                                   content_type="application/x-www-form-urlencoded"))
            assert status == 200
        await slack.settle()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("response_url" in r.getMessage() for r in caplog.records)  # said, as a warning


async def test_a_channel_slack_refuses_costs_no_model_call_and_no_crash(
        slack: SlackHarness, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert await slack.send_event(dm("Hello?", channel="Dnot-a-channel")) == 200  # Slack: channel_not_found
        assert await slack.click(FEEDBACK_UP, "1", channel="Dnot-a-channel") == 200
        await slack.settle()
    assert slack.llm.requests == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("channel_not_found" in r.getMessage() for r in caplog.records)
