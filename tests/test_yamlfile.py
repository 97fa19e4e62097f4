"""YAML data files read with libyaml's loader mean what the pure-Python safe loader reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from privacy.yamlfile import SafeLoader, load_yaml

ROOT = Path(__file__).resolve().parents[1]
DATA_FILES = sorted(p for d in ("routing", "privacy") for p in (ROOT / d).rglob("*.yaml"))


def test_the_c_loader_is_used_when_pyyaml_has_it() -> None:
    assert SafeLoader is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_data_file_reads_the_same_as_with_safe_load(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert load_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text", ["!!python/object/apply:os.system ['true']", "a: !!python/name:os.system"])
def test_python_tags_are_refused(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        load_yaml(text)
