"""The aiohttp application: liveness and readiness probes plus the platform adapters mounted on it."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST

from bot.errors import DatabaseUnavailableError, InvalidInputError
from bot.readiness import RETRY_AFTER_S
from bot.services import Services

log = logging.getLogger(__name__)

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
SLACK: web.AppKey[Any] = web.AppKey("slack")  # the SlackAdapter, when Slack is configured
# each adapter's wait (at most the seconds given) for answers it is still writing; True when none is left
Drain = Callable[[float], Awaitable[bool]]
DRAINS: web.AppKey[list[Drain]] = web.AppKey("drains", list)
PROBES = frozenset({"/healthz", "/readyz", "/metrics"})  # answered while warming up and draining too
MAX_BODY_BYTES = 1_048_576
READY_DB_TIMEOUT_S = 3.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def unavailable(reason: str) -> web.Response:
    """503 with Retry-After: the platform may deliver the request again later (Slack retries a 5xx)."""
    return web.json_response({"error": f"{reason}; retry later"}, status=503,
                             headers={"Retry-After": str(RETRY_AFTER_S)})


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bad input is the caller's problem (4xx with a reason); a database that does not answer is a 503
    the platform retries; nothing escapes as a traceback."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError, InvalidInputError) as exc:
        return web.json_response({"error": f"malformed request: {exc}"}, status=400)
    except DatabaseUnavailableError as exc:
        log.warning("%s %s refused with 503: %s", request.method, request.path, exc)
        return unavailable("database unavailable")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal error; the request was logged"}, status=500)


@web.middleware
async def readiness_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Platform requests only while warm and not shutting down (503 + Retry-After otherwise); the ones
    taken are counted, so a shutdown waits for them."""
    if request.path in PROBES or request.match_info.http_exception is not None:
        return await handler(request)
    readiness = request.app[SERVICES].readiness
    problem = readiness.problem()
    if problem is not None:
        return unavailable(problem)
    with readiness.request():
        return await handler(request)


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
    """Liveness: the process runs and its event loop answers (no database check: a database outage
    is no reason to restart the process)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: warm-up finished, not shutting down, and the database answers."""
    services = request.app[SERVICES]
    problem = services.readiness.problem()
    if problem is not None:
        return web.json_response({"status": "not ready", "reason": problem}, status=503)
    try:
        policy = await asyncio.wait_for(services.policies.current(), READY_DB_TIMEOUT_S)
    except (DatabaseUnavailableError, TimeoutError) as exc:
        log.warning("readiness: database unavailable: %s", exc or "no answer in time")
        return web.json_response({"status": "not ready", "reason": "database unavailable"}, status=503)
    return web.json_response({
        "status": "ready", "database": "ok", "policy_version": policy.version,
        "offline": services.pipeline.offline(policy),
    })


async def metrics(request: web.Request) -> web.Response:
    """This replica's Prometheus metrics (each replica is scraped on its own); with
    SWITCHBOARD_METRICS_TOKEN set, only for `Authorization: Bearer <token>`."""
    services = request.app[SERVICES]
    token = services.settings.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return web.json_response({"error": "GET /metrics needs Authorization: Bearer <SWITCHBOARD_METRICS_TOKEN>"},
                                     status=401, headers={"WWW-Authenticate": "Bearer"})
    return web.Response(body=services.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_app(services: Services) -> web.Application:
    logging.getLogger("aiohttp.server").addFilter(_QUIET_MALFORMED_REQUESTS)  # added once, however many apps
    app = web.Application(middlewares=[error_middleware, readiness_middleware], client_max_size=MAX_BODY_BYTES)
    app[SERVICES] = services
    app[DRAINS] = []
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    from bot.admin_web import mount_admin  # it reads SERVICES from this module

    mount_admin(app)  # always: unconfigured, /admin says how to turn it on
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
                                  commands=CommandProcessor(memory=services.memory, policies=services.policies,
                                                            erasure=services.erasure),
                                  memory=services.memory)
    adapter.mount(app)
    app[SLACK] = adapter
    app[DRAINS].append(adapter.drain)


async def drain(app: web.Application, *, timeout_s: float) -> bool:
    """After readiness went off: wait for the platform requests in progress, then for the answers the
    adapters are still writing, `timeout_s` in all. True when everything finished in time."""
    deadline = time.monotonic() + timeout_s
    readiness = app[SERVICES].readiness
    await readiness.wait_for_requests(deadline)
    finished = readiness.requests_in_progress == 0
    for adapter_drain in app[DRAINS]:
        finished = await adapter_drain(max(0.0, deadline - time.monotonic())) and finished
    return finished
