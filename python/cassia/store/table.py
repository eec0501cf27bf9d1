"""The summary table and spreadsheet-safe CSV writing.

``summary.csv`` keeps the columns CASSIA users know; ``Status`` says what a user may take from a
row: ``ok``, ``unvalidated`` (the answer never passed the Validator: a diagnosis, not a call) or
``failed`` (no answer). Text cells a spreadsheet would run as a
formula (starting with ``=``, ``+``, ``-``, ``@``, a tab, ...) get a leading ``'``, the way
spreadsheet-safe writers do; :func:`csv_unsafe` restores the original text when reading back.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from ..models import ClusterResult
from .log import TMP_SUFFIX

__all__ = ["SUMMARY_COLUMNS", "csv_safe", "csv_unsafe", "restore_csv", "summary_frame", "summary_order", "write_csv"]

SUMMARY_COLUMNS = [
    "Cluster ID", "Predicted General Cell Type", "Predicted Detailed Cell Type",
    "Possible Mixed Cell Types", "Marker Number", "Marker List", "Iterations", "Model", "Provider",
    "Tissue", "Species", "Score", "Scoring Reasoning", "Cell Ontology ID", "Subtypes", "Validated",
    "Boosted", "Status", "Error", "Tokens", "Cost USD",
]


# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def csv_safe(value: Any) -> Any:
    """A text cell a spreadsheet shows as text: formula-leading cells get a leading ``'``.

    Numbers (also "-1.5" as text) are left alone; text whose first character after any
    leading quotes is a formula character is escaped too, so :func:`csv_unsafe` restores
    every value exactly.
    """
    if isinstance(value, str) and value.lstrip("'")[:1] in FORMULA_START and value and not _NUMBER.match(value):
        return "'" + value
    return value


def csv_unsafe(value: Any) -> Any:
    """The original text of a cell written by :func:`csv_safe`."""
    if isinstance(value, str) and value.startswith("'") and value.lstrip("'")[:1] in FORMULA_START:
        return value[1:]
    return value


def restore_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """A table read back from a CSV written by :func:`write_csv`, with its text as it was."""
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(csv_unsafe)
    return frame


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` atomically with formula-leading text cells neutralised."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object:
            safe[column] = safe[column].map(csv_safe)
    tmp = path.with_name(f".{path.name}{TMP_SUFFIX}")
    try:
        safe.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def summary_order(path: Path) -> list[str]:
    """The Cluster IDs of a summary written by :func:`write_csv`, in its row order ([] without one)."""
    try:
        ids = pd.read_csv(path, usecols=["Cluster ID"], dtype=str, keep_default_na=False)["Cluster ID"]
    except (OSError, ValueError):  # not written yet, or not a summary: no order to keep
        return []
    return [csv_unsafe(c) for c in ids]


def summary_frame(results: Iterable[ClusterResult]) -> pd.DataFrame:
    """The summary table CASSIA users know (columns in :data:`SUMMARY_COLUMNS`)."""
    rows = []
    for r in results:
        ann = r.annotation or r.diagnosis
        annotator = r.stages.get("annotator")
        rows.append({
            "Cluster ID": r.cluster,
            "Predicted General Cell Type": ann.main_cell_type if ann else None,
            "Predicted Detailed Cell Type": ann.sub_cell_types[0] if ann and ann.sub_cell_types else None,
            "Possible Mixed Cell Types": ", ".join(ann.mixed_cell_types) if ann else None,
            "Marker Number": len(r.markers),
            "Marker List": ", ".join(r.markers),
            "Iterations": r.iterations,
            "Model": annotator.model if annotator else None,
            "Provider": annotator.provider if annotator else None,
            "Tissue": r.tissue,
            "Species": r.species,
            "Score": r.score.score if r.score else None,
            "Scoring Reasoning": r.score.reasoning if r.score else None,
            "Cell Ontology ID": r.cell_ontology_id,
            "Subtypes": ", ".join(ann.sub_cell_types) if ann else None,
            "Validated": r.validated,
            "Boosted": r.boosted,
            "Status": r.outcome,  # ok, unvalidated (only a diagnosis) or failed
            "Error": r.error,
            "Tokens": r.tokens,
            "Cost USD": r.cost_usd,
        })
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    frame["Cluster ID"] = frame["Cluster ID"].astype(str)
    frame["Score"] = pd.to_numeric(frame["Score"], errors="coerce")
    return frame
