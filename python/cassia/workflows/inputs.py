"""What the public workflow functions accept, and the one marker selection they all share.

The types here name the forms an argument may take in the signatures (``markers``: a path, a
DataFrame, an AnnData or a :class:`MarkerSet`; ``provider``: a vendor name, an
OpenAI-compatible base URL, ``"offline"``, an agent CLI name, a config or a ready provider).
:func:`select_markers` turns ``markers`` plus the marker-selection options (``n_genes``,
``ranking``, ``max_p_val_adj``, ``min_log2fc``, ``min_pct1``, ``clusters``) into a MarkerSet.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal, Sequence, Union

import pandas as pd

from ..markers import MarkerFilters, MarkerSet, chosen_filters, load_markers
from ..providers.base import Provider, ProviderConfig

if TYPE_CHECKING:  # anndata is optional; only type checkers look here
    from anndata import AnnData
else:
    AnnData = Any

MarkerSource = Union[str, "os.PathLike[str]", pd.DataFrame, MarkerSet, "AnnData"]
ProviderLike = Union[str, ProviderConfig, Provider, None]
PathLike = Union[str, "os.PathLike[str]"]
BoostMode = Literal["breadth", "depth"]

DEFAULT_FILTERS = MarkerFilters()
SELECTION_DEFAULTS = {"n_genes": 50, "ranking": "avg_log2FC", **vars(DEFAULT_FILTERS)}


def select_markers(markers: MarkerSource, *, n_genes: int = 50, ranking: str = "avg_log2FC",
                   max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
                   min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc,
                   min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
                   clusters: Sequence[str] | None = None) -> MarkerSet:
    """The MarkerSet a run annotates.

    A table, path or AnnData is read and selected with the options. A MarkerSet already is a
    selection: options left at their defaults keep its own (its ``n_genes``, ranking and
    filters), options set to something else re-select it (:func:`cassia.load_markers`).
    """
    if isinstance(markers, MarkerSet):
        n_genes = markers.n_genes if n_genes == SELECTION_DEFAULTS["n_genes"] else n_genes
        ranking = markers.ranking if ranking == SELECTION_DEFAULTS["ranking"] else ranking
    filters = chosen_filters(markers, max_p_val_adj, min_log2fc, min_pct1)
    marker_set = load_markers(markers, n_genes=n_genes, ranking=ranking, filters=filters)
    if clusters is not None:
        if isinstance(clusters, str):
            clusters = [clusters]
        marker_set = marker_set.subset([str(c) for c in clusters])
    return marker_set
