"""Peak memory of a 10,000-cluster run (results are streamed to disk by the run store).

    .venv/bin/python benchmarks/memory_10k.py [--clusters 10000] [--kind batch|pipeline]
                                              [--backend offline|fake] [--workers 32]

The run happens in a child process so that its peak resident set size is the run's alone
(``VmHWM``, else ``resource.getrusage(RUSAGE_SELF).ru_maxrss``); the child also reports its
peak right after ``import cassia`` (the baseline). ``--backend offline`` uses the offline
knowledge-base annotator (no network, deterministic); ``fake`` the fake OpenAI-compatible
server at zero latency, started as its own process so its request log is not counted.
Target: peak under 400 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENES = ["CD3D", "CD3E", "CD2", "IL7R", "MS4A1", "CD79A", "LYZ", "CD14", "GNLY", "NKG7", "PPBP", "FCGR3A",
         "EPCAM", "KRT8", "COL1A1", "PECAM1", "VWF", "ACTA2", "PTPRC", "HBB"]


def _rss_mb() -> float:
    """Peak RSS of this process in MB.

    ``getrusage`` keeps the high-water mark across ``exec`` on Linux, so a child started from a
    big parent would report the parent's size; ``VmHWM`` (this process's own high-water mark)
    is used where the kernel provides it, ``ru_maxrss`` otherwise.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def child(args: argparse.Namespace) -> None:
    import pandas as pd

    import cassia

    baseline = _rss_mb()
    rows = [{"cluster": f"c{i:05d}", "markers": ", ".join(GENES[i % 7:] + GENES[: i % 7])}
            for i in range(args.clusters)]
    markers = pd.DataFrame(rows)
    provider = "offline"
    if args.url:
        from cassia.providers import get_provider

        provider = get_provider(args.url, "fake-model", max_concurrency=args.workers)
    runner = cassia.run_pipeline if args.kind == "pipeline" else cassia.run_batch
    extra = {"report": False} if args.kind == "pipeline" else {}
    started = time.perf_counter()
    result = runner(markers, provider=provider, out_dir=Path(args.out), max_workers=args.workers,
                    progress=False, use_cache=False, tissue="blood", **extra)
    wall = time.perf_counter() - started
    ok = result.manifest["counts"]["ok"]  # from the manifest: loading every result would inflate the peak
    print(json.dumps({"clusters": args.clusters, "ok": ok, "wall_s": round(wall, 1),
                      "baseline_mb": round(baseline, 1), "peak_mb": round(_rss_mb(), 1),
                      "results_jsonl_mb": round((Path(args.out) / "results.jsonl").stat().st_size / 2**20, 1)}))


def measure(clusters: int = 10_000, kind: str = "batch", backend: str = "offline", workers: int = 32) -> dict:
    """Run the child and return its figures (dict with peak_mb, baseline_mb, wall_s, ...)."""
    server = None
    url = None
    if backend == "fake":
        server = subprocess.Popen([sys.executable, "-m", "cassia.testing.fake_server", "--port", "0", "--latency", "0"],
                                  stdout=subprocess.PIPE, text=True)
        url = server.stdout.readline().strip()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            command = [sys.executable, __file__, "--child", "--clusters", str(clusters), "--kind", kind,
                       "--workers", str(workers), "--out", str(Path(tmp) / "run")]
            if url:
                command += ["--url", url]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    return {"backend": backend, "kind": kind, **figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=10_000)
    parser.add_argument("--kind", choices=("batch", "pipeline"), default="batch")
    parser.add_argument("--backend", choices=("offline", "fake"), default="offline")
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    figures = measure(args.clusters, args.kind, args.backend, args.workers)
    print(json.dumps(figures, indent=2))
    print(f"peak RSS {figures['peak_mb']:.0f} MB for {figures['clusters']} clusters "
          f"({'under' if figures['peak_mb'] < 400 else 'OVER'} the 400 MB target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
