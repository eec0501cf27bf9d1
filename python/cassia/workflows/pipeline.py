"""Batch and pipeline orchestration: clusters in parallel, results durable as they finish.

``run_batch`` annotates (Annotator ⇄ Validator → Formatter); ``run_pipeline`` also scores each
cluster right after it is annotated (no barrier between stages, so the critical path stays one
cluster's chain), notes the Boost step, and renders the report. One failing cluster never stops
the others; repeated authentication failures stop the run early instead of burning every cluster.
"""

from __future__ import annotations

import asyncio
from typing import Iterable

from ..agents.session import ClusterSession
from ..agents.team import Team, annotate_cluster, score_result
from ..errors import AuthError, ConfigError, InputError
from ..markers import MarkerSet, chosen_filters, load_markers
from ..models import ClusterResult
from ..providers.stages import StageProviders, resolve_stages
from ..spelling import spell
from ..store import RunStore, iter_results, now, read_results
from .batch_api import BatchDispatcher, BatchOptions
from .boost import boost_and_rescore, boost_failed, boost_summary, needs_boost
from .engine import (
    Runner,
    RunResult,
    RunSettings,
    build_manifest,
    default_out_dir,
    finish_run,
    run_pool,
    run_sync,
    run_totals,
)
from .rag import annotate_with_rag, retriever_for_run


async def _run_clusters(markers: MarkerSet, settings: RunSettings, stages: StageProviders, store: RunStore,
                        *, kind: str, progress: bool, retriever=None, batcher: BatchDispatcher | None = None
                        ) -> list[str]:
    """Run every cluster not finished yet; results go to the store, not to memory.

    One job per cluster carries it through every stage: annotation, then (pipeline) scoring and,
    when the score is below the threshold, Annotation Boost and a new score. No stage waits for
    the other clusters, so workers never idle at a barrier and the run's length is bound by
    the calls, not by its slowest stage. A fixed pool of ``max_workers`` workers pulls clusters
    one by one, so memory stays flat however many clusters there are. On resume, finished
    clusters that still need their boost get only that. With a ``batcher`` (batch-API mode)
    every cluster runs at once and their calls wait for provider batches. Returns the cluster IDs.
    """
    ids = markers.cluster_ids()
    boosting = kind == "pipeline" and stages.boost.config.kind != "offline"
    finished = store.finished() if store.resume else set()
    pending_boost = {r.cluster: r for r in iter_results(store.run_dir, finished)
                     if boosting and needs_boost(r, settings.score_threshold)} if finished else {}
    todo = [c for c in markers if c.cluster not in finished or c.cluster in pending_boost]
    team = Team(annotator=stages.annotator, validator=stages.annotator, formatter=stages.annotator,
                scorer=stages.scorer if kind == "pipeline" else None)
    store.write_manifest(build_manifest(store, kind=kind, settings=settings, stages=stages, markers=markers,
                                        status="running", results=iter_results(store.run_dir, finished)))
    workers = max(1, len(todo)) if batcher is not None else settings.max_workers
    runner = Runner(store, len(todo), max_workers=workers, progress=progress and batcher is None,
                    label="annotating" if kind == "batch" else "pipeline")

    async def annotate(cm) -> ClusterResult | None:
        session = ClusterSession(cluster=cm.cluster, markers=list(cm.genes), species=settings.species,
                                 tissue=settings.tissue, additional_info=settings.additional_info,
                                 cancer_aware=settings.cancer_aware, store=store,
                                 table_genes=tuple(cm.stats["gene"].astype(str)))

        def base() -> ClusterResult:  # built at failure time, so it keeps what the cluster spent
            return ClusterResult(cluster=cm.cluster, status="failed", markers=list(cm.genes), tissue=settings.tissue,
                                 species=settings.species, stages=dict(session.stages))

        async def job() -> ClusterResult:
            if retriever is not None:  # RAG: retrieved knowledge goes into the Annotator's first prompt
                return await annotate_with_rag(session, team, retriever, validator_rounds=settings.validator_rounds,
                                               check_ontology=settings.check_ontology)
            return await annotate_cluster(session, team, validator_rounds=settings.validator_rounds,
                                          check_ontology=settings.check_ontology)

        return await runner.run(cm.cluster, job, base)

    async def one(cm) -> None:
        if batcher is not None:
            async with batcher.job():
                return await stages_of(cm)
        return await stages_of(cm)

    async def stages_of(cm) -> None:
        result = pending_boost.pop(cm.cluster, None) or await annotate(cm)
        if result is None or not boosting or not needs_boost(result, settings.score_threshold):
            return
        await runner.run(cm.cluster, lambda: boost_and_rescore(
            result, markers, settings=settings, provider=stages.boost, store=store,
            max_iterations=settings.boost_iterations, mode=settings.boost_mode, scorer=stages.scorer), result,
            on_error=boost_failed, advance=False)

    try:
        await run_pool(todo, one, max_workers=min(workers, len(todo)))
    finally:
        runner.close()
    if runner.auth_error is not None:
        store.write_manifest(build_manifest(store, kind=kind, settings=settings, stages=stages, markers=markers,
                                            status="failed", results=iter_results(store.run_dir, ids),
                                            extra={"error": f"stopped after repeated authentication failures: {runner.auth_error}"}))
        store.write_summary(iter_results(store.run_dir, ids))
        raise AuthError(f"{runner.auth_error} The run stopped early; fix the key and rerun with {spell('resume', True)}.",
                        status=runner.auth_error.status)
    return ids


def _batchable(stages: StageProviders) -> list:
    """The stages' backends that go through batch APIs (the offline annotator answers at once)."""
    chosen = [p for p in stages.unique() if p.config.kind in ("openai", "anthropic")]
    if stages.annotator.config.kind not in ("openai", "anthropic"):
        raise ConfigError(f"batch_api needs an OpenAI or Anthropic backend; {stages.annotator.config.name} "
                          f"({stages.annotator.config.kind}) has no batch API. Run without --batch-api / batch_api.")
    return chosen


def _boost_note(results: Iterable[ClusterResult], threshold: float) -> dict:
    low, boosted = [], []
    for r in results:
        if r.score is not None and r.score.score < threshold:
            low.append(r.cluster)
        if r.boosted:
            boosted.append(r.cluster)
    return {"boost": {"status": "not run", "reason": "run_score_batch does not boost; use run_annotation_boost",
                      "threshold": threshold, "below_threshold": low, "boosted": boosted}}


def _prepare(markers, *, n_genes: int, ranking: str, clusters: list[str] | None, filters) -> MarkerSet:
    marker_set = load_markers(markers, n_genes=n_genes, ranking=ranking, filters=filters)
    if clusters is not None:
        marker_set = marker_set.subset([str(c) for c in clusters])
    return marker_set


async def arun_batch(markers, **kwargs) -> RunResult:
    return await _arun(markers, kind="batch", **kwargs)


async def arun_pipeline(markers, **kwargs) -> RunResult:
    return await _arun(markers, kind="pipeline", **kwargs)


async def _arun(markers, *, kind: str, tissue=None, species="human", provider=None, model=None, out_dir=None,
                max_workers=4, n_genes=50, ranking="avg_log2FC", additional_info=None, validator_rounds=3,
                cancer_aware=False, check_ontology=True, use_cache=True, resume=False, progress=True,
                api_key=None, base_url=None, clusters=None, score_threshold=75, scoring_provider=None,
                scoring_model=None, boost_provider=None, boost_model=None, boost_iterations=5,
                boost_mode="breadth", report=True, rag=False, data_dir=None, batch_api=None,
                providers: StageProviders | None = None, cache_path=None, max_p_val_adj=0.05, min_log2fc=0.25,
                min_pct1=0.1) -> RunResult:
    if validator_rounds < 1:
        raise InputError(f"validator_rounds must be at least 1 (got {validator_rounds}).")
    marker_set = _prepare(markers, n_genes=n_genes, ranking=ranking, clusters=clusters,
                          filters=chosen_filters(markers, max_p_val_adj, min_log2fc, min_pct1))
    settings = RunSettings(tissue=tissue, species=species, additional_info=additional_info, n_genes=n_genes,
                           ranking=ranking, validator_rounds=validator_rounds, cancer_aware=cancer_aware,
                           check_ontology=check_ontology, max_workers=max_workers, score_threshold=score_threshold,
                           boost_iterations=boost_iterations, boost_mode=boost_mode, rag=bool(rag))
    retriever = None
    if rag:  # load (or download) the marker databases before anything is written
        retriever = await asyncio.to_thread(retriever_for_run, data_dir=data_dir)
    stages = providers or resolve_stages(
        provider=provider, model=model, api_key=api_key, base_url=base_url,
        scoring_provider=scoring_provider, scoring_model=scoring_model,
        boost_provider=boost_provider, boost_model=boost_model, use_cache=use_cache, cache_path=cache_path,
    )
    batch_options = BatchOptions.of(batch_api)
    store = RunStore(out_dir or default_out_dir(), resume=resume)
    extra: dict = {}
    batcher = None
    try:
        if batch_options is not None:  # provider batch APIs instead of live calls
            batcher = BatchDispatcher(store.run_dir, batch_options, progress=progress)
            await batcher.start(_batchable(stages))
        ids = await _run_clusters(marker_set, settings, stages, store, kind=kind, progress=progress,
                                           retriever=retriever, batcher=batcher)
        if kind == "pipeline":  # which clusters were below the threshold, boosted, failed to boost
            extra["boost"] = boost_summary(iter_results(store.run_dir, ids), threshold=score_threshold,
                                           mode=boost_mode, max_iterations=boost_iterations,
                                           provider=stages.boost)
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
    return finish_run(store, ids, manifest, report=report and kind == "pipeline")


def run_batch(markers, **kwargs) -> RunResult:
    """Annotate every cluster (Annotator ⇄ Validator → Formatter). See :func:`run_pipeline` for arguments."""
    return run_sync(lambda: arun_batch(markers, **kwargs))


def run_pipeline(markers, **kwargs) -> RunResult:
    """Annotate, score, (boost) and report every cluster.

    ``markers``: anything :func:`cassia.load_markers` reads. Keyword arguments: ``tissue``,
    ``species``, ``provider`` (vendor name, OpenAI-compatible base URL, ``"offline"``; None picks the
    first vendor with a key set, else offline), ``model``, ``out_dir``, ``max_workers``, ``n_genes``,
    ``ranking``, ``max_p_val_adj``, ``min_log2fc``, ``min_pct1`` (marker filters, see
    :class:`cassia.MarkerFilters`; ``None`` turns one off), ``additional_info``, ``validator_rounds``, ``cancer_aware``, ``use_cache``,
    ``resume``, ``progress``, ``api_key``, ``base_url``, ``clusters``, ``score_threshold``,
    ``scoring_provider``, ``scoring_model``, ``boost_provider``, ``boost_model``, ``boost_iterations``
    (default 5), ``boost_mode`` ("breadth" or "depth"), ``report``, ``rag`` (add retrieved marker-database
    and Cell Ontology knowledge to the Annotator's prompt, see :mod:`cassia.rag`) and ``data_dir`` (folder
    with the marker databases; default ``$CASSIA_DATA_DIR`` or the user cache, downloaded on first use).
    Clusters scored below ``score_threshold`` are boosted and their revised answer replaces the original
    in the summary.
    """
    return run_sync(lambda: arun_pipeline(markers, **kwargs))


async def arun_score_batch(run_dir, *, provider=None, model=None, api_key=None, base_url=None, max_workers=4,
                           use_cache=True, progress=True, rescore=False, report=True, cache_path=None,
                           providers: StageProviders | None = None) -> RunResult:
    store = RunStore(run_dir, resume=True)
    manifest = store.manifest()
    if not manifest:
        raise InputError(f"{run_dir} is not a CASSIA run directory (no manifest.json).")
    stages = providers or resolve_stages(scoring_provider=provider, scoring_model=model, provider=provider,
                                         model=model, api_key=api_key, base_url=base_url,
                                         use_cache=use_cache, cache_path=cache_path)
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


def run_score_batch(run_dir, **kwargs) -> RunResult:
    """Score the annotated clusters of an existing run directory (those not scored yet)."""
    return run_sync(lambda: arun_score_batch(run_dir, **kwargs))

