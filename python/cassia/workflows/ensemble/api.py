"""``run_ensemble``: several models annotate every cluster; they deliberate only where they disagree.

Stage one: every model runs the full team (Annotator ⇄ Validator → Formatter) on every cluster,
all models at once, each as a normal run directory ``out_dir/models/<label>/`` (resumable, behind
the response cache). A model whose run dies or times out loses its votes and the others go on;
only "every model failed" is an error. Stage two (:mod:`.discuss`): clusters below the
consensus threshold are deliberated, then arbitrated. Each decided cluster is appended to
``ensemble.jsonl`` at once; on resume the model runs finish what is missing and a cluster is
decided again only when a model's first answer changed.
"""

from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from ...errors import CassiaError, InputError, ProviderError, redact
from ...markers import MarkerSet
from ...options import checked
from ...providers.base import Completion, CompletionRequest, Provider
from ...providers.stages import StageProviders
from ...report import render_report
from ...report.ensemble import render_ensemble_report
from ...spelling import spell
from ...store import RunStore, environment_info, now, read_results, write_csv
from ..engine import RunResult, run_pool, run_sync
from ..inputs import DEFAULT_FILTERS, MarkerSource, PathLike, select_markers
from ..pipeline import arun_batch
from .discuss import Panel, RunUsage, decide_cluster
from .result import ENSEMBLE_LOG, ClusterEnsemble, EnsembleResult, ModelAnswer, read_ensemble
from .spec import ModelSpec, resolve_arbiter, resolve_models
from .vote import answer_of

__all__ = ["arun_ensemble", "default_ensemble_dir", "run_ensemble"]

DEFAULT_THRESHOLD = 2 / 3


class _Borrowed:
    """A member's provider lent to its run: the run closes its providers, the ensemble closes this one later."""

    def __init__(self, inner: Provider):
        self.inner = inner
        self.config = inner.config

    async def complete(self, request: CompletionRequest) -> Completion:
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        """Closed once by :func:`arun_ensemble` after the deliberation."""


@dataclass
class ModelRun:
    """How one model's run went."""

    label: str
    status: str  # complete | partial | failed | timed out
    run: RunResult | None = None
    error: str | None = None

    @property
    def lost(self) -> bool:
        return self.run is None


def default_ensemble_dir() -> Path:
    return Path("cassia_out") / datetime.now().strftime("ensemble-%Y%m%d-%H%M%S")


def _check(threshold: float, rounds: int, timeout: float | None, max_workers: int) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise InputError(f"threshold must be a share of the models above 0 and at most 1 (default 2/3), got "
                         f"{threshold!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise InputError(f"rounds must be a whole number >= 0 of discussion rounds (default 2), got {rounds!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise InputError(f"timeout must be a positive number of seconds per model run (or None), got {timeout!r}")
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise InputError(f"max_workers must be at least 1 (got {max_workers!r}).")
    return float(threshold)


def _check_folder(root: Path, resume: bool) -> None:
    if resume:
        return
    used = (root / ENSEMBLE_LOG).exists() or (root / "models").is_dir() and any((root / "models").iterdir())
    if used:
        raise InputError(f"{root} already holds an ensemble. Pass {spell('resume', True)} to finish it, "
                         "or choose another output folder.")


async def _run_model(member: ModelSpec, markers: MarkerSet, root: Path, batch: dict[str, Any],
                     timeout: float | None) -> ModelRun:
    stages = StageProviders(*(_Borrowed(member.provider),) * 3)
    run = arun_batch(markers, out_dir=root / "models" / member.label, providers=stages, **batch)
    try:
        result = await (asyncio.wait_for(run, timeout) if timeout else run)
    except asyncio.TimeoutError:
        return ModelRun(member.label, "timed out", error=f"its run did not finish within {timeout:g} s")
    except CassiaError as err:
        return ModelRun(member.label, "failed", error=redact(f"{type(err).__name__}: {err}"))
    except Exception as err:  # one model's crash must not sink the ensemble; the reason is kept
        return ModelRun(member.label, "failed", error=redact(f"unexpected {type(err).__name__}: {err}"))
    status = result.manifest.get("status", "partial")
    return ModelRun(member.label, "complete" if status == "complete" else "partial", run=result)


def _answers(runs: Sequence[ModelRun], clusters: Sequence[str], root: Path):
    """Per cluster, every model's first answer and what its run spent on it."""
    answers: dict[str, dict[str, ModelAnswer]] = {c: {} for c in clusters}
    usage: dict[str, dict[str, RunUsage]] = {c: {} for c in clusters}
    for run in runs:
        results = {} if run.lost else {r.cluster: r for r in read_results(root / "models" / run.label, clusters)}
        for cluster in clusters:
            result = results.get(cluster)
            if run.lost:  # the whole run died or timed out: every vote of this model is lost
                answers[cluster][run.label] = answer_of(None, missing=run.status, why=f"its run {run.status}: {run.error}")
            else:
                answers[cluster][run.label] = answer_of(result, why="its run did not reach this cluster")
            if result is not None:
                usage[cluster][run.label] = RunUsage(result.tokens, result.cost_usd)
    return answers, usage


class _Log:
    """``ensemble.jsonl``: one record per decided cluster, appended and fsync'd as it is decided."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()

    def append(self, record: ClusterEnsemble) -> None:
        line = (redact(record.model_dump_json()) + "\n").encode("utf-8")
        with self.lock, open(self.path, "a+b") as handle:
            if handle.seek(0, os.SEEK_END) > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":  # never glue a record onto a line cut short
                    line = b"\n" + line
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def _unchanged(record: ClusterEnsemble, answers: dict[str, ModelAnswer]) -> bool:
    if {v.model for v in record.votes} != set(answers):
        return False
    return all(v.initial.same_call(answers[v.model]) for v in record.votes)


def _same_rules(previous: dict[str, Any], settings: dict[str, Any], judge: ModelSpec | None) -> bool:
    """Whether decisions recorded under ``previous`` still hold: same threshold, rounds and arbiter."""
    before = previous.get("settings") or {}
    arbiter = (previous.get("arbiter") or {}).get("spec")
    return (before.get("threshold"), before.get("rounds"), arbiter) == (
        settings["threshold"], settings["rounds"], judge.spec if judge else None)


def _counts(records: Sequence[ClusterEnsemble]) -> dict[str, int]:
    counts = {"clusters": len(records)}
    for status in ("agreed", "deliberated", "arbitrated", "unresolved", "no vote"):
        counts[status] = sum(r.ensemble_status == status for r in records)
    counts["deliberation_calls"] = sum(r.deliberation_calls for r in records)
    counts["arbiter_calls"] = sum(r.arbiter is not None for r in records)
    return counts


def _manifest(store: RunStore, *, status: str, members: Sequence[ModelSpec], runs: Sequence[ModelRun],
              arbiter: ModelSpec | None, records: Sequence[ClusterEnsemble], markers: MarkerSet,
              settings: dict[str, Any]) -> dict[str, Any]:
    previous = store.manifest()
    costs = [r.cost_usd for r in records]
    by_label = {r.label: r for r in runs}
    return {
        "kind": "ensemble", "status": status, "created": previous.get("created", now()), "updated": now(),
        "versions": environment_info(), "settings": settings,
        "models": [{**m.public(), "run_dir": f"models/{m.label}", "status": by_label[m.label].status,
                    "error": by_label[m.label].error} for m in members] if runs else [m.public() for m in members],
        "arbiter": arbiter.public() if arbiter is not None else None,
        "input": {"format": markers.source_format, "clusters": len(markers), "filters": markers.filters.__dict__},
        "clusters": markers.cluster_ids(), "counts": _counts(records),
        "usage": {"tokens": sum(r.tokens for r in records)},
        "cost_usd": None if any(c is None for c in costs) else round(sum(costs), 6),
    }


@checked
async def arun_ensemble(
    markers: MarkerSource, *, models: Sequence[Any],
    tissue: str | None = None, species: str = "human", additional_info: str | None = None,
    clusters: Sequence[str] | None = None,
    n_genes: int = 50, ranking: str = "avg_log2FC", max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
    min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc, min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    threshold: float = DEFAULT_THRESHOLD, rounds: int = 2, arbiter: str | Provider | None = None,
    arbiter_model: str | None = None,
    validator_rounds: int = 3, cancer_aware: bool = False, check_ontology: bool = True,
    max_tokens: int | None = None,
    out_dir: PathLike | None = None, max_workers: int = 4, timeout: float | None = None, resume: bool = False,
    use_cache: bool = True, cache_path: PathLike | None = None, progress: bool = True, report: bool = True,
) -> EnsembleResult:
    """Async :func:`run_ensemble`."""
    threshold = _check(threshold, rounds, timeout, max_workers)
    marker_set = select_markers(markers, n_genes=n_genes, ranking=ranking, max_p_val_adj=max_p_val_adj,
                                min_log2fc=min_log2fc, min_pct1=min_pct1, clusters=clusters)
    members = resolve_models(models, use_cache=use_cache, cache_path=cache_path, max_tokens=max_tokens)
    judge = resolve_arbiter(arbiter, arbiter_model, members, use_cache=use_cache, cache_path=cache_path,
                            max_tokens=max_tokens)
    root = Path(out_dir) if out_dir is not None else default_ensemble_dir()
    _check_folder(root, resume)
    settings = {"tissue": tissue, "species": species, "additional_info": additional_info,
                "n_genes": marker_set.n_genes, "ranking": marker_set.ranking, "threshold": threshold,
                "rounds": rounds, "timeout": timeout, "validator_rounds": validator_rounds,
                "cancer_aware": cancer_aware, "check_ontology": check_ontology, "max_workers": max_workers}
    batch = dict(tissue=tissue, species=species, additional_info=additional_info, validator_rounds=validator_rounds,
                 cancer_aware=cancer_aware, check_ontology=check_ontology, max_workers=max_workers, resume=resume,
                 progress=progress)
    store = RunStore(root, resume=True)  # the folder's lock, and transcripts/ for the discussion
    before = store.manifest()  # what an interrupted ensemble was decided under
    ids = marker_set.cluster_ids()
    records: list[ClusterEnsemble] = []
    try:
        store.write_manifest(_manifest(store, status="running", members=members, runs=[], arbiter=judge,
                                       records=[], markers=marker_set, settings=settings))
        runs = await asyncio.gather(*(_run_model(m, marker_set, root, batch, timeout) for m in members))
        answers, usage = _answers(runs, ids, root)
        if not any(a.votes for per in answers.values() for a in per.values()):
            store.write_manifest(_manifest(store, status="failed", members=members, runs=runs, arbiter=judge,
                                           records=[], markers=marker_set, settings=settings))
            reasons = "; ".join(f"{r.label}: {r.error or r.status + ' without a single answer'}" for r in runs)
            raise ProviderError(f"every model of the ensemble failed ({reasons}); fix the models named and rerun "
                                f"with {spell('resume', True)}")
        panel = Panel(members=members, arbiter=judge, threshold=threshold, rounds=rounds, species=species,
                      tissue=tissue)
        earlier = read_ensemble(root) if resume and _same_rules(before, settings, judge) else {}
        decided = {c: r for c, r in earlier.items() if c in answers and _unchanged(r, answers[c])}
        log = _Log(root / ENSEMBLE_LOG)
        lost = [f"{r.label}'s run {r.status} ({r.error}); its votes are missing" for r in runs if r.lost]

        async def one(cluster: str) -> None:
            genes = list(marker_set[cluster].genes)
            try:
                record = await decide_cluster(panel, cluster, genes, answers[cluster], usage[cluster], store=store,
                                              notes=lost)
            except Exception as err:  # a bug in one cluster's discussion must not sink the others
                fallback = Panel(members=members, arbiter=None, threshold=threshold, rounds=0)
                record = await decide_cluster(fallback, cluster, genes, answers[cluster], usage[cluster], store=None,
                                              notes=[*lost, redact(f"the discussion failed: {type(err).__name__}: {err}")])
            decided[cluster] = record
            log.append(record)

        await run_pool([c for c in ids if c not in decided], one, max_workers=max_workers)
        records = [decided[c] for c in ids]
        result = EnsembleResult(clusters=records, models=[m.label for m in members], out_dir=root,
                                runs={r.label: r.run for r in runs if r.run is not None})
        write_csv(result.to_frame(), root / "summary.csv")
        complete = all(r.status == "complete" for r in runs) and all(r.status == "ok" for r in records)
        result.manifest = _manifest(store, status="complete" if complete else "partial", members=members, runs=runs,
                                    arbiter=judge, records=records, markers=marker_set, settings=settings)
        if report:  # each model's own run report first: the ensemble's pages link to them
            for run in result.runs.values():
                await asyncio.to_thread(render_report, run.run_dir, manifest=run.manifest)
            render_ensemble_report(root, result)
        store.write_manifest(result.manifest)
        return result
    finally:
        store.close()
        for provider in {id(m.provider): m.provider for m in [*members, *([judge] if judge else [])]}.values():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()


@checked
def run_ensemble(
    markers: MarkerSource, *, models: Sequence[Any],
    tissue: str | None = None, species: str = "human", additional_info: str | None = None,
    clusters: Sequence[str] | None = None,
    n_genes: int = 50, ranking: str = "avg_log2FC", max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
    min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc, min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    threshold: float = DEFAULT_THRESHOLD, rounds: int = 2, arbiter: str | Provider | None = None,
    arbiter_model: str | None = None,
    validator_rounds: int = 3, cancer_aware: bool = False, check_ontology: bool = True,
    max_tokens: int | None = None,
    out_dir: PathLike | None = None, max_workers: int = 4, timeout: float | None = None, resume: bool = False,
    use_cache: bool = True, cache_path: PathLike | None = None, progress: bool = True, report: bool = True,
) -> EnsembleResult:
    """Annotate every cluster with several models and settle their disagreements by discussion.

    ``markers``: anything :func:`cassia.load_markers` reads. ``models``: at least two, each a spec
    (``"openai:gpt-4.1"``, ``"anthropic:claude-sonnet-4-5"``, ``"ollama:llama3.1:8b"``,
    ``"http://host:port/v1:model"``, ``"offline"``, ``"claude-cli"``), a dict ``{"provider",
    "model", "label", "api_key"}`` or a ready provider (:mod:`cassia.workflows.ensemble.spec`).

    Every model runs the full team on every cluster (:func:`cassia.run_batch`; ``tissue``,
    ``species``, ``additional_info``, ``clusters``, the marker selection and the agent options go
    to every run), all models at once, in ``out_dir/models/<label>/``. ``timeout``: seconds a
    model's run may take; a model whose run fails or times out loses its votes, the others go on.
    ``max_tokens``: the output limit of every model's replies (a ready provider keeps its own).

    Agreement per cluster is measured on the Cell Ontology (consensus proportion: the share of
    all models behind the most voted general type; entropy; CS). Clusters below ``threshold``
    (default 2/3) are discussed for up to ``rounds`` rounds (default 2), each model reading the
    others' answers and reasoning; still no consensus, the ``arbiter`` (a member's label, a spec
    or a provider; ``arbiter_model`` picks its model; default the first model that is not
    offline) decides with its reasons. Agreed clusters cost no extra call.

    ``out_dir`` (default ``cassia_out/ensemble-<time>``) gets ``summary.csv`` (the ensemble
    table), ``ensemble.jsonl``, ``transcripts/``, ``manifest.json`` and ``report.html`` (a page
    per cluster, linking to each model's own page for it: every model's run in
    ``models/<label>/`` gets its report when ``report`` is on). ``resume`` finishes the model runs and decides only clusters whose first
    answers changed. ``max_workers`` (clusters at once per model), ``use_cache``/``cache_path``,
    ``progress``, ``report`` as in :func:`cassia.run_pipeline`. Returns an
    :class:`~cassia.workflows.ensemble.EnsembleResult` (``to_frame()``, ``to_adata()``).
    """
    options = dict(locals())
    return run_sync(lambda: arun_ensemble(**options))
