"""``annotate_anndata``: AnnData in, AnnData out — what Seurat users get from ``annotate_clusters``.

The markers come from the ``rank_genes_groups`` result stored under ``rank_key`` (computed with
scanpy when absent; :mod:`cassia.markers.anndata`), every group is annotated by the same
pipeline as :func:`cassia.run_pipeline`, and the labels are written back into ``adata.obs``
with the run recorded in ``adata.uns[key_added]`` (:mod:`cassia.writeback`). The run directory
remembers the grouping, so ``RunResult.load(run_dir).to_adata(adata)`` writes it again later.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import InputError
from ..markers.anndata import (
    DEFAULT_METHOD,
    check_groupby,
    compute_rank_genes_groups,
    rank_genes_groups_table,
)
from ..markers.read import is_anndata
from ..options import checked
from ..providers.stages import StageProviders
from .batch_api import BatchOptions
from .engine import RunResult, run_sync
from .inputs import DEFAULT_FILTERS, BoostMode, PathLike, ProviderLike
from .pipeline import arun_annotation


def _markers_from(adata: Any, *, groupby: str, rank_key: str, gene_symbols: str | None,
                  method: str) -> tuple[Any, dict[str, Any]]:
    """The long marker table for the run and what the run record says about where it came from."""
    if not is_anndata(adata):
        raise InputError(f"annotate_anndata needs an AnnData object (got {type(adata).__name__}); for a marker "
                         "table or file use cassia.run_pipeline")
    cells = check_groupby(adata, groupby)
    computed = None
    if rank_key not in adata.uns:
        computed = compute_rank_genes_groups(adata, groupby=groupby, rank_key=rank_key, method=method)
    frame, notes, params = rank_genes_groups_table(adata, groupby=groupby, rank_key=rank_key,
                                                   gene_symbols=gene_symbols)
    groups = set(frame["group"])
    if not groups & set(cells):
        raise InputError(f"the groups in adata.uns[{rank_key!r}] ({sorted(groups)[:10]}) are not values of "
                         f"adata.obs[{groupby!r}]; pass the groupby the ranking was computed for")
    if computed and computed.get("not_ranked"):  # their cells get the status "not annotated"
        small = ", ".join(f"{g} ({n} cells)" for g, n in computed["not_ranked"].items())
        notes = [*notes, f"groups with fewer than two cells were not ranked, so not annotated: {small}"]
    source = computed or {"key": rank_key, "computed": False, "method": params.get("method"), "params": params}
    return frame, {"groupby": groupby, "rank_genes_groups": source, "gene_symbols": gene_symbols,
                   "notes": notes}


@checked
def annotate_anndata(
    adata: Any, *, groupby: str, key_added: str = "cassia", rank_key: str = "rank_genes_groups",
    gene_symbols: str | None = None, method: str = DEFAULT_METHOD,
    # what the clusters are
    tissue: str | None = None, species: str = "human", additional_info: str | None = None,
    clusters: Sequence[str] | None = None,
    # marker selection
    n_genes: int = 50, ranking: str = "scores", max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
    min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc, min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    # backends, per stage
    provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, scoring_provider: ProviderLike = None, scoring_model: str | None = None,
    boost_provider: ProviderLike = None, boost_model: str | None = None,
    review_provider: ProviderLike = None, review_model: str | None = None, stage_models: bool = True,
    max_tokens: int | None = None, scoring_max_tokens: int | None = None, boost_max_tokens: int | None = None,
    max_concurrency: int | None = None,
    # the agents
    validator_rounds: int = 3, cancer_aware: bool = False, check_ontology: bool = True,
    score_threshold: float = 75, boost_iterations: int = 5, boost_mode: BoostMode = "breadth",
    rag: bool = False, data_dir: PathLike | None = None,
    # the run
    out_dir: PathLike | None = None, max_workers: int = 4, resume: bool = False, use_cache: bool = True,
    cache_path: PathLike | None = None, progress: bool = True, report: bool = True,
    batch_api: bool | dict | BatchOptions | None = None, providers: StageProviders | None = None,
) -> RunResult:
    """Annotate every group of ``adata.obs[groupby]`` and write the labels into ``adata``.

    Markers: the ``rank_genes_groups`` result in ``adata.uns[rank_key]``; a result computed for
    another grouping is an error (never used silently). When ``rank_key`` is absent and scanpy
    is installed, ``sc.tl.rank_genes_groups(adata, groupby, method=method, pts=True,
    key_added=rank_key)`` is run first and recorded. ``gene_symbols``: the ``adata.var`` column
    holding gene symbols when ``var_names`` are Ensembl IDs (the 10x layout). ``ranking``
    defaults to scanpy's own order (``"scores"``).

    Written into ``adata`` for every cell: ``obs[f"{key_added}_general"]``, ``_detailed``,
    ``_ontology_id`` and ``_status`` (categoricals) and ``_score`` (0-100, numbers); and the run
    record in ``adata.uns[key_added]``: run directory, settings (no secrets), providers,
    versions, where the markers came from, and the per-group table. A group whose annotation
    failed keeps the labels an earlier call wrote, its status says so, and a warning names it.

    The other options are :func:`cassia.run_pipeline`'s. Returns the :class:`RunResult`.
    """
    options = dict(locals())
    for name in ("adata", "groupby", "key_added", "rank_key", "gene_symbols", "method"):
        options.pop(name)
    frame, record = _markers_from(adata, groupby=groupby, rank_key=rank_key, gene_symbols=gene_symbols,
                                  method=method)
    record["key_added"] = key_added
    result = run_sync(lambda: arun_annotation(frame, kind="pipeline", manifest_extra={"anndata": record}, **options))
    result.to_adata(adata, groupby=groupby, key_added=key_added)
    return result
