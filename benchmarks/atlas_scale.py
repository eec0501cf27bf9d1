"""Atlas-scale runs from the command line: wall time against the bound, requests in flight, memory.

    .venv/bin/python benchmarks/atlas_scale.py [--quick] [--skip-atlas]

Every run is the ``cassia`` command in a child process (what a user runs), against the fake
server in this process (its latency per call stands in for a model). Printed, one row per run:
wall / bound (bound = max(longest chain of one cluster x latency, calls x latency / workers)),
the most requests the server saw in flight, time from start to the first request, the child's
peak RSS, calls and tokens per cluster. Rows: annotate (batch) and pipeline at 100 clusters
(1 s per call, --max-workers 10) and 1,000 clusters (0.2 s, --max-workers 32); the pipeline on a
1,000-cluster x 4,700-row FindAllMarkers table (synthetic, see atlas_data.py); 10,000 clusters
offline; and 10,000 clusters through the batch-API emulation (--batch-api; wall also in
emulated time, batches submitted). The machine is shared: note its load when quoting figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from atlas_data import findallmarkers_csv, processed_frame  # noqa: E402

from cassia.testing import FakeLLMServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CASSIA = str(ROOT / ".venv" / "bin" / "cassia")


def _child(command: list[str]) -> tuple[float, float]:
    """Run ``command``; (wall seconds, peak RSS in MB of that child alone, from wait4)."""
    with tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err,
                                   env={**os.environ, "PYTHONPATH": str(ROOT / "python")})
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(command)} failed:\n{err.read()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def _run_row(label: str, server: FakeLLMServer, table: Path, *, command: str, clusters: int, latency: float,
             workers: int, extra: list[str] = ()) -> dict:
    server.reset()
    first: list[float] = []
    server.add_rule(lambda request: bool(first or first.append(time.perf_counter())) and False, "")
    server.latency = latency
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        args = [CASSIA, "--quiet", command, "--input", str(table), "--provider", server.url, "--model", "fake-model",
                "--out", str(out), "--no-cache", "--max-workers", str(workers), "--tissue", "blood", *extra]
        if command == "pipeline":
            args.append("--no-report")
        started = time.perf_counter()
        wall, peak = _child(args)
        manifest = json.loads((out / "manifest.json").read_text())
        chain = max(sum(s["calls"] for s in json.loads(line)["stages"].values())
                    for line in (out / "results.jsonl").read_text().splitlines())
    calls = sum(1 for r in server.requests if r.method == "POST")
    bound = max(chain * latency, calls * latency / workers) if latency else float("nan")
    tokens = manifest["usage"]["input_tokens"] + manifest["usage"]["output_tokens"]
    return {"run": label, "clusters": clusters, "wall_s": round(wall, 1), "bound_s": round(bound, 1),
            "wall/bound": round(wall / bound, 2) if latency else None, "max_in_flight": server.max_in_flight,
            "first_request_s": round(first[0] - started, 2) if first else None, "peak_rss_mb": round(peak),
            "calls/cluster": round(calls / clusters, 2), "tokens/cluster": round(tokens / clusters)}


def _offline_row(table: Path, clusters: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        wall, peak = _child([CASSIA, "--quiet", "annotate", "--input", str(table), "--provider", "offline",
                                "--out", str(Path(tmp) / "run"), "--max-workers", "32", "--tissue", "blood"])
    return {"run": "annotate offline", "clusters": clusters, "wall_s": round(wall, 1), "peak_rss_mb": round(peak)}


def _batch_api_row(table: Path, clusters: int, scale: float) -> dict:
    with FakeLLMServer() as server, tempfile.TemporaryDirectory() as tmp:
        fake = server.enable_batches(time_scale=scale)
        out = Path(tmp) / "run"
        wall, peak = _child([CASSIA, "--quiet", "annotate", "--input", str(table), "--provider", server.url,
                                "--model", "gpt-4o-mini", "--out", str(out), "--no-cache", "--tissue", "blood",
                                "--batch-api", "--batch-poll", "0.5"])
        manifest = json.loads((out / "manifest.json").read_text())
        live = sum(1 for r in server.requests if r.path.endswith("/chat/completions"))
    return {"run": "annotate --batch-api", "clusters": clusters, "wall_s": round(wall, 1),
            "emulated_wall_h": round(wall * scale / 3600, 1), "batches": fake.submitted, "live_calls": live,
            "peak_rss_mb": round(peak), "cost_usd": manifest.get("cost_usd"),
            "tokens/cluster": round(sum(manifest["usage"].values()) / clusters)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the 100-cluster rows")
    parser.add_argument("--skip-atlas", action="store_true", help="skip the 1,000 x 4,700-row table")
    parser.add_argument("--batch-scale", type=float, default=600.0, help="emulated seconds per real second")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer() as server:
        tables = {n: Path(tmp) / f"markers_{n}.csv" for n in (100, 1000, 10_000)}
        for n, path in tables.items():
            processed_frame(n).to_csv(path, index=False)
        plan = [(100, 1.0, 10)] + ([] if args.quick else [(1000, 0.2, 32)])
        for clusters, latency, workers in plan:
            for command in ("annotate", "pipeline"):
                rows.append(_run_row(f"{command} --max-workers {workers}", server, tables[clusters], command=command,
                                     clusters=clusters, latency=latency, workers=workers))
        if not args.quick and not args.skip_atlas:
            atlas = findallmarkers_csv(1000, 4700)
            rows.append(_run_row("pipeline, 4,700 rows/cluster", server, atlas, command="pipeline", clusters=1000,
                                 latency=0.2, workers=32))
        if not args.quick:
            rows.append(_offline_row(tables[10_000], 10_000))
            rows.append(_batch_api_row(tables[10_000], 10_000, args.batch_scale))
    load = os.getloadavg()
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"load average during the runs (1/5/15 min, {os.cpu_count()} cores): "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")


if __name__ == "__main__":
    main()
