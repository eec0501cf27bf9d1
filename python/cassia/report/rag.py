"""HTML page of the retrieved knowledge (RAG) of one cluster: ``rag/<slug>.html``.

Shows what the Annotator was given and where each fact comes from: the database candidates with
the PubMed IDs behind every matching gene, the Cell Ontology branches of the tissue, the
subtype-separating features, cross-species notes, and the database versions and checksums.
Same rules as the run report: jinja2 with autoescaping, the shared ``base.html.j2`` look, a
self-contained file written in one step. The cluster page links here via ``pages``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..models import ClusterResult
from ..store import slug
from .render import environment, write_page

__all__ = ["rag_view", "render_rag_page"]

_TITLES = {"cellmarker2": "CellMarker 2.0", "panglaodb": "PanglaoDB"}


def _candidate_rows(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for c in candidates:
        matched = [{
            "gene": m.get("gene", ""), "rank": m.get("rank"),
            "sources": ", ".join(_TITLES.get(d, d) for d in m.get("databases", [])),
            "pmids": [p for p in m.get("pmids", []) if str(p).isdigit()],
        } for m in c.get("matched", [])]
        names = sorted({f"{n[1]} ({_TITLES.get(n[0], n[0])})" for n in c.get("database_names", []) if len(n) == 2})
        rows.append({
            "name": c.get("name", ""), "cl_id": c.get("cl_id"), "score": float(c.get("score") or 0.0),
            "in_tissue": c.get("in_tissue"), "matched": matched,
            "more": max(0, int(c.get("n_matched") or 0) - len(matched)),
            "canonical_markers": c.get("canonical_markers", []), "names": "; ".join(names[:6]),
        })
    return rows


def rag_view(result: ClusterResult) -> dict[str, Any]:
    """Plain data for ``rag.html.j2`` from ``result.rag``."""
    rag = result.rag or {}
    answer_obj = result.annotation or result.diagnosis
    answer = answer_obj.sub_cell_types[0] if answer_obj and answer_obj.sub_cell_types else (
        answer_obj.main_cell_type if answer_obj else None)
    candidates = rag.get("candidates", [])
    answer_ids = {result.cell_ontology_id} - {None}
    answer_rank = next((i for i, c in enumerate(candidates, 1) if c.get("cl_id") in answer_ids), None)
    sources = rag.get("sources", {})
    databases = [{"title": d.get("title", name), "version": d.get("version", ""), "file": d.get("file", ""),
                  "sha256": d.get("sha256", ""), "citation": d.get("citation", "")}
                 for name, d in sorted((sources.get("databases") or {}).items())]
    seconds = rag.get("seconds")
    return {
        "title": f"Retrieved knowledge: cluster {result.cluster}",
        "cluster": result.cluster,
        "cluster_page": f"../clusters/{slug(result.cluster)}.html",
        "species": rag.get("species") or result.species,
        "tissue": rag.get("tissue"),
        "seconds_text": f"{seconds * 1000:.0f} ms" if isinstance(seconds, (int, float)) else "—",
        "answer": answer,
        "answer_rank": answer_rank,
        "errors": rag.get("errors", []),
        "candidates": _candidate_rows(candidates),
        "tree_lines": rag.get("tree_lines", []),
        "features": rag.get("features"),
        "features_source": rag.get("features_source"),
        "cross_species": rag.get("cross_species"),
        "cross_species_source": rag.get("cross_species_source"),
        "databases": databases,
        "cell_ontology": sources.get("cell_ontology"),
        "prompt": rag.get("prompt", ""),
    }


def render_rag_page(run_dir: str | Path, result: ClusterResult) -> Path:
    """Write ``<run_dir>/rag/<slug>.html`` for a result that carries ``rag``."""
    text = environment().get_template("rag.html.j2").render(**rag_view(result))
    return write_page(Path(run_dir) / "rag" / f"{slug(result.cluster)}.html", text)
