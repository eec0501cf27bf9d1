"""When is a marker list indistinguishable from random genes? Calibrating the offline annotator's abstention.

    .venv/bin/python benchmarks/offline_null_calibration.py [--lists 2000] [--seed 0]

The knowledge-base annotator (:func:`cassia.knowledge.call_cell_type`) answers "Unknown" when its
best candidate's evidence is no better than what random genes reach. This script measures that
evidence (the best candidate's score and its number of matched markers) on lists that carry no
cell type, never on graded rows:

- ``gptcelltype random``: the 50 random-gene lists of ``simulated_null.csv`` (Hou & Ji 2024);
- ``expressed random (N)``: lists of N = 10 to 100 genes drawn at random from every gene measured
  in the three real FindAllMarkers tables of ``../shared/data/markers`` (genes a single-cell
  experiment reports): the score a call needs grows with the length of the list
  (``MIN_SCORE_BY_LENGTH``), because chance hits add up;
- ``shuffled markers``: lists drawn from the pooled top-10 markers of all dev clusters (genes only,
  labels unused): each gene is a real marker of *some* cluster, so this null is much harder than
  random genes and is reported, not targeted.

It prints the score quantiles of each null, the Unknown rate of each null under the thresholds in
:mod:`cassia.knowledge.call` (``MIN_SCORE``, ``MIN_MARKERS``), the threshold that would leave
99% of the random-gene lists Unknown, and, as a positive control, the call rate on the 50 real
single-type lists of ``simulated_null.csv``.

With the marker databases (``../shared/data/markerdb`` unless ``$CASSIA_DATA_DIR`` says otherwise)
it also calibrates :mod:`cassia.knowledge.database_call`: ``DB_NULL``, the databases' best score
that 1 in 100 lists of 10 expressed random genes reach, and ``MIN_EVIDENCE``, the combined
evidence that leaves ``TARGET_COMBINED`` of every random-gene null Unknown; then the Unknown rate
of each null with everything as shipped.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
from pathlib import Path

import pandas as pd

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
os.environ.setdefault("CASSIA_DATA_DIR", str(SHARED / "markerdb"))

from cassia.knowledge import call_cell_type, database_call  # noqa: E402
from cassia.knowledge.call import MIN_MARKERS, MIN_SCORE, MIN_SCORE_BY_LENGTH, min_score  # noqa: E402
from cassia.knowledge.markerdb import local_index  # noqa: E402

TARGET = 0.99  # share of random-gene lists that must stay Unknown (the goal is >= 95%: a margin)
TARGET_COMBINED = 0.98  # the same for the knowledge base and the databases together
LENGTHS = (10, 15, 20, 30, 50, 100)  # list lengths of the expressed-random nulls


def best_evidence(genes: list[str]) -> tuple[float, int, bool]:
    call = call_cell_type(genes, databases=False)
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
        **{f"expressed random ({k})": [rng.sample(universe_list, k) for _ in range(n if k <= 15 else n // 2)]
           for k in LENGTHS},
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
          + ", ".join(f"{k} {v:.3f}" for k, v in needed.items()))
    print("by list length (recommended: rounded up to 0.01, never falling with length) against the shipped "
          f"MIN_SCORE_BY_LENGTH {MIN_SCORE_BY_LENGTH} (MIN_SCORE {MIN_SCORE} at 50 genes):")
    floor = 0.0
    for k in LENGTHS:
        floor = max(floor, math.ceil(needed[f"expressed random ({k})"] * 100) / 100)
        print(f"  {k:>3} genes: needed {needed[f'expressed random ({k})']:.3f}, recommended {floor:.2f}, "
              f"shipped {min_score(k):.2f}")
    sweep = pd.DataFrame([{"min_score": t, **{name: round(float(1 - ((f["matched"] >= MIN_MARKERS) & (f["score"] >= t)).mean()), 4)
                                               for name, f in frames.items()}} for t in (0.0, 0.1, 0.15, 0.2, 0.25)])
    print("Unknown rate of each null by one length-blind score threshold:")
    print(sweep.to_string(index=False))
    null = pd.read_csv(SHARED / "gptcelltype" / "simulated_null.csv")
    real = null[null["celltype"] != "random"]
    called = [best_evidence([g.strip() for g in genes.split(",")])[2] for genes in real["gene"]]
    print(f"positive control: {sum(called)}/{len(called)} real single-type lists of simulated_null.csv get a call "
          "(knowledge base alone)")
    calibrate_databases(null_lists(args.lists, args.seed), real)
    return 0


def calibrate_databases(nulls: dict[str, list[list[str]]], real: pd.DataFrame) -> None:
    index = local_index()
    if index is None:
        print("marker databases not found (set CASSIA_DATA_DIR): database evidence not calibrated")
        return
    parts = {}
    for name, lists in nulls.items():
        rows = []
        for genes in lists:
            call = call_cell_type(genes, databases=False)
            kb_part, db_part, retrieved = database_call.evidence_parts(genes, call.best, index, species=call.species,
                                                                       tissue=None)
            db_best = next((c.score for c in retrieved if c.cl_id), 0.0)
            rows.append({"kb_confident": call.confident, "kb_part": kb_part, "db_part": db_part, "db_best": db_best})
        parts[name] = pd.DataFrame(rows)
    db_null = float(parts["expressed random (10)"]["db_best"].quantile(0.99))
    print(f"\nmarker databases: best score on 1 in 100 lists of 10 expressed random genes {db_null:.3f} "
          f"(DB_NULL shipped {database_call.DB_NULL})")
    needed = {}
    for name, f in parts.items():
        if name == "shuffled markers":
            continue
        evidence = (f["kb_part"] + f["db_part"]).where(~f["kb_confident"], 0.0)
        share_called = 1 - TARGET_COMBINED - f["kb_confident"].mean()  # what the databases may add
        needed[name] = float(evidence.quantile(1 - max(share_called, 0.0), interpolation="higher"))
    print(f"combined evidence a call needs so that {TARGET_COMBINED:.0%} of each random-gene null stays Unknown: "
          + ", ".join(f"{k} {v:.2f}" for k, v in needed.items())
          + f"; recommended MIN_EVIDENCE (the largest, rounded up to 0.1): {math.ceil(max(needed.values()) * 10) / 10:.1f}"
          f" (shipped {database_call.MIN_EVIDENCE})")
    rates = {name: round(1 - sum(call_cell_type(g).confident for g in lists) / len(lists), 4)
             for name, lists in nulls.items()}
    print("Unknown rate of each null as shipped (knowledge base + marker databases): "
          + ", ".join(f"{k} {v:.1%}" for k, v in rates.items()))
    called = [call_cell_type([g.strip() for g in genes.split(",")]).confident for genes in real["gene"]]
    print(f"positive control: {sum(called)}/{len(called)} real single-type lists get a call (with the databases)")


if __name__ == "__main__":
    sys.exit(main())
