"""The uncertainty page (``uncertainty.html``): per cluster the n answers, the unified terms and
the three CS scores with the final one.

Same rules as the run report: jinja2 with autoescaping (cluster names and model text are
untrusted), the shared ``base.html.j2`` look, a self-contained file written in one step. Links
to each run's own report only when that run has one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .render import environment, write_page
from .view import format_cost, natural_key, safe_link, score_class

__all__ = ["render_uncertainty_page", "uncertainty_view"]


def _score(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _anchor(index: int) -> str:
    return f"cluster-{index}"


def _vote_rows(cluster) -> list[dict[str, Any]]:
    rows = []
    for vote in cluster.votes:
        rows.append({
            "run": vote.run, "status": vote.status, "general": vote.general, "subtypes": vote.subtypes,
            "general_cl": vote.general_cl, "subtype_cl": vote.subtype_cl,
            "general_llm": vote.general_llm, "subtype_llm": vote.subtype_llm,
            "points_cl": None if vote.points_cl is None else f"{100 * vote.points_cl:.0f}",
            "points_llm": None if vote.points_llm is None else f"{100 * vote.points_llm:.0f}",
        })
    return rows


def uncertainty_view(result, out_dir: Path | None = None) -> dict[str, Any]:
    """Plain data for ``uncertainty.html.j2`` from an :class:`~cassia.workflows.uncertainty.UncertaintyResult`."""
    manifest = result.manifest or {}
    threshold = float(manifest.get("settings", {}).get("threshold", 75))
    ordered = sorted(result.clusters, key=lambda c: natural_key(c.cluster))
    clusters = []
    for index, c in enumerate(ordered, start=1):
        scores = [("CS_CL", c.cs_cl, "names unified through the Cell Ontology"),
                  ("CS_LLM", c.cs_llm, "names unified by the unification agent"),
                  ("CS_agent", c.cs_agent, "the consensus agent's own estimate")]
        clusters.append({
            "anchor": _anchor(index), "cluster": c.cluster, "answered": c.answered, "total": len(c.votes),
            "general": c.consensus_general, "subtype": c.consensus_subtype,
            "general_cl": c.consensus_general_cl, "subtype_cl": c.consensus_subtype_cl,
            "general_agreement": _percent(c.general_agreement), "subtype_agreement": _percent(c.subtype_agreement),
            "cs": _score(c.cs), "cs_class": score_class(c.cs, threshold), "uncertain": c.uncertain,
            "boost": c.recommend_boost,
            "scores": [{"name": name, "value": _score(value), "css": score_class(value, threshold), "what": what}
                       for name, value, what in scores],
            "votes": _vote_rows(c),
            "unification": c.unification, "agent": c.agent, "notes": c.notes,
        })
    runs = []
    for run in manifest.get("runs", []):
        label = str(run.get("label", ""))
        report = None
        if out_dir is not None and (out_dir / label / "report.html").exists():
            report = safe_link(f"{label}/report.html")
        runs.append({"label": label, "report": report})
    settings = manifest.get("settings", {})
    weights = settings.get("weights", {})
    usage = manifest.get("usage", {})
    return {
        "title": "CASSIA uncertainty analysis",
        "clusters": clusters,
        "runs": runs,
        "threshold_text": f"{threshold:g}",
        "weights_text": f"general {weights.get('general', 0.7):g}, subtype {weights.get('subtype', 0.3):g}",
        "uncertain_count": sum(c["uncertain"] for c in clusters),
        "species": settings.get("species"), "tissue": settings.get("tissue"),
        "agents": (manifest.get("agents") or {}).get("model"),
        "notes": manifest.get("notes", []),
        "tokens": usage.get("input_tokens", 0) + usage.get("output_tokens", 0),
        "cost_text": format_cost(manifest.get("cost_usd")),
    }


def render_uncertainty_page(out_dir: str | Path, result) -> Path:
    """Write ``<out_dir>/uncertainty.html`` for an uncertainty result and return its path."""
    out_dir = Path(out_dir)
    text = environment().get_template("uncertainty.html.j2").render(**uncertainty_view(result, out_dir))
    return write_page(out_dir / "uncertainty.html", text)
