"""Routing decision latency (privacy verdict + task classification + model choice, no LLM call)
over the dev set, side by side with plain Presidio (en_core_web_sm, every message as English).

    .venv/bin/python bench/bench_routing.py [--reps 5] [--data ../shared/datasets/routing_dev.jsonl]

Prints p50/p99 per message for both, medians over the repetitions, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _switchboard_times(texts: list[str]) -> list[float]:
    from bot.services import build_services
    from bot.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        services = await build_services(Settings(_env_file=None, SWITCHBOARD_DATA_DIR=tmp), environ={})
        await services.warm_up()
        for text in texts[:20]:  # warm caches and code paths
            await services.pipeline.dry_run(text)
        times = []
        for text in texts:
            start = time.perf_counter()
            await services.pipeline.dry_run(text)
            times.append((time.perf_counter() - start) * 1000)
        services.memory.engine.dispose()
    return times


def _presidio_times(texts: list[str]) -> list[float]:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from privacy.engine import offline_tldextract, spacy_model_path

    offline_tldextract()
    nlp = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": spacy_model_path()}]}).create_engine()
    engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    for text in texts[:20]:
        engine.analyze(text=text, language="en")
    times = []
    for text in texts:
        start = time.perf_counter()
        engine.analyze(text=text, language="en")
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/datasets/routing_dev.jsonl"))
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    texts = [json.loads(line)["text"] for line in a.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    import logging

    logging.disable(logging.WARNING)
    runs: dict[str, list[tuple[float, float]]] = {"switchboard": [], "presidio": []}
    for _ in range(a.reps):
        ours = asyncio.run(_switchboard_times(texts))
        plain = _presidio_times(texts)
        runs["switchboard"].append((_pct(ours, 0.5), _pct(ours, 0.99)))
        runs["presidio"].append((_pct(plain, 0.5), _pct(plain, 0.99)))
    summary: dict[str, Any] = {}
    print(f"{len(texts)} messages x {a.reps} repetitions (medians of per-run percentiles, ms per message)")
    for name, values in runs.items():
        p50 = statistics.median(v[0] for v in values)
        p99 = statistics.median(v[1] for v in values)
        summary[name] = (p50, p99)
        label = "switchboard full decision" if name == "switchboard" else "plain Presidio (analysis only)"
        print(f"  {label:34s} p50 {p50:7.2f}  p99 {p99:7.2f}")
    (s50, s99), (p50, p99) = summary["switchboard"], summary["presidio"]
    print(f"  ratio switchboard/presidio        p50 {s50 / p50:7.2f}x p99 {s99 / p99:7.2f}x")


if __name__ == "__main__":
    main()
