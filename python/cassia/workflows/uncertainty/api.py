"""``run_uncertainty``: n independent runs, then the CS scores and consensus of every cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ...ontology.compare import Weights
from ...options import checked
from ...providers.stages import auto_provider
from ..engine import run_sync
from ..inputs import DEFAULT_FILTERS, MarkerSource, PathLike, ProviderLike
from .analysis import ascore_runs
from .result import UncertaintyResult
from .runs import _check, arun_n_times, check_independent, default_uncertainty_dir

__all__ = ["arun_uncertainty", "run_uncertainty"]


@checked
async def arun_uncertainty(
    markers: MarkerSource, *, n: int = 5,
    tissue: str | None = None, species: str = "human", additional_info: str | None = None,
    clusters: Sequence[str] | None = None,
    n_genes: int = 50, ranking: str = "avg_log2FC", max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
    min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc, min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, max_tokens: int | None = None, temperature: float | None = None, seed: int = 0,
    unify_provider: ProviderLike = None, unify_model: str | None = None, agents: bool = True,
    weights: Weights | Sequence[float] = (0.7, 0.3), threshold: float = 75,
    validator_rounds: int = 3, cancer_aware: bool = False, check_ontology: bool = True,
    rag: bool = False, data_dir: PathLike | None = None,
    out_dir: PathLike | None = None, max_workers: int = 4, resume: bool = False, progress: bool = True,
    report: bool = True, cache_path: PathLike | None = None,
) -> UncertaintyResult:
    """Async :func:`run_uncertainty`."""
    weights = Weights.of(weights)  # fail on bad options before any run starts
    _check(n, temperature)
    if provider is None or provider == "auto":
        provider = auto_provider()
    check_independent(n, provider)
    root = Path(out_dir) if out_dir is not None else default_uncertainty_dir()
    runs = await arun_n_times(markers, n=n, out_dir=root, provider=provider, model=model, api_key=api_key,
                              base_url=base_url, max_tokens=max_tokens, temperature=temperature, seed=seed,
                              tissue=tissue,
                              species=species, max_workers=max_workers, progress=progress, resume=resume,
                              additional_info=additional_info, clusters=clusters, n_genes=n_genes, ranking=ranking,
                              max_p_val_adj=max_p_val_adj, min_log2fc=min_log2fc, min_pct1=min_pct1,
                              validator_rounds=validator_rounds, cancer_aware=cancer_aware,
                              check_ontology=check_ontology, rag=rag, data_dir=data_dir)
    same_backend = unify_provider is None
    settings = {"n": n, "temperature": temperature, "seeds": [seed + k for k in range(1, n + 1)],
                "tissue": tissue, "species": species}
    return await ascore_runs(
        runs, provider=provider if same_backend else unify_provider,
        model=unify_model if unify_model is not None else (model if same_backend else None),
        api_key=api_key if same_backend else None, base_url=base_url if same_backend else None,
        max_tokens=max_tokens, weights=weights, threshold=threshold, labels=[f"run-{k}" for k in range(1, n + 1)], agents=agents,
        species=species, tissue=tissue, out_dir=root, max_workers=max_workers, cache_path=cache_path,
        progress=progress, report=report, run_results=runs, settings=settings,
    )


@checked
def run_uncertainty(
    markers: MarkerSource, *, n: int = 5,
    tissue: str | None = None, species: str = "human", additional_info: str | None = None,
    clusters: Sequence[str] | None = None,
    n_genes: int = 50, ranking: str = "avg_log2FC", max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
    min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc, min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, max_tokens: int | None = None, temperature: float | None = None, seed: int = 0,
    unify_provider: ProviderLike = None, unify_model: str | None = None, agents: bool = True,
    weights: Weights | Sequence[float] = (0.7, 0.3), threshold: float = 75,
    validator_rounds: int = 3, cancer_aware: bool = False, check_ontology: bool = True,
    rag: bool = False, data_dir: PathLike | None = None,
    out_dir: PathLike | None = None, max_workers: int = 4, resume: bool = False, progress: bool = True,
    report: bool = True, cache_path: PathLike | None = None,
) -> UncertaintyResult:
    """Annotate every cluster n times and measure how much the answers agree (the CS score).

    ``markers``: anything :func:`cassia.load_markers` reads. Keywords:

    - ``n`` (default 5, at least 2) independent :func:`cassia.run_batch` runs, written to
      ``out_dir/run-1 .. run-n``; they bypass the response cache (a cache-wrapped provider is
      unwrapped), run k uses seed ``seed + k`` and ``temperature`` when given (where the backend
      accepts them; see :mod:`cassia.workflows.uncertainty.runs`). The offline annotator is
      refused (:class:`~cassia.errors.ConfigError`): it is deterministic.
    - ``tissue``, ``species``, ``provider``, ``model``, ``api_key``, ``base_url``, ``max_workers``,
      ``progress``, ``resume`` and other :func:`cassia.run_batch` options, passed to every run.
    - ``weights``: (general, subtype) weights of the CS formula, default (0.7, 0.3)
      (:mod:`cassia.ontology.compare` gives the formula); ``threshold`` (default 75).
    - ``unify_provider`` / ``unify_model``: who answers the unification and consensus agents
      (default: the runs' provider and model; these calls may use the response cache);
      ``agents=False`` skips them (CS = CS_CL).

    Per cluster: CS_CL, CS_LLM, CS_agent, the final CS (their minimum), uncertain / recommend
    boost when CS < threshold or not computed (failed, unvalidated, "Unknown" and word-for-word
    repeated answers are not agreement; a CS needs two independent answers, else it is NA with a
    note, see :mod:`cassia.workflows.uncertainty.votes`), the consensus types and agreement
    fractions. ``out_dir`` also gets ``uncertainty.csv``, ``uncertainty.jsonl``, ``manifest.json`` and ``uncertainty.html``.
    """
    options = dict(locals())
    return run_sync(lambda: arun_uncertainty(**options))
