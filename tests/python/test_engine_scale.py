"""The run engine at scale: requests in flight above 8, no stage barrier, the compact marker table."""

from __future__ import annotations

import numpy as np
import pytest
import pandas as pd

import cassia
from cassia.providers import get_provider
from cassia.testing import FakeLLMServer
from cassia.testing.fake_replies import example_for

GENES = ["CD3D", "CD3E", "CD2", "IL7R", "MS4A1", "CD79A", "LYZ", "CD14", "GNLY", "NKG7"]
ANNOTATOR = "You are an experienced computational biologist who annotates clusters"
BOOST = "re-examine the cell-type annotation of one single-cell RNA-seq cluster"


def markers(n: int) -> pd.DataFrame:
    return pd.DataFrame({"cluster": [f"c{i}" for i in range(n)],
                         "markers": [", ".join(GENES[i % 5:] + GENES[: i % 5]) for i in range(n)]})


def test_requests_in_flight_follow_max_workers_above_eight(tmp_path):
    with FakeLLMServer() as server:
        server.latency = 0.3
        provider = get_provider(server.url, "fake-model", max_concurrency=16)
        result = cassia.run_batch(markers(32), provider=provider, out_dir=tmp_path / "run", max_workers=16,
                                  use_cache=False, progress=False)
        assert [r.status for r in result.results] == ["ok"] * 32
        assert 8 < server.max_in_flight <= 16


def test_a_cluster_is_boosted_while_others_are_still_being_annotated(tmp_path):
    """No barrier between stages: the first boost call comes before the last cluster's annotation."""
    with FakeLLMServer() as server:
        server.add_rule(lambda r: (r.schema() or ({}, None))[1] == "ScorerOutput",
                        lambda r: {**example_for(*r.schema()), "score": 10})
        result = cassia.run_pipeline(markers(8), provider=server.url, model="fake-model", out_dir=tmp_path / "run",
                                     max_workers=2, use_cache=False, progress=False, boost_iterations=1,
                                     report=False)
        texts = [r.text for r in server.requests if r.method == "POST"]
        first_boost = next(i for i, t in enumerate(texts) if BOOST in t)
        last_annotation = max(i for i, t in enumerate(texts) if t.startswith(ANNOTATOR))
        assert first_boost < last_annotation
        assert sorted(result.manifest["boost"]["below_threshold"]) == sorted(markers(8)["cluster"])
        assert all(r.boosted or r.boost is not None for r in result.results)


def test_the_full_table_is_kept_once_and_compactly(tmp_path):
    rows = []
    for c in range(3):
        for g in range(200):
            rows.append({"": f"G{g}.{c}", "p_val": 1e-300, "avg_log2FC": 2.0 - g / 100, "pct.1": 0.5, "pct.2": 0.1,
                         "p_val_adj": 1e-290 * (g + 1), "cluster": f"k{c}", "gene": f"G{g}"})
    path = tmp_path / "markers.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    ms = cassia.load_markers(path, n_genes=5)
    first, second = ms["k0"], ms["k1"]
    assert first.table is second.table  # one shared table, each cluster a slice of it
    stats = first.stats
    assert len(stats) == 200 and stats["gene"].tolist()[:3] == ["G0", "G1", "G2"]
    assert isinstance(stats["gene"].dtype, pd.CategoricalDtype)
    assert stats["avg_log2FC"].dtype == np.float32 and stats["pct.1"].dtype == np.float32
    assert stats["p_val_adj"].dtype == np.float64 and stats["p_val_adj"].iloc[0] > 0  # not flushed to 0
    assert first.genes == ("G0", "G1", "G2", "G3", "G4")


def test_the_compact_reader_fills_its_columns_across_batches(tmp_path, monkeypatch):
    """Columns sized from the line count: blank lines trimmed, batch seams exact, clusters in first-appearance order."""
    from cassia.markers import read

    monkeypatch.setattr(read, "_BLOCK_BYTES", 150)  # batches of two or three rows: seams inside clusters
    lines = ['"","p_val","avg_log2FC","pct.1","pct.2","p_val_adj","cluster","gene"']
    for i in range(9):  # clusters interleaved: z, a, z, a, ...
        cluster = "z" if i % 2 == 0 else "a"
        lines.append(f'"r{i}",1e-{100 + i},{1 + i / 10},0.5,0.1,1e-{90 + i},"{cluster}","G{i}"')
        if i == 4:
            lines += ["", ""]
    path = tmp_path / "m.csv"
    path.write_text("\n".join(lines) + "\n\n")
    frame = read.read_source(path).frame
    assert len(frame) == 9 and frame["gene"].tolist() == [f"G{i}" for i in range(9)]
    assert frame["p_val"].tolist() == [float(f"1e-{100 + i}") for i in range(9)]
    assert frame["avg_log2FC"].dtype == np.float32 and frame["cluster"].tolist()[:3] == ["z", "a", "z"]
    ms = cassia.load_markers(path, n_genes=2)
    assert ms.cluster_ids() == ["z", "a"]
    assert ms["z"].genes == ("G8", "G6") and ms["a"].genes == ("G7", "G5")  # largest fold change first


def test_markers_are_read_once_per_run(tmp_path):
    """The CLI reads the table; the engine handed that MarkerSet keeps it, with no copy of the table."""
    from cassia.workflows.inputs import select_markers

    ms = cassia.load_markers(cassia.example_markers_path(), n_genes=10)
    assert select_markers(ms, n_genes=10) is ms
    assert select_markers(ms, n_genes=5) is not ms  # another selection is made anew


def test_the_whole_file_is_scanned_in_blocks_with_exact_line_numbers(tmp_path, monkeypatch):
    from cassia.errors import InputError
    from cassia.markers import read

    monkeypatch.setattr(read, "_SCAN_BLOCK", 7)  # blocks end inside lines
    monkeypatch.setattr(read, "MAX_LINE_BYTES", 30)
    lines = ["cluster,gene,avg_log2FC\n"] + [f"c{i},G{i},1.0\n" for i in range(30)]
    path = tmp_path / "m.csv"
    for number, bad, needle in ((17, "c,G\0,1\n", "line 17 .*NUL"), (23, "c," + "G" * 40 + ",1\n", "line 23 .*longer")):
        path.write_text("".join(lines[: number - 1] + [bad] + lines[number - 1:]))
        with pytest.raises(InputError, match=needle):
            read._scan_text(path)
    path.write_text("".join(lines))
    assert read._scan_text(path) == (lines[0], lines[1], 31)  # the line count sizes the compact reader's columns
    path.write_text("".join(lines).rstrip("\n"))
    assert read._scan_text(path)[2] == 31  # an unterminated last line counts


def test_the_command_line_keeps_max_workers_requests_in_flight(tmp_path):
    """No cap of 8 between `--max-workers 16` and the server: requests in flight follow the workers."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    table = tmp_path / "markers.csv"
    markers(32).to_csv(table, index=False)
    cli = Path(sys.executable).parent / "cassia"
    env = {**os.environ, "PYTHONPATH": str(Path(cassia.__file__).parents[1])}
    with FakeLLMServer() as server:
        server.latency = 0.5
        done = subprocess.run([str(cli), "--quiet", "annotate", "--input", str(table), "--provider", server.url,
                               "--model", "fake-model", "--out", str(tmp_path / "run"), "--no-cache",
                               "--max-workers", "16"], capture_output=True, text=True, env=env, timeout=240)
        assert done.returncode == 0, done.stderr
        assert 8 < server.max_in_flight <= 16


def test_the_offline_annotator_scores_each_marker_list_once(tmp_path, monkeypatch):
    """Every agent of a cluster asks the knowledge base about the same list: it is scored once."""
    from cassia.knowledge import call

    scored = []
    real = call.rank_cell_types
    monkeypatch.setattr(call, "rank_cell_types", lambda genes, **kw: scored.append(tuple(genes)) or real(genes, **kw))
    result = cassia.run_batch(markers(5), provider="offline", out_dir=tmp_path / "run", progress=False,
                              tissue="an organ of run %s" % tmp_path.name)  # a tissue no earlier call used
    assert [r.status for r in result.results] == ["ok"] * 5
    assert len(scored) == len(set(scored)) == 5


def test_a_finished_run_is_shown_without_reading_its_clusters_back(tmp_path):
    """asyncio shows a finished task's result: that must not load every cluster into memory."""
    result = cassia.run_batch(markers(3), provider="offline", out_dir=tmp_path / "run", progress=False)
    assert repr(result) == f"RunResult(run_dir={str(tmp_path / 'run')!r}, clusters=3, failed=0)"
    assert result._results is None  # still streamed from the run directory
    assert [r.cluster for r in result.iter_results()] == ["c0", "c1", "c2"]
