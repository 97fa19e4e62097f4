"""spaCy and Presidio imported without torch and transformers, which they load for pipelines we do not run.

thinc (under spaCy) imports torch whenever it is installed, and Presidio imports transformers' `pipeline`
for its Hugging Face engine: ~4 s of a cold `switchboard route` on a small machine. Our NER models are
small CNN pipelines that use neither, so the first import of spaCy and Presidio happens with the two
hidden (thinc then records that it has no torch; Presidio that it has no transformers). Nothing is hidden
when they are loaded already, or when a configured spaCy model may need them (a transformer pipeline, or a
package name we cannot inspect).

The hiding lasts only for those imports: an `import torch` in another thread meanwhile would fail, which is
why nothing else of ours imports torch (the cache's MiniLM runs in numpy, routing.minilm).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

OPTIONAL_BACKENDS = ("torch", "transformers")
_TORCH_MARKERS = ("torch", "transformer", "trf")
_lock = threading.Lock()


def needs_torch(models: Mapping[str, str]) -> bool:
    """Whether one of the spaCy `models` (language → path or package name) may need torch: a path whose
    config.cfg mentions torch or transformers, or a name that is not a path (not inspected)."""
    for spec in models.values():
        config = Path(spec) / "config.cfg"
        if not config.is_file():
            return True
        text = config.read_text(encoding="utf-8", errors="replace").lower()
        if any(marker in text for marker in _TORCH_MARKERS):
            return True
    return False


@contextmanager
def backends_hidden(*, unless: bool = False) -> Iterator[None]:
    """Within the block, `import torch` / `import transformers` fail (as if not installed), unless
    `unless` or they are loaded already. For the first import of spaCy and Presidio only."""
    with _lock:
        hidden = [] if unless else [name for name in OPTIONAL_BACKENDS if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not available"
        try:
            yield
        finally:
            for name in hidden:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]
