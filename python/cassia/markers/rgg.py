"""A Scanpy ``rank_genes_groups`` result (an AnnData's ``uns`` entry) as one long table.

The same shape ``sc.get.rank_genes_groups_df`` produces (``group``, ``names``, the statistics,
``pct_nz_group``/``pct_nz_reference`` when computed with ``pts=True``), so one code path reads
it and the text tables.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from ..spelling import spell
from .checks import suggest

RGG_KEY = "rank_genes_groups"
# Fields of a rank_genes_groups result that hold one value per (gene, group).
RGG_FIELDS = ("scores", "logfoldchanges", "pvals", "pvals_adj")


def _pick_key(uns: Mapping) -> tuple[str, list[str]]:
    candidates = [k for k, v in uns.items() if isinstance(v, Mapping) and "names" in v]
    if len(candidates) == 1:
        note = [] if candidates[0] == RGG_KEY else [f"used the rank_genes_groups result stored under uns[{candidates[0]!r}]"]
        return candidates[0], note
    if candidates:  # the default key must not silently win over a result stored elsewhere
        raise InputError(
            f"the AnnData holds several rank_genes_groups results {candidates}; say which one with "
            f"{spell('rank_key', candidates[0])} (or a name from the list)"
        )
    raise InputError(
        "the AnnData has no uns['rank_genes_groups']; run sc.tl.rank_genes_groups(adata, "
        "groupby='leiden', pts=True) first (pts=True adds the pct.1/pct.2 statistics)"
    )


def _by_group(value: object, field: str) -> dict[str, np.ndarray]:
    """One array per group from a record array, a DataFrame or a dict of arrays."""
    if isinstance(value, pd.DataFrame):
        return {str(c): value[c].to_numpy() for c in value.columns}
    if isinstance(value, np.ndarray) and value.dtype.names:
        return {str(n): np.asarray(value[n]) for n in value.dtype.names}
    if isinstance(value, Mapping):
        return {str(k): np.asarray(v) for k, v in value.items()}
    raise InputError(
        f"uns['rank_genes_groups'][{field!r}] is a {type(value).__name__}, not one column per "
        "group; rerun sc.tl.rank_genes_groups or pass sc.get.rank_genes_groups_df(adata, None)"
    )


def _as_text(values: np.ndarray) -> list[str | None]:
    out = []
    for v in values:
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        out.append(None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return out


def rank_genes_groups_frame(uns: Mapping, *, key: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Flatten the rank_genes_groups result under ``key`` (else the only one) into rank_genes_groups_df's long table."""
    key, notes = (key, []) if key is not None else _pick_key(uns)
    result = uns.get(key)
    if not isinstance(result, Mapping) or "names" not in result:
        stored = [k for k, v in uns.items() if isinstance(v, Mapping) and "names" in v]
        raise InputError(f"there is no rank_genes_groups result under uns[{key!r}]; the rankings stored are "
                         f"{stored}.{suggest(key, stored)}")
    names = _by_group(result["names"], "names")
    fields = {f: _by_group(result[f], f) for f in RGG_FIELDS if f in result}
    pts = {name: result[name] for name in ("pts", "pts_rest") if isinstance(result.get(name), pd.DataFrame)}
    parts = []
    for group, genes in names.items():
        part = pd.DataFrame({"group": group, "names": _as_text(genes)})
        for f, columns in fields.items():
            part[f] = pd.to_numeric(pd.Series(columns[group]), errors="coerce").to_numpy()
        for name, column in (("pts", "pct_nz_group"), ("pts_rest", "pct_nz_reference")):
            if name in pts and group in pts[name].columns:
                table = pts[name]
                part[column] = table[group].reindex(part["names"]).to_numpy()
        # filter_rank_genes_groups blanks filtered genes to NaN: they are not markers
        parts.append(part[part["names"].notna()])
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["group", "names"])
    return frame, notes
