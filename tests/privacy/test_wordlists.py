"""Word frequencies read from wordfreq's bundled files are wordfreq's own."""

from __future__ import annotations

import pytest
from wordfreq import available_languages, get_frequency_dict

from privacy.lexicon import SUPPORTED, small_wordlist


@pytest.mark.parametrize("lang", [*SUPPORTED, "nb", "no", "xx"])
def test_small_wordlist_is_wordfreqs(lang: str) -> None:
    expected = dict(get_frequency_dict(lang, "small")) if lang in available_languages("small") else {}
    assert small_wordlist(lang) == expected
