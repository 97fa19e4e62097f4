"""E-mail addresses, @handles, phone numbers (national and international formats) and IP addresses."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from privacy.recognizers.base import has_context
from privacy.recognizers.identifiers import BUSINESS_CONTEXT
from privacy.verdict import Finding

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})*\.[^\W\d_]{2,24}(?![\w-])")
_ROLE_MAILBOXES = frozenset({
    "info", "sales", "support", "office", "contact", "kontakt", "biuro", "hello", "admin", "noreply",
    "no-reply", "service", "orders", "invoices", "faktury", "billing", "hr", "jobs", "careers", "team",
    "help", "post", "mail", "webmaster", "press", "marketing", "rechnung", "vertrieb", "bestellung",
})


class EmailRecognizer:
    """Any syntactically valid address; shared role mailboxes (info@, sales@) count less."""

    def analyze(self, text: str, language: str) -> list[Finding]:
        out = []
        for m in _EMAIL.finditer(text):
            local = m.group().split("@", 1)[0].lower()
            score = 0.45 if local in _ROLE_MAILBOXES else 0.95
            out.append(Finding("EMAIL_ADDRESS", m.start(), m.end(), score))
        return out


# an @handle in running text: not inside an e-mail address, not a package scope ("@types/node") or a
# decorator call ("@app.route(", "@pytest.fixture"); at most 39 characters (GitHub's limit, X's is 15)
_HANDLE = re.compile(r"(?<![\w.@+-])@([A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,37}[A-Za-z0-9_])?)(?![\w@/(-]|\.\w)")
# broadcasts and code annotations, not people: "@here", "@channel", "@Override", "@dataclass"
_NOT_HANDLES = frozenset({
    "here", "channel", "everyone", "all", "team", "group", "override", "test", "autowired", "component",
    "service", "entity", "deprecated", "property", "staticmethod", "classmethod", "dataclass", "param",
    "return", "returns", "throws", "see", "since", "author", "media", "import", "keyframes", "include",
    "mixin", "extend", "apply", "tailwind", "supports", "input", "output", "injectable", "ngmodule",
    "suppresswarnings", "functionalinterface", "transactional", "bean", "configuration", "value", "get",
    "post", "put", "delete", "patch", "route", "font-face", "charset", "layer", "container", "type",
    "interface", "implementation", "end", "synthesize", "objc", "todo", "fixme", "inject", "pytest",
})


class HandleRecognizer:
    """An @handle in the text names an account, an online identifier of a person ("@jacobmark_sf",
    "@KHegaard"). Broadcasts, code annotations and decorators, package scopes and lines that open with
    the handle (code) do not count."""

    def analyze(self, text: str, language: str) -> list[Finding]:
        out = []
        for m in _HANDLE.finditer(text):
            name = m.group(1)
            if name.lower() in _NOT_HANDLES or name.isdigit():
                continue
            line_start = text.rfind("\n", 0, m.start()) + 1
            if not text[line_start:m.start()].strip():  # a line opening with it: a decorator or annotation
                continue
            out.append(Finding("USER_HANDLE", m.start(), m.end(), 0.6))
        return out


PHONE_CONTEXT = frozenset({
    "tel", "phone", "mobile", "mob", "cell", "call", "ring", "number", "komórk", "komork", "numer",
    "zadzwo", "mobil", "telefon", "nummer", "handy", "ruf", "festnetz", "тел", "моб", "сотов", "номер",
    "звон", "whatsapp", "sms", "fax", "contact", "kontakt",
})
_REGION = {"pl": "PL", "da": "DK", "ro": "RO", "de": "DE", "en": "GB", "ru": "RU", "nl": "NL", "sv": "SE",
           "nb": "NO", "fi": "FI", "fr": "FR", "es": "ES", "it": "IT", "pt": "PT", "cs": "CZ", "sk": "SK",
           "hu": "HU", "uk": "UA", "bg": "BG", "lt": "LT", "lv": "LV", "et": "EE", "sl": "SI", "hr": "HR"}
# digits with phone punctuation after a phone word: "tel. 538 584 114", "mobil (07221) 592151"
_LOOSE = re.compile(r"(?<![\w-])\+?\(?\d[\d ()./-]{5,18}\d(?![\w-])")
_HAS_PHONE_CHARS = re.compile(r"\d")


class PhoneRecognizer:
    """Phone numbers through libphonenumber, region from the language; context raises the score."""

    def __init__(self) -> None:
        import phonenumbers

        self._pn: Any = phonenumbers

    def analyze(self, text: str, language: str) -> list[Finding]:
        if len(_HAS_PHONE_CHARS.findall(text)) < 7:
            return []
        pn = self._pn
        region = _REGION.get(language, "GB")
        found: dict[tuple[int, int], float] = {}
        for match in pn.PhoneNumberMatcher(text, region, leniency=pn.Leniency.POSSIBLE):
            if _inside_code(text, match.start):
                continue
            found[match.start, match.end] = self._score(text, match)
        for m in _LOOSE.finditer(text):  # what libphonenumber rejected but a phone word announces
            if any(s <= m.start() < e for s, e in found) or _inside_code(text, m.start()):
                continue
            digits = sum(c.isdigit() for c in m.group())
            if 7 <= digits <= 15 and has_context(text, m.start(), PHONE_CONTEXT, words=2):
                found[m.start(), m.end()] = 0.8
        return [Finding("PHONE_NUMBER", s, e, score) for (s, e), score in found.items()]

    def _score(self, text: str, match: Any) -> float:
        if has_context(text, match.start, PHONE_CONTEXT):
            return 0.9
        if has_context(text, match.start, BUSINESS_CONTEXT, words=3):
            return 0.3
        raw = match.raw_string
        digits = sum(c.isdigit() for c in raw)
        formatted = raw.startswith("+") or " " in raw or "(" in raw
        return 0.6 if self._pn.is_valid_number(match.number) and formatted and digits >= 8 else 0.35


def _inside_code(text: str, start: int) -> bool:
    """Digits that continue a code: "PO-2026-7100", "TR-1366D", "FV/2025/10/118"."""
    return start > 0 and (text[start - 1].isalnum() or text[start - 1] in "-/#_")


_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-fA-F]{1,4}:){2,7}(?::|[0-9a-fA-F]{1,4})(?:::?[0-9a-fA-F]{1,4})*(?![\w:])")
_VERSION_CONTEXT = frozenset({"version", "wersj", "versio", "versiune", "верси", "v", "release", "oid"})


class IpRecognizer:
    """IPv4/IPv6 addresses that parse; loopback/unspecified and version numbers do not count."""

    def analyze(self, text: str, language: str) -> list[Finding]:
        out = []
        for pattern in (_IPV4, _IPV6):
            for m in pattern.finditer(text):
                try:
                    addr = ipaddress.ip_address(m.group())
                except ValueError:
                    continue
                if addr.is_loopback or addr.is_unspecified or addr.is_multicast:
                    continue
                if has_context(text, m.start(), _VERSION_CONTEXT, words=2):
                    continue
                out.append(Finding("IP_ADDRESS", m.start(), m.end(), 0.85 if addr.is_global else 0.6))
        return out
