"""``cassia annotate --provider claude-cli|codex-cli|cursor-agent|shell`` with the fake agent CLIs on PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

CASSIA = Path(sys.executable).parent / "cassia"
FAKES = Path(__file__).parent / "fakes"
FAKE_KEY = "sk-ant-FAKEKEY0123456789abcdef"
HOSTILE_CLUSTER = "T; rm -rf ./keep"
HOSTILE_GENE = "$(touch pwned)"
HOSTILE_INFO = "`touch pwned2`; rm -rf ./keep && touch pwned3"


@pytest.fixture()
def project(tmp_path):
    """A working folder with a one-cluster marker table whose names are shell code."""
    (tmp_path / "keep").mkdir()
    table = pd.DataFrame({"cluster": [HOSTILE_CLUSTER, "B"],
                          "markers": [f"CD3D,CD3E,{HOSTILE_GENE},CD2,IL7R", "MS4A1,CD79A,CD79B,CD19"]})
    table.to_csv(tmp_path / "markers.csv", index=False)
    return tmp_path


def cassia(folder: Path, *args, mode: str = "ok") -> subprocess.CompletedProcess:
    env = dict(os.environ, CASSIA_CACHE_DIR=str(folder / "cache"), FAKE_AGENT_MODE=mode,
               FAKE_AGENT_LOG=str(folder / "calls.jsonl"))
    env["PATH"] = f"{FAKES}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return subprocess.run([str(CASSIA), *map(str, args)], capture_output=True, text=True, timeout=300, env=env,
                          cwd=folder)


def calls(folder: Path) -> list[dict]:
    log = folder / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def assert_nothing_ran(folder: Path) -> None:
    assert not list(folder.glob("pwned*")) and (folder / "keep").is_dir()


@pytest.mark.parametrize("backend", ["claude-cli", "codex-cli", "cursor-agent"])
def test_annotate_with_each_agent_cli(project, backend):
    extra = ["--backend-arg=--max-turns", "--backend-arg=1"] if backend == "claude-cli" else []
    done = cassia(project, "annotate", "--input", "markers.csv", "--provider", backend, "--model", "fake-1",
                  "--clusters", HOSTILE_CLUSTER, "--additional-info", HOSTILE_INFO, "--validator-rounds", "1",
                  "--out", "run", "--json", *extra)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["counts"]["ok"] == 1 and summary["clusters"][0]["general"]
    frame = pd.read_csv(project / "run" / "summary.csv")
    assert frame.loc[0, "Provider"] == backend and frame.loc[0, "Cluster ID"] == HOSTILE_CLUSTER
    manifest = json.loads((project / "run" / "manifest.json").read_text())
    assert manifest["providers"]["annotator"]["name"] == backend
    if backend == "claude-cli":  # Claude Code reports its cost; the others do not
        assert manifest["cost_usd"] > 0
    logged = calls(project)
    assert len(logged) >= 2  # annotator, review (verdict and record in one call)
    assert HOSTILE_INFO in logged[0]["prompt"] and HOSTILE_GENE in logged[0]["prompt"]  # data, never code
    if extra:  # --backend-arg reaches the tool's argv
        assert logged[0]["argv"][-2:] == ["--max-turns", "1"]
    assert_nothing_ran(project)


def test_shell_template_never_runs_names_as_code(project):
    # {cluster} inside an sh -c script is safe: it is the cluster's slug (letters, digits, dashes).
    template = "sh -c 'fake-llm-tool --in \"$1\" --out \"$2\" --cluster {cluster}' _ {prompt_file} {output_file}"
    done = cassia(project, "pipeline", "--input", "markers.csv", "--shell-command", template,
                  "--additional-info", HOSTILE_INFO, "--validator-rounds", "1", "--out", "run", "--quiet")
    assert done.returncode == 0, done.stderr
    assert_nothing_ran(project)
    logged = calls(project)
    clusters = {c["argv"][c["argv"].index("--cluster") + 1] for c in logged}
    assert len(clusters) == 2 and all(set(c) <= set("abcdefghijklmnopqrstuvwxyz0123456789-") for c in clusters)
    assert any(HOSTILE_GENE in c["prompt"] for c in logged)
    frame = pd.read_csv(project / "run" / "summary.csv")
    assert (frame["Status"] == "ok").all() and frame["Score"].notna().all()


def test_rerun_is_served_from_the_cache(project):
    args = ["annotate", "--input", "markers.csv", "--provider", "claude-cli", "--validator-rounds", "1", "--quiet"]
    assert cassia(project, *args, "--out", "first").returncode == 0
    spent = len(calls(project))
    again = cassia(project, *args, "--out", "second")
    assert again.returncode == 0 and len(calls(project)) == spent


def test_failing_tool_fails_the_clusters_with_a_redacted_reason(project):
    done = cassia(project, "annotate", "--input", "markers.csv", "--provider", "codex-cli", "--out", "run",
                  mode="fail")
    assert done.returncode == 1  # every cluster failed
    assert "exited with status 3" in done.stderr and FAKE_KEY not in done.stderr and "Traceback" not in done.stderr
    stored = (project / "run" / "results.jsonl").read_text()
    assert "upstream request failed" in stored and FAKE_KEY not in stored


def test_timeout_from_the_command_line(project):
    done = cassia(project, "annotate", "--input", "markers.csv", "--provider", "cursor-agent", "--clusters", "B",
                  "--timeout", "2", "--out", "run", mode="hang")
    assert done.returncode == 1 and "did not finish within 2 s" in done.stderr


def test_not_logged_in_stops_the_run_in_one_line(project):
    done = cassia(project, "annotate", "--input", "markers.csv", "--provider", "claude-cli", "--out", "run",
                  "--max-workers", "1", mode="auth")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("cassia: error:")]
    assert len(errors) == 1 and "not logged in" in errors[0] and "--resume" in errors[0]
