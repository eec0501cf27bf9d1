"""Input checks: every way a marker table can be unusable, each with a message saying the fix.

These run on the normalised long table (``cluster``, ``gene``, statistics) built by
:mod:`cassia.markers.columns`; they raise :class:`~cassia.errors.InputError` only.
"""

from __future__ import annotations

import difflib
import math
import re

import numpy as np
import pandas as pd

from ..errors import InputError
from .names import NA_TEXT
from .types import MarkerFilters

ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")
ENTREZ = re.compile(r"^\d+$")
# Above this share of distinct gene names, the column holds IDs rather than symbols.
ID_SHARE = 0.5
# Gene symbols are short; a longer "name" is a shifted column or hostile input sent to the model.
MAX_NAME_CHARS = {"gene": 100, "cluster": 300}
MAX_COLUMNS = 10_000
CONTROL = r"[\x00-\x1f\x7f]"


def suggest(name: str, candidates: list[str]) -> str:
    """' Did you mean 'x'?' for the closest candidate (compared case-insensitively), or ''."""
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" Did you mean {lowered[close[0]]!r}?" if close else ""


def check_parameters(n_genes: object, filters: MarkerFilters) -> None:
    if isinstance(n_genes, bool) or not isinstance(n_genes, (int, np.integer)) or n_genes < 1:
        raise InputError(f"n_genes must be a whole number of at least 1 (got {n_genes!r})")
    for name in ("max_p_val_adj", "min_log2fc", "min_pct1"):
        value = getattr(filters, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise InputError(f"filter {name} must be a number or None to turn it off (got {value!r})")


def check_not_empty(frame: pd.DataFrame, label: str) -> None:
    if frame.shape[1] > MAX_COLUMNS:
        raise InputError(f"{label} has {frame.shape[1]:,} columns (at most {MAX_COLUMNS:,}); pass a marker "
                         "table with one row per gene")
    if frame.shape[1] == 0 or len(frame) == 0:
        raise InputError(
            f"{label} has no rows; pass the full marker table (e.g. the output of Seurat "
            "FindAllMarkers or sc.get.rank_genes_groups_df), with a header and one row per gene"
        )


def to_numeric(values: pd.Series, column: str, label: str) -> pd.Series:
    """Numbers from a statistics column; ``Inf``/``-Inf`` and NA spellings are accepted."""
    if pd.api.types.is_bool_dtype(values):
        raise InputError(f"column {column!r} of {label} holds true/false values, not numbers")
    if pd.api.types.is_float_dtype(values):
        return values  # already numbers (the compact reader's float32 stays float32)
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    text = values.astype("string").str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    bad = numbers.isna() & text.notna() & ~text.str.lower().isin(NA_TEXT)
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"column {column!r} of {label} must be numeric, but row {position + 1} holds "
            f"{values.iloc[position]!r} ({int(bad.sum())} non-numeric value(s) in all); "
            "fix or remove those rows, or check that the columns are not shifted"
        )
    return numbers.astype(float)


def as_text(values: pd.Series, what: str, label: str) -> pd.Series:
    """Cluster or gene names as stripped strings, stored as a category; a missing name is an error.

    A category keeps each distinct name once (an atlas repeats 30,000 gene names millions of
    times), and the checks below run on the distinct names only.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        names = pd.Series(values.cat.categories, dtype=object)
    else:
        if pd.api.types.is_float_dtype(values):
            finite = values.dropna()
            if len(finite) and (finite == finite.round()).all():
                values = values.astype("Int64")  # 1.0 came from an integer column through NaN
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        names = pd.Series(uniques, dtype=object)
    text = names.astype("string").str.strip()
    empty = text.isna() | text.str.lower().isin({"", "na", "nan", "<na>"})  # R writes NA bare
    missing = (codes < 0) | empty.to_numpy()[np.maximum(codes, 0)] if empty.any() else codes < 0
    if missing.any():
        position = int(np.flatnonzero(missing)[0])
        raise InputError(
            f"{int(missing.sum())} row(s) of {label} have no {what} name (first at row "
            f"{position + 1}); fill in or remove those rows"
        )
    check_names(text, what, label, codes)
    stripped = text.astype(object)
    if isinstance(values.dtype, pd.CategoricalDtype) and values.cat.categories.dtype == object and stripped.equals(names):
        return values  # already distinct, stripped strings: no new codes for every row
    # stripping can make two spellings one name: map codes onto the distinct stripped names
    inverse, merged = pd.factorize(stripped)
    return pd.Series(pd.Categorical.from_codes(inverse[codes], categories=pd.Index(merged, dtype=object)),
                     index=values.index)


def check_names(names: pd.Series, what: str, label: str, codes: np.ndarray | None = None) -> None:
    """Refuse names with control characters (NUL, tabs, newlines) or of absurd length.

    ``names`` may be the distinct names with ``codes`` mapping each row onto one of them (the
    checks then run once per distinct name, and the message still gives the first row).
    """
    text = names.astype("string")
    for bad, problem in (
        (text.str.contains(CONTROL, regex=True), "holds a control character (NUL, tab, newline, ...)"),
        (text.str.len() > MAX_NAME_CHARS[what], f"is longer than {MAX_NAME_CHARS[what]} characters"),
    ):
        bad = bad.fillna(False).to_numpy(dtype=bool)
        if not bad.any():  # the usual case: no array of rows built
            continue
        rows = bad if codes is None else (codes >= 0) & bad[np.maximum(codes, 0)]
        if rows.any():
            position = int(np.flatnonzero(rows)[0])
            name = str(text.iloc[position if codes is None else int(codes[position])])
            shown = repr(name[:60]) + ("..." if len(name) > 60 else "")
            raise InputError(
                f"the {what} name at row {position + 1} of {label} ({shown}) {problem}; "
                f"{int(rows.sum())} such row(s) in all. Fix or remove those rows, or check that the columns "
                "are not shifted"
            )


def check_gene_ids(genes: pd.Series, label: str) -> None:
    """Refuse Ensembl or Entrez IDs: the agents reason about gene symbols."""
    distinct = pd.Series(genes.unique())
    if distinct.empty:
        return
    for kind, pattern, hint in (
        ("Ensembl", ENSEMBL, "ENSG/ENSMUSG"),
        ("Entrez", ENTREZ, "all-digit"),
    ):
        hits = distinct[distinct.str.match(pattern)]
        if len(hits) > ID_SHARE * len(distinct):
            raise InputError(
                f"the gene column of {label} holds {kind} IDs ({hint}, e.g. {hits.iloc[0]!r}) "
                "instead of gene symbols; convert them to symbols first (e.g. biomaRt or "
                "AnnotationDbi::mapIds in R, mygene in Python, or the gene-symbol column of "
                "your object's features/var table)"
            )


def check_duplicates(frame: pd.DataFrame, label: str) -> None:
    cluster, gene = frame["cluster"], frame["gene"]
    if isinstance(cluster.dtype, pd.CategoricalDtype) and isinstance(gene.dtype, pd.CategoricalDtype):
        # one integer per (cluster, gene) pair, sorted: on an atlas table a second, not the
        # several that hashing row tuples takes; the rows are located only when there is a repeat
        pairs = cluster.cat.codes.to_numpy(np.int64)  # built in place: one int64 array, not four
        pairs *= len(gene.cat.categories)
        pairs += gene.cat.codes.to_numpy()
        pairs.sort()
        if not (pairs[1:] == pairs[:-1]).any():
            return
    dup = frame.duplicated(["cluster", "gene"], keep="first")
    if dup.any():
        first = frame[dup].iloc[0]
        raise InputError(
            f"{label} lists gene {first['gene']!r} more than once for cluster "
            f"{first['cluster']!r} ({int(dup.sum())} duplicated (cluster, gene) row(s)); each "
            "gene may appear once per cluster. Remove the repeats (e.g. "
            "df.drop_duplicates(['cluster', 'gene']) or unique() in R), or check that two "
            "tables were not concatenated"
        )
