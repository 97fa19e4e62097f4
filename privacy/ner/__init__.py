"""The trained named-entity models Switchboard ships: one small spaCy pipeline per language.

Each model tags PER, LOC, ORG and MISC. It was trained by ``python -m privacy.ner.train`` on public,
human-annotated corpora (see ``privacy/ner/models/README.md`` for data, licences and figures) and runs
through Presidio (privacy.presidio). Nothing is downloaded: the pipelines live in this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

MODELS = Path(__file__).parent / "models"
# Russian: natasha's news model (privacy.ru_ner) measured far better on the dev set than a spaCy model
# trained on the 1,000 shippable Russian sentences (person P/R 96/94% vs 67/61%), so it is the model
NER_LANGUAGES = ("pl", "da", "ro", "de", "en")


SECOND_OPINION = "xx"  # the pooled multilingual model: a second opinion next to each language's own


def second_opinion_model(configured: Mapping[str, str] | None = None) -> str | None:
    """Path of the multilingual second-opinion model: ``configured["xx"]`` (empty: none), else the
    shipped one if present."""
    if configured and SECOND_OPINION in configured:
        return configured[SECOND_OPINION] or None
    path = MODELS / SECOND_OPINION
    return str(path) if (path / "config.cfg").is_file() else None


def shipped_models() -> dict[str, str]:
    """Language → path of the trained pipeline, for every language whose model is present."""
    return {lang: str(MODELS / lang) for lang in NER_LANGUAGES if (MODELS / lang / "config.cfg").is_file()}


def model_paths(spec: str) -> dict[str, str]:
    """``"de=/models/de_core_news_lg,pl=/m/pl"`` → {"de": "/models/de_core_news_lg", "pl": "/m/pl"}."""
    pairs = (item.split("=", 1) for item in spec.split(",") if "=" in item)
    return {lang.strip(): path.strip() for lang, path in pairs}
