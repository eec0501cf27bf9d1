"""HTML report of a run: ``report.html`` (index) plus ``clusters/<slug>.html`` per cluster.

Pages are rendered from jinja2 templates with autoescaping on (cluster names and model text are
untrusted) and are self-contained: inline CSS, a few lines of inline JavaScript for sorting, and
an inline SVG chart, so a report opens offline and can be mailed or archived as a folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ..models import ClusterResult
from ..store import iter_results, read_manifest
from . import view
from .plot import histogram
from .render import environment, write_page

__all__ = ["render_report"]


def render_report(
    run_dir: str | Path,
    *,
    results: list[ClusterResult] | None = None,
    manifest: dict[str, Any] | None = None,
    clusters: list[str] | None = None,
) -> Path:
    """Write the run's HTML report into ``run_dir`` and return the path of ``report.html``.

    ``results`` and ``manifest`` default to what the run directory holds (results.jsonl,
    manifest.json); results read from disk are streamed, one cluster page at a time, so a
    large run is reported in little memory. ``clusters`` limits the report to those IDs.
    Clusters are listed in natural order of their IDs ("2" before "10").
    """
    run_dir = Path(run_dir)
    if manifest is None:
        manifest = read_manifest(run_dir)

    def source() -> Iterable[ClusterResult]:
        return results if results is not None else iter_results(run_dir, clusters)

    env = environment()
    index = view.index_view(source(), manifest)
    index["run_pages"] = view.run_pages(run_dir)
    index["histogram"] = histogram([r["score"] for r in index["rows"] if r["score"] is not None], index["threshold"])
    index_path = run_dir / "report.html"
    write_page(index_path, env.get_template("index.html.j2").render(**index))

    page = env.get_template("cluster.html.j2")
    rows = index["rows"]
    position = {row["cluster"]: n for n, row in enumerate(rows)}
    for result in source():
        n = position[result.cluster]
        previous = rows[n - 1] if n > 0 else None
        following = rows[n + 1] if n + 1 < len(rows) else None
        data = view.cluster_view(result, manifest, previous, following)
        write_page(run_dir / "clusters" / f"{data['row']['slug']}.html", page.render(**data))
    return index_path
