"""The fuzz target: one production app with Slack and Teams (anonymous mode, as in development) and one
with Teams authentication on, both served on loopback from a thread of their own, with fake Slack,
Bot Framework connector, token issuer and LLM servers on loopback. Shared by every fuzz family of
the package, so memory growth is measured over the whole run."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestServer
from botframework.connector.auth import ChannelValidation, JwtTokenExtractor
from slack_sdk.signature import SignatureVerifier

from bot.adapters.slack import SlackAdapter
from bot.adapters.teams import TEAMS
from bot.app import SLACK, build_app
from bot.services import build_services
from bot.settings import Settings
from privacy.engine import PrivacyEngine
from routing.classifier import TaskClassifier
from tests.conftest import FAKE_KEYS, fake_policy
from tests.fakes.openai_server import FakeOpenAI
from tests.fuzz.harness import (
    HANG_S,
    ErrorLog,
    Header,
    LoopThread,
    Response,
    Tally,
    raw_request,
    rss_bytes,
    slack_signature,
)
from tests.slack.fake_slack_api import FakeSlackApi
from tests.teams.conftest import APP_ID, FAST
from tests.teams.fake_connector import FakeConnector
from tests.teams.fake_issuer import FakeIssuer

SECRET = "fuzz-signing-secret"
# over the whole run: about 55 MiB when the fuzz suite runs alone, up to 80 MiB after the rest of the suite
# (a fuller heap), nearly all of it in the two huge-body families (1 MB bodies, the first 16,000-character
# messages through the NER models), flat before and after them; ~1,400 requests leaking 50 KB each pass it
RSS_GROWTH_LIMIT = 128 * 1024 * 1024


@dataclass(repr=False)
class FuzzTarget:
    loop: LoopThread
    port: int  # /slack/events and /api/messages (Teams anonymous)
    auth_port: int  # /api/messages with Bot Framework authentication
    slack_adapter: SlackAdapter
    connector: FakeConnector
    issuer: FakeIssuer
    llm: FakeOpenAI
    errors: ErrorLog
    tally: Tally
    rss_baseline: int = 0

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"FuzzTarget(port={self.port}, auth_port={self.auth_port})"

    @property
    def service_url(self) -> str:
        return self.connector.service_url

    # --- requests ------------------------------------------------------------------------------

    def slack(self, family: str, body: str | bytes, *, content_type: str | None = "application/json",
              timestamp: str | None = None, headers: list[Header] | None = None, sign: bool = True,
              allow_dropped: bool = False) -> Response:
        """POST /slack/events, signed over the exact bytes sent unless `sign` is False."""
        ts = timestamp if timestamp is not None else str(int(time.time()))
        all_headers: list[Header] = [("Content-Type", content_type)] if content_type is not None else []
        if sign:  # bytes that are no UTF-8 text are signed by the same algorithm over the raw bytes
            signature = (SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
                         if isinstance(body, str) else slack_signature(SECRET, ts, body))
            all_headers += [("X-Slack-Request-Timestamp", ts), ("X-Slack-Signature", signature)]
        all_headers += headers or []
        return self.send(family, self.port, "/slack/events", body, all_headers, allow_dropped=allow_dropped)

    def teams(self, family: str, body: Any, *, raw: bytes | None = None,
              content_type: str | None = "application/json", headers: list[Header] | None = None,
              auth: bool = False, allow_dropped: bool = False) -> Response:
        """POST /api/messages of the anonymous app, or of the authenticated one with `auth`."""
        data = raw if raw is not None else json.dumps(body).encode()
        all_headers: list[Header] = [("Content-Type", content_type)] if content_type is not None else []
        all_headers += headers or []
        return self.send(family, self.auth_port if auth else self.port, "/api/messages", data, all_headers,
                         allow_dropped=allow_dropped)

    def send(self, family: str, port: int, path: str, body: str | bytes, headers: list[Header], *,
             allow_dropped: bool = False) -> Response:
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        response = raw_request(port, "POST", path, headers=headers, body=data)  # a hang raises TimeoutError
        self.tally.add(family, response.status)
        assert response.status < 500, (response.status, response.body[:300], data[:300])
        assert response.status != 0 or allow_dropped, ("connection dropped without a status", data[:300])
        return response

    # --- after a case ---------------------------------------------------------------------------

    def settle(self, context: object = None) -> None:
        """Wait for background work (Slack answers) and fail on anything it logged as an error."""
        finished = self.loop.run(self.slack_adapter.drain(timeout_s=HANG_S))
        assert finished, ("background work still running after the hang limit", context)
        self.check_logs(context)

    def check_logs(self, context: object = None) -> None:
        """Fail on anything logged as an error (Teams answers within the request: nothing to wait for)."""
        errors = self.errors.take()
        assert not errors, (errors, context)

    def assert_healthy(self) -> None:
        self.settle()
        for port in (self.port, self.auth_port):
            assert raw_request(port, "GET", "/healthz", content_length=False).status == 200
        growth = rss_bytes() - self.rss_baseline
        assert growth < RSS_GROWTH_LIMIT, f"RSS grew by {growth / 2**20:.0f} MiB"


async def _start(tmp: Path, privacy: PrivacyEngine, classifier: TaskClassifier,
                 issuer: FakeIssuer) -> tuple[FuzzTarget, list[Any]]:
    llm, slack_api, connector = FakeOpenAI(), FakeSlackApi(), FakeConnector()
    for fake in (llm, slack_api, connector):
        await fake.start()
    policy_file = tmp / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(fake_policy(llm.base_url)), encoding="utf-8")
    common: dict[str, Any] = {"SWITCHBOARD_DATABASE_URL": "sqlite://", "SWITCHBOARD_POLICY_FILE": policy_file,
                              "SWITCHBOARD_RETRY_BASE_S": 0.01}
    dev = await build_services(Settings(_env_file=None, **common, SLACK_BOT_TOKEN="xoxb-fuzz",
                                        SLACK_SIGNING_SECRET=SECRET, SLACK_API_BASE_URL=slack_api.base_url,
                                        SWITCHBOARD_TEAMS_ANONYMOUS="true"),
                               environ=FAKE_KEYS, privacy=privacy, classifier=classifier)
    prod = await build_services(Settings(_env_file=None, **common, TEAMS_APP_ID=APP_ID, TEAMS_APP_PASSWORD="pw"),
                                environ=FAKE_KEYS, privacy=privacy, classifier=classifier)
    servers = []
    for services in (dev, prod):
        await services.warm_up(all_models=False)  # as serve does before it takes platform requests
        app = build_app(services)
        app[TEAMS].options = FAST
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
    dev_app = servers[0].app
    assert dev_app is not None and servers[0].port is not None and servers[1].port is not None
    target = FuzzTarget(loop=None, port=servers[0].port, auth_port=servers[1].port,  # type: ignore[arg-type]
                        slack_adapter=dev_app[SLACK], connector=connector, issuer=issuer, llm=llm, errors=ErrorLog(),
                        tally=Tally())
    return target, [*servers, llm, slack_api, connector]


@pytest.fixture(scope="package")
def fuzz(tmp_path_factory: pytest.TempPathFactory, privacy_engine: PrivacyEngine,
         classifier: TaskClassifier) -> Iterator[FuzzTarget]:
    loop = LoopThread()
    issuer = FakeIssuer()
    issuer.start()
    with pytest.MonkeyPatch.context() as patch:
        # botbuilder's own setting for where Bot Connector signing keys are published points at the fake
        patch.setattr(ChannelValidation, "open_id_metadata_endpoint", issuer.metadata_url)
        target, closables = loop.run(_start(tmp_path_factory.mktemp("fuzz"), privacy_engine, classifier, issuer))
        target.loop = loop
        logging.getLogger().addHandler(target.errors)
        try:
            _warm_up(target)
            yield target
        finally:
            logging.getLogger().removeHandler(target.errors)
            print(f"\nfuzz statuses per family (RSS {(rss_bytes() - target.rss_baseline) / 2**20:+.1f} MiB):\n"
                  + target.tally.report())
            for closable in reversed(closables):
                loop.run(closable.close())
            loop.close()
            JwtTokenExtractor.metadataCache.pop(issuer.metadata_url, None)
            issuer.close()


def _warm_up(target: FuzzTarget) -> None:
    """One of each path before the memory baseline: lazy imports and first-use caches are no growth."""
    from tests.fuzz.payloads import slack_dm_event, teams_message

    assert slack_signature(SECRET, "1", b"x") == SignatureVerifier(SECRET).generate_signature(timestamp="1", body="x")
    assert target.slack("warm-up", json.dumps(slack_dm_event("warm up"))).status == 200
    assert target.teams("warm-up", teams_message(target.service_url, "warm up")).status == 200
    token = target.issuer.token(app_id=APP_ID, service_url="https://smba.trafficmanager.net/emea/")
    update = {**teams_message("https://smba.trafficmanager.net/emea/", None), "type": "conversationUpdate"}
    assert target.teams("warm-up", update, auth=True, headers=[("Authorization", f"Bearer {token}")]).status == 200
    target.settle()
    target.rss_baseline = rss_bytes()
