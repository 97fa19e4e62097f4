"""Sweeps the person combination thresholds (privacy/data/combination.yaml) per language on dev sets.

    .venv/bin/python bench/tune_combination.py ../shared/datasets/ner/*.dev.jsonl \
        ../shared/datasets/routing_dev.jsonl [--models de=DIR]

Presidio runs once per row (model + rule findings cached); each setting then re-runs only the
combination. For every language it prints the leak/false-flag frontier and the setting it
recommends (``choose``): recall first — only settings within the per-language leak ceiling (6%) —
then the smallest distance to the goals, leak/3% + false flags/10%. Tuning data are the dev sets
only — report figures on other sets as held out.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from privacy import build_privacy_engine
from privacy.analyzer import PERSONAL_MIN, Analyzer, words_language
from privacy.combine import CombinationRules, ThingJudge, combine_persons
from privacy.ner import model_paths
from privacy.verdict import Finding

GRID: dict[str, list[float | None]] = {
    "rule_alone_min": [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95],
    "rule_over_other_min": [0.75, 0.8, 0.85, 0.9, 0.95],
    "model_unsupported_single": [0.8, 0.45],
    "model_person": [0.8, 0.45],
    "second_person": [0.8, 0.45],
    "contested": [0.8, 0.45],
    "contested_rule_min": [0.5, 0.75, 0.9],
    "rule_over_one_other_min": [None, 0.85],
}


@dataclass(frozen=True, slots=True)
class Row:
    lang: str
    text: str
    pii: bool
    raw: tuple[Finding, ...]
    words_lang: str  # the language the rules read the row in


def load_rows(paths: list[str], analyzer: Analyzer) -> list[Row]:
    rows = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                obj = json.loads(line)
                lang = analyzer.detect(obj["text"])
                raw = analyzer.presidio.analyze(obj["text"], lang)
                rows.append(Row(obj.get("lang") or lang, obj["text"], bool(obj["pii"]), tuple(raw),
                                words_language(lang)))
    return rows


class CachedJudge:
    """The rule layer's opinion of each row's candidate spans is the same under every setting."""

    def __init__(self, judge: ThingJudge) -> None:
        self._judge = judge
        self._seen: dict[tuple[str, tuple[tuple[int, int], ...], str], list[tuple[int, int] | None]] = {}
        self._named: dict[tuple[str, tuple[int, int], str], bool] = {}

    def refine(self, text: str, spans: Sequence[tuple[int, int]], language: str) -> list[tuple[int, int] | None]:
        key = (text, tuple(spans), language)
        if key not in self._seen:
            self._seen[key] = self._judge.refine(text, spans, language)
        return self._seen[key]

    def named(self, text: str, span: tuple[int, int], language: str) -> bool:
        key = (text, span, language)
        if key not in self._named:
            self._named[key] = self._judge.named(text, span, language)
        return self._named[key]


def flagged(row: Row, judge: ThingJudge, rules: CombinationRules) -> bool:
    found = combine_persons(row.text, row.words_lang, row.raw, judge=judge, rules=rules)
    return any(f.score >= PERSONAL_MIN and f.entity_type != "SPECIAL_CATEGORY" for f in found)


def choose(results: list[tuple[float, float, dict[str, float]]], leak_goal: float, overpin_goal: float,
           max_leak: float) -> tuple[float, float, dict[str, float]]:
    """Recall first: only settings within the per-language leak ceiling count (the lowest-leak ones
    if none is); among them the smallest distance to both goals, each rate in units of its own goal
    (leak/3% + false flags/10%), so a point of leak weighs as much as 3.3 points of false flags."""
    ok = [r for r in results if r[0] <= max_leak]
    if not ok:
        floor = min(r[0] for r in results)
        ok = [r for r in results if r[0] <= floor]
    return min(ok, key=lambda r: (r[0] / leak_goal + r[1] / overpin_goal, r[0]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--leak-goal", type=float, default=0.03, help="overall leak goal (issue 9: 3%%)")
    ap.add_argument("--overpin-goal", type=float, default=0.10, help="overall false-flag goal (10%%)")
    ap.add_argument("--max-leak", type=float, default=0.06, help="per-language leak ceiling (6%%)")
    ap.add_argument("--models", default="", help="lang=path,… : spaCy pipelines replacing the shipped ones")
    a = ap.parse_args()
    engine = build_privacy_engine(spacy_models=model_paths(a.models))
    engine.warm_up()
    analyzer = engine.analyzer
    rows = load_rows(a.sets, analyzer)
    judge = CachedJudge(analyzer.judge)
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
            leak = sum(not flagged(r, judge, rules) for r in pos) / max(1, len(pos))
            over = sum(flagged(r, judge, rules) for r in neg) / max(1, len(neg))
            results.append((leak, over, setting))
        best = choose(results, a.leak_goal, a.overpin_goal, a.max_leak)
        frontier = sorted({(round(r[0], 3), round(r[1], 3)) for r in results})
        print(f"{lang}: best leak {best[0]:.1%} overpin {best[1]:.1%} with {best[2]}")
        print(f"    frontier (leak, overpin): {frontier[:12]}")


if __name__ == "__main__":
    main()
