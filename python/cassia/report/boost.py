"""HTML pages of the optional agents: one Annotation Boost page per boosted cluster
(``boost/<slug>.html``) and one page per subclustering run (``subclusters.html``).

Same rules as the run report: jinja2 with autoescaping (model text is untrusted), the shared
``base.html.j2`` look, self-contained files written in one step. Cluster pages link here
through ``ClusterResult.pages``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..models import ClusterResult
from ..store import slug
from .render import environment, write_page
from .view import format_cost, natural_key, safe_link, score_class, threshold_from

__all__ = ["render_boost_page", "render_subcluster_page"]

_ROLE_LABELS = {"system": "System prompt", "user": "Request / gene results", "assistant": "Boost agent"}
_VERDICT_CLASS = {"supported": "ok", "refuted": "failed", "uncertain": "score-mid", "untested": "neutral"}


def _number(value: Any, digits: str = ".3g") -> str:
    return "—" if value is None else format(value, digits)


def _gene_rows(genes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for g in genes:
        rows.append({
            "round": g.get("round"), "hypothesis": g.get("hypothesis", ""), "query": g.get("query", ""),
            "gene": g.get("gene") or "", "found": bool(g.get("found")), "via_alias": bool(g.get("via_alias")),
            "log2fc": _number(g.get("avg_log2FC")), "pct1": _number(g.get("pct_1")), "pct2": _number(g.get("pct_2")),
            "padj": _number(g.get("p_val_adj"), ".2e"),
            "rank": f"{g['rank']} / {g.get('table_size', '?')}" if g.get("rank") else "—",
        })
    return rows


def boost_view(result: ClusterResult) -> dict[str, Any]:
    """Plain data for ``boost.html.j2`` from ``result.boost``."""
    details = result.boost.model_dump(mode="json") if result.boost is not None else {}
    hypotheses = [{**h, "css": _VERDICT_CLASS.get(h.get("verdict", "untested"), "neutral")}
                  for h in details.get("hypotheses", [])]
    conversation = [{"role": m.get("role", "user"), "label": _ROLE_LABELS.get(m.get("role"), m.get("role")),
                     "text": m.get("content", "")} for m in details.get("conversation", [])]
    stage = result.stages.get("boost")
    return {
        "title": f"Annotation Boost: cluster {result.cluster}",
        "cluster": result.cluster,
        "cluster_page": f"../clusters/{slug(result.cluster)}.html",
        "status": details.get("status", "failed"),
        "error": details.get("error"),
        "mode": details.get("mode", "breadth"),
        "additional_task": details.get("additional_task"),
        "answer": details.get("answer", ""),
        "iterations": details.get("iterations", 0),
        "max_iterations": details.get("max_iterations", 0),
        "converged": bool(details.get("converged")),
        "confidence": details.get("confidence"),
        "summary": details.get("summary", ""),
        "revised": details.get("annotation"),
        "original": details.get("original_annotation"),
        "score": result.score,
        "table_size": details.get("table_size", 0),
        "ranked_list": details.get("evidence") == "ranked list",
        "hypotheses": hypotheses,
        "genes": _gene_rows(details.get("genes", [])),
        "conversation": conversation,
        "usage": {"calls": stage.calls, "tokens": stage.usage.total, "model": stage.model, "provider": stage.provider,
                  "cost_text": format_cost(stage.cost_usd)} if stage else None,
    }


def render_boost_page(run_dir: str | Path, result: ClusterResult) -> Path:
    """Write ``<run_dir>/boost/<slug>.html`` for a result that carries ``boost``."""
    data = boost_view(result)
    text = environment().get_template("boost.html.j2").render(**data)
    return write_page(Path(run_dir) / "boost" / f"{slug(result.cluster)}.html", text)


def subcluster_view(results: list[ClusterResult], manifest: dict[str, Any]) -> dict[str, Any]:
    """Plain data for ``subcluster.html.j2``: one row per subcluster, in natural order."""
    threshold = threshold_from(manifest)
    settings = manifest.get("settings", {}) if isinstance(manifest.get("settings"), dict) else {}
    rows = []
    for r in sorted(results, key=lambda r: natural_key(r.cluster)):
        info = r.subcluster.model_dump() if r.subcluster is not None else {}
        score = r.score.score if r.score else None
        rows.append({
            "cluster": r.cluster, "status": r.status, "error": r.error,
            "main": info.get("main_cell_type") or (r.annotation.main_cell_type if r.annotation else ""),
            "sub": info.get("sub_cell_type", ""),
            "key_markers": r.annotation.key_markers if r.annotation else [],
            "reasoning": info.get("reasoning", ""), "group": info.get("group"), "attempts": info.get("attempts"),
            "consistency": info.get("consistency_note", ""), "before": info.get("before_consistency"),
            "score": score, "score_class": score_class(score, threshold),
            "score_reasoning": r.score.reasoning if r.score else "",
            "markers": r.markers,
            "page": safe_link(f"clusters/{slug(r.cluster)}.html") if manifest.get("report") else None,
        })
    return {
        "title": f"Subclusters: {settings.get('major_cluster_info', '')}",
        "population": settings.get("major_cluster_info", ""),
        "species": settings.get("species"), "tissue": settings.get("tissue"),
        "groups": manifest.get("groups", []),
        "notes": manifest.get("population_notes", []),
        "threshold_text": f"{threshold:g}",
        "rows": rows,
        "status": manifest.get("status", ""),
        "usage": manifest.get("usage", {}),
        "cost_text": format_cost(manifest.get("cost_usd")),
    }


def render_subcluster_page(run_dir: str | Path, results: list[ClusterResult], manifest: dict[str, Any]) -> Path:
    """Write ``<run_dir>/subclusters.html``."""
    text = environment().get_template("subcluster.html.j2").render(**subcluster_view(results, manifest))
    return write_page(Path(run_dir) / "subclusters.html", text)
