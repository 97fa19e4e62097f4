"""`stats` from known decision records through real SQL (SQLite, and PostgreSQL when its binaries exist):
real calls only, offline/refused/blocked apart, satisfaction from votes, the tier mix against 80/15/5, and
the brief's warning signs; then the admin command and the CLI's `--since`/`--by`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.cli import build_parser
from bot.commands import CommandContext, CommandProcessor
from bot.kpis import KpiReport, build_report, render_report
from bot.memory.models import Decision
from bot.memory.store import SqlMemoryStore
from bot.types import Identity
from tests.conftest import ServicesFactory

TIERS = {"m/cheap": "cheap", "m/mid": "mid", "m/premium": "premium"}
NOW = datetime.now(UTC).replace(microsecond=0)
WEEK = timedelta(days=7)




async def decide(store: SqlMemoryStore, *, days_ago: float, model: str, task: str, outcome: str = "answered",
                 latency_ms: float = 1000.0, cost_usd: float = 0.0, channel: str = "C1", **extra: bool) -> int:
    return await store.record_decision(Decision(
        platform="slack", tenant="T1", channel=channel, user="U1", model=model, task=task, outcome=outcome,
        latency_ms=latency_ms, cost_usd=cost_usd, prompt_tokens=10, completion_tokens=5,
        created_at=NOW - timedelta(days=days_ago), **extra))


async def known_history(store: SqlMemoryStore) -> None:
    """This week: 8 simple answers on the cheap model (p95 4 s, twice last week's cost for as many), on the mid
    model one answer and one failure (50% errors), one cache hit on premium; offline dry runs, a refusal and
    blocks that called no model; last week 8 cheap answers; older records outside both periods."""
    cheap = [await decide(store, days_ago=1 + i / 10, model="m/cheap", task="general", latency_ms=ms, cost_usd=0.001)
             for i, ms in enumerate([1000, 1200, 1400, 1600, 1800, 2000, 2200, 4000])]
    await decide(store, days_ago=2, model="m/mid", task="analysis", latency_ms=5000, cost_usd=0.01, channel="C2")
    await decide(store, days_ago=2, model="m/mid", task="analysis", outcome="failed", latency_ms=10_000, channel="C2")
    await decide(store, days_ago=3, model="m/premium", task="creative", latency_ms=50, cached=True)
    for _ in range(3):  # a model never called: no latency, no request
        await decide(store, days_ago=1, model="m/premium", task="general", outcome="offline", latency_ms=3500)
    await decide(store, days_ago=1, model="m/premium", task="general", outcome="refused")
    for _ in range(2):
        await decide(store, days_ago=1, model="", task="general", outcome="blocked")
    for i in range(8):
        await decide(store, days_ago=8 + i / 10, model="m/cheap", task="general", cost_usd=0.0005)
    await decide(store, days_ago=20, model="m/mid", task="analysis", outcome="failed")
    voter = Identity("slack", "T1", "U9")
    for decision_id, score in ((cheap[0], 1), (cheap[1], 1), (cheap[2], -1)):
        assert await store.add_feedback(decision_id=decision_id, user=voter, score=score)


async def report(store: SqlMemoryStore, by: str) -> KpiReport:
    records = await store.kpi_records(since=NOW - 2 * WEEK, until=NOW + timedelta(seconds=1))
    return build_report(records, since=NOW - WEEK, until=NOW + timedelta(seconds=1), by=by, tiers=TIERS)


async def test_kpis_by_model_from_known_records(store: SqlMemoryStore) -> None:
    await known_history(store)
    shown = await report(store, "model")
    rows = {r.key: r for r in shown.rows}
    assert list(rows) == ["m/cheap", "m/mid", "m/premium"]
    cheap, mid, premium = rows["m/cheap"], rows["m/mid"], rows["m/premium"]
    assert (cheap.requests, cheap.errors, cheap.p50_ms, cheap.p95_ms, cheap.simple_p95_ms) == (8, 0, 1600, 4000, 4000)
    assert (cheap.up, cheap.down, round(cheap.cost_usd, 6), cheap.tokens) == (2, 1, 0.008, 120)
    assert cheap.satisfaction == pytest.approx(2 / 3)
    assert (mid.requests, mid.errors, mid.error_rate, mid.p95_ms, mid.simple_p95_ms) == (2, 1, 0.5, 5000, None)
    assert (premium.requests, premium.cached, premium.p95_ms) == (1, 1, None)  # a cache hit times no model
    assert (shown.total.requests, shown.total.errors) == (11, 1)
    assert shown.apart == {"offline": 3, "refused": 1, "blocked": 2}
    assert shown.tier_mix == pytest.approx({"cheap": 8 / 11, "mid": 2 / 11, "premium": 1 / 11})
    assert shown.previous is not None and shown.previous.requests == 8
    assert shown.warnings == [
        "m/cheap: simple answers slower than 3 s (p95 4.0 s)",
        "m/cheap: cost growing faster than volume (cost +100%, requests +0% against the previous period)",
        "m/mid: error rate 50.0% above 5% (1 of 2)",
        "total: error rate 9.1% above 5% (1 of 11)",
        "total: simple answers slower than 3 s (p95 4.0 s)",
        "total: cost growing faster than volume (cost +350%, requests +38% against the previous period)",
    ]
    table = render_report(shown)
    assert "model | requests | errors |" in table
    assert "m/cheap | 8 | 0.0% | 0 | 0 | 0 | 1.60 | 4.00 | 4.00 | 120 | 0.0080 | 0.00100 | 2 | 1 | 67% ⚠" in table
    assert "Counted apart (no model called): 3 offline, 1 refused, 2 blocked" in table
    assert "Tier mix: cheap 73% (target 80%), mid 18% (target 15%), premium 9% (target 5%)" in table
    assert "  ⚠ m/mid: error rate 50.0% above 5% (1 of 2)" in table


async def test_kpis_by_task_team_and_tier(store: SqlMemoryStore) -> None:
    await known_history(store)
    by_task = {r.key: r.requests for r in (await report(store, "task")).rows}
    assert by_task == {"analysis": 2, "creative": 1, "general": 8}
    by_team = {r.key: r.requests for r in (await report(store, "team")).rows}
    assert by_team == {"slack:T1:C1": 9, "slack:T1:C2": 2}
    by_tier = {r.key: (r.requests, round(r.cost_usd, 6)) for r in (await report(store, "tier")).rows}
    assert by_tier == {"cheap": (8, 0.008), "mid": (2, 0.01), "premium": (1, 0.0)}


async def test_a_quiet_history_warns_of_nothing(store: SqlMemoryStore) -> None:
    for i in range(4):
        await decide(store, days_ago=1 + i, model="m/cheap", task="general", latency_ms=900, cost_usd=0.001)
        await decide(store, days_ago=8 + i, model="m/cheap", task="general", latency_ms=900, cost_usd=0.001)
    shown = await report(store, "model")
    assert shown.warnings == [] and "Warning signs: none" in render_report(shown)


async def test_the_admin_command_reads_since_and_by(make_services: ServicesFactory) -> None:
    services = await make_services(warm=False)
    run = CommandProcessor(memory=services.memory, policies=services.policies)
    admin = CommandContext(platform="cli", tenant="T", channel="C", user="boss", is_admin=True)
    for model, days_ago in (("openai/us-small", 1), ("openai/eu-large", 1), ("openai/eu-large", 10)):
        await services.memory.record_decision(Decision(platform="cli", tenant="T", channel="C", model=model,
                                                       task="general", outcome="answered", latency_ms=500,
                                                       created_at=datetime.now(UTC) - timedelta(days=days_ago)))
    by_tier = await run.execute(admin, "stats --since 7d --by tier")
    assert by_tier.ok and "by tier" in by_tier.text
    assert "\ncheap | 1 |" in by_tier.text and "\nmid | 1 |" in by_tier.text
    assert "Tier mix: cheap 50% (target 80%), mid 50% (target 15%), premium 0% (target 5%)" in by_tier.text
    wider = await run.execute(admin, "stats 14")  # the chat's short form: a number of days
    assert wider.ok and "the last 14 days" in wider.text and "openai/eu-large | 2 |" in wider.text
    hours = await run.execute(admin, "stats since 2h by task")
    assert hours.ok and "the last 2 hours" in hours.text and "(no model calls in this period)" in hours.text
    for bad, says in (("stats --since 0d", "--since must be more than 0"),
                      ("stats --since yesterday", "--since wants a period such as 7d, 24h or 2w"),
                      ("stats --by user", "--by must be one of model, task, team, tier, not 'user'"),
                      ("stats --by", "Usage: stats [--since 7d]")):
        result = await run.execute(admin, bad)
        assert not result.ok and says in result.text, bad


def test_cli_stats_takes_since_and_by() -> None:
    args = build_parser().parse_args(["stats", "--since", "2w", "--by", "team"])
    assert (args.since, args.by) == ("2w", "team")
    defaults = build_parser().parse_args(["stats"])
    assert (defaults.since, defaults.by) == ("7d", "model")
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["stats", "--by", "user"])
    assert done.value.code == 2
