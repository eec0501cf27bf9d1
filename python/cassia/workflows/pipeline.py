"""Batch and pipeline: every cluster annotated in parallel, results durable as they finish.

``run_batch`` annotates (Annotator ⇄ Validator → Formatter); ``run_pipeline`` also scores each
cluster right after it is annotated (no barrier between stages, so the critical path stays one
cluster's chain), boosts the clusters scored below the threshold, and renders the report.
``run_score_batch`` scores an existing run. One failing cluster never stops the others.

Every option is a typed keyword-only parameter, in groups: what the clusters are, marker
selection, backends per stage, the agents, the run. A misspelled keyword names the closest one.
"""

from __future__ import annotations

import asyncio
from typing import Iterable, Sequence

from ..agents.session import ClusterSession
from ..agents.team import score_result
from ..errors import InputError
from ..models import ClusterResult
from ..options import checked
from ..agents.estimate import CostEstimate, estimate_run
from ..providers.stages import StageProviders, auto_provider, resolve_stages, stage_choices
from ..report import PageStream
from ..store import RunStore, iter_results, now, read_manifest, read_results
from .annotate import batchable, run_clusters
from .batch_api import BatchDispatcher, BatchOptions
from .boost import boost_summary
from .engine import (
    Runner,
    RunResult,
    RunSettings,
    build_manifest,
    default_out_dir,
    finish_run,
    run_sync,
    run_totals,
)
from .inputs import DEFAULT_FILTERS, BoostMode, MarkerSource, PathLike, ProviderLike, select_markers


async def arun_annotation(markers, *, kind: str, tissue, species, additional_info, clusters, n_genes, ranking,
                max_p_val_adj, min_log2fc, min_pct1, provider, model, api_key, base_url, validator_rounds,
                cancer_aware, check_ontology, rag, data_dir, out_dir, max_workers, resume, use_cache, cache_path,
                progress, providers, score_threshold=75, scoring_provider=None, scoring_model=None,
                boost_provider=None, boost_model=None, boost_iterations=5, boost_mode="breadth",
                report=False, batch_api=None, manifest_extra: dict | None = None, max_tokens=None,
                scoring_max_tokens=None, boost_max_tokens=None, max_concurrency=None, review_provider=None,
                review_model=None, stage_models=True, estimate_cost=False) -> RunResult | CostEstimate:
    """The one annotation run behind batch, pipeline and annotate_anndata (``kind`` says which).

    ``estimate_cost``: return what the run would cost (:class:`CostEstimate`) and send nothing.
    """
    if validator_rounds < 1:
        raise InputError(f"validator_rounds must be at least 1 (got {validator_rounds}).")
    marker_set = select_markers(markers, n_genes=n_genes, ranking=ranking, max_p_val_adj=max_p_val_adj,
                                min_log2fc=min_log2fc, min_pct1=min_pct1, clusters=clusters)
    settings = RunSettings(tissue=tissue, species=species, additional_info=additional_info,
                           n_genes=marker_set.n_genes, ranking=marker_set.ranking,
                           validator_rounds=validator_rounds, cancer_aware=cancer_aware,
                           check_ontology=check_ontology, max_workers=max_workers, score_threshold=score_threshold,
                           boost_iterations=boost_iterations, boost_mode=boost_mode, rag=bool(rag))
    if estimate_cost and providers is None:  # before any backend is built: no key, no cache, no call
        chosen = stage_choices(provider=provider or auto_provider(), model=model, base_url=base_url,
                               review_provider=review_provider, review_model=review_model,
                               scoring_provider=scoring_provider, scoring_model=scoring_model,
                               boost_provider=boost_provider, boost_model=boost_model, stage_models=stage_models)
        return estimate_run(marker_set, chosen, base_url=base_url, scoring=kind == "pipeline", species=species,
                            tissue=tissue, additional_info=additional_info, cancer_aware=cancer_aware,
                            validator_rounds=validator_rounds)
    retriever = None
    if rag:  # load (or download) the marker databases before anything is written
        from .rag import retriever_for_run  # imported here: a run without RAG starts without its code

        retriever = await asyncio.to_thread(retriever_for_run, data_dir=data_dir)
    stages = providers or resolve_stages(
        provider=provider, model=model, api_key=api_key, base_url=base_url,
        scoring_provider=scoring_provider, scoring_model=scoring_model,
        boost_provider=boost_provider, boost_model=boost_model, use_cache=use_cache, cache_path=cache_path,
        max_tokens=max_tokens, scoring_max_tokens=scoring_max_tokens, boost_max_tokens=boost_max_tokens,
        max_concurrency=max_concurrency, review_provider=review_provider, review_model=review_model,
        stage_models=stage_models,
    )
    if estimate_cost:  # ready providers were given: estimate from their configs
        chosen = {"annotator": stages.annotator, "review": stages.reviewer, "scorer": stages.scorer,
                  "boost": stages.boost}
        return estimate_run(marker_set, {k: (p, None) for k, p in chosen.items()}, scoring=kind == "pipeline",
                            species=species, tissue=tissue, additional_info=additional_info,
                            cancer_aware=cancer_aware, validator_rounds=validator_rounds)
    batch_options = BatchOptions.of(batch_api)
    store = RunStore(out_dir or default_out_dir(), resume=resume)
    extra: dict = dict(manifest_extra or {})
    batcher = None
    pages = None
    if report and kind == "pipeline":  # each cluster's page as its result lands: the end writes the index
        pages = PageStream(store.run_dir, marker_set.cluster_ids(), score_threshold)
        store.listeners.append(pages)
    try:
        if batch_options is not None:  # provider batch APIs instead of live calls
            batcher = BatchDispatcher(store.run_dir, batch_options, progress=progress)
            await batcher.start(batchable(stages))
        ids = await run_clusters(marker_set, settings, stages, store, kind=kind, progress=progress,
                                 retriever=retriever, batcher=batcher)
        if kind == "pipeline":  # which clusters were below the threshold, boosted, failed to boost
            extra["boost"] = boost_summary(iter_results(store.run_dir, ids), threshold=score_threshold,
                                           mode=boost_mode, max_iterations=boost_iterations,
                                           provider=stages.boost)
    except BaseException:
        store.close()  # release the run directory now, not when the traceback is dropped
        raise
    finally:
        if batcher is not None:
            await batcher.aclose()
            extra["batch_api"] = {**batch_options.__dict__, "batches": len(batcher.journal.records),
                                  "submitted_by_last_process": batcher.submitted}
        await stages.aclose()
    if retriever is not None:  # database versions and checksums, Cell Ontology release
        extra["rag"] = retriever.sources()
    manifest = build_manifest(store, kind=kind, settings=settings, stages=stages, markers=marker_set,
                              status="done", results=iter_results(store.run_dir, ids), extra=extra)
    return finish_run(store, ids, manifest, report=report and kind == "pipeline", pages=pages)


@checked
async def arun_pipeline(
    markers: MarkerSource, *,
    # what the clusters are
    tissue: str | None = None, species: str = "human", additional_info: str | None = None,
    clusters: Sequence[str] | None = None,
    # marker selection
    n_genes: int = 50, ranking: str = "avg_log2FC", max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
    min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc, min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    # backends, per stage (scoring and boost default to the annotation backend)
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
    estimate_cost: bool = False,
) -> RunResult | CostEstimate:
    """Async :func:`run_pipeline`."""
    options = dict(locals())
    return await arun_annotation(options.pop("markers"), kind="pipeline", **options)


@checked
def run_pipeline(
    markers: MarkerSource, *,
    tissue: str | None = None, species: str = "human", additional_info: str | None = None,
    clusters: Sequence[str] | None = None,
    n_genes: int = 50, ranking: str = "avg_log2FC", max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
    min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc, min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, scoring_provider: ProviderLike = None, scoring_model: str | None = None,
    boost_provider: ProviderLike = None, boost_model: str | None = None,
    review_provider: ProviderLike = None, review_model: str | None = None, stage_models: bool = True,
    max_tokens: int | None = None, scoring_max_tokens: int | None = None, boost_max_tokens: int | None = None,
    max_concurrency: int | None = None,
    validator_rounds: int = 3, cancer_aware: bool = False, check_ontology: bool = True,
    score_threshold: float = 75, boost_iterations: int = 5, boost_mode: BoostMode = "breadth",
    rag: bool = False, data_dir: PathLike | None = None,
    out_dir: PathLike | None = None, max_workers: int = 4, resume: bool = False, use_cache: bool = True,
    cache_path: PathLike | None = None, progress: bool = True, report: bool = True,
    batch_api: bool | dict | BatchOptions | None = None, providers: StageProviders | None = None,
    estimate_cost: bool = False,
) -> RunResult | CostEstimate:
    """Annotate, score, boost and report every cluster.

    ``markers``: anything :func:`cassia.load_markers` reads (a path, a FindAllMarkers or
    ``rank_genes_groups_df`` DataFrame, an AnnData, a MarkerSet). For an AnnData with labels
    written back into ``obs``, use :func:`cassia.annotate_anndata`.

    What the clusters are: ``tissue``, ``species``, ``additional_info`` (free text for the
    Annotator), ``clusters`` (annotate only these).

    Marker selection: ``n_genes`` per cluster, ``ranking`` (``avg_log2FC``, ``p_val_adj``,
    ``pct_diff`` or a numeric column), and the filters ``max_p_val_adj`` (adjusted p <),
    ``min_log2fc`` (avg_log2FC >), ``min_pct1`` (pct.1 >=); ``None`` turns a filter off. A
    MarkerSet keeps its own selection for the options left at their defaults.

    Backends per stage: ``provider`` (vendor name, OpenAI-compatible base URL, ``"offline"``,
    an agent CLI; None picks the first vendor with a key set, else offline), ``model``,
    ``api_key``, ``base_url``; ``scoring_provider``/``scoring_model`` and
    ``boost_provider``/``boost_model`` default to the annotation backend. ``providers``: ready
    :class:`~cassia.providers.stages.StageProviders` (tests, advanced use) replace all of these.
    Every stage takes the same forms. ``max_tokens``, ``scoring_max_tokens`` and
    ``boost_max_tokens`` limit the replies of annotation, scoring and boost (None: the server's
    default; a reply cut off at the limit fails with a message naming the option to raise);
    ``max_concurrency`` limits requests in flight per backend (None: ``max_workers`` decides).
    ``review_provider``/``review_model``: the backend of the review call (the Validator's verdict
    and the record in one answer). Stage models that fit the work: with ``stage_models`` (the
    default), review and scoring use the cheaper sibling of the annotation model on a vendor's own
    API (``gpt-4.1`` -> ``gpt-4.1-mini``, ``claude-sonnet-4-5`` -> ``claude-haiku-4-5``) unless
    their own model is named; ``stage_models=False`` keeps one model everywhere.

    The agents: ``validator_rounds`` (feedback rounds, default 3), ``cancer_aware``,
    ``check_ontology`` (the Validator checks names against the Cell Ontology),
    ``score_threshold`` (clusters scored below it are boosted and their revised answer replaces
    the original in the summary), ``boost_iterations`` (default 5), ``boost_mode``
    (``"breadth"`` or ``"depth"``), ``rag`` (add retrieved marker-database and Cell Ontology
    knowledge to the Annotator's prompt) and ``data_dir`` (folder with the marker databases).

    The run: ``out_dir`` (default ``cassia_out/run-<time>``), ``max_workers`` (clusters at
    once), ``resume`` (finish an interrupted run), ``use_cache``/``cache_path`` (the response
    cache), ``progress`` (a bar on a terminal), ``report`` (``report.html``), ``batch_api``
    (``True`` or a dict of :class:`~cassia.workflows.batch_api.BatchOptions`: every agent step
    goes through the OpenAI or Anthropic batch API, journaled in the run directory).
    ``estimate_cost=True`` sends nothing and writes nothing: it returns a :class:`CostEstimate`
    of the calls, tokens and dollars the run would take (prices from the model registry).
    """
    options = dict(locals())
    return run_sync(lambda: arun_pipeline(**options))


@checked
async def arun_batch(
    markers: MarkerSource, *,
    tissue: str | None = None, species: str = "human", additional_info: str | None = None,
    clusters: Sequence[str] | None = None,
    n_genes: int = 50, ranking: str = "avg_log2FC", max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
    min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc, min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, max_tokens: int | None = None, max_concurrency: int | None = None,
    review_provider: ProviderLike = None, review_model: str | None = None, stage_models: bool = True,
    validator_rounds: int = 3, cancer_aware: bool = False, check_ontology: bool = True,
    rag: bool = False, data_dir: PathLike | None = None,
    out_dir: PathLike | None = None, max_workers: int = 4, resume: bool = False, use_cache: bool = True,
    cache_path: PathLike | None = None, progress: bool = True,
    batch_api: bool | dict | BatchOptions | None = None, providers: StageProviders | None = None,
    estimate_cost: bool = False,
) -> RunResult | CostEstimate:
    """Async :func:`run_batch`."""
    options = dict(locals())
    return await arun_annotation(options.pop("markers"), kind="batch", **options)


@checked
def run_batch(
    markers: MarkerSource, *,
    tissue: str | None = None, species: str = "human", additional_info: str | None = None,
    clusters: Sequence[str] | None = None,
    n_genes: int = 50, ranking: str = "avg_log2FC", max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
    min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc, min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, max_tokens: int | None = None, max_concurrency: int | None = None,
    review_provider: ProviderLike = None, review_model: str | None = None, stage_models: bool = True,
    validator_rounds: int = 3, cancer_aware: bool = False, check_ontology: bool = True,
    rag: bool = False, data_dir: PathLike | None = None,
    out_dir: PathLike | None = None, max_workers: int = 4, resume: bool = False, use_cache: bool = True,
    cache_path: PathLike | None = None, progress: bool = True,
    batch_api: bool | dict | BatchOptions | None = None, providers: StageProviders | None = None,
    estimate_cost: bool = False,
) -> RunResult | CostEstimate:
    """Annotate every cluster (Annotator ⇄ review: the verdict and the record in one call), without
    scoring or boost.

    The options are :func:`run_pipeline`'s, less the scoring, boost and report ones
    (``max_tokens``, ``max_concurrency``, the review backend and ``estimate_cost`` included).
    """
    options = dict(locals())
    return run_sync(lambda: arun_batch(**options))


def _boost_note(results: Iterable[ClusterResult], threshold: float) -> dict:
    low, boosted = [], []
    for r in results:
        if r.score is not None and r.score.score < threshold:
            low.append(r.cluster)
        if r.boosted:
            boosted.append(r.cluster)
    return {"boost": {"status": "not run", "reason": "run_score_batch does not boost; use run_annotation_boost",
                      "threshold": threshold, "below_threshold": low, "boosted": boosted}}


@checked
async def arun_score_batch(
    run_dir: PathLike, *, provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, scoring_max_tokens: int | None = None, max_concurrency: int | None = None,
    rescore: bool = False, max_workers: int = 4, use_cache: bool = True,
    cache_path: PathLike | None = None, progress: bool = True, report: bool = True,
    providers: StageProviders | None = None,
) -> RunResult:
    """Async :func:`run_score_batch`."""
    read_manifest(run_dir)  # raises before the store opens: a mistyped path must not become a folder
    store = RunStore(run_dir, resume=True)
    manifest = store.manifest()
    if not manifest:
        raise InputError(f"{run_dir} is not a CASSIA run directory (no manifest.json).")
    stages = providers or resolve_stages(scoring_provider=provider, scoring_model=model, provider=provider,
                                         model=model, api_key=api_key, base_url=base_url,
                                         use_cache=use_cache, cache_path=cache_path,
                                         scoring_max_tokens=scoring_max_tokens, max_concurrency=max_concurrency)
    todo = [r for r in read_results(run_dir) if r.status == "ok" and (rescore or r.score is None)]
    runner = Runner(store, len(todo), max_workers=max_workers, progress=progress, label="scoring",
                     on_error=lambda base, reason: base.model_copy(update={"error": f"scoring failed: {reason}"}))

    async def one(result: ClusterResult) -> None:
        session = ClusterSession(cluster=result.cluster, markers=result.markers, species=result.species or "human",
                                 tissue=result.tissue, store=store, stages=dict(result.stages))

        async def job() -> ClusterResult:
            scored = await score_result(session, stages.scorer, result)
            return result.model_copy(update={"score": scored, "stages": dict(session.stages)})

        await runner.run(result.cluster, job, result)

    try:
        await asyncio.gather(*(one(r) for r in todo))
    finally:
        runner.close()
        await stages.aclose()
    threshold = manifest.get("settings", {}).get("score_threshold", 75)
    manifest.update({"updated": now(), "scoring": {"providers": stages.public().get("scorer"), "scored": len(todo)},
                     **run_totals(iter_results(run_dir)), **_boost_note(iter_results(run_dir), threshold)})
    return finish_run(store, None, manifest, report=report)


@checked
def run_score_batch(
    run_dir: PathLike, *, provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, scoring_max_tokens: int | None = None, max_concurrency: int | None = None,
    rescore: bool = False, max_workers: int = 4, use_cache: bool = True,
    cache_path: PathLike | None = None, progress: bool = True, report: bool = True,
    providers: StageProviders | None = None,
) -> RunResult:
    """Score the annotated clusters of an existing run directory (those not scored yet).

    ``provider``/``model``/``api_key``/``base_url``: the Scorer's backend, ``scoring_max_tokens``
    its output limit, ``max_concurrency`` its requests in flight. ``rescore``: score
    every ok cluster again. ``max_workers``, ``use_cache``/``cache_path``, ``progress`` and
    ``report`` as in :func:`run_pipeline`.
    """
    options = dict(locals())
    return run_sync(lambda: arun_score_batch(**options))

