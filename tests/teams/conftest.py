"""Teams fixtures: the production aiohttp app on loopback and a fake Bot Framework connector."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from botframework.connector.auth import ChannelValidation, JwtTokenExtractor

from bot.adapters.teams import TEAMS, TeamsOptions
from bot.app import build_app
from bot.services import Services
from tests.conftest import ServicesFactory
from tests.teams.fake_connector import FakeConnector
from tests.teams.fake_issuer import FakeIssuer

BOT_ID = "28:switchboard-bot"
TENANT = "tenant-1"
APP_ID = "00000000-0000-0000-0000-00000000beef"
ADMIN = "aad-admin-1"
STAFF = "aad-staff-1"
ADMIN_IDENTITY = f"teams:{TENANT}:{ADMIN}"
FAST = TeamsOptions(stream_interval_s=0.0, typing_interval_s=0.05, retry_base_s=0.01, retry_max_s=0.05)
_ids = itertools.count(1000)


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIssuer]:
    """Bot Connector tokens signed by a fake issuer that botbuilder trusts: its own setting for where the
    signing keys are published (botbuilder's, not ours) points at the fake."""
    fake = FakeIssuer()
    fake.start()
    monkeypatch.setattr(ChannelValidation, "open_id_metadata_endpoint", fake.metadata_url)
    yield fake
    JwtTokenExtractor.metadataCache.pop(fake.metadata_url, None)
    fake.close()


class TeamsHarness:
    def __init__(self, client: TestClient[Any, Any], services: Services, connector: FakeConnector) -> None:
        self.client = client
        self.services = services
        self.connector = connector

    def activity(self, text: str | None = "", *, kind: str = "message", conv: str = "personal",
                 conversation_id: str | None = None, user: str = STAFF, locale: str = "en-US",
                 mention: bool = False, tenant: str = TENANT, **extra: Any) -> dict[str, Any]:
        conversation_id = conversation_id or {"personal": "a:personal-chat-1", "groupChat": "19:group@thread.v2",
                                              "channel": "19:general@thread.tacv2;messageid=1700000000001"}[conv]
        body: dict[str, Any] = {
            "type": kind, "id": f"msg-{next(_ids)}", "channelId": "msteams", "serviceUrl": self.connector.service_url,
            "from": {"id": f"29:{user}", "name": "Staff Member", "aadObjectId": user},
            "recipient": {"id": BOT_ID, "name": "Switchboard"},
            "conversation": {"id": conversation_id, "conversationType": conv, "tenantId": tenant},
            "channelData": {"tenant": {"id": tenant}}, "locale": locale,
        }
        if text is not None:
            body["text"] = f"<at>Switchboard</at> {text}" if mention else text
        if mention:
            body["entities"] = [{"type": "mention", "text": "<at>Switchboard</at>",
                                 "mentioned": {"id": BOT_ID, "name": "Switchboard"}}]
        body.update(extra)
        return body

    async def post(self, body: Any, *, headers: dict[str, str] | None = None) -> tuple[int, str]:
        resp = await self.client.post("/api/messages", json=body, headers=headers)
        return resp.status, await resp.text()

    async def say(self, text: str, **kwargs: Any) -> int:
        status, _ = await self.post(self.activity(text, **kwargs))
        return status


TeamsFactory = Callable[..., Awaitable[TeamsHarness]]


@pytest.fixture
async def make_teams(make_services: ServicesFactory, connector: FakeConnector) -> AsyncIterator[TeamsFactory]:
    clients: list[TestClient[Any, Any]] = []

    async def make(*, options: TeamsOptions = FAST, **settings: Any) -> TeamsHarness:
        settings.setdefault("SWITCHBOARD_ADMINS", ADMIN_IDENTITY)
        if "TEAMS_APP_ID" not in settings:  # the fake connector sends no tokens: the development switch
            settings.setdefault("SWITCHBOARD_TEAMS_ANONYMOUS", "true")
        services = await make_services(**settings)
        app = build_app(services)
        app[TEAMS].options = options
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return TeamsHarness(client, services, connector)

    yield make
    for client in clients:
        await client.close()
