"""The one place LiteLLM is imported: offline cost map, no telemetry, quiet logging."""

from __future__ import annotations

import logging
import os
from functools import cache
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
