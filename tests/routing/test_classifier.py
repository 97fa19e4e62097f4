"""Task classifier: real sklearn model trained on the bundled utterances."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.errors import ConfigurationError
from routing.classifier import (
    TASKS,
    TaskClassifier,
    build_task_classifier,
    load_task_examples,
    normalise_for_task,
)

# Held-out sentences: written for this test, not present in routing/data/tasks.
HELD_OUT: list[tuple[str, str, str]] = [
    ("en", "creative", "Write an eye-catching flyer text for our summer discount on air conditioners."),
    ("en", "code", "Write a SQL view that joins invoices with customers and shows open balances."),
    ("en", "analysis", "Machine 3 used 40% more oil this month than last, what could explain it?"),
    ("en", "translation", "Translate into Danish: 'Our technician will visit you on Monday.'"),
    ("en", "summarization", "Summarise this thread about the new parking rules in three sentences."),
    ("en", "general", "Tell the reception that a courier will drop off a parcel at noon."),
    ("en", "general", "How do I change my bank account for salary payments?"),
    ("en", "code", "My Excel macro crashes when the sheet is empty, how do I fix it?"),
    ("pl", "creative", "Napisz ogłoszenie o pracę dla spawacza z doświadczeniem."),
    ("pl", "code", "Napisz makro VBA, które usuwa puste wiersze z arkusza."),
    ("pl", "analysis", "Porównaj koszty transportu kolejowego i drogowego na podstawie tych danych."),
    ("pl", "translation", "Przetłumacz na rumuński: 'Spotkanie odbędzie się w czwartek.'"),
    ("pl", "summarization", "Streść notatkę ze spotkania działu zakupów."),
    ("pl", "general", "Przypomnij mi w piątek o przeglądzie samochodu służbowego."),
    ("pl", "general", "Powiedz magazynowi, że kurier przyjedzie po paczki o 14."),
    ("pl", "analysis", "Oceń ryzyka w tej umowie z nowym dystrybutorem."),
    ("da", "creative", "Skriv en reklametekst til vores nye kaffemaskine til kontorer."),
    ("da", "code", "Skriv en SQL-forespørgsel, der tæller ordrer pr. måned."),
    ("da", "analysis", "Sammenlign de tre tilbud på rengøring og vurder, hvilket er bedst."),
    ("da", "translation", "Oversæt til tysk: 'Vi sender fakturaen i morgen.'"),
    ("da", "summarization", "Opsummer mødereferatet fra salgsmødet i tre punkter."),
    ("da", "general", "Mind mig om at forny parkeringstilladelsen på fredag."),
    ("da", "general", "Hvordan får jeg adgang til lønsystemet hjemmefra?"),
    ("ro", "creative", "Scrie un text publicitar pentru noua noastră gamă de uși metalice."),
    ("ro", "code", "Scrie un script Python care trimite automat facturile pe email."),
    ("ro", "analysis", "Analizează datele de vânzări pe ultimele șase luni și spune ce observi."),
    ("ro", "translation", "Tradu în engleză: 'Comanda a fost expediată ieri.'"),
    ("ro", "summarization", "Rezumă notițele de la ședința cu echipa de vânzări."),
    ("ro", "general", "Anunță recepția că vine un curier la prânz."),
    ("ro", "general", "Cum îmi schimb parola de la email?"),
    ("de", "creative", "Schreib einen Werbetext für unsere neuen Klimageräte."),
    ("de", "code", "Schreib ein Python-Skript, das Rechnungen automatisch per Mail verschickt."),
    ("de", "analysis", "Analysiere die Verkaufszahlen der letzten sechs Monate und nenne Auffälligkeiten."),
    ("de", "translation", "Übersetze ins Englische: 'Die Bestellung wurde gestern verschickt.'"),
    ("de", "summarization", "Fasse die Notizen aus dem Einkaufsmeeting kurz zusammen."),
    ("de", "general", "Sag dem Empfang, dass mittags ein Kurier kommt."),
    ("de", "general", "Wie ändere ich mein E-Mail-Passwort?"),
    ("ru", "creative", "Напиши рекламный текст для новой серии металлических дверей."),
    ("ru", "code", "Напиши скрипт на Python, который отправляет счета по почте."),
    ("ru", "analysis", "Проанализируй продажи за последние полгода и скажи, что бросается в глаза."),
    ("ru", "translation", "Переведи на английский: «Заказ отправлен вчера»."),
    ("ru", "summarization", "Кратко перескажи заметки с совещания отдела закупок."),
    ("ru", "general", "Передай ресепшену, что в обед приедет курьер."),
    ("ru", "general", "Как поменять пароль от почты?"),
]


@pytest.fixture(scope="session")
def classifier() -> TaskClassifier:
    clf = build_task_classifier()
    clf.warm_up()
    return clf


def test_held_out_accuracy_is_at_least_85_percent(classifier: TaskClassifier) -> None:
    wrong = [(t, task, classifier.classify(t).task) for _, task, t in HELD_OUT]
    wrong = [w for w in wrong if w[1] != w[2]]
    accuracy = 1 - len(wrong) / len(HELD_OUT)
    assert accuracy >= 0.85, wrong


def test_held_out_sentences_are_not_training_data() -> None:
    training = {e.text for e in load_task_examples()}
    assert not [t for _, _, t in HELD_OUT if t in training]


def test_every_task_has_data_in_every_language() -> None:
    covered = {(e.task, e.lang) for e in load_task_examples()}
    missing = [(t, lang) for t in TASKS for lang in ("en", "pl", "da", "ro", "de", "ru") if (t, lang) not in covered]
    assert not missing


def test_prediction_shape(classifier: TaskClassifier) -> None:
    pred = classifier.classify("Summarise the thread about the holiday rota.")
    assert set(pred.scores) == set(TASKS)
    assert pred.scores[pred.task] == pred.confidence == max(pred.scores.values())
    assert sum(pred.scores.values()) == pytest.approx(1.0)


def test_translation_is_judged_by_the_instruction_not_the_quoted_text(classifier: TaskClassifier) -> None:
    text = "Translate into English: 'Napisz skrypt SQL, który podsumuje raport sprzedaży.'"
    assert classifier.classify(text).task == "translation"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Translate: 'Hello there' now", "Translate: «quote» now"),
        ("Переведи: «Привет, мир».", "Переведи: «quote» ."),
        ("Our team's charity run", "Our team's charity run"),
        ("Order 4512 for a.b@example.com", "Order 0000 for email"),
    ],
)
def test_normalisation(raw: str, expected: str) -> None:
    assert normalise_for_task(raw) == expected


def test_empty_message_is_general(classifier: TaskClassifier) -> None:
    assert classifier.classify("   ").task == "general"


def test_latency_median_under_5_ms(classifier: TaskClassifier) -> None:
    # Best of three per message, so a busy CI machine measures the model, not the scheduler.
    timings = sorted(min(_timed(classifier, text) for _ in range(3)) for _, _, text in HELD_OUT)
    assert timings[len(timings) // 2] < 0.005


def _timed(classifier: TaskClassifier, text: str) -> float:
    t = time.perf_counter()
    classifier.classify(text)
    return time.perf_counter() - t


def test_missing_data_dir_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="routing/data/tasks"):
        load_task_examples(tmp_path)


def test_unknown_task_in_data_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "poetry.yaml").write_text("task: poetry\nutterances: {en: [a poem]}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="poetry"):
        load_task_examples(tmp_path)
