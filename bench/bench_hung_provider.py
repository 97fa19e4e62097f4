"""How long a user waits for an answer when the primary provider hangs, with the default policy's deadlines.

Usage, from the project checkout:
    .venv/bin/python bench/bench_hung_provider.py [--samples 5] [--scenarios before-headers,after-headers,mid-stream]
                                                  [--baseline] [--baseline-samples 1] [--baseline-rev REV]

A fake OpenAI-compatible server on loopback serves a chain of two models, primary and fallback. The
primary hangs for ten minutes in one of three ways: before its response headers, after the headers
before the first chunk, or mid-stream after three chunks. The answer streams as in Slack (an
`on_partial` callback) through `StrategyRunner` (task strategy) with the default retry policy and the
default policy's deadlines. Printed per scenario: the median wait until the fallback's complete
answer, each sample with fresh cooldowns (the first request that meets the hung provider), and the
median of a request sent right after it (the primary then cools down and is skipped).

`--baseline` also runs the provider code as it was before deadlines (`routing/providers.py` at REV,
loaded from git; its defaults: one 60 s timeout per attempt, two retries with backoff, no stall
timeout). That takes about three minutes per sample and scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BEFORE_DEADLINES = "9539823"  # the last commit before deadlines: 60 s per attempt, three attempts
HANG_S = 600.0
KEYS = {"K": "sk-bench"}
MESSAGES = [{"role": "user", "content": "When does the warehouse open on Monday?"}]


def scenarios() -> dict[str, Any]:
    from tests.fakes.openai_server import Fault

    return {"before-headers": Fault(delay_s=HANG_S), "after-headers": Fault(first_chunk_delay_s=HANG_S),
            "mid-stream": Fault(stall_after_chunks=3, stall_s=HANG_S)}


def load_baseline(rev: str) -> Any:
    """`routing/providers.py` as it was at `rev`, imported under its own name next to today's modules."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:routing/providers.py"], check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "providers_before_deadlines.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("providers_before_deadlines", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


async def measure(ask: Callable[[], Awaitable[str]], reset: Callable[[], None], samples: int) -> tuple[float, float]:
    """(median seconds of the first request meeting the hang, median seconds of the request right after)."""
    first, after = [], []
    for _ in range(samples):
        reset()
        for bucket in (first, after):
            started = time.perf_counter()
            model = await ask()
            bucket.append(time.perf_counter() - started)
            assert model.endswith("fallback"), model
    return statistics.median(first), statistics.median(after)


async def bench(args: argparse.Namespace) -> None:
    from routing.litellm_env import import_litellm
    from routing.policy import Deadlines, ModelSpec, Strategy, load_policy
    from routing.providers import Cooldowns, LiteLLMClient, RetryPolicy
    from routing.router import RoutingDecision
    from routing.stats import LiveStats
    from routing.strategies import StrategyRequest, StrategyRunner
    from tests.fakes.openai_server import FakeOpenAI

    fake = FakeOpenAI()
    await fake.start()
    chain = tuple(ModelSpec(id=f"openai/{name}", region="eu", tier="cheap", env=("K",), api_key_env="K",
                            api_base=fake.base_url, input_price=0.2, output_price=0.6)
                  for name in ("primary", "fallback"))
    decision = RoutingDecision(task="general", task_confidence=1.0, strategy=Strategy.TASK, chain=chain,
                               reason="bench", policy_version=1)
    deadlines: Deadlines = load_policy().deadlines
    shown: list[str] = []

    async def on_partial(text: str) -> None:  # what Slack's stream does, minus the HTTP call
        shown.append(text)

    stream = await import_litellm().acompletion(model="openai/warm", messages=MESSAGES, api_base=fake.base_url,
                                                api_key="sk", stream=True, num_retries=0)
    async for _ in stream:  # LiteLLM's first call in a process sets itself up (~1 s): not part of the figures
        pass

    state: dict[str, Any] = {}

    async def ask_now() -> str:
        request = StrategyRequest(decision=decision, messages=MESSAGES, allowed=chain, on_partial=on_partial,
                                  deadlines=deadlines)
        return (await state["runner"].run(request)).model.id

    old = load_baseline(args.baseline_rev) if args.baseline else None

    async def ask_before() -> str:
        assert old is not None
        done = await old.complete_with_fallbacks(client=old.LiteLLMClient(timeout_s=60.0, environ=KEYS), chain=chain,
                                                 messages=MESSAGES, retry=old.RetryPolicy(),
                                                 cooldowns=state["cooldowns"], on_partial=on_partial)
        return str(done.model.id)

    print(f"default deadlines: connect {deadlines.connect_s:g} s, first token {deadlines.first_token_s:g} s, "
          f"stall {deadlines.stall_s:g} s, total {deadlines.total_s:g} s; retries {RetryPolicy().retries}")
    print(f"{'primary hangs':<16} {'code':<16} {'samples':>7} {'1st request s':>14} {'next request s':>15}")
    for name in args.scenarios.split(","):
        fault = scenarios()[name]

        def reset_now(fault: Any = fault) -> None:
            fake.faults.clear()
            fake.fail("primary", fault, fault, fault)  # enough for every attempt the code may make
            state["runner"] = StrategyRunner(client=LiteLLMClient(environ=KEYS), retry=RetryPolicy(),
                                             cooldowns=Cooldowns(), stats=LiveStats())

        first, after = await measure(ask_now, reset_now, args.samples)
        print(f"{name:<16} {'deadlines':<16} {args.samples:>7} {first:>14.2f} {after:>15.2f}", flush=True)
        if old is not None:
            def reset_before(fault: Any = fault) -> None:
                fake.faults.clear()
                fake.fail("primary", fault, fault, fault)
                state["cooldowns"] = old.Cooldowns()

            first, after = await measure(ask_before, reset_before, args.baseline_samples)
            print(f"{name:<16} {'before (' + args.baseline_rev[:7] + ')':<16} {args.baseline_samples:>7} "
                  f"{first:>14.2f} {after:>15.2f}", flush=True)
    await fake.close()


def main() -> None:
    for name in ("routing.providers", "providers_before_deadlines"):  # each timeout is logged as a warning
        logging.getLogger(name).setLevel(logging.ERROR)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--scenarios", default="before-headers,after-headers,mid-stream")
    p.add_argument("--baseline", action="store_true", help="also run the code before deadlines (slow: ~3 min each)")
    p.add_argument("--baseline-samples", type=int, default=1)
    p.add_argument("--baseline-rev", default=BEFORE_DEADLINES)
    asyncio.run(bench(p.parse_args()))


if __name__ == "__main__":
    main()
