"""The one jinja2 environment of every HTML page, and the atomic page writer."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Any

import jinja2


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("cassia.report", "templates"),
        autoescape=True,  # model text and cluster names may carry markup; escape everything
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # packaged templates: no stat of base and macros for every one of 1,000 pages
    )


def write_page(path: Path, text: str) -> Path:
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
    return path


def render_page(path: Path, template: str, **data: Any) -> Path:
    return write_page(path, environment().get_template(template).render(**data))
