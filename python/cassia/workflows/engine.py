"""The run engine every workflow is built on.

A workflow (batch, pipeline, boost, subclusters, uncertainty, ensemble, ...) hands the engine one
async job per cluster. The engine runs them with a worker limit (:func:`run_pool`, :class:`Runner`),
shows progress, writes each result to the run store the moment it finishes (so a crash loses at
most the clusters in flight and ``resume`` finishes only what is missing), stops early after
repeated authentication failures, and writes the summary, manifest and report at the end
(:func:`build_manifest`, :func:`finish_run`). :class:`RunResult` is what every workflow returns.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Iterator, TypeVar

import pandas as pd
from tqdm.auto import tqdm

from ..errors import AuthError, CassiaError, InputError, redact
from ..markers import MarkerSet
from ..models import ClusterResult, Usage
from ..providers.stages import StageProviders
from ..report import PageStream, render_report
from ..store import (
    RunStore,
    input_order,
    environment_info,
    iter_results,
    missing_clusters,
    now,
    read_manifest,
    read_results,
    summary_frame,
)
from ..writeback import write_labels

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

    def iter_results(self) -> Iterator[ClusterResult]:
        """The results one at a time: read from the run directory unless already loaded."""
        return iter(self._results) if self._results is not None else iter_results(self.run_dir, self._clusters)

    @property
    def failed(self) -> list[ClusterResult]:
        # streamed: a 10,000-cluster run keeps only its failures in memory
        return [r for r in self.iter_results() if r.status == "failed"]

    @classmethod
    def load(cls, run_dir: str | Path) -> RunResult:
        """A finished (or interrupted) run read back from its directory."""
        manifest = read_manifest(run_dir)
        if not manifest:
            raise InputError(f"{run_dir} is not a CASSIA run directory (no manifest.json); pass the out_dir "
                             "a run wrote")
        return cls(run_dir, manifest=manifest, clusters=input_order(run_dir))

    def to_adata(self, adata: Any, *, groupby: str | None = None, key_added: str | None = None) -> dict[str, Any]:
        """Write this run's labels into ``adata.obs`` and its record into ``adata.uns[key_added]``.

        ``groupby``: the ``obs`` column the run's clusters are values of; ``key_added``: the
        prefix of the new columns (``{key}_general``, ``{key}_detailed``, ``{key}_score``,
        ``{key}_ontology_id``, ``{key}_status``). Both default to what :func:`cassia.annotate_anndata`
        recorded for this run, else ``groupby`` is required and ``key_added`` is ``"cassia"``.
        Failed groups keep earlier labels and are named in a warning. Returns the stored record.
        """
        recorded = self.manifest.get("anndata") or {}
        groupby = groupby or recorded.get("groupby")
        if not groupby:
            raise InputError("pass groupby=: the adata.obs column whose values are this run's cluster IDs")
        record = {"run_dir": str(self.run_dir.resolve()), "kind": self.manifest.get("kind"),
                  "status": self.manifest.get("status"), "settings": self.manifest.get("settings"),
                  "providers": self.manifest.get("providers"), "versions": self.manifest.get("versions"),
                  "counts": self.manifest.get("counts"), **{k: v for k, v in recorded.items() if k != "groupby"}}
        return write_labels(adata, self.to_frame(), groupby=groupby, key=key_added or recorded.get("key_added")
                            or "cassia", record=record)

    def __repr__(self) -> str:
        # from the manifest's counts: asyncio shows a finished task's result, and reading every
        # cluster back for that kept a 10,000-cluster run in memory until the process ended
        counts = self.manifest.get("counts") or {}
        if self._results is not None or not counts:
            counts = {"clusters": len(self.results), "failed": len(self.failed)}
        return f"RunResult(run_dir={str(self.run_dir)!r}, clusters={counts.get('clusters')}, failed={counts.get('failed')})"


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


class Runner:
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
                  base: ClusterResult | Callable[[], ClusterResult], *,
                  on_error: Callable[[ClusterResult, str], ClusterResult] | None = None,
                  advance: bool = True) -> ClusterResult | None:
        """Run ``job``; on failure record ``base`` (or what ``base()`` builds then) with the reason.

        ``on_error`` overrides the runner's failure rule for this job (a later stage of a cluster
        keeps the earlier answer); ``advance=False`` leaves the progress bar alone (that stage
        is not a new cluster).
        """
        on_error = on_error or self.on_error
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
                result = on_error(base_of(), f"{type(err).__name__}: {err}")
            except CassiaError as err:
                result = on_error(base_of(), f"{type(err).__name__}: {err}")
            except Exception as err:  # a bug in one cluster must not sink the run; the reason is kept
                result = on_error(base_of(), redact(f"unexpected {type(err).__name__}: {err}"))
        # durable before the cluster goes on; the writer thread fsyncs, the slot is already free
        await self.store.append_async(result)
        if advance:
            self.bar.update(1)
        return result

    def close(self) -> None:
        self.bar.close()


def build_manifest(store: RunStore, *, kind: str, settings: RunSettings, stages: StageProviders,
              markers: MarkerSet | None, status: str, results: Iterable[ClusterResult],
              extra: dict | None = None) -> dict:
    previous = store.manifest()
    totals = run_totals(results)
    if status == "done":
        # complete only when every input cluster has an ok result in the log (a lost line is not ok)
        missing = missing_clusters(store.run_dir, markers.cluster_ids()) if markers is not None else []
        totals["counts"]["missing"] = len(missing)
        status = "complete" if totals["counts"]["failed"] == 0 and not missing else "partial"
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


def run_totals(results: Iterable[ClusterResult]) -> dict[str, Any]:
    """Counts, tokens and cost in one pass over (possibly streamed) results."""
    clusters = ok = 0
    usage = Usage()
    cost: float | None = 0.0
    saved = 0.0  # what the answers served from the response cache cost when first bought
    stages: dict[str, dict[str, Any]] = {}  # per stage: who answered, calls, tokens, dollars
    for r in results:
        clusters += 1
        ok += r.status == "ok"
        for name, stage in r.stages.items():
            usage = usage + stage.usage
            saved += stage.saved_usd
            total = stages.setdefault(name, {"provider": stage.provider, "model": stage.model, "calls": 0,
                                             "usage": Usage(), "cost_usd": 0.0})
            total["calls"] += stage.calls
            total["usage"] = total["usage"] + stage.usage
            total["cost_usd"] = None if total["cost_usd"] is None or stage.cost_usd is None \
                else total["cost_usd"] + stage.cost_usd
        cost = None if cost is None or r.cost_usd is None else cost + r.cost_usd
    for total in stages.values():
        total["usage"] = total["usage"].model_dump()
        total["cost_usd"] = None if total["cost_usd"] is None else round(total["cost_usd"], 6)
    return {"counts": {"clusters": clusters, "ok": ok, "failed": clusters - ok},
            "usage": usage.model_dump(), "stages": stages,
            "cost_usd": None if cost is None else round(cost, 6), "saved_usd": round(saved, 6)}


async def run_pool(items: Iterable[T], one: Callable[[T], Awaitable[Any]], *, max_workers: int) -> None:
    """Run ``one(item)`` for every item with at most ``max_workers`` at a time.

    A fixed pool of workers shares one iterator, so memory stays flat however many items there
    are (no task per item is created up front).
    """
    pending = iter(items)

    async def worker() -> None:
        for item in pending:  # each worker takes the next item when it is free
            await one(item)

    await asyncio.gather(*(worker() for _ in range(max(1, max_workers))))


def finish_run(store: RunStore, clusters: list[str] | None, manifest: dict, *, report: bool,
               pages: PageStream | None = None) -> RunResult:
    """Write the summary and the report (``pages``: the cluster pages written as the run went), then
    the manifest: its final status is written last, so a run killed while writing its outputs never
    claims to be complete. Releases the run directory."""
    if clusters is None:  # a later step on a finished run (scoring): keep its input's order
        clusters = input_order(store.run_dir)
    try:
        store.flush()
        store.write_manifest({**manifest, "status": "running"})
        store.write_summary(iter_results(store.run_dir, clusters))
        if report:
            render_report(store.run_dir, manifest=manifest, clusters=clusters, pages=pages)
        store.write_manifest(manifest)
    finally:
        store.close()
    return RunResult(store.run_dir, manifest=manifest, clusters=clusters)
