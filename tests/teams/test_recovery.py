"""Nothing accepted is lost on Teams either: a message whose answer was cut off with its process is
answered (or, when too old, apologised for) exactly once by the recovery pass of another app instance on
the same database, proactively through the fake Bot Framework connector."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from bot.adapters.teams import TEAMS, TeamsAdapter, TeamsOptions
from bot.memory.models import PendingDelivery
from bot.memory.store import Lease
from bot.recovery import DeliveryRecovery
from tests.fakes.openai_server import FakeOpenAI
from tests.teams.conftest import FAST, TeamsFactory, TeamsHarness
from tests.teams.fake_connector import FakeConnector

SHORT_TURN = TeamsOptions(turn_budget_s=0.3, stream_interval_s=0.0, typing_interval_s=0.05, retry_base_s=0.01,
                          retry_max_s=0.05)


def adapter(teams: TeamsHarness) -> TeamsAdapter:
    return teams.client.server.app[TEAMS]


async def die(teams: TeamsHarness) -> None:
    """What a SIGKILL does to the answer in progress: it is gone, nothing is posted or written any more."""
    background = set(adapter(teams)._background)
    assert background, "the answer should still be in progress"
    for task in background:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)


def states(teams: TeamsHarness) -> list[str]:
    with Session(teams.services.memory.engine) as s:
        return [r.state for r in s.exec(select(PendingDelivery).order_by(PendingDelivery.message_id)).all()]


@pytest.mark.parametrize(("conv", "too_old"), [("channel", False), ("personal", False), ("groupChat", True)])
async def test_an_answer_cut_off_with_its_process_is_given_once_by_another_instance(
        make_teams: TeamsFactory, connector: FakeConnector, fake_llm: FakeOpenAI, tmp_path: Path,
        conv: str, too_old: bool) -> None:
    db = {"SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}", "SWITCHBOARD_RECOVERY_LEASE_S": 1}
    first = await make_teams(options=SHORT_TURN, **db)
    assert await first.say("How many tables does the cafe need?", conv=conv, mention=conv != "personal") == 200
    # answered (within the turn, or just after it on a busy machine): nothing to recover
    assert await adapter(first).drain(10)
    assert states(first) == ["delivered"]
    fake_llm.delay_s = 60.0  # the model hangs: the answer is in progress when the process dies
    asked = first.activity("Summarise: the van arrives on Tuesday and leaves on Friday.", conv=conv,
                           mention=conv != "personal")
    assert (await first.post(asked))[0] == 200
    await connector.wait_for(lambda calls: len(fake_llm.requests) == 2)
    await die(first)
    fake_llm.delay_s = 0.0
    before = list(connector.calls)
    assert states(first) == ["delivered", "pending"]

    second = await make_teams(options=FAST, **db)  # the instance that is left, on the same database
    recovery = DeliveryRecovery(memory=second.services.memory, resumers=[adapter(second)],
                                lease=Lease(owner="second", seconds=60), max_age_s=0 if too_old else 600)
    assert await recovery.run_once() == 0  # the dead instance's lease has not run out yet
    await asyncio.sleep(1.1)
    assert await recovery.run_once() == 1
    assert await recovery.run_once() == 0  # delivered: never given twice

    after = connector.calls[len(before):]
    [answer] = after  # exactly one activity reached the conversation, and it is a message
    assert answer.type == "message"
    assert answer.conversation_id == asked["conversation"]["id"]  # in channels: the message's reply chain
    assert answer.body.get("replyToId") == asked["id"]  # a reply to the user's message
    if conv == "personal":  # the cut-off stream cannot be continued: a new message
        assert answer.method == "POST" and answer.activity_id == asked["id"]
    else:  # the "still working" message becomes the answer
        [still_working] = [c for c in before if c.type == "message" and c.activity_id == asked["id"]]
        assert answer.method == "PUT" and answer.activity_id == still_working.id
    if too_old:
        assert answer.text.startswith("Sorry — I was restarted while answering this")
        assert len(fake_llm.requests) == 2  # no model call for an apology
    else:
        assert answer.text.startswith("answer from ") and answer.cards
        assert len(fake_llm.requests) == 3  # the cut-off call, and one by the second instance
    assert states(second) == ["delivered", "delivered"]
    placeholders = [c for c in before if c.activity_id == asked["id"]]  # what the first instance had posted
    assert placeholders and all(c.type == "typing" or "longer" in c.text for c in placeholders)
    if conv == "personal":
        return
    # answered, but the process died before marking it delivered: given again, into the same message (an edit
    # the user does not see twice), not as a second message
    with second.services.memory.engine.begin() as conn:
        conn.execute(text("UPDATE pendingdelivery SET state = 'pending', owner = 'dead/0', lease_until = created_at "
                          "WHERE message_id = (SELECT MAX(message_id) FROM pendingdelivery)"))
    assert await recovery.run_once() == 1
    [again] = connector.calls[len(before) + 1:]
    assert (again.method, again.activity_id) == ("PUT", answer.activity_id)
    assert states(second) == ["delivered", "delivered"]
