"""The tables of the R bridge: how data frames cross between R and the engine.

From R: a columnar file set R writes with ``writeBin()`` (``bridge_table()`` in R/bridge.R),
read here with NumPy: exact (full-precision doubles, ``Inf``, ``NA``, any text) and fast enough
for a 500,000-row marker table. To R: ``{columns, types, data}`` JSON with one R type per column,
decoded by ``bridge_frame()``; answers are small (one row per cluster), so JSON costs nothing
there and keeps R independent of NumPy/pandas versions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = ["CONSENSUS_TYPES", "SUBCLUSTER_TYPES", "SUMMARY_TYPES", "UNCERTAINTY_TYPES", "ensemble_types", "frame_from_r",
           "frame_to_r"]

# R types of the summary table's columns, fixed so a column keeps its type even when every
# value is missing (e.g. Score before scoring, Cost USD for models without a known price).
SUMMARY_TYPES = {
    "Cluster ID": "character",
    "Marker Number": "integer",
    "Iterations": "integer",
    "Score": "double",
    "Validated": "logical",
    "Boosted": "logical",
    "Tokens": "integer",
    "Cost USD": "double",
}
SUBCLUSTER_TYPES = {**SUMMARY_TYPES, "Group": "integer", "Attempts": "integer"}
# Uncertainty and consensus tables: score columns stay doubles even when no run was scored.
UNCERTAINTY_TYPES = {
    "Cluster ID": "character", "CS_CL": "double", "CS_LLM": "double", "CS_agent": "double", "CS": "double",
    "Uncertain": "logical", "Recommend Boost": "logical", "General Agreement": "double",
    "Subtype Agreement": "double", "Runs Answered": "integer",
}
CONSENSUS_TYPES = {
    "Cluster ID": "character", "Votes": "integer", "Majority Votes": "integer", "Agreement": "double",
    "Subtype Agreement": "double", "Left Out": "character",
}

# The ensemble table: agreement figures stay doubles and counts integers, also when no model answered.
ENSEMBLE_TYPES = {
    "Cluster ID": "character", "Consensus Proportion": "double", "Entropy": "double", "CS": "double",
    "Models Answered": "integer", "Initial Consensus Proportion": "double", "Rounds": "integer",
    "Deliberation Calls": "integer", "Tokens": "integer", "Cost USD": "double",
}


def ensemble_types(models: list[str]) -> dict[str, str]:
    """:data:`ENSEMBLE_TYPES` plus each model's token and cost columns."""
    per_model = {f"{m} {part}": kind for m in models for part, kind in (("Tokens", "integer"), ("Cost USD", "double"))}
    return {**ENSEMBLE_TYPES, **per_model}


_NA_INTEGER = -(2**31)  # R's NA_integer_, as writeBin() writes it


def frame_from_r(table: dict[str, Any]) -> pd.DataFrame:
    """Rebuild the data frame R wrote as a columnar file set (see ``bridge_table()`` in R).

    ``table["columnar"]`` has ``rows`` and one entry per column: ``name``, ``type`` and the
    ``file`` holding its values (little-endian float64 for doubles, int32 for integers,
    logicals and text codes; R's NA integer marks a missing value); text columns also carry
    ``levels``, the distinct values the codes point into. Values arrive exactly as R had them.
    """
    spec = table.get("columnar")
    if not isinstance(spec, dict):
        raise InputError("internal: the R bridge sent a table without its columnar description")
    rows = int(spec["rows"])
    names, arrays = [], []
    for column in spec["columns"]:
        names.append(column["name"])
        arrays.append(_column_from_r(column, rows))
    frame = pd.DataFrame(dict(enumerate(arrays)), index=pd.RangeIndex(rows))
    frame.columns = names  # set afterwards: R allows repeated column names, a dict does not
    return frame


def _column_from_r(column: dict[str, Any], rows: int) -> np.ndarray:
    kind = column["type"]
    if kind == "double":
        return np.fromfile(column["file"], dtype="<f8", count=rows)
    raw = np.fromfile(column["file"], dtype="<i4", count=rows)
    missing = raw == _NA_INTEGER
    if kind == "integer":
        if missing.any():  # as pandas would: an integer column with gaps becomes floats
            values = raw.astype(float)
            values[missing] = np.nan
            return values
        return raw.astype(np.int64)
    if kind == "logical":
        if not missing.any():
            return raw.astype(bool)
        return np.array([None if gap else bool(v) for v, gap in zip(raw.tolist(), missing.tolist())], dtype=object)
    if kind == "character":
        levels = np.array([*column.get("levels", []), None], dtype=object)
        codes = np.where(missing, len(levels) - 1, raw)
        return levels[codes]
    raise InputError(f"internal: the R bridge sent column {column.get('name')!r} of unknown type {kind!r}")


def _r_type(series: pd.Series) -> str:
    """The R vector type a column becomes: logical, integer, double or character."""
    if pd.api.types.is_bool_dtype(series):
        return "logical"
    if pd.api.types.is_integer_dtype(series):
        return "integer" if series.dropna().abs().le(2**31 - 1).all() else "double"
    if pd.api.types.is_float_dtype(series):
        return "double"
    values = [v for v in series.tolist() if not _is_missing(v)]
    if values and all(isinstance(v, bool) for v in values):
        return "logical"
    if values and all(isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**31 for v in values):
        return "integer"
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "double"
    return "character"


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _r_value(value: Any, r_type: str) -> Any:
    if _is_missing(value):
        return None
    if r_type == "logical":
        return bool(value)
    if r_type == "integer":
        return int(value)
    if r_type == "double":
        number = float(value)
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return number
    return value if isinstance(value, str) else str(value)


def frame_to_r(frame: pd.DataFrame, types: dict[str, str] | None = None) -> dict[str, Any]:
    """Encode a data frame as ``{columns, types, data}`` for the R side.

    ``types`` fixes the R type of named columns; the others are inferred from their values.
    """
    columns = [str(c) for c in frame.columns]
    fixed = types or {}
    types = [fixed.get(name) or _r_type(frame.iloc[:, i]) for i, name in enumerate(columns)]
    data = [[_r_value(v, t) for v in frame.iloc[:, i].tolist()] for i, t in enumerate(types)]
    return {"columns": columns, "types": types, "data": data}
