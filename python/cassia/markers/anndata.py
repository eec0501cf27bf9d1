"""Markers from an AnnData, the way scanpy users keep them.

A ``rank_genes_groups`` result is read from the ``uns`` key the caller names (``rank_key``),
never from whichever key happens to exist: a result computed for another grouping is an error,
not a silent answer. When the key is absent and scanpy is installed, the result is computed
(Wilcoxon, with ``pts=True`` so the pct.1 filter applies) and the method and parameters are
returned for the run record. Gene names can come from a ``var`` column (``gene_symbols``, as
scanpy's own functions take it), so Ensembl-indexed objects work; Ensembl IDs without it are
an error that says which column to pass.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from . import checks
from .rgg import rank_genes_groups_frame

# var columns that usually hold gene symbols (10x, CELLxGENE, scanpy's read_10x_*)
SYMBOL_COLUMNS = ("gene_symbols", "gene_symbol", "feature_name", "gene_name", "gene_names", "symbol",
                  "symbols", "gene_ids")
DEFAULT_METHOD = "wilcoxon"


def looks_like_ensembl(names: Any) -> bool:
    """True when Ensembl IDs make up the share of ``names`` the marker checks refuse."""
    distinct = pd.Series(pd.unique(pd.Series(list(names), dtype=object).dropna().astype(str)))
    return bool(len(distinct)) and distinct.str.match(checks.ENSEMBL).sum() > checks.ID_SHARE * len(distinct)


def symbol_columns(var: pd.DataFrame) -> list[str]:
    """``var`` columns whose values look like gene symbols (not Ensembl IDs), likeliest first."""
    found = []
    for column in var.columns:
        values = var[column]
        if values.dtype.kind not in "OUS" and not isinstance(values.dtype, pd.CategoricalDtype):
            continue
        sample = values.dropna().astype(str).head(200)
        if len(sample) and not looks_like_ensembl(sample) and sample.str.match(r"^[A-Za-z][\w.\-]*$").mean() > 0.9:
            found.append(str(column))
    return sorted(found, key=lambda c: (c.lower() not in SYMBOL_COLUMNS, c))


def check_groupby(adata: Any, groupby: str) -> pd.Series:
    """The cells' groups, as text; an unknown or unusable ``groupby`` is an error naming the fix."""
    if not isinstance(groupby, str) or groupby not in adata.obs.columns:
        columns = [str(c) for c in adata.obs.columns]
        hint = checks.suggest(str(groupby), columns)
        raise InputError(f"groupby={groupby!r} is not a column of adata.obs.{hint} Its columns: {columns}")
    values = adata.obs[groupby]
    if values.isna().any():
        raise InputError(f"adata.obs[{groupby!r}] has {int(values.isna().sum())} cells without a group; "
                         "give them a group (or subset the AnnData) before annotating")
    return values.astype(str)


def compute_rank_genes_groups(adata: Any, *, groupby: str, rank_key: str,
                              method: str = DEFAULT_METHOD) -> dict[str, Any]:
    """Run ``sc.tl.rank_genes_groups`` into ``adata.uns[rank_key]``; return what was run."""
    try:
        sc = importlib.import_module("scanpy")
    except ModuleNotFoundError as err:
        raise ConfigError(
            f"adata.uns has no {rank_key!r} and scanpy is not installed to compute it: pip install "
            f"'cassia[scanpy]', or run sc.tl.rank_genes_groups(adata, groupby={groupby!r}, key_added={rank_key!r}) "
            "yourself first"
        ) from err
    if not isinstance(adata.obs[groupby].dtype, pd.CategoricalDtype):
        raise InputError(f"adata.obs[{groupby!r}] is not categorical, which rank_genes_groups needs; "
                         f"convert it with adata.obs[{groupby!r}] = adata.obs[{groupby!r}].astype('category')")
    params = {"groupby": groupby, "method": method, "pts": True, "key_added": rank_key}
    # scanpy cannot rank a group of fewer than two cells (an unused category has none) and refuses
    # the whole call: rank the others, and say which were left out and why.
    sizes = adata.obs[groupby].value_counts()
    categories = list(adata.obs[groupby].cat.categories)
    rankable = [g for g in categories if sizes.get(g, 0) >= 2]
    too_small = {str(g): int(sizes.get(g, 0)) for g in categories if sizes.get(g, 0) < 2}
    if len(rankable) < 2:
        raise InputError(f"adata.obs[{groupby!r}] has {len(rankable)} group(s) of two or more cells; ranking "
                         "marker genes needs at least two to compare")
    if too_small:
        params["groups"] = rankable
    sc.tl.rank_genes_groups(adata, **params)
    computed = {"key": rank_key, "computed": True, "method": method, "params": params,
                "scanpy": metadata.version("scanpy")}
    if too_small:
        computed["not_ranked"] = too_small  # group -> cells: nothing to rank, so not annotated
    return computed


def _stored_params(result: Mapping) -> dict[str, Any]:
    params = result.get("params")
    if not isinstance(params, Mapping):
        return {}
    out = {}
    for name, value in params.items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
            value = value[0] if isinstance(value, list) and len(value) == 1 else value
        elif isinstance(value, np.generic):
            value = value.item()
        out[str(name)] = value
    return out


def _symbols_for(adata: Any, gene_symbols: str, names: pd.Series) -> pd.Series:
    """Each ranked name's symbol from ``var[gene_symbols]`` (``raw.var`` when the result used raw)."""
    tables = [adata.var] + ([adata.raw.var] if getattr(adata, "raw", None) is not None else [])
    if not any(gene_symbols in t.columns for t in tables):
        columns = [str(c) for c in adata.var.columns]
        raise InputError(f"gene_symbols={gene_symbols!r} is not a column of adata.var."
                         f"{checks.suggest(gene_symbols, columns)} Its columns: {columns}")
    best = pd.Series(np.nan, index=names.index, dtype=object)
    for table in tables:
        if gene_symbols in table.columns:
            mapping = table[gene_symbols].astype(object)
            mapping.index = table.index.astype(str)
            best = best.fillna(names.map(mapping))
    return best


def rank_genes_groups_table(adata: Any, *, groupby: str, rank_key: str,
                            gene_symbols: str | None = None) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """``uns[rank_key]`` as rank_genes_groups_df's long table, checked against ``groupby``.

    Returns the table (``group``, ``names`` as symbols, statistics), notes for the MarkerSet and
    the stored method and parameters.
    """
    if rank_key not in adata.uns:
        raise InputError(f"adata.uns has no {rank_key!r}; run sc.tl.rank_genes_groups(adata, groupby={groupby!r}, "
                         f"key_added={rank_key!r}) first")
    result = adata.uns[rank_key]
    if not isinstance(result, Mapping) or "names" not in result:
        raise InputError(f"adata.uns[{rank_key!r}] is not a rank_genes_groups result (it has no 'names'); "
                         "pass the key sc.tl.rank_genes_groups wrote to as rank_key")
    params = _stored_params(result)
    stored = params.get("groupby")
    if stored is not None and str(stored) != groupby:
        raise InputError(
            f"adata.uns[{rank_key!r}] ranks genes for groupby={stored!r}, not {groupby!r}; using it would "
            f"label the wrong groups. Run sc.tl.rank_genes_groups(adata, groupby={groupby!r}, key_added='...') "
            f"and pass that key as rank_key, or pass rank_key='cassia_{groupby}' to have CASSIA compute it there"
        )
    frame, notes = rank_genes_groups_frame({rank_key: result}, key=rank_key)
    if gene_symbols is not None:
        symbols = _symbols_for(adata, gene_symbols, frame["names"])
        missing = symbols.isna() | (symbols.astype(str).str.strip() == "")
        if missing.all():
            raise InputError(f"none of the ranked genes has a symbol in adata.var[{gene_symbols!r}]; "
                             "check that the column belongs to this object's var_names")
        if missing.any():
            notes.append(f"{int(missing.sum())} ranked genes without a symbol in var[{gene_symbols!r}] were left out")
        frame = frame[~missing].assign(names=symbols[~missing].astype(str).to_numpy())
    elif looks_like_ensembl(frame["names"]):
        candidates = symbol_columns(adata.var)
        hint = (f"; adata.var has {candidates[0]!r}, which looks like symbols" if candidates
                else "; add a var column with the symbols")
        raise InputError(
            f"the ranked genes in adata.uns[{rank_key!r}] are Ensembl IDs ({frame['names'].iloc[0]}, ...), which the "
            f"agents cannot read as markers: pass gene_symbols='<var column with gene symbols>'{hint}"
        )
    return frame, notes, params
