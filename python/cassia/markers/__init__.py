"""Markers in: read marker tables in any common shape and pick each cluster's top genes.

``load_markers`` accepts Seurat ``FindAllMarkers`` tables (CSV/TSV/.rds/DataFrame), Scanpy
``rank_genes_groups`` results (AnnData, .h5ad, or the ``rank_genes_groups_df`` frame) and
processed tables (cluster + comma-separated genes), and returns a :class:`MarkerSet`.
``inspect_markers`` reports what loading would do, for ``cassia validate``.

Modules: ``read`` (sources and formats), ``columns`` (column recognition, normalised table),
``checks`` (input validation), ``select`` (filtering and ranking), ``types`` (result objects).
"""

from __future__ import annotations

from .select import chosen_filters, inspect_markers, load_markers
from .types import ClusterMarkers, MarkerFilters, MarkerSet

__all__ = ["ClusterMarkers", "MarkerFilters", "MarkerSet", "chosen_filters", "inspect_markers", "load_markers"]
