"""Small server-side SVG plots of a datasource's run history (no JavaScript, no CDN).

Two kinds: lines over the runs (records in/out, errors, deletions) and stacked bars of the
seconds per step. Every text is escaped; the SVG is inlined into the page.
"""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 16, 40
COLOURS = ("#1f77b4", "#ff7f0e", "#d62728", "#7f7f7f", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def _scale(maximum: float) -> float:
    """A round upper bound for the y axis."""
    if maximum <= 0:
        return 1.0
    step = 10 ** len(str(int(maximum))) / 10
    for factor in (1, 2, 5, 10):
        if maximum <= step * factor:
            return step * factor
    return maximum


def _frame(plot_id: str, title: str, top: float, labels: list[str], unit: str) -> list[str]:
    inner_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg id="{escape(plot_id)}" class="plot" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{LEFT}" y1="{TOP + inner_h}" x2="{WIDTH - RIGHT}" y2="{TOP + inner_h}" stroke="#999"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + inner_h}" stroke="#999"/>',
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + inner_h * (1 - fraction)
        value = top * fraction
        text = f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{escape(text)}</text>'
        )
    parts.append(f'<text x="4" y="{TOP - 4}" font-size="11" fill="#555">{escape(unit)}</text>')
    if labels:
        for index in sorted({0, len(labels) - 1}):
            x = _x(index, len(labels))
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="10" text-anchor="middle">'
                f"{escape(labels[index])}</text>"
            )
    return parts


def _x(index: int, count: int) -> float:
    inner_w = WIDTH - LEFT - RIGHT
    if count <= 1:
        return LEFT + inner_w / 2
    return LEFT + 10 + (inner_w - 20) * index / (count - 1)


def _legend(names: list[str]) -> list[str]:
    parts = []
    x = LEFT
    for index, name in enumerate(names):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{HEIGHT - 5}" font-size="11">{escape(name)}</text>')
        x += 22 + 7 * len(name)
    return parts


def line_plot(
    plot_id: str, title: str, labels: list[str], series: dict[str, list[float | None]], unit: str
) -> str:
    """One polyline (and a dot per run) per series over the runs; a None value (a run without
    that step) is a gap."""
    top = _scale(max((v for values in series.values() for v in values if v is not None), default=0))
    inner_h = HEIGHT - TOP - BOTTOM
    parts = _frame(plot_id, title, top, labels, unit)
    for index, (name, values) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = [
            (_x(i, len(values)), TOP + inner_h * (1 - v / top), v, labels[i] if i < len(labels) else "")
            for i, v in enumerate(values)
            if v is not None
        ]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        for x, y, value, label in points:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}" data-series="{escape(name)}" '
                f'data-value="{value:g}"><title>{escape(label)}: {escape(name)} {value:g}</title></circle>'
            )
    parts.extend(_legend(list(series)))
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(
    plot_id: str, title: str, labels: list[str], stacks: list[dict[str, float]], unit: str
) -> str:
    """One bar per run, stacked by key (the steps), in the order keys first appear."""
    keys: list[str] = []
    for stack in stacks:
        keys.extend(k for k in stack if k not in keys)
    top = _scale(max((sum(stack.values()) for stack in stacks), default=0))
    inner_h = HEIGHT - TOP - BOTTOM
    inner_w = WIDTH - LEFT - RIGHT
    width = max(2.0, min(40.0, (inner_w - 20) / max(1, len(stacks)) * 0.7))
    parts = _frame(plot_id, title, top, labels, unit)
    for index, stack in enumerate(stacks):
        x = _x(index, len(stacks)) - width / 2
        y = TOP + inner_h
        for key in keys:
            value = stack.get(key) or 0.0
            if value <= 0:
                continue
            height = inner_h * value / top
            y -= height
            colour = COLOURS[keys.index(key) % len(COLOURS)]
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{colour}">'
                f"<title>{escape(labels[index] if index < len(labels) else '')}: {escape(key)} "
                f"{value:.2f} {escape(unit)}</title></rect>"
            )
    parts.extend(_legend(keys))
    parts.append("</svg>")
    return "".join(parts)


def history_plots(runs: list[dict[str, Any]]) -> str:
    """The plots of a source page: records, errors and deletions; seconds per step."""
    if not runs:
        return ""
    labels = [str(run["finished_at"])[:16].replace("T", " ") for run in runs]
    records = line_plot(
        "plot-records",
        "Records per run",
        labels,
        {
            "in (harvested)": [None if r["records_in"] is None else float(r["records_in"]) for r in runs],
            "out (transformed)": [
                None if r["records_out"] is None else float(r["records_out"]) for r in runs
            ],
            "errors": [float(r["errors"]) for r in runs],
            "deleted": [float(r["deleted"]) for r in runs],
        },
        "records",
    )
    durations = stacked_bars(
        "plot-durations",
        "Seconds per step",
        labels,
        [{s["step"]: float(s.get("seconds") or 0) for s in r["steps"]} for r in runs],
        "seconds",
    )
    return records + durations
