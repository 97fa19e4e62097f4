"""Follow-ups keep their thread's task: "make it shorter" after an offer is still creative work.

The task classifier sees one message. Inside a thread, a short message like "Now make it shorter",
"thanks", "Hello? Did you get my last message?" or "what about the second clause?" says nothing
about its task on its own; it continues the thread's. `FollowUpRule.resolve` decides, from the
message, the classifier's prediction for it and the thread's last task:

1. no earlier task in the thread, or the message says it starts something new ("different topic:
   …"): the classifier's prediction stands;
2. a short message naming a target language after a preposition ("And in German?", "A po
   niemiecku?"): translation — the same text in another language;
3. a short message with a follow-up cue (acknowledgement, ping, edit of the last answer, question
   about it, problem report), or a tiny one (a few words) with none: the thread's task;
4. otherwise the message switches to the classifier's task only when the classifier is sure enough
   of it (surer when a longer message still carries a follow-up cue); else the thread's task.

The cues are data (`routing/data/followups.yaml`), matched with one compiled regular expression per
cue group: a few microseconds per message next to the classifier's own cost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigurationError
from routing.classifier import TaskPrediction
from routing.policy import TASKS

DEFAULT_FOLLOWUPS = Path(__file__).parent / "data" / "followups.yaml"
CUE_GROUPS = ("acknowledge", "keep", "new_topic")

_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class FollowUpRule:
    """The follow-up rule over compiled cue patterns; build it with `load_followup_rule`."""

    acknowledge: re.Pattern[str]
    keep: re.Pattern[str]
    new_topic: re.Pattern[str]
    target_language: re.Pattern[str]
    short_words: int
    tiny_words: int
    switch_confidence: float
    switch_confidence_with_cue: float

    def resolve(self, text: str, prediction: TaskPrediction, previous_task: str | None) -> TaskPrediction:
        """The task of `text` given the thread's last task (None for a thread's first message)."""
        if previous_task is None or previous_task not in TASKS:
            return prediction
        lowered = text.lower()
        if self.new_topic.search(lowered):
            return prediction
        words = len(_WORD.findall(lowered))
        short = words <= self.short_words
        if short and self.target_language.search(lowered):
            return _follow(prediction, "translation")
        keep_cue = self.keep.search(lowered) is not None
        if words <= self.tiny_words or (short and (keep_cue or self.acknowledge.search(lowered))):
            return _follow(prediction, previous_task)
        needed = self.switch_confidence_with_cue if keep_cue else self.switch_confidence
        if prediction.task != previous_task and prediction.confidence >= needed:
            return prediction
        return _follow(prediction, previous_task)


def _follow(prediction: TaskPrediction, task: str) -> TaskPrediction:
    if prediction.task == task:
        return replace(prediction, from_thread=True)
    return TaskPrediction(task=task, confidence=prediction.scores.get(task, 0.0), scores=prediction.scores,
                          from_thread=True)


def cue_pattern(cues: list[str]) -> re.Pattern[str]:
    """One pattern for a cue list: whole words/phrases; `stem*` any ending; `*suffix` inside a word;
    `^word` only at the start of the text."""
    parts = []
    for cue in sorted({c.strip().lower() for c in cues if c.strip("*^ ")}, key=len, reverse=True):
        head = r"\w*" if cue.startswith("*") else r"^\W*" if cue.startswith("^") else r"(?<!\w)"
        tail = r"\w*" if cue.endswith("*") else (r"(?!\w)" if cue[-1].isalnum() else "")
        body = r"\s+".join(re.escape(w) for w in cue.strip("*^").split())
        parts.append(f"{head}{body}{tail}")
    return re.compile("|".join(parts) or r"(?!)")


def _target_language_pattern(spec: dict[str, Any]) -> re.Pattern[str]:
    preps = "|".join(re.escape(p) for p in _strings(spec, "prepositions"))
    fillers = "|".join(re.escape(f) for f in _strings(spec, "fillers"))
    names = cue_pattern(_strings(spec, "names")).pattern
    return re.compile(rf"(?<!\w)(?:{preps})[\s-]+(?:(?:{fillers})\s+)?(?:{names})")


def _strings(doc: dict[str, Any], key: str) -> list[str]:
    values = doc.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigurationError(f"follow-up cues: '{key}' must be a list of strings")
    return values


def load_followup_rule(path: Path = DEFAULT_FOLLOWUPS) -> FollowUpRule:
    """Read the cue file (see `routing/data/followups.yaml` for its format)."""
    try:
        doc: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read follow-up cues from {path}: {exc}; restore routing/data.") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("cues"), dict):
        raise ConfigurationError(f"{path}: expected a mapping with 'cues' per group ({', '.join(CUE_GROUPS)}).")
    groups: dict[str, re.Pattern[str]] = {}
    for group in CUE_GROUPS:
        per_language = doc["cues"].get(group) or {}
        if not isinstance(per_language, dict):
            raise ConfigurationError(f"{path}: cues.{group} must map a language to a list of cues.")
        groups[group] = cue_pattern([c for lang in per_language for c in _strings(per_language, lang)])
    try:
        return FollowUpRule(**groups, target_language=_target_language_pattern(doc.get("target_language") or {}),
                            short_words=int(doc["short_words"]), tiny_words=int(doc["tiny_words"]),
                            switch_confidence=float(doc["switch_confidence"]),
                            switch_confidence_with_cue=float(doc["switch_confidence_with_cue"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"{path}: missing or invalid setting {exc}; see the bundled followups.yaml.") from exc


@lru_cache(maxsize=4)
def build_followup_rule(path: Path = DEFAULT_FOLLOWUPS) -> FollowUpRule:
    """The process-wide follow-up rule for `path`."""
    return load_followup_rule(path)
