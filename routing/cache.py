"""Semantic cache: answer a request again when an earlier one meant the same thing.

Similarity is a blend of the MiniLM sentence embedding (good at English paraphrase, weak
elsewhere) and a character-trigram cosine (language-agnostic, catches reworded requests
that keep most of their words). A candidate above the threshold is served only when every
near-miss guard agrees (rules in `routing/data/cache_guards.yaml`): same numbers (digits
or number words), same names and other capitalised entities, same dates and weekdays, same
negation, same quoted payload, same languages in the same order (translation target), no
reversed direction ("EUR to PLN" vs "PLN to EUR") and no opposite words (increase/reduce).

Scoping and personal data: entries live in a scope of (tenant, user, task). Callers pass
`user=None` only for requests without personal data; those entries are shared inside the
tenant. A request that held personal data must be passed with its `user`: its entry is then
stored and served for that user alone, never across users or tenants. Lookups only see the
exact scope they name. Admins switch caching off per task with `enabled_tasks`.

The store is in memory, per process, bounded (LRU eviction) and entries expire after `ttl_s`.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
import unicodedata
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from bot.errors import ConfigurationError
from routing.classifier import quoted_spans
from routing.embeddings import Embedder, build_embedder

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

DEFAULT_THRESHOLD = 0.8
# Weight of the embedding cosine in the blended similarity; the rest is the trigram cosine.
EMBEDDING_WEIGHT = 0.5

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,  ]\d+)*")
_THOUSANDS = re.compile(r"^\d{1,3}(?:[.,  ]\d{3})+$")
_SENTENCE_END = re.compile(r"[.!?:;\n]\s*$")
# Words this long carry content; two words sharing their first _STEM letters are one word inflected.
_CONTENT_WORD = 4
_STEM = 4

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
    rephrasing_words: frozenset[str]
    opposites: tuple[tuple[WordSet, WordSet], ...]


def load_guard_rules(path: Path = DEFAULT_GUARDS_FILE) -> GuardRules:
    """Read the guard word lists; a missing or malformed file is a configuration error."""
    try:
        doc: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        return GuardRules(
            negations=WordSet.of(doc["negations"]),
            number_words=_groups(doc["number_words"]),
            temporal=_groups(doc["temporal"]),
            languages=_groups(doc["languages"]),
            direction_markers=frozenset(doc["direction_markers"]),
            filler_words=frozenset(doc["filler_words"]),
            rephrasing_words=frozenset(str(w).lower() for w in doc["rephrasing_words"]),
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
    negated: bool
    quotes: tuple[str, ...]
    targets: frozenset[str]
    opposite_sides: frozenset[tuple[int, int]]
    content_words: frozenset[str]
    trigrams: Counter[str]


def signature(text: str, rules: GuardRules) -> Signature:
    """Extract the guard facts of one text."""
    raw_tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(text)]
    tokens = tuple(t.lower() for t, _ in raw_tokens)
    return Signature(
        tokens=tokens,
        numbers=_numbers(text, tokens, rules),
        entities=_entities(text, raw_tokens),
        temporal=frozenset(k for k, words in rules.temporal.items() if any(words.matches(t) for t in tokens)),
        languages=_languages(tokens, rules),
        negated=any(rules.negations.matches(t) for t in tokens),
        quotes=tuple(" ".join(q.lower().split()) for q in quoted_spans(text)),
        targets=_targets(tokens, rules),
        opposite_sides=_opposite_sides(tokens, rules),
        content_words=frozenset(
            _fold(t) for t in tokens if len(t) >= _CONTENT_WORD and t not in rules.rephrasing_words
        ),
        trigrams=_trigrams(text),
    )


def _numbers(text: str, tokens: Sequence[str], rules: GuardRules) -> tuple[str, ...]:
    found = [_normalise_number(m.group()) for m in _NUMBER.finditer(text)]
    for token in tokens:
        found.extend(value for value, words in rules.number_words.items() if words.matches(token))
    return tuple(sorted(found))


def _normalise_number(raw: str) -> str:
    if _THOUSANDS.match(raw):
        return re.sub(r"\D", "", raw)
    return re.sub(r"\s", "", raw).replace(",", ".")


def _entities(text: str, raw_tokens: Sequence[tuple[str, int]]) -> tuple[str, ...]:
    """Capitalised words not opening a sentence, and acronyms anywhere, in order of appearance."""
    found = []
    for token, start in raw_tokens:
        acronym = len(token) > 1 and token.isupper()
        opens_sentence = start == 0 or bool(_SENTENCE_END.search(text[:start]))
        if acronym or (token[:1].isupper() and not opens_sentence and token != "I"):
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


def _opposite_sides(tokens: Sequence[str], rules: GuardRules) -> frozenset[tuple[int, int]]:
    return frozenset(
        (i, side)
        for i, pair in enumerate(rules.opposites)
        for side, words in enumerate(pair)
        if any(words.matches(t) for t in tokens)
    )


def _fold(token: str) -> str:
    """Drop diacritics so inflected spellings share a stem (adaug / adăuga)."""
    return "".join(c for c in unicodedata.normalize("NFKD", token) if not unicodedata.combining(c))


def _trigrams(text: str) -> Counter[str]:
    padded = f" {' '.join(_TOKEN.findall(text.lower()))} "
    return Counter(padded[i : i + 3] for i in range(len(padded) - 2))


def trigram_cosine(a: Counter[str], b: Counter[str]) -> float:
    """Cosine similarity of two character-trigram count vectors."""
    if not a or not b:
        return 0.0
    dot = sum(n * b[g] for g, n in a.items() if g in b)
    return dot / math.sqrt(sum(n * n for n in a.values()) * sum(n * n for n in b.values()))


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
    only_a, only_b = a.targets - b.targets, b.targets - a.targets
    return any(x in b.tokens and y in a.tokens for x in only_a for y in only_b)


def _substituted(a: Signature, b: Signature) -> bool:
    # Exactly one content word swapped for an unrelated one ("open"/"closed", "printer"/"scanner"):
    # the embedding cannot tell a synonym from an antonym or another object, so refuse.
    only_a = _unmatched_words(a.content_words, b.tokens)
    only_b = _unmatched_words(b.content_words, a.tokens)
    return len(only_a) == 1 and len(only_b) == 1


def _unmatched_words(words: frozenset[str], other_tokens: Sequence[str]) -> set[str]:
    stems = {_fold(t)[:_STEM] for t in other_tokens}
    return {w for w in words if w[:_STEM] not in stems}


def _opposed(a: Signature, b: Signature) -> bool:
    pairs_a = {i for i, _ in a.opposite_sides}
    pairs_b = {i for i, _ in b.opposite_sides}
    return any(
        {s for j, s in a.opposite_sides if j == i} != {s for j, s in b.opposite_sides if j == i}
        for i in pairs_a & pairs_b
    )


# Most specific first, so `near_miss_reason` names the real difference.
GUARDS: tuple[tuple[str, Callable[[Signature, Signature], bool]], ...] = (
    ("numbers", lambda a, b: a.numbers != b.numbers),
    ("dates", lambda a, b: a.temporal != b.temporal),
    ("languages", lambda a, b: a.languages != b.languages),
    ("quoted text", lambda a, b: a.quotes != b.quotes),
    ("negation", lambda a, b: a.negated != b.negated),
    ("reversed", _reversed),
    ("opposites", _opposed),
    ("entities", _entities_differ),
    ("substitution", _substituted),
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
    ) -> None:
        """`enabled_tasks`: a set of task names or a predicate (None: every task is cached)."""
        self._embedder = embedder
        self._ttl_s = ttl_s
        self._threshold = threshold
        self._clock = clock
        self._enabled_tasks = enabled_tasks
        self._max_entries = max_entries
        self._rules = rules or _default_rules()
        self._scopes: dict[Scope, dict[int, _Entry]] = {}
        self._lru: OrderedDict[int, Scope] = OrderedDict()
        self._ids = count()
        self._lock = threading.Lock()

    async def lookup(self, *, tenant: str, user: str | None, task: str, text: str) -> CacheHit | None:
        """The cached answer for an equivalent earlier request in the same scope, if any."""
        if not self.is_enabled(task):
            return None
        return await asyncio.to_thread(self._lookup_sync, (tenant, user, task), text)

    async def store(self, *, tenant: str, user: str | None, task: str, text: str, answer: str, model: str) -> None:
        """Remember `answer` for `text`; pass `user` when the request held personal data."""
        if self.is_enabled(task):
            await asyncio.to_thread(self._store_sync, (tenant, user, task), text, answer, model)

    def warm_up(self) -> None:
        """Load the embedding model and run it once now (serve's warm-up), not at the first lookup."""
        self._embed("warm up")

    def clear(self, tenant: str | None = None) -> None:
        """Drop every entry, or only those of `tenant`."""
        with self._lock:
            for scope in [s for s in self._scopes if tenant is None or s[0] == tenant]:
                for entry_id in self._scopes.pop(scope):
                    self._lru.pop(entry_id, None)

    def would_hit(self, first: str, second: str) -> bool:
        """Whether a fresh cache holding only `first` would answer `second` (for evaluation)."""
        fresh = SemanticCache(embedder=self._embedder, threshold=self._threshold, rules=self._rules)
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

    def _store_sync(self, scope: Scope, text: str, answer: str, model: str) -> None:
        entry = _Entry(text, answer, model, self._embed(text), signature(text, self._rules), self._clock())
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
        vector, sig = self._embed(text), signature(text, self._rules)
        cosines = np.stack([e.vector for _, e in candidates]) @ vector
        scored = sorted(
            ((self._blend(float(c), sig, e), i, e) for c, (i, e) in zip(cosines, candidates, strict=True)),
            key=lambda item: -item[0],
        )
        for score, entry_id, entry in scored:
            if score < self._threshold:
                break
            if near_miss_reason(entry.signature, sig) is None:
                self._touch(entry_id)
                return CacheHit(entry.answer, entry.model, score, entry.key_text)
        return None

    def _blend(self, cosine: float, sig: Signature, entry: _Entry) -> float:
        return EMBEDDING_WEIGHT * cosine + (1 - EMBEDDING_WEIGHT) * trigram_cosine(
            sig.trigrams, entry.signature.trigrams
        )

    def _embed(self, text: str) -> NDArray[np.float32]:
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
