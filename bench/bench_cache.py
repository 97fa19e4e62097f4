"""Benchmark the semantic cache's hit decisions on labelled pairs, next to a plain cosine baseline.

Usage, from the project checkout:
    .venv/bin/python bench/bench_cache.py [bench/cache_pairs/dev.jsonl ...] [--show 20] [--sweep]

Each row: {id, lang, label: paraphrase|near_miss, first, second}. For every pair a fresh
cache stores `first` and looks up `second` (`SemanticCache.would_hit`). Printed side by side:
the baseline (MiniLM cosine >= 0.8, no guards) and the cache, as hit rates on paraphrases
(want high) and on near-misses (wrong hits, want 0) per language. Latency is measured in a
cache holding every `first` of the files in one scope (one lookup per `second`), which also
counts lookups answered with another row's entry. --sweep: rates for a range of embedding floors.
--borderline: how many refused pairs fall in a borderline band (refused only for content or function
words, cosine >= 0.8, at most two words apart): the pairs an equivalence check by a model would see.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from routing.cache import (
    DEFAULT_THRESHOLD,
    SemanticCache,
    Signature,
    build_embedder,
    load_guard_rules,
    near_miss_reason,
    signature,
)
from routing.cache_words import content_difference, words_of

DEFAULT_FILE = Path(__file__).parent / "cache_pairs" / "dev.jsonl"
BASELINE_THRESHOLD = 0.8


def load(paths: list[str]) -> list[dict[str, str]]:
    rows = []
    for p in paths:
        rows += [json.loads(line) for line in Path(p).read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def report(rows: list[dict[str, str]], columns: dict[str, list[bool]]) -> None:
    tables = {}
    for name, hits in columns.items():
        table: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
        for row, hit in zip(rows, hits, strict=True):
            table[row["lang"]][row["label"]].append(hit)
            table["ALL"][row["label"]].append(hit)
        tables[name] = table
    header = "".join(f" {name + ' para':>18} {name + ' wrong':>18}" for name in columns)
    print(f"{'lang':>5}{header}")
    langs = sorted(next(iter(tables.values())), key=lambda k: (k == "ALL", k))
    for lang in langs:
        cells = "".join(
            f" {_rate(t[lang]['paraphrase']):>18} {_rate(t[lang]['near_miss']):>18}" for t in tables.values()
        )
        print(f"{lang:>5}{cells}")


def _rate(values: list[bool]) -> str:
    return f"{sum(values) / len(values):.2f} ({sum(values)}/{len(values)})" if values else "-"


def baseline_hits(rows: list[dict[str, str]]) -> list[bool]:
    embedder = build_embedder()
    hits = []
    for row in rows:
        va, vb = embedder.embed([row["first"], row["second"]])
        hits.append(float(va @ vb) >= BASELINE_THRESHOLD)
    return hits


def latency(rows: list[dict[str, str]]) -> None:
    """Lookups in a cache that holds every `first`: time per lookup, baseline and cache."""
    embedder = build_embedder()
    cache = SemanticCache(embedder=embedder, max_entries=len(rows) + 1)
    scope = ("bench", None, "general")
    firsts = list(dict.fromkeys(r["first"] for r in rows))
    for text in firsts:
        cache._store_sync(scope, text, text, "m")
    matrix = embedder.embed(firsts)
    base_ms, cache_ms, foreign = [], [], 0
    for row in rows:
        t = time.perf_counter()
        vector = embedder.embed([" ".join(row["second"].split())])[0]
        _ = int(np.argmax(matrix @ vector)) if float(np.max(matrix @ vector)) >= BASELINE_THRESHOLD else None
        base_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        hit = cache._lookup_sync(scope, row["second"])
        cache_ms.append((time.perf_counter() - t) * 1000)
        foreign += hit is not None and hit.answer != row["first"] and row["label"] == "paraphrase"
    print(
        f"lookup latency, cache of {len(firsts)} entries: baseline median {statistics.median(base_ms):.1f} ms "
        f"(p95 {_p95(base_ms):.1f}); cache median {statistics.median(cache_ms):.1f} ms (p95 {_p95(cache_ms):.1f}); "
        f"paraphrase lookups answered with another row's entry: {foreign}"
    )


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def sweep(rows: list[dict[str, str]]) -> None:
    embedder, rules = build_embedder(), load_guard_rules()
    scored = []
    for row in rows:
        va, vb = embedder.embed([row["first"], row["second"]])
        reason = near_miss_reason(signature(row["first"], rules), signature(row["second"], rules))
        scored.append((row, float(va @ vb), reason))
    for floor in (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        para = [c >= floor and r is None for row, c, r in scored if row["label"] == "paraphrase"]
        near = [c >= floor and r is None for row, c, r in scored if row["label"] == "near_miss"]
        print(f"floor {floor:.2f}: paraphrase {_rate(para)}  near-miss {_rate(near)}")


BORDERLINE_COSINE = 0.8
BORDERLINE_WORDS = 2


def borderline(rows: list[dict[str, str]], hits: list[bool]) -> None:
    """Refused pairs a model could settle: per label, how many and which."""

    embedder, rules = build_embedder(), load_guard_rules()
    found: dict[str, list[str]] = defaultdict(list)
    for row, hit in zip(rows, hits, strict=True):
        if hit:
            continue
        a, b = signature(row["first"], rules), signature(row["second"], rules)
        reason = near_miss_reason(a, b)
        if reason not in ("content words", "function words") or _apart(a, b) > BORDERLINE_WORDS:
            continue
        va, vb = embedder.embed([row["first"], row["second"]])
        if float(va @ vb) >= BORDERLINE_COSINE:
            found[row["label"]].append(row["id"])
    total = {label: sum(r["label"] == label for r in rows) for label in ("paraphrase", "near_miss")}
    for label, count in total.items():
        print(f"borderline {label}: {len(found[label])}/{count} {' '.join(found[label])}")


def _apart(a: Signature, b: Signature) -> int:
    lang = a.language or b.language
    only_a, only_b = content_difference(words_of(a.words, lang, a.word_rules), words_of(b.words, lang, b.word_rules))
    return len(only_a) + len(only_b)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*", default=[str(DEFAULT_FILE)])
    ap.add_argument("--show", type=int, default=20)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--borderline", action="store_true")
    a = ap.parse_args()
    rows = load(a.files)
    cache = SemanticCache(embedder=build_embedder())
    cache.would_hit("warm up", "warm up")
    t = time.perf_counter()
    hits = [cache.would_hit(r["first"], r["second"]) for r in rows]
    per_pair = (time.perf_counter() - t) / len(rows) * 1000
    print(f"{len(rows)} pairs; baseline: cosine >= {BASELINE_THRESHOLD}; cache: floor {DEFAULT_THRESHOLD} + guards, "
          f"{per_pair:.1f} ms/pair (store + lookup)")
    report(rows, {"base": baseline_hits(rows), "cache": hits})
    latency(rows)
    wrong = [r for r, h in zip(rows, hits, strict=True) if h != (r["label"] == "paraphrase")]
    rules = load_guard_rules()
    for r in wrong[: a.show]:
        why = near_miss_reason(signature(r["first"], rules), signature(r["second"], rules))
        print(f"  {r['label']:>10} {r['id']} [{why}]: {r['first']!r} / {r['second']!r}")
    if a.sweep:
        sweep(rows)
    if a.borderline:
        borderline(rows, hits)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
