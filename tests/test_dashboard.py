"""The admin dashboard (`GET /admin` on serve): off by default, who gets in (token, session cookie, SSO
header), figures computed from known decision records through the real store (SQLite and PostgreSQL), any
query, header or cookie answered without a 500, and the page drawn by headless Chromium."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.admin_web import COOKIE, MAX_RANGE, SESSION_S, _session_value, build_page
from bot.app import build_app
from bot.dashboard import PageInfo
from bot.kpis import DAY, HOUR, KpiRecord, build_series
from bot.memory.models import Decision
from bot.memory.store import SqlMemoryStore, build_memory_store
from bot.services import Services
from bot.settings import Settings
from bot.svgchart import ALERT
from bot.types import Identity
from tests.conftest import ServicesFactory
from tests.dashboard_demo import bulk_insert, demo_decisions, seed_store
from tests.png import colour_share, read_png

TOKEN = "test-admin-token-0123456789"
SSO = {"SWITCHBOARD_ADMIN_SSO_HEADER": "X-Forwarded-Email",
       "SWITCHBOARD_ADMIN_USERS": "ada@example.com, Bob@Example.com"}
CHEAP_BLUE = "#1f77b4"  # the cheap tier's and the first series' colour (bot.dashboard, bot.svgchart)
TIERS = {"openai/eu-small": "cheap", "openai/eu-large": "mid", "openai/us-small": "cheap",
         "openai/us-premium": "premium"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


Serve = Callable[..., Awaitable[tuple[Services, str]]]


@pytest.fixture
async def serve(make_services: ServicesFactory) -> AsyncIterator[Serve]:
    """`serve(**settings)`: the production app on a loopback port; returns its services and base URL."""
    servers: list[TestServer] = []

    async def start(**settings: Any) -> tuple[Services, str]:
        services = await make_services(**settings)
        server = TestServer(build_app(services), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return services, str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


async def fetch(http: aiohttp.ClientSession, url: str, *, method: str = "GET", **kwargs: Any
                ) -> tuple[int, str, aiohttp.ClientResponse]:
    async with http.request(method, url, allow_redirects=False, **kwargs) as resp:
        return resp.status, await resp.text(), resp


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- who gets in -----------------------------------------------------------------------------

async def test_off_by_default_and_says_how_to_turn_it_on(serve: Serve, http: aiohttp.ClientSession) -> None:
    _, base = await serve()
    for method, path, headers in (("GET", "/admin", {}), ("GET", "/admin", bearer()),
                                  ("GET", f"/admin?token={TOKEN}", {}),
                                  ("GET", "/admin", {"X-Forwarded-Email": "ada@example.com"}),
                                  ("POST", "/admin/login", {})):
        status, body, _ = await fetch(http, base + path, method=method, headers=headers)
        assert status == 404, (method, path)
        assert "SWITCHBOARD_ADMIN_TOKEN" in body and "SWITCHBOARD_ADMIN_SSO_HEADER" in body


async def test_token_bearer_and_browser_session(serve: Serve, http: aiohttp.ClientSession) -> None:
    _, base = await serve(SWITCHBOARD_ADMIN_TOKEN=TOKEN)
    status, body, resp = await fetch(http, f"{base}/admin")
    assert status == 401 and 'name="token"' in body and resp.headers["WWW-Authenticate"].startswith("Bearer")
    for wrong in ({"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {TOKEN}x"},
                  {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN},
                  {"X-Forwarded-Email": "ada@example.com"}):  # no SSO configured: the header means nothing
        assert (await fetch(http, f"{base}/admin", headers=wrong))[0] == 401, wrong
    status, body, resp = await fetch(http, f"{base}/admin", headers=bearer())
    assert status == 200 and "Switchboard: KPIs of the last 7d" in body and "signed in by token" in body
    _assert_strict_headers(resp)

    status, _, resp = await fetch(http, f"{base}/admin?token=wrong&since=24h")
    assert status == 401 and "Set-Cookie" not in resp.headers
    status, _, resp = await fetch(http, f"{base}/admin?token={TOKEN}&since=24h")
    assert status == 303 and resp.headers["Location"] == "/admin?since=24h"  # the token leaves the address
    cookie = resp.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/admin"
    status, body, _ = await fetch(http, f"{base}/admin?since=24h", headers={"Cookie": f"{COOKIE}={cookie.value}"})
    assert status == 200 and "KPIs of the last 24h" in body and "signed in by session" in body

    expired = _session_value(int(time.time()) - 1, TOKEN)
    too_long = _session_value(int(time.time()) + SESSION_S + 3600, TOKEN)
    other_key = _session_value(int(time.time()) + 60, "another-token-0123456789")
    tampered = cookie.value[:-1] + ("1" if cookie.value.endswith("0") else "0")
    for bad in (expired, too_long, other_key, tampered, "", "x.y", TOKEN):
        assert (await fetch(http, f"{base}/admin", headers={"Cookie": f"{COOKIE}={bad}"}))[0] == 401, bad


async def test_sign_in_form_and_sign_out(serve: Serve, http: aiohttp.ClientSession) -> None:
    _, base = await serve(SWITCHBOARD_ADMIN_TOKEN=TOKEN)
    status, body, _ = await fetch(http, f"{base}/admin/login", method="POST", data={"token": "wrong"})
    assert status == 401 and "Wrong token" in body
    assert (await fetch(http, f"{base}/admin/login", method="POST", data=b"\xff\xfe",
                        headers={"Content-Type": "multipart/form-data; boundary=x"}))[0] in (400, 401)
    status, _, resp = await fetch(http, f"{base}/admin/login", method="POST", data={"token": TOKEN})
    assert status == 303 and resp.headers["Location"] == "/admin"
    session = {"Cookie": f"{COOKIE}={resp.cookies[COOKIE].value}"}
    status, body, _ = await fetch(http, f"{base}/admin", headers=session)
    assert status == 200 and 'action="/admin/logout"' in body
    status, _, resp = await fetch(http, f"{base}/admin/logout", method="POST", headers=session)
    assert status == 200 and resp.cookies[COOKIE].value == ""


async def test_sso_header_only_when_configured(serve: Serve, http: aiohttp.ClientSession) -> None:
    _, base = await serve(**SSO)
    status, body, _ = await fetch(http, f"{base}/admin", headers={"X-Forwarded-Email": " Ada@Example.com "})
    assert status == 200 and "signed in by SSO: ada@example.com" in body
    assert (await fetch(http, f"{base}/admin", headers={"X-Forwarded-Email": "bob@example.com"}))[0] == 200
    status, body, _ = await fetch(http, f"{base}/admin", headers={"X-Forwarded-Email": "eve@example.com"})
    assert status == 403 and "eve@example.com" in body and "SWITCHBOARD_ADMIN_USERS" in body
    assert (await fetch(http, f"{base}/admin", headers={"X-Forwarded-Email": ""}))[0] == 403
    status, body, _ = await fetch(http, f"{base}/admin")
    assert status == 401 and "X-Forwarded-Email" in body and 'name="token"' not in body  # no token to give
    assert (await fetch(http, f"{base}/admin", headers=bearer()))[0] == 401  # no token configured
    assert (await fetch(http, f"{base}/admin?token={TOKEN}"))[0] == 403
    assert (await fetch(http, f"{base}/admin/login", method="POST", data={"token": TOKEN}))[0] == 403


async def test_token_and_sso_side_by_side(serve: Serve, http: aiohttp.ClientSession) -> None:
    _, base = await serve(SWITCHBOARD_ADMIN_TOKEN=TOKEN, **SSO)
    assert (await fetch(http, f"{base}/admin", headers=bearer()))[0] == 200
    assert (await fetch(http, f"{base}/admin", headers={"X-Forwarded-Email": "ada@example.com"}))[0] == 200
    # a header naming someone not on the list is a refusal, whatever else comes with it
    assert (await fetch(http, f"{base}/admin", headers={"X-Forwarded-Email": "eve@x", **bearer()}))[0] == 403


def test_settings_refuse_a_weak_or_half_configuration() -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(_env_file=None, SWITCHBOARD_ADMIN_TOKEN="short")
    with pytest.raises(ValidationError, match="go together"):
        Settings(_env_file=None, SWITCHBOARD_ADMIN_SSO_HEADER="X-Forwarded-Email")
    with pytest.raises(ValidationError, match="go together"):
        Settings(_env_file=None, SWITCHBOARD_ADMIN_USERS="ada@example.com")
    with pytest.raises(ValidationError, match="HTTP header name"):
        Settings(_env_file=None, SWITCHBOARD_ADMIN_SSO_HEADER="Authorization", SWITCHBOARD_ADMIN_USERS="a")
    assert not Settings(_env_file=None).admin_dashboard_on


def _assert_strict_headers(resp: aiohttp.ClientResponse) -> None:
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "script-src" not in csp
    assert "frame-ancestors 'none'" in csp
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Referrer-Policy"] == "no-referrer"


# --- figures from known records ----------------------------------------------------------------

NOW = datetime.now(UTC).replace(microsecond=0)


async def known_records(store: SqlMemoryStore) -> None:
    """In the last day: 20 cheap EU answers (latency 100..2000 ms, $0.001 each, 5 with personal data), 4 mid
    answers ($0.01 each) and a failure, one personal-data answer from a US model, a fallback, 3 offline dry
    runs; 3 up-votes and 1 down-vote. Ten days ago, a $5 answer (outside a 7-day range)."""

    async def decide(model: str, region: str, *, cost: float = 0.0, latency: float = 500.0, outcome: str = "answered",
                     personal: bool = False, hours_ago: float = 2.0, **extra: Any) -> int:
        return await store.record_decision(Decision(
            platform="slack", tenant="T1", channel="C1", user="U1", model=model, region=region, task="general",
            outcome=outcome, cost_usd=cost, latency_ms=latency, sensitivity="personal" if personal else "public",
            entity_types="PERSON" if personal else "", created_at=NOW - timedelta(hours=hours_ago), **extra))

    cheap = [await decide("openai/eu-small", "eu", cost=0.001, latency=100.0 * (i + 1), personal=i < 5,
                          hours_ago=1 + i / 2) for i in range(20)]
    for _ in range(4):
        await decide("openai/eu-large", "eu", cost=0.01, latency=2500.0)
    await decide("openai/eu-large", "eu", outcome="failed", latency=30_000.0)
    await decide("openai/us-small", "us", cost=0.0003, latency=400.0, personal=True, fallback=True)
    for _ in range(3):
        await decide("openai/us-premium", "us", outcome="offline", latency=3500.0, personal=True)
    await decide("openai/us-premium", "us", cost=5.0, hours_ago=240)
    voter = Identity("slack", "T1", "U9")
    for decision_id, score in zip(cheap, (1, 1, 1, -1), strict=False):
        assert await store.add_feedback(decision_id=decision_id, user=voter, score=score)


KNOWN = ("Cost<b>$0.0603</b>",  # 20 × 0.001 + 4 × 0.01 + 0.0003; the $5 answer is older than 7 days
         "Requests<b>26</b>",  # 25 answers and a failure; the offline runs are counted apart
         "Counted apart<b>3 offline, 0 refused, 0 blocked</b>",
         "p95 latency<b>2.50 s</b>",  # over the 25 answers' latencies: the 24th of 25 sorted is 2,500 ms
         "Error rate<b>3.8%</b>", "Fallback rate<b>3.8%</b>",  # 1 of 26 each
         "Satisfaction<b>75% (3 up / 1 down)</b>",
         "Personal-data requests<b>23.1%</b>",  # 6 of 26 real calls (the offline runs sent nothing)
         '<li class="alert">Outside EU/local<b>1</b></li>',
         "<th scope=\"row\">eu</th><td>5</td><td>83%</td>",
         '<th scope="row">us ⚠ outside EU/local</th><td>1</td><td>17%</td>')


async def test_figures_from_known_records_through_the_store(store: SqlMemoryStore) -> None:
    """SQLite and PostgreSQL: the records as the store reads them, and the page built from them."""
    await known_records(store)
    since, until = NOW - timedelta(days=7), NOW + timedelta(seconds=1)
    records = await store.kpi_records(since=since, until=until, limit=1000)
    html = build_page(records, since=since, until=until, tiers=TIERS, info=_info("7d", len(records)))
    for figure in KNOWN:
        assert figure in html, figure
    assert len(await store.kpi_records(since=since, until=until, limit=5)) == 5  # the bound: the newest 5
    capped = build_page(records[:5], since=since, until=until, tiers=TIERS,
                        info=PageInfo(range_text="7d", generated_at=NOW, records=5, capped=True, who="token",
                                      logout=False))
    assert "Only the newest 5 decision records of this range were read" in capped
    newest = await store.kpi_records(since=since, until=until, limit=1)
    assert newest[0].outcome == "answered" and newest[0].region == "eu" and newest[0].personal  # 1 hour ago


async def test_the_page_served_shows_the_known_figures(serve: Serve, http: aiohttp.ClientSession) -> None:
    services, base = await serve(SWITCHBOARD_ADMIN_TOKEN=TOKEN)
    await known_records(services.memory)
    status, body, _ = await fetch(http, f"{base}/admin?since=7d", headers=bearer())
    assert status == 200
    for figure in KNOWN:
        assert figure in body, figure
    status, body, resp = await fetch(http, f"{base}/admin?since=30d", headers=bearer())
    assert status == 200 and "Cost<b>$5.0603</b>" in body  # now with the $5 answer of ten days ago
    assert body.count("<figure") == 7 and body.count("<table>") >= 7 and body.count("<title id=") == 7
    # nothing the strict Content-Security-Policy would block: no script, no style attribute, the one style
    # sheet is the one its hash allows
    assert "<script" not in body and " style=" not in body and "http://" not in body and "https://" not in body
    sheet = re.search(r"<style>(.*?)</style>", body, re.S)
    assert sheet is not None
    digest = base64.b64encode(hashlib.sha256(sheet.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in resp.headers["Content-Security-Policy"]


async def test_a_long_kpi_read_on_a_sqlite_file_does_not_hold_up_writes(tmp_path: Path) -> None:
    """The dashboard's read (here 15,000 records) runs beside the writer (WAL), not under the store's lock:
    a decision recorded meanwhile is stored before the read ends."""
    store = build_memory_store(f"sqlite:///{tmp_path}/kpi.db")
    await store.create_schema()
    await asyncio.to_thread(bulk_insert, store, demo_decisions(15_000, now=NOW, period=timedelta(days=30)))
    reading = asyncio.create_task(store.kpi_records(since=NOW - timedelta(days=31), until=NOW, limit=200_001))
    await asyncio.sleep(0.05)  # the read is under way
    await store.record_decision(Decision(platform="slack", tenant="T", channel="C", model="m", outcome="answered"))
    written_first = not reading.done()
    assert len(await reading) == 15_000
    assert written_first, "the write waited for the whole read"
    store.engine.dispose()


def test_series_buckets_by_hour_for_a_day_and_by_day_beyond() -> None:
    until = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)

    def rec(hours_ago: float, **kw: Any) -> KpiRecord:
        return KpiRecord(created_at=until - timedelta(hours=hours_ago), model="m", task="general", team="t",
                         outcome=kw.pop("outcome", "answered"), latency_ms=100, tokens=1, cost_usd=1.0, **kw)

    records = [rec(0.1), rec(0.2, personal=True, region="us"), rec(5), rec(23.9), rec(25), rec(1, outcome="offline")]
    day = build_series(records, since=until - timedelta(hours=24), until=until, tiers={"m": "cheap"})
    assert day.step == HOUR and len(day.buckets) == 25 and day.buckets[0].start == datetime(2026, 3, 9, 12, tzinfo=UTC)
    assert [b.total.requests for b in day.buckets if b.total.requests] == [1, 1, 2]  # 23.9 h, 5 h, the last half hour
    assert day.buckets[-1].personal_regions == {"us": 1} and day.outside_residency == 1
    week = build_series(records, since=until - timedelta(days=7), until=until, tiers={"m": "cheap"})
    assert week.step == DAY and len(week.buckets) == 8
    assert [b.total.requests for b in week.buckets][-2:] == [2, 3] and week.buckets[-1].tier_mix == {"cheap": 1.0}


# --- no 500, whatever comes -------------------------------------------------------------------

async def test_ranges(serve: Serve, http: aiohttp.ClientSession) -> None:
    _, base = await serve(SWITCHBOARD_ADMIN_TOKEN=TOKEN)
    for since, status in (("24h", 200), ("30d", 200), ("2w", 200), (" 7d ", 200), (f"{MAX_RANGE.days}d", 200),
                          (f"{MAX_RANGE.days + 1}d", 400), ("0d", 400), ("-1d", 400), ("9" * 40, 400), ("", 400),
                          ("7y", 400), ("1e9", 400), ("%ff", 400)):
        got, body, _ = await fetch(http, f"{base}/admin?since={since}", headers=bearer())
        assert got == status, (since, got, body[:300])


@pytest.fixture
async def token_server(serve: Serve) -> str:
    return (await serve(SWITCHBOARD_ADMIN_TOKEN=TOKEN, **SSO))[1]


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(since=_TEXT, extra=st.dictionaries(st.sampled_from(["since", "token", "x", ""]), _TEXT, max_size=3),
       header=st.sampled_from(["Authorization", "Cookie", "X-Forwarded-Email", "X-Other"]),
       value=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80))
async def test_any_query_header_or_cookie_is_answered_without_a_500(
        token_server: str, http: aiohttp.ClientSession, since: str, extra: dict[str, str], header: str,
        value: str) -> None:
    query = {"since": since, **extra}
    for headers in ({}, bearer(), {header: value}):
        async with http.get(f"{token_server}/admin", params=query, headers=headers, allow_redirects=False) as resp:
            assert resp.status in (200, 303, 400, 401, 403), (query, headers, resp.status)
            assert resp.headers["Cache-Control"] == "no-store"


async def test_raw_header_bytes_are_answered_without_a_500(token_server: str) -> None:
    """Bytes that are not UTF-8 (or not text at all) in the headers the page reads."""
    host, port = token_server.removeprefix("http://").split(":")
    for name in (b"X-Forwarded-Email", b"Authorization", b"Cookie"):
        for value in (b"\xff\xfe\x80", b"Bearer \xc3\x28", b"switchboard_admin=\xe2\x82", b"ada@example.com\xa0"):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"GET /admin?since=7d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + name + b": " + value
                         + b"\r\n\r\n")
            await writer.drain()
            status_line = await reader.readline()
            writer.close()
            await writer.wait_closed()
            assert status_line.split()[1] in (b"400", b"401", b"403"), (name, value, status_line)


# --- drawn by Chromium ---------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium; .ci/run "
                                             "installs it)")
@pytest.mark.timeout(180)
async def test_chromium_draws_the_dashboard(serve: Serve, tmp_path: Path) -> None:
    """Headless Chromium signs in by `?token=` (a redirect setting the cookie) and takes a screenshot: the
    charts are drawn (the cheap tier's blue fills a good part of it) and the residency finding is red."""
    services, base = await serve(SWITCHBOARD_ADMIN_TOKEN=TOKEN)
    await seed_store(services.memory, demo_decisions(400, now=datetime.now(UTC), period=timedelta(days=7)))
    shot = tmp_path / "dashboard.png"
    await screenshot(f"{base}/admin?token={TOKEN}&since=7d", shot, profile=tmp_path / "profile")
    pixels = read_png(shot.read_bytes())
    assert pixels.shape[:2] == (2000, 1280)
    blue, red, white = (colour_share(pixels, c) for c in (CHEAP_BLUE, ALERT, "#ffffff"))
    assert 0.01 < blue < 0.5, f"the charts' blue covers {blue:.2%} of the screenshot"
    assert red > 0.0001, f"red (errors, the outside-EU finding) covers {red:.4%}"
    assert white < 0.97, "the screenshot is (nearly) blank"


async def screenshot(url: str, out: Path, *, profile: Path, size: str = "1280,2000") -> None:
    assert CHROMIUM is not None
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--screenshot={out}", f"--window-size={size}", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), 120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, output.decode(errors="replace")[-2000:]


def _info(range_text: str, records: int) -> PageInfo:
    return PageInfo(range_text=range_text, generated_at=NOW, records=records, capped=False, who="token", logout=False)
