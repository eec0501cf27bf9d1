"""HTML report of a run: ``report.html`` (index) plus ``clusters/<slug>.html`` per cluster.

Pages are rendered from jinja2 templates with autoescaping on (cluster names and model text are
untrusted) and are self-contained: inline CSS, a few lines of inline JavaScript for sorting, and
an inline SVG chart, so a report opens offline and can be mailed or archived as a folder.
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any

import jinja2

from ..models import ClusterResult
from ..store import read_manifest, read_results
from . import view
from .plot import histogram

__all__ = ["render_report"]


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("cassia.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _write(path: Path, text: str) -> None:
    """Replace ``path`` in one step so a browser open during a run never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_report(
    run_dir: str | Path,
    *,
    results: list[ClusterResult] | None = None,
    manifest: dict[str, Any] | None = None,
) -> Path:
    """Write the run's HTML report into ``run_dir`` and return the path of ``report.html``.

    ``results`` and ``manifest`` default to what the run directory holds (results.jsonl,
    manifest.json). Clusters are listed in natural order of their IDs ("2" before "10").
    """
    run_dir = Path(run_dir)
    if manifest is None:
        manifest = read_manifest(run_dir)
    if results is None:
        results = read_results(run_dir)
    ordered = sorted(results, key=lambda r: view.natural_key(r.cluster))
    env = _environment()

    index = view.index_view(ordered, manifest)
    index["histogram"] = histogram([r["score"] for r in index["rows"] if r["score"] is not None], index["threshold"])
    index_path = run_dir / "report.html"
    _write(index_path, env.get_template("index.html.j2").render(**index))

    page = env.get_template("cluster.html.j2")
    rows = index["rows"]
    for position, result in enumerate(ordered):
        previous = rows[position - 1] if position > 0 else None
        following = rows[position + 1] if position + 1 < len(rows) else None
        data = view.cluster_view(result, manifest, previous, following)
        _write(run_dir / "clusters" / f"{data['row']['slug']}.html", page.render(**data))
    return index_path
