"""Start-up times of the `switchboard` CLI, a baseline checkout and this one side by side.

Usage, from the project checkout:
    .venv/bin/python bench/bench_startup.py [--runs 5] [--baseline-ref REF | --baseline DIR] [--only route,admin,serve]

Each figure is the median wall clock of `--runs` fresh processes (min–max in brackets), the two
checkouts alternating run by run so that the machine's load hits both alike:

- `route "…"`: `switchboard route TEXT` (a dry run), process start to exit, for a few texts in
  different languages (each language loads its own NER model);
- admin commands: `policy show`, `model list`, `stats`, and `--help`;
- CPU seconds (user + sys, every thread) of each CLI process as well: on a machine loaded by other work
  the wall clock mostly measures the neighbours, the CPU time much less;
- `serve`: process start to the first `GET /readyz` answering 200 (everything the answers need is
  loaded by then), polled every 20 ms.

Processes are "cold" in Python's sense (a new interpreter, nothing imported) but not in the operating
system's: the page cache holds the files after the first run. Both checkouts' modules are byte-compiled
first (`compileall`, as `pip install` does; `--no-compile` skips it), so a PYTHONDONTWRITEBYTECODE
environment does not make every start compile ~50 modules from source. Each checkout gets its own fresh SQLite
database in a temporary directory. The CLI is started as `python -c "from bot.cli import main; …"` with
`PYTHONPATH` at the checkout, so the installed `switchboard` script (which may point elsewhere) is
not involved. The baseline is exported with `git archive REF` into a temporary directory.

Goals (issue 14): route ≤ 3 s, admin commands ≤ 1 s, serve ready ≤ 8 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_CLI = "import sys; from bot.cli import main; sys.exit(main())"
ROUTE_TEXTS = {"en": "Can you summarise the meeting notes from Tuesday?",
               "pl": "Przetłumacz proszę tę umowę na niemiecki.",
               "ru": "Напиши, пожалуйста, письмо клиенту."}
ADMIN = (("policy show", ["policy", "show"]), ("model list", ["model", "list"]), ("stats", ["stats"]),
         ("--help", ["--help"]))
GOALS = {"route": 3.0, "admin": 1.0, "serve": 8.0}
SERVE_TIMEOUT_S = 120.0


@dataclass
class Checkout:
    name: str
    root: Path
    db_dir: Path
    times: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "SLACK_", "Microsoft"))}
        env.update(PYTHONPATH=str(self.root), LITELLM_LOCAL_MODEL_COST_MAP="True", HF_HUB_OFFLINE="1",
                   TRANSFORMERS_OFFLINE="1", SWITCHBOARD_DATABASE_URL=f"sqlite:///{self.db_dir / 'bench.db'}")
        return env


def run_cli(co: Checkout, args: list[str]) -> float:
    """Wall clock of one CLI process; its CPU seconds (user + sys, threads included) go to `co.cpu`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUN_CLI, *args], cwd=co.root, env=co.env(),
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{co.name}: switchboard {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    co.cpu.setdefault(" ".join(args), []).append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_ready(co: Checkout) -> float:
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUN_CLI, "serve", "--port", str(port)], cwd=co.root,
                            env=co.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while time.perf_counter() - started < SERVE_TIMEOUT_S:
            if proc.poll() is not None:
                raise SystemExit(f"{co.name}: serve exited with {proc.returncode}:\n{proc.stderr.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.02)
        raise SystemExit(f"{co.name}: serve not ready after {SERVE_TIMEOUT_S:.0f} s")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def export(ref: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], stdout=subprocess.PIPE, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def measurements(only: set[str]) -> list[tuple[str, str, Callable[[Checkout], float]]]:
    out: list[tuple[str, str, Callable[[Checkout], float]]] = []
    if "route" in only:
        out += [(f"route ({lang})", "route", lambda co, t=text: run_cli(co, ["route", t]))
                for lang, text in ROUTE_TEXTS.items()]
    if "admin" in only:
        out += [(name, "admin", lambda co, a=args: run_cli(co, a)) for name, args in ADMIN]
    if "serve" in only:
        out.append(("serve → /readyz 200", "serve", serve_ready))
    return out


def fmt(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):6.2f} s [{min(values):.2f}–{max(values):.2f}]"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--baseline-ref", default="43b6277", help="git ref exported as the baseline (default: %(default)s)")
    p.add_argument("--baseline", type=Path, help="an existing baseline checkout instead of --baseline-ref")
    p.add_argument("--no-baseline", action="store_true", help="measure this checkout only")
    p.add_argument("--only", default="route,admin,serve", help="comma-separated: route, admin, serve")
    p.add_argument("--no-compile", action="store_true", help="do not byte-compile the checkouts first")
    args = p.parse_args()
    only = set(args.only.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="bench_startup_"))
    try:
        checkouts = [Checkout("this", ROOT, tmp / "db-this")]
        if not args.no_baseline:
            base = args.baseline or export(args.baseline_ref, tmp / "baseline")
            checkouts.insert(0, Checkout(f"baseline ({args.baseline or args.baseline_ref})", base, tmp / "db-base"))
        for co in checkouts:
            co.db_dir.mkdir(parents=True)
            if not args.no_compile:
                subprocess.run([sys.executable, "-m", "compileall", "-q", "bot", "routing", "privacy"], cwd=co.root,
                               check=True, stdout=subprocess.DEVNULL)
        plan = measurements(only)
        for rep in range(args.runs):
            for label, _, measure in plan:
                for co in checkouts if rep % 2 == 0 else reversed(checkouts):
                    co.times.setdefault(label, []).append(measure(co))
            print(f"run {rep + 1}/{args.runs} done", file=sys.stderr, flush=True)
        width = max(len(label) for label, _, _ in plan) + 2
        print(f"\nstart-up, median of {args.runs} runs [min–max]; load average now "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'':{width}}{'goal':>8}  " + "  ".join(f"{co.name:<28}" for co in checkouts))
        for label, group, _ in plan:
            print(f"{label:<{width}}{'≤ ' + str(GOALS[group]) + ' s':>8}  "
                  + "  ".join(f"{fmt(co.times[label]):<28}" for co in checkouts))
        if any(co.cpu for co in checkouts):
            # on a loaded machine the wall clock mostly measures the neighbours; CPU time much less so
            print("\nCPU seconds of the same processes (user + sys), median [min–max]")
            for key in checkouts[-1].cpu:
                cells = "  ".join(f"{fmt(co.cpu.get(key, [])):<28}" for co in checkouts)
                print(f"{key[:width + 8]:<{width + 10}}{cells}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
