"""Benchmark the task classifier.

Usage, from the project checkout:
    .venv/bin/python bench/bench_classifier.py [--dev ../shared/datasets/routing_dev.jsonl] [--show 10]

Prints (1) cross-validated accuracy on our own training utterances (5 folds, stratified
by task and language), (2) accuracy per language and a confusion table on a labelled
JSONL set ({text, task, lang}), (3) p50/p99 latency of `classify` per message.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sklearn.model_selection import StratifiedKFold

from routing.classifier import (
    TASKS,
    LabelledUtterance,
    LinearTaskClassifier,
    build_task_classifier,
    load_task_examples,
)
from routing.task_model_build import fit_pipeline, to_linear_model


def cross_validate(examples: list[LabelledUtterance], folds: int = 5) -> float:
    strata = [f"{e.task}/{e.lang}" for e in examples]
    correct = 0
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=0).split(examples, strata):
        clf = LinearTaskClassifier(to_linear_model(fit_pipeline([examples[i] for i in train_idx]), data_digest=""))
        correct += sum(clf.classify(examples[i].text).task == examples[i].task for i in test_idx)
    return correct / len(examples)


def evaluate(rows: list[dict[str, str]], show: int) -> None:
    clf = build_task_classifier()
    t = time.perf_counter()
    clf.warm_up()
    print(f"load: {time.perf_counter() - t:.2f} s")
    per_lang: dict[str, list[bool]] = defaultdict(list)
    confusion: Counter[tuple[str, str]] = Counter()
    latencies: list[float] = []
    misses: list[str] = []
    for row in rows:
        t = time.perf_counter()
        pred = clf.classify(row["text"])
        latencies.append((time.perf_counter() - t) * 1000)
        ok = pred.task == row["task"]
        per_lang[row.get("lang", "?")].append(ok)
        confusion[(row["task"], pred.task)] += 1
        if not ok:
            misses.append(f"  {row['task']:>13} -> {pred.task:<13} {pred.confidence:.2f} {row['text'][:110]}")
    total = [ok for oks in per_lang.values() for ok in oks]
    print(f"accuracy: {sum(total) / len(total):.3f} ({sum(total)}/{len(total)})")
    for lang, oks in sorted(per_lang.items()):
        print(f"  {lang}: {sum(oks) / len(oks):.3f} ({sum(oks)}/{len(oks)})")
    print_confusion(confusion)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"latency per message: p50 {statistics.median(latencies):.2f} ms, p99 {p99:.2f} ms")
    print("\n".join(sorted(set(misses))[:show]))


def print_confusion(confusion: Counter[tuple[str, str]]) -> None:
    short = [t[:5] for t in TASKS]
    print("confusion (rows: truth, cols: predicted)")
    print("            " + " ".join(f"{s:>6}" for s in short))
    for truth in TASKS:
        print(f"  {truth[:9]:>9} " + " ".join(f"{confusion[(truth, p)]:>6}" for p in TASKS))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", default="../shared/datasets/routing_dev.jsonl")
    ap.add_argument("--show", type=int, default=10)
    ap.add_argument("--no-cv", action="store_true")
    a = ap.parse_args()
    examples = load_task_examples()
    print(f"training utterances: {len(examples)} {dict(Counter(e.lang for e in examples))}")
    if not a.no_cv:
        print(f"5-fold CV accuracy on own utterances: {cross_validate(examples):.3f}")
    lines = Path(a.dev).read_text(encoding="utf-8").splitlines()
    evaluate([json.loads(line) for line in lines if line.strip()], a.show)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
