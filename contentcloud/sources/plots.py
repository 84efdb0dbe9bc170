"""Small server-side SVG plots of a datasource's run history (no JavaScript, no CDN).

Two kinds: lines over the runs (records in/out, errors, deletions) and stacked bars of the
seconds per step. Every text is escaped; the SVG is inlined into the page.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 16, 40
COLOURS = ("#1f77b4", "#ff7f0e", "#d62728", "#7f7f7f", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
#: the SVG template (templates/plot.svg; SVG is XML, so HTML autoescape escapes it too): the
#: geometry is computed here, every text is escaped by the template
_TEMPLATES = Environment(
    loader=PackageLoader("contentcloud.sources"), autoescape=True, undefined=StrictUndefined
)


def _scale(maximum: float) -> float:
    """A round upper bound for the y axis."""
    if maximum <= 0:
        return 1.0
    step = 10 ** len(str(int(maximum))) / 10
    for factor in (1, 2, 5, 10):
        if maximum <= step * factor:
            return step * factor
    return maximum


def _svg(plot_id: str, title: str, top: float, labels: list[str], unit: str, **shapes: Any) -> Markup:
    """The plot's frame (axes, ticks, first and last run's labels) around its shapes."""
    inner_h = HEIGHT - TOP - BOTTOM
    ticks = []
    for fraction in (0, 0.5, 1):
        y = TOP + inner_h * (1 - fraction)
        value = top * fraction
        ticks.append((f"{y + 4:.1f}", f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"))
    shown = [(f"{_x(i, len(labels)):.1f}", labels[i]) for i in sorted({0, len(labels) - 1})] if labels else []
    values = {"lines": [], "bars": [], "legend": [], **shapes}
    page = _TEMPLATES.get_template("plot.svg").render(
        id=plot_id, title=title, unit=unit, width=WIDTH, height=HEIGHT, left=LEFT, right=WIDTH - RIGHT,
        top=TOP, bottom=TOP + inner_h, ticks=ticks, labels=shown, **values,
    )  # fmt: skip
    return Markup(page)  # noqa: S704 -- the autoescaped template


def _x(index: int, count: int) -> float:
    inner_w = WIDTH - LEFT - RIGHT
    if count <= 1:
        return LEFT + inner_w / 2
    return LEFT + 10 + (inner_w - 20) * index / (count - 1)


def _legend(names: list[str]) -> list[tuple[int, str, str]]:
    """(x, colour, name) of each legend entry."""
    entries = []
    x = LEFT
    for index, name in enumerate(names):
        entries.append((x, COLOURS[index % len(COLOURS)], name))
        x += 22 + 7 * len(name)
    return entries


def line_plot(
    plot_id: str, title: str, labels: list[str], series: dict[str, list[float | None]], unit: str
) -> Markup:
    """One polyline (and a dot per run) per series over the runs; a None value (a run without
    that step) is a gap."""
    top = _scale(max((v for values in series.values() for v in values if v is not None), default=0))
    inner_h = HEIGHT - TOP - BOTTOM
    lines = []
    for index, (name, values) in enumerate(series.items()):
        points = [
            (_x(i, len(values)), TOP + inner_h * (1 - v / top), v, labels[i] if i < len(labels) else "")
            for i, v in enumerate(values)
            if v is not None
        ]
        lines.append(
            {
                "name": name,
                "colour": COLOURS[index % len(COLOURS)],
                "path": " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points) if len(points) > 1 else "",
                "points": [(f"{x:.1f}", f"{y:.1f}", f"{v:g}", label) for x, y, v, label in points],
            }
        )
    return _svg(plot_id, title, top, labels, unit, lines=lines, legend=_legend(list(series)))


def stacked_bars(
    plot_id: str, title: str, labels: list[str], stacks: list[dict[str, float]], unit: str
) -> Markup:
    """One bar per run, stacked by key (the steps), in the order keys first appear."""
    keys: list[str] = []
    for stack in stacks:
        keys.extend(k for k in stack if k not in keys)
    top = _scale(max((sum(stack.values()) for stack in stacks), default=0))
    inner_h = HEIGHT - TOP - BOTTOM
    inner_w = WIDTH - LEFT - RIGHT
    width = max(2.0, min(40.0, (inner_w - 20) / max(1, len(stacks)) * 0.7))
    bars = []
    for index, stack in enumerate(stacks):
        x = _x(index, len(stacks)) - width / 2
        y = TOP + inner_h
        for key in keys:
            value = stack.get(key) or 0.0
            if value <= 0:
                continue
            height = inner_h * value / top
            y -= height
            bars.append(
                {
                    "x": f"{x:.1f}", "y": f"{y:.1f}", "width": f"{width:.1f}", "height": f"{height:.1f}",
                    "colour": COLOURS[keys.index(key) % len(COLOURS)],
                    "label": labels[index] if index < len(labels) else "", "key": key,
                    "value": f"{value:.2f}",
                }
            )  # fmt: skip
    return _svg(plot_id, title, top, labels, unit, bars=bars, legend=_legend(keys))


def history_plots(runs: list[dict[str, Any]]) -> Markup:
    """The plots of a source page: records, errors and deletions; seconds per step."""
    if not runs:
        return Markup("")
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
