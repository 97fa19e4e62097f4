"""Task classifier: which kind of work a chat message asks for.

A character n-gram (plus word uni/bigram) TF-IDF model with a linear SVM, trained at first
use from the hand-written utterances in `routing/data/tasks/*.yaml` (a few thousand
features, well under a second to fit, well under a millisecond to apply). Character
n-grams inside word boundaries carry across the inflected languages we serve (Polish,
Romanian, Russian declension; German and Danish compounds) without a tokenizer or an
English-centric embedding. Everything runs locally; no text leaves the process.

Before classification the text is normalised: quoted passages are masked (a translation
request holds the text to translate, often in another language — the instruction is
what matters), digits are folded to 0 and e-mail addresses and URLs become placeholders.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from bot.errors import ConfigurationError
from routing.policy import TASKS

DEFAULT_DATA_DIR = Path(__file__).parent / "data" / "tasks"

# Head and tail of long messages: the instruction sits at one end of a pasted text.
_HEAD_CHARS = 600
_TAIL_CHARS = 200

_QUOTED = re.compile(r"""(?:(?<=^)|(?<=[\s:(\[]))[«„“”"'‚‘](?P<body>[^\n]{2,}?)[»“”"'’‘](?=[\s.,;:!?)\]]|$)""")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_URL = re.compile(r"\bhttps?://\S+")
_DIGIT = re.compile(r"\d")

# Softmax temperature over SVM margins: margins of ±1 map to clear-cut scores, margins
# near 0 to a split vote. Scores rank well but are not calibrated probabilities.
_MARGIN_SCALE = 4.0


@dataclass(frozen=True)
class TaskPrediction:
    """The classifier's answer: the best task, its probability and every task's probability.

    `from_thread` marks a follow-up that kept (or, "and in German?", changed) its thread's task
    rather than the message's own best guess (`routing.followup`); `confidence` is then the
    message's own score for that task."""

    task: str
    confidence: float
    scores: dict[str, float]
    from_thread: bool = False


@dataclass(frozen=True)
class LabelledUtterance:
    """One training example from the task data files."""

    text: str
    task: str
    lang: str


class TaskClassifier(Protocol):
    """Maps a message to one of `TASKS`. Synchronous and CPU-bound: call via `asyncio.to_thread`."""

    def classify(self, text: str) -> TaskPrediction:
        """Return the most likely task, its score and a score per task (they sum to 1)."""
        ...

    def warm_up(self) -> None:
        """Load or train whatever the classifier needs, so the first real call is fast."""
        ...


def quoted_spans(text: str) -> list[str]:
    """The quoted passages of `text` ('…', "…", «…», „…“), in order, without the quote marks."""
    return [m.group("body") for m in _QUOTED.finditer(text)]


def normalise_for_task(text: str) -> str:
    """Reduce a message to what tells its task apart: the instruction, not its payload."""
    if len(text) > _HEAD_CHARS + _TAIL_CHARS:
        text = f"{text[:_HEAD_CHARS]} … {text[-_TAIL_CHARS:]}"
    text = _QUOTED.sub(" «quote» ", text)
    text = _URL.sub(" url ", text)
    text = _EMAIL.sub(" email ", text)
    return " ".join(_DIGIT.sub("0", text).split())


def load_task_examples(data_dir: Path = DEFAULT_DATA_DIR) -> list[LabelledUtterance]:
    """Read every `*.yaml` task file: `{task: NAME, utterances: {lang: [text, ...]}}`."""
    files = sorted(data_dir.glob("*.yaml"))
    if not files:
        raise ConfigurationError(f"No task utterance files (*.yaml) in {data_dir}; restore routing/data/tasks.")
    examples: list[LabelledUtterance] = []
    for path in files:
        examples.extend(_read_task_file(path))
    return examples


def _read_task_file(path: Path) -> Iterable[LabelledUtterance]:
    doc: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    task = doc.get("task") if isinstance(doc, dict) else None
    if task not in TASKS:
        raise ConfigurationError(f"{path}: 'task' must be one of {', '.join(TASKS)}, got {task!r}.")
    for lang, lines in (doc.get("utterances") or {}).items():
        for line in lines or ():
            yield LabelledUtterance(text=str(line), task=task, lang=str(lang))


def make_pipeline() -> Pipeline:
    """The untrained model: char_wb 2–5 and word 1–2 TF-IDF features into a linear SVM."""
    features = FeatureUnion(
        [
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1)),
            ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
        ]
    )
    # LinearSVC fits ~10x faster than a logistic regression here at equal accuracy.
    return Pipeline([("features", features), ("model", LinearSVC(C=0.5, class_weight="balanced"))])


class NgramTaskClassifier:
    """`TaskClassifier` backed by a TF-IDF + linear SVM pipeline, fitted lazily once."""

    def __init__(self, examples: Sequence[LabelledUtterance]) -> None:
        self._examples = tuple(examples)
        self._pipeline: Pipeline | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Fit the model now (thread-safe; later calls are no-ops)."""
        self._fitted()

    def classify(self, text: str) -> TaskPrediction:
        """Classify one message; an empty message is `general`."""
        if not text.strip():
            return _general_fallback()
        pipeline = self._fitted()
        margins = pipeline.decision_function([normalise_for_task(text)])[0]
        scores = {str(task): float(p) for task, p in zip(pipeline.classes_, _softmax(margins), strict=True)}
        best = max(scores, key=scores.__getitem__)
        return TaskPrediction(task=best, confidence=scores[best], scores=scores)

    def _fitted(self) -> Pipeline:
        if self._pipeline is None:
            with self._lock:
                if self._pipeline is None:
                    self._pipeline = _fit(self._examples)
        return self._pipeline


def _fit(examples: Sequence[LabelledUtterance]) -> Pipeline:
    missing = set(TASKS) - {e.task for e in examples}
    if missing:
        raise ConfigurationError(f"Task data has no utterances for {sorted(missing)}; add some to routing/data/tasks.")
    pipeline = make_pipeline()
    pipeline.fit([normalise_for_task(e.text) for e in examples], [e.task for e in examples])
    return pipeline


def _softmax(margins: Any) -> Any:
    z = np.asarray(margins, dtype=float) * _MARGIN_SCALE
    e = np.exp(z - z.max())
    return e / e.sum()


def _general_fallback() -> TaskPrediction:
    scores = {task: (1.0 if task == "general" else 0.0) for task in TASKS}
    return TaskPrediction(task="general", confidence=1.0, scores=scores)


@lru_cache(maxsize=4)
def build_task_classifier(data_dir: Path = DEFAULT_DATA_DIR) -> TaskClassifier:
    """The process-wide classifier for `data_dir` (one instance per directory; fitted at first use)."""
    return NgramTaskClassifier(load_task_examples(data_dir))
