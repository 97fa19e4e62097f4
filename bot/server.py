"""`switchboard serve`: the aiohttp server until SIGINT/SIGTERM.

It listens at once, so `/healthz` (alive) answers during the warm-up; `/readyz` and the platform
endpoints answer 503 until the warm-up is done. On SIGTERM readiness goes off first (`/readyz` and
new platform requests get 503, so the platforms deliver elsewhere or later), the requests and
answers in progress finish within `SWITCHBOARD_SHUTDOWN_GRACE_S`, then the process exits 0. After the
warm-up, and every `SWITCHBOARD_RECOVERY_INTERVAL_S`, accepted messages that a dead process never
answered are resumed (`bot.recovery`), and every `SWITCHBOARD_PURGE_INTERVAL_S` content older than
`SWITCHBOARD_RETENTION_DAYS` is purged (`bot.retention`). Production (`SWITCHBOARD_ENV=production`)
refuses to start without `SWITCHBOARD_ENCRYPTION_KEY`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web

from bot.app import SERVICES, SLACK, build_app, drain
from bot.memory.store import Lease
from bot.recovery import DeliveryRecovery, Resumer, replica_id
from bot.retention import RetentionTask
from bot.services import Services, build_services
from bot.settings import Settings

log = logging.getLogger(__name__)

CLEANUP_TIMEOUT_S = 5.0  # closing connections and adapters once the grace period is over


async def serve(settings: Settings, *, host: str, port: int) -> int:
    settings.check_teams_bind(host)
    settings.check_encryption()  # production without a key stops here, before anything is stored
    services = await build_services(settings)
    app = build_app(services)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=CLEANUP_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("switchboard listening on http://%s:%d (/healthz: alive; /readyz: ready once warmed up)", host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    close_socket: Callable[[], Awaitable[None]] | None = None
    resumers: list[Resumer] = [app[SLACK]] if SLACK in app else []
    if settings.teams_mode != "off":
        from bot.adapters.teams import TEAMS  # botbuilder loads only when Teams is configured

        resumers.append(app[TEAMS])
    recovery = DeliveryRecovery(memory=services.memory, resumers=resumers,
                                lease=Lease(owner=replica_id(), seconds=settings.recovery_lease_s),
                                max_age_s=settings.recovery_max_age_s)
    retention = RetentionTask(memory=services.memory, retention=timedelta(days=settings.retention_days))
    recovering: asyncio.Task[None] | None = None
    purging: asyncio.Task[None] | None = None
    try:
        if await _warm_up_unless_stopped(services, stop):
            _freeze_long_lived_objects()
            log.info("warmed up: ready")
            recovering = asyncio.create_task(recovery.run_forever(settings.recovery_interval_s))
            purging = asyncio.create_task(retention.run_forever(settings.purge_interval_s))
            if settings.slack_app_token and SLACK in app:
                close_socket = await app[SLACK].start_socket_mode(settings.slack_app_token)
            await stop.wait()
    finally:
        recovery.stop()  # a resume in progress is an answer in progress: the drain waits for it
        retention.stop()
        await _shut_down(app, runner, close_socket, grace_s=settings.shutdown_grace_s)
        for task in (recovering, purging):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return 0


async def _warm_up_unless_stopped(services: Services, stop: asyncio.Event) -> bool:
    """Warm up while the probes answer; False when a signal came first (the warm-up's threads finish
    on their own before the process exits)."""
    warming = asyncio.create_task(services.warm_up())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({warming, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not warming.done():
        warming.cancel()
        return False
    warming.result()  # a failed warm-up ends `serve` with its error
    return True


def _freeze_long_lived_objects() -> None:
    """The warm-up leaves ~0.8 M objects that live as long as the process (models, vocabularies,
    LiteLLM's tables); every full garbage collection would walk them all, ~0.8 s with the event loop
    stalled (acks included). Frozen, they are out of the collector's way (Python's gc.freeze)."""
    gc.collect()
    gc.freeze()


async def _shut_down(app: web.Application, runner: web.AppRunner,
                     close_socket: Callable[[], Awaitable[None]] | None, *, grace_s: float) -> None:
    """Readiness off first, then the work in progress (at most `grace_s`), then close."""
    app[SERVICES].readiness.draining = True
    log.info("shutting down: not ready any more; waiting up to %.0f s for the answers in progress", grace_s)
    if close_socket is not None:
        await close_socket()  # no new Socket Mode deliveries
    if not await drain(app, timeout_s=grace_s):
        log.warning("shutdown: answers still in progress after %.0f s are abandoned "
                    "(raise SWITCHBOARD_SHUTDOWN_GRACE_S and the platform's termination grace period)", grace_s)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(runner.cleanup(), CLEANUP_TIMEOUT_S)
