"""Running every cluster of a run through its stages (annotation; in a pipeline scoring and boost).

A fixed pool of workers pulls clusters one by one, each result goes to the run store the moment
it is finished, and repeated authentication failures stop the run early (resume finishes it).
"""

from __future__ import annotations

import asyncio

from ..agents.session import ClusterSession
from ..agents.team import Team, annotate_cluster
from ..errors import AuthError, ConfigError
from ..markers import MarkerSet
from ..models import ClusterResult
from ..ontology import load as load_ontology
from ..providers.stages import StageProviders
from ..spelling import spell
from ..store import RunStore, iter_results
from .batch_api import BatchDispatcher
from .boost import boost_and_rescore, boost_failed, needs_boost
from .engine import Runner, RunSettings, build_manifest, run_pool


async def run_clusters(markers: MarkerSet, settings: RunSettings, stages: StageProviders, store: RunStore,
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
    team = Team(annotator=stages.annotator, reviewer=stages.reviewer,
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
                                 table_genes=cm.table_genes())

        def base() -> ClusterResult:  # built at failure time, so it keeps what the cluster spent
            return ClusterResult(cluster=cm.cluster, status="failed", markers=list(cm.genes), tissue=settings.tissue,
                                 species=settings.species, stages=dict(session.stages))

        async def job() -> ClusterResult:
            if retriever is not None:  # RAG: retrieved knowledge goes into the Annotator's first prompt
                from .rag import annotate_with_rag  # only runs with rag=True load the marker databases' code

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

    # built in a thread while the first requests are out: ready by the first review
    ontology = asyncio.get_running_loop().run_in_executor(None, load_ontology) if todo else None
    try:
        await run_pool(todo, one, max_workers=min(workers, len(todo)))
    finally:
        runner.close()
        if ontology is not None:
            await ontology
    if runner.auth_error is not None:
        store.write_manifest(build_manifest(store, kind=kind, settings=settings, stages=stages, markers=markers,
                                            status="failed", results=iter_results(store.run_dir, ids),
                                            extra={"error": f"stopped after repeated authentication failures: {runner.auth_error}"}))
        store.write_summary(iter_results(store.run_dir, ids))
        raise AuthError(f"{runner.auth_error} The run stopped early; fix the key and rerun with {spell('resume', True)}.",
                        status=runner.auth_error.status)
    return ids


def batchable(stages: StageProviders) -> list:
    """The stages' backends that go through batch APIs (the offline annotator answers at once)."""
    chosen = [p for p in stages.unique() if p.config.kind in ("openai", "anthropic")]
    if stages.annotator.config.kind not in ("openai", "anthropic"):
        raise ConfigError(f"batch_api needs an OpenAI or Anthropic backend; {stages.annotator.config.name} "
                          f"({stages.annotator.config.kind}) has no batch API. Run without --batch-api / batch_api.")
    return chosen
