"""The place/organisation gazetteer: declined places, legal forms, organisation head words — and people.

Documented limit: a single word that is both a place and a person's name matches as a place ("Paris",
"London", "Praga"); the person recognizer has to let a strong person cue win. Common first names
("Anna", "Maria") are kept out of the gazetteer by the builder, but nothing guarantees every such name is.
"""

from __future__ import annotations

import random
import time
import unicodedata

import pytest

from privacy.gazetteer import (
    DIRECTORY,
    MAX_PHRASE,
    ORG_HEAD_WORDS,
    Gazetteer,
    load_gazetteer,
    org_prefix_before,
    org_suffix_after,
)
from privacy.lexicon import SUPPORTED
from privacy.text import tokenize


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return load_gazetteer()


# (language, words as the recognizer hands them over) — the phrase in a comment where it helps
PLACES = [
    ("pl", "Krakowie"),  # w Krakowie
    ("pl", "Warszawy"),  # do Warszawy
    ("pl", "Niemczech"),  # w Niemczech
    ("pl", "Poznaniu"),
    ("pl", "Gdańsku"),
    ("pl", "Wrocławiu"),
    ("pl", "Polsce"),
    ("pl", "Łodzi"),
    ("pl", "Lodzi"),  # typed without diacritics
    ("pl", "Kopenhadze"),
    ("pl", "Bukareszcie"),
    ("pl", "Moskwie"),
    ("pl", "Stanach Zjednoczonych"),
    ("ro", "Moscovei"),
    ("ro", "Bucureștiului"),
    ("ro", "Bucurestiului"),
    ("ro", "României"),
    ("ro", "Romaniei"),
    ("ro", "Varșoviei"),
    ("ro", "Clujului"),
    ("ro", "Franței"),
    ("ru", "Москве"),
    ("ru", "Германии"),
    ("ru", "Петербурга"),
    ("ru", "Санкт-Петербурга"),
    ("ru", "России"),
    ("ru", "Риме"),
    ("ru", "Кельне"),  # ё written as е
    ("da", "Københavns"),
    ("da", "København"),
    ("da", "Danmarks"),
    ("da", "Aarhus"),
    ("de", "Deutschlands"),
    ("de", "Münchens"),
    ("de", "Munchen"),
    ("de", "Berlins"),
    ("de", "Frankfurt am Main"),
    ("en", "London"),
    ("en", "Germany's"),
    ("en", "United States"),
    ("en", "Warsaw"),
]

ORGANISATIONS = [
    ("pl", "Ministerstwo Finansów"),
    ("pl", "Ministerstwa Finansów"),  # genitive
    ("pl", "Uniwersytetu Warszawskiego"),
    ("pl", "Narodowy Bank Polski"),
    ("pl", "Rada Miasta"),
    ("pl", "Radzie Miasta"),
    ("pl", "Orlen"),
    ("ro", "Ministerul Afacerilor Externe"),
    ("ro", "Ministerului Sănătății"),
    ("ro", "Universitatea din București"),
    ("ru", "Министерство финансов"),
    ("ru", "Министерства финансов"),
    ("ru", "Газпрома"),
    ("da", "Novo Nordisk"),
    ("da", "Udenrigsministeriet"),  # compound ending in a head word
    ("da", "Aarhus Universitet"),
    ("da", "Danske Bank"),
    ("de", "Bundesministerium der Finanzen"),
    ("de", "Finanzministerium"),
    ("de", "Deutsche Bank"),
    ("de", "Technische Universität München"),
    ("en", "Ministry of Defence"),
    ("en", "University of Oxford"),
    ("en", "Bank of England"),
    ("en", "Church of England"),
    # a run that carries its legal form
    ("da", "Novo Nordisk A/S"),
    ("da", "Bohr ApS"),
    ("de", "Siemens AG"),
    ("de", "Müller GmbH & Co. KG"),
    ("pl", "Orlen S.A."),
    ("pl", "Kowalczyk Sp. z o.o."),
    ("ro", "Dacia SRL"),
    ("ru", "ООО «Ромашка»"),
    ("ru", "ПАО Сбербанк"),
    ("en", "Initech Ltd"),
]

PEOPLE = [
    ("pl", "Jan Kowalski"),
    ("pl", "Jana Kowalskiego"),
    ("pl", "Kowalski"),
    ("pl", "Kowalskiego"),
    ("pl", "Nowak"),
    ("pl", "Mazur"),  # a surname, though "Mazury" (Masuria) is a place
    ("pl", "Mazura"),
    ("pl", "Dominika"),  # a first name, though Dominica is "Dominika" in Polish
    ("pl", "Kuba"),  # Jakub's short form, though Cuba is "Kuba" in Polish
    ("pl", "Rada Allard"),  # "Rada" (council) is also a first name: a head word only before a non-name
    ("ro", "Ion Popescu"),
    ("ro", "Popescu"),
    ("ro", "Ion"),
    ("ro", "Curt Ajello"),
    ("ru", "Анна Петрова"),
    ("ru", "Петрова"),
    ("ru", "Иван Иванов"),
    ("ru", "Иванова"),
    ("ru", "Мельников"),  # Мельник is a Czech town (Mělník): a surname matches only as written
    ("da", "Lars Nielsen"),
    ("da", "Nielsen"),
    ("de", "Angela Merkel"),
    ("de", "Merkel"),
    ("en", "John Smith"),
    ("en", "Smith"),
    ("en", "Francis"),  # not "France" + s
    ("en", "Albert"),  # not a stem of "Alberta"
    ("en", "Charlotte Church"),  # "Church" is a head word only first: "Church of England"
    ("ru", "ИП Иванов"),  # a sole trader is a person
]

# documented: these are places and people's names at once, and match as places
PLACE_AND_NAME = [("en", "Paris"), ("de", "Paris"), ("pl", "Praga"), ("ro", "Parisului"), ("en", "London")]


@pytest.mark.parametrize(("lang", "phrase"), PLACES + ORGANISATIONS + PLACE_AND_NAME)
def test_known_place_or_organisation(gaz: Gazetteer, lang: str, phrase: str) -> None:
    assert gaz.match(phrase.split(), lang), (lang, phrase)


@pytest.mark.parametrize(("lang", "phrase"), PEOPLE)
def test_people_are_no_places(gaz: Gazetteer, lang: str, phrase: str) -> None:
    assert not gaz.match(phrase.split(), lang), (lang, phrase)


def test_words_split_like_the_text(gaz: Gazetteer) -> None:
    words = [t.text for t in tokenize("Spotkanie w Krakowie, potem do Warszawy.")]
    assert gaz.match([words[2]], "pl") and gaz.match([words[5]], "pl")
    assert gaz.match(["Novo", "Nordisk"], "da") and gaz.match(["Stanach Zjednoczonych"], "pl")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Umowę z Novo Nordisk A/S podpisano.", "Novo Nordisk"),
        ("Vi har en aftale med Bohr ApS om leveringen.", "Bohr"),
        ("Die Siemens AG liefert.", "Siemens"),
        ("Bestellung bei Müller GmbH & Co. KG", "Müller"),
        ("Bestellung bei Weber GmbH, Berlin", "Weber"),
        ("Faktura dla Orlen S.A. jest gotowa.", "Orlen"),
        ("Faktura dla Kowalczyk Sp. z o.o. jest gotowa.", "Kowalczyk"),
        ("Faktura dla Nowak i Wspólnicy sp. j.", "Nowak i Wspólnicy"),
        ("Contract cu Petrom SA semnat.", "Petrom"),
        ("Factura de la Dacia S.R.L. a sosit.", "Dacia"),
        ("Invoice from Acme, Inc. attached.", "Acme"),
        ("Invoice from Smith & Co. attached.", "Smith"),
        ("Talk to Initech Ltd about it.", "Initech"),
        ("Tesco plc reported.", "Tesco"),
        ("Philips N.V. and Shell B.V.", "Philips"),
        ("Договор с «Ромашка» ООО подписан.", "Ромашка"),
    ],
)
def test_legal_form_after(text: str, name: str) -> None:
    assert org_suffix_after(text, text.index(name) + len(name)), text


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Договор с ООО «Ромашка» подписан.", "Ромашка"),
        ('Договор с ООО "Ромашка" подписан.', "Ромашка"),
        ("Договор с ПАО Сбербанк подписан.", "Сбербанк"),
        ("Счёт от ЗАО «Вектор».", "Вектор"),
        ("Счёт от ИП «Северный ветер».", "Северный ветер"),
        ("Contract cu S.C. Petrom SA semnat.", "Petrom"),
        ("Contract cu SC Ardealul SRL semnat.", "Ardealul"),
    ],
)
def test_legal_form_before(text: str, name: str) -> None:
    assert org_prefix_before(text, text.index(name)), text


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Anna Nowak ma AGD w domu.", "Anna Nowak"),  # "AG" needs a word boundary
        ("Ask John Smith as soon as you can.", "John Smith"),  # "as" is no "AS"
        ("Frag Angela Merkel, sagt er.", "Angela Merkel"),
        ("Lars Nielsen, Aarhus", "Lars Nielsen"),
        ("Ion Popescu, SAS-ul e gata?", "Ion Popescu"),  # SAS with a word after it
    ],
)
def test_no_legal_form_after_people(text: str, name: str) -> None:
    assert not org_suffix_after(text, text.index(name) + len(name)), text


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Позвони ИП Иванову.", "Иванову"),  # a sole trader is a person: ИП counts only before a quote
        ("Спроси Анну Петрову.", "Анну"),
        ("DISC Petrom", "Petrom"),
        ("S.C.", "S.C."),
    ],
)
def test_no_legal_form_before_people(text: str, name: str) -> None:
    assert not org_prefix_before(text, text.index(name)), text


def test_head_words_for_every_language() -> None:
    assert set(ORG_HEAD_WORDS) == set(SUPPORTED)
    assert all(ORG_HEAD_WORDS[lang] for lang in SUPPORTED)


def test_unknown_language_reads_english(gaz: Gazetteer) -> None:
    assert gaz.match(["London"], "xx") and not gaz.match(["John", "Smith"], "xx")


def test_load_is_cached() -> None:
    assert Gazetteer.load() is load_gazetteer() is load_gazetteer()


def test_any_input_is_answered_quickly(gaz: Gazetteer) -> None:
    rnd = random.Random(7)
    alphabet = [chr(rnd.randrange(0x20, 0x3000)) for _ in range(400)] + list("AaĄąŁł./&-'’ \u0301\u0306\ud800\x00")
    samples: list[list[str]] = [[], [""], ["\x00"], ["A" * 100_000], ["Ab"] * 10_000, ["-'-"], [" "]]
    samples += [["".join(rnd.choices(alphabet, k=rnd.randrange(12))) for _ in range(rnd.randrange(5))]
                for _ in range(300)]
    started = time.perf_counter()
    for words in samples:
        for lang in ("pl", "ru", "en", ""):
            assert isinstance(gaz.match(words, lang), bool)
        text = " ".join(words)[:1000]
        for i in (-1, 0, len(text) // 2, len(text), len(text) + 1):
            assert isinstance(org_suffix_after(text, i), bool)
            assert isinstance(org_prefix_before(text, i), bool)
    assert not gaz.match(["Krakowie"] * (MAX_PHRASE + 1), "pl")  # longer than any entry: not looked up
    assert org_suffix_after(" " * 200_000 + "AG", 0) is False  # at most three spaces before the form
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("lang", SUPPORTED)
def test_gazetteer_files(lang: str) -> None:
    lines = (DIRECTORY / f"{lang}.txt").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    entries = lines[:-1]
    assert 1000 < len(entries) == len(set(entries))
    assert entries == sorted(entries)
    assert all(e == e.lower() == " ".join(e.split()) == unicodedata.normalize("NFC", e) for e in entries)


def test_gazetteer_size() -> None:
    assert sum(p.stat().st_size for p in DIRECTORY.glob("*.txt")) < 5 * 1024 * 1024  # GeoNames cities: 4.2 MB
