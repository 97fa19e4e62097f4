"""Slack's AI-app surfaces and the events we have no use for, replayed as Slack documents their payloads
(docs.slack.dev/reference/events/…) against the real server: everything is acknowledged with 200."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from sqlmodel import Session, select

from bot.memory.models import PendingDelivery
from tests.slack.conftest import STAFF, SlackHarness, dm, signed_headers
from tests.slack.fake_slack_api import TEAM

DM = "D0DM00001"
THREAD = "1729999327.187299"


def wrapped(event: dict[str, Any], event_id: str = "Ev0ASSIST1") -> dict[str, Any]:
    """The Events API wrapper as in Slack's examples."""
    return {"token": "XXYYZZ", "team_id": TEAM, "api_app_id": "A123ABC456", "event": event,
            "type": "event_callback", "authed_users": [STAFF], "event_id": event_id, "event_time": int(time.time())}


def thread_started(kind: str = "assistant_thread_started") -> dict[str, Any]:
    return {"type": kind,
            "assistant_thread": {"user_id": STAFF,
                                 "context": {"channel_id": "C123ABC456", "team_id": TEAM,
                                             "enterprise_id": "E480293PS82"},
                                 "channel_id": DM, "thread_ts": THREAD},
            "event_ts": "1715873754.429808"}


async def deliver(slack: SlackHarness, body: dict[str, Any], *, form: bool = False) -> int:
    text = urlencode({"payload": json.dumps(body)}) if form else json.dumps(body)
    kind = "application/x-www-form-urlencoded" if form else "application/json"
    status, _ = await slack.post(text, signed_headers(text, content_type=kind))
    return status


async def test_a_new_assistant_thread_is_greeted_with_prompts_in_the_users_language(slack: SlackHarness) -> None:
    slack.api.users[STAFF] = {"locale": "de-DE"}
    assert await deliver(slack, wrapped(thread_started())) == 200
    assert await deliver(slack, wrapped(thread_started())) == 200  # Slack's retry of the same delivery
    await slack.settle()
    [greeting] = slack.api.thread_messages(THREAD)
    assert greeting["channel"] == DM and greeting["text"].startswith("Hallo! Ich bin Switchboard")
    prompts = slack.api.prompts[(DM, THREAD)]
    assert [p["title"] for p in prompts] == ["Angebot entwerfen", "Optionen abwägen", "Übersetzen",
                                             "Code schreiben"]
    assert all(p["message"] for p in prompts)
    assert len(slack.api.calls_to("assistant.threads.setSuggestedPrompts")) == 1


async def test_harmless_events_are_acknowledged_and_do_nothing(slack: SlackHarness) -> None:
    member_joined = {"type": "member_joined_channel", "user": "W123ABC456", "channel": "C123ABC456",
                     "channel_type": "C", "team": TEAM, "inviter": "U123456789", "enterprise": "E123456789"}
    home_tab = {"type": "app_home_opened", "user": STAFF, "channel": DM, "event_ts": "1515449522000016",
                "tab": "home", "view": {"id": "V123ABC456", "team_id": TEAM, "type": "home", "blocks": []}}
    never_subscribed = {"type": "reaction_added", "user": STAFF, "reaction": "thumbsup",
                        "item": {"type": "message", "channel": "C123ABC456", "ts": "1360782400.498405"},
                        "event_ts": "1360782804.083113"}
    # the agent view's context event (manifest): which channel the user looks at, not used
    agent_context = {"type": "app_context_changed", "user": STAFF, "context": {"channel_id": "C123ABC456",
                                                                             "team_id": TEAM},
                     "event_ts": "1700000001.000100"}
    for i, event in enumerate([thread_started("assistant_thread_context_changed"), member_joined, home_tab,
                               never_subscribed, agent_context]):
        assert await deliver(slack, wrapped(event, f"Ev0HARM{i:03d}")) == 200, event["type"]
    await slack.settle()
    assert [c.method for c in slack.api.calls if c.method != "auth.test"] == []  # (bolt's authorization)


async def test_unknown_actions_are_acknowledged(slack: SlackHarness) -> None:
    user, team = {"id": STAFF, "team_id": TEAM}, {"id": TEAM, "domain": "fake"}  # as in Slack's example
    action = {"type": "block_actions", "team": team, "user": user, "api_app_id": "A0APP", "trigger_id": "1.2.3",
              "container": {"type": "message", "message_ts": "1800000000.000001", "channel_id": DM},
              "channel": {"id": DM}, "response_url": slack.api.response_url("act"),
              "actions": [{"type": "button", "action_id": "some_old_button", "block_id": "b1", "value": "x",
                           "action_ts": str(time.time())}]}
    assert await deliver(slack, action, form=True) == 200
    await slack.settle()
    assert [c.method for c in slack.api.calls if c.method != "auth.test"] == []  # (bolt's authorization)


async def test_the_messages_tab_welcomes_each_person_once(slack: SlackHarness) -> None:
    slack.api.users[STAFF] = {"locale": "pl-PL"}
    opened = {"type": "app_home_opened", "user": STAFF, "channel": DM, "tab": "messages",
              "event_ts": "1515449522000016"}
    assert await deliver(slack, wrapped(opened, "Ev0HOME001")) == 200
    assert await deliver(slack, wrapped(opened, "Ev0HOME002")) == 200  # opened again later
    await slack.settle()
    [welcome] = slack.api.calls_to("chat.postMessage")
    assert welcome.args["channel"] == DM and welcome.args["text"].startswith("Witaj!")
    assert "thread_ts" not in welcome.args


async def test_an_assistant_thread_shows_status_not_a_placeholder_and_gets_a_title(slack: SlackHarness) -> None:
    slack.adapter.update_interval_s = 0.0
    slack.llm.delay_s = 0.3  # the model takes a moment: the status is what the user sees meanwhile
    first = dm("Compare leasing and buying a delivery van\nfor our firm, costs over five years", thread_ts=THREAD)
    assert await slack.send_event(first) == 200
    await slack.settle()
    [status] = slack.api.calls_to("assistant.threads.setStatus")
    assert status.args["thread_ts"] == THREAD and status.args["status"] == "is thinking…"
    assert status.args["loading_messages"][0] == "Checking for personal data…"
    methods = [c.method for c in slack.api.calls if c.method != "users.info"]
    assert methods.index("assistant.threads.setStatus") < methods.index("chat.startStream")  # streamed natively
    assert slack.api.calls_to("chat.postMessage") == []  # no "Thinking…" placeholder
    [answer] = slack.api.thread_messages(THREAD)
    assert answer["text"].startswith("answer from")
    assert (DM, THREAD) not in slack.api.statuses  # our answer ended the status
    assert slack.api.titles[(DM, THREAD)] == "Compare leasing and buying a delivery van"
    with Session(slack.services.memory.engine) as s:
        [pending] = s.exec(select(PendingDelivery)).all()
    assert pending.placeholder == answer["ts"] and pending.state == "delivered"

    await slack.send_event(dm("And for ten vans?", thread_ts=THREAD))
    await slack.settle()
    assert len(slack.api.calls_to("assistant.threads.setTitle")) == 1  # titled after the first message only


async def test_without_the_status_an_assistant_thread_gets_the_placeholder(slack: SlackHarness) -> None:
    slack.api.refuse("assistant.threads.setStatus", "missing_scope")
    event = dm("What is the capital of Denmark?", thread_ts=THREAD)
    assert await slack.send_event(event) == 200
    await slack.settle()
    assert slack.api.calls_to("chat.postMessage")[0].args["text"] == "_Thinking…_"
    [answer] = slack.api.thread_messages(THREAD)
    assert answer["text"].startswith("answer from")


async def test_a_long_first_answer_without_placeholder_is_posted_in_order(slack: SlackHarness) -> None:
    """No partial text before the final one (an offline or cached reply): the pieces still go out in order."""
    slack.adapter.update_interval_s = 3600.0  # no partial updates
    slack.api.refuse("chat.startStream", "unknown_method")  # the chat.update path (native: tests/slack/test_streaming)
    paragraph = "This paragraph explains one more detail of the maintenance schedule for the pumps. " * 8
    slack.llm.answers["us-small"] = "\n\n".join(f"## Part {i}\n{paragraph}" for i in range(12))
    await slack.send_event(dm("Explain the maintenance schedule of our pumps in detail.", thread_ts=THREAD))
    await slack.settle()
    messages = slack.api.thread_messages(THREAD)
    assert len(messages) >= 2
    assert "Part 0" in messages[0]["text"] and "Part 11" in messages[-1]["text"]
    assert messages[-1]["blocks"][-1]["type"] == "actions"  # feedback on the last one


def test_the_manifest_subscribes_to_what_is_handled_with_the_scopes_it_needs() -> None:
    manifest = yaml.safe_load((Path(__file__).parents[2] / "deploy/slack/manifest.yaml").read_text("utf-8"))
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"assistant_thread_started", "assistant_thread_context_changed", "app_home_opened"} <= events
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # setSuggestedPrompts / setTitle: assistant:write; setStatus and posting: chat:write; names: users:read
    assert {"assistant:write", "chat:write", "users:read"} <= scopes
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
