"""Native Slack streaming in the assistant view's threads (chat.startStream / appendStream / stopStream on the
fake Web API, through the real bolt stack), the footer and 👍/👎 at the stop, and chat.update where Slack
refuses native streaming or the answer starts over."""

from __future__ import annotations

from tests.fakes.openai_server import Fault
from tests.slack.conftest import SlackHarness, dm

DM = "D0DM00001"
THREAD = "1700000000.000900"


async def test_an_assistant_thread_answer_streams_natively_with_feedback_at_the_stop(slack: SlackHarness) -> None:
    slack.adapter.update_interval_s = 0.0
    await slack.send_event(dm("Write a slogan for our pumps.", thread_ts=THREAD))
    await slack.settle()
    [start] = slack.api.calls_to("chat.startStream")
    assert start.args["thread_ts"] == THREAD and start.args["recipient_user_id"] == "USTAFF001"
    assert start.args["recipient_team_id"] == "T0TEAM001"
    appended = [c.args["markdown_text"] for c in slack.api.calls_to("chat.appendStream")]
    assert appended  # the answer arrived in pieces
    [stop] = slack.api.calls_to("chat.stopStream")
    [answer] = slack.api.thread_messages(THREAD)
    assert answer["text"] == start.args["markdown_text"] + "".join(appended)  # streamed text = the whole answer
    assert answer["text"].startswith("answer from us-small") and not answer["streaming"]
    assert [b["type"] for b in stop.args["blocks"]] == ["context", "actions"]  # footer and 👍/👎 at the bottom
    assert "openai/us-small" in stop.args["blocks"][0]["elements"][0]["text"]
    assert slack.api.calls_to("chat.postMessage") == [] and slack.api.calls_to("chat.update") == []


async def test_where_native_streaming_is_unavailable_chat_update_streams(slack: SlackHarness) -> None:
    slack.adapter.update_interval_s = 0.0
    slack.api.refuse("chat.startStream", "unknown_method")
    await slack.send_event(dm("Write a slogan for our pumps.", thread_ts=THREAD))
    await slack.settle()
    assert len(slack.api.calls_to("chat.startStream")) == 1  # tried once, then the fallback for this answer
    [answer] = slack.api.thread_messages(THREAD)
    assert answer["text"].startswith("answer from us-small")
    assert answer["blocks"][-1]["block_id"] == "switchboard_feedback"
    assert slack.api.calls_to("chat.postMessage") and slack.api.calls_to("chat.appendStream") == []


async def test_an_answer_that_starts_over_is_stopped_and_rewritten(slack: SlackHarness) -> None:
    """The first model breaks off after some words; the fallback's answer does not continue them."""
    slack.adapter.update_interval_s = 0.0
    for model in ("us-small", "us-premium", "eu-small", "eu-large"):
        slack.llm.answers[model] = f"{model} says: pumps that never quit, built in our own works."
    slack.llm.fail("us-small", *[Fault(die_midstream=True)] * 3)  # every try breaks off after its first word
    await slack.send_event(dm("Write a slogan for our pumps.", thread_ts=THREAD))
    await slack.settle()
    [answer] = slack.api.thread_messages(THREAD)
    assert slack.api.calls_to("chat.stopStream") and slack.api.calls_to("chat.update")
    assert not answer["streaming"] and answer["blocks"][-1]["block_id"] == "switchboard_feedback"
    assert "fallback" in answer["blocks"][-2]["elements"][0]["text"]
    assert not answer["text"].startswith("us-small")  # the broken-off words were replaced
