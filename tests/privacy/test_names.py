"""Person names across languages: declension, diminutives, rare names, honorifics — and decoys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from privacy import PrivacyEngine, PrivacyRules

PERSONS = [
    ("pl", "Wyślij to pani Bożysławie Wrzeciono."),
    ("pl", "Spotkanie z Jarosławem Pszczółkowskim przeniesiono."),
    ("pl", "Daj znać Kasi, że faktura jest gotowa."),
    ("pl", "Zanotuj, że Ziemowit z działu zakupów jest na urlopie."),
    ("da", "Send kontrakten til hr. Aksel Vindeløv."),
    ("da", "Spørg Sølvi fra lageret om leveringen."),
    ("ro", "Spune-i lui Ionuț că ședința s-a mutat."),
    ("ro", "Trimite raportul doamnei Ileana Grigorescu."),
    ("de", "Sag Herrn Obermüller, dass die Teile da sind."),
    ("de", "Die Bewerberin Leokadia Szczepaniak hat zugesagt."),
    ("ru", "Передай Всеволоду Кривошеину, что встреча перенесена."),
    ("ru", "Сотрудница Евлампия Тихомировна Загоруйко уходит в отпуск."),
    ("ru", "Подготовь договор для госпожи Лаврентьевой."),
    ("en", "Ask Thaddeus Okonkwo-Brannigan for the figures."),
    ("en", "Remind Zebedee about the forklift training."),
]
DECOYS = [
    ("en", "Book the Curie room for Thursday."),
    ("en", "Explain the Gauss method with an example."),
    ("pl", "Zarezerwuj salę Kopernika na czwartek."),
    ("pl", "Wyjaśnij metodę Gaussa na przykładzie."),
    ("da", "Book mødelokalet Bohr til torsdag."),
    ("ro", "Explică metoda lui Gauss."),
    ("de", "Erkläre das Gauß-Verfahren an einem Beispiel."),
    ("de", "Reserviere den Raum Curie für Donnerstag."),
    ("ru", "Объясни метод Гаусса на примере."),
    ("pl", "Napisz skrypt w Pythonie, który kopiuje faktury."),
    ("de", "Schreib ein Bash-Skript, das jede Nacht den Rechnungsordner sichert."),
]


@pytest.mark.parametrize(("lang", "text"), PERSONS)
def test_person_found(types_in: Any, lang: str, text: str) -> None:
    assert "PERSON" in types_in(text, language=lang)


@pytest.mark.parametrize(("lang", "text"), DECOYS)
def test_decoy_is_not_a_person(types_in: Any, lang: str, text: str) -> None:
    assert "PERSON" not in types_in(text, language=lang)


@pytest.mark.parametrize(("text", "lang"), [
    ("Napisz opis produktu dla serii zaworów ze stali nierdzewnej.", "pl"),
    ("Skriv en produktbeskrivelse af vores ventiler i rustfrit stål.", "da"),
    ("Scrie o descriere de produs pentru seria de robineți din inox.", "ro"),
    ("Schreib eine Produktbeschreibung unserer Edelstahlventile.", "de"),
    ("Напиши описание продукта для серии клапанов.", "ru"),
    ("Write a product description for our valve series.", "en"),
])
def test_language_detection(engine: PrivacyEngine, text: str, lang: str) -> None:
    assert engine.analyze(text).language == lang


def _rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("name", ["heldout.jsonl", "heldout2.jsonl"])
def test_own_tables_leak_and_overpin(engine: PrivacyEngine, name: str) -> None:
    rules = PrivacyRules()
    rows = _rows(Path(__file__).parent / name)
    flagged = [rules.verdict(engine.analyze(str(r["text"])).findings, language="x").contains_pii for r in rows]
    pos = [f for r, f in zip(rows, flagged, strict=True) if r["pii"]]
    neg = [f for r, f in zip(rows, flagged, strict=True) if not r["pii"]]
    assert pos.count(False) / len(pos) <= 0.05
    assert neg.count(True) / len(neg) <= 0.10


@pytest.mark.parametrize(("lang", "text"), [
    ("ru", "спроси ивана петрова про счёт"),
    ("en", "can you forward the invoice to justin bieber before friday"),
    ("ru", "передай марии ивановне отчёт"),
    ("pl", "napisz do jana kowalskiego w sprawie faktury"),
    ("en", "PLEASE CALL ANNA NOWAK TOMORROW ABOUT THE INVOICE"),
    ("pl", "Przekaż J. Nowakowi, że faktura jest gotowa."),
    ("en", "Crown prince Frederik opens the fair."),
    ("en", "Hendricks asked for the figures yesterday."),
    ("ru", "Нургалиев уволил начальника отдела."),
    ("pl", "Kowalczyk wysłał dane wczoraj."),
    ("en", "Did Perpetua send her timesheet yet?"),
    ("de", "Bitte frag Frau von der Heydt nach dem Vertrag."),
    ("de", "Herr van der Bellen kommt morgen um neun."),
])
def test_uncased_names_initials_and_titles(types_in: Any, lang: str, text: str) -> None:
    assert "PERSON" in types_in(text, language=lang)


@pytest.mark.parametrize(("lang", "text"), [
    ("ru", "Подтверди перевозчику, что паллета HX-2579X едет с заказом SO-2025-80025."),
    ("da", "Bekræft over for vognmanden at palle TR-8090Z kører med ordre ORD-2026-64155."),
    ("de", "Bestätige der Spedition, dass Palette TR-5449C mit Auftrag SO-2024-11289 fährt."),
    ("pl", "Przestoje maszyn: maj 12 h, czerwiec 30 h, lipiec 9 h. Co powinno sprawdzić utrzymanie ruchu?"),
    ("en", "Look at these numbers: downtime was 12h in May, 9h in July. What should maintenance check first?"),
    ("en", "the sales team will meet on monday"),
    ("da", "Fondsbørsen har ikke modtaget meddelelsen."),
    ("en", "Excel crashed again after the update."),
    ("en", "How can I reset my VPN password?"),
    ("de", "Was kann ich tun, wenn der Drucker streikt?"),
    ("da", "Se https://t.co/Ea9MOsl5VY og skriv til @PSkipperEL om leveringen."),
    ("ro", "Dosarele se depun la sediul A.J.O.F.M. Timiș până vineri."),
    ("de", "Die Weiche liegt am Ende der Einfahrgruppe."),
    ("de", "Ein Element fehlt noch in der Lieferung."),
    ("de", "Der Betriebsrat hat bei den Ethikregeln mitzubestimmen."),
])
def test_imperatives_units_and_links_are_not_persons(types_in: Any, lang: str, text: str) -> None:
    assert "PERSON" not in types_in(text, language=lang)


@pytest.mark.parametrize(("lang", "text"), [
    # a name a head word opens or closes is a place, venue, firm or title
    ("en", "Book two rooms at Seaside Hotel for the fair in March."),
    ("en", "Meet the supplier at Villa Pelucca on Friday."),
    ("de", "Wir treffen den Lieferanten an der Via Roma um zehn Uhr."),
    ("de", "Gestern berichtete die Brisbaner Zeitung über den Streik."),
    ("da", "Vi bor på Strand Hotel under messen i Herning."),
    ("da", "Annoncen kommer i Vestkysten Tidende på fredag."),
    ("da", "Vi har booket turen gennem Nordisk Rejsebureau i år."),
    ("ro", "Concertul formației Blue Doctors începe la ora opt."),
    ("pl", "Umowę podpisaliśmy wczoraj z firmą Delta Marconi."),
    ("en", "We signed the framework deal with Bomina Corporation last week."),
    ("pl", "Pismo wysłało Ministerstwo Finansów w piątek."),
    ("pl", "Zwycięzcą został Kanadyjczyk, a drugi był Sosnowiczanin."),
    # German: an article across inflected adjectives makes the capitalised word a noun
    ("de", "Nach der Inventur wurde der gesamte Lagerbestand gestern gezählt."),
    ("de", "Die Umstellung auf die gesamte Produktpalette ist teuer."),
    ("de", "Im Sommer hat die neue Kantinenleitung eingeladen."),
])
def test_heads_and_german_noun_phrases_are_not_persons(types_in: Any, lang: str, text: str) -> None:
    assert "PERSON" not in types_in(text, language=lang)


@pytest.mark.parametrize(("lang", "text"), [
    ("da", "Det mener Steen Gade, som sidder i udvalget."),
    ("en", "Ask Grace Park whether the budget is final."),
    ("de", "Das bestätigte Schmidt am Montag der Personalabteilung."),
    ("de", "Bitte frag Frau Villa, ob der Vertrag da ist."),
])
def test_surnames_that_are_no_heads_stay_persons(types_in: Any, lang: str, text: str) -> None:
    assert "PERSON" in types_in(text, language=lang)


@pytest.mark.parametrize(("lang", "text"), [
    # a capitalised title opening the name is its cue, also before a word shaped like a German noun
    ("de", "Der Ritter Lyvet wurde am Montag freigelassen."),
    ("de", "Kanzlerin Merkel sprach gestern mit den Betriebsräten."),
    ("da", "Hertug Valdemar åbnede udstillingen i går."),
])
def test_titles_before_a_name(types_in: Any, lang: str, text: str) -> None:
    assert "PERSON" in types_in(text, language=lang)


@pytest.mark.parametrize(("lang", "text"), [
    # seas, continents and world regions are places, also declined
    ("da", "Salget i Latinamerikas største byer faldt sidste kvartal."),
    ("de", "Die Fracht geht diesmal über den Atlantik nach Halifax."),
    ("pl", "Eksport na Bliski Wschód wzrósł o dziesięć procent."),
    # a hyphenated word whose later part is lower case is a compound noun, also when a tagger takes
    # only its first part
    ("da", "Vi har bestilt nye Carola-jakker til hele standholdet."),
    ("ru", "Активисты-правозащитники провели пресс-конференцию в пятницу."),
    # a list across commas with a known place in it is no "Surname, First name"
    ("ro", "Livrăm marfa la depozitele din Satu Mare, Bistrița, Slatina și Focșani."),
    # one of the language's commonest words, stress accent or listed stem notwithstanding
    ("da", "Dén model har vi ikke længere på lager."),
    ("de", "Dabei ist der Aufwand für die Umstellung enorm."),
    # a German compound noun before a finite verb is the subject, not a surname
    ("de", "Die städtische Gesamtschule wurde im Jahr 1986 gegründet."),
])
def test_regions_compounds_lists_and_function_words_are_not_persons(types_in: Any, lang: str, text: str) -> None:
    assert "PERSON" not in types_in(text, language=lang)


@pytest.mark.parametrize(("lang", "text"), [
    # a possessive names the owner: "plan" after it is no decoy
    ("da", "Bestyrelsen drøftede i går den amerikanske diplomat Cyrus Vance's plan."),
    # a frequent word that the surname list holds as it is stays a person before a verb
    ("de", "Weiss wurde für die Leitung der Filiale vorgeschlagen."),
    # hyphenated names with capitals on both sides stay names
    ("da", "Spørg Anne-Marie Vestergaard-Holm om kontrakten."),
])
def test_possessives_listed_surnames_and_double_barrelled_names_stay_persons(types_in: Any, lang: str,
                                                                             text: str) -> None:
    assert "PERSON" in types_in(text, language=lang)


@pytest.mark.parametrize(("lang", "text"), [
    # a maker or brand opening the span is a product or the firm
    ("da", "Firmabilen er en Toyota Corolla fra 2019 med lav kilometerstand."),
    ("en", "The Cessna 172 needs its annual inspection before May."),
    ("de", "Die Harley-Davidson Händler melden höhere Umsätze."),
    # an organisation head word closes the name
    ("en", "We renewed the contract with Northwind Foods for another year."),
    # a legal form before the name
    ("da", "Han var ansat hos A/S Vinduespudseren i ti år."),
])
def test_brands_org_heads_and_legal_forms_before_are_not_persons(types_in: Any, lang: str, text: str) -> None:
    assert "PERSON" not in types_in(text, language=lang)


@pytest.mark.parametrize(("lang", "text"), [
    # one or two rare capitalised words after a dash that end the message sign it
    ("en", "Running late, start the call without me - Tamsin"),
    ("de", "Bitte die Rechnung bis Freitag prüfen — Hollerbach"),
    # a Russian word shaped like a surname opening the sentence, no word of the language
    ("ru", "Белозёрский в прошлом году руководил отделом закупок."),
    # a surname built like a German compound stays a name before a verb
    ("de", "Hollerbach hat gestern die korrigierten Zahlen geschickt."),
    ("de", "Goldstein hat die Präsentation schon verschickt."),
])
def test_signatures_russian_surnames_and_compound_surnames_are_persons(types_in: Any, lang: str, text: str) -> None:
    assert "PERSON" in types_in(text, language=lang)


@pytest.mark.parametrize("text", ["Danke!", "Halo? Jesteś tam?", "Hej, tak for sidst!", "Спасибо!"])
def test_greetings_and_thanks_are_no_names_whatever_the_detected_language(types_in: Any, text: str) -> None:
    assert "PERSON" not in types_in(text)


def test_a_neighbour_language_is_read_with_its_fallbacks_model(types_in: Any) -> None:
    # Danish is often detected as Norwegian on short texts: the Danish model still reads it
    assert "PERSON" in types_in("Lasse som verdens sjoveste fyr?", language="no")
