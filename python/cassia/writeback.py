"""Labels into an AnnData: the Python twin of R's ``add_cassia_to_seurat``.

Every cell gets its group's answer in ``obs`` (``{key}_general``, ``{key}_detailed``,
``{key}_ontology_id`` and ``{key}_status`` as categoricals, ``{key}_score`` as numbers), and the
run is recorded in ``uns[key]``. A group whose annotation failed keeps the labels an earlier
write left in those columns and is named in a warning; nothing turns into NaN without its
status saying why. Groups are matched exactly, as text ("1" never takes "10"'s answer).
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

LABELS = ("general", "detailed", "ontology_id")
# summary.csv column behind each obs column
SOURCE = {"general": "Predicted General Cell Type", "detailed": "Predicted Detailed Cell Type",
          "ontology_id": "Cell Ontology ID", "score": "Score"}
OK, FAILED, KEPT, MISSING = "ok", "failed", "failed (earlier label kept)", "not annotated"
UNVALIDATED = "unvalidated"  # labelled, but the answer never passed the Validator (summary Status)


class AnnotationWarning(UserWarning):
    """Some groups failed to annotate; their cells keep what they had (see ``{key}_status``)."""


def columns_for(key: str) -> list[str]:
    return [f"{key}_{name}" for name in (*LABELS[:2], "score", LABELS[2], "status")]


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def write_labels(adata: Any, summary: pd.DataFrame, *, groupby: str, key: str,
                 record: dict[str, Any]) -> dict[str, Any]:
    """Write ``summary`` (one row per group, summary.csv's columns) into ``adata``; return the record.

    ``record`` (settings without secrets, versions, run directory, ...) is stored in
    ``adata.uns[key]`` with the per-group table and what happened to each group added.
    """
    if groupby not in adata.obs.columns:
        raise InputError(f"groupby={groupby!r} is not a column of adata.obs; pass the column the markers "
                         f"were computed for. Its columns: {[str(c) for c in adata.obs.columns]}")
    if not isinstance(key, str) or not key.strip():
        raise InputError(f"key_added must be a non-empty string (got {key!r})")
    groups = adata.obs[groupby].astype(str)
    rows = summary.assign(**{"Cluster ID": summary["Cluster ID"].astype(str)}).set_index("Cluster ID")
    if rows.index.duplicated().any():
        raise InputError(f"the results have more than one row for group(s) {sorted(set(rows.index[rows.index.duplicated()]))}")
    present = list(dict.fromkeys(groups))
    if not set(present) & set(rows.index):
        raise InputError(f"none of the annotated groups ({list(rows.index)[:10]}) is a value of adata.obs[{groupby!r}] "
                         f"({present[:10]}); pass the groupby the run was made for")
    previous = {name: adata.obs[f"{key}_{name}"] for name in (*LABELS, "score") if f"{key}_{name}" in adata.obs}
    earlier = previous.get("general")
    labelled = set(groups[earlier.notna()]) if earlier is not None else set()
    status: dict[str, str] = {}
    for group in present:
        if group not in rows.index:
            status[group] = MISSING
        elif "Status" not in rows.columns or rows.at[group, "Status"] in (OK, UNVALIDATED):
            status[group] = rows.at[group, "Status"] if "Status" in rows.columns else OK
        else:  # failed: an earlier write's labels stay
            status[group] = KEPT if group in labelled else FAILED
    cell_status = groups.map(status)
    fresh = cell_status.isin([OK, UNVALIDATED]).to_numpy()
    for name in (*LABELS, "score"):
        new = groups.map(rows[SOURCE[name]]) if SOURCE[name] in rows.columns else pd.Series(np.nan, index=groups.index)
        old = previous.get(name)
        if name == "score":
            values = pd.to_numeric(new, errors="coerce").where(fresh)
            if old is not None:
                values = values.where(fresh, pd.to_numeric(old, errors="coerce"))
            adata.obs[f"{key}_score"] = values.astype(float)
            continue
        values = new.map(_text).where(fresh, None).astype(object)
        if old is not None:
            values = values.where(fresh, old.astype(object).map(_text))
        adata.obs[f"{key}_{name}"] = pd.Categorical(values)
    adata.obs[f"{key}_status"] = pd.Categorical(cell_status, categories=[OK, UNVALIDATED, KEPT, FAILED, MISSING]
                                                ).remove_unused_categories()
    failed = {g: s for g, s in status.items() if s in (KEPT, FAILED)}
    if failed:  # groups the run left out on purpose (clusters=) are not failures: their status says so
        warnings.warn(AnnotationWarning(
            f"{len(failed)} group(s) of {groupby!r} failed to annotate: "
            + ", ".join(f"{g!r} ({s})" for g, s in failed.items())
            + f"; see obs[{key + '_status'!r}] and the run's summary.csv (Error). Rerun with resume=True "
            "to retry them"), stacklevel=3)
    table = _group_table(rows, status)
    stored = {**record, "groupby": groupby, "columns": columns_for(key),
              "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "failed": list(failed), "not_in_run": [g for g, s in status.items() if s == MISSING],
              "groups": table}
    adata.uns[key] = h5ad_safe(stored)
    return stored


def _group_table(rows: pd.DataFrame, status: dict[str, str]) -> pd.DataFrame:
    keep = [c for c in ("Predicted General Cell Type", "Predicted Detailed Cell Type", "Cell Ontology ID",
                        "Score", "Status", "Error", "Marker List") if c in rows.columns]
    table = rows[keep].reindex(list(dict.fromkeys([*status, *rows.index]))).reset_index(names="group")
    table["written"] = table["group"].map(status).fillna("group not in obs")
    for column in table.columns:
        if column != "Score":
            table[column] = table[column].map(lambda v: "" if _text(v) is None else str(v)).astype(str)
    table["Score"] = pd.to_numeric(table.get("Score"), errors="coerce").astype(float)
    return table


def h5ad_safe(value: Any) -> Any:
    """``value`` in the forms ``write_h5ad`` stores: no None, lists as arrays, odd things as JSON text."""
    if isinstance(value, pd.DataFrame):
        return value
    if isinstance(value, dict):
        return {str(k): h5ad_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        items = [v for v in value if v is not None]
        if all(isinstance(v, str) for v in items):
            return np.array(items, dtype=object) if items else np.array([], dtype=str)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items):
            return np.array(items, dtype=float)
        return json.dumps(value, default=str)
    if isinstance(value, (str, bool, int, float, np.generic)):
        return value
    return str(value)
