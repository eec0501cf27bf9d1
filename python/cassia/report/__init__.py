"""HTML report of a run: ``report.html`` (index) plus ``clusters/<slug>.html`` per cluster.

Pages are rendered from jinja2 templates with autoescaping on (cluster names and model text are
untrusted) and are self-contained: inline CSS, a few lines of inline JavaScript for sorting, and
an inline SVG chart, so a report opens offline and can be mailed or archived as a folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ..models import ClusterResult
from ..store import iter_results, read_manifest, slug
from . import view
from .plot import histogram
from .render import environment, write_page

__all__ = ["PageStream", "render_report"]


def _link(row: dict | None) -> dict | None:
    """What a cluster page shows of a neighbour: its ID and page."""
    return None if row is None else {"cluster": row["cluster"], "slug": row["slug"]}


class PageStream:
    """Cluster pages written while a run goes, each when its result is committed (a listener of the
    run store, called on its writer thread), so the end of a 1,000-cluster run writes the index only.

    A page links its neighbours in the index's order of ``clusters`` (the run's input); the
    report rewrites a page whose neighbours turn out different (a cluster left without a result),
    and every page once one failed to render here (the report then raises the error itself).
    """

    def __init__(self, run_dir: str | Path, clusters: list[str], threshold: float):
        self._folder = Path(run_dir) / "clusters"
        self._manifest = {"score_threshold": threshold}
        links = [{"cluster": c, "slug": slug(c)} for c in sorted(dict.fromkeys(clusters), key=view.natural_key)]
        self._neighbours = {link["cluster"]: (links[n - 1] if n > 0 else None, links[n + 1] if n + 1 < len(links) else None)
                            for n, link in enumerate(links)}
        self._written: dict[str, tuple] = {}  # cluster -> the neighbours its page links
        self._broken = False

    def __call__(self, result: ClusterResult) -> None:
        neighbours = self._neighbours.get(result.cluster)
        if self._broken or neighbours is None:
            return
        try:
            data = view.cluster_view(result, self._manifest, *neighbours)
            write_page(self._folder / f"{data['row']['slug']}.html", environment().get_template("cluster.html.j2").render(**data))
            self._written[result.cluster] = neighbours
        except Exception:  # noqa: BLE001 - render_report renders every page again and raises it there
            self._broken = True
            self._written.clear()

    def current(self, cluster: str, neighbours: tuple) -> bool:
        """True when the page of ``cluster`` holds its last result and links ``neighbours``."""
        return self._written.get(cluster) == neighbours


def render_report(
    run_dir: str | Path,
    *,
    results: list[ClusterResult] | None = None,
    manifest: dict[str, Any] | None = None,
    clusters: list[str] | None = None,
    pages: PageStream | None = None,
) -> Path:
    """Write the run's HTML report into ``run_dir`` and return the path of ``report.html``.

    ``results`` and ``manifest`` default to what the run directory holds (results.jsonl,
    manifest.json); results read from disk are streamed, one cluster page at a time, so a
    large run is reported in little memory. ``clusters`` limits the report to those IDs.
    Clusters are listed in natural order of their IDs ("2" before "10"). ``pages``: the pages the
    run wrote as it went; only those not current are rendered here.
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
    links = {row["cluster"]: (_link(rows[n - 1]) if n > 0 else None, _link(rows[n + 1]) if n + 1 < len(rows) else None)
             for n, row in enumerate(rows)}
    stale = [c for c, neighbours in links.items() if pages is None or not pages.current(c, neighbours)]
    if not stale:  # every page was written as the run went: the log is not read again
        return index_path
    todo = set(stale)
    for result in (r for r in results if r.cluster in todo) if results is not None else iter_results(run_dir, stale):
        data = view.cluster_view(result, manifest, *links[result.cluster])
        write_page(run_dir / "clusters" / f"{data['row']['slug']}.html", page.render(**data))
    return index_path
