"""The recognizer extension point and the context helpers the pattern recognizers share."""

from __future__ import annotations

import re
from typing import Protocol

from privacy.verdict import Finding

_WORDS = re.compile(r"[^\W_]+", re.UNICODE)


class Recognizer(Protocol):
    """Finds entities in one text; must be pure and fast (it runs on every message)."""

    def analyze(self, text: str, language: str) -> list[Finding]: ...


def words_before(text: str, start: int, *, chars: int = 40) -> list[str]:
    """Lower-case words in the ``chars`` characters before ``start``, nearest last."""
    return [w.lower() for w in _WORDS.findall(text[max(0, start - chars):start])]


def has_context(text: str, start: int, keywords: frozenset[str], *, chars: int = 40, words: int = 4) -> bool:
    """True when one of ``keywords`` is a prefix of one of the last ``words`` words before ``start``."""
    near = words_before(text, start, chars=chars)[-words:]
    return any(w.startswith(k) for w in near for k in keywords)
