"""`switchboard serve`: the aiohttp server until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from bot.app import SLACK, build_app
from bot.services import build_services
from bot.settings import Settings

log = logging.getLogger(__name__)


async def serve(settings: Settings, *, host: str, port: int) -> int:
    settings.check_teams_bind(host)
    services = await build_services(settings)
    await services.warm_up()
    runner = web.AppRunner(build_app(services), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("switchboard serving on http://%s:%d (health: /healthz)", host, port)
    close_socket = None
    if settings.slack_app_token and SLACK in runner.app:
        close_socket = await runner.app[SLACK].start_socket_mode(settings.slack_app_token)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if close_socket is not None:
        await close_socket()
    await runner.cleanup()
    return 0
