"""Does agreement between annotators predict a correct annotation? CS and consensus on real answers.

Data: ``../shared/data/gptcelltype/benchmark_dev.csv`` (Hou & Ji, Nature Methods 2024): 790
clusters, each annotated by three GPT versions (GPT-4 Aug 2023, GPT-4 Mar 2023, GPT-3.5), with
a human grade per answer against the manual label (1 full match, 0.5 partial, 0 mismatch).

The three GPT answers per cluster play the role of three runs (one name each, no subtype), so
``cassia.workflows.uncertainty.similarity_score`` on ontology keys gives CS_CL and ``cassia.workflows.consensus``
gives the vote status. Reported: clusters and the mean human grade of the consensus label per
status and per CS band, and the AUROC of CS_CL for telling a fully correct consensus (grade 1)
from the rest. The grade of the consensus label is the grade of the first GPT answer whose
ontology key equals the consensus key. No LLM is called.

Run from the repository root::

    .venv/bin/python benchmarks/uncertainty_gptcelltype.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd

from cassia.workflows.consensus import consensus
from cassia.workflows.uncertainty import cl_key, similarity_score

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gptcelltype" / "benchmark_dev.csv"
METHODS = ("gpt4aug3", "gpt4mar23", "gpt3.5aug3")


def auroc(scores: list[float], positive: list[bool]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    table = pd.read_csv(args.data, dtype=str, keep_default_na=False, na_values=[""])
    started = time.perf_counter()

    runs = [pd.DataFrame({"Cluster ID": [str(i) for i in range(len(table))],
                          "Predicted General Cell Type": table[f"{m}_annotation"]}) for m in METHODS]
    votes = consensus(runs, labels=list(METHODS))
    rows = []
    for i, record in table.iterrows():
        names = [record[f"{m}_annotation"] for m in METHODS]
        grades = [pd.to_numeric(record[f"{m}_agreement"], errors="coerce") for m in METHODS]
        keys = [cl_key(n) if isinstance(n, str) else None for n in names]
        agreement = similarity_score([(k, None) for k in keys])
        if agreement.score is None:
            continue
        grade = next((g for k, g in zip(keys, grades) if k == agreement.general), float("nan"))
        rows.append({"cs": agreement.score, "status": votes.loc[i, "Status"], "grade": grade})
    frame = pd.DataFrame(rows).dropna(subset=["grade"])
    elapsed = time.perf_counter() - started

    print(f"{len(frame)} clusters with three GPT answers and a graded consensus label ({elapsed:.1f} s)")
    print("\nby consensus status:")
    for status, part in frame.groupby("status"):
        full = (part["grade"] == 1).mean()
        print(f"  {status:12s} {len(part):4d} clusters  mean grade {part['grade'].mean():.3f}  fully correct {full:.1%}")
    print("\nby CS_CL (general type only, default weights):")
    bands = [(0, 50), (50, 75), (75, 100), (100, 101)]
    for low, high in bands:
        part = frame[(frame["cs"] >= low) & (frame["cs"] < high)]
        if len(part):
            label = "100" if low == 100 else f"[{low}, {high})"
            print(f"  CS {label:10s} {len(part):4d} clusters  mean grade {part['grade'].mean():.3f}")
    print(f"\nAUROC of CS_CL for a fully correct consensus label: "
          f"{auroc(frame['cs'].tolist(), (frame['grade'] == 1).tolist()):.3f}")
    uncertain = frame[frame["cs"] < 75]
    print(f"flagged uncertain (CS < 75): {len(uncertain)} clusters, mean grade {uncertain['grade'].mean():.3f} "
          f"vs {frame[frame['cs'] >= 75]['grade'].mean():.3f} for the rest "
          f"(median CS {statistics.median(frame['cs']):.1f})")


if __name__ == "__main__":
    main()
