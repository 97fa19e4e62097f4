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
        """Title case like a name ("Anna", "Hall-Wilson", "McDonald", "O'Brien"), not an acronym ("SQL")
        nor a random mix ("MJg", "NfpY" from a short link)."""
        t = self.text
        if len(t) < 2 or not t[0].isupper() or not any(c.islower() for c in t[1:4]):
            return False
        return all(_name_part_ok(p) for p in _PARTS.split(t))


_PARTS = re.compile(r"['’\-]")


def _name_part_ok(part: str) -> bool:
    """At most one more capital inside a part, after a lower-case letter: "McDonald", "DiCaprio"."""
    inner = [i for i, c in enumerate(part[1:], 1) if c.isupper()]
    return len(inner) <= 1 and all(part[i - 1].islower() and i >= 2 for i in inner)


# links, handles and e-mail addresses are not prose: their letters must never read as names
_NOT_PROSE = re.compile(r"(?:https?://|www\.)\S+|(?<!\S)\S+@\S+|(?<!\w)[@#]\w+")


def mask_non_prose(text: str) -> str:
    """The text with links, @handles, #tags and e-mail addresses blanked out (offsets unchanged)."""
    return _NOT_PROSE.sub(lambda m: " " * len(m.group()), text)


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
