"""Crash safety of the run directory: torn results log, one writer at a time, temp files, CSV cells."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from cassia.store.lock import LOCK_NAME, RunLockedError

import cassia
from cassia.models import ClusterResult
from cassia.store import RunStore, csv_safe, csv_unsafe, read_results

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "markers"
LARGE_INTESTINE = DATA / "large_intestine_findallmarkers.csv"


def _child_env() -> dict[str, str]:
    """This cassia for child processes (conftest keeps an embedded R's LD_LIBRARY_PATH out)."""
    return {**os.environ, "PYTHONPATH": str(Path(cassia.__file__).parents[1])}


def _clusters() -> set[str]:
    return set(pd.read_csv(LARGE_INTESTINE)["cluster"].astype(str))


def _offline_run(out: Path, **kwargs):
    return cassia.run_pipeline(LARGE_INTESTINE, tissue="large intestine", provider="offline", out_dir=out,
                               progress=False, **kwargs)


def test_torn_last_line_is_set_aside_and_its_cluster_rerun(tmp_path):
    out = tmp_path / "run"
    _offline_run(out)
    log = out / "results.jsonl"
    data = log.read_bytes()
    log.write_bytes(data[:-200])  # a crash in the middle of the last append
    with pytest.warns(UserWarning, match="results.jsonl.corrupt"):
        _offline_run(out, resume=True)
    summary = pd.read_csv(out / "summary.csv", dtype={"Cluster ID": str})
    assert sorted(summary["Cluster ID"]) == sorted(_clusters())
    assert {r.cluster for r in read_results(out)} == _clusters()
    assert all(json.loads(line) for line in log.read_text().splitlines())  # every line readable again
    assert (out / "results.jsonl.corrupt").read_bytes().rstrip(b"\n") == data[:-200].rsplit(b"\n", 1)[1]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["clusters"] == len(_clusters())


def test_unreadable_line_inside_the_log_is_moved_out(tmp_path):
    out = tmp_path / "run"
    _offline_run(out)
    log = out / "results.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    glued = lines[2][:50] + lines[3]  # what an append onto a torn line used to produce
    log.write_bytes(b"".join(lines[:2] + [glued] + lines[4:]))
    with pytest.warns(UserWarning, match="1 unreadable line"):
        store = RunStore(out, resume=True)
    store.close()
    assert len(log.read_bytes().splitlines()) == len(lines) - 2
    assert (out / "results.jsonl.corrupt").read_bytes() == glued


def test_append_after_a_torn_line_starts_on_a_new_line(tmp_path):
    out = tmp_path / "run"
    store = RunStore(out)
    store.append(ClusterResult(cluster="a", status="ok"))
    with open(out / "results.jsonl", "ab") as handle:  # another writer died mid-line
        handle.write(b'{"cluster": "b", "sta')
    store.append(ClusterResult(cluster="c", status="ok"))
    store.close()
    assert [r.cluster for r in read_results(out)] == ["a", "c"]


_HOLDER = """
import sys, time
from cassia.store import RunStore
store = RunStore(sys.argv[1], resume=True)
print("locked", flush=True)
time.sleep(60)
"""


def test_second_writer_gets_a_clear_error_naming_the_holder(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    env = _child_env()
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=rf"process {holder.pid}\b.*started .*another output folder"):
            RunStore(out, resume=True)
    finally:
        holder.kill()
        holder.wait()
    # the kernel dropped the dead holder's lock: the next writer takes over and says so
    with pytest.warns(UserWarning, match=rf"took over the lock of process {holder.pid}"):
        store = RunStore(out, resume=True)
    store.close()
    assert (out / LOCK_NAME).read_text() == ""  # released cleanly: no stale record left


def test_stale_lock_record_of_a_dead_process_is_taken_over(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / LOCK_NAME).write_text(json.dumps({"pid": int(dead.stdout), "started": "2026-01-01T00:00:00+00:00"}))
    with pytest.warns(UserWarning, match="took over"):
        store = RunStore(out)
    store.close()


def test_two_resumes_on_one_run_directory_run_each_cluster_once(tmp_path, fake_server):
    fake_server.latency = 0.5  # the first run lasts ~10 s: the second starts while it holds the lock
    out = tmp_path / "run"
    cassia_bin = Path(sys.executable).parent / "cassia"
    env = _child_env()
    cmd = [str(cassia_bin), "--quiet", "annotate", "--input", str(LARGE_INTESTINE), "--tissue", "large intestine",
           "--provider", fake_server.url, "--out", str(out), "--max-workers", "1", "--no-cache", "--resume"]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / LOCK_NAME).exists() or not (out / LOCK_NAME).read_text():
        assert time.time() < deadline and first.poll() is None, first.stderr.read()
        time.sleep(0.02)
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    first.communicate(timeout=120)
    assert first.returncode == 0
    assert second.returncode == 2 and f"process {first.pid}" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    lines = (out / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["cluster"] for line in lines) == sorted(_clusters())


def test_temp_files_of_a_killed_write_are_removed_on_reopen(tmp_path):
    out = tmp_path / "run"
    _offline_run(out)
    leftovers = [out / ".report.html.x1y2.tmp", out / ".summary.csv.tmp",
                 next((out / "transcripts").iterdir()) / ".03-scorer.json.tmp"]
    for path in leftovers:
        path.write_text("half")
    with pytest.warns(UserWarning, match="3 temp file"):
        RunStore(out, resume=True).close()
    assert not any(path.exists() for path in leftovers)


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "'=already"])
def test_formula_cells_are_neutralised_and_restorable(text):
    assert csv_safe(text).startswith("'")
    assert csv_unsafe(csv_safe(text)) == text


@pytest.mark.parametrize("text", ["-1.5", "+3", "1e-5", "T cell", "CD8+ T cell", "'quoted"])
def test_plain_cells_are_left_alone(text):
    assert csv_safe(text) == text and csv_unsafe(text) == text


def test_summary_csv_has_no_live_formulas(tmp_path):
    frame = pd.read_csv(LARGE_INTESTINE)
    frame["cluster"] = "=cmd|' /C calc'!A0 " + frame["cluster"].astype(str)
    result = cassia.run_batch(frame, tissue="large intestine", provider="offline", out_dir=tmp_path / "run",
                              progress=False)
    summary = pd.read_csv(result.run_dir / "summary.csv", dtype=str, keep_default_na=False)
    text = summary.select_dtypes(object).to_numpy().ravel()
    assert not any(str(v)[:1] in "=+-@" for v in text if v)
    assert all(v.startswith("'=cmd") for v in summary["Cluster ID"])


def test_manifest_is_complete_only_after_every_output_is_written(tmp_path, monkeypatch):
    from cassia.workflows import engine

    def killed_report(*args, **kwargs):
        (tmp_path / "run" / ".report.html.abc123.tmp").write_text("<html>half")
        raise KeyboardInterrupt  # the process dies while the report is being written

    monkeypatch.setattr(engine, "render_report", killed_report)
    with pytest.raises(KeyboardInterrupt):
        _offline_run(tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "running"
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="1 temp file"):
        _offline_run(tmp_path / "run", resume=True)
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "complete"
    assert not list((tmp_path / "run").glob(".*.tmp")) and (tmp_path / "run" / "report.html").exists()


def test_a_cluster_missing_from_the_log_is_never_reported_complete(tmp_path):
    from cassia.markers import load_markers
    from cassia.providers.stages import resolve_stages
    from cassia.workflows.engine import RunSettings, build_manifest

    out = tmp_path / "run"
    _offline_run(out)
    log = out / "results.jsonl"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[1:]))  # one record lost
    with RunStore(out, resume=True) as store:
        manifest = build_manifest(store, kind="pipeline", settings=RunSettings(), stages=resolve_stages(provider="offline"),
                                  markers=load_markers(LARGE_INTESTINE), status="done", results=read_results(out))
    assert manifest["status"] == "partial" and manifest["counts"]["missing"] == 1


def test_summary_csv_reads_back_with_its_original_names(tmp_path):
    from cassia.workflows.answers import load_runs

    frame = pd.read_csv(LARGE_INTESTINE)
    frame["cluster"] = "=" + frame["cluster"].astype(str)
    result = cassia.run_batch(frame, tissue="large intestine", provider="offline", out_dir=tmp_path / "run",
                              progress=False)
    (result.run_dir / "results.jsonl").unlink()  # only summary.csv is left to read
    answers = load_runs([result.run_dir / "summary.csv"])
    assert {a for a in answers[0].answers} == set(frame["cluster"])
