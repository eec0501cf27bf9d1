"""Kill the ``cassia pipeline`` command at chosen moments and resume it: nothing lost, nothing twice.

Each trial starts a fresh run against the fake LLM server, SIGKILLs it at a random moment in one
phase (``annotation``, ``scoring``, ``boost``, ``summary``, ``report``), snapshots what the run
directory holds, then resumes it with ``--resume`` and checks the outcome: every input cluster
exactly once in ``summary.csv``, status ``complete``, no temp file left, and the calls made on
resume match what was left (annotations started on resume == clusters without a result; boosts
started on resume == clusters still waiting for their boost). Used by ``benchmarks/chaos_resume.py``
(20 kills, figures printed) and by a smaller test.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .fake_server import FakeLLMServer, FakeRequest

__all__ = ["PHASES", "Timeline", "Trial", "calibrate", "kind_of", "run_trial"]

PHASES = ("annotation", "scoring", "boost", "summary", "report")
_KINDS = {  # the first words of each agent's system prompt
    "You are an experienced computational biologist": "annotator",
    "You review a cell-type": "review",
    "You grade the quality": "scorer",
    "You re-examine": "boost",
}
POLL_S = 0.005


def kind_of(request: FakeRequest) -> str:
    messages = request.messages
    system = str(messages[0].get("content", "")) if messages and messages[0].get("role") == "system" else ""
    return next((kind for start, kind in _KINDS.items() if system.startswith(start)), "other")


def _starts(requests: list[FakeRequest], kind: str) -> int:
    """Requests opening a new conversation of ``kind`` (system + first user message)."""
    return sum(1 for r in requests if kind_of(r) == kind and len(r.messages) <= 2)


@dataclass
class Timeline:
    """What one uninterrupted run does, to place kills inside each phase."""

    clusters: int
    calls: int
    annotator_starts: int
    scorer_calls: int
    boost_calls: int
    boost_starts: int
    last_call_to_summary_s: float
    summary_to_report_s: float
    seconds: float


@dataclass
class Trial:
    target: str
    phase_hit: str
    kill_after_s: float
    done_at_kill: int
    left_at_kill: int
    in_flight_at_kill: int
    annotated_on_resume: int
    boosts_expected_on_resume: int
    boosted_on_resume: int
    resume_calls: int
    resume_exit: int
    rows: int
    duplicates: int
    missing: int
    status: str
    temp_files_left: int
    report: bool
    problems: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def _command(markers: Path, out: Path, url: str, *, workers: int, extra: list[str]) -> list[str]:
    cassia = Path(sys.executable).parent / "cassia"
    return [str(cassia), "--quiet", "pipeline", "--input", str(markers), "--provider", url, "--out", str(out),
            "--no-cache", "--max-workers", str(workers), "--score-threshold", "100", "--boost-iterations", "1",
            *extra]


def _records(out: Path) -> dict[str, dict]:
    """The last readable record per cluster (a torn line is what a kill leaves; it is skipped)."""
    found: dict[str, dict] = {}
    path = out / "results.jsonl"
    if path.exists():
        for line in path.read_bytes().splitlines():
            try:
                record = json.loads(line)
                found[str(record["cluster"])] = record
            except (ValueError, KeyError, TypeError):
                continue
    return found


def _wait(condition: Callable[[], bool], child: subprocess.Popen, limit: float = 300) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        if child.poll() is not None:
            return False
        time.sleep(POLL_S)
    return False


def calibrate(server: FakeLLMServer, markers: Path, workdir: Path, *, workers: int = 2,
              extra: list[str] = (), env: dict | None = None) -> Timeline:
    out = workdir / "calibration"
    server.requests.clear()
    started = time.monotonic()
    child = subprocess.Popen(_command(markers, out, server.url, workers=workers, extra=list(extra)), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last_count, last_change, summary_at, report_at = 0, started, None, None
    while child.poll() is None:
        now = time.monotonic()
        if len(server.requests) != last_count:
            last_count, last_change = len(server.requests), now
        if summary_at is None and (out / "summary.csv").exists():
            summary_at = now
        if report_at is None and (out / "report.html").exists():
            report_at = now
        time.sleep(POLL_S)
    if child.returncode != 0:
        raise RuntimeError(f"the calibration run failed: {child.stderr.read()}")
    end = time.monotonic()
    requests = list(server.requests)
    summary_at = summary_at or end
    return Timeline(clusters=len(_records(out)), calls=len(requests),
                    annotator_starts=_starts(requests, "annotator"),
                    scorer_calls=sum(kind_of(r) == "scorer" for r in requests),
                    boost_calls=sum(kind_of(r) == "boost" for r in requests),
                    boost_starts=_starts(requests, "boost"),
                    last_call_to_summary_s=max(summary_at - last_change, POLL_S),
                    summary_to_report_s=max((report_at or end) - summary_at, POLL_S), seconds=end - started)


def _trigger(phase: str, server: FakeLLMServer, out: Path, line: Timeline,
             rng: random.Random) -> tuple[Callable[[], bool], float]:
    """When to kill: a condition that marks a random point of ``phase``, and a random extra delay."""
    requests = server.requests
    if phase == "annotation":
        k = rng.randint(1, max(1, line.annotator_starts - 1))
        return (lambda: _starts(requests, "annotator") >= k), rng.uniform(0, 0.05)
    if phase == "scoring":
        k = rng.randint(1, max(1, line.clusters - 1))
        return (lambda: sum(kind_of(r) == "scorer" for r in list(requests)) >= k), rng.uniform(0, 0.02)
    if phase == "boost":
        k = rng.randint(1, max(1, line.boost_calls))
        return (lambda: sum(kind_of(r) == "boost" for r in list(requests)) >= k), rng.uniform(0, 0.02)
    if phase == "summary":
        return (lambda: len(requests) >= line.calls), rng.uniform(0, line.last_call_to_summary_s)
    if phase == "report":
        return (lambda: (out / "summary.csv").exists()), rng.uniform(0, line.summary_to_report_s)
    raise ValueError(f"unknown phase {phase!r}; use one of {PHASES}")


def _phase_hit(target: str, fired: bool, requests: list[FakeRequest], out: Path, line: Timeline) -> str:
    """The phase the kill landed in: the target when its moment came (a call of that phase in flight),
    else what the run directory shows."""
    if len(requests) < line.calls:
        return target if fired and target in ("annotation", "scoring", "boost") else "annotation"
    if not (out / "summary.csv").exists():
        return "summary"
    pages = len(list((out / "clusters").glob("*.html"))) if (out / "clusters").exists() else 0
    if not (out / "report.html").exists() or pages < line.clusters:
        return "report"
    return "after report"


def run_trial(server: FakeLLMServer, markers: Path, workdir: Path, phase: str, line: Timeline, *,
              rng: random.Random, workers: int = 2, extra: list[str] = (), env: dict | None = None,
              number: int = 0) -> Trial:
    out = workdir / f"trial-{number:02d}-{phase}"
    command = _command(markers, out, server.url, workers=workers, extra=list(extra))
    server.requests.clear()
    started = time.monotonic()
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    condition, delay = _trigger(phase, server, out, line, rng)
    fired = _wait(condition, child)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()
    killed_after = time.monotonic() - started
    before = list(server.requests)
    records = _records(out)
    ok = {c for c, r in records.items() if r.get("status") == "ok"}
    waiting_boost = {c for c in ok if not records[c].get("boosted")}
    phase_hit = _phase_hit(phase, fired, before, out, line)

    server.requests.clear()
    resumed = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True, timeout=600)
    after = list(server.requests)
    annotated, boosted = _starts(after, "annotator"), _starts(after, "boost")
    summary = pd.read_csv(out / "summary.csv", dtype={"Cluster ID": str}) if (out / "summary.csv").exists() else None
    rows = 0 if summary is None else len(summary)
    ids = [] if summary is None else list(summary["Cluster ID"])
    expected = set(_records(workdir / "calibration"))
    manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").exists() else {}
    temp = [p for p in out.rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp")]
    trial = Trial(
        target=phase, phase_hit=phase_hit, kill_after_s=round(killed_after, 2), done_at_kill=len(ok),
        left_at_kill=line.clusters - len(ok),
        in_flight_at_kill=max(0, _starts(before, "annotator") - len(records)),
        annotated_on_resume=annotated,
        # every cluster scores below the threshold: the ones left and the ones not boosted yet
        boosts_expected_on_resume=(line.clusters - len(ok)) + len(waiting_boost)
        if line.boost_starts == line.clusters else -1,
        boosted_on_resume=boosted, resume_calls=len(after), resume_exit=resumed.returncode, rows=rows,
        duplicates=len(ids) - len(set(ids)), missing=len(expected - set(ids)), status=str(manifest.get("status")),
        temp_files_left=len(temp), report=(out / "report.html").exists())
    trial.problems = _problems(trial, resumed.stderr)
    return trial


def _problems(t: Trial, stderr: str) -> list[str]:
    problems = []
    if t.resume_exit != 0:
        problems.append(f"resume exited {t.resume_exit}: {stderr.strip()[-300:]}")
    if t.duplicates or t.missing:
        problems.append(f"summary.csv: {t.duplicates} duplicate(s), {t.missing} missing cluster(s)")
    if t.annotated_on_resume != t.left_at_kill:
        problems.append(f"resume annotated {t.annotated_on_resume} clusters, {t.left_at_kill} were left")
    if t.boosts_expected_on_resume >= 0 and t.boosted_on_resume != t.boosts_expected_on_resume:
        problems.append(f"resume boosted {t.boosted_on_resume} clusters, {t.boosts_expected_on_resume} were waiting")
    if t.status != "complete":
        problems.append(f"manifest status {t.status!r}")
    if t.temp_files_left:
        problems.append(f"{t.temp_files_left} temp file(s) left")
    if not t.report:
        problems.append("no report.html")
    return problems


def environment(workdir: Path) -> dict[str, str]:
    """The child processes' environment: this cassia, a private cache folder."""
    package_root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "CASSIA_CACHE_DIR": str(workdir / "cache"),
            "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
