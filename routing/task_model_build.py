"""Fits the task classifier with scikit-learn and writes `routing/data/task_model.npz` (a build-time tool).

    .venv/bin/python -m routing.task_model_build          # rewrite the file from routing/data/tasks
    .venv/bin/python -m routing.task_model_build --check  # exit 1 when the file differs from a fresh fit

Run it after editing `routing/data/tasks/*.yaml` (the tests fail until then: the file records the digest
of the data it was fitted on). The fit is deterministic (LinearSVC with a fixed random_state), so the same
data gives the same weights (and, with the same zlib, the same bytes). Only this module (and `bench/`)
imports scikit-learn; the running bot applies the weights with `routing.task_model`. A deployment whose
task data differs from the file's digest fits at start with this module instead (and says so in its log).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from bot.errors import ConfigurationError
from routing.classifier import (
    DEFAULT_DATA_DIR,
    DEFAULT_MODEL_FILE,
    LabelledUtterance,
    load_task_examples,
    normalise_for_task,
    task_data_digest,
    task_files,
)
from routing.policy import TASKS
from routing.task_model import (
    CHAR_NGRAMS,
    WORD_NGRAMS,
    FeatureBlock,
    LinearTaskModel,
    char_windows,
    word_ngrams,
)


def make_pipeline() -> Pipeline:
    """The untrained model: char_wb 2–5 and word 1–2 TF-IDF features into a linear SVM."""
    features = FeatureUnion(
        [
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, min_df=1)),
            ("words", TfidfVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, sublinear_tf=True, min_df=1)),
        ]
    )
    # LinearSVC fits ~10x faster than a logistic regression here at equal accuracy; a fixed random_state
    # makes liblinear's coordinate order, hence the weights, the same at every fit
    return Pipeline([("features", features), ("model", LinearSVC(C=0.5, class_weight="balanced", random_state=0))])


def fit_pipeline(examples: Sequence[LabelledUtterance]) -> Pipeline:
    """The sklearn pipeline fitted on `examples` (normalised as the classifier normalises messages)."""
    missing = set(TASKS) - {e.task for e in examples}
    if missing:
        raise ConfigurationError(f"Task data has no utterances for {sorted(missing)}; add some to routing/data/tasks.")
    pipeline = make_pipeline()
    pipeline.fit([normalise_for_task(e.text) for e in examples], [e.task for e in examples])
    return pipeline


def to_linear_model(pipeline: Pipeline, *, data_digest: str) -> LinearTaskModel:
    """The fitted pipeline's vocabularies, idf and coefficients as a `LinearTaskModel`."""
    svm: Any = pipeline.named_steps["model"]
    vectorizers = dict(pipeline.named_steps["features"].transformer_list)
    coef = np.asarray(svm.coef_, dtype=np.float64)
    blocks: list[FeatureBlock] = []
    start = 0
    for name, ngrams in (("chars", char_windows), ("words", word_ngrams)):
        vec = vectorizers[name]
        terms = tuple(str(t) for t in vec.get_feature_names_out())  # column order
        if name == "chars" and any(" " in t[1:-1] for t in terms):  # char_windows relies on it
            raise ValueError("a char_wb n-gram holds an inner space")
        end = start + len(terms)
        blocks.append(FeatureBlock(terms=terms, idf=np.asarray(vec.idf_, dtype=np.float64),
                                   coef=np.ascontiguousarray(coef[:, start:end].T), ngrams=ngrams))
        start = end
    if start != coef.shape[1]:
        raise ValueError(f"the feature blocks have {start} columns, the SVM {coef.shape[1]}")
    return LinearTaskModel(classes=[str(c) for c in svm.classes_], chars=blocks[0], words=blocks[1],
                           intercept=np.asarray(svm.intercept_, dtype=np.float64), data_digest=data_digest)


def fit_task_model(data_dir: Path = DEFAULT_DATA_DIR) -> LinearTaskModel:
    """Fit on the task data in `data_dir` and convert (about a second, plus importing scikit-learn)."""
    digest = task_data_digest(task_files(data_dir))
    return to_linear_model(fit_pipeline(load_task_examples(data_dir)), data_digest=digest)


def difference(stored: LinearTaskModel, fresh: LinearTaskModel, *, rtol: float = 1e-9) -> str | None:
    """How `stored` differs from `fresh` (None: same data digest, classes, vocabularies and weights up to
    `rtol`; floating-point libraries may differ in the last bits between machines)."""
    if stored.data_digest != fresh.data_digest:
        return "fitted on other task data (digest differs)"
    if stored.classes != fresh.classes:
        return f"tasks differ: {stored.classes} vs {fresh.classes}"
    for name in ("chars", "words"):
        a, b = getattr(stored, name), getattr(fresh, name)
        if a.terms != b.terms:
            return f"the {name} vocabulary differs"
        if not (np.allclose(a.idf, b.idf, rtol=rtol, atol=0) and np.allclose(a.coef, b.coef, rtol=rtol, atol=1e-12)):
            return f"the {name} weights differ"
    if not np.allclose(stored.intercept, fresh.intercept, rtol=rtol, atol=1e-12):
        return "the intercepts differ"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR, help="task data directory")
    ap.add_argument("--out", type=Path, default=DEFAULT_MODEL_FILE, help="model file to write")
    ap.add_argument("--check", action="store_true", help="only compare: exit 1 when --out differs from a fresh fit")
    args = ap.parse_args(argv)
    model = fit_task_model(args.data)
    if args.check:
        problem = difference(LinearTaskModel.load(args.out), model) if args.out.is_file() else "missing"
        verdict = "up to date" if problem is None else f"{problem}; run python -m routing.task_model_build"
        print(f"{args.out}: {verdict}")
        return 0 if problem is None else 1
    model.save(args.out)
    print(f"{args.out}: {len(model.chars.terms)} character and {len(model.words.terms)} word features, "
          f"{len(model.classes)} tasks, data digest {model.data_digest[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
