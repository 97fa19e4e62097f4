"""Content-word agreement for the semantic cache: do two requests ask for the same things?

Each text's words are sorted into three classes by the lists in `routing/data/cache_words.yaml`:
ignorable (articles, the asker's pronouns, modals: "how do I" / "how can I"), function (question
words, prepositions, conjunctions) and content (everything else). Content words are stemmed
(Snowball for da, de, en, ro, ru; a light suffix stripper for Polish) and must all be found in
the other text, directly or as a part of a compound ("Reisekostenabrechnung" / "Abrechnung der
Reisekosten", "sygemelde" / "melde syg"). Known-equivalent words (`routing/data/cache_lexicon.yaml`:
synonyms of office vocabulary, perfective/imperfective verb pairs, forms a stemmer cannot join) count
as one word, and light words ("find", "still", "needed") may be added or dropped. Function words may
be added on one side, but one swapped for another ("during" / "after") is a difference. The checks
are pure functions over bounded input: at most `MAX_WORDS` words per text and `MAX_COMPOUND` letters per compound.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import snowballstemmer  # type: ignore[import-untyped]
import yaml

from bot.errors import ConfigurationError
from privacy.yamlfile import load_yaml

DEFAULT_WORDS_FILE = Path(__file__).parent / "data" / "cache_words.yaml"
DEFAULT_LEXICON_FILE = Path(__file__).parent / "data" / "cache_lexicon.yaml"

MAX_WORDS = 64
MAX_COMPOUND = 40
# Both parts of a split compound have at least this many letters (drops "a"+"bc" coincidences).
_MIN_PART = 3
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_SNOWBALL = {"da": "danish", "de": "german", "en": "english", "ro": "romanian", "ru": "russian"}
# Polish inflection endings, longest first; a stem keeps at least three letters.
_PL_ENDINGS = tuple(
    sorted(
        ["owania", "owanie", "ować", "ywać", "iwać", "ania", "anie", "enia", "enie", "ości", "ość", "ami", "ach",
         "ego", "emu", "ich", "imi", "ych", "ymi", "iem", "ów", "om", "owi", "ie", "ej", "ia", "ii", "iu", "ym",
         "im", "ać", "ić", "yć", "eć", "esz", "isz", "ysz", "emy", "imy", "ymy", "ecie", "icie", "ą", "ę", "a", "e",
         "i", "o", "u", "y"],
        key=len,
        reverse=True,
    )
)


@dataclass(frozen=True)
class WordRules:
    """Per-language word classes, function-word synonyms, endings, script letters and compound linkers."""

    ignorable: dict[str, frozenset[str]]
    function: dict[str, frozenset[str]]
    function_alias: dict[str, dict[str, str]]
    endings: dict[str, tuple[str, ...]]
    letters: dict[str, str]
    linkers: tuple[str, ...]
    synonyms: dict[str, dict[str, str]] = field(default_factory=dict)
    light: dict[str, frozenset[str]] = field(default_factory=dict)


def load_word_rules(path: Path = DEFAULT_WORDS_FILE, lexicon: Path | None = DEFAULT_LEXICON_FILE) -> WordRules:
    """Read the word classes (and the lexicon of equivalent and light words, unless `lexicon` is None);
    a missing or malformed file is a configuration error."""
    try:
        doc: Any = load_yaml(path.read_text(encoding="utf-8"))
        langs = doc["languages"]
        rules = WordRules(
            ignorable={str(k): _folded(v["ignorable"]) for k, v in langs.items()},
            function={str(k): _folded(v["function"]) for k, v in langs.items()},
            function_alias={str(k): _aliases(groups) for k, groups in doc["same_function_words"].items()},
            endings={str(k): tuple(fold(str(e)) for e in v) for k, v in doc["endings"].items()},
            letters={str(k): str(v) for k, v in doc["letters"].items()},
            linkers=_longest_first(str(x) for x in doc["compound_linkers"]),
        )
    except (OSError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"Cache word classes in {path} are unreadable ({exc}); restore the file.") from exc
    if lexicon is None:
        return rules
    try:
        lex: Any = load_yaml(lexicon.read_text(encoding="utf-8"))
        synonyms = {str(k): _synonym_stems(str(k), groups) for k, groups in lex["synonyms"].items()}
        light = {str(k): frozenset(_stem_of(str(k), str(w)) for w in words) for k, words in lex["light"].items()}
    except (OSError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"Cache lexicon {lexicon} is unreadable ({exc}); restore the file.") from exc
    return replace(rules, synonyms=synonyms, light=light)


def _stem_of(lang: str, word: str) -> str:
    word = word.lower()
    return fold(_stemmer(lang)(word))


def _synonym_stems(lang: str, groups: list[list[object]]) -> dict[str, str]:
    """Every listed word's stem -> its group's first stem (a stem in two groups keeps the first)."""
    found: dict[str, str] = {}
    for group in groups:
        stems = [_stem_of(lang, str(w)) for w in group]
        for stem in stems:
            found.setdefault(stem, stems[0])
    return found


def _aliases(groups: list[list[object]]) -> dict[str, str]:
    return {fold(str(w).lower()): fold(str(group[0]).lower()) for group in groups for w in group}


def _longest_first(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(items, key=len, reverse=True))


@lru_cache(maxsize=4)
def default_word_rules(path: Path = DEFAULT_WORDS_FILE) -> WordRules:
    return load_word_rules(path)


def _folded(words: Iterable[object]) -> frozenset[str]:
    return frozenset(fold(str(w).lower()) for w in words)


def fold(token: str) -> str:
    """Drop diacritics so spelling variants meet (adaug / adăuga, ş / ș)."""
    return "".join(c for c in unicodedata.normalize("NFKD", token) if not unicodedata.combining(c))


# A text's words: each is the tuple of its lowercase hyphen-joined pieces ("e-mails" -> ("e", "mails")).
Pieces = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Words:
    """One text's words by class: content stems, function words, and (form, stem) of every word and piece."""

    content: frozenset[str]
    function: frozenset[str]
    parts: tuple[tuple[str, str], ...]
    endings: tuple[str, ...]
    linkers: tuple[str, ...]
    synonyms: dict[str, str] = field(default_factory=dict)
    light: frozenset[str] = frozenset()


def words_of(words: Pieces, language: str | None, rules: WordRules) -> Words:
    """Classify `words` (only the first `MAX_WORDS` count) as in `language` (None: every list, no stemming)."""
    words = words[:MAX_WORDS]
    lang = language or ""
    ignorable = rules.ignorable.get(lang) or frozenset().union(*rules.ignorable.values())
    function = rules.function.get(lang) or frozenset().union(*rules.function.values())
    alias = rules.function_alias.get(lang, {})
    stemmer = _stemmer(language)
    parts: dict[tuple[str, str], None] = {}
    content = set()
    for pieces in words:
        # Hyphenated words count joined, less their clitics and articles ("să-mi", "Wi-Fi-ul" -> "wifi").
        small = ignorable | function
        kept = [p for p in pieces if fold(p) not in small] if len(pieces) > 1 else pieces
        whole = "".join(kept)
        # Stem the spelled word (Romanian and Polish endings carry diacritics), then fold the stem.
        for token in {whole, *pieces} - {""}:
            parts[(fold(token), fold(stemmer(token)))] = None
        folded = fold(whole)
        if whole and folded not in ignorable and folded not in function and not folded.isdigit():
            content.add(fold(stemmer(whole)))
    found = frozenset(alias.get(f, f) for f in (fold("".join(p)) for p in words) if f in function)
    return Words(frozenset(content), found, tuple(parts), rules.endings.get(lang, ()), rules.linkers,
                 rules.synonyms.get(lang, {}), rules.light.get(lang, frozenset()))


def detect_language(words: Pieces, text: str, rules: WordRules) -> str | None:
    """The language with most listed words (plus its own letters); None on a tie or no evidence."""
    if _CYRILLIC.search(text):
        return "ru"
    folded = [fold("".join(p)) for p in words[:MAX_WORDS]]
    lowered = text.lower()
    scores = {
        lang: sum(t in rules.ignorable[lang] or t in rules.function[lang] for t in folded)
        + 2 * any(c in lowered for c in rules.letters.get(lang, ""))
        for lang in rules.ignorable
        if lang != "ru"
    }
    best = max(scores.values(), default=0)
    winners = [lang for lang, score in scores.items() if score == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


def _stemmer(lang: str | None) -> Callable[[str], str]:
    if lang == "pl":
        return _polish_stem
    if lang in _SNOWBALL:
        return _snowball(lang)
    return _identity


def _identity(word: str) -> str:
    return word


_SNOWBALL_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def _snowball(lang: str) -> Callable[[str], str]:
    stemmer = snowballstemmer.stemmer(_SNOWBALL[lang])

    def stem(word: str) -> str:
        # Snowball stemmers keep state between calls: one caller at a time.
        with _SNOWBALL_LOCK:
            return str(stemmer.stemWord(word))

    return stem


def _polish_stem(word: str) -> str:
    for ending in _PL_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


# ---------------------------------------------------------------------------------------------
# Agreement
# ---------------------------------------------------------------------------------------------


def same_word(a: str, b: str, endings: tuple[str, ...] = ()) -> bool:
    """Equal stems; stems one vowel apart at the end (firm / firma, not konto / kontor); or, from four
    letters on, stems that differ by one of the language's endings (genehm / genehmigt)."""
    if a == b:
        return True
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    if len(short) < 4 or not long_.startswith(short):
        return False
    extra = long_[len(short) :]
    return (len(extra) == 1 and extra in "aeiouy") or extra in endings


def content_difference(a: Words, b: Words) -> tuple[frozenset[str], frozenset[str]]:
    """Content words of `a` not found in `b`, and of `b` not found in `a` (compounds split both ways;
    light words dropped; a word and its known equivalent on the other side paired off)."""
    only_a = {w for w in a.content if _found(w, b) is None}
    only_b = {w for w in b.content if _found(w, a) is None}
    for whole, side, rest in ((only_a, b, only_b), (only_b, a, only_a)):
        for word in list(whole):
            used = _split(word, side)
            if used is not None:
                whole.discard(word)
                rest.difference_update(used)
    only_a = {w for w in only_a if _canonical(w, a.light, a.endings) is None}
    only_b = {w for w in only_b if _canonical(w, b.light, b.endings) is None}
    groups_a = {w: _synonym(w, a) for w in only_a}
    groups_b = {w: _synonym(w, b) for w in only_b}
    shared = {g for g in groups_a.values() if g is not None} & set(groups_b.values())
    only_a = {w for w, g in groups_a.items() if g not in shared}
    only_b = {w for w, g in groups_b.items() if g not in shared}
    return frozenset(only_a), frozenset(only_b)


def _synonym(word: str, words: Words) -> str | None:
    """The group (its first stem) of the lexicon that `word` is a form of, if any."""
    return words.synonyms.get(word) or _canonical(word, words.synonyms, words.endings)


def _canonical(word: str, table: Collection[str] | dict[str, str], endings: tuple[str, ...]) -> str | None:
    """`word`'s entry in `table` (a set: the entry itself; a mapping: its value), also when the stems
    differ by an ending (`same_word`)."""
    key = word if word in table else next((k for k in table if same_word(word, k, endings)), None)
    if key is None:
        return None
    return table[key] if isinstance(table, dict) else key


def _found(word: str, other: Words, *, exact: bool = False) -> str | None:
    """The stem of the other text's word that `word` is (as a form or a stem), if any."""
    if exact:
        return next((stem for form, stem in other.parts if word == form), None)
    return next((stem for form, stem in other.parts if word == form or same_word(word, stem, other.endings)), None)


def _split(word: str, other: Words) -> tuple[str, str] | None:
    """The stems of two words of the other text whose concatenation (with a linking letter) is `word`.

    A head of two letters must be a word of the other text as it is (a separable prefix: "lege an")."""
    if len(word) > MAX_COMPOUND:
        return None
    for i in range(2, len(word) - _MIN_PART + 1):
        head, tail = word[:i], word[i:]
        tail_stem = _found(tail, other)
        if tail_stem is None:
            continue
        if i < _MIN_PART:
            head_stem = _found(head, other, exact=True)
            if head_stem is not None:
                return head_stem, tail_stem
            continue
        cut = [head[: -len(k)] for k in other.linkers if head.endswith(k) and len(head) - len(k) >= _MIN_PART]
        heads = [head, *cut]
        for h in heads:
            head_stem = _found(h, other)
            if head_stem is not None:
                return head_stem, tail_stem
    return None


def function_swapped(a: Words, b: Words) -> bool:
    """A function word on each side that the other lacks ("during" / "after", "where" / "when")."""
    return bool(a.function - b.function) and bool(b.function - a.function)
