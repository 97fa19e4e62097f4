"""Leak / over-pinning of the privacy engine per language on labelled JSONL sets.

    .venv/bin/python bench/eval_privacy.py ../shared/datasets/routing_dev.jsonl [--show 10]

leak = rows with personal data not flagged; overpin = rows without personal data flagged.
Rows need `text` and `pii`; `lang` groups the figures (detected when absent).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from privacy import build_privacy_engine
from privacy.rules import PrivacyRules


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--show", type=int, default=0)
    a = ap.parse_args()
    engine = build_privacy_engine()
    engine.warm_up()
    rules = PrivacyRules()
    stats: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # pos, leak, neg, overpin
    bad: list[str] = []
    for path in a.sets:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            analysis = engine.analyze(row["text"])
            verdict = rules.verdict(analysis.findings, language=analysis.language)
            s = stats[row.get("lang") or analysis.language]
            ents = [(f.entity_type, row["text"][f.start:f.end], f.score) for f in analysis.findings]
            if row["pii"]:
                s[0] += 1
                if not verdict.contains_pii:
                    s[1] += 1
                    bad.append(f"LEAK    [{analysis.language}] {row['text']} :: {ents}")
            else:
                s[2] += 1
                if verdict.contains_pii:
                    s[3] += 1
                    bad.append(f"OVERPIN [{analysis.language}] {row['text']} :: {ents}")
    for line in bad[: a.show]:
        print(line)
    tot = [sum(s[i] for s in stats.values()) for i in range(4)]
    for lang, s in [*sorted(stats.items()), ("ALL", tot)]:
        leak = s[1] / s[0] if s[0] else 0.0
        over = s[3] / s[2] if s[2] else 0.0
        print(f"{lang:4} leak {leak:6.1%} ({s[1]}/{s[0]})  overpin {over:6.1%} ({s[3]}/{s[2]})")


if __name__ == "__main__":
    main()
