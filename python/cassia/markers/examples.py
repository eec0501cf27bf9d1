"""Example marker tables shipped with the engine (made by the project; see scripts/make_example_data.R)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from ..errors import InputError

EXAMPLES = {
    "pbmc_small": "pbmc_small_markers.csv",  # FindAllMarkers(pbmc_small, only.pos = TRUE), SeuratObject
}


def example_markers_path(name: str = "pbmc_small") -> Path:
    if name not in EXAMPLES:
        raise InputError(f"Unknown example {name!r}; available: {', '.join(sorted(EXAMPLES))}.")
    return Path(str(resources.files("cassia") / "data" / EXAMPLES[name]))


def load_example_markers(name: str = "pbmc_small", *, processed: bool = False) -> pd.DataFrame:
    """The example ``FindAllMarkers`` table, or with ``processed=True`` one row per cluster
    (cluster, comma-separated top markers) as CASSIA's processed format."""
    frame = pd.read_csv(example_markers_path(name))
    if not processed:
        return frame
    from . import load_markers

    return load_markers(frame).to_frame()
