"""Batch and pipeline wall time against the fake server with a fixed latency per call.

Lower bound for a run = max(critical path, total calls x latency / concurrency limit), where the
critical path is the longest chain of calls one cluster needs. Prints the measured wall time, the
bound, the ratio, and calls and tokens per cluster.

    .venv/bin/python benchmarks/pipeline_latency.py --clusters 100 --latency 1 --concurrency 16
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

import cassia
from cassia.providers import get_provider
from cassia.testing import FakeLLMServer

GENES = ["CD3D", "CD3E", "CD2", "IL7R", "MS4A1", "CD79A", "LYZ", "CD14", "GNLY", "NKG7", "PPBP", "FCGR3A"]


def synthetic_markers(n_clusters: int) -> pd.DataFrame:
    rows = [{"cluster": f"c{i}", "markers": ", ".join(GENES[i % 4:] + GENES[: i % 4])} for i in range(n_clusters)]
    return pd.DataFrame(rows)


def measure(kind: str, n_clusters: int, latency: float, concurrency: int, workers: int) -> dict:
    with FakeLLMServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.latency = latency
        provider = get_provider(server.url, "fake-model", max_concurrency=concurrency)
        runner = cassia.run_pipeline if kind == "pipeline" else cassia.run_batch
        started = time.perf_counter()
        result = runner(synthetic_markers(n_clusters), provider=provider, out_dir=Path(tmp) / "run",
                        max_workers=workers, progress=False, use_cache=False, tissue="blood")
        wall = time.perf_counter() - started
        calls = len(server.requests)
        assert all(r.status == "ok" for r in result.results), [r.error for r in result.results if r.error][:3]
        chain = max(sum(s.calls for s in r.stages.values()) for r in result.results)
        tokens = sum(r.tokens for r in result.results)
    bound = max(chain * latency, calls * latency / concurrency)
    return {"kind": kind, "clusters": n_clusters, "latency_s": latency, "concurrency": concurrency,
            "workers": workers, "calls": calls, "calls_per_cluster": calls / n_clusters,
            "tokens_per_cluster": round(tokens / n_clusters, 1), "critical_path_calls": chain,
            "wall_s": round(wall, 2), "lower_bound_s": round(bound, 2), "ratio": round(wall / bound, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16, help="provider requests in flight")
    parser.add_argument("--workers", type=int, default=None, help="clusters at once (default: all; the provider limit then bounds requests in flight)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [measure(kind, args.clusters, args.latency, args.concurrency, args.workers or args.clusters)
            for kind in ("batch", "pipeline")]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
