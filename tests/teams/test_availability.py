"""Teams with the database down (a real PostgreSQL, stopped and started again): the activity gets a 503
with Retry-After before any reply, nothing of it is kept, and its redelivery is answered exactly once."""

from __future__ import annotations

from sqlmodel import Session, func, select

from bot.memory.models import Message
from tests.fakes.openai_server import FakeOpenAI
from tests.postgres import PostgresServer
from tests.teams.conftest import TeamsFactory
from tests.teams.fake_connector import FakeConnector


async def test_database_down_is_503_and_the_redelivery_is_answered_once(
        make_teams: TeamsFactory, connector: FakeConnector, fake_llm: FakeOpenAI, pg: PostgresServer) -> None:
    teams = await make_teams(SWITCHBOARD_DATABASE_URL=pg.url)
    assert await teams.say("Hello there, what can you do?") == 200  # the pool now holds live connections
    calls_before = len(connector.calls)
    question = teams.activity("Summarise: the van arrives on Tuesday and leaves on Friday.")

    pg.stop()
    resp = await teams.client.post("/api/messages", json=question)
    assert (resp.status, resp.headers.get("Retry-After")) == (503, "10")
    for command in ("why", "policy show"):  # commands are claimed before they run: also refused, no 500
        resp = await teams.client.post("/api/messages", json=teams.activity(command))
        assert resp.status == 503
    assert len(connector.calls) == calls_before  # not even the "working on it" update went out
    assert len(fake_llm.requests) == 1

    pg.start()
    assert await teams.post(question) == (200, "")  # Bot Framework delivers it again
    assert await teams.post(question) == (200, "")  # and once more: already taken
    final = [c for c in connector.messages() if c.text.startswith("answer from")]
    assert len(final) == 2 and "Summarise: the van" in final[-1].text
    assert len(fake_llm.requests) == 2
    with Session(teams.services.memory.engine) as s:
        stored = s.exec(select(func.count()).select_from(Message).where(Message.text == question["text"])).one()
    assert stored == 1
