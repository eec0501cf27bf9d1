"""Turn a run (results + manifest) into plain view data for the report templates.

Everything here is data: strings, numbers, lists and dicts. Escaping is left to the jinja2
environment (autoescape on), so nothing in this module builds markup. Reading the run
directory is :mod:`cassia.store`'s job.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any, Iterable
from urllib.parse import urlsplit

from ..errors import redact
from ..models import ClusterResult, Usage
from ..store import slug

DEFAULT_THRESHOLD = 75.0
# Setting names that could hold a credential. "tokens"/"input_tokens" (usage counts) stay visible.
_KEY_LIKE = re.compile(
    r"(api[_-]?key|secret|passw(or)?d|credential|authori[sz]ation|bearer|cookie|(^|[_\-.])key$|(^|[_\-.])token$)",
    re.IGNORECASE,
)
_MAX_SETTING_CHARS = 300
_ROLE_LABELS = {"system": "System prompt", "user": "User", "assistant": "Assistant"}


# ---------------------------------------------------------------- small formatters


def natural_key(text: str) -> tuple:
    """Sort "2" before "10" and "c2" before "c10"."""
    parts = re.split(r"(\d+)", text.strip().lower())
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p)


def score_class(score: float | None, threshold: float) -> str:
    """CSS class for a score: high at or above the threshold, mid within 25 points, low below."""
    if score is None:
        return "score-none"
    if score >= threshold:
        return "score-high"
    return "score-mid" if score >= threshold - 25 else "score-low"


def format_cost(cost: float | None) -> str:
    if cost is None:
        return "—"
    if cost == 0:
        return "$0.00"
    return f"${cost:.4f}" if cost < 0.01 else f"${cost:.2f}"


def safe_link(path: Any) -> str | None:
    """A relative link inside the run directory, or None for anything else (schemes, absolute, ..)."""
    if not isinstance(path, str) or not path.strip():
        return None
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or path.startswith(("/", "\\")) or ".." in PurePosixPath(parts.path).parts:
        return None
    return path


def threshold_from(manifest: dict[str, Any]) -> float:
    for holder in (manifest, manifest.get("settings") if isinstance(manifest.get("settings"), dict) else {}):
        value = holder.get("score_threshold")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return DEFAULT_THRESHOLD


def settings_rows(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """Manifest entries as (dotted name, text), dropping anything that looks like a credential."""
    rows: list[tuple[str, str]] = []

    def visit(prefix: str, value: Any, depth: int) -> None:
        name = prefix.rsplit(".", 1)[-1]
        if _KEY_LIKE.search(name):
            return
        if isinstance(value, dict) and depth < 3:
            for key, inner in value.items():
                visit(f"{prefix}.{key}" if prefix else str(key), inner, depth + 1)
            return
        if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            text = ", ".join(str(v) for v in value[:20]) + (f", … ({len(value)} in all)" if len(value) > 20 else "")
        elif isinstance(value, (dict, list)):
            text = f"({len(value)} entries)"
        elif value is None:
            text = "—"
        else:
            text = str(value)
        if len(text) > _MAX_SETTING_CHARS:
            text = text[:_MAX_SETTING_CHARS] + "…"
        rows.append((prefix, redact(text)))

    for key, value in manifest.items():
        visit(str(key), value, 1)
    return rows


# ---------------------------------------------------------------- view data


def _result_of(result: ClusterResult):
    """The structured answer to show: the annotation, else the diagnosis, else nothing."""
    return result.annotation or result.diagnosis


def _score_value(result: ClusterResult) -> int | None:
    return result.score.score if result.score is not None else None


def untrusted_reason(result: ClusterResult) -> str:
    """Why a failed or unvalidated cluster's answer must not be taken at face value ("" when ok)."""
    outcome = result.outcome
    if outcome == "failed":
        return redact(result.error) if result.error else "no reason recorded"
    if outcome == "unvalidated":
        last = result.validation[-1] if result.validation else None
        why = " ".join(last.reasons) if last and last.reasons else (
            result.diagnosis.what_went_wrong if result.diagnosis else "")
        return redact(f"never passed the Validator ({result.iterations} round(s)): {why}".rstrip(": "))
    return ""


def cluster_row(result: ClusterResult, threshold: float) -> dict[str, Any]:
    answer = _result_of(result)
    score = _score_value(result)
    return {
        "cluster": result.cluster,
        "slug": slug(result.cluster),
        "href": f"clusters/{slug(result.cluster)}.html",
        "general": answer.main_cell_type if answer else "",
        "detailed": answer.sub_cell_types[0] if answer and answer.sub_cell_types else "",
        "mixed": ", ".join(answer.mixed_cell_types) if answer else "",
        "score": score,
        "score_class": score_class(score, threshold),
        "validated": result.validated,
        "boosted": result.boosted,
        "status": result.outcome,
        "reason": untrusted_reason(result),
        "error": redact(result.error) if result.error else "",
        "iterations": result.iterations,
        "tokens": result.tokens,
        "cost": result.cost_usd,
        "cost_text": format_cost(result.cost_usd),
        "saved": sum(stage.saved_usd for stage in result.stages.values()),  # answered by the response cache
        "pages": [{"title": page["title"], "href": page["href"][3:]}  # relative to the index, not clusters/
                  for page in _step_pages(result.pages) if page["href"]],
    }


def index_view(results: Iterable[ClusterResult], manifest: dict[str, Any]) -> dict[str, Any]:
    """Index data in one pass over the results (which may be streamed); rows in natural order."""
    threshold = threshold_from(manifest)
    stages: dict[str, dict[str, Any]] = {}

    def rows_and_stages():  # one pass: the results may be streamed from disk
        for r in results:
            for name, info in r.stages.items():
                total = stages.setdefault(name, {"stage": name, "provider": info.provider, "model": info.model,
                                                 "calls": 0, "usage": Usage(), "cost": 0.0})
                total["calls"] += info.calls
                total["usage"] = total["usage"] + info.usage
                total["cost"] = None if total["cost"] is None or info.cost_usd is None else total["cost"] + info.cost_usd
            yield cluster_row(r, threshold)

    rows = sorted(rows_and_stages(), key=lambda row: natural_key(row["cluster"]))
    costs = [row["cost"] for row in rows]
    scores = [row["score"] for row in rows if row["score"] is not None]
    return {
        "title": "CASSIA run report",
        "status": str(manifest.get("status", "")),
        "threshold": threshold,
        "threshold_text": f"{threshold:g}",
        "settings": settings_rows(manifest),
        "rows": rows,
        "untrusted": [row for row in rows if row["status"] != "ok"],
        "stages": [{**{k: v for k, v in t.items() if k != "usage"}, "input_tokens": t["usage"].input_tokens,
                    "input_cached_tokens": t["usage"].input_cached_tokens, "output_tokens": t["usage"].output_tokens,
                    "cost_text": format_cost(t["cost"])} for t in stages.values()],
        "totals": {
            "clusters": len(rows),
            "ok": sum(row["status"] == "ok" for row in rows),
            "unvalidated": sum(row["status"] == "unvalidated" for row in rows),
            "failed": sum(row["status"] == "failed" for row in rows),
            "scored": len(scores),
            "below": sum(s < threshold for s in scores),
            "tokens": sum(row["tokens"] for row in rows),
            "cost_text": format_cost(sum(c for c in costs if c is not None)) if any(c is not None for c in costs) else "—",
            "unpriced": sum(c is None for c in costs),
            "saved_text": format_cost(saved) if (saved := sum(row["saved"] for row in rows)) > 0 else "",
        },
    }


# Pages other steps write at the top of a run directory, linked from the index when present.
RUN_PAGES = (("Subclustering", "subclusters.html"), ("Annotation Boost (auto)", "boost/index.html"),
             ("Uncertainty", "uncertainty.html"))


def run_pages(run_dir) -> list[dict[str, str]]:
    return [{"title": title, "href": path} for title, path in RUN_PAGES if (run_dir / path).is_file()]


def _step_pages(pages: dict[str, str]) -> list[dict[str, Any]]:
    """Links to pages other steps wrote (boost, RAG, subclusters), from ``ClusterResult.pages``."""
    found = [(str(title), path) for title, path in pages.items()]
    # Paths are relative to the run directory; cluster pages live one folder down.
    return [
        {"title": title, "href": f"../{link}" if link else None, "text": str(path)}
        for title, path in found
        for link in [safe_link(path)]
    ]


def _validation_view(result: ClusterResult) -> list[dict[str, Any]]:
    rounds = []
    for item in result.validation:
        llm = item.llm
        rounds.append(
            {
                "round": item.round,
                "passed": item.passed,
                "invented_genes": item.invented_genes,
                "unknown_cell_type": item.unknown_cell_type,
                "reasons": [redact(r) for r in item.reasons],
                "cell_type": llm.cell_type if llm else None,
                "cited_genes": llm.cited_genes if llm else [],
                "consistent": llm.consistent if llm else None,
                "concerns": [redact(c) for c in llm.concerns] if llm else [],
                "feedback": redact(llm.feedback) if llm else None,
            }
        )
    return rounds


def _stages_view(result: ClusterResult) -> list[dict[str, Any]]:
    return [
        {
            "stage": name,
            "provider": info.provider,
            "model": info.model,
            "input_tokens": info.usage.input_tokens,
            "output_tokens": info.usage.output_tokens,
            "total_tokens": info.usage.total,
            "calls": info.calls,
            "cost_text": format_cost(info.cost_usd),
        }
        for name, info in result.stages.items()
    ]


def cluster_view(
    result: ClusterResult, manifest: dict[str, Any], previous: dict | None, following: dict | None
) -> dict[str, Any]:
    threshold = threshold_from(manifest)
    answer = result.annotation or result.diagnosis
    key_markers = {g.upper() for g in (answer.key_markers if answer else [])}
    return {
        "title": f"Cluster {result.cluster}",
        "row": cluster_row(result, threshold),
        "threshold": threshold,
        "threshold_text": f"{threshold:g}",
        "tissue": result.tissue,
        "species": result.species,
        "markers": [{"rank": i, "gene": g, "key": g.upper() in key_markers} for i, g in enumerate(result.markers, 1)],
        "key_markers": answer.key_markers if answer else [],
        "annotation": result.annotation,
        "original_annotation": result.original_annotation,
        "diagnosis": result.diagnosis,
        "cell_ontology_id": result.cell_ontology_id,
        "score": result.score,
        "validation": _validation_view(result),
        "conversation": [
            {"role": m.role, "label": _ROLE_LABELS.get(m.role, m.role), "text": redact(m.content)}
            for m in result.conversation
        ],
        "stages": _stages_view(result),
        "pages": _step_pages(result.pages),
        "previous": previous,
        "next": following,
    }
