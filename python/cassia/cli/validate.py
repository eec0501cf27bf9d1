"""``cassia validate FILE``: what annotation would receive from a marker table, before any LLM call.

Prints the detected format, the inferred columns, the ranking and filters, one line per
cluster (rows, rows passing the filters, genes selected, the first genes) and any notes.
Exit 0 when the table is usable, 2 when it is not (a cluster emptied by the filters is named).
"""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import InputError
from ..markers import MarkerFilters, inspect_markers
from .common import add_marker_options, marker_filters

FIRST_GENES = 8  # genes shown per cluster in the table


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "validate", help="check a marker table and show what each cluster would send",
        description="Detect the format and columns of a marker table, apply the selection and show "
                    "per-cluster counts and the genes annotation would receive. Exit 0 when usable, "
                    "2 otherwise.")
    parser.add_argument("file", metavar="FILE",
                        help="FindAllMarkers CSV/TSV/.rds, scanpy .h5ad, or a processed cluster + genes table")
    add_marker_options(parser)
    parser.add_argument("--json", action="store_true", help="print one machine-readable JSON object")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    filters = marker_filters(args)
    try:
        report = inspect_markers(args.file, n_genes=args.n_genes, ranking=args.ranking, filters=filters,
                                 cluster_col=args.cluster_col, gene_col=args.gene_col, rank_key=args.rank_key)
    except InputError as err:
        if not args.json:
            raise  # the CLI frame prints it as one line and exits 2
        print(json.dumps({"source": args.file, "usable": False, "error": str(err)}, indent=2))
        return 2
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render(report))
        for problem in report["problems"]:
            print(f"cassia: error: {problem}", file=sys.stderr)
    return 0 if report["usable"] else 2


def render(report: dict) -> str:
    """The human-readable validation report."""
    filters = MarkerFilters(**report["filters"]).describe()
    if report["format"] == "processed":
        filter_text = "none (processed table)"
    else:
        filter_text = ", ".join(filters) or "none"
    lines = [
        f"file:     {report['source']}",
        f"format:   {_format_name(report['format'])}",
        "columns:  " + ", ".join(f"{name} <- {source}" for name, source in report["columns"].items()),
        f"ranking:  {report['ranking']}, top {report['n_genes']} genes per cluster",
        f"filters:  {filter_text}",
        f"rows:     {report['n_rows']} in {report['n_clusters']} clusters",
        "",
    ]
    header = ("cluster", "rows", "after filters", "selected", "first genes")
    rows = [(c["cluster"], str(c["rows"]), str(c["after_filters"]), str(c["selected"]),
             _first_genes(c["genes"])) for c in report["clusters"]]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0]), *(row[i].rjust(widths[i]) for i in (1, 2, 3)), row[4]]
        lines.append("  ".join(cells).rstrip())
    short = [c["cluster"] for c in report["clusters"] if 0 < c["selected"] < report["n_genes"]]
    if short:
        lines.append("")
        lines.append(f"note: fewer than {report['n_genes']} genes selected for: {', '.join(short)}")
    lines.extend(f"note: {note}" for note in report["notes"])
    lines.append("")
    lines.append("usable: yes" if report["usable"] else
                 f"usable: no ({len(report['problems'])} problem(s), see below)")
    return "\n".join(lines)


def _format_name(name: str) -> str:
    return {"seurat": "seurat (FindAllMarkers-style table)",
            "scanpy": "scanpy (rank_genes_groups)",
            "processed": "processed (cluster + gene list)"}.get(name, name)


def _first_genes(genes: list[str]) -> str:
    if not genes:
        return "(none)"
    more = len(genes) - FIRST_GENES
    return ", ".join(genes[:FIRST_GENES]) + (f", ... (+{more})" if more > 0 else "")
