"""The follow-up rule with the real classifier and the bundled cue data."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import ConfigurationError
from routing.classifier import TaskClassifier, TaskPrediction
from routing.followup import CueSet, FollowUpRule, build_followup_rule, load_followup_rule, tokens
from routing.policy import TASKS


@pytest.fixture(scope="module")
def rule() -> FollowUpRule:
    return build_followup_rule()


def resolved(rule: FollowUpRule, classifier: TaskClassifier, text: str, previous: str | None) -> TaskPrediction:
    return rule.resolve(text, classifier.classify(text), previous)


# The reports and their kind: each of these was routed by the message alone (code, general, …).
KEEPS = [
    ("creative", "Now make it shorter."),
    ("creative", "Hello? Did you get my last message?"),
    ("analysis", "What about the second clause?"),
    ("code", "thanks"),
    ("creative", "Skróć to, proszę."),
    ("summarization", "Kun beslutningerne, tak."),
    ("creative", "Adaugă o reducere de 5%."),
    ("analysis", "А что со вторым пунктом?"),
    ("code", "Danke, läuft!"),
    ("translation", "Bitte etwas höflicher."),
    ("general", "Und auf dem Handy?"),
]


@pytest.mark.parametrize(("previous", "text"), KEEPS)
def test_a_follow_up_keeps_the_threads_task(rule: FollowUpRule, classifier: TaskClassifier, previous: str,
                                            text: str) -> None:
    got = resolved(rule, classifier, text, previous)
    assert got.task == previous and got.from_thread


@pytest.mark.parametrize("text", [t for _, t in KEEPS])
def test_the_same_messages_alone_are_not_follow_ups(rule: FollowUpRule, classifier: TaskClassifier,
                                                    text: str) -> None:
    alone = classifier.classify(text)
    assert rule.resolve(text, alone, None) == alone


def test_the_old_newest_message_only_routing_got_these_wrong(classifier: TaskClassifier) -> None:
    # the bug of issue 14, kept as a check that the rule above is what fixes it
    assert classifier.classify("Now make it shorter.").task != "creative"
    assert classifier.classify("Hello? Did you get my last message?").task != "creative"


@pytest.mark.parametrize(("previous", "text", "task"), [
    ("creative", "And in German?", "translation"),
    ("summarization", "A po angielsku?", "translation"),
    ("creative", "Og på tysk?", "translation"),
    ("creative", "Și pe rusește?", "translation"),
    ("summarization", "И по-английски?", "translation"),
    ("creative", "Und auf Rumänisch?", "translation"),
    ("analysis", "Now write a SQL query that lists all customers without an order this year.", "code"),
    ("creative", "Summarise your findings in three bullet points for the board.", "summarization"),
    ("summarization", "Translate that into Polish.", "translation"),
    ("code", "Thanks a lot. Separate question: how many vacation days do apprentices get?", "general"),
    ("analysis", "Okay. Write a catchy slogan for our spring sale on office chairs.", "creative"),
])
def test_a_follow_up_that_clearly_asks_for_other_work_switches(rule: FollowUpRule, classifier: TaskClassifier,
                                                                previous: str, text: str, task: str) -> None:
    assert resolved(rule, classifier, text, previous).task == task


def test_a_kept_task_carries_the_messages_own_score_for_it(rule: FollowUpRule, classifier: TaskClassifier) -> None:
    alone = classifier.classify("Now make it shorter.")
    got = rule.resolve("Now make it shorter.", alone, "creative")
    assert got.confidence == alone.scores["creative"] and got.scores == alone.scores


@pytest.mark.parametrize(("cue", "text", "hit"), [
    ("shorter", "make it shorter!", True),
    ("shorter", "shortership", False),
    ("variant*", "three variants please", True),
    ("*error", "it raises KeyError", True),
    ("^and", "and in German?", True),
    ("^and", "bread and butter", False),
    ("hello?", "Hello? anyone", True),
    ("hello?", "hello, anyone", False),
    ("doesn't work", "It DOESN'T work", True),
    ("👍", "👍👍", True),
    ("a co", "a   co z tym?", True),
])
def test_cue_syntax(cue: str, text: str, hit: bool) -> None:
    assert CueSet.of([cue]).search(tokens(text)) is hit


def test_a_broken_cue_file_says_how_to_fix(tmp_path: Path) -> None:
    bad = tmp_path / "followups.yaml"
    bad.write_text("cues: [not, a, mapping]\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="cues"):
        load_followup_rule(bad)
    with pytest.raises(ConfigurationError, match="restore"):
        load_followup_rule(tmp_path / "missing.yaml")


def test_resolving_is_cheap(rule: FollowUpRule) -> None:
    import time

    prediction = TaskPrediction(task="general", confidence=0.9, scores=dict.fromkeys(TASKS, 1 / 6))
    text = "Thanks. And what about the second clause of the lease, is it normal in Denmark?"
    started = time.perf_counter()
    for _ in range(2000):
        rule.resolve(text, prediction, "analysis")
    assert (time.perf_counter() - started) / 2000 < 50e-6  # 50 µs: far below the classifier's own cost


def _prediction(task: str, confidence: float) -> TaskPrediction:
    rest = (1 - confidence) / (len(TASKS) - 1)
    return TaskPrediction(task=task, confidence=confidence,
                          scores={t: confidence if t == task else rest for t in TASKS})


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300), task=st.sampled_from(TASKS), confidence=st.floats(0, 1),
       previous=st.none() | st.sampled_from(TASKS) | st.text(max_size=10))
def test_any_text_resolves_to_a_known_task(rule: FollowUpRule, text: str, task: str, confidence: float,
                                           previous: str | None) -> None:
    prediction = _prediction(task, confidence)
    got = rule.resolve(text, prediction, previous)
    assert got.task in TASKS
    if previous not in TASKS:  # a thread's first message (or an unknown stored task) is judged alone
        assert got == prediction
    else:
        assert got.task in (task, previous, "translation")
        assert got.from_thread is (got.task != task or got is not prediction)
        assert rule.resolve(text, prediction, previous) == got  # deterministic


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200), previous=st.sampled_from(TASKS))
def test_case_does_not_matter(rule: FollowUpRule, text: str, previous: str) -> None:
    prediction = _prediction("code", 0.7)
    assert rule.resolve(text.upper(), prediction, previous).task == rule.resolve(text.lower(), prediction,
                                                                                 previous).task or \
        text.upper().lower() != text.lower()  # only where upper-casing round-trips (not ß, İ, …)
