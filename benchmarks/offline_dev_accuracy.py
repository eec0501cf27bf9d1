"""The offline knowledge-base annotator on the GPTCelltype development benchmark, side by side.

    .venv/bin/python benchmarks/offline_dev_accuracy.py [--out DIR] [--rows N]

Runs :func:`cassia.evaluate.run_benchmark` with ``provider="offline"`` in pipeline mode on the
790 clusters of ``../shared/data/gptcelltype/benchmark_dev.csv`` (top-10 markers each, tissue
given per row), grades each answer against the manual label with :func:`cassia.evaluate.grade`,
and prints the mean score next to the other methods of the same rows: their **human grades**
(``*_agreement``, as published) and our grader's grades of their labels. This is measurement
only: nothing here (or anywhere) tunes the knowledge base on these rows.

The offline answer is graded three ways: the top subtype ("detailed", the harness default: the
most specific call), the general type, and the better of the two ("best", lenient). The report
and tables land in ``--out``. ``--databases off`` measures the curated knowledge base alone
(by default the marker databases of ``../shared/data/markerdb`` count, see
:mod:`cassia.knowledge.database_call`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from markerdb_env import use_marker_databases  # noqa: E402  (benchmarks/markerdb_env.py)

from cassia.evaluate import accuracy_table, run_benchmark
from cassia.evaluate.harness import regrade

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gptcelltype" / "benchmark_dev.csv"
OTHERS = {"GPT-4 (Aug 2023)": "gpt4aug3", "GPT-3.5": "gpt3.5aug3", "CellMarker2.0": "CellMarker2.0",
          "ScType": "ScType", "SingleR": "SingleR"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=None, help="benchmark folder (default: a temporary one)")
    parser.add_argument("--rows", type=int, default=None, help="only the first N rows (quick look)")
    parser.add_argument("--databases", choices=("auto", "off"), default="auto",
                        help="weigh the marker databases (../shared/data/markerdb) or not")
    args = parser.parse_args(argv)
    print(use_marker_databases(args.databases))
    table = pd.read_csv(args.data)
    if args.rows:
        table = table.head(args.rows)
    out = args.out or Path(tempfile.mkdtemp(prefix="cassia-offline-dev-"))
    started = time.perf_counter()
    result = run_benchmark(
        table, provider="offline", mode="pipeline", out_dir=out, marker_col="marker",
        gold_col="manual_annotation", n_genes=10, predict="detailed", method="offline (detailed)",
        compare_scores={f"{k} [human]": f"{v}_agreement" for k, v in OTHERS.items()},
        compare_labels={f"{k} [grader]": f"{v}_annotation" for k, v in OTHERS.items()},
    )
    own = result.graded[result.graded["method"] == "offline (detailed)"]
    graded = {"detailed": result.graded,
              "general": regrade(own, "general", method="offline (general)"),
              "best": regrade(own, "best", method="offline (best, lenient)")}
    seconds = time.perf_counter() - started
    everything = pd.concat(graded.values(), ignore_index=True)
    print(f"{len(table)} clusters, graded 3 ways, {seconds:.1f} s; outputs in {out}")
    columns = ["method", "clusters", "graded", "mean_score", "fully", "partially", "incorrect", "not_graded"]
    print(accuracy_table(everything, ["method"])[columns].to_string(index=False))
    print("\nper dataset:")
    print(accuracy_table(everything, ["method", "dataset"])[["method", "dataset"] + columns[1:5]].to_string(index=False))
    unknown = own["predicted"].fillna("").str.strip().str.lower().isin({"unknown", ""})
    print(f"\nabstention (answer Unknown): {unknown.mean():.1%} of clusters "
          f"({', '.join(f'{k} {v:.1%}' for k, v in unknown.groupby(own['dataset']).mean().items())})")
    cal = result.calibration if result is not None else None
    if cal is not None:
        print(f"\ncalibration of the offline Scorer against the 'detailed' grades: {cal.describe()}; "
              f"AUC {cal.auc}, Spearman {cal.spearman}")
    print(f"\nreport: {out / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
