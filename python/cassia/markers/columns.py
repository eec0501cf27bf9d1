"""Recognise the columns of a marker table and rewrite it in one normalised long shape.

Seurat ``FindAllMarkers``, Scanpy ``rank_genes_groups_df`` and hand-made processed lists all
become one table: ``cluster`` and ``gene`` (strings), the statistics ``avg_log2FC, pct.1,
pct.2, p_val, p_val_adj`` (floats, NaN where the input has none) and any further columns.
Column names are matched loosely (case and punctuation ignored) through an alias table.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..spelling import offered, spell
from . import checks
from .names import ALIASES, NATURAL_LOG_FC, ROWNAME_HEADERS, key
from .read import RawTable
from .types import STAT_COLUMNS

# What may separate the genes of one list, in order of preference, as named in notes.
LIST_SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs", r"\s+": "spaces"}
# Columns of a processed table that hold a comma-separated gene list.
LIST_ALIASES = ("markers", "marker", "marker_list", "top_markers", "marker_genes", "genes",
                "gene_list", "gene")
SCANPY_MARKS = {"scores", "logfoldchanges", "pvals_adj", "pvals"}


@dataclass
class Prepared:
    """A normalised table plus what we learned reading it (independent of the selection)."""

    frame: pd.DataFrame
    source_format: str
    columns: dict[str, str]
    label: str
    notes: list[str] = field(default_factory=list)
    # normalised statistic -> an input column that looks like a misspelling of it
    suspects: dict[str, str] = field(default_factory=dict)


def _find(columns: list[str], aliases: tuple[str, ...], taken: set[str]) -> str | None:
    by_key: dict[str, str] = {}
    for column in columns:
        if column not in taken:
            by_key.setdefault(key(column), column)
    for alias in aliases:
        if key(alias) in by_key:
            return by_key[key(alias)]
    return None


def _explicit(columns: list[str], name: str, option: str, label: str) -> str:
    """A column the user named: exact, else a unique case-insensitive match, else an error."""
    if name in columns:
        return name
    matches = [c for c in columns if c.lower() == name.lower()]
    if len(matches) == 1:
        return matches[0]
    raise InputError(
        f"{option}={name!r} is not a column of {label}.{checks.suggest(name, columns)} "
        f"The columns are: {columns}"
    )


def _near_miss(canonical: str, leftovers: list[str]) -> str | None:
    """A leftover column that looks like a misspelling of one of ``canonical``'s aliases."""
    wanted = [key(a) for a in ALIASES[canonical]]
    for column in leftovers:
        if difflib.get_close_matches(key(column), wanted, n=1, cutoff=0.8):
            return column
    return None


def _missing(what: str, label: str, columns: list[str], option: str, *, others: bool = False) -> InputError:
    """``others``: ``columns`` leaves out those already matched to other roles (and says so)."""
    aliases = ALIASES[what]
    hint = checks.suggest(what, columns)
    if not hint and what == "cluster":
        hint = (" A FindMarkers table for one cluster has none: use FindAllMarkers, add a "
                "cluster column, or for Scanpy call sc.get.rank_genes_groups_df(adata, None).")
    return InputError(
        f"{label} has no {what} column (looked for {', '.join(aliases[:5])}).{hint} Rename the "
        f"column to {what!r}{f' or pass {spell(option)}' if offered(option) else ''}. "
        f"The {'other ' if others else ''}columns are: {columns}"
    )


def _soft_numeric(values: pd.Series) -> pd.Series:
    """Extra columns become numbers when every value is one; otherwise they stay as given."""
    if pd.api.types.is_numeric_dtype(values) or not pd.api.types.is_object_dtype(values):
        return values.reset_index(drop=True)
    try:
        return checks.to_numeric(values, "", "").reset_index(drop=True)
    except InputError:
        return values.reset_index(drop=True)


# Kept in double precision: p-values below 1e-38 (common in scRNA-seq) would become 0 in float32.
EXACT = ("p_val", "p_val_adj")


def compact(columns: dict) -> pd.DataFrame:
    """The normalised table in its compact form: fold changes, fractions and extra numbers as float32.

    ``cluster`` and ``gene`` are categories already (:func:`checks.as_text`); halving the other
    numbers keeps a 5-million-row atlas table in a few hundred megabytes. The columns are
    framed without a copy (setting them one by one copied each: 40 MB an atlas column).
    """
    def small(name: str, values):
        if name not in EXACT and pd.api.types.is_float_dtype(values) and values.dtype != "float32":
            return values.astype("float32")
        return values

    return pd.DataFrame({name: small(name, values) for name, values in columns.items()}, copy=False)


def _check_genes(frame: pd.DataFrame, label: str) -> None:
    genes = frame["gene"]
    if isinstance(genes.dtype, pd.CategoricalDtype):  # each distinct name checked once
        checks.check_names(pd.Series(genes.cat.categories, dtype=object), "gene", label, genes.cat.codes.to_numpy())
    else:
        checks.check_names(genes, "gene", label)
    checks.check_gene_ids(frame["gene"], label)
    checks.check_duplicates(frame, label)


def prepare(raw: RawTable, cluster_col: str | None, gene_col: str | None) -> Prepared:
    """Recognise the format and columns of ``raw`` and build the normalised long table."""
    frame, label = raw.frame, raw.label
    if not frame.index.equals(pd.RangeIndex(len(frame))):  # reset_index copies: only when needed
        frame = frame.reset_index(drop=True)
    checks.check_not_empty(frame, label)
    frame.columns = [str(c).strip() for c in frame.columns]
    columns = list(frame.columns)
    taken: set[str] = set()
    notes = list(raw.notes)
    # An unnamed first column is R's row names (make.unique'd genes): never a statistic.
    if columns[0].lower() in ROWNAME_HEADERS and columns[0] not in (cluster_col, gene_col):
        taken.add(columns[0])

    stats = {c: _find(columns, ALIASES[c], taken) for c in (*STAT_COLUMNS, "score")}
    natural = None
    if stats["avg_log2FC"] is None:
        natural = _find(columns, (NATURAL_LOG_FC,), taken)
    found_stats = {c: col for c, col in stats.items() if col}
    if natural:
        found_stats["avg_log2FC"] = natural
    if not found_stats and raw.origin not in ("anndata", "h5ad"):
        if raw.short_header:
            raise InputError(
                f"the rows of {label} have more fields than its header; if it lists genes per "
                "cluster, put each comma-separated gene list in quotes (\"CD3E, CD8A\")"
            )
        return _prepare_processed(frame, label, columns, taken, cluster_col, gene_col, notes)

    cluster = (_explicit(columns, cluster_col, "cluster_col", label) if cluster_col
               else _find(columns, ALIASES["cluster"], taken))
    if cluster is None:
        raise _missing("cluster", label, [c for c in columns if c not in taken], "cluster_col", others=bool(taken))
    taken.add(cluster)
    gene = (_explicit(columns, gene_col, "gene_col", label) if gene_col
            else _find(columns, ALIASES["gene"], taken))
    if gene is None:
        raise _missing("gene", label, [c for c in columns if c not in taken], "gene_col", others=True)
    taken.add(gene)
    taken.update(found_stats.values())

    scanpy_names = {key(c) for c in found_stats.values()} & {key(m) for m in SCANPY_MARKS}
    scanpy = raw.origin in ("anndata", "h5ad") or (key(gene) == "names" and bool(scanpy_names))
    mapping = {"cluster": cluster, "gene": gene}
    data = {"cluster": checks.as_text(frame[cluster], "cluster", label),
            "gene": checks.as_text(frame[gene], "gene", label)}
    for canonical in STAT_COLUMNS:
        source = found_stats.get(canonical)
        if source is None:
            data[canonical] = np.full(len(frame), math.nan)
            continue
        values = checks.to_numeric(frame.pop(source), source, label)  # popped: one copy at a time
        if source == natural:
            values = values / math.log(2)
            mapping[canonical] = f"{source} (natural log, converted to log2)"
            notes.append(f"{source} is a natural-log fold change (Seurat < 4); divided by ln 2 "
                         "to compare it with log2 thresholds")
        else:
            mapping[canonical] = source
        data[canonical] = values
    leftovers = [c for c in columns if c not in taken]
    suspects = {c: _near_miss(c, leftovers) for c in STAT_COLUMNS if c not in mapping}
    if stats["score"]:
        data["score"] = checks.to_numeric(frame.pop(stats["score"]), stats["score"], label)
        mapping["score"] = stats["score"]
    for column in leftovers:  # keep the rest (myAUC, power, annotations) for Boost queries
        if column in data or column in suspects.values():
            continue
        data[column] = _soft_numeric(frame.pop(column)).array
    out = compact(data)
    _check_genes(out, label)
    return Prepared(out, "scanpy" if scanpy else "seurat", mapping, label, notes,
                    {c: s for c, s in suspects.items() if s})


def _list_separator(lists: pd.Series, *, one_row_per_cluster: bool) -> str | None:
    """What separates the genes of the lists (the first of , ; tab that occurs; whitespace only
    with one row per cluster), or None for one gene a row."""
    for separator in (",", ";", "\t"):
        if lists.str.contains(separator, regex=False).any():
            return separator
    if one_row_per_cluster and lists.str.contains(r"\s", regex=True).any():
        return r"\s+"
    return None


def _split_lists(clusters: pd.Series, lists: pd.Series, separator: str, label: str,
                 notes: list[str]) -> pd.DataFrame:
    """One row per (cluster, gene) from one gene list per cluster."""
    if clusters.duplicated().any():
        repeated = clusters[clusters.duplicated()].iloc[0]
        raise InputError(
            f"cluster {repeated!r} has more than one row in the processed table {label}; "
            "give each cluster one row with all its genes comma-separated"
        )
    items = lists.str.split(separator, regex=separator == r"\s+").map(
        lambda parts: [g.strip() for g in parts if g.strip()])
    genes = items.map(lambda names: list(dict.fromkeys(names)))  # drop repeats, keep order
    empty = clusters[genes.map(len).eq(0).to_numpy()]
    if len(empty):
        raise InputError(
            f"cluster {empty.iloc[0]!r} has an empty marker list in {label}; give it its "
            "genes (comma-separated) or remove the row"
        )
    repeats = int((items.map(len) - genes.map(len)).sum())
    if repeats:
        notes.append(f"{repeats} repeated gene(s) inside marker lists were dropped (first kept)")
    long = pd.DataFrame({"cluster": clusters, "gene": genes}).explode("gene")
    return long.reset_index(drop=True)


def _prepare_processed(frame: pd.DataFrame, label: str, columns: list[str], taken: set[str],
                       cluster_col: str | None, gene_col: str | None, notes: list[str]) -> Prepared:
    """A table of genes without statistics: one comma-separated list per cluster, or one gene a row."""
    free = [c for c in columns if c not in taken]
    for canonical in STAT_COLUMNS:
        miss = _near_miss(canonical, free)
        if miss:
            raise InputError(
                f"{label} looks like a marker statistics table, but no {canonical!r} column was "
                f"found. Did you mean {miss!r}? Rename it to {canonical!r}"
            )
    gene = (_explicit(columns, gene_col, "gene_col", label) if gene_col
            else _find(free, LIST_ALIASES, set()))
    cluster = (_explicit(columns, cluster_col, "cluster_col", label) if cluster_col
               else _find([c for c in free if c != gene], ALIASES["cluster"], set()))
    rest = [c for c in free if c not in (gene, cluster)]
    if cluster is None and rest and gene is not None:
        cluster = rest[0]  # a two-column list: the other column names the clusters
    if gene is None and cluster is not None:
        rest = [c for c in rest if c != cluster]
        gene = rest[0] if rest else None
    if cluster is None or gene is None or cluster == gene:
        raise InputError(
            f"cannot recognise {label}: it has no marker statistics (avg_log2FC, p_val_adj, ...) "
            f"and no pair of cluster + genes columns (columns: {columns}). Pass a FindAllMarkers "
            "or rank_genes_groups table, or a processed table with columns 'cluster' and "
            "'markers' (comma-separated genes); cluster_col/gene_col name them explicitly"
        )
    clusters = checks.as_text(frame[cluster], "cluster", label)
    lists = frame[gene].astype("string").fillna("").str.strip()
    separator = _list_separator(lists, one_row_per_cluster=not clusters.duplicated().any())
    if separator is not None:
        if separator != ",":
            notes.append(f"the gene lists are separated by {LIST_SEPARATORS[separator]}, not commas")
        long = _split_lists(clusters, lists, separator, label, notes)
    else:
        long = pd.DataFrame({"cluster": clusters, "gene": checks.as_text(frame[gene], "gene", label)})
    for canonical in STAT_COLUMNS:
        long[canonical] = math.nan
    long = long.reset_index(drop=True)
    _check_genes(long, label)
    return Prepared(long, "processed", {"cluster": cluster, "gene": gene}, label, notes)
