"""The admin dashboard's page: KPIs over time from the decision records, as server-rendered HTML.

Pure functions over a `KpiSeries` and a `KpiReport` (`bot.kpis`); the web side (`bot.admin_web`) reads the
records and guards the page. The style sheet is one constant, allowed by its hash in the page's
Content-Security-Policy; there is no script at all.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from bot.kpis import DAY, RESIDENT_REGIONS, TIER_TARGET, Bucket, KpiReport, KpiRow, KpiSeries
from bot.svgchart import ALERT, PALETTE, Chart, Reference, Series, render_chart

RANGES = ("24h", "7d", "30d")
TOP_MODELS = 7  # the rest of the models are one "other" series
TIER_COLOURS = {"cheap": PALETTE[0], "mid": PALETTE[1], "premium": PALETTE[3], "unknown": PALETTE[6]}
TASK_COLOURS = {"general": PALETTE[0], "summarization": PALETTE[2], "translation": PALETTE[8], "code": PALETTE[4],
                "analysis": PALETTE[1], "creative": PALETTE[3]}
RESIDENT_COLOURS = {"eu": PALETTE[0], "local": PALETTE[2]}
UP, DOWN = "#2ca02c", ALERT
STYLE = """
body{font-family:sans-serif;margin:1.5rem auto;max-width:96rem;padding:0 1rem;color:#222;background:#fff}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(34rem,1fr));gap:1rem 2rem}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.15rem;margin:1.6rem 0 .4rem}
nav a{margin-right:.8rem}nav a[aria-current]{font-weight:bold;text-decoration:none;color:#222}
.cards{display:flex;flex-wrap:wrap;gap:.6rem;padding:0;list-style:none}
.cards li{border:1px solid #ccc;border-radius:4px;padding:.4rem .7rem;min-width:8rem}
.cards b{display:block;font-size:1.2rem}.alert,.cards .alert b{color:#b00}
figure{margin:0 0 1rem;min-width:0}figcaption h2{margin:.6rem 0 .3rem}
.legend{list-style:none;padding:0;margin:.2rem 0;display:flex;flex-wrap:wrap;gap:.9rem;font-size:.85rem}
table{border-collapse:collapse;font-size:.8rem;margin:.3rem 0}th,td{border:1px solid #ddd;padding:.15rem .4rem}
td{text-align:right}caption{text-align:left;font-weight:bold}.note{color:#555;font-size:.85rem}
form{display:inline}
"""
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


@dataclass(frozen=True, slots=True, kw_only=True)
class PageInfo:
    range_text: str  # as asked, e.g. "7d"
    generated_at: datetime
    records: int  # decision records read
    capped: bool  # the newest `records` only: the range holds more
    who: str  # how the viewer signed in, e.g. "token" or "SSO: ada@example.com"
    logout: bool  # a cookie session: offer to sign out


def render_page(series: KpiSeries, report: KpiReport, info: PageInfo) -> str:
    labels = [_label(b.start, series) for b in series.buckets]
    charts = [_cost_chart(series, labels, "task"), _cost_chart(series, labels, "model"), _latency_chart(series, labels),
              _error_chart(series, labels), _satisfaction_chart(series, labels), _tier_chart(series, labels),
              _residency_chart(series, labels)]
    body = [_header(series, info), _cards(series, report), _warnings(report),
            '<div class="charts">', *(render_chart(c) for c in charts), "</div>",
            _residency_table(series), _footer(info)]
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>Switchboard admin: KPIs since {info.range_text}</title><style>{STYLE}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>")


def render_message(title: str, text: str, *, login: bool = False) -> str:
    """A short page: an error or the sign-in form."""
    form = ('<form method="post" action="/admin/login"><label>Admin token <input type="password" name="token" '
            'autocomplete="current-password" required></label> <button type="submit">Sign in</button></form>'
            if login else "")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><main><h1>{escape(title)}</h1><p>{escape(text)}</p>{form}"
            "</main></body></html>")


# --- parts of the page -------------------------------------------------------------------

def _header(series: KpiSeries, info: PageInfo) -> str:
    current = ' aria-current="page"'
    links = "".join(f'<a href="/admin?since={r}"{current if r == info.range_text else ""}>last {r}</a>'
                    for r in RANGES)
    step = "day" if series.step == DAY else "hour"
    return (f"<h1>Switchboard: KPIs of the last {escape(info.range_text)}</h1>"
            f'<nav aria-label="Range">{links}</nav>'
            f'<p class="note">{series.since:%Y-%m-%d %H:%M} to {series.until:%Y-%m-%d %H:%M} UTC, one point per '
            f"{step}; real model calls only (offline dry runs, refusals and blocks are counted apart).</p>")


def _cards(series: KpiSeries, report: KpiReport) -> str:
    t = report.total
    outside = series.outside_residency
    personal = sum(b.personal for b in series.buckets)
    apart = ", ".join(f"{n} {o}" for o, n in report.apart.items())
    cards = [("Requests", f"{t.requests:,}", ""), ("Cost", f"${t.cost_usd:.4f}", ""),
             ("Cost per request", f"${t.cost_per_request:.5f}", ""), ("p95 latency", _seconds(t.p95_ms), ""),
             ("Error rate", f"{t.error_rate:.1%}", ""), ("Fallback rate", _rate(t.fallbacks, t.requests), ""),
             ("Satisfaction", _satisfaction(t), ""),
             ("Personal-data requests", _rate(personal, t.requests), ""),
             ("Outside EU/local", str(outside), "alert" if outside else ""),
             ("Counted apart", apart, "")]
    items = "".join(f'<li class="{cls}">{escape(name)}<b>{escape(value)}</b></li>' if cls
                    else f"<li>{escape(name)}<b>{escape(value)}</b></li>" for name, value, cls in cards)
    return f'<ul class="cards" aria-label="Totals">{items}</ul>'


def _warnings(report: KpiReport) -> str:
    if not report.warnings:
        return '<p class="note">Warning signs (the brief\'s): none.</p>'
    items = "".join(f"<li>{escape(w)}</li>" for w in report.warnings)
    return f'<h2>Warning signs</h2><ul class="alert">{items}</ul>'


def _footer(info: PageInfo) -> str:
    capped = (f" Only the newest {info.records:,} decision records of this range were read (the bound per page); "
              "choose a shorter range to see all of it." if info.capped else "")
    logout = ('<form method="post" action="/admin/logout"><button type="submit">Sign out</button></form>'
              if info.logout else "")
    return (f'<p class="note">Generated {info.generated_at:%Y-%m-%d %H:%M:%S} UTC from {info.records:,} decision '
            f"records; signed in by {escape(info.who)}.{escape(capped)} {logout}</p>")


# --- the charts --------------------------------------------------------------------------

def _cost_chart(series: KpiSeries, labels: list[str], by: str) -> Chart:
    rows: Callable[[Bucket], dict[str, KpiRow]] = (lambda b: b.by_task) if by == "task" else (lambda b: b.by_model)
    keys = _top_keys(series.buckets, rows, TOP_MODELS if by == "model" else len(TASK_COLOURS) + 1)
    colours = TASK_COLOURS if by == "task" else {}
    out = []
    for i, key in enumerate(keys):
        values = [_other_sum(rows(b), keys) if key == OTHER else (rows(b)[key].cost_usd if key in rows(b) else None)
                  for b in series.buckets]
        out.append(Series(key, values, colours.get(key, PALETTE[i % len(PALETTE)])))
    return Chart(id=f"cost-{by}", title=f"Cost per {by} (USD)", x_label=_x_label(series), y_label="USD",
                 description=f"Stacked bars: the cost of the real model calls per {_step(series)}, split by {by}.",
                 x_values=labels, series=out, fmt=_usd, kind="bars")


OTHER = "other"


def _top_keys(buckets: Sequence[Bucket], rows: Callable[[Bucket], dict[str, KpiRow]], top: int) -> list[str]:
    cost: dict[str, float] = {}
    for b in buckets:
        for key, row in rows(b).items():
            cost[key] = cost.get(key, 0.0) + row.cost_usd
    ranked = sorted(cost, key=lambda k: (-cost[k], k))
    return sorted(ranked) if len(ranked) <= top else [*sorted(ranked[:top - 1]), OTHER]


def _other_sum(rows: dict[str, KpiRow], keys: list[str]) -> float | None:
    found = [r.cost_usd for k, r in rows.items() if k not in keys]
    return sum(found) if found else None


def _latency_chart(series: KpiSeries, labels: list[str]) -> Chart:
    models = _top_keys(series.buckets, lambda b: b.by_model, TOP_MODELS + 1)
    out = [Series("all models", [_p95_s(b.total) for b in series.buckets], INK_SERIES)]
    out += [Series(m, [_p95_s(b.by_model[m]) if m in b.by_model else None for b in series.buckets],
                   PALETTE[i % len(PALETTE)]) for i, m in enumerate(k for k in models if k != OTHER)]
    return Chart(id="latency", title="p95 latency (seconds)", x_label=_x_label(series), y_label="seconds",
                 description="Lines: the 95th percentile of the answer time per model, answers given by a model "
                             "(no failures, no cache hits); the dashed line is the 3 s bound for simple answers.",
                 x_values=labels, series=out, fmt=lambda v: f"{v:.2f} s", references=[Reference(3.0, "3 s bound")])


INK_SERIES = "#333333"


def _error_chart(series: KpiSeries, labels: list[str]) -> Chart:
    b = series.buckets
    out = [Series("errors", [_share(x.total.errors, x.total.requests) for x in b], ALERT),
           Series("fallbacks", [_share(x.total.fallbacks, x.total.requests) for x in b], PALETTE[1])]
    return Chart(id="errors", title="Error and fallback rates", x_label=_x_label(series), y_label="% of requests",
                 description="Lines: failed requests and answers given by a fallback model, as a share of the real "
                             "calls; the dashed line is the 5% error-rate warning sign.",
                 x_values=labels, series=out, fmt=_percent, references=[Reference(0.05, "5% errors")],
                 extra_columns=[("requests", [str(x.total.requests) for x in b])])


def _satisfaction_chart(series: KpiSeries, labels: list[str]) -> Chart:
    b = series.buckets
    return Chart(id="satisfaction", title="Satisfaction (thumbs-up share of the votes)", x_label=_x_label(series),
                 y_label="thumbs-up share", y_max=1.0,
                 description="A line: the share of thumbs-up (👍) among the votes (👍 and 👎) on the answers of "
                             "each period.",
                 x_values=labels, series=[Series("thumbs-up share", [x.total.satisfaction for x in b], UP)],
                 fmt=_percent, extra_columns=[("thumbs up", [str(x.total.up) for x in b]),
                                              ("thumbs down", [str(x.total.down) for x in b])])


def _tier_chart(series: KpiSeries, labels: list[str]) -> Chart:
    tiers = [*TIER_TARGET, *sorted({t for b in series.buckets for t in b.tier_mix} - set(TIER_TARGET))]
    out = [Series(t, [b.tier_mix.get(t) if b.tier_mix else None for b in series.buckets],
                  TIER_COLOURS.get(t, PALETTE[6])) for t in tiers]
    cheap, mid = TIER_TARGET["cheap"], TIER_TARGET["mid"]
    return Chart(id="tiers", title="Traffic share per tier", x_label=_x_label(series), y_label="% of requests",
                 y_max=1.0, description="Stacked bars: the share of the real calls answered by cheap, mid and premium "
                                        f"models; dashed lines: the brief's target mix, {cheap:.0%} cheap, "
                                        f"{mid:.0%} mid, {1 - cheap - mid:.0%} premium.",
                 x_values=labels, series=out, fmt=_percent, kind="bars",
                 references=[Reference(cheap, f"target cheap {cheap:.0%}"),
                             Reference(cheap + mid, f"+ mid {mid:.0%}")])


def _residency_chart(series: KpiSeries, labels: list[str]) -> Chart:
    regions = sorted(series.personal_regions, key=lambda r: (r not in RESIDENT_REGIONS, r))
    out = [Series(r if r in RESIDENT_REGIONS else f"{r} (outside EU/local)",
                  [float(b.personal_regions[r]) if r in b.personal_regions else None for b in series.buckets],
                  RESIDENT_COLOURS.get(r, ALERT)) for r in regions]
    return Chart(id="residency", title="Residency: personal-data requests by region", x_label=_x_label(series),
                 y_label="requests", description="Stacked bars: the real calls whose message held personal data, by "
                                                 "the region of the model that answered; red is outside EU/local.",
                 x_values=labels, series=out, fmt=lambda v: f"{v:g}", kind="bars",
                 extra_columns=[("share of requests", [_percent_or_dash(b.personal_share) for b in series.buckets])])


def _residency_table(series: KpiSeries) -> str:
    total = sum(series.personal_regions.values())
    rows = "".join(
        (f"<tr><th scope=\"row\">{escape(r)}</th>" if r in RESIDENT_REGIONS
         else f'<tr class="alert"><th scope="row">{escape(r)} ⚠ outside EU/local</th>')
        + f"<td>{n}</td><td>{_percent(n / total)}</td></tr>"
        for r, n in sorted(series.personal_regions.items(), key=lambda kv: (kv[0] not in RESIDENT_REGIONS, kv[0])))
    if not rows:
        return '<p class="note">No personal-data requests in this range.</p>'
    return ("<table><caption>Where the personal-data requests went (whole range)</caption><thead><tr>"
            '<th scope="col">region</th><th scope="col">requests</th><th scope="col">share</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


# --- formatting --------------------------------------------------------------------------

def _label(start: datetime, series: KpiSeries) -> str:
    return f"{start:%m-%d}" if series.step == DAY else f"{start:%d %H}h"


def _x_label(series: KpiSeries) -> str:
    return "day (UTC)" if series.step == DAY else "hour (UTC, day and hour)"


def _step(series: KpiSeries) -> str:
    return "day" if series.step == DAY else "hour"


def _p95_s(row: KpiRow) -> float | None:
    return None if row.p95_ms is None else row.p95_ms / 1000


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _usd(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def _percent(value: float) -> str:
    if 0 < value < 0.001:
        return "<0.1%"
    return f"{value:.1%}" if 0 < value < 0.1 else f"{value:.0%}"


def _percent_or_dash(value: float | None) -> str:
    return "—" if value is None else _percent(value)


def _rate(part: int, whole: int) -> str:
    return "—" if not whole else f"{part / whole:.1%}"


def _seconds(ms: float | None) -> str:
    return "—" if ms is None else f"{ms / 1000:.2f} s"


def _satisfaction(row: KpiRow) -> str:
    sat = row.satisfaction
    return "no votes" if sat is None else f"{sat:.0%} ({row.up} up / {row.down} down)"
