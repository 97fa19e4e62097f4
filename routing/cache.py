"""Semantic cache: answer a request again only when an earlier one asked for exactly the same.

A cache that is unsure does not serve. A stored request is a candidate when its MiniLM sentence
embedding is close enough (cosine >= `threshold`, a loose floor: MiniLM is weak outside English),
and it is served only when every guard agrees (`near_miss_reason`):

- hard vetoes (word lists in `routing/data/cache_guards.yaml`): same numbers (digits or number
  words), same dates and weekdays, same languages named in the same order, same translation
  direction ("EN→DE" vs "DE→EN"), same quoted payload, same negation, no reversed direction
  ("EUR to PLN" vs "PLN to EUR"), no opposite words (increase/reduce), same acronyms and
  product names in the same order, and the same language of the text itself;
- content-word agreement (`routing/cache_words.py`, word classes in
  `routing/data/cache_words.yaml`): every content word of each text, stemmed, is found in the
  other, directly or as a part of a compound; "how do I" / "how can I", word order and
  politeness do not count, a function word swapped for another ("during" / "after") does.

A synonym counts only when the lexicon of office vocabulary (`routing/data/cache_lexicon.yaml`)
lists it ("documents" / "paperwork"): from words alone an unknown one cannot be told from another
object ("cleaning services" / "catering services").

Scoping and personal data: entries live in a scope of (tenant, user, task). Callers pass
`user=None` only for requests without personal data; those entries are shared inside the
tenant. A request that held personal data must be passed with its `user`: its entry is then
stored and served for that user alone, never across users or tenants. Lookups only see the
exact scope they name. Admins switch caching off per task with `enabled_tasks`. (The pipeline
also drops a hit whose model the request's privacy verdict does not allow.)

The store is in memory, per process, bounded (LRU eviction) and entries expire after `ttl_s`.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bot.errors import ConfigurationError
from privacy.yamlfile import load_yaml
from routing.cache_words import (
    Pieces,
    WordRules,
    content_difference,
    default_word_rules,
    detect_language,
    function_swapped,
    words_of,
)
from routing.classifier import quoted_spans
from routing.embeddings import Embedder, build_embedder

if TYPE_CHECKING:  # numpy loads with the first lookup or store: the admin commands never need it
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "CacheHit",
    "Embedder",
    "GuardRules",
    "SemanticCache",
    "Signature",
    "build_embedder",
    "load_guard_rules",
    "near_miss_reason",
]

DEFAULT_GUARDS_FILE = Path(__file__).parent / "data" / "cache_guards.yaml"

# Embedding cosine a stored request needs to be considered at all (the guards decide).
DEFAULT_THRESHOLD = 0.5
# Candidates checked per lookup, closest first.
MAX_CANDIDATES = 8

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_HYPHENATED = re.compile(r"[^\W_]+(?:['’][^\W_]+)*(?:-[^\W_]+(?:['’][^\W_]+)*)*", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,  ]\d+)*")
_THOUSANDS = re.compile(r"^\d{1,3}(?:[.,  ]\d{3})+$")
# "EN→DE", "de -> en", "PL>RU": a translation direction written with language codes.
_DIRECTION = re.compile(r"(?<![^\W\d_])([^\W\d_]{2,3})\s{0,3}(?:→|->|=>|⇒|➔|>)\s{0,3}([^\W\d_]{2,3})(?![^\W\d_])")

Clock = Callable[[], float]
TaskFilter = Collection[str] | Callable[[str], bool] | None


@dataclass(frozen=True)
class CacheHit:
    """A cached answer served for a new request."""

    answer: str
    model: str
    similarity: float
    key_text: str


# ---------------------------------------------------------------------------------------------
# Guard rules (data) and signatures (what each text commits to)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WordSet:
    """Exact words plus prefixes (entries ending in `*` in the YAML)."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]

    @classmethod
    def of(cls, entries: Iterable[str]) -> WordSet:
        words = [str(e).lower() for e in entries]
        prefixes = tuple(w[:-1] for w in words if w.endswith("*") and not w.startswith("*"))
        suffixes = {w for w in words if w.startswith("*")}
        return cls(frozenset(w for w in words if not w.endswith("*")) | suffixes, prefixes)

    def matches(self, token: str) -> bool:
        if token in self.exact or token.startswith(self.prefixes):
            return True
        return any(token.endswith(s[1:]) for s in self.exact if s.startswith("*"))


@dataclass(frozen=True)
class GuardRules:
    """Word lists behind the near-miss guards; see `routing/data/cache_guards.yaml`."""

    negations: WordSet
    number_words: dict[str, WordSet]
    temporal: dict[str, WordSet]
    languages: dict[str, WordSet]
    direction_markers: frozenset[str]
    filler_words: frozenset[str]
    opposites: tuple[tuple[WordSet, WordSet], ...]


def load_guard_rules(path: Path = DEFAULT_GUARDS_FILE) -> GuardRules:
    """Read the guard word lists; a missing or malformed file is a configuration error."""
    try:
        doc: Any = load_yaml(path.read_text(encoding="utf-8"))
        return GuardRules(
            negations=WordSet.of(doc["negations"]),
            number_words=_groups(doc["number_words"]),
            temporal=_groups(doc["temporal"]),
            languages=_groups(doc["languages"]),
            direction_markers=frozenset(doc["direction_markers"]),
            filler_words=frozenset(doc["filler_words"]),
            opposites=tuple((WordSet.of(a), WordSet.of(b)) for a, b in doc["opposites"]),
        )
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"Cache guard rules in {path} are unreadable ({exc}); restore the file.") from exc


def _groups(raw: dict[str, list[str]]) -> dict[str, WordSet]:
    return {str(key): WordSet.of(words) for key, words in raw.items()}


@lru_cache(maxsize=4)
def _default_rules(path: Path = DEFAULT_GUARDS_FILE) -> GuardRules:
    return load_guard_rules(path)


@dataclass(frozen=True)
class Signature:
    """What a request commits to, beyond its meaning: the facts the guards compare."""

    tokens: tuple[str, ...]
    numbers: tuple[str, ...]
    entities: tuple[str, ...]
    temporal: frozenset[str]
    languages: tuple[str, ...]
    directions: tuple[tuple[str, str], ...]
    negated: bool
    quotes: tuple[str, ...]
    targets: frozenset[str]
    leads: frozenset[str]
    opposite_sides: frozenset[tuple[int, int]]
    words: Pieces
    language: str | None
    word_rules: WordRules


def signature(text: str, rules: GuardRules, word_rules: WordRules | None = None) -> Signature:
    """Extract the guard facts of one text."""
    word_rules = word_rules or default_word_rules()
    raw_tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(text)]
    tokens = tuple(t.lower() for t, _ in raw_tokens)
    quotes = quoted_spans(text)
    # number words ("three" / "3") are compared by the numbers guard, not as content words
    words = tuple(w for w in _unquoted_words(text, quotes) if not _is_number_word("".join(w), rules))
    return Signature(
        tokens=tokens,
        numbers=_numbers(text, tokens, rules),
        entities=_entities(raw_tokens),
        temporal=frozenset(k for k, words in rules.temporal.items() if any(words.matches(t) for t in tokens)),
        languages=_languages(tokens, rules),
        directions=tuple((m.group(1).lower(), m.group(2).lower()) for m in _DIRECTION.finditer(text)),
        negated=any(rules.negations.matches(t) for t in tokens),
        quotes=tuple(" ".join(q.lower().split()) for q in quotes),
        targets=_targets(tokens, rules),
        leads=_leads(tokens, rules),
        opposite_sides=_opposite_sides(tokens, rules),
        words=words,
        language=detect_language(words, text, word_rules),
        word_rules=word_rules,
    )


def _unquoted_words(text: str, quotes: Sequence[str]) -> Pieces:
    # The quoted payload is compared whole by its own guard; its words are not the request's words.
    for quote in quotes:
        text = text.replace(quote, " ")
    return tuple(tuple(_TOKEN.findall(m.group().lower())) for m in _HYPHENATED.finditer(text))


def _numbers(text: str, tokens: Sequence[str], rules: GuardRules) -> tuple[str, ...]:
    found = [_normalise_number(m.group()) for m in _NUMBER.finditer(text)]
    for token in tokens:
        found.extend(value for value, words in rules.number_words.items() if words.matches(token))
    return tuple(sorted(found))


def _is_number_word(word: str, rules: GuardRules) -> bool:
    return any(words.matches(word) for words in rules.number_words.values())


def _normalise_number(raw: str) -> str:
    if _THOUSANDS.match(raw):
        return re.sub(r"\D", "", raw)
    return re.sub(r"\s", "", raw).replace(",", ".")


def _entities(raw_tokens: Sequence[tuple[str, int]]) -> tuple[str, ...]:
    """Acronyms and product-style names (SAP, EUR, LinkedIn, iOS), in order of appearance.

    Other capitalised words are content words (German capitalises every noun); the content-word
    agreement compares them with their inflections."""
    found = []
    for token, _ in raw_tokens:
        acronym = len(token) > 1 and token.isupper()
        inner_capital = any(c.isupper() for c in token[1:]) and any(c.islower() for c in token)
        if acronym or inner_capital:
            found.append(token.lower())
    return tuple(found)


def _languages(tokens: Sequence[str], rules: GuardRules) -> tuple[str, ...]:
    found: list[str] = []
    for token in tokens:
        for code, words in rules.languages.items():
            if words.matches(token) and (not found or found[-1] != code):
                found.append(code)
    return tuple(found)


def _targets(tokens: Sequence[str], rules: GuardRules) -> frozenset[str]:
    found = set()
    for i, token in enumerate(tokens[:-1]):
        if token in rules.direction_markers:
            rest = [t for t in tokens[i + 1 : i + 3] if t not in rules.filler_words]
            if rest:
                found.add(rest[0])
    return frozenset(found)


def _leads(tokens: Sequence[str], rules: GuardRules) -> frozenset[str]:
    """The words before the first direction marker: where a reversed request names its source."""
    first = next((i for i, t in enumerate(tokens) if t in rules.direction_markers), len(tokens))
    return frozenset(tokens[:first])


def _opposite_sides(tokens: Sequence[str], rules: GuardRules) -> frozenset[tuple[int, int]]:
    return frozenset(
        (i, side)
        for i, pair in enumerate(rules.opposites)
        for side, words in enumerate(pair)
        if any(words.matches(t) for t in tokens)
    )


# ---------------------------------------------------------------------------------------------
# Guards: pure functions over two signatures
# ---------------------------------------------------------------------------------------------


def _entities_differ(a: Signature, b: Signature) -> bool:
    # A name on one side must appear (in any case) on the other, and in the same order.
    if any(e not in b.tokens for e in a.entities) or any(e not in a.tokens for e in b.entities):
        return True
    shared = set(a.entities) & set(b.entities)
    return _dedupe([e for e in a.entities if e in shared]) != _dedupe([e for e in b.entities if e in shared])


def _dedupe(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _reversed(a: Signature, b: Signature) -> bool:
    # "EUR to PLN" / "PLN to EUR": each text's target is the other's source, named before its marker
    # ("access to the shared drive of the finance team" / "to the finance team's shared drive" is not).
    only_a, only_b = a.targets - b.targets, b.targets - a.targets
    return any(x in b.leads and y in a.leads for x in only_a for y in only_b)


def _opposed(a: Signature, b: Signature) -> bool:
    pairs_a = {i for i, _ in a.opposite_sides}
    pairs_b = {i for i, _ in b.opposite_sides}
    return any(
        {s for j, s in a.opposite_sides if j == i} != {s for j, s in b.opposite_sides if j == i}
        for i in pairs_a & pairs_b
    )


def _text_languages_differ(a: Signature, b: Signature) -> bool:
    return a.language is not None and b.language is not None and a.language != b.language


def _content_differs(a: Signature, b: Signature) -> bool:
    # One text's language reads both (a short text may name none): the same stemmer on each side.
    lang = a.language or b.language
    only_a, only_b = content_difference(words_of(a.words, lang, a.word_rules), words_of(b.words, lang, b.word_rules))
    return bool(only_a or only_b)


def _function_swapped(a: Signature, b: Signature) -> bool:
    lang = a.language or b.language
    return function_swapped(words_of(a.words, lang, a.word_rules), words_of(b.words, lang, b.word_rules))


# Most specific first, so `near_miss_reason` names the real difference.
GUARDS: tuple[tuple[str, Callable[[Signature, Signature], bool]], ...] = (
    ("numbers", lambda a, b: a.numbers != b.numbers),
    ("dates", lambda a, b: a.temporal != b.temporal),
    ("languages", lambda a, b: a.languages != b.languages),
    ("direction", lambda a, b: a.directions != b.directions),
    ("quoted text", lambda a, b: a.quotes != b.quotes),
    ("negation", lambda a, b: a.negated != b.negated),
    ("reversed", _reversed),
    ("opposites", _opposed),
    ("entities", _entities_differ),
    ("language of the text", _text_languages_differ),
    ("content words", _content_differs),
    ("function words", _function_swapped),
)


def near_miss_reason(a: Signature, b: Signature) -> str | None:
    """The name of the first guard that tells `a` and `b` apart, or None when all agree."""
    return next((name for name, differs in GUARDS if differs(a, b)), None)


# ---------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------

Scope = tuple[str, str | None, str]


@dataclass(frozen=True)
class _Entry:
    key_text: str
    answer: str
    model: str
    vector: NDArray[np.float32]
    signature: Signature
    stored_at: float
    author: str = ""  # who asked (platform:tenant:user), so an erasure finds shared entries too


class SemanticCache:
    """Tenant-scoped semantic cache with near-miss guards, TTL and LRU bound (see module doc)."""

    def __init__(
        self,
        *,
        embedder: Embedder,
        ttl_s: float = 86400,
        threshold: float = DEFAULT_THRESHOLD,
        clock: Clock = time.monotonic,
        enabled_tasks: TaskFilter = None,
        max_entries: int = 10_000,
        rules: GuardRules | None = None,
        word_rules: WordRules | None = None,
    ) -> None:
        """`enabled_tasks`: a set of task names or a predicate (None: every task is cached)."""
        self._embedder = embedder
        self._ttl_s = ttl_s
        self._threshold = threshold
        self._clock = clock
        self._enabled_tasks = enabled_tasks
        self._max_entries = max_entries
        self._rules = rules  # the bundled word lists when None, read at first use (`_guards`)
        self._word_rules = word_rules
        self._scopes: dict[Scope, dict[int, _Entry]] = {}
        self._lru: OrderedDict[int, Scope] = OrderedDict()
        self._ids = count()
        self._lock = threading.Lock()

    async def lookup(self, *, tenant: str, user: str | None, task: str, text: str) -> CacheHit | None:
        """The cached answer for an equivalent earlier request in the same scope, if any."""
        if not self.is_enabled(task):
            return None
        return await asyncio.to_thread(self._lookup_sync, (tenant, user, task), text)

    async def store(self, *, tenant: str, user: str | None, task: str, text: str, answer: str, model: str,
                    author: str = "") -> None:
        """Remember `answer` for `text`; pass `user` when the request held personal data, and `author` (who
        asked) so that `forget` finds the entry also when it is shared."""
        if self.is_enabled(task):
            await asyncio.to_thread(self._store_sync, (tenant, user, task), text, answer, model, author)

    def forget(self, user: str) -> int:
        """GDPR Art. 17: drop the entries scoped to `user` and the shared ones `user` asked for; how many."""
        with self._lock:
            gone = [i for scope, entries in self._scopes.items() for i, e in entries.items()
                    if scope[1] == user or e.author == user]
            for entry_id in gone:
                self._evict(entry_id)
            return len(gone)

    def warm_up(self) -> None:
        """Load the embedding model and run it once now (serve's warm-up), not at the first lookup; read
        the guard word lists too."""
        self._guards()
        self._embed("warm up")

    def clear(self, tenant: str | None = None) -> None:
        """Drop every entry, or only those of `tenant`."""
        with self._lock:
            for scope in [s for s in self._scopes if tenant is None or s[0] == tenant]:
                for entry_id in self._scopes.pop(scope):
                    self._lru.pop(entry_id, None)

    def would_hit(self, first: str, second: str) -> bool:
        """Whether a fresh cache holding only `first` would answer `second` (for evaluation)."""
        rules, word_rules = self._guards()
        fresh = SemanticCache(embedder=self._embedder, threshold=self._threshold, rules=rules, word_rules=word_rules)
        scope: Scope = ("eval", None, "general")
        fresh._store_sync(scope, first, "", "")
        return fresh._lookup_sync(scope, second) is not None

    def is_enabled(self, task: str) -> bool:
        """Whether admins allow caching for `task`."""
        allowed = self._enabled_tasks
        if allowed is None:
            return True
        return allowed(task) if callable(allowed) else task in allowed

    def __len__(self) -> int:
        return len(self._lru)

    def _store_sync(self, scope: Scope, text: str, answer: str, model: str, author: str = "") -> None:
        entry = _Entry(text, answer, model, self._embed(text), self._signature(text), self._clock(), author)
        with self._lock:
            entry_id = next(self._ids)
            self._scopes.setdefault(scope, {})[entry_id] = entry
            self._lru[entry_id] = scope
            while len(self._lru) > self._max_entries:
                self._evict(next(iter(self._lru)))

    def _lookup_sync(self, scope: Scope, text: str) -> CacheHit | None:
        with self._lock:
            self._expire(scope)
            candidates = list(self._scopes.get(scope, {}).items())
        if not candidates:
            return None
        import numpy as np

        vector = self._embed(text)
        cosines = np.stack([e.vector for _, e in candidates]) @ vector
        close = sorted(
            ((float(c), i, e) for c, (i, e) in zip(cosines, candidates, strict=True) if c >= self._threshold),
            key=lambda item: -item[0],
        )[:MAX_CANDIDATES]
        if not close:
            return None
        sig = self._signature(text)
        for cosine, entry_id, entry in close:
            if near_miss_reason(entry.signature, sig) is None:
                self._touch(entry_id)
                return CacheHit(entry.answer, entry.model, cosine, entry.key_text)
        return None

    def _signature(self, text: str) -> Signature:
        return signature(text, *self._guards())

    def _guards(self) -> tuple[GuardRules, WordRules]:
        """The guard word lists: read at first use, not when the cache is built (`switchboard route` and
        the admin commands build one and never consult it); the default ones are read once per process."""
        if self._rules is None:
            self._rules = _default_rules()
        if self._word_rules is None:
            self._word_rules = default_word_rules()
        return self._rules, self._word_rules

    def _embed(self, text: str) -> NDArray[np.float32]:
        import numpy as np

        return np.asarray(self._embedder.embed([" ".join(text.split())])[0], dtype=np.float32)

    def _expire(self, scope: Scope) -> None:
        oldest_allowed = self._clock() - self._ttl_s
        for entry_id, entry in list(self._scopes.get(scope, {}).items()):
            if entry.stored_at < oldest_allowed:
                self._evict(entry_id)

    def _evict(self, entry_id: int) -> None:
        scope = self._lru.pop(entry_id)
        entries = self._scopes[scope]
        entries.pop(entry_id, None)
        if not entries:
            del self._scopes[scope]

    def _touch(self, entry_id: int) -> None:
        with self._lock:
            if entry_id in self._lru:
                self._lru.move_to_end(entry_id)
