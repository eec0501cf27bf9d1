"""Benchmark outputs: accuracy tables, calibration, ``summary.json`` and ``report.html``.

Files written into the benchmark's ``out_dir``:
``graded.csv`` (one row per cluster and method), ``by_method.csv``, ``by_dataset.csv``,
``by_tissue.csv``, ``sweep.csv`` (marker-count sweep), ``calibration_curve.csv`` and
``calibration_bands.csv`` (pipeline runs), ``summary.json`` and ``report.html``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .calibrate import Calibration, calibrate


@dataclass
class BenchmarkResult:
    """What :func:`run_benchmark` measured; every table is also a CSV in ``out_dir``."""

    out_dir: Path
    graded: pd.DataFrame  # one row per cluster (and per extra method, see ``method`` column)
    by_dataset: pd.DataFrame
    by_tissue: pd.DataFrame
    by_method: pd.DataFrame
    sweep: pd.DataFrame | None
    calibration: Calibration | None
    summary: dict[str, Any]
    report_path: Path | None

    def to_frame(self) -> pd.DataFrame:
        return self.graded


def accuracy_table(graded: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group: clusters, graded, mean score, fully/partially/incorrect shares, tokens, cost."""
    rows = []
    for key, part in graded.groupby(by, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        scores = part["score"].dropna()
        n = len(scores)
        costs = part["cost_usd"].dropna() if "cost_usd" in part else pd.Series(dtype=float)
        rows.append({
            **dict(zip(by, key)),
            "clusters": len(part), "graded": n,
            "mean_score": round(float(scores.mean()), 4) if n else None,
            "fully": round(float((scores == 1).mean()), 4) if n else None,
            "partially": round(float((scores == 0.5).mean()), 4) if n else None,
            "incorrect": round(float((scores == 0).mean()), 4) if n else None,
            "not_graded": int(part["score"].isna().sum()),
            "llm_judged": int((part["rule"] == "llm_judge").sum()) if "rule" in part else 0,
            "tokens": int(part["tokens"].fillna(0).sum()) if "tokens" in part else None,
            "cost_usd": round(float(costs.sum()), 6) if len(costs) else None,
        })
    return pd.DataFrame(rows)


def write_outputs(out_dir: Path, graded: pd.DataFrame, extras: pd.DataFrame, sweep: pd.DataFrame | None, *,
                  mode: str, method: str, weight: float, report: bool, settings: dict[str, Any]):
    out_dir.mkdir(parents=True, exist_ok=True)
    everything = pd.concat([graded, extras], ignore_index=True) if len(extras) else graded
    by_method = accuracy_table(everything, ["method"])
    by_dataset = accuracy_table(everything, ["method", "dataset"])
    by_tissue = accuracy_table(everything, ["method", "dataset", "tissue"])
    calibration = None
    scored = graded.dropna(subset=["quality_score", "score"]) if "quality_score" in graded else graded.iloc[:0]
    if mode == "pipeline" and len(scored):
        calibration = calibrate(scored["quality_score"].tolist(), scored["score"].tolist(), weight=weight)
    own = by_method[by_method["method"] == method].iloc[0].to_dict() if len(by_method) else {}
    summary = {
        "settings": settings,
        "method": method,
        "accuracy": {k: _plain(v) for k, v in own.items() if k != "method"},
        "methods": [{k: _plain(v) for k, v in r.items()} for r in by_method.to_dict("records")],
        "rules": {str(k): int(v) for k, v in graded["rule"].value_counts().items()},
        "failed_clusters": int((graded["status"] != "ok").sum()),
        "calibration": {k: _plain(v) for k, v in calibration.as_dict().items()} if calibration else None,
        "sweep": [{k: _plain(v) for k, v in r.items()} for r in sweep.to_dict("records")] if sweep is not None else None,
    }
    everything.to_csv(out_dir / "graded.csv", index=False)
    by_method.to_csv(out_dir / "by_method.csv", index=False)
    by_dataset.to_csv(out_dir / "by_dataset.csv", index=False)
    by_tissue.to_csv(out_dir / "by_tissue.csv", index=False)
    if sweep is not None:
        sweep.to_csv(out_dir / "sweep.csv", index=False)
    if calibration is not None:
        calibration.curve.to_csv(out_dir / "calibration_curve.csv", index=False)
        calibration.bands.to_csv(out_dir / "calibration_bands.csv", index=False)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    report_path = None
    if report:
        from .report import render_benchmark_report

        report_path = render_benchmark_report(out_dir, everything, by_method=by_method, by_dataset=by_dataset,
                                              by_tissue=by_tissue, sweep=sweep, calibration=calibration,
                                              summary=summary)
    return BenchmarkResult(out_dir=out_dir, graded=everything, by_dataset=by_dataset, by_tissue=by_tissue,
                           by_method=by_method, sweep=sweep, calibration=calibration, summary=summary,
                           report_path=report_path)


def _plain(value):
    """JSON-safe scalars (numpy numbers to Python, NaN to None)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
