"""Mentioned into an existing channel thread, the bot reads the thread first (conversations.replies over the fake
Web API, paginated by cursor, bounded) so "summarise this thread" works; what it read passes the privacy verdict
and is remembered; Slack's rate limit (429 with Retry-After) is not waited out: the answer says what is missing."""

from __future__ import annotations

import itertools
from typing import Any

from sqlmodel import Session, select

from bot.memory.models import Decision, Message
from tests.slack.conftest import STAFF, SlackFactory, SlackHarness
from tests.slack.fake_slack_api import BOT_USER

CHANNEL = "C0GENERAL"
_ts = itertools.count(1)


def mention(text: str, thread_ts: str) -> dict[str, Any]:
    return {"type": "app_mention", "channel": CHANNEL, "user": STAFF, "text": f"<@{BOT_USER}> {text}",
            "ts": f"1750000000.{next(_ts):06d}", "thread_ts": thread_ts}


def discussion(slack: SlackHarness, replies: int) -> str:
    """A thread of people discussing a delivery: the parent and `replies` replies; its ts."""
    slack.api.add_person("U0ANNA001", "Anna Nowak")
    slack.api.add_person("U0PIET001", "Piet de Vries")
    parent = slack.api.say(CHANNEL, "U0ANNA001", "The valve delivery for Hamburg slipped to March.")
    for i in range(replies):
        who = "U0PIET001" if i % 2 else "U0ANNA001"
        slack.api.say(CHANNEL, who, f"Update {i + 1}: step {i + 1} of the plan is done.", thread_ts=parent)
    return parent


def user_turns(slack: SlackHarness) -> list[str]:
    with Session(slack.services.memory.engine) as s:
        return [m.text for m in s.exec(select(Message).where(Message.role == "user").order_by(Message.id)).all()]


async def test_the_thread_is_read_page_by_page_and_summarised(slack: SlackHarness) -> None:
    parent = discussion(slack, replies=20)
    event = mention("summarise this thread", parent)
    assert await slack.send_event(event) == 200
    await slack.settle()
    calls = slack.api.calls_to("conversations.replies")
    assert [c.args.get("cursor") or "" for c in calls] == ["", "offset:15"]  # 21 messages: two pages of 15
    assert all(int(c.args["limit"]) == 15 for c in calls)
    sent = slack.llm.requests[0]["messages"][-1]["content"]
    assert sent.startswith("[Earlier messages in this thread]\nAnna Nowak: The valve delivery for Hamburg slipped")
    assert "Piet de Vries: Update 20: step 20 of the plan is done." in sent
    assert sent.endswith("[End of the earlier messages]\n\nsummarise this thread")
    assert slack.llm.models_called() == ["eu-small"]  # the thread's people are named: personal data
    with Session(slack.services.memory.engine) as s:
        decision = s.exec(select(Decision)).one()
    assert decision.task == "summarization" and decision.region == "eu"
    assert user_turns(slack) == [sent]  # remembered: follow-ups see the thread
    [answer] = slack.api.thread_messages(parent)
    assert answer["text"].startswith("answer from eu-small")  # no note: all of the thread was read


async def test_a_thread_already_ours_is_not_read_again(slack: SlackHarness) -> None:
    parent = discussion(slack, replies=2)
    await slack.send_event(mention("summarise this thread", parent))
    await slack.settle()
    await slack.send_event(mention("and who is late?", parent))
    await slack.settle()
    assert len(slack.api.calls_to("conversations.replies")) == 1
    follow_up = slack.llm.requests[1]["messages"]
    assert "Anna Nowak: The valve delivery" in follow_up[-3]["content"]  # the first turn, from memory
    assert follow_up[-1]["content"] == "and who is late?"


async def test_a_rate_limit_is_not_waited_out_and_the_answer_says_so(slack: SlackHarness) -> None:
    parent = discussion(slack, replies=3)
    slack.api.replies_left = 0
    slack.api.users[STAFF] = {"locale": "de-DE"}
    await slack.send_event(mention("fasse diesen Thread zusammen", parent))
    await slack.settle()
    [answer] = slack.api.thread_messages(parent)
    assert answer["text"].startswith("Die früheren Nachrichten dieses Threads konnte ich nicht lesen (Slack begrenzt")
    assert slack.llm.requests[0]["messages"][-1]["content"] == "fasse diesen Thread zusammen"


async def test_a_rate_limit_after_the_first_page_keeps_what_was_read(slack: SlackHarness) -> None:
    parent = discussion(slack, replies=20)
    slack.api.replies_left = 1
    await slack.send_event(mention("summarise this thread", parent))
    await slack.settle()
    [answer] = slack.api.thread_messages(parent)
    assert answer["text"].startswith("I read only 15 of the earlier messages of this thread (Slack limits how often")
    sent = slack.llm.requests[0]["messages"][-1]["content"]
    assert "Update 14:" in sent and "Update 15:" not in sent


async def test_long_threads_keep_the_first_and_latest_messages(make_slack: SlackFactory) -> None:
    slack = await make_slack(SWITCHBOARD_THREAD_MAX_CHARS="400", SWITCHBOARD_THREAD_MAX_MESSAGES="15")
    parent = discussion(slack, replies=20)
    await slack.send_event(mention("summarise this thread", parent))
    await slack.settle()
    assert len(slack.api.calls_to("conversations.replies")) == 1  # 15 messages: no second page
    sent = slack.llm.requests[0]["messages"][-1]["content"]
    thread = sent.split("[End of the earlier messages]")[0]
    assert "The valve delivery for Hamburg" in thread and "Update 14:" in thread and "Update 2:" not in thread
    assert len(thread) < 400 + 200
    [answer] = slack.api.thread_messages(parent)
    assert answer["text"].startswith("I read only")
