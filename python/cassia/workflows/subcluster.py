"""Subclustering, public side: annotate the subclusters of one population together, then score.

``run_subclusters`` splits the subclusters into groups of ``group_size`` (one group when they
fit), annotates each group in one structured call (retrying subclusters a reply left out),
harmonises labels across groups, scores every answer with the pipeline's Scorer, and writes a
run directory: ``manifest.json``, ``results.jsonl``, ``transcripts/``, ``summary.csv`` (the usual
columns), ``subclusters.csv`` (:meth:`SubclusterResult.to_frame`), ``subclusters.html`` and,
with ``report=True``, the standard ``report.html``.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ..agents import subcluster as agent
from ..agents.scorer import score as score_annotation
from ..agents.session import ClusterSession
from ..errors import AuthError, CassiaError, ConfigError, InputError
from ..markers import MarkerSet
from ..models import (
    ClusterResult,
    FormatterOutput,
    Message,
    StageInfo,
    SubclusterInfo,
    Usage,
)
from ..options import checked
from ..providers.base import Provider
from ..providers.stages import resolve_stages
from ..report import render_report
from ..report.boost import render_subcluster_page
from ..spelling import spell
from ..store import RunStore, environment_info, now
from .engine import Runner, run_sync
from .inputs import DEFAULT_FILTERS, MarkerSource, PathLike, ProviderLike, select_markers

__all__ = ["SubclusterResult", "SUBCLUSTER_COLUMNS", "arun_subclusters", "run_subclusters", "split_groups"]

SUBCLUSTER_COLUMNS = [
    "Cluster ID", "Main Cell Type", "Sub Cell Type", "Key Markers", "Reasoning", "Score", "Scoring Reasoning",
    "Group", "Attempts", "Consistency Note", "Marker List", "Status", "Error", "Tokens", "Cost USD",
]


@dataclass
class SubclusterResult:
    """A subclustering run: one :class:`~cassia.models.ClusterResult` per subcluster."""

    run_dir: Path
    results: list[ClusterResult]
    manifest: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per subcluster (columns in :data:`SUBCLUSTER_COLUMNS`)."""
        rows = []
        for r in self.results:
            info = r.subcluster.model_dump() if r.subcluster is not None else {}
            rows.append({
                "Cluster ID": r.cluster,
                "Main Cell Type": info.get("main_cell_type"),
                "Sub Cell Type": info.get("sub_cell_type"),
                "Key Markers": ", ".join(r.annotation.key_markers) if r.annotation else None,
                "Reasoning": info.get("reasoning"),
                "Score": r.score.score if r.score else None,
                "Scoring Reasoning": r.score.reasoning if r.score else None,
                "Group": info.get("group"),
                "Attempts": info.get("attempts"),
                "Consistency Note": info.get("consistency_note") or None,
                "Marker List": ", ".join(r.markers),
                "Status": r.status,
                "Error": r.error,
                "Tokens": r.tokens,
                "Cost USD": r.cost_usd,
            })
        frame = pd.DataFrame(rows, columns=SUBCLUSTER_COLUMNS)
        frame["Cluster ID"] = frame["Cluster ID"].astype(str)
        frame["Score"] = pd.to_numeric(frame["Score"], errors="coerce")
        return frame

    @property
    def failed(self) -> list[ClusterResult]:
        return [r for r in self.results if r.status == "failed"]

    def __repr__(self) -> str:
        return (f"SubclusterResult(run_dir={str(self.run_dir)!r}, subclusters={len(self.results)}, "
                f"failed={len(self.failed)})")


def split_groups(clusters: list[str], group_size: int) -> list[list[str]]:
    """Consecutive groups of at most ``group_size``, as even in size as possible (11 by 10 -> 6 + 5)."""
    if group_size < 1:
        raise InputError(f"group_size must be at least 1 (got {group_size}).")
    count = max(1, math.ceil(len(clusters) / group_size))
    base, extra = divmod(len(clusters), count)
    groups, start = [], 0
    for i in range(count):
        size = base + (1 if i < extra else 0)
        groups.append(clusters[start:start + size])
        start += size
    return [g for g in groups if g]


def _share(info: StageInfo | None, parts: int, index: int) -> StageInfo | None:
    """An even share of a group call's usage, so per-subcluster tokens add up to the total."""
    if info is None or parts < 1:
        return None
    def split(total: int) -> int:
        return total // parts + (1 if index < total % parts else 0)
    return info.model_copy(update={
        "usage": Usage(input_tokens=split(info.usage.input_tokens), output_tokens=split(info.usage.output_tokens)),
        "cost_usd": None if info.cost_usd is None else info.cost_usd / parts,
    })


def _annotated(cluster: str, call: agent.SubclusterCall, markers: list[str], *, group: int, attempts: int,
               prompt: Message, system: str, population: str, species: str, tissue: str | None) -> ClusterResult:
    annotation = FormatterOutput(main_cell_type=call.main_cell_type, sub_cell_types=[call.sub_cell_type],
                                 mixed_cell_types=[], key_markers=list(call.key_markers))
    reply = (f"Subcluster {cluster}: {call.main_cell_type} / {call.sub_cell_type}. {call.reasoning} "
             f"Key markers: {', '.join(call.key_markers)}.")
    return ClusterResult(
        cluster=cluster, status="ok", markers=markers, tissue=tissue, species=species, annotation=annotation,
        iterations=attempts, conversation=[Message(role="system", content=system), prompt,
                                           Message(role="assistant", content=reply)],
        subcluster=SubclusterInfo(population=population, main_cell_type=call.main_cell_type,
                                  sub_cell_type=call.sub_cell_type, reasoning=call.reasoning, group=group,
                                  attempts=attempts),
        pages={"Subclustering": "subclusters.html"},
    )


def _unanswered(cluster: str, markers: list[str], *, group: int, attempts: int, reason: str, population: str,
                species: str, tissue: str | None) -> ClusterResult:
    return ClusterResult(
        cluster=cluster, status="failed", error=reason, markers=markers, tissue=tissue, species=species,
        iterations=attempts,
        subcluster=SubclusterInfo(population=population, group=group, attempts=attempts),
        pages={"Subclustering": "subclusters.html"},
    )


def _apply_label(result: ClusterResult, label: agent.HarmonisedLabel | None) -> ClusterResult:
    info = result.subcluster.model_copy()
    if label is None:
        info.consistency_note = "not returned by the consistency pass; label kept"
    else:
        changed = (label.main_cell_type, label.sub_cell_type) != (info.main_cell_type, info.sub_cell_type)
        if changed:
            info.before_consistency = f"{info.main_cell_type} / {info.sub_cell_type}"
            info.main_cell_type, info.sub_cell_type = label.main_cell_type, label.sub_cell_type
            result = result.model_copy(update={"annotation": result.annotation.model_copy(update={
                "main_cell_type": label.main_cell_type, "sub_cell_types": [label.sub_cell_type]})})
        info.consistency_note = label.note or ("relabelled for consistency" if changed else "")
    return result.model_copy(update={"subcluster": info})


def _provider_pair(provider, model, *, scoring_provider, scoring_model, api_key, base_url, use_cache, cache_path,
                   max_tokens, scoring_max_tokens):
    stages = resolve_stages(provider=provider, model=model, api_key=api_key, base_url=base_url,
                            scoring_provider=scoring_provider, scoring_model=scoring_model,
                            use_cache=use_cache, cache_path=cache_path, max_tokens=max_tokens,
                            scoring_max_tokens=scoring_max_tokens)
    if stages.annotator.config.kind == "offline" and stages.annotator.config.name == "offline":
        raise ConfigError("Subclustering needs a language model; the offline annotator cannot compare subclusters. "
                          f"Pass {spell('provider')} (a vendor name or an OpenAI-compatible URL) and set its API key.")
    return stages


@checked
async def arun_subclusters(
    markers: MarkerSource, *, major_cluster_info: str,
    species: str = "human", tissue: str | None = None,
    n_genes: int = 50, ranking: str = "avg_log2FC", max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
    min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc, min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, scoring_provider: ProviderLike = None, scoring_model: str | None = None,
    max_tokens: int | None = None, scoring_max_tokens: int | None = None, group_size: int = 10, score: bool = True, score_threshold: float = 75, max_retries: int = 2,
    out_dir: PathLike | None = None, max_workers: int = 4, use_cache: bool = True,
    cache_path: PathLike | None = None, progress: bool = True, report: bool = True,
) -> SubclusterResult:
    """Async :func:`run_subclusters`."""
    if not str(major_cluster_info or "").strip():
        raise InputError("major_cluster_info must describe the parent population, "
                         "e.g. 'CD8 T cells from a human tumour'.")
    if max_retries < 0:
        raise InputError(f"max_retries must be 0 or more (got {max_retries}).")
    marker_set: MarkerSet = select_markers(markers, n_genes=n_genes, ranking=ranking, max_p_val_adj=max_p_val_adj,
                                           min_log2fc=min_log2fc, min_pct1=min_pct1)
    clusters = marker_set.cluster_ids()
    groups = split_groups(clusters, group_size)
    genes = {c: list(marker_set[c].genes) for c in clusters}
    stages = _provider_pair(provider, model, scoring_provider=scoring_provider, scoring_model=scoring_model,
                            api_key=api_key, base_url=base_url, use_cache=use_cache, cache_path=cache_path,
                            max_tokens=max_tokens, scoring_max_tokens=scoring_max_tokens)
    store = RunStore(out_dir or Path("cassia_out") / datetime.now().strftime("subclusters-%Y%m%d-%H%M%S"))
    settings = {"major_cluster_info": major_cluster_info, "species": species, "tissue": tissue, "n_genes": n_genes,
                "ranking": ranking, "group_size": group_size, "max_retries": max_retries, "score": score,
                "score_threshold": score_threshold, "max_workers": max_workers}
    manifest: dict[str, Any] = {"kind": "subcluster", "status": "running", "created": now(),
                                "versions": environment_info(), "settings": settings, "providers": stages.public(),
                                "groups": groups}
    store.write_manifest(manifest)
    common = dict(population=major_cluster_info, species=species, tissue=tissue)
    sessions: list[ClusterSession] = []

    def session_for(name: str, markers_: list[str]) -> ClusterSession:
        session = ClusterSession(cluster=name, markers=markers_, species=species, tissue=tissue,
                                 additional_info=major_cluster_info, store=store)
        sessions.append(session)
        return session

    limit = asyncio.Semaphore(max(1, max_workers))

    async def run_group(number: int, members: list[str]):
        async with limit:
            session = session_for(f"group-{number}", [])
            try:
                outcome = await agent.annotate_group(session, stages.annotator, {c: genes[c] for c in members},
                                                     population=major_cluster_info, group=number,
                                                     groups=len(groups), max_retries=max_retries)
            except AuthError:
                raise
            except CassiaError as err:  # this group's subclusters fail with the reason; others go on
                outcome = agent.GroupOutcome(error=f"{type(err).__name__}: {err}")
            return number, members, session, outcome

    try:
        done = await asyncio.gather(*(run_group(i, g) for i, g in enumerate(groups, start=1)))
        results, notes = _collect(done, genes, multiple=len(groups) > 1, **common)
        if len(groups) > 1:
            notes += await _harmonise_all(results, groups, stages.annotator, session_for, major_cluster_info)
        ordered = [results[c] for c in clusters]
        if score:
            ordered = await _score_all(ordered, stages.scorer, store, session_for, max_workers=max_workers,
                                       progress=progress)
        else:
            for r in ordered:
                store.append(r)
    except AuthError as err:
        manifest.update(status="failed", updated=now(), error=f"stopped: authentication failed: {err}")
        store.write_manifest(manifest)
        raise
    finally:
        await stages.aclose()
    status = "complete" if all(r.status == "ok" for r in ordered) else "partial"
    manifest.update(_totals(ordered, sessions), status=status, updated=now(), population_notes=notes, report=report)
    return _finish(store, ordered, manifest, report=report)


def _collect(done, genes: dict[str, list[str]], *, multiple: bool, **common) -> tuple[dict[str, ClusterResult], list]:
    """One result per subcluster from the groups' outcomes; unanswered ones fail with the reason."""
    system = agent.system_prompt()
    results: dict[str, ClusterResult] = {}
    notes = []
    for number, members, session, outcome in done:
        notes.extend(f"Group {number}: {text}" if multiple else text for text in outcome.comparison[:1])
        for index, cluster in enumerate(members):
            attempts = outcome.attempts.get(cluster, 0)
            if cluster in outcome.answers:
                result = _annotated(cluster, outcome.answers[cluster], genes[cluster], group=number,
                                    attempts=attempts, prompt=outcome.prompts[cluster], system=system, **common)
            else:
                reason = (f"the group's annotation call failed: {outcome.error}" if outcome.error else
                          f"the model did not annotate this subcluster in {attempts} attempt(s)")
                result = _unanswered(cluster, genes[cluster], group=number, attempts=attempts, **common,
                                     reason=f"{reason}; rerun, lower group_size or use a stronger model")
            share = _share(session.stages.get("subcluster"), len(members), index)
            result.stages = {"subcluster": share} if share else {}
            results[cluster] = result
    return results, notes


async def _harmonise_all(results: dict[str, ClusterResult], groups: list[list[str]], provider: Provider,
                         session_for, population: str) -> list[str]:
    """The consistency pass across groups, applied in place; returns notes for the page."""
    answered = {c: r for c, r in results.items() if r.status == "ok"}
    if not answered:
        return []
    session = session_for("consistency", [])
    calls = {c: agent.SubclusterCall(cluster=c, key_markers=r.annotation.key_markers, **{
        k: getattr(r.subcluster, k) for k in ("main_cell_type", "sub_cell_type", "reasoning")})
        for c, r in answered.items()}
    try:
        labels = await agent.harmonise(session, provider, calls, population=population, groups=groups)
    except AuthError:
        raise
    except CassiaError as err:  # the groups' own labels stand; say why they were not harmonised
        return [f"The consistency pass failed ({type(err).__name__}: {err}); labels are per group."]
    for index, cluster in enumerate(answered):
        updated = _apply_label(results[cluster], labels.get(cluster))
        share = _share(session.stages.get("consistency"), len(answered), index)
        updated.stages = {**updated.stages, **({"consistency": share} if share else {})}
        results[cluster] = updated
    return []


async def _score_all(results: list[ClusterResult], scorer: Provider, store: RunStore, session_for, *,
                     max_workers: int, progress: bool) -> list[ClusterResult]:
    """Score each answered subcluster like the pipeline does; a failed score keeps the answer."""
    runner = Runner(store, len(results), max_workers=max_workers, progress=progress, label="scoring subclusters",
                     on_error=lambda base, reason: base.model_copy(update={"error": f"scoring failed: {reason}"}))

    async def one(result: ClusterResult) -> ClusterResult:
        if result.status != "ok":
            store.append(result)
            return result
        session = session_for(result.cluster, list(result.markers))

        async def job() -> ClusterResult:
            conversation = [m for m in result.conversation if m.role != "system"]
            scored = await score_annotation(session, scorer, conversation, result.annotation)
            return result.model_copy(update={"score": scored, "stages": {**result.stages, **session.stages}})

        return await runner.run(result.cluster, job, result) or result

    try:
        return list(await asyncio.gather(*(one(r) for r in results)))
    finally:
        runner.close()


def _totals(results: list[ClusterResult], sessions: list[ClusterSession]) -> dict[str, Any]:
    stages = [s for session in sessions for s in session.stages.values()]
    costs = [s.cost_usd for s in stages]
    ok = sum(r.status == "ok" for r in results)
    return {
        "counts": {"clusters": len(results), "ok": ok, "failed": len(results) - ok},
        "usage": {"input_tokens": sum(s.usage.input_tokens for s in stages),
                  "output_tokens": sum(s.usage.output_tokens for s in stages)},
        "cost_usd": None if any(c is None for c in costs) else round(sum(costs), 6),
    }


def _finish(store: RunStore, results: list[ClusterResult], manifest: dict[str, Any], *,
            report: bool) -> SubclusterResult:
    outcome = SubclusterResult(run_dir=store.run_dir, results=results, manifest=manifest)
    store.write_summary(results)
    outcome.to_frame().to_csv(store.run_dir / "subclusters.csv", index=False)
    store.write_manifest(manifest)
    render_subcluster_page(store.run_dir, results, manifest)
    if report:
        render_report(store.run_dir, results=results, manifest=manifest)
    return outcome


@checked
def run_subclusters(
    markers: MarkerSource, *, major_cluster_info: str,
    species: str = "human", tissue: str | None = None,
    n_genes: int = 50, ranking: str = "avg_log2FC", max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
    min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc, min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, scoring_provider: ProviderLike = None, scoring_model: str | None = None,
    max_tokens: int | None = None, scoring_max_tokens: int | None = None, group_size: int = 10, score: bool = True, score_threshold: float = 75, max_retries: int = 2,
    out_dir: PathLike | None = None, max_workers: int = 4, use_cache: bool = True,
    cache_path: PathLike | None = None, progress: bool = True, report: bool = True,
) -> SubclusterResult:
    """Annotate all subclusters of one population together; score them; write a run directory.

    ``markers``: a marker table of the subclusters (anything :func:`cassia.load_markers` reads).
    ``major_cluster_info``: the parent population, e.g. "CD8 T cells from a human tumour".
    Keyword arguments: ``provider``, ``model``, ``out_dir`` (default ``cassia_out/subclusters-<time>``),
    ``group_size`` (subclusters per call, default 10; larger populations are split and then
    harmonised), ``n_genes`` (markers per subcluster, 50), ``ranking`` and the filters
    ``max_p_val_adj``, ``min_log2fc``, ``min_pct1`` (as in :func:`cassia.run_pipeline`), ``species``, ``tissue``,
    ``score`` (True), ``max_retries`` (asks for left-out subclusters, 2), ``max_workers``,
    ``scoring_provider``, ``scoring_model``, ``max_tokens`` / ``scoring_max_tokens`` (output limits of the
    annotation and scoring replies), ``api_key``, ``base_url``, ``use_cache``, ``report``,
    ``progress``. A subcluster never answered is kept with ``status="failed"`` and the reason.
    """
    options = dict(locals())
    return run_sync(lambda: arun_subclusters(**options))
