"""HTML pages of the benchmark and the mixture simulation (self-contained, inline SVG).

Templates: ``cassia/report/templates/evaluate_report.html.j2`` and
``evaluate_simulation.html.j2``, on the report's base page and with autoescaping on.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from ..report.render import environment, write_page
from . import plots
from .calibrate import Calibration

GRADE_LABELS = {0.0: "incorrect (0)", 0.5: "partial (0.5)", 1.0: "correct (1)"}


def table_view(frame: pd.DataFrame | None, *, limit: int | None = None) -> dict[str, Any] | None:
    """Columns, formatted cell strings and which columns are numeric, for the table macro."""
    if frame is None or frame.empty:
        return None
    shown = frame if limit is None else frame.head(limit)
    numeric = [pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c])
               for c in shown.columns]
    rows = [[_cell(v) for v in record] for record in shown.itertuples(index=False)]
    return {"columns": [str(c) for c in shown.columns], "rows": rows, "numeric": numeric,
            "truncated": len(frame) - len(shown)}


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) or abs(value) < 1e6 else f"{value:g}"
    return str(value)


def render_benchmark_report(out_dir: Path, graded: pd.DataFrame, *, by_method: pd.DataFrame,
                            by_dataset: pd.DataFrame, by_tissue: pd.DataFrame, sweep: pd.DataFrame | None,
                            calibration: Calibration | None, summary: dict) -> Path:
    methods = list(dict.fromkeys(by_dataset["method"]))
    datasets = list(dict.fromkeys(by_dataset["dataset"].astype(str)))
    series = []
    for method in methods:
        part = by_dataset[by_dataset["method"] == method]
        part = part.set_index(part["dataset"].astype(str))
        series.append((method, [_value(part, d) for d in datasets]))
    own = graded[graded["method"] == summary["method"]]
    tissue_part = by_tissue[by_tissue["method"] == summary["method"]]
    tissue_chart = plots.bar_chart([f"{d} · {t}" for d, t in zip(tissue_part["dataset"], tissue_part["tissue"])],
                                   [(summary["method"], list(tissue_part["mean_score"]))])
    boxes = None
    if "quality_score" in own and own["quality_score"].notna().any():
        groups = [(label, own.loc[own["score"] == grade, "quality_score"].dropna().tolist())
                  for grade, label in GRADE_LABELS.items()]
        boxes = plots.box_plot(groups)
    sweep_chart = None
    if sweep is not None and sweep["mean_score"].notna().any():
        done = sweep[sweep["mean_score"].notna()]
        sweep_chart = plots.line_chart(list(done["n_genes"]), [("mean score", list(done["mean_score"])),
                                                               ("fully correct", list(done["fully"]))],
                                       x_label="marker genes per cluster", y_label="share")
    columns = ["method", "dataset", "tissue", "cluster", "gold", "predicted", "score", "rule", "quality_score"]
    page = environment().get_template("evaluate_report.html.j2").render(
        title="CASSIA benchmark",
        summary=summary,
        dataset_chart=plots.bar_chart(datasets, series),
        tissue_chart=tissue_chart,
        boxes=boxes,
        sweep_chart=sweep_chart,
        by_method=table_view(by_method),
        by_dataset=table_view(by_dataset),
        by_tissue=table_view(by_tissue),
        sweep=table_view(sweep),
        calibration=calibration,
        bands=table_view(calibration.bands) if calibration else None,
        rows=table_view(graded[[c for c in columns if c in graded.columns]], limit=500),
    )
    return write_page(out_dir / "report.html", page)


def render_simulation_report(out_dir: Path, table: pd.DataFrame, chart: dict | None, extra: dict[str, Any]) -> Path:
    page = environment().get_template("evaluate_simulation.html.j2").render(
        title="CASSIA mixed-population simulation", table=table_view(table), chart=chart, extra=extra)
    return write_page(Path(out_dir) / "simulation.html", page)


def _value(part: pd.DataFrame, key: str):
    if key not in part.index:
        return None
    value = part.loc[key, "mean_score"]
    if isinstance(value, pd.Series):
        value = value.iloc[0]
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
