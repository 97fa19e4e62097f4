"""Sweeps the person combination thresholds (privacy/data/combination.yaml) per language on dev sets.

    .venv/bin/python bench/tune_combination.py ../shared/datasets/ner/*.dev.jsonl \
        ../shared/datasets/routing_dev.jsonl [--max-overpin 0.20]

Presidio runs once per row (model + rule findings cached); each setting then re-runs only the
combination. For every language it prints the leak/false-flag frontier and the setting it
recommends: the lowest leak among settings with false flags within --max-overpin (recall first),
then the fewest false flags. Tuning data are the dev sets only — report figures on other sets as held out.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from privacy import build_privacy_engine
from privacy.analyzer import PERSONAL_MIN, Analyzer, words_language
from privacy.combine import CombinationRules, combine_persons
from privacy.verdict import Finding

GRID = {
    "rule_alone_min": [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95],
    "rule_over_other_min": [0.75, 0.8, 0.85, 0.9, 0.95],
    "model_unsupported_single": [0.8, 0.45],
}


@dataclass(frozen=True, slots=True)
class Row:
    lang: str
    text: str
    pii: bool
    raw: tuple[Finding, ...]


def load_rows(paths: list[str], analyzer: Analyzer) -> list[Row]:
    rows = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                obj = json.loads(line)
                lang = analyzer.detect(obj["text"])
                raw = analyzer.presidio.analyze(obj["text"], lang)
                rows.append(Row(obj.get("lang") or lang, obj["text"], bool(obj["pii"]), tuple(raw)))
    return rows


def flagged(row: Row, analyzer: Analyzer, rules: CombinationRules) -> bool:
    lang = words_language(analyzer.detect(row.text))
    found = combine_persons(row.text, lang, row.raw, judge=analyzer.judge, rules=rules)
    return any(f.score >= PERSONAL_MIN and f.entity_type != "SPECIAL_CATEGORY" for f in found)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--max-overpin", type=float, default=0.20)
    a = ap.parse_args()
    engine = build_privacy_engine()
    engine.warm_up()
    analyzer = engine.analyzer
    rows = load_rows(a.sets, analyzer)
    by_lang: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_lang[row.lang].append(row)
    for lang, lrows in sorted(by_lang.items()):
        results = []
        for values in itertools.product(*GRID.values()):
            setting = dict(zip(GRID, values, strict=True))
            rules = CombinationRules.model_validate({"default": setting})
            pos = [r for r in lrows if r.pii]
            neg = [r for r in lrows if not r.pii]
            leak = sum(not flagged(r, analyzer, rules) for r in pos) / max(1, len(pos))
            over = sum(flagged(r, analyzer, rules) for r in neg) / max(1, len(neg))
            results.append((leak, over, setting))
        # recall first: the lowest leak among settings whose false flags stay within --max-overpin
        # (the per-language goal), then the fewest false flags; if none fits, the fewest false flags
        ok = [r for r in results if r[1] <= a.max_overpin] or [min(results, key=lambda r: (r[1], r[0]))]
        best = min(ok, key=lambda r: (r[0], r[1]))
        frontier = sorted({(round(r[0], 3), round(r[1], 3)) for r in results})
        print(f"{lang}: best leak {best[0]:.1%} overpin {best[1]:.1%} with {best[2]}")
        print(f"    frontier (leak, overpin): {frontier[:12]}")


if __name__ == "__main__":
    main()
