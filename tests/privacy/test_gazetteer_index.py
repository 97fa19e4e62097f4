"""The gazetteer indexes built at build time are what the word lists give today."""

from __future__ import annotations

import gzip
import logging
import shutil
from pathlib import Path

import pytest

from privacy.gazetteer import DIRECTORY, _index, _prebuilt, build_index, index_file, write_index
from privacy.lexicon import SUPPORTED

REBUILD = "run python -m privacy.data.build_gazetteer_index"


@pytest.mark.parametrize("lang", SUPPORTED)
def test_stored_index_is_a_fresh_build_of_todays_list(lang: str) -> None:
    data = (DIRECTORY / f"{lang}.txt").read_bytes()
    stored = _prebuilt(DIRECTORY, lang, data)
    assert stored is not None, REBUILD
    assert stored == build_index(lang, data.decode("utf-8")), REBUILD


def test_an_edited_list_is_read_from_the_list_with_a_warning(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    shutil.copy(DIRECTORY / "da.txt", tmp_path / "da.txt")
    write_index(tmp_path, "da")
    with (tmp_path / "da.txt").open("a", encoding="utf-8") as fh:
        fh.write("\nxyzzyborg\n")
    with caplog.at_level(logging.WARNING, logger="privacy.gazetteer"):
        index = _index(tmp_path, "da")
    assert "xyzzyborg" in index.words.exact
    assert "older than its word list" in caplog.text


def test_a_damaged_index_is_rebuilt_from_the_list(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shutil.copy(DIRECTORY / "ro.txt", tmp_path / "ro.txt")
    index_file(tmp_path, "ro").write_bytes(gzip.compress(b"not a pickle"))
    with caplog.at_level(logging.WARNING, logger="privacy.gazetteer"):
        index = _index(tmp_path, "ro")
    assert index == build_index("ro", (tmp_path / "ro.txt").read_text(encoding="utf-8"))
    assert "unreadable" in caplog.text
