"""A Switchboard app served on loopback with Slack configured against the fake Web API;
requests are signed with slack_sdk's real SignatureVerifier."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from slack_sdk.signature import SignatureVerifier

from bot.adapters.slack import SlackAdapter
from bot.app import SLACK, build_app
from bot.services import Services
from tests.conftest import ServicesFactory
from tests.fakes.openai_server import FakeOpenAI
from tests.slack.fake_slack_api import TEAM, FakeSlackApi

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"
ADMIN = "UADMIN001"
STAFF = "USTAFF001"
ADMIN_IDENTITY = f"slack:{TEAM}:{ADMIN}"

_counter = itertools.count(1)


def signed_headers(body: str, *, timestamp: int | None = None, secret: str = SECRET,
                   content_type: str = "application/json") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)}


def event_body(event: dict[str, Any], *, event_id: str | None = None, team: str = TEAM) -> dict[str, Any]:
    return {"token": "legacy", "team_id": team, "api_app_id": "A0APP", "type": "event_callback",
            "event_id": event_id or f"Ev{next(_counter):08d}", "event_time": int(time.time()),
            "event": event}


def dm(text: str, *, user: str = STAFF, ts: str | None = None, thread_ts: str | None = None,
       channel: str = "D0DM00001") -> dict[str, Any]:
    event = {"type": "message", "channel": channel, "channel_type": "im", "user": user, "text": text,
             "ts": ts or f"1700000000.{next(_counter):06d}"}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


@dataclass
class SlackHarness:
    services: Services
    adapter: SlackAdapter
    api: FakeSlackApi
    llm: FakeOpenAI
    server: TestServer
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return str(self.server.make_url("/slack/events"))

    async def post(self, body: str, headers: dict[str, str]) -> tuple[int, str]:
        async with self.http.post(self.url, data=body.encode(), headers=headers) as resp:
            return resp.status, await resp.text()

    async def send_event(self, event: dict[str, Any], *, event_id: str | None = None, retry: int = 0,
                         team: str = TEAM) -> int:
        body = json.dumps(event_body(event, event_id=event_id, team=team))
        headers = signed_headers(body)
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        status, _ = await self.post(body, headers)
        return status

    async def command(self, text: str, *, user: str = STAFF, channel: str = "C0GENERAL", team: str = TEAM) -> int:
        body = urlencode({"token": "legacy", "team_id": team, "channel_id": channel, "user_id": user,
                          "command": "/switchboard", "text": text, "api_app_id": "A0APP",
                          "response_url": self.api.response_url(), "trigger_id": "1.2.3"})
        status, _ = await self.post(body, signed_headers(body, content_type="application/x-www-form-urlencoded"))
        return status

    async def click(self, action_id: str, value: str, *, user: str = STAFF, channel: str = "D0DM00001",
                    team: str = TEAM) -> int:
        payload = {"type": "block_actions", "team": {"id": team}, "user": {"id": user}, "api_app_id": "A0APP",
                   "channel": {"id": channel}, "trigger_id": "1.2.3", "response_url": self.api.response_url("act"),
                   "container": {"type": "message", "message_ts": "1800000000.000001", "channel_id": channel},
                   "actions": [{"type": "button", "action_id": action_id, "block_id": "switchboard_feedback",
                                "value": value, "action_ts": str(time.time())}]}
        body = urlencode({"payload": json.dumps(payload)})
        status, _ = await self.post(body, signed_headers(body, content_type="application/x-www-form-urlencoded"))
        return status

    async def settle(self) -> None:
        await self.adapter.drain(timeout_s=20)


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackApi]:
    api = FakeSlackApi()
    await api.start()
    yield api
    await api.close()


SlackFactory = Callable[..., Awaitable[SlackHarness]]


@pytest.fixture
async def make_slack(make_services: ServicesFactory, fake_slack: FakeSlackApi,
                     fake_llm: FakeOpenAI) -> AsyncIterator[SlackFactory]:
    """Harnesses on loopback; `settings` override the services' (e.g. the database URL,
    SWITCHBOARD_SLACK_WORKSPACE_ADMINS); SWITCHBOARD_ADMINS names ADMIN in the qualified form."""
    started: list[SlackHarness] = []
    async with aiohttp.ClientSession() as http:

        async def make(**settings: Any) -> SlackHarness:
            services = await make_services(**({"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                                                "SLACK_API_BASE_URL": fake_slack.base_url,
                                                "SWITCHBOARD_ADMINS": ADMIN_IDENTITY} | settings))
            app = build_app(services)
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            harness = SlackHarness(services=services, adapter=app[SLACK], api=fake_slack, llm=fake_llm,
                                   server=server, http=http)
            started.append(harness)
            return harness

        yield make
        for harness in started:
            await harness.adapter.drain()
            await harness.server.close()


@pytest.fixture
async def slack(make_slack: SlackFactory) -> SlackHarness:
    return await make_slack()
