"""Agreement of ``cassia.evaluate.grade`` with the human grades of the GPTCelltype benchmark.

    .venv/bin/python benchmarks/grader_agreement.py [--data PATH] [--gold id|label|both] [--show 20]

For each of the six methods in ``benchmark_dev.csv`` (GPT-4 Aug/Mar 2023, GPT-3.5, CellMarker2.0,
SingleR, ScType) the method's free-text label is graded against the manual label and compared
with the grade the authors gave it by hand (``*_agreement``). Prints exact agreement overall
(ungraded rows count as disagreement), coverage, agreement on graded rows, per method, the
confusion matrix (human x grader), per rule, per dataset, and a cross-dataset check: for each
dataset, the grader as it is against the grader whose per-rule grades were fitted to the human
grades of the other dataset (Tabula Sapiens <-> Azimuth), so an adjustment that only fits one
dataset's graders shows up as a loss on the other. ``--gold id`` gives the gold as the curated
manual CL ID where there is one (default), ``label`` as the manual label text. ``--show N``
lists N disagreements.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

from cassia.evaluate.agreement import grader_agreement

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gptcelltype" / "benchmark_dev.csv"


def report(gold: str, data: Path, show: int) -> None:
    started = time.perf_counter()
    result = grader_agreement(data, gold=gold)
    seconds = time.perf_counter() - started
    print(f"== gold given as {'CL ID where curated, else label' if gold == 'id' else 'manual label text'} "
          f"({result.n} graded rows, {seconds:.1f} s)")
    print(f"exact agreement {result.overall:.1%}   coverage {result.coverage:.1%}   "
          f"agreement on graded rows {result.graded_agreement:.1%}")
    print(result.per_method().to_string(index=False))
    print("per dataset:")
    print(result.per_dataset().to_string())
    print("cross-dataset check: rule grades fitted on one dataset, agreement on the other:")
    print(result.cross_dataset().to_string(index=False))
    print("confusion (rows: human grade, columns: grader):")
    print(result.confusion().to_string())
    print("per rule:")
    print(result.rule_table().to_string())
    if show:
        rows = result.rows
        wrong = rows[rows["score"] != rows["human"]].head(show)
        with pd.option_context("display.width", 200, "display.max_colwidth", 45):
            print(wrong[["method", "predicted", "gold", "human", "score", "rule"]].to_string(index=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--gold", choices=("id", "label", "both"), default="both")
    parser.add_argument("--show", type=int, default=0)
    args = parser.parse_args(argv)
    for gold in ("id", "label") if args.gold == "both" else (args.gold,):
        report(gold, args.data, args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
