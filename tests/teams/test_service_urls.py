"""Bot Framework service URLs: the bot calls only allowed connectors, and with authentication on the
token must have been issued for the activity's serviceUrl. Real botbuilder stack, tokens signed by a
fake issuer on loopback, replies (if any) to the fake connector on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace

import pytest
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import ClaimsIdentity

from bot.adapters.service_urls import DEFAULT_TEAMS_SERVICE_URLS, ServiceUrlAllowlist
from bot.adapters.teams import GuardedAuthentication
from bot.errors import ConfigurationError, ServiceUrlNotAllowedError
from bot.settings import Settings
from tests.fakes.openai_server import FakeOpenAI
from tests.teams.conftest import APP_ID, FAST, TeamsFactory
from tests.teams.fake_connector import FakeConnector
from tests.teams.fake_issuer import FakeIssuer

EMEA = "https://smba.trafficmanager.net/emea/"
ELSEWHERE = [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://10.0.0.7:8080/",
    "https://evil.example/",
    "https://smba.trafficmanager.net.evil.example/",
    "https://smba.trafficmanager.net@evil.example/",
    "https://evil.example\\@smba.trafficmanager.net/",
    "https://smba.trafficmanager.net/teams/../../x/",
    "http://smba.trafficmanager.net/",  # the bot's token would travel in clear text
    "https://smba.trafficmanager.net:8443/",
]

DEFAULT = ServiceUrlAllowlist.from_setting(",".join(DEFAULT_TEAMS_SERVICE_URLS), loopback=False)
DEV = ServiceUrlAllowlist.from_setting(",".join(DEFAULT_TEAMS_SERVICE_URLS), loopback=True)


@pytest.mark.parametrize(("url", "default", "dev"), [
    (EMEA, True, True),
    ("https://smba.trafficmanager.net/amer/", True, True),
    ("https://SMBA.trafficmanager.net:443/teams/", True, True),
    ("https://smba.onyx.prod.teams.trafficmanager.net/", True, True),
    ("https://smba.infra.gcc.teams.microsoft.com/gcc/", True, True),
    ("https://webchat.botframework.com/", False, False),  # not Teams: add it to the setting to allow it
    ("http://127.0.0.1:3978/", False, True),
    ("http://localhost:56789/", False, True),
    ("https://[::1]:8443/", False, True),
    *((url, False, False) for url in ELSEWHERE),
    ("", False, False), (None, False, False), (42, False, False), (" " + EMEA, False, False),
    ("https://smba.trafficmanager.net/emea/?x=1", False, False), ("https://smba.trafficmanager.net./", False, False),
    ("https://smba.trafficmanager.net/%2e%2e/", False, False), ("https://smba.trafficmanager.net:99999/", False, False),
])
def test_allowed_service_urls(url: object, default: bool, dev: bool) -> None:
    assert DEFAULT.allows(url) is default
    assert DEV.allows(url) is dev


def test_the_setting_narrows_the_hosts_and_refuses_what_it_cannot_allow() -> None:
    emea_only = Settings(_env_file=None, TEAMS_APP_ID=APP_ID, TEAMS_APP_PASSWORD="pw",  # type: ignore[call-arg]
                         SWITCHBOARD_TEAMS_SERVICE_URLS=f" {EMEA} , https://webchat.botframework.com/")
    allowlist = emea_only.teams_service_url_allowlist()
    assert allowlist.allows(EMEA + "v3/x") and allowlist.allows("https://webchat.botframework.com/")
    assert not allowlist.allows("https://smba.trafficmanager.net/amer/")
    assert not allowlist.allows("https://smba.trafficmanager.net/emeafoo/")
    for bad in ("smba.trafficmanager.net", "http://smba.trafficmanager.net/", "https://127.0.0.1/",
                "https://localhost/", "https://10.1.2.3/", "https://[::1]/", "https://x/?q", ",", ""):
        settings = Settings(_env_file=None, TEAMS_APP_ID=APP_ID, TEAMS_APP_PASSWORD="pw",  # type: ignore[call-arg]
                            SWITCHBOARD_TEAMS_SERVICE_URLS=bad)
        with pytest.raises(ConfigurationError, match="SWITCHBOARD_TEAMS_SERVICE_URLS"):
            settings.check_teams_bind("127.0.0.1")  # `serve` refuses to start
    dev = Settings(_env_file=None, SWITCHBOARD_TEAMS_ANONYMOUS="true",  # type: ignore[call-arg]
                   SWITCHBOARD_TEAMS_SERVICE_URLS="")
    assert dev.teams_service_url_allowlist().allows("http://127.0.0.1:3978/")  # an empty list: loopback only


async def test_anonymous_mode_refuses_what_is_neither_listed_nor_loopback(
        make_teams: TeamsFactory, connector: FakeConnector, fake_llm: FakeOpenAI) -> None:
    teams = await make_teams()
    for url in ELSEWHERE:
        for body in (teams.activity("hello", serviceUrl=url),
                     teams.activity(None, kind="invoke", name="message/submitAction", serviceUrl=url),
                     teams.activity(None, kind="conversationUpdate", serviceUrl=url)):
            status, text = await teams.post(body)
            assert status == 403 and "SWITCHBOARD_TEAMS_SERVICE_URLS" in text, (url, body["type"])
    assert connector.calls == [] and fake_llm.requests == []
    assert await teams.say("hello") == 200  # the same activity on the fake connector's loopback URL
    assert connector.messages()


def _signed(issuer: FakeIssuer, service_url: str | None, **claims: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.token(app_id=APP_ID, service_url=service_url, **claims)}"}


async def test_a_signed_activity_cannot_make_the_bot_call_an_internal_address(
        make_teams: TeamsFactory, connector: FakeConnector, fake_llm: FakeOpenAI, issuer: FakeIssuer) -> None:
    teams = await make_teams(TEAMS_APP_ID=APP_ID, TEAMS_APP_PASSWORD="secret")
    body = teams.activity("hello")  # serviceUrl: the fake connector on 127.0.0.1
    status, _ = await teams.post(body, headers=_signed(issuer, body["serviceUrl"]))
    assert status == 403  # authentic, but loopback is no Bot Framework service outside the development mode
    metadata = teams.activity("hello", serviceUrl=ELSEWHERE[0])
    assert (await teams.post(metadata, headers=_signed(issuer, ELSEWHERE[0])))[0] == 403
    assert issuer.requests >= 2  # the tokens were checked against the issuer's keys, not skipped
    assert connector.calls == [] and fake_llm.requests == []


async def test_the_token_must_be_issued_for_the_activitys_service_url(
        make_teams: TeamsFactory, connector: FakeConnector, issuer: FakeIssuer) -> None:
    teams = await make_teams(TEAMS_APP_ID=APP_ID, TEAMS_APP_PASSWORD="secret")
    update = teams.activity(None, kind="conversationUpdate", serviceUrl=EMEA)  # accepted without a reply
    assert (await teams.post(update, headers=_signed(issuer, EMEA)))[0] == 200
    for headers in (_signed(issuer, "https://smba.trafficmanager.net/amer/"), _signed(issuer, None),
                    _signed(issuer, EMEA, aud="another-bot"), _signed(issuer, EMEA, iss="https://evil.example"),
                    _signed(issuer, EMEA, kid="unknown-key"), _signed(issuer, EMEA, exp=1)):
        assert (await teams.post(update, headers=headers))[0] == 401, headers
    without_url = {k: v for k, v in update.items() if k != "serviceUrl"}
    assert (await teams.post(without_url, headers=_signed(issuer, EMEA)))[0] == 401
    assert connector.calls == []


async def test_a_slow_token_issuer_holds_up_only_the_request_that_waits_for_it(
        make_teams: TeamsFactory, issuer: FakeIssuer) -> None:
    """botbuilder fetches the signing keys with blocking calls: never on the event loop, and not forever."""
    teams = await make_teams(TEAMS_APP_ID=APP_ID, TEAMS_APP_PASSWORD="secret",
                             options=dataclasses.replace(FAST, auth_timeout_s=1.0))
    update = teams.activity(None, kind="conversationUpdate", serviceUrl=EMEA)
    issuer.delay_s = 1.5  # per request; the keys take two
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.create_task(teams.post(update, headers=_signed(issuer, EMEA)))
    await asyncio.sleep(0.2)
    assert (await teams.client.get("/healthz")).status == 200
    assert loop.time() - started < 1.0  # the event loop was free meanwhile (a blocked one: 3 s)
    assert (await waiting)[0] == 503  # retry later: the keys could not be had within auth_timeout_s
    issuer.delay_s = 0.0
    await asyncio.sleep(2.0)  # the abandoned fetch completes in its thread
    assert (await teams.post(update, headers=_signed(issuer, EMEA)))[0] == 200


async def test_connectors_are_only_created_for_allowed_service_urls(connector: FakeConnector) -> None:
    """The backstop under every reply, update and proactive delivery, whatever path asks for a connector."""
    botbuilder_auth = ConfigurationBotFrameworkAuthentication(SimpleNamespace(APP_ID="", APP_PASSWORD=""))
    guarded = GuardedAuthentication(botbuilder_auth, allowlist=DEV, require_service_url_claim=False)
    factory = guarded.create_connector_factory(ClaimsIdentity({}, True))
    for url in ELSEWHERE:
        with pytest.raises(ServiceUrlNotAllowedError):
            await factory.create(url, None)
    assert isinstance(await factory.create(connector.service_url, None), ConnectorClient)
