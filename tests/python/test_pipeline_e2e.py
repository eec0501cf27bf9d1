"""Whole runs over HTTP against the local fake server: real markers, resume, cache, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import cassia
from cassia.store import SUMMARY_COLUMNS
from cassia.testing import FakeLLMServer

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "markers"
LARGE_INTESTINE = DATA / "large_intestine_findallmarkers.csv"
CASSIA = Path(sys.executable).parent / "cassia"
FAKE_KEY = "sk-cassia-LEAKCHECK-0123456789abcdef"


@pytest.fixture()
def server():
    with FakeLLMServer() as fake:
        yield fake


def test_pipeline_on_large_intestine_through_fake_server(server, tmp_path):
    result = cassia.run_pipeline(LARGE_INTESTINE, tissue="large intestine", species="human",
                                 provider=server.url, out_dir=tmp_path / "run", progress=False,
                                 cache_path=tmp_path / "cache.sqlite")
    run_dir = result.run_dir
    summary = pd.read_csv(run_dir / "summary.csv", dtype={"Cluster ID": str})
    assert list(summary.columns) == SUMMARY_COLUMNS
    raw = pd.read_csv(LARGE_INTESTINE)
    assert set(summary["Cluster ID"]) == set(raw["cluster"].astype(str))
    assert (summary["Status"] == "ok").all() and summary["Score"].notna().all()
    assert len((run_dir / "results.jsonl").read_text().splitlines()) == 6
    assert len(list((run_dir / "transcripts").rglob("*.json"))) == 6 * 3  # annotator, review, scorer
    assert (run_dir / "report.html").exists()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["usage"]["input_tokens"] > 0 and manifest["counts"]["ok"] == 6


def test_pipeline_offline_on_large_intestine(tmp_path):
    result = cassia.run_pipeline(LARGE_INTESTINE, tissue="large intestine", provider="offline",
                                 out_dir=tmp_path / "run", progress=False)
    frame = result.to_frame()
    assert (frame["Status"] == "ok").all() and frame["Score"].between(0, 100).all()
    glial = frame[frame["Cluster ID"] == "monocyte (inaccurate annotation)"].iloc[0]
    assert "glia" in glial["Predicted General Cell Type"].lower() or "schwann" in glial["Predicted General Cell Type"].lower()
    assert (result.run_dir / "report.html").exists()


def test_rerun_is_served_from_cache(server, tmp_path):
    kwargs = dict(tissue="large intestine", provider=server.url, progress=False, cache_path=tmp_path / "c.sqlite")
    cassia.run_pipeline(LARGE_INTESTINE, out_dir=tmp_path / "first", **kwargs)
    calls = len(server.requests)
    again = cassia.run_pipeline(LARGE_INTESTINE, out_dir=tmp_path / "second", **kwargs)
    assert calls > 0 and len(server.requests) == calls
    assert all(r.status == "ok" for r in again.results)
    transcript = json.loads(next((again.run_dir / "transcripts").rglob("*.json")).read_text())
    assert transcript["cached"] is True
    cassia.run_pipeline(LARGE_INTESTINE, out_dir=tmp_path / "third", use_cache=False, **{
        k: v for k, v in kwargs.items() if k != "cache_path"})
    assert len(server.requests) == 2 * calls


def test_resume_after_sigkill_finishes_only_missing_clusters(server, tmp_path):
    server.latency = 0.25
    out = tmp_path / "run"
    env = {**os.environ, "CASSIA_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [str(CASSIA), "--quiet", "pipeline", "--input", str(LARGE_INTESTINE), "--tissue", "large intestine",
           "--provider", server.url, "--out", str(out), "--max-workers", "1", "--no-cache"]
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / "results.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline:
        if results.exists() and len(results.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    done = {json.loads(line)["cluster"] for line in results.read_text().splitlines() if line.strip()}
    assert 2 <= len(done) < 6
    server.requests.clear()
    server.latency = 0
    finished = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    missing = 6 - len(done)
    annotated = [r for r in server.requests
                 if r["body"]["messages"][0]["content"].startswith("You are an experienced computational biologist")]
    assert len(annotated) == missing  # finished clusters cost zero calls
    summary = pd.read_csv(out / "summary.csv", dtype={"Cluster ID": str})
    assert len(summary) == 6 and (summary["Status"] == "ok").all()


def test_api_key_never_reaches_files_or_output(server, tmp_path, capfd):
    out = tmp_path / "run"
    cassia.run_pipeline(LARGE_INTESTINE, tissue="large intestine", provider=server.url, api_key=FAKE_KEY,
                        out_dir=out, progress=False, cache_path=tmp_path / "cache.sqlite")
    sent = [r["headers"].get("authorization") or r["headers"].get("Authorization") for r in server.requests]
    assert sent and all(h == f"Bearer {FAKE_KEY}" for h in sent)  # the key went where it belongs
    for path in [*out.rglob("*"), tmp_path / "cache.sqlite"]:
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
    captured = capfd.readouterr()
    assert FAKE_KEY not in captured.out + captured.err


def test_repeated_auth_failures_stop_the_run_early(server, tmp_path):
    server.fail_next(100, status=401)
    with pytest.raises(cassia.AuthError, match="resume"):
        cassia.run_batch(LARGE_INTESTINE, provider=server.url, api_key=FAKE_KEY, out_dir=tmp_path / "run",
                         max_workers=1, progress=False, use_cache=False)
    assert len(server.requests) == 2  # two clusters tried, no retries on 401, the rest never started
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert FAKE_KEY not in (tmp_path / "run" / "manifest.json").read_text()


def test_scoring_boosting_and_loading_a_run_keep_its_input_order(server, tmp_path):
    small = Path(cassia.__file__).parent / "data" / "pbmc_small_markers.csv"
    out = tmp_path / "run"
    # cluster 2 finishes first, so results.jsonl holds 2, 0, 1; the summary follows the input: 0, 1, 2
    cassia.run_batch(small, clusters=["2"], provider=server.url, out_dir=out, progress=False, use_cache=False)
    cassia.run_batch(small, provider=server.url, out_dir=out, resume=True, progress=False, use_cache=False)

    def order() -> list[str]:
        return list(pd.read_csv(out / "summary.csv", dtype={"Cluster ID": str})["Cluster ID"])

    assert order() == ["0", "1", "2"]
    scored = cassia.run_score_batch(out, provider=server.url, progress=False, use_cache=False)
    assert order() == ["0", "1", "2"] and list(scored.to_frame()["Cluster ID"]) == ["0", "1", "2"]
    assert list(cassia.RunResult.load(out).to_frame()["Cluster ID"]) == ["0", "1", "2"]
    cassia.run_annotation_boost(small, "2", run_dir=out, provider=server.url, use_cache=False)
    assert order() == ["0", "1", "2"]
