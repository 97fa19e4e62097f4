"""`switchboard cache-eval --jsonl FILE`: for each `{id, first, second}` row, would `second` be
answered from the semantic cache after `first` was answered? One `{"id": ..., "hit": bool}` per row,
in order, on `out`. Each row is judged against a fresh cache holding only `first`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TextIO

from routing.cache import SemanticCache, build_embedder


async def run_cache_eval(path: Path, out: TextIO) -> int:
    """Print one verdict per row; 2 when the file cannot be read, 1 when some row was malformed."""
    try:
        lines = (await asyncio.to_thread(path.read_text, encoding="utf-8")).splitlines()
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    cache = SemanticCache(embedder=build_embedder())
    status = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            first, second = str(row["first"]), str(row["second"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            print(f"{path}:{number}: expected a JSON object with id, first and second ({exc})", file=sys.stderr)
            status = 1
            continue
        hit = await asyncio.to_thread(cache.would_hit, first, second)
        out.write(json.dumps({"id": row.get("id"), "hit": hit}, ensure_ascii=False) + "\n")
        out.flush()
    return status
