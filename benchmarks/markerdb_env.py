"""Shared by the offline benchmarks: run with or without the marker databases.

The offline annotator weighs CellMarker 2.0 and PanglaoDB evidence when their tables are on the
machine (:func:`cassia.knowledge.markerdb.local_index`). The benchmarks read them from
``../shared/data/markerdb`` unless ``$CASSIA_DATA_DIR`` says otherwise; ``off`` hides them (an
empty data and cache folder) to measure the curated knowledge base alone.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SHARED_MARKERDB = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "markerdb"


def use_marker_databases(mode: str) -> str:
    """Set the environment for ``mode`` ("auto" or "off") before cassia looks; returns a description."""
    if mode == "off":
        empty = tempfile.mkdtemp(prefix="cassia-no-markerdb-")
        os.environ["CASSIA_DATA_DIR"] = empty
        os.environ["CASSIA_CACHE_DIR"] = empty
        return "marker databases: off (curated knowledge base alone)"
    os.environ.setdefault("CASSIA_DATA_DIR", str(SHARED_MARKERDB.resolve()))
    from cassia.knowledge.markerdb import local_index

    found = local_index() is not None
    return (f"marker databases: {'used' if found else 'NOT FOUND'} (CASSIA_DATA_DIR={os.environ['CASSIA_DATA_DIR']})")
