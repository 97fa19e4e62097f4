"""The routing layer's added latency over plain `litellm.acompletion`, same fake server, same run.

Usage, from the project checkout:
    .venv/bin/python bench/bench_overhead.py [--reps 5] [--delay-ms 50] [--requests 40] [--skip-privacy]

A fake OpenAI-compatible server with a fixed delay runs in its own process (so its work does
not share our event loop). Each repetition runs, at 1 and at 50 concurrent conversations, the
same number of requests once through plain `litellm.acompletion` and once through the routing
layer: task classification (on the event loop, as the pipeline does: ~0.1 ms) → `decide()` with the
privacy verdict → `StrategyRunner` (task strategy: retries, cooldowns, live stats) →
`LiteLLMClient`. Plain and routed runs alternate inside each repetition. Printed: medians over
the repetitions of p50/p99 per request, the added milliseconds and the ratios. `LiteLLMClient`
streams every call (so first-token and stall timeouts apply), so the routed path is compared
with plain streaming (`stream`) as well as with plain non-streaming calls (`plain`): the
difference between those two is what LiteLLM's stream handling costs.

Privacy analysis is excluded from the routed path (it runs concurrently with classification
in the pipeline) and measured separately at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXTS = ["When is the canteen open on Fridays?", "Summarise: the van arrives Tuesday and leaves Friday.",
         "Write a short slogan for our new valve line.", "Fix this SQL: SELEC * FROM orders",
         "Translate to German: the invoice is attached.", "Compare the two offers for the forklift lease."]


def _serve(delay_s: float, ports: Any) -> None:
    from aiohttp import web

    from tests.fakes.openai_server import FakeOpenAI

    async def main() -> None:
        fake = FakeOpenAI(delay_s=delay_s)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", fake._completions)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        while True:
            fake.requests.clear()
            await asyncio.sleep(5)

    asyncio.run(main())


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def run_load(call: Callable[[str], Awaitable[None]], *, concurrency: int, total: int) -> list[float]:
    per_conv = max(1, total // concurrency)
    latencies: list[float] = []

    async def conversation(c: int) -> None:
        for i in range(per_conv):
            started = time.perf_counter()
            await call(TEXTS[(c + i) % len(TEXTS)])
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(conversation(c) for c in range(concurrency)))
    return latencies


async def bench(args: argparse.Namespace) -> None:
    from privacy.engine import Segment, build_privacy_engine
    from privacy.verdict import PrivacyAction, PrivacyVerdict, Sensitivity
    from routing.classifier import build_task_classifier
    from routing.litellm_env import import_litellm
    from routing.policy import policy_from_data
    from routing.providers import Cooldowns, LiteLLMClient, RetryPolicy
    from routing.router import allowed_models, decide
    from routing.stats import LiveStats
    from routing.strategies import StrategyRequest, StrategyRunner

    ports: Any = mp.get_context("spawn").Queue()
    server = mp.get_context("spawn").Process(target=_serve, args=(args.delay_ms / 1000, ports), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{ports.get(timeout=60)}/v1"
    litellm = import_litellm()
    tasks = ["creative", "code", "analysis", "translation", "summarization", "general"]
    model = {"id": "openai/bench-eu", "region": "eu", "tier": "cheap", "env": ["K"], "api_key_env": "K",
             "api_base": base, "input_price": 0.2, "output_price": 0.6}
    backup = {**model, "id": "openai/bench-eu-2"}
    policy = policy_from_data({"models": [model, backup],
                               "rules": {t: {"candidates": ["openai/bench-eu", "openai/bench-eu-2"]} for t in tasks}},
                              source="bench")
    verdict = PrivacyVerdict(level=Sensitivity.PUBLIC, action=PrivacyAction.ALLOW, reason="bench")
    classifier = build_task_classifier()
    classifier.warm_up()
    started = time.perf_counter()
    for i in range(100):
        classifier.classify(TEXTS[i % len(TEXTS)])
    classify_ms = (time.perf_counter() - started) * 10
    allowed = tuple(allowed_models(policy, verdict))
    runner = StrategyRunner(client=LiteLLMClient(environ={"K": "sk-bench"}),
                            retry=RetryPolicy(), cooldowns=Cooldowns(), stats=LiveStats())

    async def plain(text: str) -> None:
        resp = await litellm.acompletion(model="openai/bench-eu", api_base=base, api_key="sk-bench", timeout=30,
                                         num_retries=0, messages=[{"role": "user", "content": text}])
        assert resp.choices[0].message.content

    async def plain_stream(text: str) -> None:
        stream = await litellm.acompletion(model="openai/bench-eu", api_base=base, api_key="sk-bench", timeout=30,
                                           num_retries=0, messages=[{"role": "user", "content": text}], stream=True,
                                           stream_options={"include_usage": True})
        parts = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
        assert "".join(parts)

    async def routed(text: str) -> None:
        prediction = classifier.classify(text)  # on the loop, as the pipeline does (~0.1 ms)
        decision = decide(policy=policy, task=prediction.task, task_confidence=prediction.confidence,
                          verdict=verdict)
        done = await runner.run(StrategyRequest(decision=decision, allowed=allowed,
                                                messages=[{"role": "user", "content": text}]))
        assert done.text

    fixed_task = "general"

    async def strategy_only(text: str) -> None:
        decision = decide(policy=policy, task=fixed_task, task_confidence=1.0, verdict=verdict)
        done = await runner.run(StrategyRequest(decision=decision, allowed=allowed,
                                                messages=[{"role": "user", "content": text}]))
        assert done.text

    modes: dict[str, Callable[[str], Awaitable[None]]] = {"plain": plain, "stream": plain_stream, "routed": routed,
                                                          "no-clf": strategy_only}
    for warm in modes.values():  # connection pools, lazy imports, cost map
        await run_load(warm, concurrency=5, total=20)

    print(f"fake server delay {args.delay_ms} ms, {args.reps} repetitions, {args.requests} requests at c=1 and "
          f"{args.requests * 10} at c=50 per mode and repetition")
    header = f"{'conc':>4} {'mode':>7} {'p50 ms':>8} {'p99 ms':>8}"
    print(f"classify alone: {classify_ms:.2f} ms CPU per message")
    print(header)
    summary = []
    for concurrency, total in ((1, args.requests), (50, args.requests * 10)):
        p50s: dict[str, list[float]] = {k: [] for k in modes}
        p99s: dict[str, list[float]] = {k: [] for k in modes}
        for rep in range(args.reps):
            order = list(modes.items())
            for name, fn in order[rep % len(order):] + order[:rep % len(order)]:  # no mode always runs first
                lat = await run_load(fn, concurrency=concurrency, total=total)
                p50s[name].append(pct(lat, 0.50))
                p99s[name].append(pct(lat, 0.99))
        med = {k: (statistics.median(p50s[k]), statistics.median(p99s[k])) for k in p50s}
        for name in modes:
            print(f"{concurrency:>4} {name:>7} {med[name][0]:8.2f} {med[name][1]:8.2f}")
        summary.append((concurrency, med))
    for ref in ("plain", "stream"):
        print(f"\nadded over {ref} litellm (medians over repetitions); routed = classifier + decide + strategy, "
              "no-clf = decide + strategy + client only:")
        for concurrency, med in summary:
            for name in ("routed", "no-clf"):
                add50, add99 = med[name][0] - med[ref][0], med[name][1] - med[ref][1]
                ok = "OK" if add50 <= 5 and add99 <= 20 else "OVER TARGET"
                print(f"  c={concurrency:<3} {name:>7}: p50 {add50:+.2f} ms (ratio {med[name][0] / med[ref][0]:.3f})"
                      f"  p99 {add99:+.2f} ms (ratio {med[name][1] / med[ref][1]:.3f})"
                      f"  [targets p50 ≤ 5 ms, p99 ≤ 20 ms: {ok}]")

    if not args.skip_privacy:
        engine = build_privacy_engine(timeout_s=10)
        engine.warm_up()
        lat = []
        for i in range(60):
            text = TEXTS[i % len(TEXTS)] + f" (ticket {i})"
            started = time.perf_counter()
            await engine.assess([Segment("message", text)], rules=policy.privacy)
            lat.append((time.perf_counter() - started) * 1000)
        print(f"\nprivacy analysis (separate, one message, no history): p50 {pct(lat, 0.5):.2f} ms, "
              f"p99 {pct(lat, 0.99):.2f} ms")
    server.terminate()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--delay-ms", type=float, default=50.0)
    p.add_argument("--requests", type=int, default=40, help="requests per mode and repetition at c=1 (×10 at c=50)")
    p.add_argument("--skip-privacy", action="store_true")
    asyncio.run(bench(p.parse_args()))


if __name__ == "__main__":
    main()
