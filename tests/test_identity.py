"""Identity is always (platform, tenant, user): the same raw user id on another platform or in another
tenant is another person. One real app serves Slack (signed requests, fake Web API) and Teams (fake
Bot Framework connector) on loopback over one SQL database, so both platforms meet in the same rows."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlmodel import Session, select

from bot.adapters.slack import SlackAdapter
from bot.adapters.slack_render import FEEDBACK_UP
from bot.adapters.teams import TEAMS
from bot.adapters.teams_cards import FEEDBACK_ACTION
from bot.app import SLACK, build_app
from bot.memory.models import AuditEntry, Decision, Feedback, Message
from bot.services import Services
from tests.conftest import ServicesFactory
from tests.fakes.openai_server import FakeOpenAI
from tests.slack.conftest import SECRET, TOKEN, SlackHarness, dm
from tests.slack.fake_slack_api import TEAM, FakeSlackApi
from tests.teams.conftest import FAST, TENANT, TeamsHarness
from tests.teams.fake_connector import FakeConnector

RAW = "U1SAME"  # one raw id, three people: in Slack workspace A, in Slack workspace B, in Teams
OTHER_TEAM = "T0OTHER02"
SLACK_A = f"slack:{TEAM}:{RAW}"


@dataclass
class Both:
    services: Services
    slack: SlackHarness
    teams: TeamsHarness
    llm: FakeOpenAI

    def rows(self) -> list[tuple[str, str, str, str]]:
        with Session(self.services.memory.engine) as s:
            return sorted((m.platform, m.tenant, m.user, m.role) for m in s.exec(select(Message)).all())

    async def slack_says(self, text: str, *, team: str = TEAM, channel: str = "D0DM00001") -> None:
        await self.slack.send_event(dm(text, user=RAW, channel=channel), team=team)
        await self.slack.settle()

    async def teams_says(self, text: str, **kwargs: Any) -> None:
        assert await self.teams.say(text, user=RAW, **kwargs) == 200

    async def slack_command(self, text: str, *, team: str = TEAM) -> str:
        await self.slack.command(text, user=RAW, team=team)
        await self.slack.settle()
        return str(self.slack.api.responses[-1]["text"])

    def teams_last(self) -> str:
        return self.teams.connector.messages()[-1].text


@pytest.fixture
async def both(make_services: ServicesFactory, fake_llm: FakeOpenAI) -> AsyncIterator[Both]:
    api, connector = FakeSlackApi(), FakeConnector()
    await api.start()
    await connector.start()
    # `users.info` answers for workspace A: a user asked about in B is not of B as far as Slack says
    services = await make_services(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET,
                                   SLACK_API_BASE_URL=api.base_url, SWITCHBOARD_TEAMS_ANONYMOUS="true",
                                   SWITCHBOARD_ADMINS=SLACK_A)
    app = build_app(services)
    app[TEAMS].options = FAST
    adapter: SlackAdapter = app[SLACK]
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    http = aiohttp.ClientSession()
    teams_client = _Client(http, str(server.make_url("")))
    slack = SlackHarness(services=services, adapter=adapter, api=api, llm=fake_llm, server=server, http=http)
    yield Both(services=services, slack=slack, teams=TeamsHarness(teams_client, services, connector),  # type: ignore[arg-type]
               llm=fake_llm)
    await adapter.drain()
    await http.close()
    await server.close()
    await connector.close()
    await api.close()


class _Client:
    """The part of aiohttp's TestClient that TeamsHarness uses, on the shared server."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self._http, self._base = http, base.rstrip("/")

    async def post(self, path: str, *, json: Any, headers: dict[str, str] | None = None) -> _Response:
        async with self._http.post(self._base + path, json=json, headers=headers) as resp:
            return _Response(resp.status, await resp.text())


@dataclass
class _Response:
    status: int
    body: str

    async def text(self) -> str:
        return self.body


async def test_forget_erases_only_its_own_platform_tenant_and_user(both: Both) -> None:
    await both.slack_says("Write a short job ad for a welder.")
    await both.slack_says("Write a short job ad for a baker.", team=OTHER_TEAM)
    await both.teams_says("Write a short job ad for a driver.")
    assert {r[:3] for r in both.rows()} == {("slack", TEAM, RAW), ("slack", OTHER_TEAM, RAW), ("teams", TENANT, RAW)}

    await both.teams_says("forget")
    assert both.teams_last().startswith("Done: I erased 2 of your messages")
    assert {r[:3] for r in both.rows()} == {("slack", TEAM, RAW), ("slack", OTHER_TEAM, RAW)}

    assert "2" in await both.slack_command("forget", team=OTHER_TEAM)
    assert both.rows() == [("slack", TEAM, RAW, "assistant"), ("slack", TEAM, RAW, "user")]
    with Session(both.services.memory.engine) as s:
        decisions = s.exec(select(Decision)).all()
    # the erased people's records stay anonymised (audit, KPIs); the third person's keep their id
    assert {(d.platform, d.tenant, d.user) for d in decisions} == {
        ("slack", TEAM, RAW), ("slack", OTHER_TEAM, "(erased)"), ("teams", TENANT, "(erased)")}


async def test_an_admin_in_one_workspace_is_nobody_elsewhere(both: Both) -> None:
    assert "disabled" in await both.slack_command("model disable openai/us-premium")
    refused_b = await both.slack_command("model enable openai/us-premium", team=OTHER_TEAM)
    assert "only Switchboard admins" in refused_b
    await both.teams_says("model enable openai/us-premium")
    assert "only Switchboard admins" in both.teams_last()
    await both.teams_says("model enable openai/us-premium", tenant=TEAM)  # even a tenant id spelled like A's
    policy = await both.services.policies.current()
    assert not policy.model("openai/us-premium").enabled
    assert policy.version == 2
    with Session(both.services.memory.engine) as s:
        audit = [(a.actor, a.allowed) for a in s.exec(select(AuditEntry).order_by(AuditEntry.id)).all()]
    assert audit == [(SLACK_A, True), (f"slack:{OTHER_TEAM}:{RAW}", False), (f"teams:{TENANT}:{RAW}", False),
                     (f"teams:{TEAM.lower()}:{RAW}", False)]


async def test_a_budget_binds_one_identity_only(both: Both) -> None:
    assert "soft none, hard $0.00" in await both.slack_command(f"budget set user {SLACK_A} - 0.000000001")
    assert "not a qualified identity" in await both.slack_command(f"budget set user {RAW} - 0.000000001")
    # and everyone else the same tiny limit: their own spend, not a namesake's, is what counts against it
    assert "hard $0.00" in await both.slack_command("budget set user * - 0.000000001")
    await both.slack_says("What time is the canteen open?")  # spends: the hard limit is now reached
    await both.slack_says("And on Saturdays?")
    refusal = both.slack.api.thread_messages(_last_thread(both.slack))[-1]["text"]
    assert "budget" in refusal.lower()
    calls = len(both.llm.requests)
    await both.slack_says("And on Saturdays?", team=OTHER_TEAM)
    await both.teams_says("And on Saturdays?")
    assert len(both.llm.requests) == calls + 2  # neither the namesake in B nor on Teams is limited
    with Session(both.services.memory.engine) as s:
        outcomes = [(d.platform, d.tenant, d.outcome) for d in s.exec(select(Decision).order_by(Decision.id)).all()]
    assert outcomes == [("slack", TEAM, "answered"), ("slack", TEAM, "refused"), ("slack", OTHER_TEAM, "answered"),
                        ("teams", TENANT, "answered")]


async def test_a_vote_cannot_reach_another_platform_or_tenant(both: Both) -> None:
    await both.slack_says("Write a slogan for our pumps.")
    with Session(both.services.memory.engine) as s:
        slack_decision = s.exec(select(Decision)).one().id
    assert slack_decision is not None
    # a Teams user with the same raw id submits a vote for the Slack decision
    assert await both.teams.say(None, user=RAW, value={"switchboard": FEEDBACK_ACTION, "decision_id": slack_decision,
                                                      "score": 1}) == 200
    assert both.teams_last().startswith("That answer no longer exists")
    # a Slack user of workspace B clicks 👍 with A's decision id
    assert await both.slack.click(FEEDBACK_UP, str(slack_decision), user=RAW, team=OTHER_TEAM) == 200
    await both.slack.settle()
    with Session(both.services.memory.engine) as s:
        assert s.exec(select(Feedback)).all() == []
    assert await both.slack.click(FEEDBACK_UP, str(slack_decision), user=RAW) == 200  # A's own vote counts
    await both.slack.settle()
    with Session(both.services.memory.engine) as s:
        assert [(f.platform, f.tenant, f.user, f.score) for f in s.exec(select(Feedback)).all()] == [
            ("slack", TEAM, RAW, 1)]


async def test_cached_answers_stay_inside_their_platform_and_tenant(both: Both) -> None:
    question = "How do I reset my VPN password?"
    shared = "tenant-1"  # a Slack team id spelled like the Teams tenant
    await both.slack_says(question, team=shared, channel="D0DMA0001")
    await both.slack.send_event(dm(question, user="UCOLLEAGUE", channel="D0DMA0002"), team=shared)
    await both.slack.settle()
    assert len(both.llm.requests) == 1  # served from the cache inside the workspace: the cache is on
    await both.slack_says(question, team=OTHER_TEAM, channel="D0DMB0001")
    assert len(both.llm.requests) == 2
    await both.teams_says(question, tenant=shared)  # the Teams tenant of the same name is still not that workspace
    assert len(both.llm.requests) == 3
    with Session(both.services.memory.engine) as s:
        cached = [(d.platform, d.tenant, d.cached) for d in s.exec(select(Decision).order_by(Decision.id)).all()]
    assert cached == [("slack", shared, False), ("slack", shared, True), ("slack", OTHER_TEAM, False),
                      ("teams", shared, False)]


async def test_a_personal_answer_is_cached_for_its_own_identity_only(both: Both) -> None:
    question = "Please draft a short reply to anna.kowalska@example.pl about the invoice."
    await both.slack_says(question, team="tenant-1", channel="D0DMA0001")
    await both.slack_says(question, team="tenant-1", channel="D0DMA0009")  # the same person, a new thread
    assert len(both.llm.requests) == 1  # their own entry serves them
    await both.teams_says(question, tenant="tenant-1")  # same raw user, same tenant name, other platform
    assert len(both.llm.requests) == 2


def _last_thread(slack: SlackHarness) -> str:
    last = list(slack.api.messages.values())[-1]
    return str(last["thread_ts"])


def test_json_roundtrip_of_the_admin_identity() -> None:
    from bot.types import Identity

    assert str(Identity.parse(SLACK_A)) == SLACK_A
    assert Identity.parse("teams:ABCDEF01-0000-0000-0000-00000000BEEF:29:1AbC") == Identity(
        "teams", "abcdef01-0000-0000-0000-00000000beef", "29:1AbC")
    assert json.loads(json.dumps(str(Identity.parse(SLACK_A)))) == SLACK_A
