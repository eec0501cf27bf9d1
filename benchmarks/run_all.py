"""Every performance benchmark of the project against the fake server, in one table.

    .venv/bin/python benchmarks/run_all.py [--latency 0.2] [--quick]

Rows:
1. per-call overhead of the provider layer vs bare httpx (``overhead.py``; fake server at zero
   latency in its own process, 1 and 8 calls in flight, best of 3 runs of 300 calls);
2. 100- and 1,000-cluster ``run_batch`` / ``run_pipeline`` wall time against the lower bound
   max(critical path, calls x latency / concurrency) (``pipeline_latency.measure``), with calls and
   tokens per cluster. The fake server answers after ``--latency`` seconds (default 0.2 s: long
   enough that waiting dominates, short enough that the 1,000-cluster runs take about a minute
   each at 16 requests in flight);
3. a cache-hit rerun: 100 clusters annotated once with the response cache on, then again into a
   new folder: wall time and requests that reached the server (should be 0);
4. peak RSS of a 10,000-cluster batch (``memory_10k.measure``; offline backend, child process).

``--quick`` runs 100 clusters only and 2,000 for memory (a smoke test, not the figures to quote).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import memory_10k
import overhead
import pandas as pd
import pipeline_latency

import cassia
from cassia.testing import FakeLLMServer


def overhead_rows(calls: int = 300, repeats: int = 3) -> list[dict]:
    rows = []
    with overhead.fake_server(in_process=False) as url:
        for concurrency in (1, 8):
            bare, mine = (0.0, float("inf")), (0.0, float("inf"))
            for _ in range(repeats):
                b = asyncio.run(overhead.bare_rate(url, calls, concurrency))
                c = asyncio.run(overhead.cassia_rate(url, calls, concurrency))
                bare = (max(bare[0], b[0]), min(bare[1], b[1]))
                mine = (max(mine[0], c[0]), min(mine[1], c[1]))
            extra_us = (1 / mine[0] - 1 / bare[0]) * 1e6
            rows.append({"benchmark": "per-call overhead", "setting": f"{concurrency} in flight, zero latency",
                         "measured": f"{mine[0]:.0f} calls/s vs bare {bare[0]:.0f} (+{extra_us:.0f} us/call)",
                         "bound or target": f"CPU/call {mine[1]:.0f} us vs {bare[1]:.0f} us bare",
                         "ratio": round(bare[0] / mine[0], 2)})
    return rows


def latency_rows(sizes: list[int], latency: float, concurrency: int) -> list[dict]:
    rows = []
    for n in sizes:
        for kind in ("batch", "pipeline"):
            m = pipeline_latency.measure(kind, n, latency, concurrency, 2 * concurrency)
            rows.append({"benchmark": f"{kind} wall time", "setting": f"{n} clusters, {latency:g} s/call, "
                         f"{concurrency} in flight",
                         "measured": f"{m['wall_s']:.1f} s; {m['calls_per_cluster']:.1f} calls, "
                                     f"{m['tokens_per_cluster']:.0f} tokens per cluster",
                         "bound or target": f"lower bound {m['lower_bound_s']:.1f} s", "ratio": m["ratio"]})
    return rows


def cache_row(n: int, latency: float) -> dict:
    markers = pipeline_latency.synthetic_markers(n)
    with FakeLLMServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.latency = latency
        provider_args = dict(provider=server.url, model="fake-model", max_workers=32, progress=False,
                             tissue="blood", cache_path=Path(tmp) / "cache.sqlite")
        started = time.perf_counter()
        cassia.run_batch(markers, out_dir=Path(tmp) / "first", **provider_args)
        first = time.perf_counter() - started
        before = len(server.requests)
        started = time.perf_counter()
        again = cassia.run_batch(markers, out_dir=Path(tmp) / "second", **provider_args)
        second = time.perf_counter() - started
        reached = len(server.requests) - before
        assert all(r.status == "ok" for r in again.results)
    return {"benchmark": "cache-hit rerun", "setting": f"{n} clusters, {latency:g} s/call first time",
            "measured": f"{second:.2f} s rerun ({reached} requests reached the server)",
            "bound or target": f"first run {first:.1f} s; target 0 requests", "ratio": round(second / first, 3)}


def memory_row(clusters: int) -> dict:
    m = memory_10k.measure(clusters, "batch", "offline", 32)
    return {"benchmark": "peak memory", "setting": f"{clusters} clusters, batch, offline backend",
            "measured": f"{m['peak_mb']:.0f} MB peak RSS (baseline {m['baseline_mb']:.0f} MB, {m['wall_s']:.0f} s)",
            "bound or target": "target < 500 MB", "ratio": round(m["peak_mb"] / 500, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = overhead_rows(calls=100 if args.quick else 300, repeats=1 if args.quick else 3)
    rows += latency_rows([100] if args.quick else [100, 1000], args.latency, args.concurrency)
    rows += [cache_row(100, args.latency)]
    rows += [memory_row(2000 if args.quick else 10_000)]
    with pd.option_context("display.width", 250, "display.max_colwidth", 90):
        print(pd.DataFrame(rows).to_string(index=False))
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
