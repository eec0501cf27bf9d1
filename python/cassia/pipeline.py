"""Batch and pipeline orchestration: clusters in parallel, results durable as they finish.

``run_batch`` annotates (Annotator ⇄ Validator → Formatter); ``run_pipeline`` also scores each
cluster right after it is annotated (no barrier between stages, so the critical path stays one
cluster's chain), notes the Boost step, and renders the report. One failing cluster never stops
the others; repeated authentication failures stop the run early instead of burning every cluster.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, TypeVar

import pandas as pd
from tqdm.auto import tqdm

from .agents.session import ClusterSession
from .agents.team import Team, annotate_cluster, score_result
from .errors import AuthError, CassiaError, InputError, redact
from .markers import MarkerSet, load_markers
from .models import ClusterResult
from .providers.stages import StageProviders, resolve_stages
from .store import RunStore, environment_info, iter_results, now, read_results, summary_frame

T = TypeVar("T")
AUTH_FAILURES_BEFORE_STOP = 2


class RunResult:
    """A finished (or partly finished) run: its directory, per-cluster results and manifest.

    ``results`` are read from the run directory on first use, so a run of any size returns
    without holding every cluster's transcript in memory.
    """

    def __init__(self, run_dir: str | Path, results: list[ClusterResult] | None = None,
                 manifest: dict[str, Any] | None = None, *, clusters: list[str] | None = None):
        self.run_dir = Path(run_dir)
        self.manifest = manifest if manifest is not None else {}
        self._results = results
        self._clusters = clusters

    @property
    def results(self) -> list[ClusterResult]:
        if self._results is None:
            self._results = read_results(self.run_dir, self._clusters)
        return self._results

    def to_frame(self) -> pd.DataFrame:
        if self._results is None:
            return summary_frame(iter_results(self.run_dir, self._clusters))
        return summary_frame(self._results)

    @property
    def failed(self) -> list[ClusterResult]:
        return [r for r in self.results if r.status == "failed"]

    def __repr__(self) -> str:
        return f"RunResult(run_dir={str(self.run_dir)!r}, clusters={len(self.results)}, failed={len(self.failed)})"


@dataclass
class RunSettings:
    tissue: str | None = None
    species: str = "human"
    additional_info: str | None = None
    n_genes: int = 50
    ranking: str = "avg_log2FC"
    validator_rounds: int = 3
    cancer_aware: bool = False
    check_ontology: bool = True
    max_workers: int = 4
    score_threshold: float = 75
    boost_iterations: int = 5
    boost_mode: str = "breadth"
    rag: bool = False

    def public(self) -> dict[str, Any]:
        return dict(self.__dict__)


def default_out_dir() -> Path:
    return Path("cassia_out") / datetime.now().strftime("run-%Y%m%d-%H%M%S")


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine from sync code, also when an event loop is already running (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as err:  # handed back to the caller's thread below
            box["error"] = err

    thread = threading.Thread(target=target, name="cassia-run")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class _Runner:
    """Runs one async job per cluster with a worker limit, a progress bar and early auth stop."""

    def __init__(self, store: RunStore, total: int, *, max_workers: int, progress: bool, label: str,
                 on_error: Callable[[ClusterResult, str], ClusterResult] | None = None):
        if max_workers < 1:
            raise InputError(f"max_workers must be at least 1 (got {max_workers}).")
        self.store = store
        self.semaphore = asyncio.Semaphore(max_workers)
        self.bar = tqdm(total=total, desc=label, unit="cluster", file=sys.stderr,
                        disable=not progress or not sys.stderr.isatty(), leave=False)
        self.auth_failures = 0
        self.auth_error: AuthError | None = None
        self.on_error = on_error or (lambda base, reason: base.model_copy(update={"status": "failed", "error": reason}))

    async def run(self, cluster: str, job: Callable[[], Awaitable[ClusterResult]],
                  base: ClusterResult | Callable[[], ClusterResult]) -> ClusterResult | None:
        """Run ``job``; on failure record ``base`` (or what ``base()`` builds then) with the reason."""
        async with self.semaphore:
            if callable(base):
                base_of = base
            else:
                def base_of(value=base):
                    return value
            if self.auth_error is not None:
                return None  # left for --resume once the key is fixed
            try:
                result = await job()
            except AuthError as err:
                self.auth_failures += 1
                if self.auth_failures >= AUTH_FAILURES_BEFORE_STOP:
                    self.auth_error = err
                result = self.on_error(base_of(), f"{type(err).__name__}: {err}")
            except CassiaError as err:
                result = self.on_error(base_of(), f"{type(err).__name__}: {err}")
            except Exception as err:  # a bug in one cluster must not sink the run; the reason is kept
                result = self.on_error(base_of(), redact(f"unexpected {type(err).__name__}: {err}"))
            self.store.append(result)
            self.bar.update(1)
            return result

    def close(self) -> None:
        self.bar.close()


def _manifest(store: RunStore, *, kind: str, settings: RunSettings, stages: StageProviders,
              markers: MarkerSet | None, status: str, results: Iterable[ClusterResult],
              extra: dict | None = None) -> dict:
    previous = store.manifest()
    totals = _totals(results)
    if status == "done":
        status = "complete" if totals["counts"]["failed"] == 0 else "partial"
    manifest = {
        "kind": kind,
        "status": status,
        "created": previous.get("created", now()),
        "updated": now(),
        "versions": environment_info(),
        "settings": settings.public(),
        "providers": stages.public(),
        "input": {"format": markers.source_format, "clusters": len(markers), "columns": markers.columns,
                  "filters": markers.filters.__dict__} if markers is not None else previous.get("input"),
        **totals,
    }
    manifest.update({k: v for k, v in previous.items() if k not in manifest})
    manifest.update(extra or {})
    return manifest


def _totals(results: Iterable[ClusterResult]) -> dict[str, Any]:
    """Counts, tokens and cost in one pass over (possibly streamed) results."""
    clusters = ok = input_tokens = output_tokens = 0
    cost: float | None = 0.0
    for r in results:
        clusters += 1
        ok += r.status == "ok"
        for stage in r.stages.values():
            input_tokens += stage.usage.input_tokens
            output_tokens += stage.usage.output_tokens
        cost = None if cost is None or r.cost_usd is None else cost + r.cost_usd
    return {"counts": {"clusters": clusters, "ok": ok, "failed": clusters - ok},
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            "cost_usd": None if cost is None else round(cost, 6)}


async def _annotate_all(markers: MarkerSet, settings: RunSettings, stages: StageProviders, store: RunStore,
                        *, kind: str, progress: bool, retriever=None) -> list[str]:
    """Annotate every cluster not finished yet; results go to the store, not to memory.

    Returns the cluster IDs of the run. A fixed pool of ``max_workers`` workers pulls clusters
    one by one, so memory stays flat however many clusters there are.
    """
    ids = markers.cluster_ids()
    finished = store.finished() if store.resume else set()
    todo = [c for c in markers if c.cluster not in finished]
    team = Team(annotator=stages.annotator, validator=stages.annotator, formatter=stages.annotator,
                scorer=stages.scorer if kind == "pipeline" else None)
    store.write_manifest(_manifest(store, kind=kind, settings=settings, stages=stages, markers=markers,
                                   status="running", results=iter_results(store.run_dir, finished)))
    runner = _Runner(store, len(todo), max_workers=settings.max_workers, progress=progress,
                     label="annotating" if kind == "batch" else "pipeline")

    async def one(cm) -> ClusterResult | None:
        session = ClusterSession(cluster=cm.cluster, markers=list(cm.genes), species=settings.species,
                                 tissue=settings.tissue, additional_info=settings.additional_info,
                                 cancer_aware=settings.cancer_aware, store=store)

        def base() -> ClusterResult:  # built at failure time, so it keeps what the cluster spent
            return ClusterResult(cluster=cm.cluster, status="failed", markers=list(cm.genes), tissue=settings.tissue,
                                 species=settings.species, stages=dict(session.stages))

        async def job() -> ClusterResult:
            if retriever is not None:  # RAG: retrieved knowledge goes into the Annotator's first prompt
                from .rag.run import annotate_with_rag

                return await annotate_with_rag(session, team, retriever, validator_rounds=settings.validator_rounds,
                                               check_ontology=settings.check_ontology)
            return await annotate_cluster(session, team, validator_rounds=settings.validator_rounds,
                                          check_ontology=settings.check_ontology)

        await runner.run(cm.cluster, job, base)

    pending = iter(todo)

    async def worker() -> None:
        for cm in pending:  # the workers share one iterator: each takes the next cluster
            await one(cm)

    try:
        await asyncio.gather(*(worker() for _ in range(min(settings.max_workers, len(todo)))))
    finally:
        runner.close()
    if runner.auth_error is not None:
        store.write_manifest(_manifest(store, kind=kind, settings=settings, stages=stages, markers=markers,
                                       status="failed", results=iter_results(store.run_dir, ids),
                                       extra={"error": f"stopped after repeated authentication failures: {runner.auth_error}"}))
        store.write_summary(iter_results(store.run_dir, ids))
        raise AuthError(f"{runner.auth_error} The run stopped early; fix the key and rerun with resume=True (--resume).",
                        status=runner.auth_error.status)
    return ids


def _boost_note(results: Iterable[ClusterResult], threshold: float) -> dict:
    low, boosted = [], []
    for r in results:
        if r.score is not None and r.score.score < threshold:
            low.append(r.cluster)
        if r.boosted:
            boosted.append(r.cluster)
    return {"boost": {"status": "not run", "reason": "run_score_batch does not boost; use run_annotation_boost",
                      "threshold": threshold, "below_threshold": low, "boosted": boosted}}


def _finish(store: RunStore, clusters: list[str] | None, manifest: dict, *, report: bool) -> RunResult:
    store.write_summary(iter_results(store.run_dir, clusters))
    store.write_manifest(manifest)
    if report:
        from .report import render_report

        render_report(store.run_dir, manifest=manifest, clusters=clusters)
    return RunResult(store.run_dir, manifest=manifest, clusters=clusters)


def _prepare(markers, *, n_genes: int, ranking: str, clusters: list[str] | None) -> MarkerSet:
    marker_set = load_markers(markers, n_genes=n_genes, ranking=ranking)
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
                boost_mode="breadth", report=True, rag=False, data_dir=None,
                providers: StageProviders | None = None, cache_path=None) -> RunResult:
    if validator_rounds < 1:
        raise InputError(f"validator_rounds must be at least 1 (got {validator_rounds}).")
    marker_set = _prepare(markers, n_genes=n_genes, ranking=ranking, clusters=clusters)
    settings = RunSettings(tissue=tissue, species=species, additional_info=additional_info, n_genes=n_genes,
                           ranking=ranking, validator_rounds=validator_rounds, cancer_aware=cancer_aware,
                           check_ontology=check_ontology, max_workers=max_workers, score_threshold=score_threshold,
                           boost_iterations=boost_iterations, boost_mode=boost_mode, rag=bool(rag))
    retriever = None
    if rag:  # load (or download) the marker databases before anything is written
        from .rag.run import retriever_for_run

        retriever = await asyncio.to_thread(retriever_for_run, data_dir=data_dir)
    stages = providers or resolve_stages(
        provider=provider, model=model, api_key=api_key, base_url=base_url,
        scoring_provider=scoring_provider, scoring_model=scoring_model,
        boost_provider=boost_provider, boost_model=boost_model, use_cache=use_cache, cache_path=cache_path,
    )
    store = RunStore(out_dir or default_out_dir(), resume=resume)
    extra: dict = {}
    try:
        ids = await _annotate_all(marker_set, settings, stages, store, kind=kind, progress=progress,
                                  retriever=retriever)
        if kind == "pipeline":  # Annotation Boost for every ok cluster scored below the threshold
            from .boost import boost_below_threshold

            # only clusters that can need (or had) a boost are loaded
            candidates = [r for r in iter_results(store.run_dir, ids) if r.status == "ok" and (
                r.boosted or (r.score is not None and r.score.score < score_threshold))]
            _, extra = await boost_below_threshold(marker_set, candidates, settings=settings,
                                                         provider=stages.boost, store=store, progress=progress,
                                                         max_iterations=boost_iterations, mode=boost_mode,
                                                         scorer=stages.scorer)
    finally:
        await stages.aclose()
    if retriever is not None:  # database versions and checksums, Cell Ontology release
        extra["rag"] = retriever.sources()
    manifest = _manifest(store, kind=kind, settings=settings, stages=stages, markers=marker_set,
                         status="done", results=iter_results(store.run_dir, ids), extra=extra)
    return _finish(store, ids, manifest, report=report and kind == "pipeline")


def run_batch(markers, **kwargs) -> RunResult:
    """Annotate every cluster (Annotator ⇄ Validator → Formatter). See :func:`run_pipeline` for arguments."""
    return run_sync(lambda: arun_batch(markers, **kwargs))


def run_pipeline(markers, **kwargs) -> RunResult:
    """Annotate, score, (boost) and report every cluster.

    ``markers``: anything :func:`cassia.load_markers` reads. Keyword arguments: ``tissue``,
    ``species``, ``provider`` (vendor name, OpenAI-compatible base URL, ``"offline"``; None picks the
    first vendor with a key set, else offline), ``model``, ``out_dir``, ``max_workers``, ``n_genes``,
    ``ranking``, ``additional_info``, ``validator_rounds``, ``cancer_aware``, ``use_cache``,
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
    runner = _Runner(store, len(todo), max_workers=max_workers, progress=progress, label="scoring",
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
                     **_totals(iter_results(run_dir)), **_boost_note(iter_results(run_dir), threshold)})
    return _finish(store, None, manifest, report=report)


def run_score_batch(run_dir, **kwargs) -> RunResult:
    """Score the annotated clusters of an existing run directory (those not scored yet)."""
    return run_sync(lambda: arun_score_batch(run_dir, **kwargs))

