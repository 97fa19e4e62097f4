"""Scale-out: sustained Slack load against one and two `switchboard serve` replicas on one PostgreSQL.

Real `switchboard serve` subprocesses (this checkout's code) share one throw-away PostgreSQL
(tests/postgres.py, Debian's server binaries); Slack's Web API is the fake of tests/slack and every model is
the fake OpenAI-compatible server with a fixed delay (200 ms) before it answers; both fakes run in this
process on loopback. Events are signed DMs, each one a new question with its own number (so the semantic
cache never serves one), sent open-loop at a fixed rate and spread round-robin over the replicas (what a
Service in front of them does).

  1. Rate steps, for one replica and then for two: at each offered rate (messages per second) for
     `--step-s` seconds, the end-to-end time of every message — from the event POST to the answer posted
     to the fake Slack API (the thread's message with blocks) — is measured; a message not answered
     within `--give-up-s` counts as lost. A step passes when p99 < 2 s and nothing is lost or refused;
     the rate reported is the highest passing step (stepping stops after two failing steps in a row).
  2. Soak, two replicas: `--messages` messages (10,000 by default) at `--soak-rate` (default: half of the
     two-replica figure); the RSS of each replica is printed every 1,000 messages (`--rss-every`) and its
     trend fitted (least squares, MB per 1,000 messages, from the second sample on).

CPU per replica (cores busy, from /proc) is printed for each step, to size Kubernetes requests.

Run: .venv/bin/python bench/bench_scaleout.py [--messages 10000] [--step-s 20] [--rates 1,2,4,...]
     [--llm-delay 0.2] [--soak-rate R] [--rss-every 1000] [--blas-threads 1] [--skip-soak]

The replicas run with OPENBLAS_NUM_THREADS=1, as in the image (deploy/Dockerfile): with OpenBLAS's default
thread pool a MiniLM embedding of the semantic cache cost ~330 ms of CPU instead of ~18 ms on a busy 2-core
machine (its threads spin while they wait for a core); `--blas-threads ''` measures without it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import FAKE_KEYS, fake_policy  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.postgres import free_port, running_postgres  # noqa: E402
from tests.slack.conftest import SECRET, TOKEN, dm, event_body, signed_headers  # noqa: E402
from tests.slack.fake_slack_api import FakeSlackApi  # noqa: E402

P99_BOUND_S = 2.0
DEFAULT_RATES = "1,2,4,6,8,10,12,15,18,22,26,30,35,40"
QUESTIONS = [
    "Summarise: the van with order {n} arrives on Tuesday and leaves on Friday.",
    "Write a short job ad for CNC operator position number {n} in Poznań.",
    "Translate to German: invoice {n} is attached.",
    "Write a SQL query that counts orders per customer for region {n}.",
    "Compare two offers for hydraulic valves, tender {n}, and list the risks.",
    "Call Anna Kowalska on +48 601 234 567 about contract {n}.",
    "What is a good agenda for the quarterly review {n}?",
]
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
_seq = itertools.count(1)
_logs = itertools.count(1)


@dataclass
class TimedSlackApi(FakeSlackApi):
    """The fake Slack Web API, noting when each thread first shows a finished answer (a message with blocks)."""

    answered_at: dict[str, float] = field(default_factory=dict)
    answer_seen: asyncio.Event = field(default_factory=asyncio.Event)

    def _note(self, ts: str) -> None:
        message = self.messages.get(ts, {})
        thread = str(message.get("thread_ts") or "")
        if thread and "blocks" in message and thread not in self.answered_at:
            self.answered_at[thread] = time.monotonic()
            self.answer_seen.set()

    async def until_answered(self, threads: list[str], within_s: float) -> None:
        deadline = time.monotonic() + within_s
        while any(ts not in self.answered_at for ts in threads) and time.monotonic() < deadline:
            self.answer_seen.clear()
            try:
                await asyncio.wait_for(self.answer_seen.wait(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                return

    def _chat_postMessage(self, args: dict[str, Any]) -> web.Response:
        response = super()._chat_postMessage(args)
        self._note(json.loads(response.text or "{}").get("ts", ""))
        return response

    def _chat_update(self, args: dict[str, Any]) -> web.Response:
        response = super()._chat_update(args)
        self._note(str(args.get("ts", "")))
        return response


@dataclass
class Replica:
    proc: asyncio.subprocess.Process
    url: str
    log: Path

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20

    def peak_rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            line = next(line for line in f if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    def cpu_s(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


@dataclass
class Step:
    rate: float
    sent: int
    lost: int
    refused: int
    p50: float
    p99: float
    cpu: list[float]  # cores busy per replica

    @property
    def passed(self) -> bool:
        return self.p99 < P99_BOUND_S and self.lost == 0 and self.refused == 0



def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def start_replicas(count: int, env: dict[str, str], tmp: Path) -> list[Replica]:
    replicas = []
    for _ in range(count):
        port = free_port()
        log = tmp / f"serve-{next(_logs)}.log"
        with log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())",
                "serve", "--host", "127.0.0.1", "--port", str(port),
                env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
                cwd=ROOT)
        replicas.append(Replica(proc=proc, url=f"http://127.0.0.1:{port}", log=log))
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + 600
        for replica in replicas:
            while True:
                if replica.proc.returncode is not None or time.monotonic() > deadline:
                    raise SystemExit(f"replica did not get ready:\n{replica.log.read_text()[-3000:]}")
                try:
                    async with http.get(replica.url + "/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)
    return replicas


async def stop_replicas(replicas: list[Replica]) -> None:
    for replica in replicas:
        if replica.proc.returncode is None:
            replica.proc.terminate()
    for replica in replicas:
        try:
            await asyncio.wait_for(replica.proc.wait(), 40)
        except TimeoutError:
            replica.proc.kill()
            await replica.proc.wait()


def _event(n: int) -> tuple[dict[str, Any], str]:
    user = f"UBENCH{n % 200:04d}"
    event = dm(QUESTIONS[n % len(QUESTIONS)].format(n=n), user=user, channel=f"D0{user[1:]}",
               ts=f"{1700000000 + n // 1_000_000}.{n % 1_000_000:06d}")
    return event, f"EvSCALE{n:09d}"


async def _deliver(http: aiohttp.ClientSession, url: str, n: int, sent: dict[str, float]) -> int:
    event, event_id = _event(n)
    body = json.dumps(event_body(event, event_id=event_id))
    sent[str(event["ts"])] = time.monotonic()
    try:
        async with http.post(url + "/slack/events", data=body.encode(), headers=signed_headers(body)) as resp:
            await resp.read()
            return resp.status
    except aiohttp.ClientError:
        return 0


async def offer(http: aiohttp.ClientSession, replicas: list[Replica], api: TimedSlackApi, *, rate: float,
                count: int, give_up_s: float, on_sent: Any = None) -> tuple[list[float], int, int]:
    """Send `count` events open-loop at `rate` per second; (end-to-end seconds of the answered, lost, refused)."""
    sent: dict[str, float] = {}
    tasks = []
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_deliver(http, replicas[i % len(replicas)].url, next(_seq), sent)))
        if on_sent is not None:
            on_sent(i + 1)
    statuses = await asyncio.gather(*tasks)
    await api.until_answered(list(sent), give_up_s)
    e2e = [api.answered_at[ts] - t for ts, t in sent.items() if ts in api.answered_at]
    return e2e, len(sent) - len(e2e), sum(s != 200 for s in statuses)


async def rate_steps(http: aiohttp.ClientSession, replicas: list[Replica], api: TimedSlackApi, rates: list[float],
                     step_s: float, give_up_s: float) -> list[Step]:
    steps = []
    for rate in rates:
        cpu_before, wall = [r.cpu_s() for r in replicas], time.monotonic()
        e2e, lost, refused = await offer(http, replicas, api, rate=rate, count=max(10, round(rate * step_s)),
                                         give_up_s=give_up_s)
        elapsed = time.monotonic() - wall
        cpu = [(r.cpu_s() - b) / elapsed for r, b in zip(replicas, cpu_before, strict=True)]
        step = Step(rate=rate, sent=len(e2e) + lost, lost=lost, refused=refused,
                    p50=statistics.median(e2e) if e2e else float("inf"),
                    p99=_quantile(e2e, 0.99) if e2e else float("inf"), cpu=cpu)
        steps.append(step)
        print(f"  {len(replicas)} replica(s) {rate:5.1f} msg/s: p50 {step.p50:6.2f} s  p99 {step.p99:6.2f} s  "
              f"lost {lost}  refused {refused}  cores busy {' + '.join(f'{c:.2f}' for c in cpu)} "
              f"({sum(cpu) / rate:.2f} CPU s/msg)  "
              f"load {os.getloadavg()[0]:.1f}  {'ok' if step.passed else 'FAIL'}", flush=True)
        if len(steps) >= 2 and not steps[-1].passed and not steps[-2].passed:
            break  # two failing steps in a row: past the knee
        await asyncio.sleep(2)
    return steps


def sustained(steps: list[Step]) -> Step | None:
    """The highest passing step (one failing step below it is tolerated: on a shared machine a single step can
    catch a neighbour's burst; every step is printed)."""
    passed = [step for step in steps if step.passed]
    return max(passed, key=lambda step: step.rate) if passed else None


def trend_mb_per_1000(samples: list[tuple[int, float]]) -> float:
    """Least-squares slope of RSS (MB) over messages, per 1,000 messages."""
    if len(samples) < 2:
        return 0.0
    xs, ys = [s[0] for s in samples], [s[1] for s in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 1000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


async def soak(http: aiohttp.ClientSession, replicas: list[Replica], api: TimedSlackApi, *, messages: int,
               rate: float, give_up_s: float, rss_every: int) -> dict[int, list[tuple[int, float]]]:
    samples: dict[int, list[tuple[int, float]]] = {i: [] for i in range(len(replicas))}

    def on_sent(n: int) -> None:
        if n % rss_every == 0 or n == messages:
            rss = [r.rss_mb() for r in replicas]
            for i, mb in enumerate(rss):
                samples[i].append((n, mb))
            print(f"  after {n:6d} messages: RSS " + "  ".join(f"replica {i} {mb:7.1f} MB" for i, mb in enumerate(rss))
                  + f"  (peak {max(r.peak_rss_mb() for r in replicas):.0f} MB, load {os.getloadavg()[0]:.1f})",
                  flush=True)

    e2e, lost, refused = await offer(http, replicas, api, rate=rate, count=messages, give_up_s=give_up_s,
                                     on_sent=on_sent)
    print(f"  soak: {messages} messages at {rate:.1f} msg/s: p50 {statistics.median(e2e):.2f} s, "
          f"p99 {_quantile(e2e, 0.99):.2f} s, lost {lost}, refused {refused}", flush=True)
    return samples


async def run(args: argparse.Namespace) -> int:
    rates = [float(r) for r in args.rates.split(",")]
    llm, api = FakeOpenAI(delay_s=args.llm_delay), TimedSlackApi()
    await llm.start()
    await api.start()
    results: dict[int, list[Step]] = {}
    soak_samples: dict[int, list[tuple[int, float]]] = {}
    with running_postgres() as pg, tempfile.TemporaryDirectory() as tmpdir:
        if pg is None:
            raise SystemExit("needs PostgreSQL's server binaries (initdb, pg_ctl): apt-get install postgresql")
        tmp = Path(tmpdir)
        policy = tmp / "policy.yaml"
        policy.write_text(yaml.safe_dump(fake_policy(llm.base_url)), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_BASE"))}
        env |= FAKE_KEYS | {
            "PYTHONPATH": str(ROOT), "SWITCHBOARD_DATA_DIR": str(tmp), "SWITCHBOARD_POLICY_FILE": str(policy),
            "SWITCHBOARD_DATABASE_URL": pg.url, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_BASE_URL": api.base_url, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True", "SWITCHBOARD_LOG_LEVEL": "WARNING",
        }
        if args.blas_threads:  # deploy/Dockerfile sets OPENBLAS_NUM_THREADS=1
            env["OPENBLAS_NUM_THREADS"] = args.blas_threads
        else:
            env.pop("OPENBLAS_NUM_THREADS", None)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            for count in (1, 2):
                print(f"{count} replica(s): starting", flush=True)
                replicas = await start_replicas(count, env, tmp)
                try:
                    # one warm-up message per replica: bolt's auth.test, the first completion's lazy work
                    await offer(http, replicas, api, rate=count, count=count, give_up_s=args.give_up_s)
                    print("  ready; RSS after warm-up: " + ", ".join(f"{r.rss_mb():.0f} MB" for r in replicas)
                          + f" (peak during warm-up {max(r.peak_rss_mb() for r in replicas):.0f} MB)", flush=True)
                    results[count] = await rate_steps(http, replicas, api, rates, args.step_s, args.give_up_s)
                    if count == 2 and not args.skip_soak:
                        best = sustained(results[2])
                        rate = args.soak_rate or max(1.0, (best.rate if best else rates[0]) / 2)
                        soak_samples = await soak(http, replicas, api, messages=args.messages, rate=rate,
                                                  give_up_s=args.give_up_s, rss_every=args.rss_every)
                finally:
                    await stop_replicas(replicas)
    await llm.close()
    await api.close()
    report(results, soak_samples, args)
    return 0


def report(results: dict[int, list[Step]], soak_samples: dict[int, list[tuple[int, float]]],
           args: argparse.Namespace) -> None:
    one, two = sustained(results.get(1, [])), sustained(results.get(2, []))
    print(f"\nsustained rate with p99 end-to-end < {P99_BOUND_S:.0f} s (fake LLM {args.llm_delay * 1000:.0f} ms, "
          f"steps of {args.step_s:.0f} s, {os.cpu_count()} cores shared by replicas, PostgreSQL and this load "
          "generator):")
    print(f"  {'':22s}{'1 replica':>14s}{'2 replicas':>14s}")
    print(f"  {'messages/s':22s}{(one.rate if one else 0):>14.1f}{(two.rate if two else 0):>14.1f}")
    print(f"  {'p50 at that rate (s)':22s}{(one.p50 if one else 0):>14.2f}{(two.p50 if two else 0):>14.2f}")
    print(f"  {'p99 at that rate (s)':22s}{(one.p99 if one else 0):>14.2f}{(two.p99 if two else 0):>14.2f}")
    print(f"  {'cores busy / replica':22s}{(max(one.cpu) if one else 0):>14.2f}"
          f"{(max(two.cpu) if two else 0):>14.2f}")
    ratio = (two.rate / one.rate) if one and two else 0.0
    print(f"  ratio two/one: {ratio:.2f} (goal >= 1.8)")
    if soak_samples:
        for i, samples in soak_samples.items():
            peak = max(mb for _, mb in samples)
            slope = trend_mb_per_1000(samples[1:] if len(samples) > 2 else samples)  # after the first sample
            print(f"  replica {i}: RSS {samples[0][1]:.0f} -> {samples[-1][1]:.0f} MB over {samples[-1][0]} messages, "
                  f"peak {peak:.0f} MB (goal <= 1536), trend {slope:+.1f} MB per 1,000 messages")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages of the two-replica soak")
    parser.add_argument("--rates", default=DEFAULT_RATES, help="offered rates to step through, msg/s")
    parser.add_argument("--step-s", type=float, default=20.0, help="seconds at each rate")
    parser.add_argument("--give-up-s", type=float, default=30.0, help="an answer later than this is lost")
    parser.add_argument("--llm-delay", type=float, default=0.2, help="the fake LLM's delay, seconds")
    parser.add_argument("--soak-rate", type=float, default=0.0, help="msg/s of the soak (default: half of two's)")
    parser.add_argument("--rss-every", type=int, default=1000, help="print the replicas' RSS every N messages")
    parser.add_argument("--blas-threads", default="1",
                        help="OPENBLAS_NUM_THREADS of the replicas (default 1, as the image sets it; '' for unset)")
    parser.add_argument("--skip-soak", action="store_true")
    return asyncio.run(_interruptible(run(parser.parse_args())))


async def _interruptible(work: Any) -> int:
    """SIGTERM/SIGINT cancel the run, so its replicas and PostgreSQL are stopped on the way out."""
    task: asyncio.Task[int] = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
