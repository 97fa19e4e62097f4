"""Word lists as data: names, places, honorifics, context and decoy words, word frequencies.

Everything is read once (``load_lexicon``) and looked up through small pure functions.
Inflected forms (Polish, Romanian, Russian declension, Danish/German genitive -s) are
matched by stripping case endings and comparing stems, so "Annę", "Ioanei" and "Марией"
find "Anna", "Ioana" and "Мария".
"""

from __future__ import annotations

import gzip
import importlib.util
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from privacy.text import normalise
from privacy.yamlfile import load_yaml

DATA = Path(__file__).parent / "data"
SUPPORTED = ("pl", "da", "ro", "de", "en", "ru")

# case endings, longest first (pl, ro, ru; -s for Danish/German genitive)
_ENDINGS = tuple(sorted({
    "owie", "iego", "emu", "ego", "owi", "iem", "ami", "ach", "iej", "ej", "ą", "ę", "em", "om", "ie",
    "y", "i", "a", "u", "e", "o", "s", "ului", "ul", "ei", "ii", "ăi", "ă", "ogo", "ому", "ему", "ого",
    "ыми", "ими", "ой", "ей", "ым", "им", "ою", "ую", "ом", "ем", "ах", "ях", "ам", "ям", "а", "я", "у",
    "ю", "е", "ы", "и", "ью", "ь", "й", "ов", "ев",
}, key=len, reverse=True))
_FINAL_VOWELS = ("a", "e", "o", "y", "i", "u", "ă", "а", "я", "е", "о", "ы", "и", "й", "ь")
_MIN_STEM = 3
_SOFT = {"ni": "ń", "ci": "ć", "si": "ś", "zi": "ź"}
_ADJ_ENDINGS = ("ая", "яя", "ый", "ий", "ой", "ое", "ее", "ка", "ki")


def stem_candidates(word: str) -> list[str]:
    """The word and its forms with one case ending removed (all plausible stems)."""
    w = normalise(word)
    out = [w]
    if w.endswith(("'s", "’s")) and len(w) > 2 + _MIN_STEM:  # English possessive: "Natalia's"
        out.append(w[:-2])
    out += [w[: -len(e)] for e in _ENDINGS if w.endswith(e) and len(w) - len(e) >= _MIN_STEM]
    # Polish soft stems: Poznań → Poznaniu, Jaś → Jasia
    out += [c[:-2] + _SOFT[c[-2:]] for c in out[1:] if c[-2:] in _SOFT and len(c) > 4]
    return out


def base_of(name: str) -> set[str]:
    """Stems a dictionary name is indexed under: "anna"→"ann", "marek"→"mark", "kowalska"→"kowalsk"."""
    w = normalise(name)
    bases = {w}
    if w.endswith(_FINAL_VOWELS) and len(w) > _MIN_STEM:
        bases.add(w[:-1])
    if w.endswith(_ADJ_ENDINGS) and len(w) > 5:  # переговорная, kowalska: adjective-like stems
        bases.add(w[:-2])
    if w.endswith(("ek", "ec")) and len(w) > 4:  # Marek → Marka, Jacek → Jacka (fleeting e)
        bases.add(w[:-2] + w[-1])
    return bases


@dataclass(frozen=True, slots=True)
class StemIndex:
    exact: frozenset[str]
    bases: frozenset[str]

    @classmethod
    def build(cls, words: Iterable[str]) -> StemIndex:
        exact, bases = set(), set()
        for word in words:
            exact.add(normalise(word))
            bases |= base_of(word)
        return cls(frozenset(exact), frozenset(bases))

    def __contains__(self, token: object) -> bool:
        if not isinstance(token, str):
            return False
        cands = stem_candidates(token)
        return cands[0] in self.exact or any(c in self.bases for c in cands)


class WordLists:
    """Per-language word sets from lexicon.yaml; ``get(kind, lang)`` merges the "*" list in."""

    def __init__(self, raw: Mapping[str, Mapping[str, list[str]]]) -> None:
        self._sets: dict[tuple[str, str], frozenset[str]] = {}
        for kind, by_lang in raw.items():
            common = {normalise(str(w)) for w in by_lang.get("*", [])}
            for lang, words in by_lang.items():
                self._sets[kind, lang] = frozenset(common | {normalise(str(w)) for w in words})
            self._sets[kind, "*"] = frozenset(common)
        self._all: dict[str, frozenset[str]] = {
            kind: frozenset().union(*(s for (k, _), s in self._sets.items() if k == kind)) for kind in raw
        }

    def get(self, kind: str, lang: str) -> frozenset[str]:
        return self._sets.get((kind, lang)) or self._sets.get((kind, "*"), frozenset())

    def any_lang(self, kind: str) -> frozenset[str]:
        return self._all.get(kind, frozenset())


class Frequencies:
    """Zipf frequency of a lower-case word (wordfreq's bundled lists, read once per language)."""

    def __init__(self) -> None:
        self._dicts: dict[str, dict[str, float]] = {}

    def _dict(self, lang: str) -> dict[str, float]:
        if lang not in self._dicts:
            self._dicts[lang] = small_wordlist(lang)
        return self._dicts[lang]

    def zipf(self, word: str, lang: str) -> float:
        f = self._dict(lang).get(normalise(word), 0.0)
        return math.log10(f * 1e9) if f > 0 else 0.0

    def warm(self, langs: Iterable[str]) -> None:
        for lang in langs:
            self._dict(lang)


def small_wordlist(lang: str) -> dict[str, float]:
    """wordfreq's "small" list for ``lang`` ({} when it has none), read from the file wordfreq bundles:
    what ``wordfreq.get_frequency_dict(lang, "small")`` returns, without importing wordfreq (its language
    matching and tokenizer regexes cost ~0.25 s at every cold start). The file is a gzipped msgpack list:
    a header, then one list of words per centibel of frequency (index i: 10 ** (-i / 100))."""
    spec = importlib.util.find_spec("wordfreq")
    if spec is None or spec.origin is None:
        return {}
    path = Path(spec.origin).parent / "data" / f"small_{lang}.msgpack.gz"
    if not path.is_file():
        return {}
    import msgpack

    header, *buckets = msgpack.unpackb(gzip.decompress(path.read_bytes()), raw=False)
    if not isinstance(header, dict) or header.get("format") != "cB" or header.get("version") != 1:
        raise ValueError(f"{path}: not a wordfreq cBpack file ({header!r})")
    return {word: 10 ** (-index / 100) for index, bucket in enumerate(buckets) for word in bucket}


@dataclass(frozen=True, slots=True)
class Lexicon:
    first_names: StemIndex
    last_names: StemIndex
    places: StemIndex
    words: WordLists
    freq: Frequencies


def _lines(name: str) -> list[str]:
    return [w for w in (DATA / name).read_text(encoding="utf-8").split("\n") if w]


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    raw = load_yaml((DATA / "lexicon.yaml").read_text(encoding="utf-8"))
    words = WordLists(raw)
    not_names = words.any_lang("not_names")
    firsts = [w for w in _lines("first_names.txt") if normalise(w) not in not_names]
    return Lexicon(
        first_names=StemIndex.build(firsts),
        last_names=StemIndex.build(_lines("last_names.txt")),
        places=StemIndex.build(_lines("places.txt")),
        words=words,
        freq=Frequencies(),
    )
