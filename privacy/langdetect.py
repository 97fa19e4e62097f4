"""Offline language detection per message, with a ranked answer that can say "unsure".

Short messages ("hello", "dzięki", "hej, har du et øjeblik?", "bună, ce faci?") are decided by a
frequency vote over the words, restricted to the languages we have word lists for (``SUPPORTED``):
each word adds its Zipf frequency in each language (wordfreq's bundled lists; a word typed without
its diacritics counts at a small discount), letters only one of those languages writes (ą ł ż, æ ø å,
ă ș ț, ä ö ü ß) add a bonus, and a few chat greetings the lists lack are data
(``data/languages.yaml``). A character-n-gram model (py3langid, 24 European languages) is right on
longer text but not on one or two words ("hello" → Finnish), so it decides only past ``SHORT_WORDS``.

``detect_languages`` returns every language whose vote comes within ``MARGIN`` of the best one:
"tak" is Polish "yes" and Danish "thanks", "ja" is three languages. When more than one is plausible
the privacy analysis reads the text with the word lists of each (privacy.analyzer).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from privacy.text import normalise
from privacy.yamlfile import load_yaml

# languages the n-gram identifier may answer; the recognizers have word lists for VOTED ones
CANDIDATES = ("pl", "da", "ro", "de", "en", "ru", "nl", "sv", "no", "fi", "fr", "es", "it", "pt", "cs",
              "sk", "hu", "uk", "bg", "lt", "lv", "et", "sl", "hr")
# the Latin-script languages of privacy.lexicon.SUPPORTED, most frequent first (ties); Russian is
# decided by its script (a Latin-script message read with Russian word lists would find nothing)
VOTED = ("en", "de", "pl", "da", "ro")
SHORT_WORDS = 6  # up to this many words the frequency vote decides
MARGIN = 1.5  # Zipf points: a language this close to the best one is plausible too
FOLDED_DISCOUNT = 0.5  # "dzieki" is "dzięki" typed fast: counts, a little less
LETTER_BONUS = 3.0  # per word written with a language's own letters
DATA = Path(__file__).parent / "data" / "languages.yaml"
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_MAX_WORD = 40  # longer "words" are not in any list: skip the lookups
_SCAN_CHARS = 200  # longer text goes to the n-gram model however few words it has
_UKRAINIAN = re.compile(r"[іїєґ]", re.I)
_OWN_LETTERS = {"pl": frozenset("ąęłńśźżć"), "ro": frozenset("ăâîșț"), "da": frozenset("æøå"),
                "de": frozenset("äöüß")}
_HINTS = (  # letters that settle it cheaply when the n-gram model is unsure
    (re.compile(r"[ąęłńśźż]", re.I), "pl"),
    (re.compile(r"[ăâîșțşţ]", re.I), "ro"),
    (re.compile(r"[æøå]", re.I), "da"),
    (re.compile(r"[äöüß]", re.I), "de"),
)
_FOLD = str.maketrans({"ł": "l", "ø": "o", "æ": "ae", "ß": "ss"})


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    """The best language first, then every other plausible one; ``uncertain`` when there are several."""

    plausible: tuple[str, ...]

    @property
    def language(self) -> str:
        return self.plausible[0]

    @property
    def uncertain(self) -> bool:
        return len(self.plausible) > 1


def fold(word: str) -> str:
    """The word without diacritics: "dzięki" → "dzieki", "mulțumesc" → "multumesc", "øjeblik" → "ojeblik"."""
    decomposed = unicodedata.normalize("NFD", word.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class WordVotes:
    """Zipf frequency of a word in each voted language, exact and diacritic-folded (built once)."""

    def __init__(self, extra: dict[str, list[str]]) -> None:
        from wordfreq import get_frequency_dict

        self._exact: dict[str, dict[str, float]] = {}
        self._folded: dict[str, dict[str, float]] = {}
        for lang in VOTED:
            freqs = get_frequency_dict(lang, "small")
            exact = {w: _zipf(f) for w, f in freqs.items()}
            folded: dict[str, float] = {}
            for w, z in exact.items():
                if not w.isascii():  # only words with diacritics have a folded form to index
                    k = fold(w)
                    if z > folded.get(k, 0.0):
                        folded[k] = z
            for w in extra.get(lang, []):  # chat greetings the lists lack count as common words
                exact[normalise(w)] = folded[fold(normalise(w))] = _EXTRA_ZIPF
            self._exact[lang], self._folded[lang] = exact, folded

    def scores(self, words: list[str]) -> dict[str, float]:
        out = dict.fromkeys(VOTED, 0.0)
        for word in words:
            folded = fold(word)
            for lang in VOTED:
                z = self._exact[lang].get(word, 0.0)
                if folded == word:  # typed without diacritics: the folded forms count too
                    z = max(z, self._folded[lang].get(folded, 0.0) - FOLDED_DISCOUNT)
                out[lang] += max(z, 0.0)
            for lang, letters in _OWN_LETTERS.items():
                if not letters.isdisjoint(word):
                    out[lang] += LETTER_BONUS
        return out


_EXTRA_ZIPF = 5.0


def _zipf(f: float) -> float:
    return math.log10(f * 1e9) if f > 0 else 0.0


@lru_cache(maxsize=1)
def _votes() -> WordVotes:
    raw = load_yaml(DATA.read_text(encoding="utf-8"))
    return WordVotes({lang: [str(w) for w in words] for lang, words in raw["greetings"].items()})


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(CANDIDATES))
    return ident


def _script_language(text: str) -> str | None:
    """"ru" (or "uk") for mostly Cyrillic text, "en" for text with no letters at all, else None."""
    cyr = len(_CYRILLIC.findall(text))
    lat = len(_LATIN.findall(text))
    if cyr > lat:
        return "ru" if not _UKRAINIAN.search(text) else "uk"
    return "en" if lat == 0 else None


def ngram_language(text: str) -> str:
    """The detector before the vote (kept for long text and for bench/eval_langdetect.py): the script,
    then the n-gram model, trusting a language's own letters over the model on short unsure text."""
    by_script = _script_language(text)
    if by_script is not None:
        return by_script
    lang, prob = _identifier().classify(text)
    if prob >= 0.9 or len(text) > 80:
        return str(lang)
    for pattern, hint in _HINTS:
        if pattern.search(text):
            return hint
    return str(lang)


def detect_languages(text: str) -> LanguageGuess:
    """Ranked plausible languages of ``text`` (ISO 639-1); one when sure, "en" when nothing tells."""
    by_script = _script_language(text)
    if by_script is not None:
        return LanguageGuess((by_script,))
    words = [normalise(m.group()) for m in _WORD.finditer(text, 0, _SCAN_CHARS)][:SHORT_WORDS + 1]
    if len(words) > SHORT_WORDS or len(text) > _SCAN_CHARS:
        return LanguageGuess((ngram_language(text),))
    scores = _votes().scores([w for w in words if len(w) <= _MAX_WORD])
    best = max(scores.values())
    if best <= 0.0:  # not one known word: every language stays plausible, the n-gram model's first
        first = ngram_language(text)
        first = first if first in VOTED else VOTED[0]
        return LanguageGuess((first, *(lang for lang in VOTED if lang != first)))
    ranked = sorted(VOTED, key=lambda lang: -scores[lang])  # stable: VOTED order breaks ties
    return LanguageGuess(tuple(lang for lang in ranked if scores[lang] >= best - MARGIN))


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's most likely language; "en" when nothing tells."""
    return detect_languages(text).language


def warm_up() -> None:
    _identifier()
    _votes()
