"""An answer slower than the lease is still given once: the instance producing it renews its lease, so the
recovery passes of the other instances on the same database leave it alone; and an instance whose message
was taken over anyway (its lease not renewed in time) drops its answer instead of giving a second one."""

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
from tests.slack.conftest import SlackFactory, SlackHarness, dm

LEASE_S = 2.0
SLOW_MODEL_S = 5.0  # 2.5 leases


def recovery(instance: SlackHarness) -> DeliveryRecovery:
    """What `serve` runs on every replica, from the instance's own settings."""
    settings = instance.services.settings
    return DeliveryRecovery(memory=instance.services.memory, resumers=[instance.adapter],
                            lease=Lease(owner=replica_id(), seconds=settings.recovery_lease_s),
                            max_age_s=settings.recovery_max_age_s)


async def until(condition: Callable[[], bool], *, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)


def rows(instance: SlackHarness) -> list[tuple[str, str]]:
    with Session(instance.services.memory.engine) as s:
        return [(r.state, r.owner) for r in s.exec(select(PendingDelivery)).all()]


async def test_an_answer_slower_than_the_lease_is_given_once(make_slack: SlackFactory, tmp_path: Path) -> None:
    db = {"SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}", "SWITCHBOARD_RECOVERY_LEASE_S": LEASE_S}
    first, second = await make_slack(**db), await make_slack(**db)
    first.llm.delay_s = SLOW_MODEL_S
    asked = dm("Summarise: the van arrives on Tuesday and leaves on Friday.")
    started = time.monotonic()
    assert await first.send_event(asked) == 200
    # both replicas run their recovery passes all along, several times per lease
    passes = [asyncio.create_task(recovery(r).run_forever(0.2)) for r in (first, second)]
    try:
        assert await first.adapter.drain(timeout_s=30)
        elapsed = time.monotonic() - started
        await asyncio.sleep(LEASE_S + 0.5)  # more passes after the answer: nothing left to take
        assert await second.adapter.drain(timeout_s=30)
    finally:
        for task in passes:
            task.cancel()
        await asyncio.gather(*passes, return_exceptions=True)
    assert elapsed > SLOW_MODEL_S > 2 * LEASE_S  # the answer really outlived its lease twice over
    assert len(first.llm.requests) == 1  # one model call: nobody resumed the message
    [message] = first.api.thread_messages(str(asked["ts"]))  # the placeholder, now the answer
    assert "blocks" in message and message["text"].startswith("answer from ")
    finals = [c for c in first.api.calls_to("chat.update") if c.args.get("blocks")]
    assert len(finals) == 1
    assert rows(first) == [("delivered", "")]


async def test_an_instance_whose_message_was_taken_over_does_not_answer_it(
        make_slack: SlackFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = await make_slack(SWITCHBOARD_DATABASE_URL=f"sqlite:///{tmp_path / 'shared.db'}",
                             SWITCHBOARD_RECOVERY_LEASE_S=LEASE_S)
    first.llm.delay_s = SLOW_MODEL_S
    asked = dm("Summarise: the van arrives on Tuesday and leaves on Friday.")
    assert await first.send_event(asked) == 200
    await until(lambda: bool(first.llm.requests), within_s=20)
    # another replica claimed it (as it would had this one not renewed in time, the database out of reach)
    with first.services.memory.engine.begin() as conn:
        conn.execute(text("UPDATE pendingdelivery SET owner = 'another-replica/abc123'"))
    with caplog.at_level(logging.WARNING, logger="bot.recovery"):
        assert await first.adapter.drain(timeout_s=30)
    assert "was taken over by another instance" in caplog.text
    # the model call was cancelled, not paid for to the end (the fake notices when its delay is over)
    await until(lambda: bool(first.llm.hangups), within_s=SLOW_MODEL_S + 2)
    [message] = first.api.thread_messages(str(asked["ts"]))
    assert "blocks" not in message and "Thinking" in message["text"]  # left to the new owner
    assert rows(first) == [("pending", "another-replica/abc123")]
