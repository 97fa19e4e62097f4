"""National identifiers of EU countries (and Russia), each validated by its checksum.

A checksum-invalid number never counts. A valid one counts fully next to its name
("PESEL", "CPR-nummer", "CNP", "Steuer-ID", "ИНН"…); without such a word it counts only
when its format is distinctive enough that business numbers rarely pass by chance, and
never right after an order/invoice/catalogue word.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from privacy.recognizers.base import has_context
from privacy.verdict import Finding

# business-number words: a valid checksum after these is a coincidence ("Indeks 96133751858")
BUSINESS_CONTEXT = frozenset({
    "order", "invoice", "index", "indeks", "sku", "article", "artikel", "item", "catalog", "catalogue",
    "katalog", "part", "product", "produkt", "zamówien", "zamowien", "faktur", "artykuł", "nr", "ordre",
    "varenummer", "vare", "comand", "factur", "articol", "cod", "auftrag", "bestell", "rechnung", "artikelnummer",
    "teilenummer", "заказ", "счёт", "счет", "артикул", "накладн", "партия", "pallet", "palet", "palette",
    "паллет", "batch", "lot", "serial", "seri", "tracking", "shipment", "sendung", "przesyłk", "ticket",
    "tel", "phone", "mobil", "telefon", "тел", "fax", "amount", "kwota", "beløb", "sumă", "betrag", "сумма",
})


def _stdnum(module: str) -> Callable[[str], bool]:
    import importlib

    mod = importlib.import_module(f"stdnum.{module}")

    def valid(value: str) -> bool:
        return bool(mod.is_valid(value))

    return valid


def _snils_valid(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if len(digits) != 11 or len(set(digits[:9])) == 1:
        return False
    total = sum(int(d) * (9 - i) for i, d in enumerate(digits[:9]))
    check = total % 101 % 100
    return check == int(digits[9:])


def _inn_personal_valid(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return len(digits) == 12 and _stdnum("ru.inn")(digits)


@dataclass(frozen=True, slots=True)
class IdSpec:
    """One identifier: entity name, pattern, validator, words that name it, and how distinctive it is."""

    entity_type: str
    country: str
    pattern: str
    validate: Callable[[str], bool]
    context: frozenset[str]
    distinctive: bool  # format + checksum rarely met by chance: counts without a context word
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", re.compile(rf"(?<![\w\-/.]){self.pattern}(?![\w\-/]|\.\d)"))


def _ctx(*words: str) -> frozenset[str]:
    return frozenset(w.lower() for w in words) | GENERIC_ID_CONTEXT


GENERIC_ID_CONTEXT = frozenset({
    "national", "id", "identity", "identification", "personal", "social", "ssn", "tax", "passport",
    "numer", "identyfikac", "osobow", "dowód", "identifikation", "identitate",
    "ausweis", "identifikations", "личн", "паспорт", "идентификац", "номер", "nummer", "număr",
    "numărul", "number",
})

NATIONAL_IDS: tuple[IdSpec, ...] = (
    IdSpec("NATIONAL_ID_PESEL", "PL", r"\d{11}", _stdnum("pl.pesel"), _ctx("pesel"), True),
    IdSpec("NATIONAL_ID_CPR", "DK", r"\d{6}-\d{4}", _stdnum("dk.cpr"), _ctx("cpr", "personnummer"), True),
    IdSpec("NATIONAL_ID_CPR", "DK", r"\d{10}", _stdnum("dk.cpr"), _ctx("cpr"), False),
    IdSpec("NATIONAL_ID_CNP", "RO", r"[1-9]\d{12}", _stdnum("ro.cnp"), _ctx("cnp", "cod numeric"), True),
    IdSpec("NATIONAL_ID_STEUER_ID", "DE", r"\d{2} ?\d{3} ?\d{3} ?\d{3}", _stdnum("de.idnr"),
           _ctx("steuer", "idnr", "steuerid", "identifikationsnummer", "tin"), False),
    IdSpec("NATIONAL_ID_BSN", "NL", r"\d{4}\.?\d{2}\.?\d{3}|\d{9}", _stdnum("nl.bsn"),
           _ctx("bsn", "burgerservicenummer", "sofinummer"), False),
    IdSpec("NATIONAL_ID_SE_PERSONNUMMER", "SE", r"(?:19|20)?\d{6}[-+]\d{4}", _stdnum("se.personnummer"),
           _ctx("personnummer", "personnr"), True),
    IdSpec("NATIONAL_ID_HETU", "FI", r"\d{6}[-+A-FU-Y]\d{3}[0-9A-Y]", _stdnum("fi.hetu"),
           _ctx("hetu", "henkilötunnus", "sotu"), True),
    IdSpec("NATIONAL_ID_DNI", "ES", r"\d{8}-?[A-Z]", _stdnum("es.dni"), _ctx("dni", "nif", "documento"), True),
    IdSpec("NATIONAL_ID_NIE", "ES", r"[XYZ]-?\d{7}-?[A-Z]", _stdnum("es.nie"), _ctx("nie", "extranjero"), True),
    IdSpec("NATIONAL_ID_CODICE_FISCALE", "IT", r"[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]",
           _stdnum("it.codicefiscale"), _ctx("codice", "fiscale", "cf"), True),
    IdSpec("NATIONAL_ID_NIR", "FR", r"[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}", _stdnum("fr.nir"),
           _ctx("nir", "sécurité", "securite", "insee"), True),
    IdSpec("NATIONAL_ID_BE_NN", "BE", r"\d{2}\.\d{2}\.\d{2}-\d{3}\.\d{2}", _stdnum("be.nn"),
           _ctx("rijksregister", "registre", "nn", "insz"), True),
    IdSpec("NATIONAL_ID_BE_NN", "BE", r"\d{11}", _stdnum("be.nn"), _ctx("rijksregister", "registre", "insz"), False),
    IdSpec("NATIONAL_ID_AT_SVNR", "AT", r"\d{4} ?\d{6}", _stdnum("at.vnr"),
           _ctx("sozialversicherung", "svnr", "versicherungsnummer", "vnr"), False),
    IdSpec("NATIONAL_ID_CZ_RC", "CZ", r"\d{6}/\d{3,4}", _stdnum("cz.rc"), _ctx("rodné", "rodne", "rč"), True),
    IdSpec("NATIONAL_ID_PT_CC", "PT", r"\d{8} ?\d ?[A-Z]{2}\d", _stdnum("pt.cc"),
           _ctx("cartão", "cidadão", "cc"), True),
    IdSpec("NATIONAL_ID_PT_NIF", "PT", r"\d{9}", _stdnum("pt.nif"), _ctx("nif", "contribuinte"), False),
    IdSpec("NATIONAL_ID_IE_PPS", "IE", r"\d{7}[A-W][AHWTX]?", _stdnum("ie.pps"), _ctx("pps", "ppsn"), True),
    IdSpec("NATIONAL_ID_NO_FNR", "NO", r"\d{6} ?\d{5}", _stdnum("no.fodselsnummer"),
           _ctx("fødselsnummer", "fodselsnummer", "fnr"), False),
    IdSpec("NATIONAL_ID_EE_IK", "EE", r"[1-6]\d{10}", _stdnum("ee.ik"), _ctx("isikukood"), False),
    IdSpec("NATIONAL_ID_BG_EGN", "BG", r"\d{10}", _stdnum("bg.egn"), _ctx("егн", "egn"), False),
    IdSpec("NATIONAL_ID_INN", "RU", r"\d{12}", _inn_personal_valid, _ctx("инн", "inn"), True),
    IdSpec("NATIONAL_ID_SNILS", "RU", r"\d{3}-\d{3}-\d{3}[ -]\d{2}", _snils_valid, _ctx("снилс", "snils"), True),
    IdSpec("NATIONAL_ID_SNILS", "RU", r"\d{11}", _snils_valid, _ctx("снилс", "snils"), False),
)

# which country's reading wins when one number passes several checksums
_LANG_COUNTRY = {"pl": "PL", "da": "DK", "ro": "RO", "de": "DE", "ru": "RU", "nl": "NL", "sv": "SE",
                 "fi": "FI", "es": "ES", "it": "IT", "fr": "FR", "pt": "PT", "cs": "CZ", "nb": "NO", "et": "EE"}


class NationalIdRecognizer:
    """Every checksum-valid national identifier, scored by context and distinctiveness."""

    def __init__(self, specs: tuple[IdSpec, ...] = NATIONAL_IDS) -> None:
        self._specs = specs

    def analyze(self, text: str, language: str) -> list[Finding]:
        best: dict[tuple[int, int], tuple[float, int, str]] = {}
        home = _LANG_COUNTRY.get(language, "")
        for spec in self._specs:
            for m in spec.compiled.finditer(text):
                value = m.group()
                if not spec.validate(value):
                    continue
                score = self._score(spec, text, m.start())
                rank = (score, int(spec.country == home), spec.entity_type)
                key = (m.start(), m.end())
                if key not in best or rank[:2] > best[key][:2]:
                    best[key] = rank
        return [Finding(etype, s, e, score) for (s, e), (score, _, etype) in best.items()]

    @staticmethod
    def _score(spec: IdSpec, text: str, start: int) -> float:
        specific = spec.context - GENERIC_ID_CONTEXT
        if has_context(text, start, specific, chars=60, words=6):
            return 0.95
        if has_context(text, start, BUSINESS_CONTEXT, words=3):
            return 0.3
        if has_context(text, start, GENERIC_ID_CONTEXT, words=4):
            return 0.7 if spec.distinctive else 0.55
        return 0.6 if spec.distinctive else 0.4
