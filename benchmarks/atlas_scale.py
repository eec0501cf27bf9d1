"""Atlas-scale runs from the command line: wall time against the bound, requests in flight, memory.

    .venv/bin/python benchmarks/atlas_scale.py [--quick] [--skip-atlas] [--skip-10k]

Every run is the ``cassia`` command in a child process (what a user runs: ``cassia.cli.main``,
as the console script calls it), against the fake server in this process (its latency per
call stands in for a model). The child gets a bytecode cache of its own (as an installed
package has), so its start-up is not inflated by compiling the sources on every run.

Printed, one row per run: wall / bound (bound = max(longest chain of one cluster x latency,
calls x latency / workers)); call_s = the mean time of one call as the client saw it (the
latency plus both sides' work on it, which the bound leaves out); the most requests the server
saw in flight; time from start to the first request; tail = time from the last reply to the process's exit (summary, report,
manifest); the child's own peak RSS (``VmHWM`` read at its exit); calls and tokens per cluster.
Rows: annotate and pipeline (with its report) at 100 clusters (1 s per call, --max-workers 10)
and 1,000 clusters (0.2 s, --max-workers 32); the pipeline on a 1,000-cluster x 4,700-row
FindAllMarkers table (synthetic, see atlas_data.py); 10,000 clusters offline; and 10,000
clusters through the batch-API emulation (--batch-api; wall also in emulated time, batches
submitted). The machine is shared: the load average before and after is printed with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from atlas_data import findallmarkers_csv, processed_frame  # noqa: E402

from cassia.testing import FakeLLMServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# ``cassia ARGS`` in this interpreter, reporting its own peak RSS (VmHWM) on stderr at exit.
CASSIA = [sys.executable, "-c", (
    "import atexit, sys\n"
    "def peak():\n"
    "    try:\n"
    "        for line in open('/proc/self/status'):\n"
    "            if line.startswith('VmHWM:'):\n"
    "                sys.stderr.write('CASSIA_PEAK_KB ' + line.split()[1] + '\\n')\n"
    "    except OSError:\n"
    "        pass\n"
    "atexit.register(peak)\n"
    "from cassia.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n")]


def _environment(pycache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(ROOT / "python"), "PYTHONPYCACHEPREFIX": pycache}


def _child(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``cassia args``; (wall seconds, peak RSS in MB of the child alone)."""
    with tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen([*CASSIA, *args], stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        err.seek(0)
        text = err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"cassia {' '.join(args)} failed:\n{text[-2000:]}")
    peaks = [int(line.split()[1]) for line in text.splitlines() if line.startswith("CASSIA_PEAK_KB ")]
    return wall, (peaks[-1] if peaks else usage.ru_maxrss) / 1024


def _run_row(label: str, server: FakeLLMServer, table: Path, env: dict, *, command: str, clusters: int,
             latency: float, workers: int) -> dict:
    server.reset()
    seen: list[float] = []  # arrival time of every request
    server.add_rule(lambda request: bool(seen.append(time.perf_counter())) and False, "")
    server.latency = latency
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        args = ["--quiet", command, "--input", str(table), "--provider", server.url, "--model", "fake-model",
                "--out", str(out), "--no-cache", "--max-workers", str(workers), "--tissue", "blood"]
        started = time.perf_counter()
        wall, peak = _child(args, env)
        manifest = json.loads((out / "manifest.json").read_text())
        chain = 0
        with open(out / "results.jsonl", encoding="utf-8") as log:
            for line in log:
                chain = max(chain, sum(s["calls"] for s in json.loads(line)["stages"].values()))
        # each call as the client timed it: the server's latency plus both sides' work on the request
        seen_latency = [json.loads(p.read_text())["latency_s"] for p in (out / "transcripts").rglob("*.json")]
    calls = sum(1 for r in server.requests if r.method == "POST")
    bound = max(chain * latency, calls * latency / workers)
    tokens = manifest["usage"]["input_tokens"] + manifest["usage"]["output_tokens"]
    return {"run": label, "clusters": clusters, "wall_s": round(wall, 1), "bound_s": round(bound, 1),
            "wall/bound": round(wall / bound, 2), "call_s": round(sum(seen_latency) / len(seen_latency), 3),
            "max_in_flight": server.max_in_flight,
            "first_request_s": round(seen[0] - started, 2) if seen else None,
            "tail_s": round(started + wall - (seen[-1] + latency), 1) if seen else None, "peak_rss_mb": round(peak),
            "calls/cluster": round(calls / clusters, 2), "tokens/cluster": round(tokens / clusters)}


def _offline_row(table: Path, clusters: int, env: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        wall, peak = _child(["--quiet", "annotate", "--input", str(table), "--provider", "offline",
                             "--out", str(Path(tmp) / "run"), "--max-workers", "32", "--tissue", "blood"], env)
    return {"run": "annotate offline", "clusters": clusters, "wall_s": round(wall, 1), "peak_rss_mb": round(peak)}


def _batch_api_row(table: Path, clusters: int, scale: float, env: dict) -> dict:
    with FakeLLMServer() as server, tempfile.TemporaryDirectory() as tmp:
        fake = server.enable_batches(time_scale=scale)
        out = Path(tmp) / "run"
        wall, peak = _child(["--quiet", "annotate", "--input", str(table), "--provider", server.url,
                             "--model", "gpt-4o-mini", "--out", str(out), "--no-cache", "--tissue", "blood",
                             "--batch-api", "--batch-poll", "0.5"], env)
        manifest = json.loads((out / "manifest.json").read_text())
        live = sum(1 for r in server.requests if r.path.endswith("/chat/completions"))
    return {"run": "annotate --batch-api", "clusters": clusters, "wall_s": round(wall, 1),
            "emulated_wall_h": round(wall * scale / 3600, 1), "batches": fake.submitted, "live_calls": live,
            "peak_rss_mb": round(peak), "cost_usd": manifest.get("cost_usd"),
            "tokens/cluster": round(sum(manifest["usage"].values()) / clusters)}


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the 100-cluster rows")
    parser.add_argument("--skip-atlas", action="store_true", help="skip the 1,000 x 4,700-row table")
    parser.add_argument("--skip-10k", action="store_true", help="skip the 10,000-cluster rows")
    parser.add_argument("--batch-scale", type=float, default=600.0, help="emulated seconds per real second")
    args = parser.parse_args()
    rows = []
    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer() as server:
        env = _environment(str(Path(tmp) / "pycache"))
        tables = {n: Path(tmp) / f"markers_{n}.csv" for n in (100, 1000, 10_000)}
        for n, path in tables.items():
            processed_frame(n).to_csv(path, index=False)
        _child(["--quiet", "pipeline", "--input", str(tables[100]), "--provider", "offline", "--limit", "2",
                "--out", str(Path(tmp) / "warm-up")], env)  # fills the bytecode cache, as installing does
        plan = [(100, 1.0, 10)] + ([] if args.quick else [(1000, 0.2, 32)])
        for clusters, latency, workers in plan:
            for command in ("annotate", "pipeline"):
                rows.append(_run_row(f"{command} --max-workers {workers}", server, tables[clusters], env,
                                     command=command, clusters=clusters, latency=latency, workers=workers))
        if not args.quick and not args.skip_atlas:
            atlas = findallmarkers_csv(1000, 4700)
            rows.append(_run_row("pipeline, 4,700 rows/cluster", server, atlas, env, command="pipeline",
                                 clusters=1000, latency=0.2, workers=32))
        if not args.quick and not args.skip_10k:
            rows.append(_offline_row(tables[10_000], 10_000, env))
            rows.append(_batch_api_row(tables[10_000], 10_000, args.batch_scale, env))
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"load average (1/5/15 min, {os.cpu_count()} cores): before {load_before}, after {_load()}")


if __name__ == "__main__":
    main()
