"""Task (and privacy) accuracy on multi-turn threads, against the newest-message-only classifier.

Usage, from the project checkout:
    .venv/bin/python bench/eval_threads.py bench/threads/heldout.jsonl [--show 20]

Input rows: the `switchboard route --jsonl` format ({id, text, thread}; rows sharing a `thread` are
consecutive turns of one conversation in file order) plus the gold labels `lang`, `task`,
`followup` (false for a thread's first turn) and `pii` (true when the request, with the thread's
history, carries personal data: a thread stays personal after its first personal turn).

The system is the real CLI (`switchboard route --jsonl` run as a subprocess on this checkout); the
baseline is the same task classifier applied to each row's own text alone, as before threads were
read. Prints task accuracy per language for follow-up turns and for all turns, both side by side,
then the system's privacy figures (leak: a personal row not pinned to eu/local; over-pinning: a row
without personal data marked personal).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routing.classifier import build_task_classifier  # noqa: E402  (after the path insert)

PII_REGIONS = {"eu", "local"}


def load(paths: list[Path]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def run_cli(rows: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], float]:
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "in.jsonl"
        inp.write_text("".join(json.dumps({k: r[k] for k in ("id", "text", "thread") if k in r}, ensure_ascii=False)
                               + "\n" for r in rows), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp}/eval.db"}
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", "from bot.cli import main; raise SystemExit(main())",
                               "route", "--jsonl", str(inp)], capture_output=True, text=True, env=env,
                              cwd=ROOT, timeout=900, check=False)
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"route --jsonl failed with exit {proc.returncode}:\n{proc.stderr[-2000:]}")
    out = {str(o["id"]): o for o in map(json.loads, proc.stdout.splitlines())}
    return out, wall


def pct(ok: int, n: int) -> str:
    return f"{ok / n:6.1%} ({ok:3d}/{n:3d})" if n else "      –        "


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="+", type=Path)
    ap.add_argument("--show", type=int, default=0, help="print up to N follow-up turns the system got wrong")
    a = ap.parse_args()
    rows = load(a.sets)
    classifier = build_task_classifier()
    baseline = {str(r["id"]): classifier.classify(r["text"]).task for r in rows}
    out, wall = run_cli(rows)

    tally: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for r in rows:
        system_ok = out[str(r["id"])]["task"] == r["task"]
        base_ok = baseline[str(r["id"])] == r["task"]
        for lang in (r["lang"], "all"):
            for part in ("follow", "turns") if r["followup"] else ("turns",):
                cell = tally[lang][part]
                cell[0] += base_ok
                cell[1] += system_ok
                tally[lang][part + "_n"][0] += 1
    print(f"{'lang':5} {'follow-ups baseline':>21} {'follow-ups system':>21} {'all turns baseline':>21} "
          f"{'all turns system':>21}")
    for lang in [*sorted(k for k in tally if k != "all"), "all"]:
        t = tally[lang]
        nf, nt = t["follow_n"][0], t["turns_n"][0]
        print(f"{lang:5} {pct(t['follow'][0], nf):>21} {pct(t['follow'][1], nf):>21} "
              f"{pct(t['turns'][0], nt):>21} {pct(t['turns'][1], nt):>21}")

    personal = [r for r in rows if r.get("pii")]
    plain = [r for r in rows if not r.get("pii")]
    leaks = [r for r in personal if not out[str(r["id"])]["contains_pii"]
             or out[str(r["id"])]["region"] not in PII_REGIONS]
    overpins = [r for r in plain if out[str(r["id"])]["contains_pii"]]
    print(f"privacy (system): leak {pct(len(leaks), len(personal))}  over-pinning {pct(len(overpins), len(plain))}")
    print(f"threads {len({r['thread'] for r in rows})} rows {len(rows)} wall {wall:.1f}s")
    wrong = [r for r in rows if r["followup"] and out[str(r["id"])]["task"] != r["task"]]
    for r in wrong[: a.show]:
        o = out[str(r["id"])]
        print(f"  {r['id']}: want {r['task']} got {o['task']} ({o['task_confidence']}) :: {r['text'][:80]}")
    for r in (leaks + overpins)[: a.show]:
        o = out[str(r["id"])]
        print(f"  PII {r['id']}: want {r['pii']} got {o['contains_pii']} {o['entities']} :: {r['text'][:80]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
