"""Person precision/recall of the shipped NER models on the sentence-level dev sets (model cards).

    .venv/bin/python bench/eval_ner.py [../shared/datasets/ner] [--langs pl,da,ro,ru,de,en]

Span level: a predicted PER span is correct when it overlaps a gold person string's occurrence; a
gold person is found when a predicted PER span overlaps it. "model" is the language's spaCy pipeline
alone, "pooled" the multilingual second-opinion model alone (for Russian: natasha alone); "detector"
is the whole privacy analyzer (both models + rules + combination), whose PERSON findings are scored the
same way.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import spacy

from privacy import build_privacy_engine
from privacy.ner import NER_LANGUAGES, second_opinion_model, shipped_models

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "ner"
Spans = list[tuple[int, int]]


def gold_spans(text: str, persons: list[str]) -> Spans:
    out, pos = [], 0
    for p in persons:
        at = text.find(p, pos)
        if at < 0:
            at = text.find(p)
        if at >= 0:
            out.append((at, at + len(p)))
            pos = at + len(p)
    return out


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def score(rows: list[dict[str, object]], predict: Callable[[str], Spans]) -> tuple[float, float, float]:
    tp_p = n_p = tp_g = n_g = 0
    started = time.perf_counter()
    for row in rows:
        text = str(row["text"])
        gold = gold_spans(text, [str(p) for p in row["per"]])  # type: ignore[attr-defined]
        pred = predict(text)
        n_p += len(pred)
        n_g += len(gold)
        tp_p += sum(any(_overlap(p, g) for g in gold) for p in pred)
        tp_g += sum(any(_overlap(g, p) for p in pred) for g in gold)
    ms = (time.perf_counter() - started) * 1000 / max(1, len(rows))
    return tp_p / max(1, n_p), tp_g / max(1, n_g), ms


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="?", default=str(DEFAULT))
    ap.add_argument("--langs", default="pl,da,ro,ru,de,en")
    a = ap.parse_args()
    engine = build_privacy_engine(cache_size=0)
    engine.warm_up()
    models = shipped_models()
    second = second_opinion_model()
    pooled = spacy.load(second) if second else None
    print(f"{'lang':4} {'predictor':10} {'P':>6} {'R':>6} {'ms/sent':>8}")
    for lang in a.langs.split(","):
        rows = [json.loads(x) for x in (Path(a.corpus) / f"{lang}.dev.jsonl").read_text(encoding="utf-8").splitlines()
                if x.strip()]
        predictors: dict[str, Callable[[str], Spans]] = {}
        if lang in models:
            nlp = spacy.load(models[lang])
            predictors["model"] = lambda t, nlp=nlp: [(e.start_char, e.end_char) for e in nlp(t).ents
                                                      if e.label_ == "PER"]
        if lang in NER_LANGUAGES and pooled is not None:
            predictors["pooled"] = lambda t, nlp=pooled: [(e.start_char, e.end_char) for e in nlp(t).ents
                                                          if e.label_ == "PER"]
        if lang == "ru":
            from privacy.ru_ner import NatashaNer

            nat = NatashaNer()
            predictors["natasha"] = lambda t, nat=nat: [(s, e) for s, e, lab in nat.entities(t) if lab == "PER"]

        def detector(t: str, lang: str = lang) -> Spans:
            return [(f.start, f.end) for f in engine.analyze(t, language=lang).findings
                    if f.entity_type == "PERSON" and f.score >= 0.5]

        predictors["detector"] = detector
        for name, fn in predictors.items():
            p, r, ms = score(rows, fn)
            print(f"{lang:4} {name:10} {p:6.1%} {r:6.1%} {ms:8.2f}")


if __name__ == "__main__":
    main()
