"""Hostile or damaged inputs fail fast with one clear error (exit 2), never hang or pass silently."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import cassia
from cassia import load_markers
from cassia.errors import InputError

CASSIA = Path(sys.executable).parent / "cassia"
PBMC = Path(cassia.__file__).parent / "data" / "pbmc_small_markers.csv"


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(cassia.__file__).parents[1])}
    return subprocess.run([str(CASSIA), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def _one_line_exit_2(done: subprocess.CompletedProcess, *needles: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cassia: error:") and "unexpected" not in lines[0], done.stderr
    for needle in needles:
        assert needle in lines[0]


def test_truncated_gzip_is_a_clear_error(tmp_path):
    whole = gzip.compress(PBMC.read_bytes())
    path = tmp_path / "markers.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match="damaged or truncated"):
        load_markers(path)
    _one_line_exit_2(_cli("validate", path), "truncated")


def test_garbage_h5ad_is_a_clear_error(tmp_path):
    pytest.importorskip("anndata")
    path = tmp_path / "object.h5ad"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(InputError, match="not an .h5ad"):
        load_markers(path)
    _one_line_exit_2(_cli("validate", path), ".h5ad")


def test_unwritable_output_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = _cli("annotate", "--input", PBMC, "--provider", "offline", "--out", blocker / "run", "--quiet")
    _one_line_exit_2(done, str(blocker / "run"))


def test_fifo_is_refused_instead_of_blocking(tmp_path):
    fifo = tmp_path / "markers.csv"
    os.mkfifo(fifo)
    _one_line_exit_2(_cli("validate", fifo, timeout=60), "not a regular file")  # first: it would block
    with pytest.raises(InputError, match="not a regular file"):
        load_markers(fifo)


def test_nul_bytes_are_refused_not_truncated(tmp_path):
    path = tmp_path / "markers.csv"
    path.write_bytes(PBMC.read_bytes().replace(b"CD3E", b"CD3\x00E$(id)", 1))
    with pytest.raises(InputError, match="NUL"):
        load_markers(path)
    frame = pd.read_csv(PBMC)
    frame.loc[0, "gene"] = "CD3\x00E"
    with pytest.raises(InputError, match="control character"):
        load_markers(frame)
    frame = pd.read_csv(PBMC)
    frame["cluster"] = frame["cluster"].astype(str)
    frame.loc[0, "cluster"] = "T\ncells"
    with pytest.raises(InputError, match="cluster name at row 1 .*control character"):
        load_markers(frame)


@pytest.mark.parametrize("sep", [";", "; ", "\t", " ", ","])
def test_gene_list_separators_are_inferred(tmp_path, sep):
    path = tmp_path / "lists.csv"
    frame = pd.DataFrame({"cluster": ["T", "B"], "markers": [sep.join(["CD3E", "CD8A", "CD2"]), sep.join(["MS4A1", "CD79A"])]})
    frame.to_csv(path, index=False)
    markers = load_markers(path)
    assert [list(c.genes) for c in markers] == [["CD3E", "CD8A", "CD2"], ["MS4A1", "CD79A"]]


def test_huge_header_is_refused_by_its_field_count(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(12_000)) + "\n" + ",".join("1" for _ in range(12_000)) + "\n")
    with pytest.raises(InputError, match="fields"):
        load_markers(path)


def test_overlong_lines_and_names_are_refused(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text(PBMC.read_text().replace("CD3E", "CD3E" + "X" * 2_000_000, 1))
    with pytest.raises(InputError, match="longer than 1,000,000 bytes"):
        load_markers(path)
    frame = pd.read_csv(PBMC)
    frame.loc[3, "gene"] = "G" * 5_000
    with pytest.raises(InputError, match="gene name at row 4 .*longer than 100 characters"):
        load_markers(frame)
