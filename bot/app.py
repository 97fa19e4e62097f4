"""The aiohttp application: health check plus the platform adapters mounted on it."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bot.errors import InvalidInputError
from bot.services import Services

log = logging.getLogger(__name__)

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
SLACK: web.AppKey[Any] = web.AppKey("slack")  # the SlackAdapter, when Slack is configured
MAX_BODY_BYTES = 1_048_576

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bad input is the caller's problem (4xx with a reason); nothing escapes as a traceback."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError, InvalidInputError) as exc:
        return web.json_response({"error": f"malformed request: {exc}"}, status=400)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal error; the request was logged"}, status=500)


class _MalformedRequests(logging.Filter):
    """aiohttp answers a request its HTTP parser refuses (a control character in a header, a header line
    over 8,190 bytes, …) with 400, then logs it at ERROR with a traceback; anyone on the network can
    send those, so they become one INFO line and alerts stay for our own errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError) or exc.code != 400:
            return True
        record.msg, record.args = "refused a malformed HTTP request: %s", (exc.message,)
        record.levelno, record.levelname, record.exc_info, record.exc_text = logging.INFO, "INFO", None, None
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


_QUIET_MALFORMED_REQUESTS = _MalformedRequests()


async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        policy = await services.policies.current()
    except Exception as exc:
        log.warning("health check: database unavailable: %s", type(exc).__name__)
        return web.json_response({"status": "degraded", "database": "unavailable"}, status=503)
    return web.json_response({
        "status": "ok", "database": "ok", "policy_version": policy.version,
        "offline": services.pipeline.offline(policy),
    })


def build_app(services: Services) -> web.Application:
    logging.getLogger("aiohttp.server").addFilter(_QUIET_MALFORMED_REQUESTS)  # added once, however many apps
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY_BYTES)
    app[SERVICES] = services
    app.router.add_get("/healthz", healthz)
    if services.settings.slack_bot_token and services.settings.slack_signing_secret:
        mount_slack(app, services)
    mode = services.settings.teams_mode
    if mode != "off":  # POST /api/messages only when Teams is configured (or the development switch is on)
        from bot.adapters.teams import mount_teams  # botbuilder loads inside bot/adapters only

        if mode == "anonymous":
            log.warning("Teams accepts UNAUTHENTICATED requests (SWITCHBOARD_TEAMS_ANONYMOUS): development only")
        mount_teams(app, services)
    return app


def mount_slack(app: web.Application, services: Services) -> None:
    """POST /slack/events (events, slash commands, buttons); the adapter is kept on the app."""
    from bot.adapters.slack import build_slack_adapter  # slack_bolt loads only when Slack is configured
    from bot.commands import CommandProcessor

    adapter = build_slack_adapter(settings=services.settings, pipeline=services.pipeline,
                                  commands=CommandProcessor(memory=services.memory, policies=services.policies),
                                  memory=services.memory)
    adapter.mount(app)
    app[SLACK] = adapter
