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

The cues are data (`routing/data/followups.yaml`), matched as token sequences by set look-ups: a
few microseconds per message next to the classifier's own cost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigurationError
from privacy.yamlfile import load_yaml
from routing.classifier import TaskPrediction
from routing.policy import TASKS

DEFAULT_FOLLOWUPS = Path(__file__).parent / "data" / "followups.yaml"
CUE_GROUPS = ("acknowledge", "keep", "new_topic")

# Cues are looked for in the head of a message: a follow-up is short, a pasted text is not one.
_HEAD_CHARS = 300
# Words (with inner hyphens/apostrophes: "doesn't", "по-английски", "fă-l") and single other symbols
# ("?", "👍"): cues are sequences of these tokens.
_TOKEN = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]")


def tokens(text: str) -> list[str]:
    """The lower-cased tokens cues are matched against."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True, slots=True)
class CueSet:
    """Cues as token sequences, indexed by their first token; the last token of a stem cue ("mai
    scurt*") matches any ending, word stems ("variant*") any word they start, endings ("*error") any
    word they end, openers ("^and") only the first token. A look-up or two per token."""

    phrases: dict[str, tuple[tuple[tuple[str, ...], bool], ...]]  # first token → (rest, last is a stem)
    stems: tuple[str, ...]
    endings: tuple[str, ...]
    openers: frozenset[str]

    @classmethod
    def of(cls, cues: Iterable[str]) -> CueSet:
        phrases: dict[str, set[tuple[tuple[str, ...], bool]]] = {}
        stems: set[str] = set()
        endings: set[str] = set()
        openers: set[str] = set()
        for raw in cues:
            cue = raw.strip().lower()
            words = tokens(cue.strip("*^"))
            if not words:
                continue
            stem = cue.endswith("*")
            if cue.startswith("^"):
                openers.add(words[0])
            elif cue.startswith("*"):
                endings.add(words[-1])
            elif stem and len(words) == 1:
                stems.add(words[0])
            else:
                phrases.setdefault(words[0], set()).add((tuple(words[1:]), stem))
        return cls(phrases={k: tuple(v) for k, v in phrases.items()}, stems=tuple(sorted(stems)),
                   endings=tuple(sorted(endings)), openers=frozenset(openers))

    def search(self, toks: Sequence[str]) -> bool:
        """True when a cue occurs in the token list `toks` (from `tokens`)."""
        if toks and toks[0] in self.openers:
            return True
        for i, tok in enumerate(toks):
            if (self.stems and tok.startswith(self.stems)) or (self.endings and tok.endswith(self.endings)):
                return True
            for rest, stem in self.phrases.get(tok, ()):
                if _continues(toks, i + 1, rest, stem):
                    return True
        return False


def _continues(toks: Sequence[str], start: int, rest: tuple[str, ...], stem: bool) -> bool:
    if start + len(rest) > len(toks):
        return False
    if not rest:
        return True
    following = toks[start:start + len(rest)]
    if stem:
        return tuple(following[:-1]) == rest[:-1] and following[-1].startswith(rest[-1])
    return tuple(following) == rest


@dataclass(frozen=True, slots=True)
class TargetLanguage:
    """"in German", "po niemiecku", "по-английски": a preposition, maybe a filler word, a language."""

    prepositions: frozenset[str]
    fillers: frozenset[str]
    names: CueSet

    def search(self, toks: Sequence[str]) -> bool:
        for i, tok in enumerate(toks):
            head, _, rest = tok.partition("-")
            if rest and head in self.prepositions and self.names.search([rest]):
                return True
            if tok in self.prepositions:
                j = i + 2 if i + 1 < len(toks) and toks[i + 1] in self.fillers else i + 1
                if j < len(toks) and self.names.search([toks[j]]):
                    return True
        return False


@dataclass(frozen=True, slots=True)
class FollowUpRule:
    """The follow-up rule over the cue data; build it with `load_followup_rule`."""

    acknowledge: CueSet
    keep: CueSet
    new_topic: CueSet
    target_language: TargetLanguage
    short_words: int
    tiny_words: int
    switch_confidence: float
    switch_confidence_with_cue: float

    def resolve(self, text: str, prediction: TaskPrediction, previous_task: str | None) -> TaskPrediction:
        """The task of `text` given the thread's last task (None for a thread's first message)."""
        if previous_task is None or previous_task not in TASKS:
            return prediction
        toks = tokens(text[:_HEAD_CHARS])
        if self.new_topic.search(toks):
            return prediction
        words = sum(1 for t in toks if t[0].isalnum() or t[0] == "_")
        short = words <= self.short_words
        if short and self.target_language.search(toks):
            return _follow(prediction, "translation")
        keep_cue = self.keep.search(toks)
        if words <= self.tiny_words or (short and (keep_cue or self.acknowledge.search(toks))):
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


def _strings(doc: dict[str, Any], key: str) -> list[str]:
    values = doc.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigurationError(f"follow-up cues: '{key}' must be a list of strings")
    return values


def load_followup_rule(path: Path = DEFAULT_FOLLOWUPS) -> FollowUpRule:
    """Read the cue file (see `routing/data/followups.yaml` for its format)."""
    try:
        doc: Any = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read follow-up cues from {path}: {exc}; restore routing/data.") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("cues"), dict):
        raise ConfigurationError(f"{path}: expected a mapping with 'cues' per group ({', '.join(CUE_GROUPS)}).")
    groups: dict[str, CueSet] = {}
    for group in CUE_GROUPS:
        per_language = doc["cues"].get(group) or {}
        if not isinstance(per_language, dict):
            raise ConfigurationError(f"{path}: cues.{group} must map a language to a list of cues.")
        groups[group] = CueSet.of(c for lang in per_language for c in _strings(per_language, lang))
    spec = doc.get("target_language") or {}
    target = TargetLanguage(prepositions=frozenset(_strings(spec, "prepositions")),
                            fillers=frozenset(_strings(spec, "fillers")), names=CueSet.of(_strings(spec, "names")))
    try:
        return FollowUpRule(**groups, target_language=target, short_words=int(doc["short_words"]),
                            tiny_words=int(doc["tiny_words"]), switch_confidence=float(doc["switch_confidence"]),
                            switch_confidence_with_cue=float(doc["switch_confidence_with_cue"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"{path}: missing or invalid setting {exc}; see the bundled followups.yaml.") from exc


@lru_cache(maxsize=4)
def build_followup_rule(path: Path = DEFAULT_FOLLOWUPS) -> FollowUpRule:
    """The process-wide follow-up rule for `path`."""
    return load_followup_rule(path)
