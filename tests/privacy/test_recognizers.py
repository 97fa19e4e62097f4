"""Each recognizer against tables of valid and invalid values; checksum-invalid numbers never count."""

from __future__ import annotations

from typing import Any

import pytest

from privacy import PrivacyEngine, PrivacyRules

NATIONAL_IDS = [  # (language, text with a valid id, entity type, same text with the check digit broken)
    ("pl", "PESEL pracownika: 44051401359", "NATIONAL_ID_PESEL", "PESEL pracownika: 44051401358"),
    ("da", "CPR-nummer 211062-5629", "NATIONAL_ID_CPR", "CPR-nummer 321362-5629"),
    ("ro", "CNP-ul angajatului 1630615123457", "NATIONAL_ID_CNP", "CNP-ul angajatului 1630615123458"),
    ("de", "Steuer-ID 36 574 261 809", "NATIONAL_ID_STEUER_ID", "Steuer-ID 36 574 261 808"),
    ("nl", "BSN 111222333", "NATIONAL_ID_BSN", "BSN 111222334"),
    ("sv", "personnummer 880320-0016", "NATIONAL_ID_SE_PERSONNUMMER", "personnummer 880320-0017"),
    ("fi", "henkilötunnus 131052-308T", "NATIONAL_ID_HETU", "henkilötunnus 131052-308U"),
    ("es", "DNI 54362315K", "NATIONAL_ID_DNI", "DNI 54362315Z"),
    ("es", "NIE X2482300W", "NATIONAL_ID_NIE", "NIE X2482300A"),
    ("it", "codice fiscale RCCMNL83S18D969H", "NATIONAL_ID_CODICE_FISCALE", "codice fiscale RCCMNL83S18D969A"),
    ("fr", "NIR 2 95 10 99 126 111 93", "NATIONAL_ID_NIR", "NIR 2 95 10 99 126 111 94"),
    ("nl", "rijksregister 85.07.30-033.28", "NATIONAL_ID_BE_NN", "rijksregister 85.07.30-033.29"),
    ("de", "SVNR 1237 010180", "NATIONAL_ID_AT_SVNR", "SVNR 1238 010180"),
    ("cs", "rodné číslo 710319/2745", "NATIONAL_ID_CZ_RC", "rodné číslo 710319/2746"),
    ("pt", "cartão de cidadão 00000000 0 ZZ4", "NATIONAL_ID_PT_CC", "cartão de cidadão 00000000 0 ZZ5"),
    ("en", "PPS number 6433435F", "NATIONAL_ID_IE_PPS", "PPS number 6433435E"),
    ("ru", "ИНН сотрудника 500100732259", "NATIONAL_ID_INN", "ИНН сотрудника 500100732258"),
    ("ru", "СНИЛС 112-233-445 95", "NATIONAL_ID_SNILS", "СНИЛС 112-233-445 96"),
]


@pytest.mark.parametrize(("lang", "valid", "etype", "invalid"), NATIONAL_IDS, ids=[r[2] for r in NATIONAL_IDS])
def test_national_id_valid_counts_and_invalid_does_not(types_in: Any, lang: str, valid: str, etype: str,
                                                       invalid: str) -> None:
    assert etype in types_in(valid, language=lang)
    assert not any(t.startswith("NATIONAL_ID") for t in types_in(invalid, language=lang, min_score=0.0))


@pytest.mark.parametrize("text", [
    "Indeks 96133751858 ma najwięcej zwrotów w tym kwartale.",   # catalogue number
    "Zamówienie 44051401359 wysłano wczoraj.",                   # valid PESEL shape, but an order word
    "Order PO-2026-45012 ships with pallet CNC-9170C.",
])
def test_business_numbers_are_not_ids(types_in: Any, text: str) -> None:
    assert not any(t.startswith("NATIONAL_ID") for t in types_in(text))


IBANS = [
    ("PL61109010140000071219812874", True), ("DE89 3704 0044 0532 0130 00", True),
    ("DK5000400440116243", True), ("RO49AAAA1B31007593840000", True), ("GB29NWBK60161331926819", True),
    ("FR1420041010050500013M02606", True), ("NL91ABNA0417164300", True), ("AT611904300234573201", True),
    ("BE71096123456769", True), ("ES9121000418450200051332", True), ("IT60X0542811101000000123456", True),
    ("SE4550000000058398257466", True), ("FI2112345600000785", True), ("IE29AIBK93115212345678", True),
    ("PT50000201231234567890154", True), ("CZ6508000000192000145399", True),
    ("PL61109010140000071219812875", False), ("DE89 3704 0044 0532 0130 01", False), ("XX12345678901234", False),
]


@pytest.mark.parametrize(("iban", "valid"), IBANS)
def test_iban(types_in: Any, iban: str, valid: bool) -> None:
    assert ("IBAN_CODE" in types_in(f"Please pay to {iban} today.", language="en")) is valid


@pytest.mark.parametrize(("number", "valid"), [
    ("4111 1111 1111 1111", True), ("5500-0000-0000-0004", True), ("340000000000009", True),
    ("4111 1111 1111 1112", False), ("1234 5678 9012 3456", False),
])
def test_credit_card_luhn(types_in: Any, number: str, valid: bool) -> None:
    assert ("CREDIT_CARD" in types_in(f"card {number} expired", language="en")) is valid


@pytest.mark.parametrize(("lang", "text"), [
    ("pl", "Zadzwoń pod 601 234 567 jutro."),
    ("pl", "tel. +48 783 667 580"),
    ("da", "mobil 9327 0360"),
    ("da", "Ring på +45 40 71 41 76"),
    ("ro", "telefon 0232 190 609"),
    ("ro", "Sună la 0744 123 456"),
    ("de", "mobil (07221) 592151"),
    ("de", "Ruf an: +49 151 23456789"),
    ("en", "mobile +44 121 496 0310"),
    ("ru", "тел. 8 (342) 892-71-12"),
    ("ru", "Позвони +7 912 345-67-89"),
])
def test_phone_numbers(types_in: Any, lang: str, text: str) -> None:
    assert "PHONE_NUMBER" in types_in(text, language=lang)


@pytest.mark.parametrize(("lang", "text"), [
    ("de", "Palette TR-1366D fährt mit Auftrag PO-2026-7100."),
    ("pl", "Faktura nr FV/2025/10/118 na kwotę 12 480,00 zł."),
    ("en", "The bonus of 21700 EUR is included."),
    ("en", "Downtime was 12h in May and 30h in June."),
])
def test_not_phone_numbers(types_in: Any, lang: str, text: str) -> None:
    assert "PHONE_NUMBER" not in types_in(text, language=lang)


@pytest.mark.parametrize(("text", "found"), [
    ("mail anna.nowak@firma.pl today", True), ("Kontakt: jan_kowalski+crm@gmail.com", True),
    ("an address like user@ is incomplete", False), ("version 1.2@beta", False),
])
def test_email(types_in: Any, text: str, found: bool) -> None:
    assert ("EMAIL_ADDRESS" in types_in(text, language="en")) is found


@pytest.mark.parametrize(("text", "found"), [
    ("login from 83.12.44.201 failed", True), ("blocked 2001:db8:85a3::8a2e:370:7334 yesterday", True),
    ("server 10.0.0.12 is down", True), ("999.1.1.1 is not an address", False), ("localhost 127.0.0.1", False),
    ("upgrade to version 1.2.3.4", False),
])
def test_ip(types_in: Any, text: str, found: bool) -> None:
    assert ("IP_ADDRESS" in types_in(text, language="en")) is found


@pytest.mark.parametrize(("lang", "text", "found"), [
    ("en", "born 14.03.1985 in Leeds", True), ("pl", "data urodzenia: 1985-03-14", True),
    ("de", "geb. 14.03.1985", True), ("ru", "дата рождения 14.03.1985", True),
    ("en", "the deadline is 14.03.2026", False),
])
def test_date_of_birth(types_in: Any, lang: str, text: str, found: bool) -> None:
    assert ("DATE_OF_BIRTH" in types_in(text, language=lang)) is found


@pytest.mark.parametrize(("lang", "text"), [
    ("pl", "Adres: ul. Kwiatowa 5/3, 00-950 Warszawa"),
    ("de", "Sie wohnt in der Hauptstraße 12, 10115 Berlin."),
    ("da", "Han bor på Nørregade 14."),
    ("ro", "Adresa: Str. Mihai Eminescu nr. 5"),
    ("ru", "Адрес: ул. Ленина, д. 5"),
    ("en", "She lives at 221B Baker Street."),
])
def test_address(types_in: Any, lang: str, text: str) -> None:
    assert "ADDRESS" in types_in(text, language=lang)


@pytest.mark.parametrize(("lang", "text"), [
    ("en", "The tenant at 14 Harrow Road complained about the heating."),
    ("de", "Der Mieter in der Lindenstraße 8 meldet einen Wasserschaden."),
    ("pl", "Lokator z ul. Polnej 7 zgłosił awarię ogrzewania."),
])
def test_a_residents_address_is_personal_without_a_name(engine: PrivacyEngine, lang: str, text: str) -> None:
    analysis = engine.analyze(text, language=lang)
    assert PrivacyRules().verdict(analysis.findings, language=lang).contains_pii


@pytest.mark.parametrize(("lang", "text", "special"), [
    ("en", "Anna Kowalczyk is pregnant and starts maternity leave in May.", True),
    ("pl", "Pan Wiesław Mroczek jest członkiem związku zawodowego.", True),
    ("de", "Frau Ilse Brandt ist seit Montag krankgeschrieben.", True),
    ("en", "Write our company policy on sick leave and maternity leave.", False),
])
def test_special_category_only_next_to_a_person(types_in: Any, lang: str, text: str, special: bool) -> None:
    assert ("SPECIAL_CATEGORY" in types_in(text, language=lang)) is special


def test_handles_are_online_identifiers_but_not_code_or_broadcasts() -> None:
    from privacy.recognizers import HandleRecognizer

    def found(text: str) -> list[str]:
        return [text[f.start:f.end] for f in HandleRecognizer().analyze(text, "en")]

    assert found("Mange tak til @jacobmark_sf og @SandKjaer") == ["@jacobmark_sf", "@SandKjaer"]
    assert found("cc @anna.nowak.") == ["@anna.nowak"]
    assert found("mail jan@firma.pl or @here") == []
    assert found('@app.route("/")\ndef index(): ...') == []
    assert found("  @Override\n  void run()") == []
    assert found("npm i @types/node and use @dataclass") == []
