"""CS scores from finished runs: ontology unification, LLM unification, consensus agent, minimum.

Per cluster: CS_CL (names unified through the Cell Ontology), CS_LLM (names unified by the
unification agent, whose answer is checked against the names the runs gave), CS_agent (the
consensus agent's own 0-100 estimate); the final CS is the minimum of those computed, and a
cluster below ``threshold`` is flagged uncertain and recommended for Annotation Boost.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from ...agents.consensus import judge_consensus
from ...agents.session import ClusterSession
from ...agents.unify import Unification, unify_names
from ...errors import CassiaError, InputError, redact
from ...options import checked
from ...ontology.compare import (
    Agreement,
    Weights,
    cl_key,
    display_name,
    similarity_score,
    text_key,
)
from ...providers.base import Provider
from ...providers.stages import resolve_stages
from ...report import render_report
from ...report.uncertainty import render_uncertainty_page
from ...store import RunStore, environment_info, now
from ..answers import Answer, RunAnswers, cluster_order, load_runs
from ..engine import run_sync
from ..inputs import PathLike, ProviderLike
from .result import ClusterUncertainty, RunVote, UncertaintyResult
from .votes import MIN_INDEPENDENT, counted_votes, too_few_note

__all__ = ["ascore_runs", "cluster_uncertainty", "read_uncertainty", "score_runs"]

OFFLINE_NOTE = ("the offline provider has no LLM: the unification and consensus agents were skipped, "
                "so CS = CS_CL")


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 100:
        raise InputError(f"threshold must be a number from 0 to 100, got {threshold!r}.")
    return float(threshold)


def _votes(cluster: str, runs: Sequence[RunAnswers]) -> list[tuple[str, Answer]]:
    return [(run.label, run.answers.get(cluster, Answer(None, (), "missing"))) for run in runs]


def _pairs(votes: Sequence[tuple[str, Answer]], key) -> list[tuple[str | None, str | None]]:
    return [(key(a.general), key(a.subtype)) if a.general else (None, None) for _, a in votes]


def cluster_uncertainty(cluster: str, votes: Sequence[tuple[str, Answer]], *, weights: Weights,
                        threshold: float, unification: Unification | None = None,
                        agent=None, notes: Sequence[str] = ()) -> ClusterUncertainty:
    """Assemble one cluster's scores from its votes and (optional) agent answers. No I/O.

    Only answers that count (:func:`.votes.counted_votes`) enter the scores; with fewer than
    :data:`.votes.MIN_INDEPENDENT` of them every CS is None and a note says why.
    """
    notes = list(notes)
    given = list(votes)
    counted = counted_votes(given)
    votes = [(label, answer) for label, answer, _ in counted]
    enough = sum(reason is None for _, _, reason in counted) >= MIN_INDEPENDENT
    if not enough:
        unification, agent = None, None
    cl_pairs = _pairs(votes, cl_key)
    by_cl = similarity_score(cl_pairs, weights)
    by_llm: Agreement | None = None
    llm_pairs: list[tuple[str | None, str | None]] = [(None, None)] * len(votes)
    if unification is not None:
        if unification.accepted:
            llm_pairs = _pairs(votes, lambda name: text_key(unification.canonical(name)))
            by_llm = similarity_score(llm_pairs, weights)
        else:
            notes.append(f"{unification.note}; CS_LLM falls back to CS_CL")
    cs_llm = (by_llm.score if by_llm is not None
              else by_cl.score if unification is not None else None)
    cs_agent = float(agent.consensus_score) if agent is not None else None
    computed = [s for s in (by_cl.score, cs_llm, cs_agent) if s is not None]
    cs = min(computed) if computed and enough else None
    if all(a.general is None for _, a in given):
        notes.append("no run answered this cluster")
    elif not enough:
        notes.append(too_few_note(counted))
    general_names = [a.general for _, a in votes if a.general]
    subtype_names = [a.subtype for _, a in votes if a.subtype]
    run_votes = []
    for (label, answer), (_, shown), (g_cl, s_cl), (g_llm, s_llm), p_cl, p_llm in zip(
            votes, given, cl_pairs, llm_pairs, by_cl.per_run,
            by_llm.per_run if by_llm is not None else [None] * len(votes)):
        run_votes.append(RunVote(
            run=label, status=answer.status, general=shown.general, subtypes=list(shown.subtypes),
            general_cl=g_cl, subtype_cl=s_cl,
            general_llm=unification.canonical(answer.general) if by_llm is not None else None,
            subtype_llm=unification.canonical(answer.subtype) if by_llm is not None else None,
            points_cl=p_cl, points_llm=p_llm,
        ))
    uncertain = cs is None or cs < threshold
    return ClusterUncertainty(
        cluster=cluster, votes=run_votes, answered=by_cl.answered,
        consensus_general=display_name(by_cl.general, general_names + subtype_names),
        consensus_subtype=display_name(by_cl.subtype, subtype_names + general_names),
        consensus_general_cl=by_cl.general if by_cl.general and by_cl.general.startswith("CL:") else None,
        consensus_subtype_cl=by_cl.subtype if by_cl.subtype and by_cl.subtype.startswith("CL:") else None,
        general_agreement=by_cl.general_fraction if enough else None,
        subtype_agreement=by_cl.subtype_fraction if enough else None,
        cs_cl=by_cl.score if enough else None, cs_llm=cs_llm if enough else None, cs_agent=cs_agent, cs=cs,
        uncertain=uncertain, recommend_boost=uncertain and by_cl.answered > 0,
        unification=None if unification is None else {"accepted": unification.accepted, "note": unification.note,
                                                      "groups": unification.groups},
        agent=agent, notes=notes,
    )


def _distinct_names(votes: Sequence[tuple[str, Answer]]) -> list[str]:
    names: dict[str, None] = {}
    for _, answer in votes:
        for name in (answer.general, answer.subtype):
            if name:
                names.setdefault(name, None)
    return list(names)


def _all_identical(votes: Sequence[tuple[str, Answer]]) -> bool:
    """True when every answering run gave the same (general, subtype) text: no unification can change CS."""
    pairs = {(text_key(a.general), text_key(a.subtype)) for _, a in votes if a.general}
    return len(pairs) <= 1


async def _judge_cluster(cluster: str, votes: list[tuple[str, Answer]], *, provider: Provider | None,
                         weights: Weights, threshold: float, species: str, tissue: str | None,
                         store) -> tuple[ClusterUncertainty, ClusterSession | None]:
    answered = [(label, a) for label, a, reason in counted_votes(votes) if reason is None]
    if provider is None or len(answered) < MIN_INDEPENDENT:  # no CS to judge: no agent call
        return cluster_uncertainty(cluster, votes, weights=weights, threshold=threshold), None
    markers = next((list(a.markers) for _, a in votes if a.markers), [])
    session = ClusterSession(cluster=cluster, markers=markers, species=species, tissue=tissue, store=store)
    notes: list[str] = []
    unification: Unification | None = Unification()  # identity: every run already says the same
    if not _all_identical(answered):
        try:
            unification = await unify_names(session, provider, _distinct_names(answered))
        except CassiaError as err:
            unification = None
            notes.append(redact(f"unification agent failed ({type(err).__name__}: {err}); CS_LLM not computed"))
    agent = None
    try:
        agent = await judge_consensus(session, provider, answered)
    except CassiaError as err:
        notes.append(redact(f"consensus agent failed ({type(err).__name__}: {err}); CS_agent not computed"))
    result = cluster_uncertainty(cluster, votes, weights=weights, threshold=threshold,
                                 unification=unification, agent=agent, notes=notes)
    return result, session


def _resolve_agent_provider(provider, model, *, api_key, base_url, use_cache, cache_path, max_tokens) -> Provider:
    return resolve_stages(provider=provider, model=model, api_key=api_key, base_url=base_url,
                          use_cache=use_cache, cache_path=cache_path, max_tokens=max_tokens).annotator


async def ascore_runs(runs: Sequence[Any], *, provider=None, model: str | None = None,
                      weights: Weights | Sequence[float] = (0.7, 0.3), threshold: float = 75,
                      labels: Sequence[str] | None = None, agents: bool = True, species: str = "human",
                      tissue: str | None = None, out_dir: str | Path | None = None, max_workers: int = 4,
                      use_cache: bool = True, cache_path=None, api_key: str | None = None,
                      base_url: str | None = None, max_tokens: int | None = None, progress: bool = True,
                      report: bool = True, run_results: Sequence[Any] = (),
                      settings: dict | None = None) -> UncertaintyResult:
    """Async :func:`score_runs`."""
    weights = Weights.of(weights)
    threshold = _check_threshold(threshold)
    if max_workers < 1:
        raise InputError(f"max_workers must be at least 1 (got {max_workers}).")
    answers = load_runs(runs, labels=labels)
    clusters = cluster_order(answers)
    llm: Provider | None = None
    run_notes: list[str] = []
    if agents:
        llm = _resolve_agent_provider(provider, model, api_key=api_key, base_url=base_url,
                                      use_cache=use_cache, cache_path=cache_path, max_tokens=max_tokens)
        if llm.config.kind == "offline":
            llm, run_notes = None, [OFFLINE_NOTE]
    store = None
    if out_dir is not None:
        store = RunStore(out_dir, resume=True)
    semaphore = asyncio.Semaphore(max_workers)
    bar = tqdm(total=len(clusters), desc="consensus", unit="cluster", file=sys.stderr, leave=False,
               disable=not progress or llm is None or not sys.stderr.isatty())

    async def one(cluster: str):
        async with semaphore:
            outcome = await _judge_cluster(cluster, _votes(cluster, answers), provider=llm, weights=weights,
                                           threshold=threshold, species=species, tissue=tissue, store=store)
            bar.update(1)
            return outcome

    try:
        outcomes = await asyncio.gather(*(one(c) for c in clusters))
    finally:
        bar.close()
        if llm is not None and hasattr(llm, "aclose"):
            await llm.aclose()
    result = UncertaintyResult(clusters=[o[0] for o in outcomes], runs=list(run_results),
                               out_dir=Path(out_dir) if out_dir is not None else None)
    result.manifest = _manifest(result, answers, [o[1] for o in outcomes], llm=llm, weights=weights,
                                threshold=threshold, notes=run_notes, settings=settings or {}, store=store)
    if store is not None:
        _write(store, result, report=report)
    return result


def _manifest(result: UncertaintyResult, answers: Sequence[RunAnswers], sessions, *, llm, weights: Weights,
              threshold: float, notes: list[str], settings: dict, store) -> dict[str, Any]:
    stages = [info for s in sessions if s is not None for info in s.stages.values()]
    costs = [info.cost_usd for info in stages]
    previous = store.manifest() if store is not None else {}
    return {
        "kind": "uncertainty",
        "status": "complete",
        "created": previous.get("created", now()),
        "updated": now(),
        "versions": environment_info(),
        "settings": {**settings, "weights": {"general": weights.general, "subtype": weights.subtype},
                     "threshold": threshold},
        "runs": [{"label": r.label, "source": r.source} for r in answers],
        "agents": llm.config.public() if llm is not None else None,
        "counts": {"clusters": len(result.clusters), "uncertain": len(result.uncertain)},
        "usage": {"input_tokens": sum(i.usage.input_tokens for i in stages),
                  "output_tokens": sum(i.usage.output_tokens for i in stages)},
        "cost_usd": None if any(c is None for c in costs) else round(sum(costs), 6),
        "notes": notes,
    }


def _write(store, result: UncertaintyResult, *, report: bool) -> None:
    out = store.run_dir
    frame = result.to_frame()
    tmp = out / ".uncertainty.csv.tmp"
    frame.to_csv(tmp, index=False)
    tmp.replace(out / "uncertainty.csv")
    lines = "".join(redact(c.model_dump_json()) + "\n" for c in result.clusters)
    (out / ".uncertainty.jsonl.tmp").write_text(lines, encoding="utf-8")
    (out / ".uncertainty.jsonl.tmp").replace(out / "uncertainty.jsonl")
    store.write_manifest(result.manifest)
    if report:  # the n runs' own reports first (annotation runs write none): the page links to them
        for run in result.runs:
            if not (run.run_dir / "report.html").exists():
                render_report(run.run_dir, manifest=run.manifest or None)
        render_uncertainty_page(out, result)


@checked
def score_runs(
    runs: Sequence[Any], *, provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, max_tokens: int | None = None,
    weights: Weights | Sequence[float] = (0.7, 0.3), threshold: float = 75,
    labels: Sequence[str] | None = None, agents: bool = True, species: str = "human", tissue: str | None = None,
    out_dir: PathLike | None = None, max_workers: int = 4, use_cache: bool = True,
    cache_path: PathLike | None = None, progress: bool = True, report: bool = True,
) -> UncertaintyResult:
    """CS scores from finished runs (``runCASSIA_similarity_score_batch``).

    ``runs``: a list of run directories, ``summary.csv`` paths, summary DataFrames or RunResults
    (subclustering results work too), all annotating the same clusters. Keywords: ``provider`` /
    ``model`` / ``api_key`` / ``base_url`` (who answers the unification and consensus agents;
    None picks the first vendor with a key, else offline; ``max_tokens``: their output limit),
    ``weights`` ((general, subtype), default (0.7, 0.3)), ``threshold`` (default 75), ``labels``
    (one per run), ``agents`` (False: CS_CL only, no LLM call), ``species``, ``tissue``, ``out_dir`` (writes uncertainty.csv,
    uncertainty.jsonl, manifest.json, uncertainty.html and the agents' transcripts),
    ``max_workers``, ``use_cache``, ``progress``, ``report``. With the offline provider the
    agents are skipped and CS = CS_CL (said in the manifest notes). Failed, unvalidated,
    "Unknown" and word-for-word repeated answers are not agreement (:mod:`.votes`): a cluster with
    fewer than two independent answers gets no CS (None, uncertain, the reason in its notes).
    """
    options = dict(locals())
    return run_sync(lambda: ascore_runs(**options))


def read_uncertainty(out_dir: str | Path) -> list[ClusterUncertainty]:
    """The per-cluster records an uncertainty analysis wrote (``uncertainty.jsonl``)."""
    path = Path(out_dir) / "uncertainty.jsonl"
    if not path.exists():
        raise InputError(f"{out_dir} holds no uncertainty.jsonl; pass the out_dir of run_uncertainty or score_runs.")
    return [ClusterUncertainty.model_validate(json.loads(line))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
