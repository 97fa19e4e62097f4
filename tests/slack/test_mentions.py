"""Slack's text tokens made plain; mentioned colleagues named (users.info over the fake Web API) before the
privacy check, which then pins the message."""

from __future__ import annotations

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import Session, select

from bot.adapters.slack_people import Profile, SlackPeople
from bot.adapters.slack_text import UNKNOWN_USER, mentioned_users, plain_text
from bot.memory.models import Message
from tests.slack.conftest import TOKEN, SlackHarness, dm
from tests.slack.fake_slack_api import BOT_USER, FakeSlackApi


@pytest.mark.parametrize(("wire", "plain"), [
    ("<@UBOT> compare <https://a.example|this> &amp; <https://b.example>",
     "compare this (https://a.example) & https://b.example"),
    ("post it in <#C0123456|sales-team> please", "post it in #sales-team please"),
    ("post it in <#C0123456>", "post it in #channel"),
    ("<!here> and <!channel> and <!everyone>", "@here and @channel and @everyone"),
    ("ask <!subteam^S0123|@designers>", "ask @designers"),
    ("due <!date^1392734382^{date_pretty}|Feb 18, 2014 PST>", "due Feb 18, 2014 PST"),
    ("write <mailto:anna@example.pl|anna@example.pl>", "write anna@example.pl"),
    ("see <https://x.example/a?b=1&amp;c=2|the report &lt;Q3&gt;>",
     "see the report <Q3> (https://x.example/a?b=1&c=2)"),
    ("a &lt;b&gt; c", "a <b> c"),
    ("ask <@U0SOMEONE>", f"ask {UNKNOWN_USER}"),
    ("ask <@U2147483828|cal>", "ask cal"),
])
def test_wire_tokens_read_as_plain_text(wire: str, plain: str) -> None:
    assert plain_text(wire, bot_user="UBOT").text == plain


def test_mentions_are_named_and_listed() -> None:
    wire = "<@UBOT> ask <@U0PRANAV1> and <@U0BOT0002> and <@U0PRANAV1> again"
    assert mentioned_users(wire, "UBOT") == ["U0PRANAV1", "U0BOT0002"]
    people = {"U0PRANAV1": Profile(name="Pranav Smith"), "U0BOT0002": Profile(name="Jira", person=False)}
    read = plain_text(wire, bot_user="UBOT", people=people)
    assert read.text == "ask Pranav Smith and Jira and Pranav Smith again"
    assert read.mentions == ("Pranav Smith",)  # a bot is no person


async def test_a_mentioned_colleague_is_named_and_the_message_pinned(slack: SlackHarness) -> None:
    slack.api.add_person("U0PRANAV1", "Pranav Smith", display_name="pranav")
    event = dm("please ask <@U0PRANAV1> to review the Q3 offer")
    assert await slack.send_event(event) == 200
    await slack.settle()
    assert slack.llm.models_called() == ["eu-small"]  # a named person: never a US model
    assert slack.llm.requests[0]["messages"][-1]["content"] == "please ask Pranav Smith to review the Q3 offer"
    with Session(slack.services.memory.engine) as s:  # what is remembered reads the same
        stored = [m.text for m in s.exec(select(Message).where(Message.role == "user")).all()]
    assert stored == ["please ask Pranav Smith to review the Q3 offer"]


async def test_a_nickname_still_counts_as_a_person(slack: SlackHarness) -> None:
    """The analyzer does not know "Bobo" is a name; the mention says it is someone."""
    slack.api.add_person("U0BOBO001", "", display_name="Bobo")
    event = dm("please ask <@U0BOBO001> to review the Q3 offer")
    await slack.send_event(event)
    await slack.settle()
    assert slack.llm.models_called() == ["eu-small"]
    assert slack.llm.requests[0]["messages"][-1]["content"] == "please ask Bobo to review the Q3 offer"


async def test_an_unresolvable_mention_reads_as_a_placeholder(slack: SlackHarness) -> None:
    slack.api.users["U0GONE001"] = {"missing": True}
    event = dm("please ask <@U0GONE001> to review the Q3 offer")
    assert await slack.send_event(event) == 200
    await slack.settle()
    assert slack.llm.requests[0]["messages"][-1]["content"] == f"please ask {UNKNOWN_USER} to review the Q3 offer"
    [message] = slack.api.thread_messages(event["ts"])
    assert message["text"].startswith("answer from")  # answered, not failed


async def test_names_are_looked_up_once_per_workspace(slack: SlackHarness) -> None:
    slack.api.add_person("U0PRANAV1", "Pranav Smith")
    await slack.send_event(dm("please ask <@U0PRANAV1> to review the Q3 offer"))
    await slack.send_event(dm("and <@U0PRANAV1> should sign it"))
    await slack.send_event(dm("and <@U0PRANAV1> should sign it", channel="D0OTHER01"), team="T0OTHER01")
    await slack.settle()
    asked = [c.args["user"] for c in slack.api.calls_to("users.info")]
    assert asked.count("U0PRANAV1") == 2  # once in each workspace


async def test_the_people_cache_is_bounded_and_expires(fake_slack: FakeSlackApi) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=fake_slack.base_url)
    people = SlackPeople(client, ttl_s=60.0, max_entries=2)
    for user in ("U0AAAAAA1", "U0AAAAAA2", "U0AAAAAA3"):
        await people.profile("T0TEAM001", user)
    assert len(people) == 2
    await people.profile("T0TEAM001", "U0AAAAAA1")  # evicted: asked again
    assert len(fake_slack.calls_to("users.info")) == 4
    people.ttl_s = 0.0
    await people.profile("T0TEAM001", "U0AAAAAA1")
    assert len(fake_slack.calls_to("users.info")) == 5


async def test_a_failing_directory_never_fails_a_message(fake_slack: FakeSlackApi) -> None:
    base_url = fake_slack.base_url
    await fake_slack.close()  # nobody answers on that port any more
    client = AsyncWebClient(token=TOKEN, base_url=base_url, timeout=2)
    people = SlackPeople(client)
    assert await people.names("T0TEAM001", ["U0PRANAV1"], timeout_s=5.0) == {"U0PRANAV1": Profile()}
    assert BOT_USER not in mentioned_users(f"<@{BOT_USER}>", BOT_USER)
