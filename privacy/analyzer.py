"""One text → language + findings: Presidio runs the NER model and our recognizers for that language,
then the person combination rule, our overlap resolution and the special-category rule.

Detection goes through ``presidio_analyzer.AnalyzerEngine`` (privacy.presidio): each rule-based
recognizer is a registered ``EntityRecognizer`` per language, and the NLP engine runs our trained
named-entity model for pl, da, ro, de and en (privacy.ner; natasha's for ru; another spaCy model per
language can be configured with ``spacy_models={"de": path}``). privacy.combine decides PERSON.

Long texts are analysed in chunks of at most ``CHUNK_CHARS`` characters cut at line or sentence ends
(overlapping, so nothing straddles a cut unseen); a deadline is checked before every chunk, so a
time budget really stops the work instead of leaving a thread running.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from privacy.combine import CombinationRules, combine_persons, load_combination_rules
from privacy.gazetteer import Gazetteer, load_gazetteer, org_prefix_before, org_suffix_after
from privacy.langdetect import CANDIDATES, detect_language, detect_languages
from privacy.langdetect import warm_up as warm_langid
from privacy.lexicon import SUPPORTED, Lexicon, load_lexicon
from privacy.names import FALLBACK, PersonRecognizer
from privacy.ner import NER_LANGUAGES, SECOND_OPINION, second_opinion_model, shipped_models
from privacy.nlp_imports import backends_hidden, needs_torch
from privacy.recognizers import (
    NATIONAL_IDS,
    AddressRecognizer,
    BirthDateRecognizer,
    CardRecognizer,
    EmailRecognizer,
    HandleRecognizer,
    IbanRecognizer,
    IpRecognizer,
    NationalIdRecognizer,
    PhoneRecognizer,
    Recognizer,
    SpecialCategoryRecognizer,
)
from privacy.recognizers.personal import ADDRESS_NEAR_PERSON
from privacy.text import mask_non_prose
from privacy.verdict import Finding

if TYPE_CHECKING:  # spaCy and Presidio load at first analysis, not at import
    from privacy.presidio import PresidioAnalyzer, SwitchboardRecognizer

# when two findings overlap, the more specific type keeps the span
_PRIORITY = {"IBAN_CODE": 9, "EMAIL_ADDRESS": 9, "CREDIT_CARD": 8, "NATIONAL_ID": 7, "IP_ADDRESS": 6,
             "DATE_OF_BIRTH": 5, "PHONE_NUMBER": 4, "ADDRESS": 3, "PERSON": 2, "SPECIAL_CATEGORY": 0}
PERSONAL_MIN = 0.5
CHUNK_CHARS = 2_000
CHUNK_OVERLAP = 160


class AnalysisTimeout(TimeoutError):
    """The analysis passed its deadline and stopped between two chunks."""


@dataclass(frozen=True, slots=True)
class TextAnalysis:
    language: str
    findings: tuple[Finding, ...]
    # every language the text was read in, ``language`` first: more than one when detection was unsure
    languages: tuple[str, ...] = ()


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
    EmailRecognizer: ("EMAIL_ADDRESS",), HandleRecognizer: ("USER_HANDLE",), IbanRecognizer: ("IBAN_CODE",),
    CardRecognizer: ("CREDIT_CARD",),
    NationalIdRecognizer: tuple(sorted({spec.entity_type for spec in NATIONAL_IDS})),
    PhoneRecognizer: ("PHONE_NUMBER",), IpRecognizer: ("IP_ADDRESS",), BirthDateRecognizer: ("DATE_OF_BIRTH",),
    AddressRecognizer: ("ADDRESS",), PersonRecognizer: ("PERSON",), SpecialCategoryRecognizer: ("SPECIAL_CATEGORY",),
}
# every language langdetect may return, plus the neighbours FALLBACK maps
LANGUAGES = tuple(dict.fromkeys([*SUPPORTED, *CANDIDATES, *FALLBACK]))


def words_language(lang: str) -> str:
    """The language whose word lists serve ``lang`` (names, special categories)."""
    return lang if lang in SUPPORTED else FALLBACK.get(lang, "en")


_MAX_LIST_ITEMS = 16  # a list's first items decide; bounds the work on a long span


class RuleThingJudge:
    """Is a candidate person span a thing? The rule layer's decoys and brands, the place and organisation
    gazetteer, or a legal form next to it ("Novo Nordisk A/S", "ООО «Ромашка»")."""

    def __init__(self, persons: PersonRecognizer, gazetteer: Gazetteer) -> None:
        self._persons = persons
        self._gazetteer = gazetteer

    def refine(self, text: str, spans: Sequence[tuple[int, int]], language: str) -> list[tuple[int, int] | None]:
        lang = words_language(language)
        prose = mask_non_prose(text)
        out: list[tuple[int, int] | None] = []
        for span in self._persons.refine(text, spans, language):
            if span is not None:
                s, e = span
                if (prose[s:e] != text[s:e] or org_suffix_after(text, e) or org_prefix_before(text, s)
                        or self._gazetteer.match(text[s:e].split(), lang) or self._place_list(text[s:e], lang)):
                    span = None
            out.append(span)
        return out

    def _place_list(self, span: str, lang: str) -> bool:
        """A span running across commas is a list, not "Surname, First name", when one of its first
        items is a known place: "Mare, Satu Mare, Bistrița, Slatina", "Mardscha, Laschkar Gah, Kandahar"."""
        return "," in span and any(
            self._gazetteer.match(item.split(), lang) for item in span.split(",")[:_MAX_LIST_ITEMS] if item.strip())

    def named(self, text: str, span: tuple[int, int], language: str) -> bool:
        return self._persons.named(text, span, language)


class Analyzer:
    """Our recognizers, run through Presidio's AnalyzerEngine, then our overlap and special-category rules."""

    def __init__(self, *, lexicon: Lexicon | None = None, spacy_models: Mapping[str, str] | None = None,
                 languages: Sequence[str] = LANGUAGES, combination: CombinationRules | None = None) -> None:
        self._lexicon = lexicon or load_lexicon()
        self._combination = combination or load_combination_rules()
        words = self._lexicon.words
        self._persons = PersonRecognizer(self._lexicon)
        self._judge = RuleThingJudge(self._persons, load_gazetteer())
        self._special = SpecialCategoryRecognizer({
            lang: words.get("special_categories", lang) | words.get("special_categories", "en")
            for lang in SUPPORTED
        })
        self._patterns: tuple[Recognizer, ...] = (
            EmailRecognizer(), HandleRecognizer(), IbanRecognizer(), CardRecognizer(), NationalIdRecognizer(),
            PhoneRecognizer(), IpRecognizer(), BirthDateRecognizer(), AddressRecognizer(),
        )
        configured = dict(spacy_models or {})
        second = second_opinion_model(configured)
        if second is None:
            self._combination = self._combination.without_second_opinion()
        configured.pop(SECOND_OPINION, None)
        models = {**shipped_models(), **configured}
        with backends_hidden(unless=needs_torch({**models, **({SECOND_OPINION: second} if second else {})})):
            from privacy.presidio import PresidioAnalyzer
        self.presidio: PresidioAnalyzer = PresidioAnalyzer(self._recognizers_for, languages, spacy_models=models,
                                                           second_opinion=second,
                                                           second_opinion_languages=NER_LANGUAGES)

    @property
    def judge(self) -> RuleThingJudge:
        return self._judge

    @staticmethod
    def detect(text: str) -> str:
        return detect_language(text)

    @staticmethod
    def plausible(text: str) -> tuple[str, ...]:
        """Every language the text may be in, the likeliest first (several when detection is unsure)."""
        return detect_languages(text).plausible

    def _recognizers_for(self, lang: str) -> list[SwitchboardRecognizer]:
        """Presidio recognizers for one language: the same rule-based instances, each told its language."""
        from privacy.presidio import SwitchboardRecognizer

        wl = words_language(lang)
        recs = [SwitchboardRecognizer(r, entities=_ENTITIES[type(r)], language=lang) for r in self._patterns]
        recs += [SwitchboardRecognizer(r, entities=_ENTITIES[type(r)], language=lang, analyze_language=wl)
                 for r in (self._persons, self._special)]
        return recs

    def warm_up(self, *, models: bool = True) -> None:
        """Load language identification; with ``models`` (``serve``) every language's NER models, word
        frequencies and gazetteer too. Without, those load per language with `load_languages`."""
        warm_langid()
        if models:
            self._lexicon.freq.warm(SUPPORTED)
            load_gazetteer().warm()
            self.presidio.load_models()
            for text, lang in (("Anna Nowak, tel. 601 234 567", "pl"), ("Hi Jane Doe", "en")):
                self.analyze(text, language=lang)

    def load_languages(self, languages: Iterable[str]) -> None:
        """What analysing text in ``languages`` needs, now: their NER models, word frequencies and
        gazetteer (the CLI, before a text's time budget starts; each language once)."""
        langs = {FALLBACK.get(lang, lang) for lang in languages}
        self.presidio.load_models(langs)
        words = sorted({words_language(lang) for lang in langs})
        self._lexicon.freq.warm(words)
        load_gazetteer().warm(words)

    def analyze(self, text: str, *, language: str | None = None, deadline: float | None = None) -> TextAnalysis:
        """Findings for one text; ``deadline`` (``time.monotonic()``) stops the work between chunks.

        Without ``language``, a text whose language detection is unsure of ("tak", "hi Jana") is read in
        every plausible language (each one's model and word lists) and a span keeps its best score: an
        unsure guess must not cost recall."""
        # a lone surrogate (JSON can carry "\udbb2") cannot be encoded, and spaCy's tokenizer encodes:
        # U+FFFD in its place keeps every offset
        text = _LONE_SURROGATE.sub("\ufffd", text)
        langs = (language,) if language else detect_languages(text).plausible
        found: dict[tuple[str, int, int], Finding] = {}
        for lang in langs:
            for f in self._read(text, lang, deadline):
                key = (f.entity_type, f.start, f.end)
                if key not in found or f.score > found[key].score:
                    found[key] = f
        findings = list(found.values())
        resolved = resolve_overlaps([f for f in findings if f.entity_type != "SPECIAL_CATEGORY"])
        personal = any(f.score >= PERSONAL_MIN for f in resolved)
        if personal:  # a health/union/religion word, or an address with no address word, counts next to a person
            resolved = [replace(f, score=ADDRESS_NEAR_PERSON) if f.entity_type == "ADDRESS" and f.score < PERSONAL_MIN
                        else f for f in resolved]
            resolved += [f for f in findings if f.entity_type == "SPECIAL_CATEGORY"]
        return TextAnalysis(language=langs[0], findings=tuple(sorted(resolved, key=lambda f: (f.start, f.end))),
                            languages=langs)

    def _read(self, text: str, lang: str, deadline: float | None) -> list[Finding]:
        """Findings of one language's recognizers, chunk by chunk, offsets in ``text``."""
        findings: list[Finding] = []
        seen: set[tuple[str, int, int]] = set()
        for start, end in chunks(text):
            if deadline is not None and time.monotonic() > deadline:
                raise AnalysisTimeout(f"analysis stopped at character {start} of {len(text)}")
            part = text[start:end]
            # a close neighbour ("no" for Danish, frequent on short texts) is read with its fallback's
            # model and word lists: Norwegian with the Danish ones, Ukrainian with the Russian; any other
            # language keeps its own pattern recognizers (phone regions) and the English word lists
            raw = self.presidio.analyze(part, FALLBACK.get(lang, lang))
            for f in combine_persons(part, words_language(lang), raw, judge=self._judge, rules=self._combination):
                key = (f.entity_type, f.start + start, f.end + start)
                if key not in seen:
                    seen.add(key)
                    findings.append(replace(f, start=key[1], end=key[2]))
        return findings


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_CUTS = ("\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " ")


def chunks(text: str, *, size: int = CHUNK_CHARS, overlap: int = CHUNK_OVERLAP) -> list[tuple[int, int]]:
    """(start, end) pieces covering ``text``, each at most ``size`` long, cut at the best boundary in the
    second half of a piece and overlapping by ``overlap`` so an entity near a cut is seen whole."""
    n = len(text)
    out: list[tuple[int, int]] = []
    start = 0
    while True:
        end = min(n, start + size)
        if end < n:
            lo = start + size // 2
            for cut in _CUTS:
                at = text.rfind(cut, lo, end)
                if at >= 0:
                    end = at + len(cut)
                    break
        out.append((start, end))
        if end >= n:
            return out
        back = text.find(" ", end - overlap, end)  # restart at a word boundary inside the overlap
        start = max(back + 1 if back >= 0 else end - overlap, start + 1)  # progress guarantee
