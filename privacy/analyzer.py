"""One text → language + findings: the recognizers for that language, then overlap resolution.

Pure CPU work over precompiled patterns and in-memory word lists (no spaCy by default: it
costs more than the whole budget). A spaCy model per language can be configured for
production (``spacy_models={"en": path}``); its PERSON entities then join the rule-based ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from privacy.langdetect import detect_language
from privacy.langdetect import warm_up as warm_langid
from privacy.lexicon import SUPPORTED, Lexicon, load_lexicon
from privacy.names import FALLBACK, PersonRecognizer
from privacy.recognizers import (
    AddressRecognizer,
    BirthDateRecognizer,
    CardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    NationalIdRecognizer,
    PhoneRecognizer,
    Recognizer,
    SpecialCategoryRecognizer,
)
from privacy.verdict import Finding

# when two findings overlap, the more specific type keeps the span
_PRIORITY = {"IBAN_CODE": 9, "EMAIL_ADDRESS": 9, "CREDIT_CARD": 8, "NATIONAL_ID": 7, "IP_ADDRESS": 6,
             "DATE_OF_BIRTH": 5, "PHONE_NUMBER": 4, "ADDRESS": 3, "PERSON": 2, "SPECIAL_CATEGORY": 0}
PERSONAL_MIN = 0.5


@dataclass(frozen=True, slots=True)
class TextAnalysis:
    language: str
    findings: tuple[Finding, ...]


def _priority(f: Finding) -> int:
    return _PRIORITY.get(f.entity_type, _PRIORITY["NATIONAL_ID"] if f.entity_type.startswith("NATIONAL_ID") else 1)


def resolve_overlaps(findings: Sequence[Finding]) -> list[Finding]:
    """Keep, for overlapping spans, the finding with higher (score ≥ 0.5, priority, score)."""
    ranked = sorted(findings, key=lambda f: (f.score >= PERSONAL_MIN, _priority(f), f.score), reverse=True)
    kept: list[Finding] = []
    for f in ranked:
        if f.entity_type == "SPECIAL_CATEGORY" or not any(f.start < k.end and k.start < f.end
                                                          for k in kept if k.entity_type != "SPECIAL_CATEGORY"):
            kept.append(f)
    return sorted(kept, key=lambda f: (f.start, f.end))


class SpacyPersonRecognizer:
    """PERSON entities from a configured spaCy model per language (optional, production use)."""

    def __init__(self, models: Mapping[str, str]) -> None:
        self._paths = dict(models)
        self._nlp: dict[str, Any] = {}

    def _model(self, lang: str) -> Any:
        if lang not in self._nlp:
            import spacy

            self._nlp[lang] = spacy.load(self._paths[lang], exclude=["lemmatizer", "parser"])
        return self._nlp[lang]

    def analyze(self, text: str, language: str) -> list[Finding]:
        if language not in self._paths:
            return []
        doc = self._model(language)(text)
        return [Finding("PERSON", e.start_char, e.end_char, 0.6) for e in doc.ents if e.label_ in ("PERSON", "PER")]


class Analyzer:
    def __init__(self, *, lexicon: Lexicon | None = None, spacy_models: Mapping[str, str] | None = None) -> None:
        self._lexicon = lexicon or load_lexicon()
        self._persons = PersonRecognizer(self._lexicon)
        words = self._lexicon.words
        self._special = SpecialCategoryRecognizer({
            lang: words.get("special_categories", lang) | words.get("special_categories", "en")
            for lang in SUPPORTED
        })
        self._recognizers: tuple[Recognizer, ...] = (
            EmailRecognizer(), IbanRecognizer(), CardRecognizer(), NationalIdRecognizer(), PhoneRecognizer(),
            IpRecognizer(), BirthDateRecognizer(), AddressRecognizer(),
        )
        self._spacy = SpacyPersonRecognizer(spacy_models) if spacy_models else None

    def warm_up(self) -> None:
        warm_langid()
        self._lexicon.freq.warm(SUPPORTED)
        for text, lang in (("Anna Nowak, tel. 601 234 567", "pl"), ("Hi Jane Doe", "en")):
            self.analyze(text, language=lang)

    def analyze(self, text: str, *, language: str | None = None) -> TextAnalysis:
        lang = language or detect_language(text)
        words_lang = lang if lang in SUPPORTED else FALLBACK.get(lang, "en")
        findings: list[Finding] = []
        for rec in self._recognizers:
            findings += rec.analyze(text, lang)
        findings += self._persons.analyze(text, words_lang)
        if self._spacy is not None:
            findings += self._spacy.analyze(text, lang)
        resolved = resolve_overlaps(findings)
        personal = any(f.score >= PERSONAL_MIN and f.entity_type != "SPECIAL_CATEGORY" for f in resolved)
        if personal:  # a health/union/religion word counts only next to a person
            resolved += self._special.analyze(text, words_lang)
        return TextAnalysis(language=lang, findings=tuple(sorted(resolved, key=lambda f: (f.start, f.end))))
