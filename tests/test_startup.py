"""Start-up cost: what each kind of command imports (in a fresh interpreter, as the CLI really runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("sklearn", "spacy", "torch", "transformers", "sentence_transformers", "presidio_analyzer", "litellm")


def _imported_after(args: list[str], tmp_path: Path) -> tuple[set[str], str]:
    code = ("import json, sys; from bot.cli import main\n"
            f"rc = main({args!r})\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)\n"
            "sys.exit(rc)")
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_BASE"))}
    env.update(SWITCHBOARD_DATABASE_URL=f"sqlite:///{tmp_path / 'sb.db'}", HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stderr.strip().splitlines()[-1])), done.stdout


@pytest.mark.parametrize("args", [["policy", "show"], ["model", "list"], ["stats"]])
def test_admin_commands_import_no_nlp_or_provider_library(args: list[str], tmp_path: Path) -> None:
    modules, out = _imported_after(args, tmp_path)
    assert out.strip()
    assert not modules.intersection(HEAVY)


def test_route_imports_neither_sklearn_nor_torch_nor_litellm(tmp_path: Path) -> None:
    # a dry run needs the privacy models of the text's language and the precomputed task model:
    # not scikit-learn (build time only), not torch/transformers (spaCy and Presidio load without
    # them), not the cache's embedding model, not LiteLLM (no call is made)
    modules, out = _imported_after(["route", "Przetłumacz proszę tę umowę na niemiecki."], tmp_path)
    assert "Task:          translation" in out
    assert {"spacy", "presidio_analyzer"} <= modules
    assert not modules.intersection({"sklearn", "torch", "transformers", "sentence_transformers", "litellm"})


def test_the_cache_embedder_loads_without_torch() -> None:
    code = ("import sys; from routing.embeddings import build_embedder\n"
            "v = build_embedder().embed(['hello there'])\n"
            "print(v.shape, sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.stdout.strip() == "(1, 384) []", done.stderr
