"""Special categories of personal data (GDPR Art. 9): health, maternity, union, religion, beliefs…

A keyword alone is not personal ("write a policy on sick leave"); the engine raises the
level only when a person or identifier is found in the same text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from privacy.verdict import Finding


class SpecialCategoryRecognizer:
    def __init__(self, stems_by_lang: dict[str, Iterable[str]]) -> None:
        self._patterns = {
            lang: re.compile(r"(?<![^\W\d_])(?:" + "|".join(re.escape(s) for s in sorted(stems, key=len,
                                                                                           reverse=True)) + ")",
                             re.IGNORECASE)
            for lang, stems in stems_by_lang.items() if stems
        }

    def analyze(self, text: str, language: str) -> list[Finding]:
        pattern = self._patterns.get(language) or self._patterns.get("en")
        if pattern is None:
            return []
        return [Finding("SPECIAL_CATEGORY", m.start(), m.end(), 0.8) for m in pattern.finditer(text)]
