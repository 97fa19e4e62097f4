"""Regenerates the name and place lexicons from Faker's per-locale lists (a dev-time tool).

    .venv/bin/python -m privacy.data.build_lexicon

Faker is only needed to rebuild; the engine reads the generated text files. The lexicons are
one signal among several (structure, honorifics, context): held-back text uses names that no
list holds, so never rely on them alone.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LOCALES = (
    "pl_PL", "da_DK", "ro_RO", "de_DE", "de_AT", "de_CH", "en_US", "en_GB", "en_IE", "ru_RU",
    "uk_UA", "nl_NL", "nl_BE", "sv_SE", "no_NO", "fi_FI", "fr_FR", "es_ES", "it_IT", "pt_PT",
    "cs_CZ", "sk_SK", "hu_HU", "hr_HR", "sl_SI", "lt_LT", "lv_LV", "et_EE",
)
HERE = Path(__file__).parent


def _values(obj: Any) -> Iterable[str]:
    if isinstance(obj, dict):
        return [str(k) for k in obj]
    if isinstance(obj, list | tuple):
        return [str(v) for v in obj]
    return []


def _collect(module: str, needles: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for loc in LOCALES:
        try:
            provider = importlib.import_module(f"faker.providers.{module}.{loc}").Provider
        except (ImportError, AttributeError):
            continue
        for attr in dir(provider):
            if attr.endswith(needles) and not attr.startswith("_"):
                found |= {v.strip() for v in _values(getattr(provider, attr)) if v.strip().isalpha()
                          or "-" in v}
    return {v for v in found if len(v) >= 2 and "{" not in v}


def _write(name: str, words: set[str]) -> None:
    (HERE / name).write_text("\n".join(sorted(words)) + "\n", encoding="utf-8")


def main() -> None:
    _write("first_names.txt", _collect("person", ("first_names", "first_names_male", "first_names_female",
                                                  "middle_names", "middle_names_male", "middle_names_female")))
    _write("last_names.txt", _collect("person", ("last_names", "last_names_male", "last_names_female")))
    _write("places.txt", _collect("address", ("cities", "countries")))


if __name__ == "__main__":
    main()
