"""Before resuming a Slack message, the recovery pass reads its placeholder back (conversations.replies):
an answer that was posted but never marked delivered (the process died in between) is not given again;
a placeholder still thinking or cut off mid-stream is answered; when Slack does not let us read it (a
missing scope), the message is answered again, as before this check."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from bot.memory.models import PendingDelivery
from bot.memory.store import Lease
from bot.recovery import DeliveryRecovery, replica_id
from tests.fakes.openai_server import Fault
from tests.slack.conftest import SlackFactory, SlackHarness, dm

ASKED = "Summarise: the van arrives on Tuesday and leaves on Friday."


def recovery(instance: SlackHarness) -> DeliveryRecovery:
    settings = instance.services.settings
    return DeliveryRecovery(memory=instance.services.memory, resumers=[instance.adapter],
                            lease=Lease(owner=replica_id(), seconds=settings.recovery_lease_s),
                            max_age_s=settings.recovery_max_age_s)


def states(instance: SlackHarness) -> list[str]:
    with Session(instance.services.memory.engine) as s:
        return [r.state for r in s.exec(select(PendingDelivery)).all()]


async def until(condition: Callable[[], bool], *, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.02)


async def answered_then_crashed(make_slack: SlackFactory, db: str) -> tuple[SlackHarness, dict[str, str]]:
    """An answer posted into its placeholder by a process that died before it marked it delivered."""
    first = await make_slack(SWITCHBOARD_DATABASE_URL=db)
    asked = dm(ASKED)
    assert await first.send_event(asked) == 200
    assert await first.adapter.drain()
    assert states(first) == ["delivered"]
    with first.services.memory.engine.begin() as conn:  # what was on disk when it died
        conn.execute(text("UPDATE pendingdelivery SET state = 'pending', owner = 'dead/0', lease_until = created_at"))
    return first, asked


async def test_an_answer_posted_but_not_marked_delivered_is_not_given_again(
        make_slack: SlackFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    first, asked = await answered_then_crashed(make_slack, db)
    [placeholder] = first.api.thread_messages(asked["ts"])
    writes = len(first.api.calls_to("chat.update")) + len(first.api.calls_to("chat.postMessage"))
    second = await make_slack(SWITCHBOARD_DATABASE_URL=db)
    with caplog.at_level(logging.WARNING):
        assert await recovery(second).run_once() == 1
    [read] = second.api.calls_to("conversations.replies")
    assert read.args["ts"] == asked["ts"] and read.args["oldest"] == read.args["latest"] == placeholder["ts"]
    assert "already holds its answer" in caplog.text
    assert len(second.llm.requests) == 1  # no second model call
    assert len(second.api.calls_to("chat.update")) + len(second.api.calls_to("chat.postMessage")) == writes
    assert states(second) == ["delivered"]
    assert await recovery(second).run_once() == 0


async def test_a_placeholder_that_cannot_be_read_back_is_answered_again(
        make_slack: SlackFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    first, asked = await answered_then_crashed(make_slack, db)
    first.api.refuse("conversations.replies", "missing_scope")  # an app installed without the history scopes
    second = await make_slack(SWITCHBOARD_DATABASE_URL=db)
    with caplog.at_level(logging.WARNING):
        assert await recovery(second).run_once() == 1
    assert "conversations.replies refused (missing_scope" in caplog.text
    assert len(second.llm.requests) == 2  # the fallback: answered again, in the same placeholder
    [message] = second.api.thread_messages(asked["ts"])
    assert message["text"].startswith("answer from ") and "blocks" in message
    assert states(second) == ["delivered"]


async def test_an_answer_cut_off_mid_stream_is_finished_in_its_placeholder(
        make_slack: SlackFactory, tmp_path: Path) -> None:
    db = {"SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}", "SWITCHBOARD_RECOVERY_LEASE_S": 1}
    first = await make_slack(**db)
    first.llm.fail("us-small", Fault(chunk_interval_s=0.4))  # a slow stream, shown as it comes
    asked = dm(ASKED)
    assert await first.send_event(asked) == 200
    await until(lambda: any("▍" in m["text"] for m in first.api.thread_messages(asked["ts"])), within_s=30)
    for task in set(first.adapter._inflight):  # what a SIGKILL does to the answer in progress
        task.cancel()
    await asyncio.gather(*first.adapter._inflight, return_exceptions=True)
    [cut] = first.api.thread_messages(asked["ts"])
    assert "blocks" not in cut and cut["text"].endswith("▍")
    second = await make_slack(**db)
    await asyncio.sleep(1.1)  # the dead instance's lease runs out
    assert await recovery(second).run_once() == 1
    assert len(second.api.calls_to("conversations.replies")) == 1
    [message] = second.api.thread_messages(asked["ts"])
    assert message["ts"] == cut["ts"] and "blocks" in message and not message["text"].endswith("▍")
    assert len(second.llm.requests) == 2
    assert states(second) == ["delivered"]


async def test_a_long_answer_shows_in_its_placeholder_last(slack: SlackHarness) -> None:
    """What makes the read-back sound for answers of several messages: the placeholder gets its final text
    only once the other messages are posted."""
    paragraph = "This paragraph explains one more detail of the maintenance schedule for the pumps. " * 8
    slack.llm.answers["us-small"] = "\n\n".join(f"## Part {i}\n{paragraph}" for i in range(20))
    asked = dm("Explain the maintenance schedule of our pumps in detail.")
    assert await slack.send_event(asked) == 200
    await slack.settle()
    messages = slack.api.thread_messages(asked["ts"])
    assert len(messages) >= 3
    writes = [c for c in slack.api.calls if c.method in ("chat.update", "chat.postMessage")]
    assert writes[-1].method == "chat.update" and writes[-1].args["ts"] == messages[0]["ts"]
    assert writes[-1].args.get("blocks")
