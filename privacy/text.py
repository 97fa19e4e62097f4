"""Tokens with positions, and where sentences start: the structure the recognizers read."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# letters (any script) joined by apostrophes or hyphens: "Hall-Wilson", "O'Brien", "spune-i"
_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")
_SENTENCE_END = frozenset(".!?:;\n\"'«»„“”‚‘’()[]•*–—>")


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: int
    end: int
    initial: bool  # first word of a sentence, a line, a quote or a bracket
    abbreviated: bool = False  # one capital letter and a full stop: the "J." of "J. Nowak"

    @property
    def lower(self) -> str:
        return self.text.lower()

    @property
    def is_capitalised(self) -> bool:
        """Title case like a name ("Anna", "Hall-Wilson", "McDonald"), not an acronym ("SQL")."""
        t = self.text
        return len(t) >= 2 and t[0].isupper() and any(c.islower() for c in t[1:3])


def normalise(word: str) -> str:
    """Lower case with Romanian cedilla letters folded to the comma forms (ş→ș, ţ→ț)."""
    return unicodedata.normalize("NFC", word.lower().replace("ş", "ș").replace("ţ", "ț"))


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    prev_end = 0
    for m in _WORD.finditer(text):
        gap = text[prev_end:m.start()]
        after_initial = bool(tokens) and tokens[-1].abbreviated and gap.startswith(".") and not gap[1:].strip()
        initial = not tokens or (any(c in _SENTENCE_END for c in gap) and not after_initial) \
            or _ends_abbrev_free(tokens, gap)
        word = m.group()
        abbreviated = len(word) == 1 and word.isupper() and text[m.end():m.end() + 1] == "."
        tokens.append(Token(word, m.start(), m.end(), initial, abbreviated))
        prev_end = m.end()
    return tokens


def _ends_abbrev_free(tokens: list[Token], gap: str) -> bool:
    # "- item" bullets and lines starting after digits ("1) Anna") count as starts too
    return gap.strip() in {"-", "1", "2", "3"} and "\n" in gap
