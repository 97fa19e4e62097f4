"""Render time of the admin dashboard (`GET /admin`) over many decision records, on SQLite (or --database).

Usage, from the project checkout:
    PYTHONPATH=. .venv/bin/python bench/bench_dashboard.py [--records 100000] [--runs 5] [--database URL]
                                                           [--screenshot docs/dashboard.png]

Seeds `--records` demo decision records (tests/dashboard_demo.py: spread over 30 days, ~10% of the answers
voted on) into a fresh SQLite file, serves the production app on loopback with an admin token and times
`GET /admin?since=24h|7d|30d` end to end (read in the store's threads, page built in a worker thread): the
median and min–max of `--runs` requests per range, and the process's CPU time per request (less sensitive to
a loaded machine than the wall clock). With `--screenshot` it also has headless Chromium draw
`since=30d` into that PNG (the README's picture).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build_app
from bot.services import build_services
from bot.settings import Settings
from tests.dashboard_demo import bulk_insert, demo_decisions

TOKEN = "bench-admin-token-0123456789"


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/bench.db"
        settings = Settings(_env_file=None, SWITCHBOARD_DATABASE_URL=url, SWITCHBOARD_ADMIN_TOKEN=TOKEN,
                            SWITCHBOARD_DATA_DIR=tmp, SWITCHBOARD_CACHE=False)
        services = await build_services(settings, environ={})
        started = time.perf_counter()
        decisions = demo_decisions(args.records, now=datetime.now(UTC), period=timedelta(days=30))
        await asyncio.to_thread(bulk_insert, services.memory, decisions)
        print(f"seeded {args.records:,} decision records in {time.perf_counter() - started:.1f} s ({url})")
        services.readiness.warm = True  # only the dashboard is asked: no NLP warm-up needed
        runner = web.AppRunner(build_app(services))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as http:
                for since in ("24h", "7d", "30d"):
                    times, cpu = [], []
                    for _ in range(args.runs):
                        t0, c0 = time.perf_counter(), time.process_time()
                        async with http.get(f"{base}/admin?since={since}",
                                            headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                            body = await resp.text()
                            assert resp.status == 200, body[:500]
                        times.append(time.perf_counter() - t0)
                        cpu.append(time.process_time() - c0)
                    print(f"GET /admin?since={since}: median {statistics.median(times):.3f} s "
                          f"(min {min(times):.3f}, max {max(times):.3f}; {args.runs} runs, {len(body):,} bytes); "
                          f"CPU time of the process per request: median {statistics.median(cpu):.3f} s")
            print(f"peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
                  "(with the seeding)")
            if args.screenshot:
                await screenshot(f"{base}/admin?token={TOKEN}&since=30d", Path(args.screenshot), Path(tmp))
        finally:
            await runner.cleanup()
            services.memory.engine.dispose()


async def screenshot(url: str, out: Path, tmp: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp / 'chromium'}", f"--screenshot={out}", "--window-size=1280,2000", url,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await asyncio.wait_for(proc.wait(), 120)
    print(f"screenshot: {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--screenshot", help="also save a Chromium screenshot of since=30d here")
    asyncio.run(main(parser.parse_args()))
