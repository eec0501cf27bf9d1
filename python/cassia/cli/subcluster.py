"""``cassia subcluster run``: annotate all subclusters of one population together, then score them."""

from __future__ import annotations

import argparse
import sys

from .common import (
    add_backend_options,
    add_limit_options,
    add_marker_options,
    limit_kwargs,
    outcome_code,
    positive_int,
    print_json,
    read_markers,
    stage_backends,
)


def _run(args: argparse.Namespace) -> int:
    from ..workflows.subcluster import run_subclusters

    backends = stage_backends(args, ("scoring",))
    result = run_subclusters(
        read_markers(args, args.markers), major_cluster_info=args.major_cluster_info, out_dir=args.out, species=args.species,
        tissue=args.tissue, n_genes=args.n_genes, ranking=args.ranking, group_size=args.group_size,
        score=not args.no_score, max_workers=args.max_workers, use_cache=not args.no_cache, progress=not args.quiet,
        report=not args.no_report, **limit_kwargs(args, ("", "scoring")), **backends)
    frame = result.to_frame()
    if args.json:
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        print_json({"run_dir": str(result.run_dir), "status": result.manifest.get("status"),
                    "subclusters_csv": str(result.run_dir / "subclusters.csv"), "subclusters": records})
    else:
        print(frame[["Cluster ID", "Main Cell Type", "Sub Cell Type", "Score", "Status"]].to_string(index=False))
        print(f"{len(frame) - len(result.failed)} of {len(frame)} subclusters annotated; results in {result.run_dir}")
    for failed in result.failed:
        print(f"  failed: {failed.cluster}: {failed.error}", file=sys.stderr)
    return outcome_code(len(result.results), len(result.failed))


def register(subparsers) -> None:
    parser = subparsers.add_parser("subcluster", help="annotate the subclusters of one population together",
                                   description="Subclustering: all subclusters of one population in one analysis.")
    parser.set_defaults(group_parser=parser)
    commands = parser.add_subparsers(dest="subcluster_command", metavar="COMMAND")
    run = commands.add_parser(
        "run", help="annotate and score every subcluster of a marker table",
        description="Annotate the subclusters of one population (e.g. the reclustered CD8 T cells) together, "
                    "score each answer and write a run directory with subclusters.csv and subclusters.html.")
    run.add_argument("--markers", required=True, metavar="FILE", help="marker table of the subclusters")
    run.add_argument("--major-cluster-info", required=True, metavar="TEXT",
                     help="the parent population, e.g. 'CD8 T cells from a human tumour'")
    run.add_argument("--out", default=None, metavar="DIR", help="run directory (default cassia_out/subclusters-<time>)")
    run.add_argument("--species", default="human", help="species (default human)")
    run.add_argument("--tissue", default=None, help="tissue of origin")
    add_marker_options(run, what="subcluster")
    run.add_argument("--group-size", type=positive_int, default=10, metavar="N",
                     help="subclusters per call; larger populations are split, then harmonised (default 10)")
    run.add_argument("--no-score", action="store_true", help="skip the Scorer")
    run.add_argument("--scoring-provider", default=None, metavar="NAME", help="backend of the Scorer (default --provider)")
    run.add_argument("--scoring-model", default=None, metavar="MODEL", help="model of the Scorer (default --model)")
    run.add_argument("--no-report", action="store_true", help="do not render report.html")
    run.add_argument("--json", action="store_true", help="print a JSON summary")
    add_backend_options(run)
    add_limit_options(run, ("", "scoring"), concurrency=False)
    run.set_defaults(handler=_run)

