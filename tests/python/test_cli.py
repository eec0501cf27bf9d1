"""The ``cassia`` console script in a subprocess: help, doctor, backends, examples, annotate/pipeline/score/report."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pandas as pd
import pytest

from cassia.cli import build_parser, main
from cassia.markers import load_markers

REPO = Path(__file__).resolve().parents[2]
CASSIA = Path(sys.executable).parent / "cassia"
PBMC = REPO / "../shared/data/markers/pbmc3k_findallmarkers.csv"
SMALL = REPO / "python/cassia/data/pbmc_small_markers.csv"
FAKES = Path(__file__).parent / "fakes"

# The options each command documents (README "Command line" section); --help must mention each.
DOCUMENTED = {
    (): ["doctor", "backends", "examples", "validate", "annotate", "pipeline", "score", "report", "boost",
         "subcluster", "uncertainty", "consensus", "ensemble", "evaluate", "batch", "--quiet", "--debug",
         "--version"],
    ("doctor",): ["--json", "--skip-r"],
    ("backends", "list"): ["--json", "--probe"],
    ("examples",): ["--out", "--force"],
    ("annotate",): ["--input", "--tissue", "--species", "--additional-info", "--provider", "--backend", "--model",
                    "--n-genes", "--ranking", "--max-workers", "--out", "--resume", "--no-cache", "--dry-run",
                    "--limit", "--clusters", "--json", "--timeout", "--shell-command", "--backend-arg",
                    "--validator-rounds", "--cancer-aware", "--batch-api", "--batch-poll", "--batch-retry"],
    ("pipeline",): ["--input", "--scoring-provider", "--scoring-model", "--boost-provider", "--boost-model",
                    "--score-threshold", "--boost-iterations", "--dry-run", "--limit", "--json", "--no-report"],
    ("score",): ["RUN_DIR", "--rescore", "--provider", "--model", "--json"],
    ("report",): ["RUN_DIR", "--json"],
    ("boost", "query"): ["--markers", "--cluster", "--genes", "--json"],
    ("boost", "run"): ["--markers", "--cluster", "--run", "--out", "--max-iterations", "--mode", "--additional-task",
                       "--provider", "--json"],
    ("boost", "auto"): ["--run", "--markers", "--max-clusters", "--threshold", "--dry-run", "--provider", "--json"],
    ("uncertainty",): ["--input", "--runs", "--n", "--labels", "--weights", "--threshold", "--no-agents",
                       "--unify-provider", "--out", "--provider", "--json"],
    ("consensus",): ["--inputs", "--out", "--labels", "--json"],
    ("ensemble",): ["--input", "--model", "--out", "--threshold", "--rounds", "--arbiter", "--arbiter-model",
                    "--timeout", "--resume", "--json", "--n-genes", "--max-p-adj", "--clusters", "--tissue"],
    ("evaluate",): ["--table", "--out", "--mode", "--predict", "--gold-col", "--marker-col", "--limit", "--sweep",
                    "--provider", "--json"],
    ("batch", "status"): ["RUN", "--no-refresh", "--json"],
    ("batch", "cancel"): ["RUN", "--json"],
    ("subcluster", "run"): ["--markers", "--major-cluster-info", "--out", "--provider", "--scoring-model",
                            "--group-size", "--json"],
}


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CASSIA_CACHE_DIR=str(tmp_path / "cache"), **extra)
    env["PATH"] = f"{FAKES}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def cassia(tmp_path: Path, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(CASSIA), *map(str, args)], capture_output=True, text=True, timeout=300,
                          env=env or env_for(tmp_path), cwd=cwd or tmp_path)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("cassia: ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


# ---------------------------------------------------------------- help


def test_top_level_help_from_the_console_script(tmp_path):
    done = cassia(tmp_path, "--help")
    assert done.returncode == 0
    for word in DOCUMENTED[()]:
        assert word in done.stdout, word
    assert cassia(tmp_path).returncode == 2  # no command: help on stderr, exit 2


def test_python_dash_m_cassia_is_the_same_command(tmp_path):
    """Where the console script is not on PATH (a venv not activated): python -m cassia."""
    env = {**env_for(tmp_path), "PYTHONPATH": str(REPO / "python")}
    done = subprocess.run([sys.executable, "-m", "cassia", "--help"], capture_output=True, text=True, timeout=300,
                          env=env, cwd=tmp_path)
    assert done.returncode == 0 and "usage: cassia" in done.stdout
    args = ["annotate", "--input", str(tmp_path / "missing.csv"), "--provider", "offline", "--out", str(tmp_path / "run")]
    bad = subprocess.run([sys.executable, "-m", "cassia", *args], capture_output=True, text=True, timeout=300,
                         env=env, cwd=tmp_path)
    script = cassia(tmp_path, *args)
    assert bad.returncode == script.returncode != 0
    assert one_line_error(bad) == one_line_error(script) and "not found" in bad.stderr


@pytest.mark.parametrize("path", [p for p in DOCUMENTED if p], ids=" ".join)
def test_every_command_help_mentions_its_options(path, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for option in DOCUMENTED[path]:
        assert option in text, f"cassia {' '.join(path)} --help does not mention {option}"
    assert "--quiet" in text and "--debug" in text


def test_every_command_is_documented():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {p[0] for p in DOCUMENTED if p} == set(commands) - {"validate"}


# ---------------------------------------------------------------- doctor, backends, examples


def test_doctor_reports_keys_without_showing_them(tmp_path):
    secret = "sk-doctor-check-0123456789abcdef"
    done = cassia(tmp_path, "doctor", "--skip-r", env=env_for(tmp_path, OPENAI_API_KEY=secret))
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout + done.stderr
    line = next(line for line in done.stdout.splitlines() if "OPENAI_API_KEY" in line)
    assert "set" in line and "not set" not in line
    assert "default backend: openai" in done.stdout and "cache:" in done.stdout
    report = json.loads(cassia(tmp_path, "doctor", "--json", env=env_for(tmp_path, OPENAI_API_KEY=secret)).stdout)
    assert secret not in json.dumps(report)
    keys = {row["key_env"]: row["key"] for row in report["keys"]}
    assert keys["OPENAI_API_KEY"] == "set" and keys["ANTHROPIC_API_KEY"] == "not set"
    clis = {row["name"]: row["available"] for row in report["agent_clis"]}
    assert clis["claude-cli"] and clis["codex-cli"] and clis["cursor-agent"]  # the fakes are on PATH
    assert report["cache"] == {"path": str(tmp_path / "cache" / "responses.sqlite"), "exists": False,
                               "entries": 0, "bytes": 0, "problem": None}
    assert report["python"]["version"].startswith("3.") and report["cassia"]["version"]
    assert report["r"]["version"] is None or report["r"]["version"].startswith("R version")
    if report["r"]["rscript"]:  # R is installed here: the package check ran
        assert report["r"]["cassia_package"] or "not installed" in report["r"]["note"]


def test_backends_list(tmp_path):
    env = env_for(tmp_path, ANTHROPIC_API_KEY="sk-ant-backends-0123456789")
    env["PATH"] = f"{FAKES}{os.pathsep}/usr/bin{os.pathsep}/bin"  # fakes only: codex etc. present, nothing else
    rows = {r["name"]: r for r in json.loads(cassia(tmp_path, "backends", "list", "--json", env=env).stdout)["backends"]}
    assert set(rows) >= {"openai", "anthropic", "offline", "ollama", "claude-cli", "codex-cli", "cursor-agent", "shell"}
    assert rows["anthropic"]["available"] and not rows["openai"]["available"] and rows["offline"]["available"]
    assert rows["claude-cli"]["available"] and rows["claude-cli"]["path"] == str(FAKES / "claude")
    assert rows["ollama"]["available"] is None and not rows["shell"]["available"]
    text = cassia(tmp_path, "backends", env=env).stdout
    assert "sk-ant" not in text and "claude-cli" in text


def test_examples_project_runs_offline(tmp_path):
    out = tmp_path / "example"
    done = cassia(tmp_path, "examples", "--out", out)
    assert done.returncode == 0, done.stderr
    for name in ("01_offline", "02_annotate", "03_pipeline", "04_boost", "05_subcluster", "06_agent_cli",
                 "07_consensus", "08_uncertainty"):
        assert (out / f"{name}.sh").stat().st_mode & 0o111 and (out / f"{name}.py").exists()
    assert len(list((out / "consensus").glob("run_*.csv"))) == 3 and (out / "README.md").exists()
    env = env_for(tmp_path)
    shell = subprocess.run(["bash", str(out / "01_offline.sh")], capture_output=True, text=True, env=env, timeout=300)
    assert shell.returncode == 0, shell.stderr
    summary = pd.read_csv(out / "runs" / "offline" / "summary.csv", dtype={"Cluster ID": str})
    assert list(summary["Cluster ID"]) == ["0", "1", "2"] and summary["Score"].notna().all()
    assert (out / "runs" / "offline" / "report.html").exists()
    python = subprocess.run([sys.executable, str(out / "01_offline.py")], capture_output=True, text=True, env=env,
                            timeout=300)
    assert python.returncode == 0, python.stderr
    assert "monocyte" in python.stdout and (out / "runs" / "offline-py" / "report.html").exists()
    again = cassia(tmp_path, "examples", "--out", out)
    assert again.returncode == 2 and "not empty" in one_line_error(again)


# ---------------------------------------------------------------- annotate / pipeline / score / report


def test_annotate_offline_with_limit_and_json(tmp_path):
    done = cassia(tmp_path, "annotate", "--input", PBMC, "--provider", "offline", "--tissue", "blood", "--limit", "3",
                  "--n-genes", "20", "--out", tmp_path / "run", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["counts"] == {"clusters": 3, "ok": 3, "failed": 0, "missing": 0} and summary["report"] is None
    assert [c["cluster"] for c in summary["clusters"]] == ["0", "1", "2"]
    assert summary["clusters"][1]["general"] == "monocyte"
    frame = pd.read_csv(tmp_path / "run" / "summary.csv", dtype={"Cluster ID": str})
    assert (frame["Marker Number"] == 20).all() and (frame["Provider"] == "offline").all()


def test_pipeline_score_and_report_through_the_fake_server(fake_server, tmp_path):
    run = tmp_path / "run"
    done = cassia(tmp_path, "pipeline", "--input", PBMC, "--provider", fake_server.url, "--model", "annot-model",
                  "--scoring-model", "score-model", "--clusters", "3,6", "--out", run, "--tissue", "blood",
                  "--additional-info", "PBMC; donor 1", "--max-workers", "2", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "complete" and summary["report"] == str(run / "report.html")
    assert all(c["score"] is not None for c in summary["clusters"])
    models = {r.body["model"] for r in fake_server.requests}
    assert models == {"annot-model", "score-model"}
    scorer_models = {r.body["model"] for r in fake_server.requests if "ScorerOutput" in json.dumps(r.body)}
    assert scorer_models == {"score-model"}
    assert any("PBMC; donor 1" in r.text for r in fake_server.requests)
    before = len(fake_server.requests)
    rescored = cassia(tmp_path, "score", run, "--provider", fake_server.url, "--rescore", "--no-cache")
    assert rescored.returncode == 0, rescored.stderr
    assert "2 clusters scored" in rescored.stdout and len(fake_server.requests) == before + 2
    (run / "report.html").unlink()
    report = cassia(tmp_path, "report", run)
    assert report.returncode == 0 and (run / "report.html").exists()
    assert report.stdout.strip() == f"report: {run / 'report.html'}"


def test_resume_finishes_only_missing_clusters(fake_server, tmp_path):
    run = tmp_path / "run"
    args = ["annotate", "--input", PBMC, "--provider", fake_server.url, "--out", run, "--no-cache", "--n-genes", "10"]
    assert cassia(tmp_path, *args, "--clusters", "0").returncode == 0
    first = len(fake_server.requests)
    exists = cassia(tmp_path, *args, "--clusters", "0,1")
    assert exists.returncode == 2 and "--resume" in one_line_error(exists)
    resumed = cassia(tmp_path, *args, "--clusters", "0,1", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "2 of 2 clusters annotated" in resumed.stdout
    markers = load_markers(PBMC, n_genes=10)
    zero, one = ", ".join(markers["0"].genes[:5]), ", ".join(markers["1"].genes[:5])
    later = fake_server.requests[first:]
    assert later and all(zero not in r.text for r in later)  # the finished cluster cost no call
    assert any(one in r.text for r in later)


def test_dry_run_prints_prompts_and_calls_nothing(tmp_path):
    hostile = "$(touch pwned); rm -rf ./keep `touch pwned2`"
    (tmp_path / "keep").mkdir()
    done = cassia(tmp_path, "pipeline", "--input", SMALL, "--dry-run", "--tissue", "blood", "--provider", "openai",
                  "--additional-info", hostile, "--out", tmp_path / "never")
    assert done.returncode == 0, done.stderr  # no key needed: nothing is called
    assert done.stdout.count("=== cluster ") == 3 and "GNLY, LAMP1, CD7" in done.stdout
    assert hostile in done.stdout and "dry run: 3 clusters" in done.stderr
    assert not (tmp_path / "never").exists() and not list(tmp_path.glob("pwned*")) and (tmp_path / "keep").exists()
    as_json = json.loads(cassia(tmp_path, "annotate", "--input", SMALL, "--dry-run", "--json", "--limit", "1").stdout)
    assert as_json["dry_run"] is True and len(as_json["clusters"]) == 1
    first = as_json["clusters"][0]
    assert first["cluster"] == "0" and first["markers"][0] == "GNLY" and "GNLY" in first["user"] and first["system"]


@pytest.mark.parametrize("args,code,fragment", [
    (["annotate", "--input", "no/such/file.csv"], 2, "marker file not found"),
    (["annotate", "--input", str(SMALL), "--provider", "nonesuch", "--out", "x"], 1, "unknown provider 'nonesuch'"),
    (["annotate", "--input", str(SMALL), "--clusters", "0,42", "--provider", "offline"], 2, "42"),
    (["pipeline", "--input", str(SMALL), "--provider", "openai", "--out", "x"], 1, "OPENAI_API_KEY"),
    (["score", "not-a-run"], 2, "not a CASSIA run directory"),
    (["report", "not-a-run"], 2, "not a CASSIA run directory"),
    (["annotate", "--input", str(SMALL), "--provider", "openai", "--shell-command", "x {prompt_file}"], 2,
     "--shell-command belongs to the shell backend"),
])
def test_errors_are_one_line_with_the_right_exit_code(tmp_path, args, code, fragment):
    done = cassia(tmp_path, *args)
    assert done.returncode == code, done.stderr
    line = one_line_error(done)
    assert fragment in line


def test_bad_arguments_exit_2_and_debug_shows_the_traceback(tmp_path):
    done = cassia(tmp_path, "annotate", "--input", SMALL, "--limit", "0")
    assert done.returncode == 2 and "must be at least 1" in done.stderr
    debug = cassia(tmp_path, "--debug", "annotate", "--input", "no/such/file.csv")
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "InputError" in debug.stderr
    after = cassia(tmp_path, "annotate", "--input", "no/such/file.csv", "--debug")
    assert "Traceback" in after.stderr  # global flags also work after the command


def _run_on_a_terminal(tmp_path: Path, *args: str) -> str:
    """Run the console script with stderr on a pseudo-terminal; return what the terminal showed."""
    main_fd, child_fd = pty.openpty()
    # A real terminal has a size; tqdm draws nothing on a 0-column one.
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen([str(CASSIA), *args], stdout=subprocess.DEVNULL, stderr=child_fd,
                               env=env_for(tmp_path), cwd=tmp_path)
    os.close(child_fd)
    chunks = []
    while True:
        try:
            chunk = os.read(main_fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(main_fd)
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_only_on_a_terminal_and_not_with_quiet(tmp_path):
    args = ["annotate", "--input", str(SMALL), "--provider", "offline", "--max-workers", "1"]
    shown = _run_on_a_terminal(tmp_path, *args, "--out", "a")
    assert "annotating" in shown and "cluster" in shown
    quiet = _run_on_a_terminal(tmp_path, "--quiet", *args, "--out", "b")
    assert "annotating" not in quiet
    piped = cassia(tmp_path, *args, "--out", "c")
    assert piped.returncode == 0 and "annotating" not in piped.stderr
