"""Benchmark the semantic cache's hit decisions on labelled pairs.

Usage, from the project checkout:
    .venv/bin/python bench/bench_cache.py [bench/cache_pairs/dev.jsonl ...] [--show 20] [--sweep]

Each row: {id, lang, label: paraphrase|near_miss, first, second}. For every pair a fresh
cache stores `first` and looks up `second` (`SemanticCache.would_hit`). Prints the hit rate
on paraphrases (want high) and on near-misses (want ~0) per language, the misses, and with
--sweep the rates for a range of thresholds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from routing.cache import (
    DEFAULT_THRESHOLD,
    EMBEDDING_WEIGHT,
    SemanticCache,
    build_embedder,
    load_guard_rules,
    near_miss_reason,
    signature,
    trigram_cosine,
)

DEFAULT_FILE = Path(__file__).parent / "cache_pairs" / "dev.jsonl"


def load(paths: list[str]) -> list[dict[str, str]]:
    rows = []
    for p in paths:
        rows += [json.loads(line) for line in Path(p).read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def report(rows: list[dict[str, str]], hits: list[bool]) -> None:
    table: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for row, hit in zip(rows, hits, strict=True):
        table[row["lang"]][row["label"]].append(hit)
        table["ALL"][row["label"]].append(hit)
    print(f"{'lang':>5} {'paraphrase hits':>18} {'near-miss hits':>18}")
    for lang in sorted(table, key=lambda k: (k == "ALL", k)):
        para, near = table[lang]["paraphrase"], table[lang]["near_miss"]
        print(f"{lang:>5} {_rate(para):>18} {_rate(near):>18}")


def _rate(values: list[bool]) -> str:
    return f"{sum(values) / len(values):.2f} ({sum(values)}/{len(values)})" if values else "-"


def sweep(rows: list[dict[str, str]]) -> None:
    embedder, rules = build_embedder(), load_guard_rules()
    scored = []
    for row in rows:
        va, vb = embedder.embed([row["first"], row["second"]])
        sa, sb = signature(row["first"], rules), signature(row["second"], rules)
        blend = EMBEDDING_WEIGHT * float(va @ vb) + (1 - EMBEDDING_WEIGHT) * trigram_cosine(sa.trigrams, sb.trigrams)
        scored.append((row, blend, near_miss_reason(sa, sb)))
    for threshold in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
        para = [b >= threshold and r is None for row, b, r in scored if row["label"] == "paraphrase"]
        near = [b >= threshold and r is None for row, b, r in scored if row["label"] == "near_miss"]
        print(f"threshold {threshold:.2f}: paraphrase {_rate(para)}  near-miss {_rate(near)}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="*", default=[str(DEFAULT_FILE)])
    ap.add_argument("--show", type=int, default=20)
    ap.add_argument("--sweep", action="store_true")
    a = ap.parse_args()
    rows = load(a.files)
    cache = SemanticCache(embedder=build_embedder())
    cache.would_hit("warm up", "warm up")
    t = time.perf_counter()
    hits = [cache.would_hit(r["first"], r["second"]) for r in rows]
    print(
        f"{len(rows)} pairs, threshold {DEFAULT_THRESHOLD}, {(time.perf_counter() - t) / len(rows) * 1000:.1f} ms/pair"
    )
    report(rows, hits)
    wrong = [r for r, h in zip(rows, hits, strict=True) if h != (r["label"] == "paraphrase")]
    for r in wrong[: a.show]:
        print(f"  {r['label']:>10} {r['id']}: {r['first']!r} / {r['second']!r}")
    if a.sweep:
        sweep(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
