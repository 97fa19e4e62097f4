"""The precomputed task model: it is what a fresh scikit-learn fit gives, on today's task data, and it
predicts what that fit predicts; its n-grams are sklearn's (property tests over arbitrary text)."""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline

from bot.errors import ConfigurationError
from routing.classifier import (
    DEFAULT_DATA_DIR,
    DEFAULT_MODEL_FILE,
    LinearTaskClassifier,
    load_task_examples,
    normalise_for_task,
    task_data_digest,
    task_files,
)
from routing.task_model import (
    CHAR_NGRAMS,
    WORD_NGRAMS,
    LinearTaskModel,
    char_windows,
    word_ngrams,
)
from routing.task_model_build import difference, fit_pipeline, to_linear_model

ROOT = Path(__file__).resolve().parents[2]
DEV_SETS = [ROOT.parent / "shared" / "datasets" / "routing_dev.jsonl",
            *sorted((ROOT / "bench" / "threads").glob("*.jsonl"))]
REBUILD = "run `python -m routing.task_model_build` after editing routing/data/tasks"


@pytest.fixture(scope="module")
def fitted() -> Pipeline:
    return fit_pipeline(load_task_examples())


@pytest.fixture(scope="module")
def stored() -> LinearTaskModel:
    return LinearTaskModel.load(DEFAULT_MODEL_FILE)


def test_stored_model_was_fitted_on_todays_task_data(stored: LinearTaskModel) -> None:
    assert stored.data_digest == task_data_digest(task_files(DEFAULT_DATA_DIR)), REBUILD


def test_stored_model_is_what_the_builder_fits(stored: LinearTaskModel, fitted: Pipeline) -> None:
    fresh = to_linear_model(fitted, data_digest=task_data_digest(task_files(DEFAULT_DATA_DIR)))
    assert difference(stored, fresh) is None, REBUILD


def _texts() -> list[str]:
    texts = [e.text for e in load_task_examples()]
    for path in DEV_SETS:
        if path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
            texts += [json.loads(line)["text"] for line in lines if line.strip()]
    return texts


def test_same_margins_and_predictions_as_sklearn_on_training_and_dev_sets(stored: LinearTaskModel,
                                                                          fitted: Pipeline) -> None:
    texts = [normalise_for_task(t) for t in _texts()]
    expected = fitted.decision_function(texts)
    got = np.array([stored.decision(t) for t in texts])
    assert list(stored.classes) == [str(c) for c in fitted.classes_]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()
    assert len(texts) > 1000  # the training utterances at least


@pytest.mark.parametrize("text", ["", "   ", "\u00a0", "qqqqqq zzzzzz", "§§§ ¤¤¤", "x"])
def test_text_without_known_features_scores_the_intercepts(stored: LinearTaskModel, fitted: Pipeline,
                                                           text: str) -> None:
    np.testing.assert_allclose(stored.decision(text), fitted.decision_function([text])[0], rtol=0, atol=1e-12)


_CHAR = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS).build_analyzer()
_WORD = TfidfVectorizer(analyzer="word", ngram_range=WORD_NGRAMS).build_analyzer()
# user text: any Unicode, with the whitespace (tabs, NBSP, line and paragraph separators, U+001C…) and
# case-changing letters (İ lower-cases to two characters, ß, Σ) that break naive tokenizers
_TRICKY = st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x1d\x85\u00a0\u2028\u3000İßΣςǅ'’-_.,!?«»\"0"))
_USER_TEXT = st.one_of(st.text(), st.lists(st.one_of(_TRICKY, st.characters()), max_size=60).map("".join),
                       st.lists(st.sampled_from(["Fix", "the", "SQL", "Zusammenfassung", "übersetze", "ąę",
                                                 "перевод", " ", "  ", "\t", "a", "ab"]), max_size=20).map(" ".join))


@settings(max_examples=400, deadline=None)
@given(_USER_TEXT)
def test_char_windows_hold_exactly_sklearns_char_wb_ngrams(text: str) -> None:
    windows = [w for w in char_windows(text) if " " not in w[1:-1]]
    assert Counter(windows) == Counter(_CHAR(text))


@settings(max_examples=400, deadline=None)
@given(_USER_TEXT)
def test_word_ngrams_are_sklearns(text: str) -> None:
    assert word_ngrams(text) == _WORD(text)


def test_save_then_load_gives_the_same_model_and_bytes(stored: LinearTaskModel, tmp_path: Path) -> None:
    stored.save(tmp_path / "a.npz")
    stored.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert difference(LinearTaskModel.load(tmp_path / "a.npz"), stored, rtol=0) is None


def _edited_task_data(tmp_path: Path) -> Path:
    data = tmp_path / "tasks"
    shutil.copytree(DEFAULT_DATA_DIR, data)
    general = data / "general.yaml"
    edited = general.read_text(encoding="utf-8").replace("utterances:", "utterances:\n  xx: [Ping me later]", 1)
    general.write_text(edited, encoding="utf-8")
    return data


def test_edited_task_data_is_fitted_at_start_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = _edited_task_data(tmp_path)
    assert {e.lang for e in load_task_examples(data)} >= {"xx"}
    clf = LinearTaskClassifier(data_dir=data)
    with caplog.at_level(logging.WARNING, logger="routing.classifier"):
        prediction = clf.classify("Write a SQL query that counts orders per month.")
    assert prediction.task == "code"
    assert "routing.task_model_build" in caplog.text


def test_unreadable_model_file_is_fitted_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "task_model.npz"
    broken.write_bytes(b"not a zip")
    clf = LinearTaskClassifier(model_file=broken)
    with caplog.at_level(logging.WARNING, logger="routing.classifier"):
        assert clf.classify("Translate into German: 'the invoice is attached'").task == "translation"
    assert "unreadable" in caplog.text


def test_no_task_files_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="routing/data/tasks"):
        LinearTaskClassifier(data_dir=tmp_path)
