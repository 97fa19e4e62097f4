"""`GET /admin` on `serve`: the read-only KPI dashboard, for admins only and off unless configured.

Who gets in: `Authorization: Bearer <SWITCHBOARD_ADMIN_TOKEN>` (compared in constant time); a browser signs
in once (the form, or `/admin?token=…` which redirects to a clean address) and then holds a session cookie
(HttpOnly, SameSite=Strict, signed with the token, 8 hours); or, with `SWITCHBOARD_ADMIN_SSO_HEADER`, the
user an authenticating reverse proxy names in that header, when listed in `SWITCHBOARD_ADMIN_USERS`. Without
a token or SSO header the page answers 404 and says how to turn it on.

The records are read in the store's threads, at most `MAX_RECORDS` of them (the newest) over at most
`MAX_RANGE`, and the page is built in a worker thread, at most `RENDERS` at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from aiohttp import web

from bot.app import SERVICES
from bot.dashboard import CSP, PageInfo, render_message, render_page
from bot.kpis import KpiInputError, KpiRecord, build_report, build_series, parse_since
from bot.settings import Settings

COOKIE = "switchboard_admin"
SESSION_S = 8 * 3600
DEFAULT_RANGE = "7d"
MAX_RANGE = timedelta(days=90)
MAX_RANGE_CHARS = 16
MAX_TOKEN_CHARS = 512
MAX_RECORDS = 200_000  # newest first: a bound on the rows one page reads and the memory it takes
RENDERS = 2
HEADERS = {"Content-Security-Policy": CSP, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
RENDER_SLOTS: web.AppKey[asyncio.Semaphore] = web.AppKey("admin_renders", asyncio.Semaphore)
ENABLE = ("The admin dashboard is off. Turn it on for `switchboard serve` with SWITCHBOARD_ADMIN_TOKEN (a long "
          "random secret, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'), or behind an "
          "authenticating reverse proxy with SWITCHBOARD_ADMIN_SSO_HEADER (e.g. X-Forwarded-Email) and "
          "SWITCHBOARD_ADMIN_USERS (who may see it).")


@dataclass(frozen=True, slots=True)
class Viewer:
    who: str  # "token", "session" or "SSO: <user>"


def mount_admin(app: web.Application) -> None:
    app[RENDER_SLOTS] = asyncio.Semaphore(RENDERS)
    app.router.add_get("/admin", admin_page)
    app.router.add_post("/admin/login", login)
    app.router.add_post("/admin/logout", logout)


async def admin_page(request: web.Request) -> web.Response:
    settings = request.app[SERVICES].settings
    if not settings.admin_dashboard_on:
        return _page(404, "Admin dashboard not enabled", ENABLE)
    range_text = request.query.get("since", DEFAULT_RANGE).strip()
    if "token" in request.query:
        return _token_sign_in(request, settings, range_text)
    viewer = _viewer(request, settings)
    if isinstance(viewer, web.Response):
        return viewer
    try:
        period = _range(range_text)
    except KpiInputError as exc:
        return _page(400, "Bad range", f"{exc} The dashboard shows at most {MAX_RANGE.days} days.")
    return await _dashboard(request, period=period, range_text=range_text, viewer=viewer)


async def login(request: web.Request) -> web.Response:
    """The sign-in form's POST: the token for a session cookie, then back to the dashboard (303)."""
    settings = request.app[SERVICES].settings
    if not settings.admin_dashboard_on:
        return _page(404, "Admin dashboard not enabled", ENABLE)
    if not settings.admin_token:
        return _page(403, "Sign-in by token is off", "This dashboard signs in through the single sign-on proxy.")
    try:
        form = await request.post()
    except ValueError:
        return _page(400, "Bad sign-in", "The sign-in form could not be read; send it again.", login=True)
    token = form.get("token")
    if not isinstance(token, str) or not _token_matches(token, settings.admin_token):
        return _page(401, "Wrong token", "That is not the admin token (SWITCHBOARD_ADMIN_TOKEN).", login=True)
    return _signed_in(request, settings, "/admin")


async def logout(request: web.Request) -> web.Response:
    response = _page(200, "Signed out", "The session cookie is removed.", login=bool(
        request.app[SERVICES].settings.admin_token))
    response.del_cookie(COOKIE, path="/admin")
    return response


# --- who may see it ------------------------------------------------------------------------

def _viewer(request: web.Request, settings: Settings) -> Viewer | web.Response:
    """The viewer, or the answer for one who may not see the page (401 wrong or no credentials, 403 an SSO
    user who is not on the list)."""
    if settings.admin_sso_header:
        named = request.headers.get(settings.admin_sso_header)
        if named is not None:
            user = named.strip().lower()
            if user and user in settings.admin_user_set:
                return Viewer(f"SSO: {user}")
            return _page(403, "Not an admin", f"{named[:200]!r} is not in SWITCHBOARD_ADMIN_USERS.")
    if settings.admin_token:
        given = request.headers.get("Authorization")
        if given is not None:
            if _token_matches(given.removeprefix("Bearer ").strip() if given.startswith("Bearer ") else "",
                              settings.admin_token):
                return Viewer("token")
            return _page(401, "Wrong token", "Authorization wants: Bearer <SWITCHBOARD_ADMIN_TOKEN>.")
        if _session_valid(request.cookies.get(COOKIE, ""), settings.admin_token):
            return Viewer("session")
        return _page(401, "Sign in", "The admin dashboard wants the admin token (SWITCHBOARD_ADMIN_TOKEN).",
                     login=True)
    return _page(401, "Sign in through the proxy", f"No {settings.admin_sso_header} header: open this page through "
                                                   "the authenticating reverse proxy.")


def _token_matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given[:MAX_TOKEN_CHARS].encode("utf-8", "replace"), token.encode())


def _session_value(expires: int, token: str) -> str:
    signature = hmac.new(token.encode(), f"switchboard-admin-session:{expires}".encode(), hashlib.sha256)
    return f"{expires}.{signature.hexdigest()}"


def _session_valid(value: str, token: str) -> bool:
    expires_text, _, _ = value.partition(".")
    if not expires_text.isascii() or not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires, now = int(expires_text), int(time.time())
    return now < expires <= now + SESSION_S and hmac.compare_digest(value.encode("utf-8", "replace"),
                                                                      _session_value(expires, token).encode())


def _token_sign_in(request: web.Request, settings: Settings, range_text: str) -> web.Response:
    """`/admin?token=…`: a right token gets the cookie and a redirect to the address without it."""
    if not settings.admin_token:
        return _page(403, "Sign-in by token is off", "This dashboard signs in through the single sign-on proxy.")
    if not _token_matches(request.query.get("token", ""), settings.admin_token):
        return _page(401, "Wrong token", "That is not the admin token (SWITCHBOARD_ADMIN_TOKEN).", login=True)
    return _signed_in(request, settings, "/admin?" + urlencode({"since": range_text[:MAX_RANGE_CHARS]}))


def _signed_in(request: web.Request, settings: Settings, location: str) -> web.Response:
    response = web.Response(status=303, headers={**HEADERS, "Location": location})
    secure = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    response.set_cookie(COOKIE, _session_value(int(time.time()) + SESSION_S, settings.admin_token),
                        max_age=SESSION_S, path="/admin", httponly=True, samesite="Strict", secure=secure)
    return response


# --- the page ----------------------------------------------------------------------------

def _range(text: str) -> timedelta:
    if len(text) > MAX_RANGE_CHARS:
        raise KpiInputError("since wants a period such as 24h, 7d or 30d.")
    period = parse_since(text)
    if period > MAX_RANGE:
        raise KpiInputError(f"since may be at most {MAX_RANGE.days} days, not {text!r}.")
    return period


async def _dashboard(request: web.Request, *, period: timedelta, range_text: str, viewer: Viewer) -> web.Response:
    services = request.app[SERVICES]
    async with request.app[RENDER_SLOTS]:
        until = datetime.now(UTC)
        since = until - period
        records = await services.memory.kpi_records(since=since, until=until, limit=MAX_RECORDS + 1)
        tiers = {m.id: m.tier.value for m in (await services.policies.current()).models}
        info = PageInfo(range_text=range_text, generated_at=until, records=min(len(records), MAX_RECORDS),
                        capped=len(records) > MAX_RECORDS, who=viewer.who, logout=viewer.who == "session")
        html = await asyncio.to_thread(build_page, records[:MAX_RECORDS], since=since, until=until, tiers=tiers,
                                       info=info)
    return web.Response(text=html, content_type="text/html", charset="utf-8", headers=HEADERS)


def build_page(records: list[KpiRecord], *, since: datetime, until: datetime, tiers: dict[str, str],
               info: PageInfo) -> str:
    """The dashboard's HTML from the records of [since, until) (CPU work: call it in a thread)."""
    series = build_series(records, since=since, until=until, tiers=tiers)
    report = build_report(records, since=since, until=until, by="model", tiers=tiers)
    return render_page(series, report, info)


def _page(status: int, title: str, text: str, *, login: bool = False) -> web.Response:
    headers = dict(HEADERS)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="switchboard-admin"'
    return web.Response(status=status, text=render_message(title, text, login=login), content_type="text/html",
                        charset="utf-8", headers=headers)
