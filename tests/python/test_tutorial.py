"""The scanpy tutorial in docs/ runs as a user would run it and produces its plot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anndata

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial_scanpy.py"


def test_tutorial_runs_and_saves_the_umap(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "python"),
                                                                     os.environ.get("PYTHONPATH")]))}
    env.update({"CASSIA_CACHE_DIR": str(tmp_path / "cache"), "MPLCONFIGDIR": str(tmp_path / "mpl"),
                "NUMBA_CACHE_DIR": str(tmp_path / "numba")})
    done = subprocess.run([sys.executable, str(TUTORIAL), "--out", str(tmp_path / "out")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    png = tmp_path / "out" / "umap_cassia_detailed.png"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a real picture, not an empty canvas
    annotated = anndata.read_h5ad(tmp_path / "out" / "pbmc68k_annotated.h5ad")
    assert annotated.obs["cassia_detailed"].notna().any()
    assert set(annotated.obs["cassia_status"]) <= {"ok", "unvalidated"}  # every group labelled; doubtful ones say so
    assert annotated.uns["cassia"]["groupby"] == "leiden"
    assert f"plot: {png}" in done.stdout
