"""``cassia uncertainty``, ``cassia consensus`` and ``cassia evaluate`` through the console script (offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from cassia.cli.examples import write_examples
from cassia.workflows.uncertainty import run_n_times

REPO = Path(__file__).resolve().parents[2]
CASSIA = Path(sys.executable).parent / "cassia"
SMALL = REPO / "python/cassia/data/pbmc_small_markers.csv"
BENCHMARK = REPO.parent / "shared" / "data" / "gptcelltype" / "benchmark_dev.csv"


def cassia(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, CASSIA_CACHE_DIR=str(tmp_path / "cache"))
    return subprocess.run([str(CASSIA), *map(str, args)], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)


def test_consensus_of_the_example_inputs(tmp_path):
    write_examples(tmp_path / "ex")
    inputs = [tmp_path / "ex" / "consensus" / f"run_{x}.csv" for x in "abc"]
    done = cassia(tmp_path, "consensus", "--inputs", *inputs, "--out", tmp_path / "out" / "vote.csv",
                  "--labels", "a,b,c", "--json")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "out" / "vote.csv", dtype={"Cluster ID": str}).set_index("Cluster ID")
    assert list(table["Status"]) == ["partial", "consensus", "conflict"]
    assert table.loc["1", "Consensus General Type"] == "monocyte" and "a General" in table.columns
    assert [r["Cluster ID"] for r in json.loads(done.stdout)["clusters"]] == ["0", "1", "2"]
    missing = cassia(tmp_path, "consensus", "--inputs", tmp_path / "nope.csv", "--out", tmp_path / "x.csv")
    assert missing.returncode == 2 and missing.stderr.startswith("cassia: error:") and "Traceback" not in missing.stderr


def test_uncertainty_refuses_a_deterministic_backend_then_scores_existing_runs(tmp_path):
    out = tmp_path / "unc"
    for n, why in (("2", "deterministic"), ("1", "n >= 2")):
        done = cassia(tmp_path, "uncertainty", "--input", SMALL, "--n", n, "--provider", "offline", "--out", out)
        assert done.returncode == 1 and why in done.stderr and "Traceback" not in done.stderr
        assert not (out / "run-1").exists()
    runs = run_n_times(SMALL, n=2, provider="offline", tissue="blood", out_dir=out, progress=False)
    scored = cassia(tmp_path, "uncertainty", "--runs", *[r.run_dir for r in runs], "--no-agents",
                    "--labels", "first,second", "--json")
    assert scored.returncode == 0, scored.stderr
    report = json.loads(scored.stdout)
    # two offline runs are one answer twice: no CS, every cluster flagged
    assert report["uncertain"] == ["0", "1", "2"]
    assert all(c["CS"] is None and "repeated word for word" in c["Notes"] for c in report["clusters"])
    plain = cassia(tmp_path, "uncertainty", "--runs", *[r.run_dir for r in runs], "--no-agents")
    assert plain.stdout.strip().splitlines()[-1].startswith(
        "3 of 3 clusters below CS 75 or without a CS (3: 0, 1, 2; fewer than two independent answers")
    wrong = cassia(tmp_path, "uncertainty", "--input", SMALL, "--labels", "a,b")
    assert wrong.returncode == 2 and "--labels" in wrong.stderr
    neither = cassia(tmp_path, "uncertainty", "--n", "2")
    assert neither.returncode == 2 and "--input" in neither.stderr


def test_evaluate_a_few_benchmark_rows_offline(tmp_path):
    done = cassia(tmp_path, "evaluate", "--table", BENCHMARK, "--gold-col", "manual_CLID", "--limit", "6",
                  "--n-genes", "10", "--provider", "offline", "--out", tmp_path / "bench", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["accuracy"]["clusters"] == 6 and summary["method"] == "offline"
    assert (tmp_path / "bench" / "graded.csv").exists() and summary["report"] == str(tmp_path / "bench" / "report.html")
    missing = cassia(tmp_path, "evaluate", "--table", tmp_path / "nope.csv", "--out", tmp_path / "b2")
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_evaluate_exits_like_every_command_when_clusters_fail(tmp_path, fake_server, capsys):
    from cassia.cli import main

    def evaluate(out: str, provider: str) -> int:
        return main(["--quiet", "evaluate", "--table", str(BENCHMARK), "--gold-col", "manual_CLID", "--limit", "3",
                     "--provider", provider, "--no-cache", "--out", str(tmp_path / out), "--json"])

    fake_server.fail_when("COCH")  # only the second row's markers
    assert evaluate("some", fake_server.url) == 3
    err = capsys.readouterr().err
    assert "failed: Azimuth/row-00001 (failed)" in err and "row-00000" not in err
    assert "1 cluster(s) failed and are graded as no match" in err
    assert evaluate("none", "http://127.0.0.1:9/v1") == 1  # nothing answered: not a benchmark result
    fake_server.reset()
    assert evaluate("some", fake_server.url) == 0  # the same command again finishes the failed row
