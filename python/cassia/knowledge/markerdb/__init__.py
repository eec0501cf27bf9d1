"""The marker databases CellMarker 2.0 and PanglaoDB: files, a gene -> cell type index, retrieval.

- :mod:`.files`: where the tables live (``data_dir=``, ``$CASSIA_DATA_DIR``, the user cache), how
  they are downloaded and read into marker records;
- :mod:`.index`: the index over both databases, built once and cached on disk;
- :mod:`.retrieve`: candidate cell types for a ranked gene list (deterministic, no model).

Two users: the RAG step (:mod:`cassia.rag`), which downloads the tables when asked to, and the
offline annotator (:mod:`cassia.knowledge.call`), which weighs their evidence only when the tables
are already on this machine (:func:`local_index`, never a download). They live here, below
:mod:`cassia.rag`, so the knowledge base can read them without an import cycle.
"""

from __future__ import annotations

import os
import threading

from ...errors import ConfigError
from .files import DATABASES, ENV_VAR, DatabaseFile, download_database, ensure_database
from .index import MarkerIndex, load_index
from .retrieve import MarkerEvidence, RetrievedCandidate, rank_candidates

__all__ = [
    "DATABASES",
    "ENV_VAR",
    "DatabaseFile",
    "MarkerEvidence",
    "MarkerIndex",
    "RetrievedCandidate",
    "download_database",
    "ensure_database",
    "load_index",
    "local_index",
    "rank_candidates",
]

_lock = threading.Lock()
_local: dict[tuple[str, ...], MarkerIndex | None] = {}


def local_index() -> MarkerIndex | None:
    """The database index when both tables are already on this machine, else None (no download).

    Looked up once per process (``$CASSIA_DATA_DIR``, then the user cache); the index itself is
    cached on disk by :func:`load_index`, so only the first process that finds the tables builds it.
    """


    key = tuple(os.environ.get(v, "") for v in (ENV_VAR, "CASSIA_CACHE_DIR", "XDG_CACHE_HOME"))
    with _lock:
        if key not in _local:
            try:
                _local[key] = load_index(download=False)
            except ConfigError:
                _local[key] = None
        return _local[key]
