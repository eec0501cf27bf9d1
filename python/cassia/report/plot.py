"""Geometry of the score histogram drawn as inline SVG (10-point bins, threshold line).

The numbers are computed here; ``templates/_histogram.j2`` turns them into SVG elements, so the
chart needs no plotting library and no script, and prints like the rest of the page.
"""

from __future__ import annotations

import math
from typing import Any

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 24, 44
BIN_WIDTH = 10


def _tick_step(top: int) -> int:
    """A whole-number step giving at most about five gridlines."""
    step = max(1, math.ceil(top / 5))
    for nice in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if nice >= step:
            return nice
    return step


def histogram(scores: list[float], threshold: float) -> dict[str, Any] | None:
    """Bars for scores 0-100 in 10-point bins (100 falls in the last bin); None with no scores."""
    if not scores:
        return None
    counts = [0] * (100 // BIN_WIDTH)
    for score in scores:
        index = min(int(max(score, 0) // BIN_WIDTH), len(counts) - 1)
        counts[index] += 1
    step = _tick_step(max(counts))
    # Half a step of headroom keeps the tallest bar's count clear of the threshold label.
    top = step * math.ceil((max(counts) + step / 2) / step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(value: float) -> float:
        return round(LEFT + plot_w * value / 100, 1)

    def y(count: float) -> float:
        return round(TOP + plot_h * (1 - count / top), 1)

    bars = []
    for i, count in enumerate(counts):
        low, high = i * BIN_WIDTH, (i + 1) * BIN_WIDTH
        bars.append(
            {
                "x": x(low) + 1,
                "y": y(count),
                "width": round(x(high) - x(low) - 2, 1),
                "height": round(y(0) - y(count), 1),
                "count": count,
                "label_x": round((x(low) + x(high)) / 2, 1),
                "label_y": y(count) - 5,
                "range": f"{low}–{high if high < 100 else 100}",
                # Bins wholly above or below the threshold take its colours; the one it cuts stays neutral.
                "tone": "high" if low >= threshold else "low" if high <= threshold else "mixed",
            }
        )
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": y(0),
        "bars": bars,
        "x_ticks": [{"x": x(v), "label": v} for v in range(0, 101, BIN_WIDTH)],
        "y_ticks": [{"y": y(v), "label": v} for v in range(0, top + 1, step)],
        "threshold": {"x": x(min(max(threshold, 0), 100)), "label": f"threshold {threshold:g}"},
        "total": len(scores),
    }
