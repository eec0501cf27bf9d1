"""``cassia boost query|run|auto`` and ``cassia subcluster run`` through the console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from cassia.cli.boost import choose_clusters
from cassia.models import ClusterResult, FormatterOutput, ScorerOutput

REPO = Path(__file__).resolve().parents[2]
CASSIA = Path(sys.executable).parent / "cassia"
DATA = REPO.parent / "shared" / "data" / "markers"
INTESTINE = DATA / "large_intestine_findallmarkers.csv"
CD8 = DATA / "cd8_subcluster_findallmarkers.csv"
GLIA = "monocyte (inaccurate annotation)"


def cassia(tmp_path: Path, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, CASSIA_CACHE_DIR=str(tmp_path / "cache"))
    return subprocess.run([str(CASSIA), *map(str, args)], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("cassia: ")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_boost_query_needs_no_model(tmp_path):
    table = cassia(tmp_path, "boost", "query", "--markers", INTESTINE, "--cluster", "plasma cell",
                   "--genes", "JCHAIN, CD16,NOPE1")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["query", "gene", "found"] and lines[1].split()[:3] == ["JCHAIN", "JCHAIN", "True"]
    rows = json.loads(cassia(tmp_path, "boost", "query", "--markers", INTESTINE, "--cluster", "plasma cell",
                             "--genes", "JCHAIN,NOPE1", "--json").stdout)["genes"]
    assert rows[0]["found"] is True and rows[0]["avg_log2FC"] > 5 and rows[1] == {**rows[1], "found": False, "gene": None}
    missing = cassia(tmp_path, "boost", "query", "--markers", INTESTINE, "--cluster", "nope", "--genes", "CD3D")
    assert missing.returncode == 2 and "no cluster 'nope'" in one_line_error(missing)


def _result(cluster, *, score=None, mixed=(), validated=True, boosted=False, status="ok", possible_mixed=False):
    annotation = FormatterOutput(main_cell_type="T cell", sub_cell_types=[], mixed_cell_types=list(mixed),
                                 key_markers=[])
    scored = ScorerOutput(score=score, reasoning="", possible_mixed_population=possible_mixed) if score is not None else None
    return ClusterResult(cluster=cluster, status=status, annotation=annotation, score=scored, validated=validated,
                         boosted=boosted)


def test_auto_priority_low_scores_then_mixed_then_not_validated():
    results = [_result("fine", score=90), _result("unvalidated", score=90, validated=False),
               _result("mixed", score=88, mixed=["B cell"]), _result("low", score=60), _result("lowest", score=20),
               _result("flagged", score=95, possible_mixed=True), _result("done", score=10, boosted=True),
               _result("failed", status="failed")]
    chosen = choose_clusters(results, threshold=75, max_clusters=10)
    assert [c.cluster for c in chosen] == ["lowest", "low", "mixed", "flagged", "unvalidated"]
    assert chosen[0].reason == "score 20 < 75" and chosen[2].reason == "possibly mixed population"
    assert [c.cluster for c in choose_clusters(results, threshold=75, max_clusters=2)] == ["lowest", "low"]
    assert choose_clusters(results, threshold=75, max_clusters=10, again=True)[0].cluster == "done"


def conclusion_from_the_top_markers(request) -> dict:
    """The boost agent concludes at once, citing the cluster's own two leading markers (a boosted
    answer passes the same gene checks as the Annotator's: the schema's example cites CD3E/CD3D)."""
    top = request.text.split("strongest first):", 1)[1].strip().splitlines()[0].split(", ")[:2]
    return {"reasoning": "The leading markers settle it.", "verdicts": [], "action": "conclude", "checks": [],
            "conclusion": {"annotation": {"main_cell_type": "glial cell", "sub_cell_types": [], "mixed_cell_types": [],
                                          "key_markers": top},
                           "confidence": "medium", "summary": f"{top[0]} and {top[1]} lead the list.", "answer": ""}}


def test_boost_auto_and_run_through_the_fake_server(fake_server, tmp_path):
    fake_server.add_rule(lambda r: (r.schema() or ({}, None))[1] == "ScorerOutput" and "SOX10" in r.text,
                         {"score": 30, "reasoning": "glial genes contradict the call", "possible_mixed_population": False})
    fake_server.add_rule(lambda r: (r.schema() or ({}, None))[1] in ("BoostStep", "BoostFinal"),
                         conclusion_from_the_top_markers)
    run = tmp_path / "run"
    made = cassia(tmp_path, "pipeline", "--input", INTESTINE, "--provider", fake_server.url, "--out", run,
                  "--n-genes", "15", "--score-threshold", "0", "--clusters", f"{GLIA},plasma cell", "--quiet")
    assert made.returncode == 0, made.stderr
    planned = json.loads(cassia(tmp_path, "boost", "auto", "--run", run, "--markers", INTESTINE, "--threshold", "75",
                                "--dry-run", "--json").stdout)
    assert [c["cluster"] for c in planned["clusters"]] == [GLIA] and planned["clusters"][0]["score"] == 30
    before = len(fake_server.requests)
    done = cassia(tmp_path, "boost", "auto", "--run", run, "--markers", INTESTINE, "--threshold", "75",
                  "--max-clusters", "3", "--provider", fake_server.url, "--no-cache", "--json")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["boosted"] == 1 and outcome["failed"] == 0
    assert any("You re-examine" in r.text for r in fake_server.requests[before:])
    summary = pd.read_csv(run / "boost" / "boost_summary.csv", dtype={"Cluster ID": str})
    assert list(summary["Cluster ID"]) == [GLIA] and summary.loc[0, "Status"] == "ok"
    assert summary.loc[0, "Reason"] == "score 30 < 75" and summary.loc[0, "Score Before"] == 30
    index = (run / "boost" / "index.html").read_text()
    page = summary.loc[0, "Page"]
    assert f'href="{page}"' in index and (run / "boost" / page).exists()
    assert "monocyte (inaccurate annotation)" in index and index.count("<script") == 1  # only the page's own print helper
    frame = pd.read_csv(run / "summary.csv", dtype={"Cluster ID": str}).set_index("Cluster ID")
    assert bool(frame.loc[GLIA, "Boosted"]) and not bool(frame.loc["plasma cell", "Boosted"])
    again = cassia(tmp_path, "boost", "auto", "--run", run, "--markers", INTESTINE, "--threshold", "75")
    assert again.returncode == 0 and "no cluster needs boosting" in again.stdout  # boosted ones are not redone

    single = cassia(tmp_path, "boost", "run", "--run", run, "--markers", INTESTINE, "--cluster", "plasma cell",
                    "--provider", fake_server.url, "--additional-task", "is it malignant?", "--json")
    assert single.returncode == 0, single.stderr
    row = json.loads(single.stdout)
    assert row["Status"] == "ok" and row["Cluster ID"] == "plasma cell" and row["run_dir"] == str(run)
    assert any("is it malignant?" in r.text for r in fake_server.requests)


def test_boost_and_subcluster_refuse_the_offline_backend(tmp_path):
    boost = cassia(tmp_path, "boost", "run", "--markers", INTESTINE, "--cluster", "plasma cell", "--provider", "offline")
    assert boost.returncode == 1 and "needs a language model" in one_line_error(boost)
    sub = cassia(tmp_path, "subcluster", "run", "--markers", CD8, "--major-cluster-info", "CD8 T cells",
                 "--provider", "offline", "--out", tmp_path / "sub")
    assert sub.returncode == 1 and "needs a language model" in one_line_error(sub)
    usage = cassia(tmp_path, "subcluster", "run", "--markers", CD8)
    assert usage.returncode == 2 and "--major-cluster-info" in usage.stderr


def test_subcluster_run_through_the_fake_server(fake_server, tmp_path):
    labels = {str(i): f"state {i} CD8-positive, alpha-beta T cell" for i in range(6)}
    fake_server.add_rule(lambda r: (r.schema() or ({}, None))[1] == "SubclusterOutput", {
        "comparison": "They differ in naive, memory and exhaustion genes.",
        "subclusters": [{"cluster": c, "main_cell_type": "CD8-positive, alpha-beta T cell", "sub_cell_type": label,
                         "key_markers": ["GZMK"], "reasoning": f"Subcluster {c}."} for c, label in labels.items()]})
    out = tmp_path / "sub"
    done = cassia(tmp_path, "subcluster", "run", "--markers", CD8, "--major-cluster-info", "CD8 T cells; tumour",
                  "--out", out, "--provider", fake_server.url, "--scoring-model", "judge", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [s["Sub Cell Type"] for s in report["subclusters"]] == list(labels.values())
    assert all(s["Status"] == "ok" and s["Score"] is not None for s in report["subclusters"])
    assert (out / "subclusters.csv").exists() and (out / "subclusters.html").exists()
    scorer_models = {r.body["model"] for r in fake_server.requests if (r.schema() or ({}, None))[1] == "ScorerOutput"}
    assert scorer_models == {"judge"}
    assert any("CD8 T cells; tumour" in r.text for r in fake_server.requests)


def test_a_cut_off_boost_names_a_flag_boost_run_has(tmp_path, fake_server, capsys):
    from cassia.cli import main

    small = REPO / "python/cassia/data/pbmc_small_markers.csv"
    boost = ["--quiet", "boost", "run", "--markers", str(small), "--cluster", "1", "--provider", fake_server.url,
             "--no-cache", "--out"]
    fake_server.truncate_next(2)  # the boost reply and its repair both stop at the limit
    assert main([*boost, str(tmp_path / "cut")]) == 1
    err = capsys.readouterr().err
    assert "raise --boost-max-tokens" in err
    main([*boost, str(tmp_path / "raised"), "--boost-max-tokens", "999"])  # the fake's biology may fail the checks
    assert "output-token limit" not in capsys.readouterr().err
    assert {r.body.get("max_tokens") for r in fake_server.requests[2:] if r.method == "POST"} == {999}
