"""Presidio wiring: our recognizers as ``EntityRecognizer``s, a light spaCy NLP engine, one AnalyzerEngine.

Every request goes through ``presidio_analyzer.AnalyzerEngine.analyze(text, language=lang)``.

- ``SwitchboardRecognizer`` adapts one of our rule-based recognizers (``Recognizer`` protocol)
  to Presidio for one language: one instance per (recognizer, language), all registered in a
  ``RecognizerRegistry``. Results carry the recognizer's name in ``recognition_metadata``.
- ``LightSpacyNlpEngine`` is a ``SpacyNlpEngine`` with one pipeline per language: the trained
  named-entity model we ship (privacy.ner, PER/LOC/ORG/MISC) for pl, da, ro, ru, de and en, a
  configured spaCy model where ``SWITCHBOARD_SPACY_MODELS`` names one, and ``spacy.blank`` tokenizers
  (no model, no download) for every other language. Models load when a language is first analysed
  (the CLI pays only for the languages it meets) or all at once with ``load_models()`` (``serve``,
  before readiness). Presidio's ``SpacyRecognizer`` reports the model's entities — PERSON, and
  LOCATION / ORGANIZATION / MISC, which the combination step (privacy.combine) uses to tell a
  place or a company from a person.
- Presidio's lemma-based context enhancer is replaced by a no-op: our recognizers score their
  own multilingual context (keyword stems before a number, honorifics and cues around a name),
  and blank pipelines have no lemmas for Presidio's enhancer to read.

Languages not known at start-up are added on first use (``PresidioAnalyzer.ensure_language``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import spacy
from presidio_analyzer import AnalysisExplanation, AnalyzerEngine, EntityRecognizer, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import SpacyRecognizer
from presidio_analyzer.recognizer_registry import RecognizerRegistry

from privacy.recognizers import Recognizer
from privacy.verdict import Finding

# languages whose own spaCy tokenizer is loaded up front; others share the multilingual one
CORE_LANGUAGES = ("pl", "da", "ro", "de", "en", "ru")
_MULTI = "xx"
# spaCy names a few languages differently from what langdetect returns
_SPACY_CODE = {"no": "nb"}
# model labels → Presidio entity names (our models: PER/LOC/ORG/MISC; spaCy's own: PERSON/GPE/…)
_NER_LABELS = {"PERSON": "PERSON", "PER": "PERSON", "LOC": "LOCATION", "GPE": "LOCATION", "FAC": "LOCATION",
               "ORG": "ORGANIZATION", "MISC": "MISC", "NORP": "MISC", "PRODUCT": "MISC", "EVENT": "MISC",
               "WORK_OF_ART": "MISC"}
NER_ENTITIES = ("PERSON", "LOCATION", "ORGANIZATION", "MISC")
# Inside Presidio each statistical detector's entities carry their own names (MODEL_PERSON for the
# language's model, SECOND_OPINION_PERSON for the second opinion, PERSON for our rules): Presidio's
# de-duplication drops a result that another of the *same type* contains at an equal or higher score,
# and a model and the rules (or both models) agreeing on a span is what the combination must see.
# ``PresidioAnalyzer.analyze`` gives every finding its plain name back, with its source.
MODEL_PREFIX = "MODEL_"
SECOND_PREFIX = "SECOND_OPINION_"
MODEL_RECOGNIZERS = frozenset({"SpacyRecognizer", "NatashaRecognizer"})  # statistical, not rules
# what the models' results carry inside Presidio; privacy.combine gives PERSON findings their real score
MODEL_RAW_SCORE = 1.0


class SwitchboardRecognizer(EntityRecognizer):
    """A Presidio ``EntityRecognizer`` delegating to one of our recognizers for one language.

    ``analyze_language`` is what our recognizer is given: the detected language for the pattern
    recognizers (phone region, home country of an identifier), the word-list language for names.
    """

    def __init__(self, recognizer: Recognizer, *, entities: Sequence[str], language: str,
                 analyze_language: str | None = None, name: str | None = None) -> None:
        self._recognizer = recognizer
        self._analyze_language = analyze_language or language
        self._label: str = name or f"Switchboard{type(recognizer).__name__}"
        super().__init__(supported_entities=list(entities), supported_language=language, name=self._label,
                         version="1")
        self._entities = frozenset(entities)

    @property
    def recognizer(self) -> Recognizer:
        return self._recognizer

    def load(self) -> None:  # our recognizers are built ready
        return None

    def analyze(self, text: str, entities: list[str] | None,
                nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        wanted = self._entities if entities is None else self._entities.intersection(entities)
        metadata = {RecognizerResult.RECOGNIZER_NAME_KEY: self._label,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}
        return [
            RecognizerResult(
                f.entity_type, f.start, f.end, f.score,
                analysis_explanation=AnalysisExplanation(recognizer=self._label, original_score=f.score),
                recognition_metadata=dict(metadata),
            )
            for f in self._recognizer.analyze(text, self._analyze_language) if f.entity_type in wanted
        ]


class OwnContextEnhancer(ContextAwareEnhancer):
    """Leaves scores as our recognizers set them (they read their own multilingual context)."""

    def __init__(self) -> None:
        super().__init__(context_similarity_factor=0.0, min_score_with_context_similarity=0.0,
                         context_prefix_count=0, context_suffix_count=0)

    def enhance_using_context(self, text: str, raw_results: list[RecognizerResult], nlp_artifacts: NlpArtifacts,
                              recognizers: list[EntityRecognizer],
                              context: list[str] | None = None) -> list[RecognizerResult]:
        return raw_results


class LightSpacyNlpEngine(SpacyNlpEngine):
    """spaCy tokenizers without models (``spacy.blank``); a real model only where configured.

    Never downloads: a configured model must be a path or an installed package.
    """

    nlp: dict[str, Any] | None  # type: ignore[assignment]  # Presidio annotates it as None

    def __init__(self, languages: Iterable[str], *, models: Mapping[str, str] | None = None,
                 blank_languages: Iterable[str] = CORE_LANGUAGES, max_vocab: int = 50_000) -> None:
        self._languages = list(dict.fromkeys(languages))
        self._max_vocab = max_vocab
        self._model_paths = dict(models or {})
        self._blank_languages = frozenset(blank_languages)
        super().__init__(
            models=[{"lang_code": lang, "model_name": path} for lang, path in self._model_paths.items()],
            ner_model_configuration=NerModelConfiguration(
                model_to_presidio_entity_mapping={k: MODEL_PREFIX + v for k, v in _NER_LABELS.items()},
                labels_to_ignore=[],
                low_score_entity_names=[], default_score=MODEL_RAW_SCORE,
            ),
        )
        self._lock = threading.Lock()
        self._loaded_models: set[str] = set()

    @property
    def model_languages(self) -> frozenset[str]:
        """Languages with a real spaCy model (NER), as opposed to a blank tokenizer."""
        return frozenset(self._model_paths)

    def load(self) -> None:
        """Nothing is built up front: a language's pipeline, its model (``load_models``) or else a blank
        tokenizer, is made when the language is first analysed (a blank one costs ~0.1 s, and a
        `switchboard route` meets one or two of the 25 languages)."""
        with self._lock:
            self.nlp = {}

    def pipeline(self, lang: str) -> Any:
        """The language's spaCy pipeline: its model once loaded, else a blank tokenizer made now if needed."""
        nlp = self.nlp
        if nlp is None:
            raise ValueError("NLP engine is not loaded. Consider calling .load()")
        found = nlp.get(lang)
        if found is None:
            with self._lock:
                nlp = self.nlp or {}
                found = nlp.get(lang)
                if found is None:
                    found = self._blank(lang, nlp)
                    self.nlp = {**nlp, lang: found}  # swap whole dict: readers never see a half-built mapping
        return found

    def load_models(self, languages: Iterable[str] | None = None) -> None:
        """Load the NER models now (``serve`` does this before it reports ready)."""
        for lang in list(self._model_paths) if languages is None else languages:
            self._ensure_model(lang)

    @property
    def models_loaded(self) -> bool:
        return self._loaded_models >= set(self._model_paths)

    def _ensure_model(self, lang: str) -> None:
        if lang not in self._model_paths or lang in self._loaded_models:
            return
        with self._lock:
            if lang in self._loaded_models or self.nlp is None:
                return
            model = self._load(lang)
            self.nlp = {**self.nlp, lang: model}  # swap whole dict: readers never see a half-built mapping
            self._loaded_models.add(lang)

    def add_language(self, lang: str) -> None:
        with self._lock:
            if lang not in self._languages:
                self._languages = [*self._languages, lang]

    def get_supported_languages(self) -> list[str]:
        return list(self._languages)

    def get_nlp(self, language: str) -> Any:
        return self.pipeline(language)

    def is_stopword(self, word: str, language: str) -> bool:
        return bool(self.pipeline(language).vocab[word].is_stop)

    def is_punct(self, word: str, language: str) -> bool:
        return bool(self.pipeline(language).vocab[word].is_punct)

    def get_supported_entities(self) -> list[str]:
        return [MODEL_PREFIX + e for e in NER_ENTITIES]

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        self._ensure_model(language)
        pipeline = self.pipeline(language)
        artifacts: NlpArtifacts = self._doc_to_nlp_artifact(run_ner(pipeline, text), language)
        if len(pipeline.vocab) > self._max_vocab:
            self._recycle(language)
        return artifacts

    def _recycle(self, language: str) -> None:
        """spaCy keeps every token it has seen (names included) in its vocab: start a fresh pipeline."""
        with self._lock:
            if self.nlp is None:
                return
            old = self.nlp[language]
            if len(old.vocab) <= self._max_vocab:
                return
            fresh = self._load(language) if language in self._model_paths else self._blank(language, {})
            self.nlp = {lang: fresh if p is old else p for lang, p in self.nlp.items()}

    def _load(self, lang: str) -> Any:
        return spacy.load(self._model_paths[lang], exclude=["lemmatizer", "parser"])

    def _blank(self, lang: str, loaded: Mapping[str, Any]) -> Any:
        if lang in self._blank_languages or lang in self._model_paths:
            try:
                return spacy.blank(_SPACY_CODE.get(lang, lang))
            except ImportError:
                pass
        shared = next((p for p in loaded.values() if getattr(p, "lang", None) == _MULTI), None)
        return shared if shared is not None else spacy.blank(_MULTI)

    def _get_updated_entities(self, entities: list[Any], scores: list[float]) -> tuple[list[Any], list[float]]:
        kept = [(e, s) for e, s in zip(entities, scores, strict=True) if e.label_ in _NER_LABELS]
        return super()._get_updated_entities([e for e, _ in kept], [s for _, s in kept])


class NatashaRecognizer(EntityRecognizer):
    """natasha's Russian news NER (slovnet, MIT, shipped in its wheel) as a Presidio recognizer.

    Reports PERSON, LOCATION and ORGANIZATION like the spaCy models do; the tagger loads on first use
    or with ``load_now()`` (``serve`` warm-up), about 0.7 s and 110 MB.
    """

    _LABELS: ClassVar[dict[str, str]] = {"PER": MODEL_PREFIX + "PERSON", "LOC": MODEL_PREFIX + "LOCATION",
                                         "ORG": MODEL_PREFIX + "ORGANIZATION"}

    def __init__(self, *, language: str = "ru") -> None:
        self._ner = Lazy(_natasha)
        super().__init__(supported_entities=list(self._LABELS.values()), supported_language=language,
                         name="NatashaRecognizer", version="1")

    def load(self) -> None:  # Presidio calls this at construction: stay cheap, load on first use
        return None

    @property
    def loaded(self) -> bool:
        return self._ner.loaded

    def load_now(self) -> Any:
        return self._ner.get()

    def analyze(self, text: str, entities: list[str] | None,
                nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        return _model_results("NatashaRecognizer", self.id, [(s, e, self._LABELS[lab]) for s, e, lab in
                                                             self.load_now().entities(text)], entities)


class SharedSpacyModel:
    """One spaCy NER pipeline shared by every language it serves, loaded once (lazily or with
    ``load_now()``), its vocabulary renewed when it grows past ``max_vocab`` strings (spaCy keeps every
    token it has seen, names included)."""

    def __init__(self, path: str, *, max_vocab: int = 50_000) -> None:
        self.path = path
        self._max_vocab = max_vocab
        self._nlp = Lazy(lambda: spacy.load(path))

    @property
    def loaded(self) -> bool:
        return self._nlp.loaded

    def load_now(self) -> Any:
        return self._nlp.get()

    def entities(self, text: str) -> list[tuple[int, int, str]]:
        nlp = self.load_now()
        doc = run_ner(nlp, text)
        out = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        if len(nlp.vocab) > self._max_vocab:
            self._nlp.rebuild(nlp)
        return out


# spaCy tokens per character above which a text is symbols, not prose ("____", "A-A-A-", ASCII art):
# prose has 0.15-0.35 (emoticon-laden tweets at the top), code about 0.5. The models' cost grows with
# tokens, so such a chunk is tokenized but not tagged: the rules still read it.
MAX_TOKEN_DENSITY = 0.5


def run_ner(nlp: Any, text: str) -> Any:
    """``nlp(text)``, except that a text denser in tokens than MAX_TOKEN_DENSITY only gets tokenized."""
    doc = nlp.make_doc(text)
    if len(doc) > MAX_TOKEN_DENSITY * max(1, len(text)):
        return doc
    for _, component in nlp.pipeline:
        doc = component(doc)
    return doc


class Lazy:
    """A value built on first use (or ``get()`` at warm-up) exactly once, however many threads ask;
    ``rebuild(old)`` replaces it unless another thread already has."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._value: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def get(self) -> Any:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
        return self._value

    def rebuild(self, old: Any) -> None:
        with self._lock:
            if self._value is old:
                self._value = self._build()


def _natasha() -> Any:
    from privacy.ru_ner import NatashaNer

    return NatashaNer()


class SecondOpinionRecognizer(EntityRecognizer):
    """A second NER model for one language (the pooled multilingual one, privacy.ner), run on the
    text by itself next to the language's own model; its results are the combination's "model2"
    (``SECOND_OPINION_PERSON``, … inside Presidio: see MODEL_PREFIX)."""

    NAME = "SecondOpinionRecognizer"

    def __init__(self, model: SharedSpacyModel, *, language: str) -> None:
        self._model = model
        super().__init__(supported_entities=[SECOND_PREFIX + e for e in NER_ENTITIES], supported_language=language,
                         name=self.NAME, version="1")

    def load(self) -> None:  # the shared model loads on first use or with load_now()
        return None

    def analyze(self, text: str, entities: list[str] | None,
                nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        return _model_results(self.NAME, self.id, [(s, e, SECOND_PREFIX + _NER_LABELS[lab]) for s, e, lab in
                                                   self._model.entities(text) if lab in _NER_LABELS], entities)


def _model_results(name: str, ident: str, spans: Iterable[tuple[int, int, str]],
                   entities: list[str] | None) -> list[RecognizerResult]:
    """Presidio results (score ``MODEL_RAW_SCORE``) for a model's (start, end, entity) spans."""
    metadata = {RecognizerResult.RECOGNIZER_NAME_KEY: name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: ident}
    return [RecognizerResult(entity, start, end, MODEL_RAW_SCORE,
                             analysis_explanation=AnalysisExplanation(recognizer=name,
                                                                      original_score=MODEL_RAW_SCORE),
                             recognition_metadata=dict(metadata))
            for start, end, entity in spans if entities is None or entity in entities]


def natasha_available() -> bool:
    from importlib.util import find_spec

    return find_spec("natasha") is not None


RecognizerFactory = Callable[[str], list[SwitchboardRecognizer]]


class PresidioAnalyzer:
    """One ``AnalyzerEngine`` over our recognizers for every language; thread-safe language additions."""

    def __init__(self, recognizers_for: RecognizerFactory, languages: Sequence[str], *,
                 spacy_models: Mapping[str, str] | None = None, second_opinion: str | None = None,
                 second_opinion_languages: Iterable[str] = ()) -> None:
        self._recognizers_for = recognizers_for
        self._lock = threading.Lock()
        self._natasha: NatashaRecognizer | None = None
        self._second = SharedSpacyModel(second_opinion) if second_opinion else None
        self._second_languages = frozenset(second_opinion_languages) if second_opinion else frozenset()
        langs = list(dict.fromkeys([*languages, *(spacy_models or {})]))
        self.nlp_engine = LightSpacyNlpEngine(langs, models=spacy_models)
        self.nlp_engine.load()
        registry = RecognizerRegistry(supported_languages=list(langs))
        for lang in langs:
            for rec in self._language_recognizers(lang):
                registry.add_recognizer(rec)
        self.engine = AnalyzerEngine(registry=registry, nlp_engine=self.nlp_engine, supported_languages=list(langs),
                                     context_aware_enhancer=OwnContextEnhancer())
        self._languages = frozenset(langs)

    @property
    def languages(self) -> frozenset[str]:
        return self._languages

    def _language_recognizers(self, lang: str) -> list[EntityRecognizer]:
        recs: list[EntityRecognizer] = list(self._recognizers_for(lang))
        if lang in self.nlp_engine.model_languages:
            recs.append(SpacyRecognizer(supported_language=lang,
                                        supported_entities=[MODEL_PREFIX + e for e in NER_ENTITIES]))
        if self._second is not None and lang in self._second_languages:
            recs.append(SecondOpinionRecognizer(self._second, language=lang))
        if lang == "ru" and natasha_available():
            self._natasha = NatashaRecognizer(language=lang)
            recs.append(self._natasha)
        return recs

    @property
    def models_loaded(self) -> bool:
        """Every model is in memory (``serve`` after warm-up): nothing can load on a request's path."""
        return (self.nlp_engine.models_loaded and (self._natasha is None or self._natasha.loaded)
                and (self._second is None or self._second.loaded))

    def load_models(self, languages: Iterable[str] | None = None) -> None:
        """The models of ``languages`` (default: all) now — ``serve`` before readiness, the CLI before a
        text's time budget starts; otherwise each loads when first needed."""
        langs = None if languages is None else list(languages)
        self.nlp_engine.load_models(langs)
        if self._natasha is not None and (langs is None or self._natasha.supported_language in langs):
            self._natasha.load_now()
        if self._second is not None and (langs is None or self._second_languages.intersection(langs)):
            self._second.load_now()

    def ensure_language(self, lang: str) -> None:
        """Register recognizers and a tokenizer for a language first seen at run time."""
        if lang in self._languages:
            return
        with self._lock:
            if lang in self._languages:
                return
            self.nlp_engine.add_language(lang)
            registry = self.engine.registry
            registry.recognizers = [*registry.recognizers, *self._language_recognizers(lang)]
            registry.supported_languages = [*registry.supported_languages, lang]
            self.engine.supported_languages = [*self.engine.supported_languages, lang]
            self._languages = self._languages | {lang}

    def analyze(self, text: str, language: str) -> list[Finding]:
        self.ensure_language(language)
        results = self.engine.analyze(text=text, language=language)
        return [Finding(r.entity_type.removeprefix(MODEL_PREFIX).removeprefix(SECOND_PREFIX), r.start, r.end,
                        r.score, source=_source(r)) for r in results]


def _source(result: RecognizerResult) -> str:
    """"model" for the language's NER model, "model2" for the second opinion, "rules" for ours (the
    combination step reads it)."""
    name = (result.recognition_metadata or {}).get(RecognizerResult.RECOGNIZER_NAME_KEY, "")
    if name == SecondOpinionRecognizer.NAME:
        return "model2"
    return "model" if name in MODEL_RECOGNIZERS else "rules"
