"""Geometry of the evaluation charts, drawn as inline SVG by ``evaluate_charts.j2``.

Each function returns plain data (coordinates, labels, colours); the template turns it into
SVG elements with autoescaping, so labels from user data are safe and the page needs no
plotting library or script. Charts: grouped bars (accuracy per dataset and method), box plots
(Scorer score by correctness) and lines (marker-count sweep, mixture detection).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

PALETTE = ("#3b6ea5", "#d08c2e", "#4f9a6b", "#b5525c", "#7a5ea8", "#6b7b8c", "#c2a83e", "#2d9c9c",
           "#9c5b2d", "#5b8fd0", "#8fbf4f", "#d06fa0")
WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 16, 78


def _frame(width: int, height: int, bottom: int = BOTTOM, left: int = LEFT) -> dict[str, float]:
    return {"width": width, "height": height, "left": left, "right": width - RIGHT,
            "top": TOP, "bottom": height - bottom}


def _ticks(y_min: float, y_max: float, y, count: int = 5) -> list[dict[str, Any]]:
    step = (y_max - y_min) / count
    return [{"y": y(y_min + i * step), "label": f"{y_min + i * step:g}"} for i in range(count + 1)]


def bar_chart(groups: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], *,
              y_max: float = 1.0, y_label: str = "mean score", width: int = WIDTH,
              height: int = HEIGHT) -> dict[str, Any] | None:
    """Grouped bars: one group per entry of ``groups``, one bar per series (None: no bar)."""
    if not groups or not series:
        return None
    width = max(width, LEFT + RIGHT + len(groups) * max(22, 10 * len(series)))  # room for every label
    longest = min(max(len(g) for g in groups), 22)
    height += 5 * longest  # rotated labels hang below the axis and to the left
    frame = _frame(width, height, bottom=BOTTOM + 5 * longest, left=LEFT + 3 * longest)
    left = frame["left"]
    plot_w, plot_h = frame["right"] - left, frame["bottom"] - TOP
    group_w = plot_w / len(groups)
    bar_w = max(2.0, min(36.0, group_w * 0.8 / len(series)))

    def y(value: float) -> float:
        return round(TOP + plot_h * (1 - min(max(value, 0.0), y_max) / y_max), 1)

    bars, labels = [], []
    for gi, group in enumerate(groups):
        start = left + gi * group_w + (group_w - bar_w * len(series)) / 2
        for si, (name, values) in enumerate(series):
            value = values[gi] if gi < len(values) else None
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            bars.append({"x": round(start + si * bar_w, 1), "y": y(value), "width": round(bar_w - 1, 1),
                         "height": round(y(0) - y(value), 1), "color": PALETTE[si % len(PALETTE)],
                         "title": f"{group} · {name}: {value:.2f}"})
        labels.append({"x": round(left + (gi + 0.5) * group_w, 1), "y": frame["bottom"] + 12,
                       "text": group if len(group) <= 22 else group[:21] + "…", "full": group})
    legend = [{"name": name, "color": PALETTE[i % len(PALETTE)]} for i, (name, _) in enumerate(series)]
    return {**frame, "bars": bars, "labels": labels, "legend": legend, "y_label": y_label,
            "y_ticks": _ticks(0.0, y_max, y)}


def box_plot(groups: Sequence[tuple[str, Sequence[float]]], *, y_min: float = 0.0, y_max: float = 100.0,
             y_label: str = "Scorer score", width: int = 520, height: int = HEIGHT) -> dict[str, Any] | None:
    """Tukey box plots (quartiles, whiskers at 1.5 IQR, outliers as dots), one per group."""
    groups = [(label, sorted(v for v in values if v is not None)) for label, values in groups]
    if not any(values for _, values in groups):
        return None
    frame = _frame(width, height)
    plot_w, plot_h = frame["right"] - LEFT, frame["bottom"] - TOP
    slot = plot_w / len(groups)

    def y(value: float) -> float:
        return round(TOP + plot_h * (1 - (value - y_min) / (y_max - y_min)), 1)

    boxes = []
    for gi, (label, values) in enumerate(groups):
        center = LEFT + (gi + 0.5) * slot
        entry: dict[str, Any] = {"label": label, "n": len(values), "x": round(center, 1),
                                 "label_y": frame["bottom"] + 14, "color": PALETTE[gi % len(PALETTE)]}
        if values:
            q1, median, q3 = quantile(values, 0.25), quantile(values, 0.5), quantile(values, 0.75)
            iqr = q3 - q1
            low = min(v for v in values if v >= q1 - 1.5 * iqr)
            high = max(v for v in values if v <= q3 + 1.5 * iqr)
            half = min(40.0, slot * 0.3)
            entry.update({
                "left": round(center - half, 1), "box_width": round(2 * half, 1),
                "q1": y(q1), "q3": y(q3), "median": y(median), "low": y(low), "high": y(high),
                "outliers": [y(v) for v in values if v < low or v > high],
                "title": f"{label}: n={len(values)}, median {median:g}, IQR {q1:g}–{q3:g}",
            })
        boxes.append(entry)
    return {**frame, "boxes": boxes, "y_label": y_label, "y_ticks": _ticks(y_min, y_max, y)}


def line_chart(x_values: Sequence[float], series: Sequence[tuple[str, Sequence[float | None]]], *,
               y_max: float = 1.0, x_label: str = "", y_label: str = "", width: int = 560,
               height: int = HEIGHT) -> dict[str, Any] | None:
    """Lines with markers over shared x values (evenly spaced, labelled with the values)."""
    if not x_values or not series:
        return None
    frame = _frame(width, height)
    plot_w, plot_h = frame["right"] - LEFT, frame["bottom"] - TOP
    step = plot_w / max(len(x_values) - 1, 1)

    def x(i: int) -> float:
        return round(LEFT + (i * step if len(x_values) > 1 else plot_w / 2), 1)

    def y(value: float) -> float:
        return round(TOP + plot_h * (1 - min(max(value, 0.0), y_max) / y_max), 1)

    lines = []
    for si, (name, values) in enumerate(series):
        points = [{"x": x(i), "y": y(v), "title": f"{name} at {x_values[i]:g}: {v:.2f}"}
                  for i, v in enumerate(values) if v is not None and not (isinstance(v, float) and math.isnan(v))]
        lines.append({"name": name, "color": PALETTE[si % len(PALETTE)], "points": points,
                      "path": " ".join(f"{p['x']},{p['y']}" for p in points)})
    legend = [{"name": line["name"], "color": line["color"]} for line in lines]
    return {**frame, "lines": lines, "legend": legend, "x_label": x_label, "y_label": y_label,
            "x_ticks": [{"x": x(i), "label": f"{v:g}"} for i, v in enumerate(x_values)],
            "y_ticks": _ticks(0.0, y_max, y)}


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile of an already sorted, non-empty sequence."""
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)
