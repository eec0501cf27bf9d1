"""Mixed-population simulation with real marker tables (offline backend by default).

    .venv/bin/python benchmarks/mixed_simulation.py [--provider offline] [--model M] [--out DIR]

Mixes every pair of differently-typed clusters of two real FindAllMarkers tables
(``../shared/data/markers``: pbmc3k, 9 clusters; Tabula Sapiens large intestine, 6 clusters)
at 50:50, 60:40, 70:30 and 80:20 with 30, 50 and 70 markers, runs the pipeline on each
mixture (:func:`cassia.evaluate.simulate.run_simulation`), and prints detection and dominant-type rates
per share and marker count. It also runs the GPTCelltype paper's 99 simulated mixtures and
99 random-gene lists. Tables, per-mixture rows and ``simulation.html`` land in ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from markerdb_env import use_marker_databases  # noqa: E402  (benchmarks/markerdb_env.py)

from cassia.evaluate.simulate import reference_summary, run_simulation

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
DATASETS = {
    "pbmc3k": ("pbmc3k_findallmarkers.csv", "PBMC", {
        "0": "naive CD4-positive T cell", "1": "CD14-positive monocyte", "2": "memory CD4-positive T cell",
        "3": "B cell", "4": "CD8-positive, alpha-beta T cell", "5": "CD16-positive monocyte",
        "6": "natural killer cell", "7": "dendritic cell", "8": "platelet"}),
    "large_intestine": ("large_intestine_findallmarkers.csv", "large intestine", {
        "cd8-positive, alpha-beta t cell (mixed)": "CD8-positive, alpha-beta T cell",
        "intestinal crypt stem cell": "intestinal crypt stem cell",
        "intestinal enteroendocrine cell": "intestinal enteroendocrine cell",
        "monocyte (inaccurate annotation)": "glial cell",  # its markers are glial (SOX10, PLP1)
        "plasma cell": "plasma cell",
        "transit amplifying cell of large intestine": "transit amplifying cell of large intestine"}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", default="offline")
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--databases", choices=("auto", "off"), default="auto",
                        help="offline annotator: weigh the marker databases (../shared/data/markerdb) or not")
    args = parser.parse_args(argv)
    print(use_marker_databases(args.databases))
    out = args.out or Path(tempfile.mkdtemp(prefix="cassia-simulation-"))
    for i, (name, (file, tissue, labels)) in enumerate(DATASETS.items()):
        started = time.perf_counter()
        result = run_simulation(SHARED / "markers" / file, labels, out_dir=out / name, provider=args.provider,
                                model=args.model, tissue=tissue,
                                gptcelltype_dir=SHARED / "gptcelltype" if i == 0 else None)
        print(f"== {name}: {len(result.mixtures)} mixtures, {time.perf_counter() - started:.0f} s "
              f"(report {result.report_path})")
        print(result.table.to_string(index=False))
        if result.reference is not None:
            print("GPTCelltype simulated lists:")
            print(reference_summary(result.reference).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
