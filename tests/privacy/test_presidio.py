"""The analysis really runs through Presidio's AnalyzerEngine; warm-up is thread-safe; results are cached."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import spacy
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import SpacyNlpEngine

from privacy import PrivacyEngine, build_privacy_engine
from privacy.analyzer import TextAnalysis
from privacy.engine import AnalysisCache
from privacy.ner import NER_LANGUAGES
from privacy.presidio import CORE_LANGUAGES, OwnContextEnhancer, SwitchboardRecognizer
from privacy.verdict import Finding

OURS = {
    "SwitchboardEmailRecognizer", "SwitchboardIbanRecognizer", "SwitchboardCardRecognizer",
    "SwitchboardNationalIdRecognizer", "SwitchboardPhoneRecognizer", "SwitchboardIpRecognizer",
    "SwitchboardBirthDateRecognizer", "SwitchboardAddressRecognizer", "SwitchboardPersonRecognizer",
    "SwitchboardSpecialCategoryRecognizer", "SwitchboardHandleRecognizer",
}


# each core language: its own model and the pooled second opinion; Russian: natasha
MODELS = {lang: {"SpacyRecognizer", "SecondOpinionRecognizer"} for lang in NER_LANGUAGES}
MODELS["ru"] = {"NatashaRecognizer"}


@pytest.mark.parametrize("lang", [*CORE_LANGUAGES, "nl", "sv", "uk", "fr", "cs"])
def test_registry_lists_our_recognizers_per_language(engine: PrivacyEngine, lang: str) -> None:
    presidio = engine.presidio
    assert isinstance(presidio, AnalyzerEngine)
    assert lang in presidio.supported_languages
    recognizers = presidio.get_recognizers(lang)
    assert {r.name for r in recognizers} == OURS | MODELS.get(lang, set())  # a trained model per core language
    ours = [r for r in recognizers if r.name in OURS]
    assert all(isinstance(r, SwitchboardRecognizer) and isinstance(r, EntityRecognizer) for r in ours)
    assert {r.supported_language for r in recognizers} == {lang}
    assert "PERSON" in presidio.get_supported_entities(lang)
    assert "NATIONAL_ID_PESEL" in presidio.get_supported_entities(lang)


def test_presidio_returns_recognizer_results_named_after_our_recognizers(engine: PrivacyEngine) -> None:
    results = engine.presidio.analyze(text="PESEL pracownika: 44051401359, pani Bożena Wrzeciono",
                                      language="pl", return_decision_process=True)
    assert all(isinstance(r, RecognizerResult) for r in results)
    by_type = {r.entity_type: r for r in results}
    pesel = by_type["NATIONAL_ID_PESEL"]
    assert pesel.recognition_metadata[RecognizerResult.RECOGNIZER_NAME_KEY] == "SwitchboardNationalIdRecognizer"
    assert pesel.analysis_explanation.recognizer == "SwitchboardNationalIdRecognizer"
    person_sources = {(r.entity_type, r.recognition_metadata[RecognizerResult.RECOGNIZER_NAME_KEY])
                      for r in results if r.entity_type.endswith("PERSON")}
    # every detector's person survives Presidio's de-duplication under its own name: the combination
    # must see the rules and both models agree on "Bożena Wrzeciono"
    assert person_sources == {("PERSON", "SwitchboardPersonRecognizer"), ("MODEL_PERSON", "SpacyRecognizer"),
                              ("SECOND_OPINION_PERSON", "SecondOpinionRecognizer")}


def test_engine_analysis_goes_through_presidio(engine: PrivacyEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    presidio = engine.presidio
    real = presidio.analyze
    calls: list[str] = []

    def spy(*args: Any, **kwargs: Any) -> list[RecognizerResult]:
        calls.append(kwargs["language"])
        results: list[RecognizerResult] = real(*args, **kwargs)
        return results

    monkeypatch.setattr(presidio, "analyze", spy)
    text = f"Ring Ole Sørensen på 21 43 65 87 ({time.time_ns()})."  # fresh text: not cached
    analysis = engine.analyze(text)
    assert calls == ["da"]
    assert {f.entity_type for f in analysis.findings} >= {"PERSON", "PHONE_NUMBER"}
    assert engine.analyze(text) is analysis  # second time: from the cache, Presidio not called again
    assert calls == ["da"]


def test_presidio_runs_our_trained_models_without_lemma_context(engine: PrivacyEngine) -> None:
    presidio = engine.presidio
    nlp_engine = presidio.nlp_engine
    assert isinstance(nlp_engine, SpacyNlpEngine)
    assert isinstance(presidio.context_aware_enhancer, OwnContextEnhancer)
    for lang in NER_LANGUAGES:
        nlp = nlp_engine.get_nlp(lang)
        assert nlp.lang == lang
        assert nlp.pipe_names == ["ner"]  # the shipped model: nothing downloaded
        assert set(nlp.get_pipe("ner").labels) == {"PER", "LOC", "ORG", "MISC"}
    assert nlp_engine.get_nlp("hu").lang == "xx"  # other languages share the multilingual tokenizer
    assert nlp_engine.get_nlp("hu").pipe_names == []


def test_cli_style_warm_up_loads_a_model_when_its_language_is_first_met() -> None:
    eng = build_privacy_engine()
    eng.warm_up(models=False)
    nlp_engine = eng.presidio.nlp_engine
    assert nlp_engine.get_nlp("da").pipe_names == []  # nothing loaded yet: a fast cold start
    assert "PERSON" in {f.entity_type for f in eng.analyze("Spørg Mette Kjærsgaard om tallene.", language="da")
                        .findings}
    assert nlp_engine.get_nlp("da").pipe_names == ["ner"]
    assert nlp_engine.get_nlp("pl").pipe_names == []  # only the language that was met


def test_language_first_seen_at_run_time_is_registered(engine: PrivacyEngine) -> None:
    analysis = engine.analyze("Kontakt: jon.jonsson@example.is, IBAN DE89 3704 0044 0532 0130 00", language="is")
    assert analysis.language == "is"
    assert {f.entity_type for f in analysis.findings} == {"EMAIL_ADDRESS", "IBAN_CODE"}
    assert {r.name for r in engine.presidio.get_recognizers("is")} == OURS


def presidio_findings(eng: PrivacyEngine) -> list[Finding]:
    return eng.analyzer.presidio.analyze("Yesterday I met Barack Obama in Paris.", "en")


def test_configured_spacy_model_adds_presidio_spacy_recognizer() -> None:
    from privacy.engine import spacy_model_path

    eng = build_privacy_engine(spacy_models={"en": spacy_model_path()})
    eng.warm_up()
    presidio = eng.presidio
    names = {r.name for r in presidio.get_recognizers("en")}
    assert names == OURS | {"SpacyRecognizer", "SecondOpinionRecognizer"}
    assert "core_web_sm" in presidio.nlp_engine.get_nlp("en").meta["name"]  # the configured model replaced ours
    assert presidio.nlp_engine.get_nlp("pl").meta["name"] != presidio.nlp_engine.get_nlp("en").meta["name"]
    results = presidio.analyze(text="Yesterday I met Barack Obama in Paris.", language="en")
    spacy_hits = [r for r in results if r.recognition_metadata[RecognizerResult.RECOGNIZER_NAME_KEY]
                  == "SpacyRecognizer"]
    # GPE "Paris" → LOCATION; inside Presidio each model's entities carry its own prefix
    assert sorted(r.entity_type for r in spacy_hits) == ["MODEL_LOCATION", "MODEL_PERSON"]
    second = [r for r in results if r.recognition_metadata[RecognizerResult.RECOGNIZER_NAME_KEY]
              == "SecondOpinionRecognizer"]
    assert "SECOND_OPINION_PERSON" in {r.entity_type for r in second}  # the pooled model votes too
    assert {(f.entity_type, f.source) for f in presidio_findings(eng)} >= {("PERSON", "model"), ("PERSON", "model2")}
    found = {f.entity_type for f in eng.analyze("Yesterday I met Barack Obama in Paris.").findings}
    assert found == {"PERSON"}  # places are evidence for the combination, never findings


def test_warm_up_builds_once_when_threads_race(monkeypatch: pytest.MonkeyPatch) -> None:
    import privacy.engine as engine_mod

    built: list[int] = []

    class SlowAnalyzer:
        def __init__(self, **kwargs: Any) -> None:
            built.append(1)
            time.sleep(0.05)
            self.warmed = False

        def warm_up(self, *, models: bool = True) -> None:
            time.sleep(0.05)
            self.warmed = True

        def analyze(self, text: str, *, language: str | None = None, deadline: float | None = None) -> TextAnalysis:
            assert self.warmed  # nobody gets a half-built analyzer
            return TextAnalysis(language=language or "en", findings=())

    monkeypatch.setattr(engine_mod, "Analyzer", SlowAnalyzer)
    eng = build_privacy_engine()
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            eng.warm_up() if i % 2 else eng.analyze(f"text {i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(built) == 1


def test_cache_is_bounded_lru_and_keyed_by_digest() -> None:
    cache = AnalysisCache(2)
    a, b, c = (TextAnalysis(language=x, findings=()) for x in "abc")
    ka, kb, kc = (AnalysisCache.key(t, None) for t in ("Anna Nowak", "Jan Kowalski", "Ole Hansen"))
    assert isinstance(ka, bytes) and b"Anna" not in ka
    assert AnalysisCache.key("Anna Nowak", "pl") != ka  # an explicit language is part of the key
    cache.put(ka, a)
    cache.put(kb, b)
    assert cache.get(ka) is a  # a is now most recent
    cache.put(kc, c)  # evicts b
    assert len(cache) == 2
    assert cache.get(kb) is None
    assert cache.get(ka) is a and cache.get(kc) is c
    off = AnalysisCache(0)
    off.put(ka, a)
    assert off.get(ka) is None


def test_blank_tokenizer_does_not_keep_every_name_it_saw() -> None:
    from privacy.presidio import LightSpacyNlpEngine

    nlp_engine = LightSpacyNlpEngine(["pl", "hu", "cs"], max_vocab=600)
    nlp_engine.load()
    first_pl, first_xx = nlp_engine.get_nlp("pl"), nlp_engine.get_nlp("hu")
    for i in range(400):
        nlp_engine.process_text(f"Zadzwoń do Imię{i} Nazwisko{i} w sprawie {i}", "pl")
        nlp_engine.process_text(f"Hívd fel Név{i} Vezeték{i} kollégát", "hu")
    assert nlp_engine.get_nlp("pl") is not first_pl
    assert len(nlp_engine.get_nlp("pl").vocab) <= 600
    assert nlp_engine.get_nlp("hu") is not first_xx
    assert nlp_engine.get_nlp("hu") is nlp_engine.get_nlp("cs")  # still one shared multilingual tokenizer


def test_model_pipeline_does_not_keep_every_name_it_saw() -> None:
    from privacy.ner import shipped_models
    from privacy.presidio import LightSpacyNlpEngine

    base = len(spacy.load(shipped_models()["da"]).vocab)  # the model's own lexemes
    nlp_engine = LightSpacyNlpEngine(["da"], models={"da": shipped_models()["da"]}, max_vocab=base + 300)
    nlp_engine.load()
    nlp_engine.load_models()
    first = nlp_engine.get_nlp("da")
    for i in range(200):
        nlp_engine.process_text(f"Ring til Fornavn{i} Efternavn{i} om ordre {i}", "da")
    assert nlp_engine.get_nlp("da") is not first
    assert nlp_engine.get_nlp("da").pipe_names == ["ner"]  # reloaded from the package, still the model
    assert len(nlp_engine.get_nlp("da").vocab) <= base + 300


def test_second_opinion_model_does_not_keep_every_name_it_saw() -> None:
    from privacy.ner import second_opinion_model
    from privacy.presidio import SharedSpacyModel

    path = second_opinion_model()
    assert path is not None
    base = len(spacy.load(path).vocab)
    shared = SharedSpacyModel(path, max_vocab=base + 300)
    first = shared.load_now()
    for i in range(200):
        shared.entities(f"Ring til Fornavn{i} Efternavn{i} om ordre {i}")
    assert shared.load_now() is not first and shared.loaded
    assert len(shared.load_now().vocab) <= base + 300
    spans = shared.entities("Ring til Mette Frederiksen om ordren.")
    assert any(label == "PER" for _, _, label in spans)  # still the model after the reload


def test_symbol_runs_are_tokenized_but_not_tagged() -> None:
    from privacy.ner import shipped_models
    from privacy.presidio import MAX_TOKEN_DENSITY, run_ner

    nlp = spacy.load(shipped_models()["en"])
    dense = "_" * 2_000
    doc = run_ner(nlp, dense)
    assert len(doc) > MAX_TOKEN_DENSITY * len(dense) and not doc.has_annotation("ENT_IOB")
    assert [e.label_ for e in run_ner(nlp, "Ask Barack Obama about the offer.").ents] == ["PER"]
