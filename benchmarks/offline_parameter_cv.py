"""Dataset-wise cross-validation of the offline annotator's scoring parameters.

    .venv/bin/python benchmarks/offline_parameter_cv.py

The abstention threshold (``MIN_SCORE``) is calibrated on random-gene lists, never on graded
rows (``benchmarks/offline_null_calibration.py``). The other parameters of
:mod:`cassia.knowledge.score` were set from first principles; this script checks whether the
dev rows would have chosen differently, and whether such a choice carries over between the two
datasets of ``benchmark_dev.csv``: for each parameter and each value of a small grid it grades
the knowledge base's detailed answer (top-10 markers, tissue given) on Tabula Sapiens and on
Azimuth, picks the best value on one dataset and reports its grade on the other, next to the
value the code ships. The marker-database parameters (:mod:`cassia.knowledge.database_call`,
whose ``MIN_EVIDENCE`` is calibrated on random genes) are checked the same way when the tables
are found (``--databases off`` skips them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from markerdb_env import use_marker_databases  # noqa: E402  (benchmarks/markerdb_env.py)

from cassia.evaluate import grade
from cassia.knowledge import call_cell_type, database_call, score

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gptcelltype" / "benchmark_dev.csv"
GRID = [(score, "FALLBACK_WEIGHT", (0.5, 0.75, 1.0)), (score, "NORM_MARKERS", (8, 12, 1000)),
        (score, "PROGRAM_WEIGHT", (0.25, 0.5, 1.0)),
        # marker-database evidence (cassia.knowledge.database_call; needs the tables)
        (database_call, "MIN_EVIDENCE", (1.4, 1.7, 2.0)), (database_call, "DB_GENES", (5, 7, 10))]


def detailed_answer(genes: list[str], tissue: str) -> str:
    """What the offline Formatter reports as the detailed type (its top subtype, else the call)."""
    call = call_cell_type(genes, tissue=tissue)
    if not call.confident or call.best is None:
        return "Unknown"
    return (list(call.subtypes) or [call.best.name])[0]


def mean_grades(table: pd.DataFrame) -> dict[str, float]:
    scores = [grade(detailed_answer([g.strip() for g in r.marker.split(",")][:10], r.tissue),
                    r.manual_annotation).score for r in table.itertuples()]
    graded = table.assign(score=scores).dropna(subset=["score"])
    return graded.groupby("dataset")["score"].mean().round(4).to_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", choices=("auto", "off"), default="auto",
                        help="weigh the marker databases (../shared/data/markerdb) or not")
    args = parser.parse_args(argv)
    print(use_marker_databases(args.databases))
    table = pd.read_csv(DATA)
    datasets = sorted(table["dataset"].unique())
    for module, name, values in GRID:
        if module is database_call and args.databases == "off":
            continue
        shipped = getattr(module, name)
        rows = []
        for value in sorted(set(values) | {shipped}):  # the shipped value is always measured
            setattr(module, name, value)
            score._cached_default_index.cache_clear()
            rows.append({"value": value, **mean_grades(table)})
        setattr(module, name, shipped)
        score._cached_default_index.cache_clear()
        found = pd.DataFrame(rows).set_index("value")
        print(f"== {name} (shipped {shipped})")
        print(found.to_string())
        for train in datasets:
            test = next(d for d in datasets if d != train)
            chosen = found[train].idxmax()
            print(f"  chosen on {train}: {chosen} -> {test} {found.loc[chosen, test]:.4f} "
                  f"(shipped value: {found.loc[shipped, test]:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
