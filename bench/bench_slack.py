"""Slack ack latency and exactly-once answers under load.

A `switchboard serve`-equivalent aiohttp server (build_services + build_app, a SQLite file database,
real Presidio and classifier) with Slack pointed at the fake Web API and models at the fake
OpenAI-compatible server, both on loopback. N concurrent signed DM events, plus Slack-style
retries (X-Slack-Retry-Num, same event_id) of some of them, then:

  * ack latency p50/p99 (target: p99 < 300 ms),
  * lost answers (an event without a finished reply) and duplicated ones (a thread with more
    than one answer): both must be zero.

Run: .venv/bin/python bench/bench_slack.py [--events 50] [--retries 15] [--llm-delay 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import SLACK, build_app
from bot.services import build_services
from bot.settings import Settings
from tests.conftest import FAKE_KEYS, fake_policy
from tests.fakes.openai_server import FakeOpenAI
from tests.slack.conftest import SECRET, TOKEN, dm, event_body, signed_headers
from tests.slack.fake_slack_api import FakeSlackApi

QUESTIONS = [
    "Summarise: the van arrives on Tuesday and leaves on Friday.",
    "Write a short job ad for a CNC operator in Poznań.",
    "Translate to German: the invoice is attached.",
    "Write a SQL query that counts orders per customer.",
    "Compare two offers for hydraulic valves and list the risks.",
    "Call Anna Kowalska on +48 601 234 567 about the contract.",
]


async def post(http: aiohttp.ClientSession, url: str, event: dict[str, object], event_id: str,
               retry: int) -> tuple[float, int]:
    body = json.dumps(event_body(event, event_id=event_id))
    headers = signed_headers(body)
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    started = time.perf_counter()
    async with http.post(url, data=body.encode(), headers=headers) as resp:
        await resp.read()
        return (time.perf_counter() - started) * 1000, resp.status


async def run(events: int, retries: int, llm_delay: float) -> int:
    llm, api = FakeOpenAI(delay_s=llm_delay), FakeSlackApi()
    await llm.start()
    await api.start()
    with tempfile.TemporaryDirectory() as tmp:
        policy = Path(tmp) / "policy.yaml"
        policy.write_text(yaml.safe_dump(fake_policy(llm.base_url)), encoding="utf-8")
        settings = Settings(_env_file=None, SWITCHBOARD_DATABASE_URL=f"sqlite:///{tmp}/switchboard.db",
                            SWITCHBOARD_POLICY_FILE=policy, SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET,
                            SLACK_API_BASE_URL=api.base_url)
        services = await build_services(settings, environ=FAKE_KEYS)
        await services.warm_up()
        app = build_app(services)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/slack/events"
        sent = [(dm(QUESTIONS[i % len(QUESTIONS)], user=f"UBENCH{i:03d}", channel=f"D0BENCH{i:03d}"),
                 f"EvBENCH{i:05d}") for i in range(events)]
        deliveries = [(e, eid, 0) for e, eid in sent] + [(e, eid, 1) for e, eid in sent[:retries]]
        async with aiohttp.ClientSession() as http:
            # one warm-up request: bolt calls auth.test once, like the first event after a deploy
            await post(http, url, dm("warm up", user="UWARM", channel="D0WARM"), "EvWARM", 0)
            await app[SLACK].drain()
            started = time.perf_counter()
            results = await asyncio.gather(*(post(http, url, e, eid, r) for e, eid, r in deliveries))
            acked = time.perf_counter() - started
            await app[SLACK].drain(timeout_s=120)
            done = time.perf_counter() - started
        await runner.cleanup()
    await llm.close()
    await api.close()

    latencies = sorted(ms for ms, _ in results)
    bad_status = sum(status != 200 for _, status in results)
    answers = {str(e["ts"]): api.thread_messages(str(e["ts"])) for e, _ in sent}
    lost = sum(1 for msgs in answers.values() if not msgs or "blocks" not in msgs[-1])
    duplicated = sum(1 for msgs in answers.values() if len(msgs) > 1)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    print(f"deliveries: {len(deliveries)} ({events} events + {retries} retries), non-200 acks: {bad_status}")
    print(f"ack latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms "
          f"(all acked in {acked:.2f} s)")
    print(f"answers: {sum(bool(m) for m in answers.values())}/{events} threads answered, lost {lost}, "
          f"duplicated {duplicated}; LLM calls {len(llm.requests) - 1}; all answered in {done:.2f} s")
    ok = p99 < 300 and lost == 0 and duplicated == 0 and bad_status == 0 and len(llm.requests) - 1 == events
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--retries", type=int, default=15)
    parser.add_argument("--llm-delay", type=float, default=0.2)
    args = parser.parse_args()
    return asyncio.run(run(args.events, args.retries, args.llm_delay))


if __name__ == "__main__":
    raise SystemExit(main())
