"""Choose each cluster's top-N genes: filter, rank, keep the full table beside the choice.

:func:`load_markers` is the one entry point the engine uses; :func:`inspect_markers` runs the
same steps but reports instead of raising when filters empty a cluster, for ``cassia validate``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from ..spelling import spell
from . import checks
from .columns import ALIASES, NATURAL_LOG_FC, Prepared, key, prepare
from .read import read_source
from .types import STAT_COLUMNS, ClusterMarkers, MarkerFilters, MarkerSet

DEFAULT_RANKING = "avg_log2FC"
INPUT_ORDER = "input order"
ASCENDING = {"p_val", "p_val_adj"}  # smaller is better; everything else ranks highest first
# filter field -> (normalised column, comparison, the verb that relaxes it); messages name the
# field as the user's interface spells it (cassia.spelling)
FILTERS = {
    "max_p_val_adj": ("p_val_adj", "<", "raise"),
    "min_log2fc": ("avg_log2FC", ">", "lower"),
    "min_pct1": ("pct.1", ">=", "lower"),
}
COMPARE = {"<": pd.Series.lt, ">": pd.Series.gt, ">=": pd.Series.ge}


@dataclass
class Ranking:
    name: str  # what MarkerSet.ranking reports
    column: str | None  # normalised column sorted on (None: pct_diff or input order)
    ascending: bool = False


@dataclass
class Selection:
    marker_set: MarkerSet
    report: list[dict]
    problems: list[str]


def _present(prepared: Prepared, column: str) -> bool:
    return column in prepared.frame.columns and prepared.frame[column].notna().any()


def resolve_ranking(ranking: object, prepared: Prepared) -> Ranking:
    """Map a user's ranking name (any accepted spelling) onto a column of the table."""
    if prepared.source_format == "processed":
        return Ranking(INPUT_ORDER, None)
    if not isinstance(ranking, str) or not ranking.strip():
        raise InputError(f"ranking must be a column name such as 'avg_log2FC' (got {ranking!r})")
    wanted = key(ranking)
    if wanted == "pctdiff":
        for needed in ("pct.1", "pct.2"):
            if not _present(prepared, needed):
                raise InputError(f"{spell('ranking', 'pct_diff')} needs pct.1 and pct.2, but {prepared.label} "
                                 f"has no {needed} column; choose {spell('ranking', 'avg_log2FC')} or "
                                 f"{spell('ranking', 'p_val_adj')}")
        return Ranking("pct_diff", None)
    for canonical in (*STAT_COLUMNS, "score"):
        spellings = {key(a) for a in ALIASES[canonical]} | {key(canonical)}
        if canonical == "avg_log2FC":
            spellings.add(key(NATURAL_LOG_FC))
        if wanted in spellings:
            if not _present(prepared, canonical):
                miss = prepared.suspects.get(canonical)
                hint = f" Did you mean column {miss!r}? Rename it to {canonical!r}." if miss else ""
                rankable = _rankable(prepared)
                choose = f" Choose one with {spell('ranking', rankable[0])}" if rankable and not hint else ""
                raise InputError(f"cannot rank by {canonical}: {prepared.label} has no such column."
                                 f"{hint} Rankable columns: {rankable}.{choose}" + ("." if choose else ""))
            return Ranking(canonical, canonical, canonical in ASCENDING)
    extra = [c for c in prepared.frame.columns if c not in ("cluster", "gene", *STAT_COLUMNS)]
    for column in extra:
        if column == ranking or key(column) == wanted:
            values = checks.to_numeric(prepared.frame[column], column, prepared.label)
            prepared.frame[column] = values  # our own normalised copy, not the caller's data
            return Ranking(column, column, False)
    raise InputError(
        f"unknown ranking {ranking!r}.{checks.suggest(ranking, _rankable(prepared) + ['pct_diff'])} "
        f"Use 'avg_log2FC' (default), 'p_val_adj', 'pct_diff' or a numeric column: {_rankable(prepared)}"
    )


def _rankable(prepared: Prepared) -> list[str]:
    frame = prepared.frame
    return [c for c in frame.columns if c not in ("cluster", "gene")
            and pd.api.types.is_numeric_dtype(frame[c]) and frame[c].notna().any()]


def _filter_masks(prepared: Prepared, filters: MarkerFilters, notes: list[str]) -> dict[str, pd.Series]:
    """Filter field -> boolean mask, for each active filter whose column exists (NaN never passes)."""
    masks: dict[str, pd.Series] = {}
    if prepared.source_format == "processed":
        return masks
    for field_name, (column, op, _) in FILTERS.items():
        threshold = getattr(filters, field_name)
        if threshold is None:
            continue
        condition = f"{column} {op} {threshold:g}"
        if not _present(prepared, column):
            miss = prepared.suspects.get(column)
            if miss:
                raise InputError(
                    f"the filter {condition} needs a {column!r} column; {prepared.label} has "
                    f"{miss!r} - did you mean that? Rename it to {column!r}, or turn the filter "
                    f"off with {spell(field_name, None)}"
                )
            extra = " (Scanpy: run rank_genes_groups with pts=True)" if column == "pct.1" else ""
            notes.append(f"filter {condition} not applied: the table has no {column} column{extra}")
            continue
        masks[field_name] = COMPARE[op](prepared.frame[column], threshold)
    return masks


def _rank_keys(prepared: Prepared, ranking: Ranking, table: pd.DataFrame) -> list[np.ndarray]:
    """Sort keys over ``table``'s rows for ``np.lexsort`` (least significant first), best first.

    NaN sorts last either way (a descending key is negated). Keys keep the column's own float
    type (float32 for fold changes): a float64 copy of a column costs 40 MB on an atlas.
    """
    keys: list[np.ndarray] = []

    def add(values: pd.Series, ascending: bool) -> None:
        if values.dtype.kind == "f":  # numpy floats, NaN already: copied once, negated in place
            values = values.to_numpy(copy=True)
        else:
            values = values.to_numpy(dtype=np.float64, na_value=np.nan)
        keys.append(values if ascending else np.negative(values, out=values))

    primary = ranking.name == "pct_diff" or ranking.column is not None
    if primary and ranking.column != "avg_log2FC" and _present(prepared, "avg_log2FC"):
        add(table["avg_log2FC"], False)  # ties (p_val_adj == 0 is common) go to the larger change
    if ranking.name == "pct_diff":
        add(table["pct.1"] - table["pct.2"], False)
    elif ranking.column is not None:
        add(table[ranking.column], ranking.ascending)
    return keys


def _top_rows(passes: np.ndarray, keys: list[np.ndarray], start: int, end: int, n_genes: int) -> np.ndarray:
    """Positions of the best ``n_genes`` passing rows of one cluster's rows ``start:end``.

    A stable sort of that cluster's rows only (ties keep input order): a sort of the whole
    table at once held several table-long index arrays, the peak of reading an atlas.
    """
    rows = np.flatnonzero(passes[start:end])
    if keys and len(rows) > 1:
        rows = rows[np.lexsort([key[start:end][rows] for key in keys])]
    return rows[:n_genes] + start


def _gene_codes(genes: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, names) with ``names[codes]`` each row's gene as text, without a table-long object array."""
    if isinstance(genes.dtype, pd.CategoricalDtype):
        return genes.cat.codes.to_numpy(), np.asarray(genes.cat.categories.astype(str), dtype=object)
    return np.arange(len(genes)), genes.astype(str).to_numpy(dtype=object)


def _cluster_codes(clusters: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each row's cluster as an int32 code in first-appearance order, and the names in that order.

    A categorical column (what :func:`checks.as_text` makes) is recoded from its own small codes:
    a category's first row starts a run, so only run starts are looked at. ``pd.factorize``
    would hash every row into int64 codes, 40 MB an atlas.
    """
    if not isinstance(clusters.dtype, pd.CategoricalDtype):
        codes, names = pd.factorize(clusters)
        return codes.astype(np.int32), pd.Index(names)
    own = clusters.cat.codes.to_numpy()
    if not len(own):
        return own.astype(np.int32), pd.Index([], dtype=object)
    starts = np.flatnonzero(np.r_[True, own[1:] != own[:-1]])
    seen = pd.unique(own[starts])  # category codes in order of first appearance
    recode = np.full(len(clusters.cat.categories), -1, dtype=np.int32)
    recode[seen] = np.arange(len(seen), dtype=np.int32)
    return recode[own], pd.Index(clusters.cat.categories[seen])


def _emptied_message(cluster: str, part: pd.DataFrame, removed: dict[str, int],
                     filters: MarkerFilters) -> str:
    parts, advice = [], []
    for field_name, n in removed.items():
        column, op, relax = FILTERS[field_name]
        parts.append(f"{column} {op} {getattr(filters, field_name):g} removed {n}")
        if n:
            values = part[column].dropna()
            best = values.min() if op == "<" else values.max()
            found = f"the best {column} here is {best:g}" if len(values) else f"it has no {column} values"
            advice.append(f"{relax} {spell(field_name)} ({found})")
    culprit = next((f for f, n in removed.items() if n), "max_p_val_adj")
    return (f"cluster {cluster!r} has no genes left after filtering: of its {len(part)} rows, "
            f"{', '.join(parts)}. Relax the filters: {', '.join(advice) or 'loosen them'}; "
            f"{spell(culprit, None)} turns a filter off")


def select(prepared: Prepared, *, n_genes: int, ranking: object, filters: MarkerFilters) -> Selection:
    """Apply filters and ranking to a prepared table; report per cluster, never raise on emptiness."""
    checks.check_parameters(n_genes, filters)
    notes = list(prepared.notes)
    rank = resolve_ranking(ranking, prepared)
    if rank.name == INPUT_ORDER:
        notes.append("processed table: genes kept in the given order; ranking and filters do not apply")
    masks = _filter_masks(prepared, filters, notes)
    frame = prepared.frame
    passes = pd.Series(True, index=frame.index)
    for mask in masks.values():
        passes &= mask
    codes, names = _cluster_codes(frame["cluster"])
    # One table for every cluster, its rows grouped by cluster (first appearance order, input
    # order inside a cluster): each ClusterMarkers is a slice of it, not a copy.
    if len(codes) < 2 or bool((codes[1:] >= codes[:-1]).all()):  # FindAllMarkers order: already grouped
        rows = slice(None)
        full = frame if frame.index.equals(pd.RangeIndex(len(frame))) else frame.reset_index(drop=True)
    else:
        rows = np.argsort(codes, kind="stable")
        full = frame.take(rows).reset_index(drop=True)
    full["passes_filters"] = passes.to_numpy()[rows]
    sizes = np.bincount(codes, minlength=len(names))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    after_by = np.bincount(codes, weights=passes.to_numpy(), minlength=len(names)).astype(int)
    removed_by = {f: np.bincount(codes, weights=(~m).to_numpy(), minlength=len(names)).astype(int)
                  for f, m in masks.items()}
    del codes, passes, masks
    keys = _rank_keys(prepared, rank, full)
    kept = full["passes_filters"].to_numpy()
    selected = np.zeros(len(full), dtype=bool)
    gene_codes, gene_names = _gene_codes(full["gene"])

    clusters, report, problems = [], [], []
    for i, cluster in enumerate(names):
        cluster = str(cluster)
        top = _top_rows(kept, keys, int(starts[i]), int(starts[i + 1]), int(n_genes))
        selected[top] = True
        genes = tuple(gene_names[gene_codes[top]])
        clusters.append(ClusterMarkers(cluster=cluster, genes=genes, table=full,
                                       rows=slice(int(starts[i]), int(starts[i + 1]))))
        counts = {f: int(n[i]) for f, n in removed_by.items()}
        report.append({"cluster": cluster, "rows": int(sizes[i]), "after_filters": int(after_by[i]),
                       "selected": len(genes), "genes": list(genes),
                       "removed_by": {FILTERS[f][0]: n for f, n in counts.items()}})
        if after_by[i] == 0:
            problems.append(_emptied_message(cluster, full.iloc[starts[i]:starts[i + 1]], counts, filters))
    full["selected"] = selected
    prepared = Prepared(full, prepared.source_format, dict(prepared.columns), prepared.label,
                        list(prepared.notes), dict(prepared.suspects))
    marker_set = MarkerSet(
        clusters=tuple(clusters), source_format=prepared.source_format, ranking=rank.name,
        n_genes=int(n_genes), filters=filters, columns=dict(prepared.columns),
        notes=tuple(notes), prepared=prepared,
    )
    return Selection(marker_set, report, problems)


def _prepare_any(source: object, cluster_col: str | None, gene_col: str | None,
                 rank_key: str | None = None) -> Prepared:
    if isinstance(source, MarkerSet):
        if isinstance(source.prepared, Prepared):
            base = source.prepared
            keep = base.frame["cluster"].isin(source.cluster_ids())
            frame = base.frame[keep].drop(columns=["passes_filters", "selected"], errors="ignore")
            return Prepared(frame, base.source_format, dict(base.columns),
                            base.label, list(base.notes), dict(base.suspects))
        frame = source.full_table().drop(columns=["passes_filters", "selected"], errors="ignore")
        return Prepared(frame, source.source_format, dict(source.columns), "the MarkerSet")
    return prepare(read_source(source, rank_key=rank_key), cluster_col, gene_col)


def _filters_for(source: object, filters: MarkerFilters | None) -> MarkerFilters:
    """Filters not given: a MarkerSet keeps its own, anything else gets the defaults."""
    if filters is not None:
        if not isinstance(filters, MarkerFilters):
            raise InputError(f"filters must be a MarkerFilters(...) or None (got {type(filters).__name__})")
        return filters
    return source.filters if isinstance(source, MarkerSet) else MarkerFilters()


def _run(source, n_genes, ranking, filters, cluster_col, gene_col, rank_key=None) -> Selection:
    return select(_prepare_any(source, cluster_col, gene_col, rank_key), n_genes=n_genes,
                  ranking=ranking, filters=_filters_for(source, filters))


def chosen_filters(source: object, max_p_val_adj: float | None = 0.05, min_log2fc: float | None = 0.25,
                   min_pct1: float | None = 0.1, *, fallback: MarkerFilters | None = None) -> MarkerFilters | None:
    """The filters an entry point's keywords ask for, for :func:`load_markers`.

    Keywords left at their defaults ask for nothing new: a MarkerSet keeps its own filters
    (``None``), an earlier run its recorded ones (``fallback``); otherwise the defaults apply.
    """
    asked = MarkerFilters(max_p_val_adj=max_p_val_adj, min_log2fc=min_log2fc, min_pct1=min_pct1)
    if asked == MarkerFilters():
        if fallback is not None:
            return fallback
        if isinstance(source, MarkerSet):
            return None
    return asked


def load_markers(source: object, *, n_genes: int = 50, ranking: str = DEFAULT_RANKING,
                 filters: MarkerFilters | None = None, cluster_col: str | None = None,
                 gene_col: str | None = None, rank_key: str | None = None) -> MarkerSet:
    """Read markers from a file, DataFrame, AnnData or MarkerSet and pick each cluster's top genes.

    ``source`` is a path (CSV/TSV/TXT, ``.rds``, ``.h5ad``), a FindAllMarkers-like or
    ``rank_genes_groups_df`` DataFrame, a processed table (cluster + comma-separated genes),
    an AnnData with ``uns["rank_genes_groups"]``, or a MarkerSet (re-selected when the
    arguments differ; ``filters=None`` then keeps its filters). Genes are filtered by
    ``filters`` (default: adjusted p < 0.05, log2FC > 0.25, pct.1 >= 0.1), ranked by
    ``ranking`` (``avg_log2FC``, ``p_val_adj``, ``pct_diff`` or a numeric column) and the
    first ``n_genes`` kept. The caller's data is
    never modified. ``rank_key`` names the ``uns`` entry of an AnnData or ``.h5ad`` that holds the
    ranking (default: the only one there). Raises :class:`~cassia.errors.InputError` for anything unusable,
    including a cluster that the filters leave without genes.
    """
    filters = _filters_for(source, filters)
    if isinstance(source, MarkerSet) and source.n_genes == n_genes and source.filters == filters:
        # the same selection again (the CLI read the table, the engine is handed the set): no copy
        prepared = source.prepared if isinstance(source.prepared, Prepared) else _prepare_any(source, None, None)
        if resolve_ranking(ranking, prepared).name == source.ranking:
            return source
    selection = _run(source, n_genes, ranking, filters, cluster_col, gene_col, rank_key)
    if selection.problems:
        lead = (f"{len(selection.problems)} clusters have no genes left after filtering: "
                if len(selection.problems) > 1 else "")
        raise InputError(lead + "; ".join(selection.problems))
    return selection.marker_set


def inspect_markers(source: object, *, n_genes: int = 50, ranking: str = DEFAULT_RANKING,
                    filters: MarkerFilters | None = None, cluster_col: str | None = None,
                    gene_col: str | None = None, rank_key: str | None = None) -> dict:
    """What :func:`load_markers` would do with ``source``, as a JSON-ready dict.

    Keys: ``source``, ``format``, ``columns``, ``ranking``, ``n_genes``, ``filters``,
    ``n_rows``, ``clusters`` (per cluster: ``rows``, ``after_filters``, ``selected``,
    ``removed_by`` per filter, ``genes``), ``notes``, ``problems`` and ``usable``. A cluster
    emptied by the filters is reported in ``problems``; any other unusable input raises
    :class:`~cassia.errors.InputError` as load_markers does.
    """
    selection = _run(source, n_genes, ranking, filters, cluster_col, gene_col, rank_key)
    ms = selection.marker_set
    label = ms.prepared.label if isinstance(ms.prepared, Prepared) else "the MarkerSet"
    return {
        "source": label,
        "format": ms.source_format,
        "columns": dict(ms.columns),
        "ranking": ms.ranking,
        "n_genes": ms.n_genes,
        "filters": {name: (None if v is None or math.isnan(v) else float(v))
                    for name, v in vars(ms.filters).items()},
        "n_rows": sum(row["rows"] for row in selection.report),
        "n_clusters": len(ms),
        "clusters": selection.report,
        "notes": list(ms.notes),
        "problems": list(selection.problems),
        "usable": not selection.problems,
    }
