"""The marker objects the rest of CASSIA works with: filters, one cluster's markers, a set.

A :class:`MarkerSet` is immutable from the outside: every cluster keeps its ranked top-N genes
(what the Annotator sees) and its full, unfiltered statistics table (what Annotation Boost
queries). Building one is the job of :func:`cassia.markers.load_markers`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pandas as pd

from ..errors import InputError

# Normalised statistic columns, in the order every stats table shows them.
STAT_COLUMNS = ("avg_log2FC", "pct.1", "pct.2", "p_val", "p_val_adj")


@dataclass(frozen=True)
class MarkerFilters:
    """Thresholds a gene must pass to be selected; ``None`` turns a filter off.

    A gene is kept when ``p_val_adj < max_p_val_adj``, ``avg_log2FC > min_log2fc`` and
    ``pct.1 >= min_pct1``. Filters only decide the selection; the full table is kept.
    """

    max_p_val_adj: float | None = 0.05
    min_log2fc: float | None = 0.25
    min_pct1: float | None = 0.1

    def describe(self) -> list[str]:
        """Human-readable conditions of the active filters (e.g. ``"p_val_adj < 0.05"``)."""
        parts = []
        if self.max_p_val_adj is not None:
            parts.append(f"p_val_adj < {self.max_p_val_adj:g}")
        if self.min_log2fc is not None:
            parts.append(f"avg_log2FC > {self.min_log2fc:g}")
        if self.min_pct1 is not None:
            parts.append(f"pct.1 >= {self.min_pct1:g}")
        return parts


# eq=False: a DataFrame field has no usable ``==`` or hash; identity is the honest equality.
@dataclass(frozen=True, eq=False)
class ClusterMarkers:
    """One cluster: its selected genes and its full statistics table.

    ``stats`` has one row per gene of the input (unfiltered), the columns ``gene``,
    ``avg_log2FC``, ``pct.1``, ``pct.2``, ``p_val``, ``p_val_adj`` (NaN where the input had no
    such statistic), any further columns of the input (e.g. ``score``), and two booleans:
    ``passes_filters`` and ``selected`` (the gene is among :attr:`genes`).
    """

    cluster: str
    genes: tuple[str, ...]
    # Either this cluster's own table, or (with ``rows``) the run's shared table grouped by
    # cluster, of which this cluster owns ``rows``: an atlas keeps one table, not one per cluster.
    table: pd.DataFrame = field(repr=False)
    rows: slice | None = field(default=None, repr=False)

    @property
    def stats(self) -> pd.DataFrame:
        if self.rows is None:
            return self.table
        part = self.table.iloc[self.rows]  # a copy: a caller's edits never reach the shared table
        return part.drop(columns="cluster", errors="ignore").reset_index(drop=True).copy()

    def table_genes(self) -> tuple[str, ...]:
        """Every gene of :attr:`stats`, in its order, without copying the table."""
        column = self.table["gene"]
        rows = slice(None) if self.rows is None else self.rows
        if isinstance(column.dtype, pd.CategoricalDtype) and column.cat.categories.dtype == object:
            names = column.cat.categories.to_numpy()  # text already (markers.checks.as_text)
            return tuple(names[column.array.codes[rows]].tolist())  # the codes themselves, not a Series of them
        if column.dtype == object:  # str of each, as astype(str) gives, without building a Series per call
            return tuple(map(str, column.to_numpy()[rows].tolist()))
        return tuple(column.iloc[rows].astype(str))

    def column(self, name: str) -> pd.Series:
        """One column of :attr:`stats` (reset index), without copying the other columns.

        A view of the shared table where pandas allows one: for reading, never for writing.
        """
        column = self.table[name] if self.rows is None else self.table[name].iloc[self.rows]
        return column.reset_index(drop=True)

    def lookup(self, genes: Iterable[str]) -> pd.DataFrame:
        """Statistics of ``genes`` in this cluster, matched case-insensitively.

        One row per requested gene, in the order asked, with ``query`` (as asked) and
        ``found``; genes absent from the cluster's table come back with ``found=False`` and
        empty statistics, so a caller can say "not differentially expressed here".
        """
        queries = [str(g).strip() for g in ([genes] if isinstance(genes, str) else genes)]
        keys = self.stats["gene"].str.upper()
        position = {key: i for i, key in reversed(list(enumerate(keys)))}  # first occurrence wins
        rows = []
        for query in queries:
            i = position.get(query.upper())
            if i is None:
                rows.append({"query": query, "found": False})
            else:
                rows.append({"query": query, "found": True, **self.stats.iloc[i].to_dict()})
        columns = ["query", "found", *self.stats.columns]
        frame = pd.DataFrame(rows, columns=columns)
        frame["found"] = frame["found"].astype(bool)
        return frame


@dataclass(frozen=True, eq=False)
class MarkerSet:
    """The markers of every cluster, in input order, and how they were chosen.

    ``columns`` maps each normalised column (``cluster``, ``gene``, ``avg_log2FC``, ...) to
    the input column it came from; ``notes`` records anything done on the user's behalf
    (a natural-log fold change converted, a filter skipped for want of its column).
    """

    clusters: tuple[ClusterMarkers, ...]
    source_format: str
    ranking: str
    n_genes: int
    filters: MarkerFilters
    columns: dict[str, str]
    notes: tuple[str, ...] = ()
    # the normalised input, kept so load_markers(marker_set, n_genes=...) can re-select
    prepared: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # name -> position, so lookups stay O(1) for 10,000-cluster atlases
        object.__setattr__(self, "_index", {item.cluster: i for i, item in enumerate(self.clusters)})

    def __getitem__(self, cluster: str) -> ClusterMarkers:
        key = str(cluster)
        position = self._index.get(key)
        if position is None:
            raise KeyError(f"no cluster {key!r}; the clusters are {self.cluster_ids()}")
        return self.clusters[position]

    def __iter__(self) -> Iterator[ClusterMarkers]:
        return iter(self.clusters)

    def __len__(self) -> int:
        return len(self.clusters)

    def __contains__(self, cluster: object) -> bool:
        return str(cluster) in self._index

    def __repr__(self) -> str:
        return (f"MarkerSet({len(self)} clusters, format={self.source_format!r}, "
                f"ranking={self.ranking!r}, n_genes={self.n_genes})")

    def cluster_ids(self) -> list[str]:
        """Cluster names, in input order."""
        return [item.cluster for item in self.clusters]

    def to_frame(self) -> pd.DataFrame:
        """The processed form: one row per cluster, ``cluster, markers, n_markers``.

        ``markers`` is comma-separated, so the frame can be read back by :func:`load_markers`.
        """
        return pd.DataFrame({
            "cluster": self.cluster_ids(),
            "markers": [", ".join(item.genes) for item in self.clusters],
            "n_markers": [len(item.genes) for item in self.clusters],
        })

    def subset(self, clusters: Iterable[str] | str) -> MarkerSet:
        """A MarkerSet with only ``clusters`` (kept in input order). Unknown names are an error."""
        wanted = [str(c) for c in ([clusters] if isinstance(clusters, str) else clusters)]
        unknown = [c for c in wanted if c not in self._index]  # a dict: --limit on 10,000 clusters stays linear
        if unknown:
            raise InputError(
                f"unknown cluster(s) {unknown}; the marker table has {self.cluster_ids()}. "
                "Use the cluster names exactly as they appear in the table."
            )
        keep = set(wanted)
        return MarkerSet(
            clusters=tuple(item for item in self.clusters if item.cluster in keep),
            source_format=self.source_format, ranking=self.ranking, n_genes=self.n_genes,
            filters=self.filters, columns=dict(self.columns), notes=self.notes,
            prepared=self.prepared,
        )

    def full_table(self) -> pd.DataFrame:
        """Every cluster's statistics stacked, with a leading ``cluster`` column (a copy)."""
        frames = [item.stats.assign(cluster=item.cluster) for item in self.clusters]
        table = pd.concat(frames, ignore_index=True)
        return table[["cluster", *[c for c in table.columns if c != "cluster"]]]
