"""Charts as inline SVG, drawn in Python: no script, no CDN, nothing fetched by the browser.

Each chart is a `<figure>` with a caption, an SVG (`role="img"`, a `<title>` and a `<desc>`, axis labels,
a legend) and the same figures as a data table under it, for screen readers and for copying. Colours are
presentation attributes, never `style=`, so a strict Content-Security-Policy needs no inline-style allowance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 132, 14, 44
MAX_X_LABELS = 12
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
ALERT = "#d62728"
INK, GRID = "#333333", "#dddddd"


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float | None]
    colour: str


@dataclass(frozen=True, slots=True)
class Reference:
    """A horizontal line across the plot (a target or a bound), labelled at its right end."""

    value: float
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    id: str  # unique on the page: the SVG's title and description are referenced by it
    title: str
    description: str
    x_label: str
    y_label: str
    x_values: Sequence[str]
    series: Sequence[Series]
    fmt: Callable[[float], str]
    kind: str = "line"  # line | bars (stacked)
    references: Sequence[Reference] = ()
    y_max: float | None = None  # fixed top of the scale (percentages); otherwise from the data
    extra_columns: Sequence[tuple[str, Sequence[str]]] = ()  # more columns for the table only


def render_chart(chart: Chart) -> str:
    """The chart's `<figure>`: caption (a heading), SVG, legend and data table."""
    n = len(chart.x_values)
    top = chart.y_max if chart.y_max is not None else _nice_max(_data_max(chart))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * min(max(value / top, 0.0), 1.0)

    def x(i: int) -> float:
        return LEFT + plot_w * (i + 0.5) / max(n, 1)

    parts = [f'<svg role="img" aria-labelledby="{chart.id}-t {chart.id}-d" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'width="100%" font-family="sans-serif" font-size="11">',
             f'<title id="{chart.id}-t">{escape(chart.title)}</title>',
             f'<desc id="{chart.id}-d">{escape(chart.description)}</desc>']
    parts += _axes(chart, top=top, x=x, y=y, n=n)
    parts += _bars(chart, x=x, y=y, n=n) if chart.kind == "bars" else _lines(chart, x=x, y=y)
    for ref in chart.references:
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(ref.value):.1f}" y2="{y(ref.value):.1f}" '
                     f'stroke="{INK}" stroke-width="1.5" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{LEFT + plot_w + 6}" y="{y(ref.value) + 4:.1f}" fill="{INK}">'
                     f'{escape(ref.label)}</text>')
    parts.append("</svg>")
    return (f'<figure id="{chart.id}"><figcaption><h2>{escape(chart.title)}</h2></figcaption>{"".join(parts)}'
            f"{_legend(chart)}{_table(chart)}</figure>")


def _data_max(chart: Chart) -> float:
    if chart.kind == "bars":
        sums = [sum(s.values[i] or 0.0 for s in chart.series) for i in range(len(chart.x_values))]
        found = max(sums, default=0.0)
    else:
        found = max((v for s in chart.series for v in s.values if v is not None), default=0.0)
    return max([found, *(r.value for r in chart.references)])


def _nice_max(value: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten, at least `value` (1 for nothing)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= value)


def _axes(chart: Chart, *, top: float, x: Callable[[int], float], y: Callable[[float], float], n: int) -> list[str]:
    plot_w, bottom = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM
    out = []
    for k in range(5):
        value = top * k / 4
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" fill="{INK}">'
                   f"{escape(chart.fmt(value))}</text>")
    every = max(1, math.ceil(n / MAX_X_LABELS))
    out += [f'<text x="{x(i):.1f}" y="{bottom + 14}" text-anchor="middle" fill="{INK}">{escape(label)}</text>'
            for i, label in enumerate(chart.x_values) if i % every == 0]
    out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{bottom}" y2="{bottom}" stroke="{INK}"/>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{bottom}" stroke="{INK}"/>')
    out.append(f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" fill="{INK}">'
               f"{escape(chart.x_label)}</text>")
    out.append(f'<text transform="rotate(-90)" x="{-(TOP + (bottom - TOP) / 2):.1f}" y="14" text-anchor="middle" '
               f'fill="{INK}">{escape(chart.y_label)}</text>')
    return out


def _bars(chart: Chart, *, x: Callable[[int], float], y: Callable[[float], float], n: int) -> list[str]:
    width = max(1.0, (WIDTH - LEFT - RIGHT) / max(n, 1) * 0.72)
    out = []
    for i in range(n):
        base = 0.0
        for s in chart.series:
            value = s.values[i] or 0.0
            if value <= 0:
                continue
            top, bottom = y(base + value), y(base)
            out.append(f'<rect x="{x(i) - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
                       f'height="{max(bottom - top, 0.5):.1f}" fill="{s.colour}">'
                       f"<title>{escape(f'{s.name}: {chart.fmt(value)}')}</title></rect>")
            base += value
    return out


def _lines(chart: Chart, *, x: Callable[[int], float], y: Callable[[float], float]) -> list[str]:
    out = []
    for s in chart.series:
        run: list[str] = []
        for i, value in enumerate([*s.values, None]):  # a gap (no data) ends a run
            if value is None:
                if len(run) > 1:
                    out.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{s.colour}" '
                               'stroke-width="2"/>')
                run = []
                continue
            run.append(f"{x(i):.1f},{y(value):.1f}")
            out.append(f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="3" fill="{s.colour}">'
                       f"<title>{escape(f'{s.name}: {chart.fmt(value)}')}</title></circle>")
    return out


def _legend(chart: Chart) -> str:
    items = "".join(f'<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" '
                    f'fill="{s.colour}"/></svg> {escape(s.name)}</li>' for s in chart.series)
    return f'<ul class="legend">{items}</ul>' if items else ""


def _table(chart: Chart) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>'
                   for h in [chart.x_label, *(s.name for s in chart.series), *(c for c, _ in chart.extra_columns)])
    rows = []
    for i, label in enumerate(chart.x_values):
        cells = [_cell(s.values[i], chart.fmt) for s in chart.series]
        cells += [escape(column[i]) for _, column in chart.extra_columns]
        rows.append(f'<tr><th scope="row">{escape(label)}</th>{"".join(f"<td>{c}</td>" for c in cells)}</tr>')
    return (f'<details><summary>Data table: {escape(chart.title)}</summary><table><caption>{escape(chart.title)}'
            f'</caption><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></details>')


def _cell(value: float | None, fmt: Callable[[float], str]) -> str:
    return "—" if value is None else escape(fmt(value))
