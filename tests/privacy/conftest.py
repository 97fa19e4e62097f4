from __future__ import annotations

from typing import Protocol

import pytest

from privacy import PrivacyEngine, build_privacy_engine


@pytest.fixture(scope="session")
def engine() -> PrivacyEngine:
    eng = build_privacy_engine()
    eng.warm_up()
    return eng


class TypesIn(Protocol):
    def __call__(self, text: str, *, language: str | None = None, min_score: float = 0.5) -> set[str]: ...


@pytest.fixture(scope="session")
def types_in(engine: PrivacyEngine) -> TypesIn:
    """Entity types found in ``text`` with at least ``min_score``."""

    def find(text: str, *, language: str | None = None, min_score: float = 0.5) -> set[str]:
        return {f.entity_type for f in engine.analyze(text, language=language).findings if f.score >= min_score}

    return find
