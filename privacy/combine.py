"""How the trained model's entities and the rule recognizer's findings become PERSON findings.

Three detectors look for persons: the language's statistical NER model (privacy.ner, through
Presidio's ``SpacyRecognizer``, source "model"; natasha for Russian; it also tags places,
organisations and other names), a second opinion — the pooled multilingual model trained on all five
languages' corpora (source "model2") — and the rule recognizer (privacy.names: honorifics, roles and
verbs of addressing, patronymics, word lists). The rule that combines them is data
(``privacy/data/combination.yaml``, documented there) and a pure function:

1. A model PERSON span is a person (score ``model_person`` for the own model alone, ``second_person``
   for the second opinion alone; ``agreement`` when both models or a model and the rules found it;
   ``model_unsupported_single`` for one word nothing else touches — a village, a brand; at most
   ``contested`` when the other model tags the words a place, organisation or other name and no
   word is a listed first name or surname, and then
   the rules back it only from ``contested_rule_min``),
   unless the rule layer calls it a thing (a decoy such as "Curie room", a brand, a month, an
   imperative opening the message, a one-letter word), every word is a known place or organisation
   (privacy.gazetteer), or a legal form stands next to it ("Novo Nordisk A/S", "ООО «Ромашка»").
   A verb the tagger took into the name ("Спроси Петрова") is trimmed off; where a rule finding
   overlaps, the span grows to cover both (pseudonymisation must replace the whole name).
2. A rule PERSON finding the model did not find is kept when its score reaches ``rule_alone_min``,
   or ``rule_over_other_min`` when the model tagged the same words as a place, organisation or
   other name; when the rules' own judge calls the words a thing (gazetteer, legal form, decoy) only
   an honorific or patronymic finding (0.9) survives.
3. The model's LOCATION / ORGANIZATION / MISC spans are evidence only: they never leave this step.

Thresholds are per language where the data showed a need (``languages:`` overrides ``default:``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from privacy.verdict import Finding
from privacy.yamlfile import load_yaml

NON_PERSON = frozenset({"LOCATION", "ORGANIZATION", "MISC"})
MODEL_SOURCES = frozenset({"model", "model2"})  # the language's own NER model, the second opinion
HONORIFIC = 0.9  # the rule score of an honorific or patronymic finding (privacy/names.py)
_FILE = Path(__file__).parent / "data" / "combination.yaml"


class Thresholds(BaseModel):
    model_person: float = 0.8
    agreement: float = 0.95
    rule_alone_min: float = 0.5
    rule_over_other_min: float = 0.9
    model_unsupported_single: float = 0.8
    second_person: float = 0.8
    contested: float = 0.8
    contested_rule_min: float = 0.5
    rule_over_one_other_min: float | None = None  # when only one of two models disagrees; None: rule_over_other_min


class CombinationRules(BaseModel):
    default: Thresholds = Thresholds()
    languages: dict[str, dict[str, float]] = {}
    # the per-language overrides when no second opinion runs (SWITCHBOARD_SPACY_MODELS=xx=): tuned apart
    single_model: dict[str, dict[str, float]] = {}

    def for_language(self, lang: str) -> Thresholds:
        override = self.languages.get(lang)
        return self.default.model_copy(update=override) if override else self.default

    def without_second_opinion(self) -> CombinationRules:
        """The rules for an analyzer with its language's own model only."""
        return self.model_copy(update={"languages": self.single_model})


@lru_cache(maxsize=1)
def load_combination_rules(path: Path = _FILE) -> CombinationRules:
    return CombinationRules.model_validate(load_yaml(path.read_text(encoding="utf-8")) or {})


class ThingJudge(Protocol):
    """The rule layer's opinion of a candidate person span: ``None`` for a thing (decoys, brands,
    places, companies), else the span, possibly trimmed (a sentence-initial verb taken in)."""

    def refine(self, text: str, spans: Sequence[tuple[int, int]], language: str) -> list[tuple[int, int] | None]: ...

    def named(self, text: str, span: tuple[int, int], language: str) -> bool:
        """Is a word of the span a listed first name or surname?"""
        ...


def _overlaps(a: Finding, b: Finding) -> bool:
    return a.start < b.end and b.start < a.end


def combine_persons(text: str, language: str, findings: Sequence[Finding], *, judge: ThingJudge,
                    rules: CombinationRules) -> list[Finding]:
    """All findings with PERSON decided by the combination rule; model-only types removed."""
    t = rules.for_language(language)
    own = [f for f in findings if f.source == "model" and f.entity_type == "PERSON"]
    second = [f for f in findings if f.source == "model2" and f.entity_type == "PERSON"]
    model_other = [f for f in findings if f.source in MODEL_SOURCES and f.entity_type in NON_PERSON]
    rule_persons = [f for f in findings if f.source not in MODEL_SOURCES and f.entity_type == "PERSON"]
    rest = [f for f in findings if f.entity_type != "PERSON" and f.entity_type not in NON_PERSON]

    persons: list[Finding] = []
    candidates = [*own, *second, *rule_persons]
    refined = judge.refine(text, [(f.start, f.end) for f in candidates], language) if candidates else []
    opinion = dict(zip(map(id, candidates), refined, strict=True))
    seconds = [f for f in second if opinion[id(f)] is not None]
    # the language's own model's persons, then the second opinion's where the own model saw none
    spans = [(f, t.model_person) for f in own] + [(f, t.second_person) for f in seconds if not any(
        _overlaps(f, o) and opinion[id(o)] is not None for o in own)]
    for f, alone in spans:
        span = opinion[id(f)]
        if span is None:
            continue
        backing = [r for r in rule_persons if _overlaps(f, r) and opinion[id(r)] is not None]
        twins = [m for m in seconds if m is not f and _overlaps(f, m)]
        # the other model calls these words a place, organisation or other name, and no name list knows them
        contested = any(_overlaps(f, o) and o.source != f.source for o in model_other) \
            and not judge.named(text, span, language)
        rule_min = max(t.rule_alone_min, t.contested_rule_min) if contested else t.rule_alone_min
        agreed = bool(twins) or any(r.score >= rule_min for r in backing)
        supported = agreed or bool(backing) or " " in text[span[0]:span[1]].strip()
        if contested:
            alone = min(alone, t.contested)
        score = t.agreement if agreed else alone if supported else min(alone, t.model_unsupported_single)
        # the widest reading wins: pseudonymising "Anna" of "Anna Nowak" would still send "Nowak"
        wider = [*twins, *(r for r in backing if r.score >= rule_min)]
        start = min([span[0], *(w.start for w in wider)])
        end = max([span[1], *(w.end for w in wider)])
        persons.append(Finding("PERSON", start, end, score, source=f.source))
    for r in rule_persons:
        if any(_overlaps(r, p) for p in persons):
            continue
        if opinion[id(r)] is None:  # a known place or company, a legal form, a decoy: only an honorific wins
            needed = max(t.rule_over_other_min, HONORIFIC)
        elif others := {o.source for o in model_other if _overlaps(r, o)}:
            # a model calls the words a place or organisation: outweighed only by a high rule score
            one = t.rule_over_other_min if t.rule_over_one_other_min is None else t.rule_over_one_other_min
            needed = one if len(others) == 1 else t.rule_over_other_min
        else:
            needed = t.rule_alone_min
        if r.score >= needed:
            persons.append(r)
    return sorted([*rest, *persons], key=lambda f: (f.start, f.end))
