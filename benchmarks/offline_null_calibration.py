"""When is a marker list indistinguishable from random genes? Calibrating the offline annotator's abstention.

    .venv/bin/python benchmarks/offline_null_calibration.py [--lists 2000] [--seed 0]

The knowledge-base annotator (:func:`cassia.knowledge.call_cell_type`) answers "Unknown" when its
best candidate's evidence is no better than what random genes reach. This script measures that
evidence (the best candidate's score and its number of matched markers) on lists that carry no
cell type, never on graded rows:

- ``gptcelltype random``: the 50 random-gene lists of ``simulated_null.csv`` (Hou & Ji 2024);
- ``expressed random (N)``: lists of N = 10 and 50 genes drawn at random from every gene measured
  in the three real FindAllMarkers tables of ``../shared/data/markers`` (genes a single-cell
  experiment reports);
- ``shuffled markers``: lists drawn from the pooled top-10 markers of all dev clusters (genes only,
  labels unused): each gene is a real marker of *some* cluster, so this null is much harder than
  random genes and is reported, not targeted.

It prints the score quantiles of each null, the Unknown rate of each null under the thresholds in
:mod:`cassia.knowledge.call` (``MIN_SCORE``, ``MIN_MARKERS``), the threshold that would leave
99% of the random-gene lists Unknown, and, as a positive control, the call rate on the 50 real
single-type lists of ``simulated_null.csv``.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

import pandas as pd

from cassia.knowledge import call_cell_type
from cassia.knowledge.call import MIN_MARKERS, MIN_SCORE

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TARGET = 0.99  # share of random-gene lists that must stay Unknown (the goal is >= 95%: a margin)


def best_evidence(genes: list[str]) -> tuple[float, int, bool]:
    call = call_cell_type(genes)
    best = call.best
    return (best.score if best else 0.0, len(best.matched) if best else 0, call.confident)


def null_lists(n: int, seed: int) -> dict[str, list[list[str]]]:
    rng = random.Random(seed)
    null = pd.read_csv(SHARED / "gptcelltype" / "simulated_null.csv")
    gpt_random = [g.split(",") for g in null.loc[null["celltype"] == "random", "gene"]]
    universe: set[str] = set()
    for file in sorted((SHARED / "markers").glob("*.csv")):
        universe.update(str(g) for g in pd.read_csv(file)["gene"].dropna())
    universe_list = sorted(universe)
    dev = pd.read_csv(SHARED / "gptcelltype" / "benchmark_dev.csv")
    pool = [g.strip() for m in dev["marker"] for g in m.split(",")[:10] if g.strip()]
    return {
        "gptcelltype random": gpt_random,
        "expressed random (10)": [rng.sample(universe_list, 10) for _ in range(n)],
        "expressed random (50)": [rng.sample(universe_list, 50) for _ in range(n // 2)],
        "shuffled markers": [rng.sample(pool, 10) for _ in range(n)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lists", type=int, default=2000, help="lists per simulated null")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows, frames = [], {}
    for name, lists in null_lists(args.lists, args.seed).items():
        found = pd.DataFrame([best_evidence(g) for g in lists], columns=["score", "matched", "called"])
        frames[name] = found
        q = found["score"].quantile([0.5, 0.9, 0.95, 0.99])
        rows.append({"null": name, "lists": len(found), "median": q[0.5], "q90": q[0.9], "q95": q[0.95],
                     "q99": q[0.99], f">={MIN_MARKERS} markers": (found["matched"] >= MIN_MARKERS).mean(),
                     "unknown_rate": 1 - found["called"].mean()})
    table = pd.DataFrame(rows)
    print(f"abstention thresholds in use: MIN_SCORE {MIN_SCORE}, MIN_MARKERS {MIN_MARKERS}")
    print(table.round(4).to_string(index=False))
    # per random-gene null: the score that only (1 - TARGET) of its lists reach with enough markers
    needed = {name: float((f["score"] * (f["matched"] >= MIN_MARKERS)).quantile(TARGET, interpolation="higher"))
              for name, f in frames.items() if name != "shuffled markers"}
    print(f"score a call needs so that {TARGET:.0%} of each random-gene null stays Unknown: "
          + ", ".join(f"{k} {v:.3f}" for k, v in needed.items())
          + f"; recommended MIN_SCORE (the largest, rounded up to 0.01): {math.ceil(max(needed.values()) * 100) / 100:.2f}")
    sweep = pd.DataFrame([{"min_score": t, **{name: round(float(1 - ((f["matched"] >= MIN_MARKERS) & (f["score"] >= t)).mean()), 4)
                                               for name, f in frames.items()}} for t in (0.1, 0.15, 0.2, 0.25, 0.3)])
    print("Unknown rate of each null by MIN_SCORE:")
    print(sweep.to_string(index=False))
    null = pd.read_csv(SHARED / "gptcelltype" / "simulated_null.csv")
    real = null[null["celltype"] != "random"]
    called = [best_evidence([g.strip() for g in genes.split(",")])[2] for genes in real["gene"]]
    print(f"positive control: {sum(called)}/{len(called)} real single-type lists of simulated_null.csv get a call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
