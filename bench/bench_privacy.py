"""Privacy analysis latency per message: our engine vs plain Presidio, side by side.

    .venv/bin/python bench/bench_privacy.py [SET.jsonl ...] [--reps 5]

Default sets: ../shared/datasets/routing_dev.jsonl and ../shared/datasets/ner/*.dev.jsonl (1,431
messages). A 16,000-character message (dev sentences joined, so every language and entity kind is in
it) is timed separately: the median of --reps analyses per engine.

switchboard = our engine (language detection, the trained NER model of the message's language and
our recognizers through Presidio's AnalyzerEngine, the person combination), result cache off so
every call is analysed;
switchboard+cache = the same engine with its per-text cache (what a re-analysed history turn
costs). Plain Presidio = AnalyzerEngine with en_core_web_sm and its predefined recognizers,
every message analysed as English. Each repetition times every message once per engine; the
medians over repetitions of the per-repetition p50/p99 are printed, with the ratio ours/presidio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from privacy import build_privacy_engine
from privacy.engine import offline_tldextract, spacy_model_path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DEFAULT_SETS = [SHARED / "routing_dev.jsonl", *sorted((SHARED / "ner").glob("*.dev.jsonl"))]
LONG_CHARS = 16_000


def _presidio() -> Callable[[str], Any]:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    offline_tldextract()
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": spacy_model_path()}],
    })
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    return lambda text: engine.analyze(text=text, language="en")


def _percentiles(fn: Callable[[str], Any], texts: list[str]) -> tuple[float, float]:
    times = []
    for text in texts:
        t = time.perf_counter()
        fn(text)
        times.append((time.perf_counter() - t) * 1000)
    q = statistics.quantiles(times, n=100, method="inclusive")
    return q[49], q[98]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="*", default=[str(p) for p in DEFAULT_SETS])
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    texts = [json.loads(line)["text"] for path in a.sets
             for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    ours = build_privacy_engine(cache_size=0)
    ours.warm_up()
    # room for every text: the shipped 1,024-entry LRU would miss on every pass over 1,431 texts
    # cycling in order, and this line is about what a hit costs (a history turn analysed again)
    cached = build_privacy_engine(cache_size=len(texts) + 1)
    cached.warm_up()
    presidio = _presidio()
    engines: dict[str, Callable[[str], Any]] = {"switchboard": ours.analyze, "switchboard+cache": cached.analyze,
                                                "presidio": presidio}
    for fn in engines.values():  # warm caches
        for text in texts[:20]:
            fn(text)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in engines}
    for _ in range(a.reps):
        for name, fn in engines.items():
            results[name].append(_percentiles(fn, texts))
    med = {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
           for name, rs in results.items()}
    print(f"{len(texts)} messages x {a.reps} repetitions (median of per-repetition percentiles)")
    for name, (p50, p99) in med.items():
        print(f"{name:18} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
    s, p = med["switchboard"], med["presidio"]
    print(f"ratio ours/presidio: p50 {s[0] / p[0]:.2f}x   p99 {s[1] / p[1]:.2f}x")
    long_text = " ".join(texts)[:LONG_CHARS]
    long_ms = {}
    for name in ("switchboard", "presidio"):
        runs = []
        for _ in range(a.reps):
            t = time.perf_counter()
            engines[name](long_text)
            runs.append((time.perf_counter() - t) * 1000)
        long_ms[name] = statistics.median(runs)
    print(f"{len(long_text):,}-character message (median of {a.reps}): switchboard {long_ms['switchboard']:.0f} ms"
          f"   presidio {long_ms['presidio']:.0f} ms   ratio {long_ms['switchboard'] / long_ms['presidio']:.2f}x")


if __name__ == "__main__":
    main()
