"""One text → language + findings: Presidio runs our recognizers for that language, then our overlap
resolution and special-category rule.

Detection goes through ``presidio_analyzer.AnalyzerEngine`` (privacy.presidio): each rule-based
recognizer is a registered ``EntityRecognizer`` per language, the NLP engine is spaCy with blank
tokenizers (a full model costs more than the whole budget). A spaCy model per language can be
configured for production (``spacy_models={"en": path}``); Presidio's SpacyRecognizer then adds
its PERSON entities to the rule-based ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from privacy.langdetect import CANDIDATES, detect_language
from privacy.langdetect import warm_up as warm_langid
from privacy.lexicon import SUPPORTED, Lexicon, load_lexicon
from privacy.names import FALLBACK, PersonRecognizer
from privacy.recognizers import (
    NATIONAL_IDS,
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

if TYPE_CHECKING:  # spaCy and Presidio load at first analysis, not at import
    from privacy.presidio import PresidioAnalyzer, SwitchboardRecognizer

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


# what each of our recognizers can return (Presidio's supported_entities)
_ENTITIES: dict[type[Recognizer], tuple[str, ...]] = {
    EmailRecognizer: ("EMAIL_ADDRESS",), IbanRecognizer: ("IBAN_CODE",), CardRecognizer: ("CREDIT_CARD",),
    NationalIdRecognizer: tuple(sorted({spec.entity_type for spec in NATIONAL_IDS})),
    PhoneRecognizer: ("PHONE_NUMBER",), IpRecognizer: ("IP_ADDRESS",), BirthDateRecognizer: ("DATE_OF_BIRTH",),
    AddressRecognizer: ("ADDRESS",), PersonRecognizer: ("PERSON",), SpecialCategoryRecognizer: ("SPECIAL_CATEGORY",),
}
# every language langdetect may return, plus the neighbours FALLBACK maps
LANGUAGES = tuple(dict.fromkeys([*SUPPORTED, *CANDIDATES, *FALLBACK]))


def words_language(lang: str) -> str:
    """The language whose word lists serve ``lang`` (names, special categories)."""
    return lang if lang in SUPPORTED else FALLBACK.get(lang, "en")


class Analyzer:
    """Our recognizers, run through Presidio's AnalyzerEngine, then our overlap and special-category rules."""

    def __init__(self, *, lexicon: Lexicon | None = None, spacy_models: Mapping[str, str] | None = None,
                 languages: Sequence[str] = LANGUAGES) -> None:
        self._lexicon = lexicon or load_lexicon()
        words = self._lexicon.words
        self._persons = PersonRecognizer(self._lexicon)
        self._special = SpecialCategoryRecognizer({
            lang: words.get("special_categories", lang) | words.get("special_categories", "en")
            for lang in SUPPORTED
        })
        self._patterns: tuple[Recognizer, ...] = (
            EmailRecognizer(), IbanRecognizer(), CardRecognizer(), NationalIdRecognizer(), PhoneRecognizer(),
            IpRecognizer(), BirthDateRecognizer(), AddressRecognizer(),
        )
        from privacy.presidio import PresidioAnalyzer

        self.presidio: PresidioAnalyzer = PresidioAnalyzer(self._recognizers_for, languages, spacy_models=spacy_models)

    def _recognizers_for(self, lang: str) -> list[SwitchboardRecognizer]:
        """Presidio recognizers for one language: the same rule-based instances, each told its language."""
        from privacy.presidio import SwitchboardRecognizer

        wl = words_language(lang)
        recs = [SwitchboardRecognizer(r, entities=_ENTITIES[type(r)], language=lang) for r in self._patterns]
        recs += [SwitchboardRecognizer(r, entities=_ENTITIES[type(r)], language=lang, analyze_language=wl)
                 for r in (self._persons, self._special)]
        return recs

    def warm_up(self) -> None:
        warm_langid()
        self._lexicon.freq.warm(SUPPORTED)
        for text, lang in (("Anna Nowak, tel. 601 234 567", "pl"), ("Hi Jane Doe", "en")):
            self.analyze(text, language=lang)

    def analyze(self, text: str, *, language: str | None = None) -> TextAnalysis:
        lang = language or detect_language(text)
        findings = self.presidio.analyze(text, lang)
        resolved = resolve_overlaps([f for f in findings if f.entity_type != "SPECIAL_CATEGORY"])
        personal = any(f.score >= PERSONAL_MIN for f in resolved)
        if personal:  # a health/union/religion word counts only next to a person
            resolved += [f for f in findings if f.entity_type == "SPECIAL_CATEGORY"]
        return TextAnalysis(language=lang, findings=tuple(sorted(resolved, key=lambda f: (f.start, f.end))))
