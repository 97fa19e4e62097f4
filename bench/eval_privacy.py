"""Leak / false-flag rates per language on labelled JSONL sets, ours side by side with plain Presidio.

    .venv/bin/python bench/eval_privacy.py ../shared/datasets/ner/*.dev.jsonl [--show 10] [--no-baseline]
    .venv/bin/python bench/eval_privacy.py ../shared/datasets/routing_dev.jsonl

leak = rows with personal data not flagged; overpin (false flag) = rows without personal data flagged.
Rows need `text` and `pii` (or `contains_pii`); `lang` groups the figures (detected when absent).

Baselines, as users set Presidio up (AnalyzerEngine with the bundled en_core_web_sm, every message
analysed as English, score >= 0.5 flags):
- presidio: the default recognizers, any entity flags the row;
- presidio/person: the same engine asked for PERSON only (tuned to person types).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from privacy import build_privacy_engine
from privacy.engine import offline_tldextract, spacy_model_path
from privacy.ner import model_paths
from privacy.rules import PrivacyRules

Flagger = Callable[[str], tuple[bool, str]]


def ours(models: dict[str, str]) -> Flagger:
    engine = build_privacy_engine(spacy_models=models)
    engine.warm_up()
    rules = PrivacyRules()

    def flag(text: str) -> tuple[bool, str]:
        analysis = engine.analyze(text)
        verdict = rules.verdict(analysis.findings, language=analysis.language)
        ents = [(f.entity_type, text[f.start:f.end], f.score) for f in analysis.findings]
        return verdict.contains_pii, f"[{analysis.language}] {ents}"

    return flag


def presidio(entities: list[str] | None) -> Flagger:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    offline_tldextract()
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": spacy_model_path()}],
    })
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])

    def flag(text: str) -> tuple[bool, str]:
        found = [r for r in engine.analyze(text=text, language="en", entities=entities) if r.score >= 0.5]
        return bool(found), str(sorted({r.entity_type for r in found}))

    return flag


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sets", nargs="+")
    ap.add_argument("--show", type=int, default=0, help="print N misjudged rows of ours")
    ap.add_argument("--no-baseline", action="store_true", help="only ours (faster)")
    ap.add_argument("--models", default="", help="lang=path,… : spaCy pipelines replacing the shipped ones")
    a = ap.parse_args()
    flaggers: dict[str, Flagger] = {"switchboard": ours(model_paths(a.models))}
    if not a.no_baseline:
        flaggers |= {"presidio": presidio(None), "presidio/person": presidio(["PERSON"])}
    # name -> lang -> [pos, leak, neg, overpin]
    stats: dict[str, dict[str, list[int]]] = {n: defaultdict(lambda: [0, 0, 0, 0]) for n in flaggers}
    bad: list[str] = []
    for path in a.sets:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            pii = bool(row["pii"] if "pii" in row else row["contains_pii"])
            for name, flag in flaggers.items():
                flagged, detail = flag(row["text"])
                s = stats[name][row.get("lang") or "?"]
                s[0 if pii else 2] += 1
                if flagged != pii:
                    s[1 if pii else 3] += 1
                    if name == "switchboard":
                        bad.append(f"{'LEAK   ' if pii else 'OVERPIN'} {row['text']} :: {detail}")
    for line in bad[: a.show]:
        print(line)
    langs = sorted(stats["switchboard"])
    print(f"{'lang':5}" + "".join(f"{name:>26}" for name in flaggers))
    print(f"{'':5}" + "".join(f"{'leak':>13}{'false flag':>13}" for _ in flaggers))
    for lang in [*langs, "ALL"]:
        cells = []
        for name in flaggers:
            rows = list(stats[name].values()) if lang == "ALL" else [stats[name][lang]]
            pos, leak, neg, over = (sum(r[i] for r in rows) for i in range(4))
            cells.append(f"{leak / max(1, pos):>7.1%} {leak:>2}/{pos:<3}{over / max(1, neg):>7.1%} {over:>2}/{neg:<3}")
        print(f"{lang:5}" + "".join(f"{c:>26}" for c in cells))


if __name__ == "__main__":
    main()
