"""Annotation Boost, public side: boost one cluster, boost a pipeline's weak clusters, query genes.

``run_annotation_boost`` re-examines one cluster with the hypothesis loop of
:mod:`cassia.agents.boost` over its full marker table, either inside an existing run directory
(the boosted answer is appended to its results, the summary and report are refreshed) or in a
new one. ``boost_and_rescore`` is what ``run_pipeline`` calls for a cluster scoring under the
threshold, as soon as its score is known. ``query_genes`` looks genes up in a cluster's table without any model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ..agents.boost import BoostDetails, Mode, boost_cluster
from ..agents.boost_stats import GeneIndex, stats_frame
from ..agents.session import ClusterSession
from ..agents.team import score_result
from ..errors import AuthError, CassiaError, ConfigError, InputError
from ..markers import ClusterMarkers, MarkerFilters, MarkerSet, chosen_filters, load_markers
from ..models import ClusterResult, FormatterOutput, Message, Usage
from ..options import checked
from ..providers.base import Provider
from ..providers.stages import resolve_stages
from ..report import render_report
from ..spelling import spell
from ..store import (
    RunStore,
    input_order,
    environment_info,
    now,
    read_manifest,
    read_results,
    summary_frame,
)
from .engine import run_sync
from .inputs import DEFAULT_FILTERS, MarkerSource, PathLike, ProviderLike

__all__ = ["BoostResult", "boost_and_rescore", "boost_summary", "needs_boost", "query_genes", "run_annotation_boost"]


@dataclass
class BoostResult:
    """One boosted cluster: the updated :class:`~cassia.models.ClusterResult` and what the boost did."""

    result: ClusterResult
    details: BoostDetails
    run_dir: Path | None = None

    @property
    def cluster(self) -> str:
        return self.result.cluster

    @property
    def status(self) -> str:
        return self.details.status

    @property
    def error(self) -> str | None:
        return self.details.error

    @property
    def annotation(self) -> FormatterOutput | None:
        """The revised annotation (None when the boost failed, also when its conclusion failed the checks)."""
        return self.details.annotation if self.details.status == "ok" else None

    @property
    def original_annotation(self) -> FormatterOutput | None:
        return self.details.original_annotation

    @property
    def hypotheses(self):
        return self.details.hypotheses

    @property
    def genes_checked(self):
        return self.details.genes

    @property
    def iterations(self) -> int:
        return self.details.iterations

    @property
    def converged(self) -> bool:
        return self.details.converged

    @property
    def answer(self) -> str:
        """The answer to ``additional_task`` (empty without one)."""
        return self.details.answer

    @property
    def conversation(self) -> list[Message]:
        return self.details.conversation

    @property
    def usage(self) -> Usage:
        stage = self.result.stages.get("boost")
        return stage.usage if stage else Usage()

    @property
    def cost_usd(self) -> float | None:
        stage = self.result.stages.get("boost")
        return stage.cost_usd if stage else None

    @property
    def page(self) -> Path | None:
        link = self.result.pages.get("Annotation Boost")
        return self.run_dir / link if self.run_dir is not None and link else None

    def to_frame(self) -> pd.DataFrame:
        """The cluster's row of the summary table (Boosted, revised types)."""
        return summary_frame([self.result])

    def hypotheses_frame(self) -> pd.DataFrame:
        columns = ["round", "hypothesis", "genes", "rationale", "verdict", "evidence"]
        rows = [{**h.model_dump(), "genes": ", ".join(h.genes)} for h in self.details.hypotheses]
        return pd.DataFrame(rows, columns=columns)

    def genes_frame(self) -> pd.DataFrame:
        """Every gene checked, with the turn and hypothesis it was checked for."""
        frame = stats_frame(self.details.genes)
        frame.insert(0, "hypothesis", [g.hypothesis for g in self.details.genes])
        frame.insert(0, "round", [g.round for g in self.details.genes])
        return frame

    def __repr__(self) -> str:
        revised = self.annotation.main_cell_type if self.annotation else None
        return (f"BoostResult(cluster={self.cluster!r}, status={self.status!r}, revised={revised!r}, "
                f"iterations={self.iterations}, converged={self.converged})")


# ---------------------------------------------------------------- lookups without a model


def _cluster_markers(markers, cluster, *, n_genes: int = 50, ranking: str = "avg_log2FC",
                     filters: MarkerFilters | None = None) -> ClusterMarkers:
    if isinstance(markers, ClusterMarkers):
        return markers
    marker_set = markers if isinstance(markers, MarkerSet) else load_markers(markers, n_genes=n_genes, ranking=ranking,
                                                                             filters=filters)
    try:
        return marker_set[str(cluster)]
    except KeyError:
        raise InputError(f"no cluster {str(cluster)!r} in the marker table; its clusters are "
                         f"{marker_set.cluster_ids()}. Use the name exactly as it appears there.") from None


def query_genes(markers, cluster, genes) -> pd.DataFrame:
    """Statistics of ``genes`` in ``cluster``'s full marker table; no LLM involved.

    ``markers``: anything :func:`cassia.load_markers` reads (or a MarkerSet / ClusterMarkers).
    One row per distinct gene asked, in order: ``query, gene, found, via_alias, avg_log2FC,
    pct.1, pct.2, p_val_adj, rank, table_size``. Matching is case-insensitive and knows common
    CD/protein names (``CD16`` finds ``FCGR3A``); absent genes have ``found=False``.
    """
    genes = [genes] if isinstance(genes, str) else list(genes)
    return stats_frame(GeneIndex(_cluster_markers(markers, cluster)).lookup_all(genes))


# ---------------------------------------------------------------- one cluster


def _boost_provider(provider, model, *, api_key, base_url, use_cache, cache_path, boost_max_tokens) -> Provider:
    stages = resolve_stages(provider=provider, model=model, api_key=api_key, base_url=base_url,
                            use_cache=use_cache, cache_path=cache_path, boost_max_tokens=boost_max_tokens)
    chosen = stages.boost
    if chosen.config.kind == "offline" and chosen.config.name == "offline":
        raise ConfigError("Annotation Boost needs a language model; the offline annotator cannot run it. "
                          f"Pass {spell('provider')} (a vendor name or an OpenAI-compatible URL) and set its API key.")
    return chosen


def _previous_from_run(run_dir: Path, cluster: str) -> ClusterResult:
    for result in read_results(run_dir):
        if result.cluster == cluster:
            return result
    raise InputError(f"cluster {cluster!r} has no result in {run_dir}; boost a cluster the run annotated, "
                     "or pass previous=None without run_dir to start from the markers.")


@checked
def run_annotation_boost(
    markers: MarkerSource, cluster: str, *, run_dir: PathLike | None = None, previous: ClusterResult | None = None,
    species: str | None = None, tissue: str | None = None, n_genes: int | None = None,
    max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj, min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc,
    min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, boost_max_tokens: int | None = None, max_iterations: int = 5,
    mode: Mode = "breadth", additional_task: str | None = None, out_dir: PathLike | None = None,
    use_cache: bool = True, cache_path: PathLike | None = None, progress: bool = True, report: bool = True,
) -> BoostResult:
    """Re-examine one cluster by testing hypotheses against its full marker statistics.

    ``markers``: the marker table (anything :func:`cassia.load_markers` reads); its full
    statistics answer the agent's gene checks. ``run_dir``: an existing run directory; the
    cluster's result there is the starting point and the boosted result is appended to it
    (summary.csv, manifest and report refreshed). Without ``run_dir`` a new run directory is
    written to ``out_dir`` (default ``cassia_out/boost-<time>``), starting from ``previous``
    (a ClusterResult) or from the markers alone. ``mode``: ``"breadth"`` (several hypotheses
    per turn) or ``"depth"`` (one). ``additional_task``: a question to answer along the way,
    e.g. "is this a cancer cluster?". ``boost_max_tokens``: the output limit of the agent's replies
    (None: the server's). ``max_p_val_adj``, ``min_log2fc``, ``min_pct1``: marker
    filters; left at the defaults, an earlier run's filters are kept. ``species``/``tissue`` default to the earlier result's
    (else human / unspecified). ``progress`` is accepted for symmetry with the batch functions;
    one cluster shows no bar. A boost that fails (unusable model output, provider failure)
    returns ``status == "failed"`` with the reason, the first annotation kept.
    """
    cluster = str(cluster)
    manifest = read_manifest(run_dir) if run_dir is not None else {}
    if previous is None and run_dir is not None:
        previous = _previous_from_run(Path(run_dir), cluster)
    settings = manifest.get("settings", {})
    n_genes = n_genes or settings.get("n_genes") or 50
    recorded = (manifest.get("input") or {}).get("filters")
    filters = chosen_filters(markers, max_p_val_adj, min_log2fc, min_pct1,
                             fallback=MarkerFilters(**recorded) if isinstance(recorded, dict) else None)
    cm = _cluster_markers(markers, cluster, n_genes=n_genes, ranking=settings.get("ranking", "avg_log2FC"),
                          filters=filters)
    species = species or (previous.species if previous else None) or settings.get("species") or "human"
    tissue = tissue or (previous.tissue if previous else None) or settings.get("tissue")
    chosen = _boost_provider(provider, model, api_key=api_key, base_url=base_url, use_cache=use_cache,
                             cache_path=cache_path, boost_max_tokens=boost_max_tokens)
    store = _open_store(run_dir, out_dir)
    session = ClusterSession(cluster=cluster, markers=list(previous.markers) if previous and previous.markers
                             else list(cm.genes), species=species, tissue=tissue,
                             additional_info=settings.get("additional_info"), store=store,
                             stages=dict(previous.stages) if previous else {})

    async def go() -> ClusterResult:
        try:
            return await boost_cluster(session, chosen, cm, previous, max_iterations=max_iterations,
                                       mode=mode, additional_task=additional_task)
        finally:
            close = getattr(chosen, "aclose", None)
            if close is not None:
                await close()

    result = run_sync(go)
    store.append(result)
    results = read_results(store.run_dir, input_order(store.run_dir))  # the summary keeps the input's order
    manifest = _updated_manifest(store, manifest, results, chosen, kind="boost", mode=mode,
                                 max_iterations=max_iterations, species=species, tissue=tissue)
    store.write_summary(results)
    store.write_manifest(manifest)
    if report:
        render_report(store.run_dir, results=results, manifest=manifest)
    return BoostResult(result=result, details=result.boost, run_dir=store.run_dir)


def _open_store(run_dir, out_dir) -> RunStore:
    if run_dir is not None:
        return RunStore(run_dir, resume=True)
    return RunStore(out_dir or Path("cassia_out") / datetime.now().strftime("boost-%Y%m%d-%H%M%S"))


def _updated_manifest(store: RunStore, manifest: dict, results: list[ClusterResult], provider: Provider, *,
                      kind: str, mode: str, max_iterations: int, species: str, tissue: str | None) -> dict:
    manifest = dict(manifest)
    if not manifest:  # a new run directory holding only boosted clusters
        manifest = {"kind": kind, "status": "complete", "created": now(), "versions": environment_info(),
                    "settings": {"species": species, "tissue": tissue}}
    ok = [r for r in results if r.status == "ok"]
    costs = [r.cost_usd for r in results]
    manifest.update({
        "updated": now(),
        "counts": {"clusters": len(results), "ok": len(ok), "failed": len(results) - len(ok)},
        "usage": {"input_tokens": sum(s.usage.input_tokens for r in results for s in r.stages.values()),
                  "output_tokens": sum(s.usage.output_tokens for r in results for s in r.stages.values())},
        "cost_usd": None if any(c is None for c in costs) else round(sum(costs), 6),
    })
    boost = dict(manifest.get("boost") or {})
    boost.update({"status": "complete", "provider": provider.config.public(), "mode": mode,
                  "max_iterations": max_iterations,
                  "boosted": [r.cluster for r in results if r.boosted],
                  "failed": [r.cluster for r in results if r.boost is not None and not r.boosted]})
    boost.pop("reason", None)
    manifest["boost"] = boost
    return manifest


# ---------------------------------------------------------------- the pipeline step


async def rescore_boosted(session: ClusterSession, scorer: Provider, result: ClusterResult) -> ClusterResult:
    """Score the boosted answer, so ``Score`` describes the final call; the old score is kept in
    ``original_score``."""
    scored = await score_result(session, scorer, result)
    return result.model_copy(update={"score": scored, "original_score": result.score, "stages": dict(session.stages)})


def needs_boost(result: ClusterResult, threshold: float) -> bool:
    """An ok answer scored below the threshold and not boosted yet."""
    return (result.status == "ok" and not result.boosted and result.score is not None
            and result.score.score < threshold)


async def boost_and_rescore(previous: ClusterResult, marker_set: MarkerSet, *, settings, provider: Provider,
                            store: RunStore, max_iterations: int = 5, mode: Mode = "breadth",
                            scorer: Provider | None = None) -> ClusterResult:
    """Boost one cluster of a pipeline and, with a ``scorer``, score the boosted answer again.

    The pipeline calls this for a cluster the moment its score is known (no barrier waiting for
    the other clusters), so boosting overlaps with the rest of the run.
    """
    session = ClusterSession(cluster=previous.cluster, markers=list(previous.markers),
                             species=previous.species or settings.species, tissue=previous.tissue,
                             additional_info=settings.additional_info, cancer_aware=settings.cancer_aware,
                             store=store, stages=dict(previous.stages))
    boosted = await boost_cluster(session, provider, marker_set[previous.cluster], previous,
                                  max_iterations=max_iterations, mode=mode)
    if scorer is None or not boosted.boosted:
        return boosted
    try:
        return await rescore_boosted(session, scorer, boosted)
    except AuthError:
        raise
    except CassiaError as err:  # keep the boosted answer; say why its score is the old one
        return boosted.model_copy(update={"error": f"re-scoring the boosted answer failed: {err}"})


def boost_failed(base: ClusterResult, reason: str) -> ClusterResult:
    """What a failed boost leaves: the first answer, with the reason added to its error."""
    return base.model_copy(update={"error": "; ".join(e for e in (base.error, f"boost failed: {reason}") if e)})


def boost_summary(results, *, threshold: float, mode: str, max_iterations: int,
                  provider: Provider) -> dict[str, Any]:
    """The manifest's ``boost`` entry, from one pass over the run's (streamed) results."""
    below, boosted, failed = [], [], []
    for r in results:
        original = r.original_score or r.score
        if r.status == "ok" and original is not None and original.score < threshold:
            below.append(r.cluster)
        if r.boosted:
            boosted.append(r.cluster)
        elif r.boost is not None:
            failed.append(r.cluster)
    if provider.config.kind == "offline":  # the knowledge-base annotator has no boost loop
        return {"status": "skipped", "reason": "the offline annotator cannot run Annotation Boost; "
                "pass boost_provider= to boost", "threshold": threshold, "below_threshold": below,
                "boosted": boosted}
    status = "complete" if below else "skipped"
    return {"status": status, **({} if below else {"reason": "no cluster needed boosting (none below the threshold)"}),
            "threshold": threshold, "mode": mode, "max_iterations": max_iterations,
            "provider": provider.config.public(), "below_threshold": below, "boosted": boosted, "failed": failed}
