"""The one place LiteLLM is imported: offline cost map, no telemetry, quiet logging."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any


@cache
def import_litellm() -> Any:
    # LiteLLM fetches its cost map from the internet at import unless told otherwise.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.drop_params = True
    logging.getLogger("LiteLLM").setLevel(logging.WARNING)
    return litellm


@cache
def cost_map() -> dict[str, Any]:
    """LiteLLM's model prices: the imported module's map when LiteLLM is loaded (serve), else the
    same bundled file read directly — importing LiteLLM takes seconds, an admin command needs
    only the prices."""
    if "litellm" in sys.modules:
        return dict(import_litellm().model_cost)
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return {}
    path = Path(spec.origin).parent / "model_prices_and_context_window_backup.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return dict(import_litellm().model_cost)
    return data if isinstance(data, dict) else {}


def warm_litellm(model_ids: Iterable[str]) -> None:
    """Do now, in the calling worker thread, the lazy work LiteLLM leaves to its first completion:
    the OpenAI SDK's resource modules, tiktoken's encoding for token counts, anyio's asyncio backend
    under httpx, and the streaming and cost code (one mocked streamed completion per provider of
    `model_ids`). That is 1-1.5 s which the first answer would otherwise spend on the event loop,
    stalling every other request meanwhile. No network call, no key needed."""
    litellm = import_litellm()
    litellm.token_counter(model="gpt-4o-mini", text="warm up")
    import anyio
    import openai

    _ = openai.AsyncOpenAI(api_key="warm-up", base_url="http://127.0.0.1:9/v1").chat.completions
    anyio.run(anyio.sleep, 0)
    providers: set[str] = set()
    for model in model_ids:
        provider = model.split("/", 1)[0]
        if provider in providers:
            continue
        providers.add(provider)
        stream = litellm.completion(model=model, messages=[{"role": "user", "content": "warm up"}],
                                    mock_response="ok", stream=True, stream_options={"include_usage": True})
        for _chunk in stream:
            pass
