"""Russian named-entity spans (PER/LOC/ORG) from natasha's news NER model, offline.

Why: the rule-based person recogniser (privacy/names.py) leans on capitalised words, honorifics and
name lists; Russian inflects names heavily ("Ивану Сергеевичу", "Петрова"), so a trained tagger is
a useful second opinion. natasha (MIT) ships the slovnet NER model and the navec embeddings inside
its wheel, so loading never touches the network.

How it is used: construct `NatashaNer` once (≈0.8 s, ≈+110 MiB RSS) and share it between threads;
`entities()` serialises calls into the model with a lock. The model is a small numpy CNN: with
OpenBLAS on its default thread count a 100-char sentence took 10-20 ms on a busy 2-core box versus
≈1.5 ms single-threaded, so by default each model call runs under a threadpoolctl limit of one BLAS
thread (process-wide while the call lasts; pass `single_thread_blas=False` to leave BLAS alone).

Long texts are tagged in windows of at most `MAX_WINDOW` characters (whole sentences from razdel,
over-long sentences cut at whitespace) so that a caller's `deadline` is honoured between windows.
Offsets are Python `str` indices into the text passed in.

Only the NER tagger is used: natasha's MorphVocab/NamesExtractor need pymorphy2 0.9.1, which imports
pkg_resources (gone from setuptools >= 81) and calls inspect.getargspec (gone in Python 3.11).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

LABELS = frozenset({"PER", "LOC", "ORG"})
MAX_WINDOW = 1000  # characters handed to the tagger in one call


def _tagger_embedding(path: str) -> Any:
    """natasha's news embedding with only what the NER tagger reads (its id and the quantised vectors,
    slovnet's `InjectNavecVisitor`): `natasha.NewsEmbedding` also builds a 250,000-word dict the tagger
    never consults (it has its own vocabulary) and precomputes norms for similarity queries, about half
    of the model's load time (part of `switchboard route`'s cold start in Russian)."""
    import numpy as np
    from navec.meta import Meta
    from navec.navec import META, PQ_, Navec
    from navec.pq import PQ
    from navec.tar import Tar

    with Tar(path) as tar:
        meta = Meta.from_file(tar.load(META))
        Meta.check_protocol(meta.protocol)
        file = tar.load(PQ_)
        vectors, dim, qdim, centroids = (int(x) for x in np.frombuffer(file.read(4 * 4), np.uint32))
        indexes = np.frombuffer(file.read(vectors * qdim), np.uint8).reshape(vectors, qdim)
        codes = np.frombuffer(file.read(), np.float32).reshape(qdim, centroids, -1)
    pq = PQ.__new__(PQ)  # PQ(...) would run `precompute` (similarity norms)
    pq.vectors, pq.dim, pq.qdim, pq.centroids, pq.indexes, pq.codes = vectors, dim, qdim, centroids, indexes, codes
    return Navec(meta, None, pq)


class NatashaNer:
    """Thread-safe wrapper around natasha's `NewsNERTagger` with chunking and a deadline."""

    def __init__(self, *, single_thread_blas: bool = True) -> None:
        # Imported here so that importing this module stays cheap (natasha pulls numpy, yargy, ...).
        import natasha
        import razdel
        from natasha.data import NEWS_EMBEDDING, NEWS_NER

        for path in (NEWS_EMBEDDING, NEWS_NER):
            # natasha's defaults point into its own package; refuse anything that is not there.
            if not os.path.isfile(path):
                raise FileNotFoundError(f"natasha model file missing from the installed package: {path}")
        self._tagger: Any = natasha.NewsNERTagger(_tagger_embedding(NEWS_EMBEDDING), NEWS_NER)
        self._sentenize: Any = razdel.sentenize
        self._tokenize: Any = razdel.tokenize
        self._lock = threading.Lock()
        self._blas: Any = None
        if single_thread_blas:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:  # optional: only speed depends on it
                pass
            else:
                self._blas = ThreadpoolController()

    def _blas_limit(self) -> AbstractContextManager[Any]:
        if self._blas is None:
            return nullcontext()
        limit: AbstractContextManager[Any] = self._blas.limit(limits=1, user_api="blas")
        return limit

    def entities(self, text: str, *, deadline: float | None = None) -> list[tuple[int, int, str]]:
        """Return sorted (start, end, label) spans, label in LABELS.

        `deadline` is a `time.monotonic()` value; it is checked before each window, and
        `TimeoutError` is raised once it has passed (spans found so far are discarded).
        """
        found: list[tuple[int, int, str]] = []
        for start, end in self._windows(text):
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("NatashaNer: deadline passed before the text was fully tagged")
            chunk = text[start:end]
            if next(iter(self._tokenize(chunk)), None) is None:
                continue  # slovnet's CRF decoder raises IndexError on a text without tokens
            with self._lock, self._blas_limit():
                markup = self._tagger(chunk)
            for span in markup.spans:
                label = str(span.type)
                if label in LABELS and span.stop > span.start:
                    found.append((start + int(span.start), start + int(span.stop), label))
        found.sort()
        return found

    def _windows(self, text: str) -> Iterator[tuple[int, int]]:
        """Yield (start, end) windows of at most MAX_WINDOW chars covering every non-space char."""
        if len(text) <= MAX_WINDOW:
            if text:
                yield 0, len(text)
            return
        win_start = win_end = -1
        for piece_start, piece_end in self._pieces(text):
            if win_start >= 0 and piece_end - win_start <= MAX_WINDOW:
                win_end = piece_end
                continue
            if win_start >= 0:
                yield win_start, win_end
            win_start, win_end = piece_start, piece_end
        if win_start >= 0:
            yield win_start, win_end

    def _pieces(self, text: str) -> Iterator[tuple[int, int]]:
        """Sentences from razdel (gaps between them are whitespace), over-long ones cut at whitespace."""
        for sentence in self._sentenize(text):
            start, end = int(sentence.start), int(sentence.stop)
            while end - start > MAX_WINDOW:
                cut = start + MAX_WINDOW
                while cut > start and not text[cut].isspace():
                    cut -= 1
                if cut == start:
                    cut = start + MAX_WINDOW  # one huge "word": a hard cut is the only option
                yield start, cut
                start = cut
                while start < end and text[start].isspace():
                    start += 1
            if end > start:
                yield start, end
