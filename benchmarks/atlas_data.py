"""Synthetic atlas-sized inputs for the scale benchmarks (written once, reused from /tmp).

``findallmarkers_csv(clusters, rows)`` writes a Seurat ``FindAllMarkers``-shaped CSV (R row
names in an unnamed first column, ``p_val, avg_log2FC, pct.1, pct.2, p_val_adj, cluster, gene``)
with ``rows`` genes per cluster drawn from a 30,000-gene pool; a few real marker genes lead each
cluster so the agents see plausible lists. ``processed_frame(clusters)`` is the small
cluster + comma-separated-markers table used for the latency runs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

MARKERS = ["CD3D", "CD3E", "CD2", "IL7R", "MS4A1", "CD79A", "LYZ", "CD14", "GNLY", "NKG7", "PPBP", "FCGR3A",
           "EPCAM", "KRT8", "COL1A1", "PECAM1", "VWF", "ACTA2", "PTPRC", "HBB"]
POOL = 30_000


def processed_frame(n_clusters: int) -> pd.DataFrame:
    rows = [{"cluster": f"c{i:05d}", "markers": ", ".join(MARKERS[i % 7:] + MARKERS[: i % 7])}
            for i in range(n_clusters)]
    return pd.DataFrame(rows)


def findallmarkers_csv(n_clusters: int, rows: int, folder: str | None = None) -> Path:
    """Path of a cached synthetic FindAllMarkers CSV with ``n_clusters`` x ``rows`` rows."""
    folder = Path(folder or os.environ.get("CASSIA_BENCH_DIR") or tempfile.gettempdir())
    path = folder / f"cassia_atlas_{n_clusters}x{rows}.csv"
    if path.exists():
        return path
    rng = np.random.default_rng(20)
    genes = np.array([f"GENE{i:05d}" for i in range(POOL)], dtype=object)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write('"","p_val","avg_log2FC","pct.1","pct.2","p_val_adj","cluster","gene"\n')
        for c in range(n_clusters):
            lead = MARKERS[c % 7:] + MARKERS[: c % 7]
            picked = rng.choice(POOL, size=rows - len(lead), replace=False)
            names = np.concatenate([np.array(lead, dtype=object), genes[picked]])
            fc = np.sort(rng.gamma(1.5, 0.6, size=rows))[::-1] + 0.1
            p = 10 ** -(fc * rng.uniform(5, 40, size=rows))
            pct1 = rng.uniform(0.1, 1.0, size=rows).round(3)
            pct2 = (pct1 * rng.uniform(0.05, 0.9, size=rows)).round(3)
            frame = pd.DataFrame({"row": [f"{g}{'' if c == 0 else c}" for g in names], "p_val": p,
                                  "avg_log2FC": fc.round(6), "pct.1": pct1, "pct.2": pct2,
                                  "p_val_adj": np.minimum(1, p * POOL), "cluster": c, "gene": names})
            frame.to_csv(handle, header=False, index=False)
    os.replace(tmp, path)
    return path
