"""The task classifier's fitted model, applied without scikit-learn.

`python -m routing.task_model_build` fits scikit-learn's pipeline (char_wb 2–5 and word 1–2 TF-IDF into a
linear SVM) on `routing/data/tasks` and writes what applying it needs to `routing/data/task_model.npz`:
each feature block's vocabulary, idf and SVM coefficients, the intercepts, and the digest of the task
data it was fitted on. `LinearTaskModel` computes the same thing scikit-learn's `decision_function` does,
with plain Python for the n-grams and two small numpy dot products: the n-grams sklearn's analyzers
cut, sublinear tf times idf, each block scaled to unit length, then X·coefᵀ + intercept.
Loading takes ~20 ms instead of importing scikit-learn (~1.5 s) and fitting (~0.5 s); a short message
costs a few dozen microseconds instead of ~1 ms of sklearn's per-call validation.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

CHAR_NGRAMS = (2, 5)  # sklearn analyzer="char_wb", ngram_range=(2, 5)
WORD_NGRAMS = (1, 2)  # sklearn analyzer="word", ngram_range=(1, 2)
# the file layout and feature recipe; a file of another format is refitted, not misread
FORMAT = "switchboard-task-model/1"

_WHITE_SPACES = re.compile(r"\s\s+")  # sklearn's _VectorizerMixin._white_spaces
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # sklearn's default token_pattern
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)  # fixed, so the same weights give the same bytes


def char_windows(text: str) -> list[str]:
    """Every 2–5-character window of the lower-cased text, its words joined by one space and padded with
    one at either end. sklearn's ``analyzer="char_wb"`` n-grams are exactly the windows without a space
    inside (each word padded on its own; a word no longer than n gives itself once, and so does the one
    window covering it); the other windows span two words and are never in the vocabulary, so looking
    them up costs less than telling them apart."""
    lo, hi = CHAR_NGRAMS
    words = text.lower().split()
    if not words:
        return []
    s = f" {' '.join(words)} "
    return [s[i:i + n] for n in range(lo, hi + 1) for i in range(len(s) - n + 1)]


def word_ngrams(text: str) -> list[str]:
    """Word 1–2-grams of the tokens of two or more word characters, as sklearn's ``analyzer="word"``."""
    tokens = _TOKEN.findall(text.lower())
    lo, hi = WORD_NGRAMS
    out = list(tokens) if lo == 1 else []
    for n in range(max(lo, 2), min(hi, len(tokens)) + 1):
        out += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return out


@dataclass(frozen=True, slots=True)
class FeatureBlock:
    """One TF-IDF vectorizer and its share of the SVM: term → column, idf and coefficients per column."""

    terms: tuple[str, ...]
    idf: NDArray[np.float64]  # (n_terms,)
    coef: NDArray[np.float64]  # (n_terms, n_classes)
    ngrams: Callable[[str], list[str]]

    def __post_init__(self) -> None:
        if not (len(self.terms) == len(self.idf) == len(self.coef)):
            raise ValueError("a feature block's terms, idf and coefficients differ in length")

    def margins(self, text: str, index: dict[str, int]) -> NDArray[np.float64] | None:
        """This block's share of each class's margin: the unit-length sublinear tf-idf row times coefᵀ;
        None when the text has none of the block's terms (sklearn's row is all zeros then)."""
        get = index.get
        counts = Counter(col for gram in self.ngrams(text) if (col := get(gram)) is not None)
        if not counts:
            return None
        cols = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        weights = (np.log(tf) + 1.0) * self.idf[cols]
        margins: NDArray[np.float64] = (weights @ self.coef[cols]) / math.sqrt(float(weights @ weights))
        return margins


class LinearTaskModel:
    """The fitted TF-IDF + linear SVM, as arrays: `decision(text)` equals sklearn's `decision_function`."""

    def __init__(self, *, classes: Sequence[str], chars: FeatureBlock, words: FeatureBlock,
                 intercept: NDArray[np.float64], data_digest: str) -> None:
        if not (chars.coef.shape[1] == words.coef.shape[1] == len(intercept) == len(classes)):
            raise ValueError("coefficients, intercepts and classes differ in number")
        self.classes = tuple(classes)
        self.chars = chars
        self.words = words
        self.intercept = intercept
        self.data_digest = data_digest
        self._index = [{t: i for i, t in enumerate(block.terms)} for block in (chars, words)]

    def decision(self, text: str) -> NDArray[np.float64]:
        """One margin per class (in `classes` order) for an already normalised text."""
        total = self.intercept.copy()
        for block, index in zip((self.chars, self.words), self._index, strict=True):
            part = block.margins(text, index)
            if part is not None:
                total += part
        return total

    def save(self, path: Path) -> None:
        """Write the model as .npz (a zip of .npy files) with fixed timestamps: same weights, same bytes."""
        arrays: dict[str, NDArray[np.generic]] = {
            "format": np.array(FORMAT), "data_digest": np.array(self.data_digest),
            "classes": np.array(self.classes), "intercept": self.intercept,
        }
        for name, block in (("chars", self.chars), ("words", self.words)):
            arrays[f"{name}_terms"] = np.frombuffer(_join_terms(block.terms), dtype=np.uint8)
            arrays[f"{name}_idf"] = block.idf
            arrays[f"{name}_coef"] = block.coef
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, array in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asarray(array, order="C"), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> LinearTaskModel:
        """Read a model written by `save` (raises OSError when missing, ValueError when not one)."""
        with np.load(path, allow_pickle=False) as npz:
            found = str(npz["format"].item())
            if found != FORMAT:
                raise ValueError(f"{path} is {found!r}, not {FORMAT!r}")

            def block(name: str, ngrams: Callable[[str], list[str]]) -> FeatureBlock:
                terms = tuple(npz[f"{name}_terms"].tobytes().decode("utf-8").split("\n"))
                return FeatureBlock(terms=terms, idf=npz[f"{name}_idf"], coef=npz[f"{name}_coef"], ngrams=ngrams)

            return cls(classes=[str(c) for c in npz["classes"]], chars=block("chars", char_windows),
                       words=block("words", word_ngrams), intercept=npz["intercept"],
                       data_digest=str(npz["data_digest"].item()))


def _join_terms(terms: Iterable[str]) -> bytes:
    terms = list(terms)
    if any("\n" in t for t in terms):  # cannot happen: n-grams are cut at whitespace
        raise ValueError("a term holds a line break")
    return "\n".join(terms).encode("utf-8")
