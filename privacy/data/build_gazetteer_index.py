"""Builds the gazetteer's lookup index per language, ``privacy/data/gazetteer/<lang>.index.pickle.gz`` (a
build-time tool; run it after ``build_gazetteer`` or any edit of a ``<lang>.txt``, or of how privacy.gazetteer
or privacy.lexicon fold and stem words).

    .venv/bin/python -m privacy.data.build_gazetteer_index

Building an index from its word list takes ~0.5 s per language at start; reading the stored one ~40 ms. Each
index carries the SHA-256 of the list it was built from: privacy.gazetteer builds from the list instead (and
logs why) when they differ, and tests/privacy/test_gazetteer_index.py fails until the index is rebuilt.
"""

from __future__ import annotations

import sys

from privacy.gazetteer import DIRECTORY, write_index
from privacy.lexicon import SUPPORTED


def main() -> int:
    for lang in SUPPORTED:
        path = write_index(DIRECTORY, lang)
        print(f"{path}: {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
