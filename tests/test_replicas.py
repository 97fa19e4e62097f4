"""Two `switchboard serve` processes on loopback sharing one PostgreSQL, started like a user would (the CLI with
environment variables), with Slack's Web API and the models replaced by the fakes: a Slack event delivered
to both (a retry landing on the other) is answered once; a policy change made through one applies on the
other at the next message; a pseudonymised conversation keeps its placeholders when its turns alternate
between them; a cooldown tripped on one is honoured by the other. The same for the vault and cooldowns
with Redis (SWITCHBOARD_REDIS_URL) when Debian's redis-server is installed, there with both replicas' services
built in the test process."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.commands import CommandContext, CommandProcessor
from bot.types import ChatMessage
from tests.conftest import ServicesFactory
from tests.fakes.openai_server import FakeOpenAI, Fault
from tests.postgres import PostgresServer
from tests.slack.conftest import ADMIN, dm, event_body, signed_headers
from tests.slack.fake_slack_api import TEAM, FakeSlackApi
from tests.test_serve import _serve_env, _start, _stop

EMAIL_1, EMAIL_2 = "anna.kowalska@example.pl", "jan.nowak@example.pl"


@dataclass
class Replica:
    name: str
    proc: asyncio.subprocess.Process
    base: str
    log: Path

    def log_tail(self) -> str:
        return f"--- replica {self.name} ---\n" + self.log.read_text(encoding="utf-8", errors="replace")[-3000:]


@dataclass
class Cluster:
    a: Replica
    b: Replica
    api: FakeSlackApi
    llm: FakeOpenAI
    http: aiohttp.ClientSession

    def logs(self) -> str:
        return self.a.log_tail() + "\n" + self.b.log_tail()

    async def post(self, replica: Replica, body: str, headers: dict[str, str]) -> int:
        async with self.http.post(replica.base + "/slack/events", data=body.encode(), headers=headers) as resp:
            await resp.read()
            return resp.status

    async def event(self, replica: Replica, event: dict[str, Any], *, event_id: str | None = None,
                    retry: int = 0) -> int:
        body = json.dumps(event_body(event, event_id=event_id))
        headers = signed_headers(body)
        if retry:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post(replica, body, headers)

    async def command(self, replica: Replica, text: str) -> int:
        body = urlencode({"token": "legacy", "team_id": TEAM, "channel_id": "C0GENERAL", "user_id": ADMIN,
                          "command": "/switchboard", "text": text, "api_app_id": "A0APP",
                          "response_url": self.api.response_url(), "trigger_id": "1.2.3"})
        return await self.post(replica, body, signed_headers(body, content_type="application/x-www-form-urlencoded"))

    def answers(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """The finished answers in the event's thread (the placeholder, once final, carries blocks)."""
        thread = str(event.get("thread_ts") or event["ts"])
        return [m for m in self.api.thread_messages(thread) if "blocks" in m and "Thinking" not in m["text"]]

    async def until(self, condition: Callable[[], bool | Awaitable[bool]], *, within_s: float, what: str) -> None:
        deadline = time.monotonic() + within_s
        while True:
            done = condition()
            if not isinstance(done, bool):
                done = await done
            if done:
                return
            if time.monotonic() > deadline or None not in (self.a.proc.returncode, self.b.proc.returncode):
                pytest.fail(f"{what}: not within {within_s:.0f} s\n{self.logs()}")
            await asyncio.sleep(0.05)

    async def ready(self, replica: Replica) -> bool:
        try:
            async with self.http.get(replica.base + "/readyz") as resp:
                return resp.status == 200
        except aiohttp.ClientConnectionError:
            return False

    async def answered(self, replica: Replica, event: dict[str, Any], what: str) -> dict[str, Any]:
        """Deliver `event` to `replica`; its one answer (the thread's one new answer)."""
        before = len(self.answers(event))
        assert await self.event(replica, event) == 200
        await self.until(lambda: len(self.answers(event)) > before, within_s=30, what=what)
        answers = self.answers(event)
        assert len(answers) == before + 1
        return answers[-1]


@asynccontextmanager
async def cluster(tmp_path: Path, pg: PostgresServer, **extra: str) -> AsyncIterator[Cluster]:
    api, llm = FakeSlackApi(), FakeOpenAI()
    await api.start()
    await llm.start()
    env = {"SWITCHBOARD_DATABASE_URL": pg.url, "SWITCHBOARD_ADMINS": f"slack:{TEAM}:{ADMIN}",
           "SWITCHBOARD_LLM_RETRIES": "0", "SWITCHBOARD_CACHE": "false", **extra}
    replicas: list[Replica] = []
    try:
        async with aiohttp.ClientSession() as http:
            for name in ("a", "b"):
                (tmp_path / name).mkdir()
                log = tmp_path / name / "serve.log"
                proc, base = await _start(_serve_env(tmp_path / name, api, llm, **env), log)
                replicas.append(Replica(name=name, proc=proc, base=base, log=log))  # together: the migration lock
            both = Cluster(a=replicas[0], b=replicas[1], api=api, llm=llm, http=http)
            for r in replicas:
                await both.until(lambda r=r: both.ready(r), within_s=120, what=f"replica {r.name} ready")
            yield both
    finally:
        for r in replicas:
            await _stop(r.proc)
        await llm.close()
        await api.close()


def _sent(llm: FakeOpenAI, since: int) -> list[list[str]]:
    """The prompts (message contents) the fake model received from request number `since` on."""
    return [[m["content"] for m in r["messages"]] for r in llm.requests[since:]]


async def _placeholders_survive_alternating_replicas(both: Cluster) -> None:
    first = dm(f"Email {EMAIL_1} that the order shipped.", channel="D0PSEUDO1")
    asked = len(both.llm.requests)
    answer = await both.answered(both.b, first, "the first pseudonymised answer (replica B)")
    [prompt] = _sent(both.llm, asked)
    assert EMAIL_1 not in prompt[-1] and "<EMAIL_ADDRESS_1>" in prompt[-1], both.logs()
    assert EMAIL_1 in answer["text"]  # the echoed placeholder came back as the value
    second = dm(f"Also tell {EMAIL_2}, and copy {EMAIL_1} again.", channel="D0PSEUDO1", thread_ts=first["ts"])
    asked = len(both.llm.requests)
    await both.answered(both.a, second, "the follow-up on replica A")
    [prompt_a] = _sent(both.llm, asked)
    assert prompt_a[-3] == prompt[-1]  # the first turn, pseudonymised by A as B did
    assert "<EMAIL_ADDRESS_2>" in prompt_a[-1] and "<EMAIL_ADDRESS_1>" in prompt_a[-1]
    assert EMAIL_1 not in " ".join(prompt_a) and EMAIL_2 not in " ".join(prompt_a)
    third = dm(f"Thanks. Did {EMAIL_2} reply?", channel="D0PSEUDO1", thread_ts=first["ts"])
    asked = len(both.llm.requests)
    answer = await both.answered(both.b, third, "the third turn, back on replica B")
    [prompt_b] = _sent(both.llm, asked)
    assert prompt_b[-5:-2] == prompt_a[-3:]  # every earlier turn as A sent it
    assert "<EMAIL_ADDRESS_2>" in prompt_b[-1]
    assert EMAIL_2 in answer["text"]


async def _a_cooldown_on_one_is_honoured_by_the_other(both: Cluster) -> None:
    both.llm.fail("us-small", Fault(status=503))  # whoever calls us-small next gets one 503
    asked = len(both.llm.requests)
    await both.answered(both.a, dm("What time does the canteen open today?", channel="D0COOL1"),
                        "A's answer after the 503")
    assert [r["model"] for r in both.llm.requests[asked:]] == ["us-small", "us-premium"], both.logs()
    asked = len(both.llm.requests)
    await both.answered(both.b, dm("Where is the nearest printer?", channel="D0COOL2"), "B's answer")
    # B never saw us-small fail, and would get an answer from it now: it skips it because A tripped it
    assert [r["model"] for r in both.llm.requests[asked:]] == ["us-premium"], both.logs()


@pytest.mark.timeout(300)
async def test_two_replicas_on_one_postgresql(tmp_path: Path, pg: PostgresServer) -> None:
    async with cluster(tmp_path, pg) as both:
        # a Slack event delivered to both replicas (the retry lands on the other) is answered once
        event = dm("Summarise: the van arrives on Tuesday and leaves on Friday.", channel="D0TWICE1")
        statuses = await asyncio.gather(both.event(both.a, event, event_id="EvTWICE"),
                                        both.event(both.b, event, event_id="EvTWICE", retry=1))
        assert list(statuses) == [200, 200]
        await both.until(lambda: bool(both.answers(event)), within_s=30, what="the answer to the event")
        await asyncio.sleep(1.0)  # time for a second answer, were there one
        assert len(both.answers(event)) == 1 and len(both.llm.requests) == 1, both.logs()
        posted = [c for c in both.api.calls_to("chat.postMessage") if c.args.get("thread_ts") == event["ts"]]
        assert len(posted) == 1

        # a policy change made through A applies on B at its next message: pseudonymise personal data
        assert await both.command(both.a, "policy pin personal pseudonymise") == 200
        await both.until(lambda: any("Policy v2" in str(r.get("text")) for r in both.api.responses),
                         within_s=30, what="A confirming the policy change")
        await _placeholders_survive_alternating_replicas(both)
        await _a_cooldown_on_one_is_honoured_by_the_other(both)
    assert "shared through the database" in both.a.log.read_text()


async def test_two_replicas_sharing_redis(make_services: ServicesFactory, fake_llm: FakeOpenAI, pg: PostgresServer,
                                         redis_url: str) -> None:
    """The Redis variant, with the two replicas' services in this process (two serve processes take ~50 s to
    warm up on a busy machine): each has its own database engine, cooldowns, statistics and vault client;
    what they share is PostgreSQL and Redis."""
    settings = {"SWITCHBOARD_DATABASE_URL": pg.url, "SWITCHBOARD_REDIS_URL": redis_url, "SWITCHBOARD_CACHE": False,
                "SWITCHBOARD_LLM_RETRIES": 0}
    a = await make_services(warm=False, **settings)
    b = await make_services(warm=False, **settings)
    assert a.shared.kind == b.shared.kind == "redis" and a.shared.vault is not b.shared.vault
    admin = CommandContext(platform="test", tenant="T", channel="C", user="boss", is_admin=True)
    assert (await CommandProcessor(memory=a.memory, policies=a.policies).execute(
        admin, "policy pin personal pseudonymise")).ok

    def turn(text: str) -> ChatMessage:
        return ChatMessage(platform="test", tenant="T", channel="D1", thread="t1", user="U1", text=text)

    sent: list[str] = []
    for services, text_ in ((b, f"Email {EMAIL_1} that the order shipped."),
                            (a, f"Also tell {EMAIL_2}, and copy {EMAIL_1} again."),
                            (b, f"Thanks. Did {EMAIL_2} reply?")):
        asked = len(fake_llm.requests)
        reply = await services.pipeline.handle(turn(text_))
        [prompt] = _sent(fake_llm, asked)
        users = [m["content"] for m in fake_llm.requests[asked]["messages"] if m["role"] == "user"]
        assert users[:-1] == sent  # the earlier user turns as the other replica sent them
        sent.append(prompt[-1])
        assert EMAIL_1 not in " ".join(prompt) and EMAIL_2 not in " ".join(prompt)
        assert "<EMAIL_ADDRESS" not in reply.text
    assert "<EMAIL_ADDRESS_1>" in sent[0] and "<EMAIL_ADDRESS_2>" in sent[1] and "<EMAIL_ADDRESS_1>" in sent[1]
    assert "<EMAIL_ADDRESS_2>" in sent[2]

    fake_llm.fail("us-small", Fault(status=503))
    asked = len(fake_llm.requests)
    await a.pipeline.handle(ChatMessage(platform="test", tenant="T", channel="D2", thread="t2", user="U1",
                                        text="What time does the canteen open today?"))
    assert fake_llm.models_called()[asked:] == ["us-small", "us-premium"]
    asked = len(fake_llm.requests)
    await b.pipeline.handle(ChatMessage(platform="test", tenant="T", channel="D3", thread="t3", user="U1",
                                        text="Where is the nearest printer?"))
    assert fake_llm.models_called()[asked:] == ["us-premium"]  # B skips the model A saw fail
    for services in (a, b):
        await services.aclose()
        services.memory.engine.dispose()
