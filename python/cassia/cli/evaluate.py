"""``cassia evaluate``: annotate a table with known labels, grade on the Cell Ontology, summarise.

The table is either one row per cluster (comma-separated markers and a gold label, e.g. the
GPTCelltype benchmark) or a FindAllMarkers table with ``--gold-map`` (cluster -> label CSV).
Writes graded.csv, by_method/by_dataset/by_tissue.csv, summary.json and report.html to --out.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from ..errors import InputError
from .common import (
    add_backend_options,
    add_limit_options,
    comma_list,
    limit_kwargs,
    outcome_code,
    positive_int,
    print_json,
    stage_backends,
)


def _read(path: str, limit: int | None) -> pd.DataFrame:
    from pathlib import Path

    if not Path(path).exists():
        raise InputError(f"benchmark table not found: {path}; check the path")
    sep = "\t" if path.lower().endswith((".tsv", ".txt")) else ","
    frame = pd.read_csv(path, sep=sep)
    return frame.head(limit) if limit is not None else frame


def _gold_map(path: str | None) -> dict[str, str] | None:
    if path is None:
        return None
    frame = pd.read_csv(path, dtype=str)
    if frame.shape[1] < 2:
        raise InputError(f"{path} needs two columns: cluster and gold label")
    return dict(zip(frame.iloc[:, 0], frame.iloc[:, 1]))


def _sizes(text: str | None) -> list[int] | None:
    items = comma_list(text)
    if items is None:
        return None
    try:
        return [int(i) for i in items]
    except ValueError:
        raise InputError(f"--sweep takes whole numbers such as 10,30,50 (got {text!r})") from None


def _evaluate(args: argparse.Namespace) -> int:
    from ..evaluate import run_benchmark

    # scoring and boost run only in pipeline mode; their limits mean nothing to batch mode
    stages = ("", "scoring", "boost") if args.mode == "pipeline" else ("",)
    if args.mode != "pipeline" and (args.scoring_max_tokens or args.boost_max_tokens):
        raise InputError("--scoring-max-tokens and --boost-max-tokens limit the scoring and boost of "
                         "--mode pipeline; batch mode has neither")
    backends = stage_backends(args)
    table = _read(args.table, args.limit)
    result = run_benchmark(
        table, provider=backends["provider"], model=args.model, mode=args.mode, out_dir=args.out,
        marker_col=args.marker_col, gold_col=args.gold_col, tissue_col=args.tissue_col,
        dataset_col=args.dataset_col, cluster_col=args.cluster_col, gold_map=_gold_map(args.gold_map),
        tissue=args.tissue, dataset=args.dataset, species=args.species, n_genes=args.n_genes,
        n_genes_sweep=_sizes(args.sweep), predict=args.predict, max_workers=args.max_workers,
        use_cache=not args.no_cache, progress=not args.quiet, report=not args.no_report,
        **limit_kwargs(args, stages))
    summary = result.summary
    failed = result.graded[result.graded["status"] != "ok"]
    if args.json:
        print_json({"out_dir": str(result.out_dir), "report": str(result.report_path) if result.report_path else None,
                    **summary})
    else:
        accuracy = summary.get("accuracy", {})
        print(f"method: {summary.get('method')}; clusters: {len(result.graded)}; failed: {len(failed)}")
        for key, value in accuracy.items():
            print(f"  {key}: {value}")
        print(f"results in {result.out_dir}" + (f"; report: {result.report_path}" if result.report_path else ""))
    for row in failed.head(10).itertuples(index=False):
        print(f"  failed: {row.dataset}/{row.cluster} ({row.status})", file=sys.stderr)
    if len(failed):
        print(f"cassia: {len(failed)} cluster(s) failed and are graded as no match"
              f"{' (the first 10 are listed)' if len(failed) > 10 else ''}; their reasons are in "
              f"{result.out_dir / 'runs'}; fix the cause and rerun the same command (--out resumes)", file=sys.stderr)
    return outcome_code(len(result.graded), len(failed))


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="benchmark: annotate labelled clusters and grade them on the Cell Ontology",
        description="Annotate a table with gold labels, grade each answer on the Cell Ontology (full, partial or "
                    "no match) and write accuracy tables, summary.json and report.html.")
    parser.add_argument("--table", required=True, metavar="FILE",
                        help="one row per cluster (markers + gold label), or FindAllMarkers with --gold-map")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (resumes when it exists)")
    parser.add_argument("--mode", choices=["batch", "pipeline"], default="batch",
                        help="annotate only (batch, default) or the full pipeline (needed for score calibration)")
    parser.add_argument("--predict", choices=["detailed", "general", "best"], default="detailed",
                        help="which answer is graded (default detailed)")
    parser.add_argument("--marker-col", default="marker", metavar="C", help="column of markers (default marker)")
    parser.add_argument("--gold-col", default="gold", metavar="C", help="column of gold labels (default gold)")
    parser.add_argument("--tissue-col", default="tissue", metavar="C", help="column of tissues (default tissue)")
    parser.add_argument("--dataset-col", default="dataset", metavar="C", help="column of datasets (default dataset)")
    parser.add_argument("--cluster-col", default=None, metavar="C", help="column of cluster IDs")
    parser.add_argument("--gold-map", default=None, metavar="CSV", help="cluster,gold CSV for a FindAllMarkers table")
    parser.add_argument("--tissue", default=None, help="tissue of the whole table (FindAllMarkers input)")
    parser.add_argument("--dataset", default=None, help="dataset name of the whole table")
    parser.add_argument("--species", default="human", help="species (default human)")
    parser.add_argument("--n-genes", type=positive_int, default=50, metavar="N", help="markers per cluster (default 50)")
    parser.add_argument("--sweep", default=None, metavar="N,N", help="marker counts to sweep, e.g. 10,30,50")
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N", help="only the first N rows")
    parser.add_argument("--no-report", action="store_true", help="do not render report.html")
    parser.add_argument("--json", action="store_true", help="print summary.json to stdout")
    add_backend_options(parser)
    add_limit_options(parser, ("", "scoring", "boost"))
    parser.set_defaults(handler=_evaluate)
