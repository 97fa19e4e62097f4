"""KPIs from the decision records: `switchboard stats` and the admin `stats` command.

Pure functions over `KpiRecord`s (the store reads them, `SqlMemoryStore.kpi_records`). Only real calls
(outcome `answered` or `failed`) are KPIs; offline dry runs, refusals and blocks called no model and are
counted apart. Latency percentiles are over answers a model gave (not failures, whose time is a timeout,
and not cache hits, which say nothing about a model). The warning signs are the product brief's, as data
(`WarningRules`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

GROUPS = ("model", "task", "team", "tier")
REAL_CALLS = frozenset({"answered", "failed"})
APART = ("offline", "refused", "blocked")
TIER_TARGET = {"cheap": 0.80, "mid": 0.15, "premium": 0.05}  # the product brief's traffic mix
MAX_SINCE = timedelta(days=3660)
_SINCE = re.compile(r"^(\d{1,7})\s*([hdw]?)$")  # 7 digits: no int or timedelta overflow on any input
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1), "": timedelta(days=1)}


class KpiInputError(ValueError):
    """A `--since` or `--by` value that cannot be used; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class WarningRules:
    """The brief's warning signs: simple answers slower than 3 s, error rate above 5%, cost growing faster
    than volume (cost per request up by more than `cost_growth_margin` against the previous period)."""

    simple_tasks: frozenset[str] = frozenset({"general"})
    simple_p95_ms: float = 3_000.0
    max_error_rate: float = 0.05
    cost_growth_margin: float = 0.10


class KpiRecord(NamedTuple):
    """The content-free part of one decision record, with the votes on it. A named tuple, not a frozen
    dataclass: the dashboard reads up to 200,000 of them per page, and a tuple is built ~10 times faster."""

    created_at: datetime
    model: str
    task: str
    team: str  # platform:tenant:channel
    outcome: str
    latency_ms: float
    tokens: int
    cost_usd: float
    fallback: bool = False
    cached: bool = False
    escalated: bool = False
    up: int = 0
    down: int = 0
    region: str = ""  # of the model that answered (or was tried last)
    personal: bool = False  # the verdict found personal data (sensitivity personal or special)


@dataclass(frozen=True, slots=True, kw_only=True)
class KpiRow:
    key: str
    requests: int
    errors: int
    fallbacks: int
    escalations: int
    cached: int
    p50_ms: float | None
    p95_ms: float | None
    simple_p95_ms: float | None
    tokens: int
    cost_usd: float
    up: int
    down: int
    warnings: tuple[str, ...] = ()

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def satisfaction(self) -> float | None:
        votes = self.up + self.down
        return self.up / votes if votes else None

    @property
    def cost_per_request(self) -> float:
        return self.cost_usd / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class KpiReport:
    since: datetime
    until: datetime
    by: str
    rows: list[KpiRow]
    total: KpiRow
    apart: dict[str, int]
    tier_mix: dict[str, float]
    previous: KpiRow | None  # the period of the same length before `since`
    warnings: list[str] = field(default_factory=list)

    @property
    def period(self) -> timedelta:
        return self.until - self.since


def parse_since(text: str) -> timedelta:
    """`7d`, `24h`, `2w` or a bare number of days."""
    found = _SINCE.match(text.strip().lower())
    if found is None:
        raise KpiInputError(f"--since wants a period such as 7d, 24h or 2w (a bare number is days), not {text!r}.")
    period = int(found.group(1)) * _UNITS[found.group(2)]
    if not timedelta(0) < period <= MAX_SINCE:
        raise KpiInputError(f"--since must be more than 0 and at most {MAX_SINCE.days} days, not {text!r}.")
    return period


def parse_by(text: str) -> str:
    if text.lower() not in GROUPS:
        raise KpiInputError(f"--by must be one of {', '.join(GROUPS)}, not {text!r}.")
    return text.lower()


def build_report(records: Sequence[KpiRecord], *, since: datetime, until: datetime, by: str,
                 tiers: Mapping[str, str], rules: WarningRules | None = None) -> KpiReport:
    """The KPI table of `records` created in [since, until), grouped `by`; records from the period of the
    same length before `since` are the previous period (for cost growth). `tiers` maps model ids to tiers."""
    rules = rules or WarningRules()
    period = until - since
    now = [r for r in records if since <= _aware(r.created_at) < until]
    before = [r for r in records if since - period <= _aware(r.created_at) < since]
    real, real_before = [r for r in now if r.outcome in REAL_CALLS], [r for r in before if r.outcome in REAL_CALLS]
    key = _grouping(by, tiers)
    previous = {k: _row(k, rs, rules) for k, rs in _groups(real_before, key).items()}
    rows = [_warned(_row(k, rs, rules), previous.get(k), rules) for k, rs in sorted(_groups(real, key).items())]
    total_before = _row("total", real_before, rules) if real_before else None
    total = _warned(_row("total", real, rules), total_before, rules)
    warnings = [f"{row.key}: {w}" for row in [*rows, total] for w in row.warnings]
    return KpiReport(since=since, until=until, by=by, rows=rows, total=total,
                     apart={o: sum(r.outcome == o for r in now) for o in APART},
                     tier_mix=_tier_mix(real, tiers), previous=total_before, warnings=warnings)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # SQLite gives back naive UTC


def _grouping(by: str, tiers: Mapping[str, str]) -> Callable[[KpiRecord], str]:
    if by == "tier":
        return lambda r: tiers.get(r.model, "unknown")
    if by == "model":
        return lambda r: r.model or "—"
    if by == "task":
        return lambda r: r.task or "—"
    return lambda r: r.team


def _groups(records: Sequence[KpiRecord], key: Callable[[KpiRecord], str]) -> dict[str, list[KpiRecord]]:
    out: dict[str, list[KpiRecord]] = {}
    for r in records:
        out.setdefault(key(r), []).append(r)
    return out


def _row(key: str, records: Sequence[KpiRecord], rules: WarningRules) -> KpiRow:
    errors = fallbacks = escalations = cached = tokens = up = down = 0
    cost = 0.0
    latency, simple = [], []
    for r in records:  # one pass: a dashboard sums up to 200,000 records several times over
        errors += r.outcome == "failed"
        fallbacks += r.fallback
        escalations += r.escalated
        cached += r.cached
        tokens += r.tokens
        cost += r.cost_usd
        up += r.up
        down += r.down
        if r.outcome == "answered" and not r.cached:  # latency of answers a model gave
            latency.append(r.latency_ms)
            if r.task in rules.simple_tasks:
                simple.append(r.latency_ms)
    latency.sort()
    simple.sort()
    return KpiRow(key=key, requests=len(records), errors=errors, fallbacks=fallbacks, escalations=escalations,
                  cached=cached, p50_ms=_pct(latency, 0.50), p95_ms=_pct(latency, 0.95),
                  simple_p95_ms=_pct(simple, 0.95), tokens=tokens, cost_usd=cost, up=up, down=down)


def _warned(row: KpiRow, previous: KpiRow | None, rules: WarningRules) -> KpiRow:
    found = []
    if row.error_rate > rules.max_error_rate:
        found.append(f"error rate {row.error_rate:.1%} above {rules.max_error_rate:.0%} "
                     f"({row.errors} of {row.requests})")
    if row.simple_p95_ms is not None and row.simple_p95_ms > rules.simple_p95_ms:
        found.append(f"simple answers slower than {rules.simple_p95_ms / 1000:g} s "
                     f"(p95 {row.simple_p95_ms / 1000:.1f} s)")
    if (previous is not None and previous.cost_usd > 0 and row.cost_usd > previous.cost_usd
            and row.cost_per_request > previous.cost_per_request * (1 + rules.cost_growth_margin)):
        found.append(f"cost growing faster than volume (cost {_change(row.cost_usd, previous.cost_usd)}, "
                     f"requests {_change(row.requests, previous.requests)} against the previous period)")
    return replace(row, warnings=tuple(found))


def _change(now: float, before: float) -> str:
    return f"{(now / before - 1):+.0%}"


def _tier_mix(records: Sequence[KpiRecord], tiers: Mapping[str, str]) -> dict[str, float]:
    if not records:
        return {}
    counts: dict[str, int] = {}
    for r in records:
        tier = tiers.get(r.model, "unknown")
        counts[tier] = counts.get(tier, 0) + 1
    return {tier: n / len(records) for tier, n in counts.items()}


def _pct(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile of sorted `values`; None for none."""
    if not values:
        return None
    return values[max(1, math.ceil(len(values) * q)) - 1]


# --- over time (the admin dashboard) ---------------------------------------------------

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
HOURLY_UP_TO = timedelta(days=2)  # longer periods are bucketed by day
RESIDENT_REGIONS = frozenset({"eu", "local"})  # where personal data may go (the brief; the policy enforces it)


@dataclass(frozen=True, slots=True, kw_only=True)
class Bucket:
    """The real calls of one hour or day: their KPIs in all, by task and by model, the tier mix, and where
    the ones with personal data went."""

    start: datetime
    total: KpiRow
    by_task: dict[str, KpiRow]
    by_model: dict[str, KpiRow]
    tier_mix: dict[str, float]
    personal: int
    personal_regions: dict[str, int]

    @property
    def personal_share(self) -> float | None:
        return self.personal / self.total.requests if self.total.requests else None


@dataclass(frozen=True, slots=True, kw_only=True)
class KpiSeries:
    since: datetime
    until: datetime
    step: timedelta
    buckets: list[Bucket]

    @property
    def personal_regions(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for bucket in self.buckets:
            for region, n in bucket.personal_regions.items():
                out[region] = out.get(region, 0) + n
        return out

    @property
    def outside_residency(self) -> int:
        """Personal-data calls answered (or tried) outside `RESIDENT_REGIONS`: each one is a finding."""
        return sum(n for region, n in self.personal_regions.items() if region not in RESIDENT_REGIONS)


def bucket_step(period: timedelta) -> timedelta:
    return HOUR if period <= HOURLY_UP_TO else DAY


def build_series(records: Sequence[KpiRecord], *, since: datetime, until: datetime, tiers: Mapping[str, str],
                 rules: WarningRules | None = None) -> KpiSeries:
    """The real calls of `records` created in [since, until) in hourly (up to two days) or daily buckets,
    each summed up like a `build_report` row; the first bucket starts at the hour or day `since` falls in."""
    rules = rules or WarningRules()
    step = bucket_step(until - since)
    start = _floor(since, step)
    grouped: list[list[KpiRecord]] = [[] for _ in range(max(1, math.ceil((until - start) / step)))]
    for r in records:
        when = _aware(r.created_at)
        if r.outcome in REAL_CALLS and since <= when < until:
            grouped[(when - start) // step].append(r)
    buckets = [_bucket(start + i * step, rs, tiers, rules) for i, rs in enumerate(grouped)]
    return KpiSeries(since=since, until=until, step=step, buckets=buckets)


def _floor(when: datetime, step: timedelta) -> datetime:
    when = _aware(when).astimezone(UTC)
    hour = when.replace(minute=0, second=0, microsecond=0)
    return hour if step == HOUR else hour.replace(hour=0)


def _bucket(start: datetime, records: Sequence[KpiRecord], tiers: Mapping[str, str], rules: WarningRules) -> Bucket:
    personal = [r for r in records if r.personal]
    regions: dict[str, int] = {}
    for r in personal:
        regions[r.region or "—"] = regions.get(r.region or "—", 0) + 1
    by_task, by_model = _groups(records, _grouping("task", tiers)), _groups(records, _grouping("model", tiers))
    return Bucket(start=start, total=_row("total", records, rules),
                  by_task={k: _row(k, rs, rules) for k, rs in sorted(by_task.items())},
                  by_model={k: _row(k, rs, rules) for k, rs in sorted(by_model.items())},
                  tier_mix=_tier_mix(records, tiers), personal=len(personal), personal_regions=regions)


# --- rendering -----------------------------------------------------------------------

COLUMNS = ("requests | errors | fallbacks | escalated | cached | p50 s | p95 s | simple p95 s | tokens | cost $ | "
           "$/request | 👍 | 👎 | satisfaction")


def render_report(report: KpiReport) -> str:
    """The table and what follows it, as text (Slack and Teams show it in a code block)."""
    lines = [f"KPIs for {_describe_period(report.period)} (since {report.since:%Y-%m-%d %H:%M} UTC), by {report.by}; "
             "real model calls only",
             f"{report.by} | {COLUMNS}"]
    lines += [_render_row(row) for row in report.rows] or ["(no model calls in this period)"]
    if report.rows:
        lines.append(_render_row(report.total))
    apart = ", ".join(f"{n} {o}" for o, n in report.apart.items())
    lines.append(f"Counted apart (no model called): {apart}")
    if report.tier_mix:
        mix = ", ".join(f"{tier} {report.tier_mix.get(tier, 0.0):.0%} (target {target:.0%})"
                        for tier, target in TIER_TARGET.items())
        other = [f"{tier} {share:.0%}" for tier, share in report.tier_mix.items() if tier not in TIER_TARGET]
        lines.append(f"Tier mix: {mix}" + (f"; {', '.join(other)}" if other else ""))
    if report.previous is not None:
        p = report.previous
        lines.append(f"Previous {_describe_period(report.period)}: {p.requests} requests, ${p.cost_usd:.4f}")
    lines.append("Warning signs: " + ("none" if not report.warnings else ""))
    lines += [f"  ⚠ {w}" for w in report.warnings]
    return "\n".join(lines)


def _render_row(row: KpiRow) -> str:
    sat = f"{row.satisfaction:.0%}" if row.satisfaction is not None else "—"
    return (f"{row.key} | {row.requests} | {row.error_rate:.1%} | {row.fallbacks} | {row.escalations} | {row.cached} | "
            f"{_seconds(row.p50_ms)} | {_seconds(row.p95_ms)} | {_seconds(row.simple_p95_ms)} | {row.tokens} | "
            f"{row.cost_usd:.4f} | {row.cost_per_request:.5f} | {row.up} | {row.down} | {sat}"
            + (" ⚠" if row.warnings else ""))


def _seconds(ms: float | None) -> str:
    return "—" if ms is None else f"{ms / 1000:.2f}"


def _describe_period(period: timedelta) -> str:
    if period % timedelta(days=1) == timedelta(0):
        days = period.days
        return "the last day" if days == 1 else f"the last {days} days"
    hours = int(period.total_seconds() // 3600)
    return "the last hour" if hours == 1 else f"the last {hours} hours"
