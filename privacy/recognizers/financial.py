"""IBANs of every country (ISO 13616 format per country + mod-97) and payment cards (Luhn + IIN)."""

from __future__ import annotations

import re

from stdnum import iban as std_iban
from stdnum import luhn

from privacy.verdict import Finding

_IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![\w])")
_CARD = re.compile(r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|6011|65|64[4-9]|35|62|50|5[6-9]|6[37])")


class IbanRecognizer:
    def analyze(self, text: str, language: str) -> list[Finding]:
        out = []
        for m in _IBAN.finditer(text):
            value = m.group()
            # the greedy pattern may swallow a following word part; retry shorter prefixes
            while value and not std_iban.is_valid(value):
                value = value[:-1].rstrip()
                if len(value.replace(" ", "")) < 15:
                    value = ""
            if value:
                out.append(Finding("IBAN_CODE", m.start(), m.start() + len(value), 0.95))
        return out


class CardRecognizer:
    def analyze(self, text: str, language: str) -> list[Finding]:
        out = []
        for m in _CARD.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            plausible = 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _CARD_PREFIX.match(digits)
            if plausible and luhn.is_valid(digits):
                out.append(Finding("CREDIT_CARD", m.start(), m.end(), 0.9))
        return out
