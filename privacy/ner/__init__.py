"""The trained named-entity models Switchboard ships: one small spaCy pipeline per language.

Each model tags PER, LOC, ORG and MISC. It was trained by ``python -m privacy.ner.train`` on public,
human-annotated corpora (see ``privacy/ner/models/README.md`` for data, licences and figures) and runs
through Presidio (privacy.presidio). Nothing is downloaded: the pipelines live in this package.
"""

from __future__ import annotations

from pathlib import Path

MODELS = Path(__file__).parent / "models"
NER_LANGUAGES = ("pl", "da", "ro", "ru", "de", "en")


def shipped_models() -> dict[str, str]:
    """Language → path of the trained pipeline, for every language whose model is present."""
    return {lang: str(MODELS / lang) for lang in NER_LANGUAGES if (MODELS / lang / "config.cfg").is_file()}
