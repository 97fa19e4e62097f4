"""The person combination rule (privacy/combine.py): model and rules, places and companies, as data."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from privacy import PrivacyEngine
from privacy.combine import CombinationRules, combine_persons, load_combination_rules
from privacy.verdict import Finding


class Judge:
    def __init__(self, things: set[tuple[int, int]] = frozenset(),  # type: ignore[assignment]
                 names: set[tuple[int, int]] = frozenset()) -> None:  # type: ignore[assignment]
        self._things = things
        self._names = names

    def refine(self, text: str, spans: Sequence[tuple[int, int]], language: str) -> list[tuple[int, int] | None]:
        return [None if span in self._things else span for span in spans]

    def named(self, text: str, span: tuple[int, int], language: str) -> bool:
        return span in self._names


RULES = CombinationRules.model_validate({
    "default": {"model_person": 0.8, "agreement": 0.95, "rule_alone_min": 0.7, "rule_over_other_min": 0.9},
    "languages": {"pl": {"rule_alone_min": 0.85}},
})


def _persons(findings: list[Finding], judge: Judge | None = None, lang: str = "en") -> list[tuple[int, int, float]]:
    out = combine_persons("x" * 100, lang, findings, judge=judge or Judge(), rules=RULES)
    return [(f.start, f.end, f.score) for f in out if f.entity_type == "PERSON"]


def test_model_person_alone_and_with_rule_agreement() -> None:
    assert _persons([Finding("PERSON", 0, 10, 1.0, source="model")]) == [(0, 10, 0.8)]
    both = [Finding("PERSON", 0, 10, 1.0, source="model"), Finding("PERSON", 0, 10, 0.75, source="rules")]
    assert _persons(both) == [(0, 10, 0.95)]


def test_the_second_opinion_model_votes() -> None:
    rules = CombinationRules.model_validate({"default": {"model_person": 0.45, "second_person": 0.45,
                                                         "agreement": 0.95, "rule_alone_min": 0.7}})

    def persons(findings: list[Finding]) -> list[tuple[int, int, float, str]]:
        out = combine_persons("x" * 100, "en", findings, judge=Judge(), rules=rules)
        return [(f.start, f.end, f.score, f.source) for f in out if f.entity_type == "PERSON"]

    own, second = Finding("PERSON", 0, 4, 1.0, source="model"), Finding("PERSON", 0, 10, 1.0, source="model2")
    assert persons([own]) == [(0, 4, 0.45, "model")]  # one model alone stays below the verdict here
    assert persons([second]) == [(0, 10, 0.45, "model2")]
    assert persons([own, second]) == [(0, 10, 0.95, "model")]  # both models: agreement, the wider span
    rule = Finding("PERSON", 0, 10, 0.8, source="rules")
    assert persons([second, rule]) == [(0, 10, 0.95, "model2")]  # a model and the rules agree
    other = Finding("ORGANIZATION", 0, 10, 1.0, source="model2")
    assert persons([Finding("PERSON", 0, 10, 0.8, source="rules"), other]) == []  # needs rule_over_other_min


def test_model_person_that_is_a_known_thing_is_dropped() -> None:
    assert _persons([Finding("PERSON", 0, 10, 1.0, source="model")], Judge({(0, 10)})) == []


def test_rule_person_thresholds_depend_on_model_opinion_and_language() -> None:
    weak = Finding("PERSON", 20, 30, 0.75, source="rules")
    strong = Finding("PERSON", 40, 50, 0.9, source="rules")
    assert _persons([weak, strong]) == [(20, 30, 0.75), (40, 50, 0.9)]
    place = [Finding("LOCATION", 20, 30, 1.0, source="model"), Finding("LOCATION", 40, 50, 1.0, source="model")]
    assert _persons([weak, strong, *place]) == [(40, 50, 0.9)]  # only the honorific-strength finding survives
    assert _persons([weak, strong], Judge({(20, 30)})) == [(40, 50, 0.9)]  # the gazetteer counts like the model
    assert _persons([weak, strong], lang="pl") == [(40, 50, 0.9)]  # a per-language override


def test_model_only_types_never_leave_the_combination() -> None:
    findings = [Finding("LOCATION", 0, 5, 1.0, source="model"), Finding("MISC", 6, 9, 1.0, source="model"),
                Finding("EMAIL_ADDRESS", 10, 20, 0.95, source="rules")]
    out = combine_persons("x" * 30, "en", findings, judge=Judge(), rules=RULES)
    assert [f.entity_type for f in out] == ["EMAIL_ADDRESS"]


def test_shipped_rules_load_and_are_sane() -> None:
    rules = load_combination_rules()
    for lang in ("pl", "da", "ro", "ru", "de", "en"):
        t = rules.for_language(lang)
        assert t.model_person <= t.agreement and t.second_person <= t.agreement and t.agreement >= 0.5
        assert max(t.model_person, t.second_person) >= 0.5  # at least one model counts alone or backed…
        assert t.rule_alone_min <= t.rule_over_other_min <= t.agreement  # …and agreement always counts


def test_overlapping_rule_span_widens_the_model_span() -> None:
    findings = [Finding("PERSON", 5, 9, 1.0, source="model"), Finding("PERSON", 5, 15, 0.85, source="rules")]
    assert _persons(findings) == [(5, 15, 0.95)]  # "Anna" + "Anna Nowak" → the whole name


@pytest.mark.parametrize(("lang", "text"), [
    ("pl", "Wyślij ofertę do Orlen S.A. w Płocku do piątku."),
    ("pl", "Spotkanie w Krakowie przeniesiono na czwartek."),
    ("ro", "Livrarea pentru Dacia S.R.L. din Mioveni întârzie o săptămână."),
    ("ro", "Zborul spre Moscova a fost anulat, rezervă altul prin Varșovia."),
    ("ru", "Отправь счёт в ООО «Ромашка» до пятницы."),
    ("ru", "Совещание в Москве перенесли на четверг."),
    ("da", "Send tilbuddet til Novo Nordisk A/S i Bagsværd."),
    ("de", "Die Siemens AG eröffnet ein Werk in München."),
    ("en", "Ship the pumps to Atlas Copco Ltd in Antwerp by Friday."),
])
def test_places_and_companies_are_not_persons(engine: PrivacyEngine, lang: str, text: str) -> None:
    assert "PERSON" not in {f.entity_type for f in engine.analyze(text, language=lang).findings}


@pytest.mark.parametrize(("lang", "text"), [
    ("de", "Unser Mitarbeiter Herr Becker ist an Depression erkrankt, formuliere eine Nachricht an HR."),
    ("en", "Ask Becker whether the van has arrived."),
    ("en", "email jan kowalski and piotr nowak about the offer"),
    ("pl", "Przekaż J. Nowakowi, że faktura jest gotowa."),
    ("ru", "Спроси Петрова, когда он пришлёт счёт."),
    ("ro", "Întreabă-l pe Popescu dacă a trimis raportul."),
    ("da", "Spørg Kjærgaard om han har sendt fakturaen."),
])
def test_persons_the_issue_names(engine: PrivacyEngine, lang: str, text: str) -> None:
    assert "PERSON" in {f.entity_type for f in engine.analyze(text, language=lang).findings}


def test_without_the_second_opinion_its_own_thresholds_apply() -> None:
    rules = load_combination_rules()
    single = rules.without_second_opinion()
    assert single.languages == rules.single_model and set(single.languages) == set(rules.languages)
    assert single.for_language("ro").rule_alone_min != rules.for_language("ro").rule_alone_min


def test_second_opinion_can_be_turned_off() -> None:
    from privacy import build_privacy_engine

    eng = build_privacy_engine(spacy_models={"xx": ""}, cache_size=0)
    eng.warm_up(models=False)
    names = {r.name for r in eng.presidio.get_recognizers("pl")}
    assert "SecondOpinionRecognizer" not in names and "SpacyRecognizer" in names
    assert "PERSON" in {f.entity_type for f in eng.analyze("Zadzwoń do pani Anny Nowak.").findings}


def test_contested_span_scores_low_unless_a_name_list_knows_it() -> None:
    rules = CombinationRules.model_validate({"default": {
        "model_person": 0.8, "second_person": 0.8, "agreement": 0.95, "rule_alone_min": 0.5,
        "contested": 0.45, "contested_rule_min": 0.75}})

    def persons(findings: list[Finding], judge: Judge) -> list[tuple[int, int, float]]:
        out = combine_persons("x" * 100, "da", findings, judge=judge, rules=rules)
        return [(f.start, f.end, f.score) for f in out if f.entity_type == "PERSON"]

    second = Finding("PERSON", 0, 9, 1.0, source="model2")
    own_org = Finding("ORGANIZATION", 0, 9, 1.0, source="model")
    weak_rule = Finding("PERSON", 0, 9, 0.65, source="rules")
    # the own model says organisation ("Gyldendal"): the second opinion alone counts for little
    assert persons([second, own_org], Judge()) == [(0, 9, 0.45)]
    # and a weak rule finding no longer makes it an agreement
    assert persons([second, own_org, weak_rule], Judge()) == [(0, 9, 0.45)]
    # a listed name ("Vestergaard-Holm") keeps the second opinion's own score
    assert persons([second, own_org], Judge(names={(0, 9)})) == [(0, 9, 0.8)]
    # uncontested, the weak rule finding agrees
    assert persons([second, weak_rule], Judge()) == [(0, 9, 0.95)]
