"""Task classifier: which kind of work a chat message asks for.

A character n-gram (plus word uni/bigram) TF-IDF model with a linear SVM, fitted on the
hand-written utterances in `routing/data/tasks/*.yaml` (~50,000 features). The fit happens at
build time (`python -m routing.task_model_build` writes `routing/data/task_model.npz`, with the
digest of the data it was fitted on); the running bot applies the stored weights with plain
Python and numpy (`routing.task_model`: ~20 ms to load, tens of microseconds per message) and
never imports scikit-learn — unless the task data no longer matches the file, when it fits at
start as it used to. Character n-grams inside word boundaries carry across the inflected
languages we serve (Polish, Romanian, Russian declension; German and Danish compounds) without
a tokenizer or an English-centric embedding. Everything runs locally; no text leaves the process.

Before classification the text is normalised: quoted passages are masked (a translation
request holds the text to translate, often in another language — the instruction is
what matters), digits are folded to 0 and e-mail addresses and URLs become placeholders.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.errors import ConfigurationError
from privacy.yamlfile import load_yaml
from routing.policy import TASKS

if TYPE_CHECKING:  # numpy loads with the model, at warm-up or the first message
    from routing.task_model import LinearTaskModel

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path(__file__).parent / "data" / "tasks"
DEFAULT_MODEL_FILE = Path(__file__).parent / "data" / "task_model.npz"  # python -m routing.task_model_build

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
    """Maps a message to one of `TASKS`. Synchronous; once warmed up ~0.1 ms per message (0.8 ms at most),
    so the pipeline calls it on the event loop (`warm_up` first: loading, or refitting stale weights, is not)."""

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


def task_files(data_dir: Path = DEFAULT_DATA_DIR) -> list[Path]:
    """The task files (`*.yaml`) in `data_dir`, sorted; a configuration error when there are none."""
    files = sorted(data_dir.glob("*.yaml"))
    if not files:
        raise ConfigurationError(f"No task utterance files (*.yaml) in {data_dir}; restore routing/data/tasks.")
    return files


def task_data_digest(files: Iterable[Path]) -> str:
    """SHA-256 over the task data files' names and bytes, in name order (what the model file records)."""
    h = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def load_task_examples(data_dir: Path = DEFAULT_DATA_DIR) -> list[LabelledUtterance]:
    """Read every `*.yaml` task file: `{task: NAME, utterances: {lang: [text, ...]}}`."""
    examples: list[LabelledUtterance] = []
    for path in task_files(data_dir):
        examples.extend(_read_task_file(path))
    return examples


def _read_task_file(path: Path) -> Iterable[LabelledUtterance]:
    doc: Any = load_yaml(path.read_text(encoding="utf-8"))
    task = doc.get("task") if isinstance(doc, dict) else None
    if task not in TASKS:
        raise ConfigurationError(f"{path}: 'task' must be one of {', '.join(TASKS)}, got {task!r}.")
    for lang, lines in (doc.get("utterances") or {}).items():
        for line in lines or ():
            yield LabelledUtterance(text=str(line), task=task, lang=str(lang))


class LinearTaskClassifier:
    """`TaskClassifier` over the precomputed TF-IDF + linear SVM (`routing.task_model`), loaded once
    (at `warm_up` or the first message; thread-safe)."""

    def __init__(self, model: LinearTaskModel | None = None, *, data_dir: Path = DEFAULT_DATA_DIR,
                 model_file: Path = DEFAULT_MODEL_FILE) -> None:
        self._model = model
        self._data_dir = data_dir
        self._model_file = model_file
        self._digest = None if model is not None else task_data_digest(task_files(data_dir))
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the model now (later calls are no-ops)."""
        self._loaded()

    def classify(self, text: str) -> TaskPrediction:
        """Classify one message; an empty message is `general`."""
        if not text.strip():
            return _general_fallback()
        model = self._loaded()
        scores = dict(zip(model.classes, _softmax(model.decision(normalise_for_task(text)).tolist()), strict=True))
        best = max(scores, key=scores.__getitem__)
        return TaskPrediction(task=best, confidence=scores[best], scores=scores)

    def _loaded(self) -> LinearTaskModel:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> LinearTaskModel:
        from routing.task_model import LinearTaskModel

        try:
            model = LinearTaskModel.load(self._model_file)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("task model %s unreadable (%s): fitting at start", self._model_file, exc)
        else:
            if model.data_digest == self._digest:
                return model
            log.warning("task data in %s differs from what %s was fitted on: fitting at start (slower); "
                        "run `python -m routing.task_model_build` after editing the task data",
                        self._data_dir, self._model_file)
        return _fit_now(self._data_dir)


def _fit_now(data_dir: Path) -> LinearTaskModel:
    try:
        from routing.task_model_build import fit_task_model
    except ImportError as exc:  # scikit-learn is a build-time dependency of the classifier
        raise ConfigurationError(f"The task model does not match {data_dir} and cannot be fitted here ({exc}); "
                                 "run `python -m routing.task_model_build` where scikit-learn is installed.") from exc
    return fit_task_model(data_dir)


def _softmax(margins: list[float]) -> list[float]:
    z = [m * _MARGIN_SCALE for m in margins]
    top = max(z)
    e = [math.exp(v - top) for v in z]
    total = sum(e)
    return [v / total for v in e]


def _general_fallback() -> TaskPrediction:
    scores = {task: (1.0 if task == "general" else 0.0) for task in TASKS}
    return TaskPrediction(task="general", confidence=1.0, scores=scores)


@lru_cache(maxsize=4)
def build_task_classifier(data_dir: Path = DEFAULT_DATA_DIR) -> TaskClassifier:
    """The process-wide classifier for `data_dir` (one instance per directory; loaded at first use)."""
    return LinearTaskClassifier(data_dir=data_dir)
