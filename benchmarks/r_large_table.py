"""The R path against the command line on a large marker table: time and peak memory.

    .venv/bin/python benchmarks/r_large_table.py [--rows 500000] [--clusters 100] [--repeat 1]

Makes a FindAllMarkers-shaped table (``--rows`` rows over ``--clusters`` clusters, random
statistics, fixed seed) as a CSV, then annotates it with the offline annotator twice:

- command line: ``cassia annotate --input table.csv --provider offline`` in its own process;
- R: ``Rscript`` reads the CSV into a data frame, then ``runCASSIA_batch(df, provider =
  "offline")`` sends it to the engine (in the R process, through reticulate) and returns the
  summary. The figure is the time of that call alone; reading the CSV into R is the user's own
  step and is shown apart.

Peak memory is each process's high-water mark (``ru_maxrss`` of the child, measured from a
fresh launcher process so no other child counts); for R it includes R, the data frame and the
embedded Python engine. Needs R with the CASSIA package (``scripts/setup.sh``). Prints the
figures and the R/CLI ratios; the target is a ratio of at most 1.5 for both.
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

import numpy as np
import pandas as pd

# Runs one command and prints its wall time and peak RSS (MB) as JSON: a fresh process, so
# RUSAGE_CHILDREN holds that one command only.
LAUNCHER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"status": done.returncode, "wall_s": wall, "peak_mb": peak,
                  "stdout": done.stdout[-4000:], "stderr": done.stderr[-4000:]}))
"""

R_SCRIPT = r"""
args <- commandArgs(TRUE)
library(CASSIA)
read_time <- system.time(df <- utils::read.csv(args[[1]], colClasses = c(cluster = "character")))[["elapsed"]]
run_time <- system.time(res <- runCASSIA_batch(df, provider = "offline", out_dir = args[[2]], progress = FALSE,
                                               max_workers = 4))[["elapsed"]]
cat(sprintf("CASSIA-BENCH %f %f %d\n", read_time, run_time, nrow(res)))
"""


def make_table(path: Path, rows: int, clusters: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    per = rows // clusters
    genes = [f"GENE{i}" for i in range(per)]
    frame = pd.DataFrame({
        "p_val": rng.uniform(0, 1e-3, rows),
        "avg_log2FC": rng.exponential(1.0, rows),
        "pct.1": rng.uniform(0, 1, rows),
        "pct.2": rng.uniform(0, 1, rows),
        "p_val_adj": rng.uniform(0, 1e-2, rows),
        "cluster": np.repeat([str(c) for c in range(clusters)], per)[:rows],
        "gene": (genes * clusters)[:rows],
    })
    frame.to_csv(path, index=False)


def measure(command: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True, env=env,
                          check=True)
    result = json.loads(done.stdout)
    if result["status"] != 0:
        raise SystemExit(f"{command[0]} failed ({result['status']}):\n{result['stderr']}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best time is reported")
    args = parser.parse_args()
    cassia = Path(sys.executable).parent / "cassia"
    env = dict(os.environ, CASSIA_CACHE_DIR=tempfile.mkdtemp(prefix="cassia-bench-cache-"))
    with tempfile.TemporaryDirectory(prefix="cassia-r-bench-") as tmp:
        work = Path(tmp)
        table = work / "markers.csv"
        make_table(table, args.rows, args.clusters)
        script = work / "bench.R"
        script.write_text(R_SCRIPT, encoding="utf-8")
        print(f"table: {args.rows:,} rows, {args.clusters} clusters ({table.stat().st_size / 1e6:.0f} MB CSV); "
              f"offline annotator, best of {args.repeat}")
        cli, r = [], []
        for i in range(args.repeat):
            start = time.perf_counter()
            cli.append(measure([str(cassia), "--quiet", "annotate", "--input", str(table), "--provider", "offline",
                                "--out", str(work / f"cli-{i}")], env))
            cli[-1]["call_s"] = time.perf_counter() - start
            run = measure(["Rscript", str(script), str(table), str(work / f"r-{i}")], env)
            line = next(x for x in run["stdout"].splitlines() if x.startswith("CASSIA-BENCH"))
            _, read_s, call_s, n = line.split()
            run.update(read_s=float(read_s), call_s=float(call_s), clusters=int(n))
            r.append(run)
        best_cli = min(cli, key=lambda x: x["wall_s"])
        best_r = min(r, key=lambda x: x["call_s"])
        print(f"CLI  cassia annotate:   {best_cli['wall_s']:6.1f} s (whole process)   peak {best_cli['peak_mb']:7.0f} MB")
        print(f"R    runCASSIA_batch(): {best_r['call_s']:6.1f} s (the call)        peak {best_r['peak_mb']:7.0f} MB "
              f"(whole R process; read.csv took {best_r['read_s']:.1f} s, the Rscript {best_r['wall_s']:.1f} s)")
        print(f"R / CLI: time {best_r['call_s'] / best_cli['wall_s']:.2f}x, "
              f"memory {best_r['peak_mb'] / best_cli['peak_mb']:.2f}x (target: at most 1.5x each)")


if __name__ == "__main__":
    main()
