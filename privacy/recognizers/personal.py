"""Dates of birth (a date next to a birth word) and postal addresses (street + number, postcode + town)."""

from __future__ import annotations

import re

from privacy.recognizers.base import has_context
from privacy.verdict import Finding

_MONTH = r"[^\W\d_]{3,12}\.?"
_DATE = re.compile(
    r"(?<![\w.])(?:\d{1,2}[./-]\d{1,2}[./-](?:19|20)?\d{2}|(?:19|20)\d{2}-\d{2}-\d{2}|"
    rf"\d{{1,2}}\.? {_MONTH} (?:19|20)\d{{2}}|{_MONTH} \d{{1,2}},? (?:19|20)\d{{2}})(?![\w])"
)
BIRTH_CONTEXT = frozenset({
    "born", "birth", "dob", "b.", "birthday", "urodz", "ur", "data urodzenia", "født", "fødsel", "f.",
    "fødselsdag", "născut", "nascut", "nașter", "naster", "geboren", "geb", "geburt", "родил", "рожден",
    "д.р", "др", "age", "wiek", "alder", "vârst", "alter", "возраст",
})


class BirthDateRecognizer:
    def analyze(self, text: str, language: str) -> list[Finding]:
        return [
            Finding("DATE_OF_BIRTH", m.start(), m.end(), 0.9)
            for m in _DATE.finditer(text)
            if has_context(text, m.start(), BIRTH_CONTEXT, chars=50, words=5)
        ]


_CAP = r"[A-ZÀ-ÖØ-ÞĀ-ŽА-ЯЁ][\w'’.-]{1,40}"  # bounded: "A-B-C-…" offers a match start at every capital
_ADDRESS_PATTERNS = tuple(re.compile(p) for p in (
    # Polish: ul. Kwiatowa 5/3, al. Jana Pawła II 12
    rf"\b(?:ul\.|ulica|ulicy|al\.|aleja|alei|os\.|osiedle|pl\.|plac)\s*{_CAP}(?:\s+{_CAP}){{0,3}}\s+\d+[a-zA-Z]?(?:/\d+)?",
    # German / Danish / Dutch / Swedish compounds: Hauptstraße 12, Nørregade 4, Kerkstraat 7
    r"\b[A-ZÄÖÜÆØÅ][\wäöüßæøå-]{0,40}(?:straße|strasse|str\.|weg|allee|platz|gasse|ring|damm|ufer|gade|vej|"
    r"allé|stræde|torv|vænget|straat|laan|gatan|vägen)\s+\d+[a-zA-Z]?\b",
    # Romanian: Str. Mihai Eminescu nr. 5, Bd. Unirii 12
    rf"\b(?:[Ss]tr\.|[Ss]trada|[Bb]d\.|[Bb]ulevardul|[Cc]alea|[Aa]leea|[Șș]os\.|[Șș]oseaua|[Ss]pl\.)\s*"
    rf"{_CAP}(?:\s+{_CAP}){{0,3}},?\s+(?:nr\.?\s*)?\d+[A-Za-z]?",
    # Russian: ул. Ленина, д. 5
    r"(?:ул\.|улица|пр\.|проспект|пер\.|переулок|б-р|бульвар|ш\.|шоссе|наб\.)\s*[А-ЯЁ][\w-]{1,40}(?:\s+[А-ЯЁ]?[\w-]{1,40})?,?\s*(?:д\.|дом)\s*\d+",
    # English: 221B Baker Street, 12 Queen's Road
    rf"\b\d+[A-Za-z]?,?\s+{_CAP}(?:\s+{_CAP})?\s+(?:Street|St\.?|Road|Rd\.?|Avenue|Ave\.?|Lane|Drive|Close|Way|"
    r"Court|Place|Square|Terrace|Crescent|Gardens|Boulevard)\b",
))
# postcode + town after an address word: "adres: 00-950 Warszawa", "Anschrift 10115 Berlin"
_POSTCODE = re.compile(r"\b(?:\d{2}-\d{3}|\d{4,6}|[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2})\s+[A-ZÀ-ÖØ-ÞĀ-ŽА-ЯЁ][\w-]{1,40}")
ADDRESS_CONTEXT = frozenset({
    "address", "adres", "adresse", "adresa", "anschrift", "адрес", "lives", "mieszka", "zamieszka", "bor",
    "locuiește", "domicili", "wohnt", "wohnhaft", "прожива", "home", "domow", "hjem", "acasă", "zuhause",
    # who lives there and where: a tenant's or a neighbour's flat is a private address
    "tenant", "resident", "neighbour", "neighbor", "flat", "apartment", "najemc", "lokator", "mieszkani",
    "sąsiad", "lejer", "beboer", "nabo", "lejlighed", "chiriaș", "locatar", "vecin", "apartament", "mieter",
    "bewohner", "nachbar", "wohnung", "жилец", "жильц", "арендатор", "сосед", "квартир",
})


ADDRESS_ALONE = 0.45
ADDRESS_NEAR_PERSON = 0.7


class AddressRecognizer:
    def analyze(self, text: str, language: str) -> list[Finding]:
        out = []
        for pattern in _ADDRESS_PATTERNS:
            for m in pattern.finditer(text):
                ctx = has_context(text, m.start(), ADDRESS_CONTEXT, chars=60, words=6)
                # without an address word it may be a firm's or an office's address: personal only
                # next to a person (the analyzer lifts it then, like a special category)
                out.append(Finding("ADDRESS", m.start(), m.end(), 0.85 if ctx else ADDRESS_ALONE))
        for m in _POSTCODE.finditer(text):
            if has_context(text, m.start(), ADDRESS_CONTEXT, chars=80, words=8):
                out.append(Finding("ADDRESS", m.start(), m.end(), 0.75))
        return out
