"""``cassia validate`` through the real console script in the project virtualenv."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from cassia.markers import load_markers

REPO = Path(__file__).resolve().parents[2]
CASSIA = REPO / ".venv" / "bin" / "cassia"
PBMC = "../shared/data/markers/pbmc3k_findallmarkers.csv"
FIXTURES = Path(__file__).parent / "fixtures"


def validate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CASSIA), "validate", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_usable_table_exits_0_and_shows_what_annotation_gets():
    done = validate(PBMC, "--n-genes", "10")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "format:   seurat" in out and "ranking:  avg_log2FC, top 10 genes" in out
    assert "filters:  p_val_adj < 0.05, avg_log2FC > 0.25, pct.1 >= 0.1" in out
    assert "gene <- gene" in out and "usable: yes" in out
    expected = load_markers(REPO / PBMC, n_genes=10)
    lines = {line.split()[0]: line for line in out.splitlines()[8:] if line.strip()}
    for cm in expected:
        assert ", ".join(cm.genes[:8]) in lines[cm.cluster]
        assert lines[cm.cluster].split()[3] == "10"
    assert done.stderr == ""


def test_emptied_cluster_exits_2_and_is_named():
    done = validate(str(FIXTURES / "messy_seurat.csv"), "--min-log2fc", "3.5")
    assert done.returncode == 2
    assert "cd8-positive, alpha-beta t cell (mixed)" in done.stdout  # the table is still printed
    assert "usable: no" in done.stdout
    assert "cassia: error: cluster 'cd8-positive, alpha-beta t cell (mixed)' has no genes left" in done.stderr
    assert "--min-log2fc" in done.stderr and "Traceback" not in done.stderr


def test_filters_can_be_turned_off_from_the_command_line():
    done = validate(str(FIXTURES / "messy_seurat.csv"), "--min-log2fc", "3.5", "--max-p-adj", "none",
                    "--min-log2fc", "none", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["filters"] == {"max_p_val_adj": None, "min_log2fc": None, "min_pct1": 0.1}
    assert report["clusters"][0]["genes"] == ["CD3E", "CD8A", "GZMK", "NKG7"]


@pytest.mark.parametrize("path,fragment", [
    (str(FIXTURES / "misspelled_columns.csv"), "Did you mean 'clustr'"),
    (str(FIXTURES / "ensembl_ids.csv"), "Ensembl IDs"),
    ("does/not/exist.csv", "not found"),
])
def test_unusable_input_is_one_line_and_exit_2(path, fragment):
    done = validate(path)
    assert done.returncode == 2
    assert done.stderr.startswith("cassia: error: ") and fragment in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_json_output():
    done = validate(PBMC, "--json", "--ranking", "p_val_adj", "--n-genes", "5")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["format"] == "seurat" and report["ranking"] == "p_val_adj" and report["usable"] is True
    assert report["n_rows"] == len(pd.read_csv(REPO / PBMC)) and report["n_clusters"] == 9
    first = report["clusters"][0]
    assert set(first) == {"cluster", "rows", "after_filters", "selected", "removed_by", "genes"}
    assert first["cluster"] == "0" and first["selected"] == 5 and len(first["genes"]) == 5
    assert set(first["removed_by"]) == {"p_val_adj", "avg_log2FC", "pct.1"}


def test_json_on_errors_is_still_json():
    done = validate(str(FIXTURES / "misspelled_columns.csv"), "--json")
    assert done.returncode == 2
    report = json.loads(done.stdout)
    assert report["usable"] is False and "clustr" in report["error"]
    emptied = validate(str(FIXTURES / "messy_seurat.csv"), "--min-pct1", "0.999", "--json")
    assert emptied.returncode == 2
    report = json.loads(emptied.stdout)
    assert report["usable"] is False and len(report["problems"]) == 3


def test_processed_table_and_column_options(tmp_path):
    done = validate(str(FIXTURES / "processed_markers.csv"), "--n-genes", "2")
    assert done.returncode == 0, done.stderr
    assert "processed" in done.stdout and "CD14, LYZ" in done.stdout
    renamed = tmp_path / "renamed.tsv"
    pd.read_csv(REPO / PBMC).rename(columns={"cluster": "leiden", "gene": "feature_name"}).to_csv(
        renamed, sep="\t", index=False)
    assert validate(str(renamed)).returncode == 2
    done = validate(str(renamed), "--cluster-col", "leiden", "--gene-col", "feature_name", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["columns"]["cluster"] == "leiden"


def test_bad_threshold_is_an_argument_error():
    done = validate(PBMC, "--max-p-adj", "abc")
    assert done.returncode == 2 and "not a number" in done.stderr
