"""Per-language accuracy of language detection on short messages (one to four words).

    .venv/bin/python bench/eval_langdetect.py bench/langdetect/heldout.jsonl [--show]

Rows: {"text": ..., "lang": ...}. Prints accuracy per language and overall, and µs per message.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from privacy.langdetect import detect_language

Detector = Callable[[str], str]


def detectors() -> dict[str, Detector]:
    return {"current": detect_language}


def evaluate(rows: list[dict[str, str]], detect: Detector) -> tuple[dict[str, tuple[int, int]], float, list[str]]:
    detect(rows[0]["text"])  # load models outside the timing
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    wrong: list[str] = []
    started = time.perf_counter()
    for row in rows:
        got = detect(row["text"])
        per[row["lang"]][1] += 1
        if got == row["lang"]:
            per[row["lang"]][0] += 1
        else:
            wrong.append(f"{row['lang']}->{got}: {row['text']}")
    us = (time.perf_counter() - started) * 1e6 / len(rows)
    return {k: (v[0], v[1]) for k, v in per.items()}, us, wrong


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--show", action="store_true", help="list every miss")
    args = ap.parse_args()
    rows = [json.loads(line) for f in args.files for line in f.read_text().splitlines() if line.strip()]
    results = {name: evaluate(rows, fn) for name, fn in detectors().items()}
    langs = sorted({r["lang"] for r in rows})
    print(f"{'lang':6}" + "".join(f"{name:>16}" for name in results))
    for lang in langs:
        cells = [f"{results[n][0][lang][0]:>3}/{results[n][0][lang][1]:<3} {results[n][0][lang][0] / results[n][0][lang][1]:6.1%}"
                 for n in results]
        print(f"{lang:6}" + "".join(f"{c:>16}" for c in cells))
    totals = []
    for n in results:
        ok = sum(v[0] for v in results[n][0].values())
        totals.append(f"{ok:>3}/{len(rows):<3} {ok / len(rows):6.1%}")
    print(f"{'all':6}" + "".join(f"{c:>16}" for c in totals))
    print(f"{'µs/msg':6}" + "".join(f"{results[n][1]:>16.1f}" for n in results))
    if args.show:
        for n in results:
            print(f"\n{n} misses:")
            for w in results[n][2]:
                print("  " + w)


if __name__ == "__main__":
    main()
