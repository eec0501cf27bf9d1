"""The ensemble report: ``report.html`` (every cluster's consensus and how it was reached) and
``clusters/<slug>.html`` per cluster (each model's answer and reasoning, every discussion round,
the arbiter's decision, tokens and cost).

Same rules as the run report: the autoescaping environment of :mod:`.render` (model text and
cluster names are untrusted), the shared ``base.html.j2`` look, pages written in one step. The
result is read duck-typed (an :class:`~cassia.workflows.ensemble.EnsembleResult`), so this layer
does not import the workflow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..store import slug
from .render import environment, write_page
from .view import format_cost, natural_key, safe_link

__all__ = ["ensemble_view", "render_ensemble_report"]

STATUS_CLASS = {"agreed": "ok", "deliberated": "ok", "arbitrated": "neutral", "unresolved": "failed",
                "no vote": "failed"}


def _share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _bits(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _answer(answer) -> dict[str, Any]:
    return {"general": answer.general, "detailed": answer.detailed, "reasoning": answer.reasoning,
            "status": answer.status, "note": answer.note}


def _member_page(run_dir: str | None, cluster: str) -> str | None:
    """The model's own report page for this cluster, relative to the ensemble's cluster pages
    (checked as a link inside the ensemble folder, then taken one level up from clusters/)."""
    link = safe_link(f"{run_dir}/clusters/{slug(cluster)}.html") if run_dir else None
    return f"../{link}" if link else None


def _cluster(c, names: dict[str, str], model_runs: dict[str, str | None]) -> dict[str, Any]:
    return {
        "cluster": c.cluster, "page": safe_link(f"clusters/{slug(c.cluster)}.html"), "general": c.general,
        "detailed": c.detailed, "cl_id": c.cell_ontology_id, "status": c.ensemble_status,
        "status_class": STATUS_CLASS.get(c.ensemble_status, "neutral"), "proportion": _share(c.consensus_proportion),
        "initial": _share(c.initial_proportion), "entropy": _bits(c.entropy),
        "cs": "—" if c.cs is None else f"{c.cs:.0f}", "answered": c.answered, "rounds": len(c.rounds),
        "calls": c.deliberation_calls, "tokens": c.tokens, "cost": format_cost(c.cost_usd), "notes": c.notes,
        "markers": c.markers[:30],
        "votes": [{"model": v.model, "name": names.get(v.model, v.model), "initial": _answer(v.initial),
                   "final": _answer(v.final), "tokens": v.tokens, "cost": format_cost(v.cost_usd),
                   "run_page": _member_page(model_runs.get(v.model), c.cluster)} for v in c.votes],
        "discussion": [{"round": r.round, "proportion": _share(r.consensus_proportion), "calls": r.calls,
                        "answers": [{"model": label, "name": names.get(label, label), **_answer(a)}
                                    for label, a in r.answers.items()]} for r in c.rounds],
        "arbiter": None if c.arbiter is None else {
            "model": c.arbiter.model, "status": c.arbiter.status, "general": c.arbiter.general,
            "detailed": c.arbiter.detailed, "reasoning": c.arbiter.reasoning, "error": c.arbiter.error,
            "proposed": c.arbiter.proposed_by_a_model},
    }


def ensemble_view(result, out_dir: Path | None = None) -> dict[str, Any]:
    """Plain data for the ensemble templates."""
    manifest = result.manifest or {}
    models = manifest.get("models", [])
    names = {m["label"]: f"Annotator {chr(65 + i)}" if i < 26 else m["label"] for i, m in enumerate(models)}
    model_runs = {}
    for m in models:
        page = Path(out_dir or ".") / "models" / m["label"] / "report.html"
        model_runs[m["label"]] = f"models/{m['label']}" if out_dir and page.exists() else None
    clusters = [_cluster(c, names, model_runs) for c in sorted(result.clusters, key=lambda c: natural_key(c.cluster))]
    settings = manifest.get("settings", {})
    counts = manifest.get("counts", {})
    return {
        "title": "CASSIA ensemble", "clusters": clusters, "counts": counts,
        "models": [{"label": m["label"], "name": names[m["label"]], "spec": m.get("spec"), "model": m.get("model"),
                    "status": m.get("status"), "error": m.get("error")} for m in models],
        "arbiter": (manifest.get("arbiter") or {}).get("label"),
        "threshold": _share(settings.get("threshold")), "rounds_max": settings.get("rounds"),
        "species": settings.get("species"), "tissue": settings.get("tissue"),
        "tokens": (manifest.get("usage") or {}).get("tokens", 0), "cost": format_cost(manifest.get("cost_usd")),
    }


def render_ensemble_report(out_dir: str | Path, result) -> Path:
    """Write ``report.html`` and one page per cluster into ``out_dir``; return the index's path."""
    out_dir = Path(out_dir)
    env = environment()
    view = ensemble_view(result, out_dir)
    index = write_page(out_dir / "report.html", env.get_template("ensemble_index.html.j2").render(**view))
    page = env.get_template("ensemble_cluster.html.j2")
    for cluster in view["clusters"]:
        write_page(out_dir / "clusters" / f"{slug(cluster['cluster'])}.html",
                   page.render(title=f"Cluster {cluster['cluster']} — CASSIA ensemble", c=cluster, view=view))
    return index
