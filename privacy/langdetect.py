"""Offline language detection per message (py3langid, restricted to European languages)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# languages the identifier may answer; the recognizers have word lists for SUPPORTED ones
CANDIDATES = ("pl", "da", "ro", "de", "en", "ru", "nl", "sv", "no", "fi", "fr", "es", "it", "pt", "cs",
              "sk", "hu", "uk", "bg", "lt", "lv", "et", "sl", "hr")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_HINTS = (  # letters that settle it cheaply
    (re.compile(r"[ąęłńśźż]", re.I), "pl"),
    (re.compile(r"[ăâîșțşţ]", re.I), "ro"),
    (re.compile(r"[æøå]", re.I), "da"),
    (re.compile(r"[äöüß]", re.I), "de"),
)


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(CANDIDATES))
    return ident


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language; "en" when nothing tells."""
    cyr = len(_CYRILLIC.findall(text))
    lat = len(_LATIN.findall(text))
    if cyr > lat:
        return "ru" if not re.search(r"[іїєґ]", text, re.I) else "uk"
    if lat == 0:
        return "en"
    lang, prob = _identifier().classify(text)
    if prob >= 0.9 or len(text) > 80:
        return str(lang)
    for pattern, hint in _HINTS:  # short texts: trust a language's own letters over the model
        if pattern.search(text):
            return hint
    return str(lang)


def warm_up() -> None:
    _identifier()
