"""Per-language accuracy of language detection on short messages (one to four words), before and after.

    .venv/bin/python bench/eval_langdetect.py bench/langdetect/dev.jsonl [--show]
    .venv/bin/python bench/eval_langdetect.py bench/langdetect/heldout.jsonl   # measure only, never tune

Rows: {"text": ..., "lang": ...}. Columns: "before" is the n-gram detector alone
(``privacy.langdetect.ngram_language``, what ``detect_language`` was until issue 14), "after" is
``detect_language`` (frequency vote on short text). For "after" also: how often the right language is
among the plausible ones (``detect_languages``; the privacy analysis reads the text in each), and how
many plausible languages a message gets on average. Then µs per message, models loaded beforehand.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from privacy.langdetect import detect_language, detect_languages, ngram_language, warm_up

Detector = Callable[[str], str]
Row = dict[str, str]


def accuracy(rows: list[Row], detect: Detector) -> tuple[dict[str, list[int]], float, list[str]]:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    wrong: list[str] = []
    started = time.perf_counter()
    answers = [detect(row["text"]) for row in rows]
    us = (time.perf_counter() - started) * 1e6 / len(rows)
    for row, got in zip(rows, answers, strict=True):
        per[row["lang"]][1] += 1
        per[row["lang"]][0] += got == row["lang"]
        if got != row["lang"]:
            wrong.append(f"{row['lang']}->{got}: {row['text']}")
    return per, us, wrong


def cell(ok: int, n: int) -> str:
    return f"{ok:>3}/{n:<3} {ok / n:6.1%}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--show", action="store_true", help="list every miss")
    args = ap.parse_args()
    rows = [json.loads(line) for f in args.files for line in f.read_text().splitlines() if line.strip()]
    warm_up()
    for row in rows:  # first calls fill caches (py3langid's, the vote's): time the steady state
        ngram_language(row["text"]), detect_language(row["text"])
    results = {"before": accuracy(rows, ngram_language), "after": accuracy(rows, detect_language)}
    guesses = [detect_languages(row["text"]) for row in rows]
    covered: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row, guess in zip(rows, guesses, strict=True):
        covered[row["lang"]][1] += 1
        covered[row["lang"]][0] += row["lang"] in guess.plausible
    print(f"{'lang':6}{'before':>16}{'after':>16}{'after plausible':>18}")
    for lang in sorted({r["lang"] for r in rows}):
        print(f"{lang:6}" + "".join(f"{cell(*results[n][0][lang]):>16}" for n in results)
              + f"{cell(*covered[lang]):>18}")
    totals = [cell(sum(v[0] for v in results[n][0].values()), len(rows)) for n in results]
    print(f"{'all':6}" + "".join(f"{c:>16}" for c in totals)
          + f"{cell(sum(v[0] for v in covered.values()), len(rows)):>18}")
    print(f"{'µs/msg':6}" + "".join(f"{results[n][1]:>16.1f}" for n in results))
    unsure = sum(g.uncertain for g in guesses)
    print(f"after: {unsure}/{len(rows)} unsure, {sum(len(g.plausible) for g in guesses) / len(rows):.2f} "
          "plausible languages per message on average")
    if args.show:
        for name, (_, _, wrong) in results.items():
            print(f"\n{name} misses:")
            for w in wrong:
                print("  " + w)


if __name__ == "__main__":
    main()
