"""``cassia uncertainty``: how much n independent annotations agree (CS score); ``cassia consensus``: a vote.

``uncertainty --input FILE --n 5`` makes n runs and scores them; ``uncertainty --runs A B C``
scores runs that already exist. ``consensus --inputs A.csv B.csv ... --out FILE`` is a
deterministic majority vote over finished runs or summary tables, with no model at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from .common import (
    EXIT_OK,
    add_backend_options,
    add_limit_options,
    add_marker_options,
    backend_spec,
    comma_list,
    limit_kwargs,
    outcome_code,
    positive_int,
    print_json,
    read_markers,
    stage_backends,
)


def _weights(text: str) -> tuple[float, float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not two numbers such as 0.7,0.3") from None
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"give two weights, general and subtype (e.g. 0.7,0.3), not {text!r}")
    return values  # type: ignore[return-value]


def _records(frame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def _uncertainty(args: argparse.Namespace) -> int:
    from ..workflows.uncertainty import run_uncertainty, score_runs

    backends = stage_backends(args)
    common = dict(provider=backends["provider"], model=args.model, weights=args.weights, threshold=args.threshold,
                  agents=not args.no_agents, species=args.species, tissue=args.tissue, out_dir=args.out,
                  max_workers=args.max_workers, progress=not args.quiet)
    if args.runs:
        result = score_runs(args.runs, labels=comma_list(args.labels), use_cache=not args.no_cache,
                            **limit_kwargs(args), **common)
    else:
        if args.labels:
            raise InputError("--labels names existing runs; use it with --runs")
        result = run_uncertainty(read_markers(args, args.input), n=args.n, temperature=args.temperature, seed=args.seed,
                                 unify_provider=backend_spec(args, args.unify_provider) if args.unify_provider else None, unify_model=args.unify_model,
                                 resume=args.resume, n_genes=args.n_genes, ranking=args.ranking,
                                 additional_info=args.additional_info, **limit_kwargs(args), **common)
    frame = result.to_frame()
    if args.json:
        print_json({"out_dir": str(result.out_dir) if result.out_dir else None, "uncertain": result.uncertain,
                    "clusters": _records(frame)})
    else:
        columns = ["Cluster ID", "Consensus General Type", "Consensus Subtype", "CS", "Uncertain"]
        print(frame[columns].to_string(index=False))
        where = f"; results in {result.out_dir}" if result.out_dir else ""
        missing = [c.cluster for c in result.clusters if c.cs is None]
        without = (f" or without a CS ({len(missing)}: {', '.join(missing[:20])}; fewer than two independent "
                   "answers, see Notes)") if missing else ""
        print(f"{len(result.uncertain)} of {len(frame)} clusters below CS {args.threshold:g}{without}{where}")
    return _runs_code(result)


def _runs_code(result) -> int:
    """Partial when any of the n runs has a failed cluster; failed when no run answered anything."""
    runs = list(result.runs)
    if not runs:
        return EXIT_OK
    total = sum(len(run.results) for run in runs)
    failed = sum(len(run.failed) for run in runs)
    return outcome_code(total, failed)


def _consensus(args: argparse.Namespace) -> int:
    from ..workflows.consensus import consensus

    table = consensus(args.inputs, labels=comma_list(args.labels))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    if args.json:
        print_json({"out": str(out), "clusters": _records(table)})
    else:
        print(table[["Cluster ID", "Consensus General Type", "Status", "Votes", "Consensus Subtype"]]
              .to_string(index=False))
        print(f"consensus of {len(args.inputs)} inputs written to {out}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "uncertainty", help="annotate n times (or take finished runs) and measure agreement (CS score)",
        description="Annotate every cluster n times with --input, or score finished runs with --runs, and report "
                    "the consensus and the CS score of each cluster; clusters below --threshold are flagged "
                    "for Annotation Boost.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="FILE", help="marker table to annotate n times")
    source.add_argument("--runs", nargs="+", metavar="RUN", help="finished run directories or summary.csv files")
    parser.add_argument("--n", type=positive_int, default=5, help="number of runs with --input (default 5)")
    parser.add_argument("--labels", default=None, metavar="A,B", help="names of the --runs, comma-separated")
    parser.add_argument("--tissue", default=None, help="tissue of origin")
    parser.add_argument("--species", default="human", help="species (default human)")
    parser.add_argument("--additional-info", default=None, metavar="TEXT", help="free-text notes about the dataset")
    add_marker_options(parser)
    parser.add_argument("--weights", type=_weights, default=(0.7, 0.3), metavar="G,S",
                        help="weights of general type and subtype in the CS score (default 0.7,0.3)")
    parser.add_argument("--threshold", type=float, default=75, metavar="X", help="CS below this is uncertain (default 75)")
    parser.add_argument("--temperature", type=float, default=None, help="sampling temperature of the n runs")
    parser.add_argument("--seed", type=int, default=0, help="run k uses seed + k (default 0)")
    parser.add_argument("--no-agents", action="store_true", help="no unification/consensus agents (CS = CS_CL, no LLM)")
    parser.add_argument("--unify-provider", default=None, metavar="NAME", help="backend of the agents (default --provider)")
    parser.add_argument("--unify-model", default=None, metavar="MODEL", help="model of the agents (default --model)")
    parser.add_argument("--out", default=None, metavar="DIR", help="output folder (runs, uncertainty.csv, report)")
    parser.add_argument("--resume", action="store_true", help="finish interrupted runs in --out")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    add_backend_options(parser)
    add_limit_options(parser, concurrency=False)
    parser.set_defaults(handler=_uncertainty)

    vote = subparsers.add_parser(
        "consensus", help="majority vote across runs or models (no LLM)",
        description="A deterministic majority vote per cluster across finished runs, summary.csv files or "
                    "summary-like tables (names unified on the Cell Ontology); no model is called.")
    vote.add_argument("--inputs", nargs="+", required=True, metavar="FILE",
                      help="run directories or summary CSVs (Cluster ID, Predicted General Cell Type, ...)")
    vote.add_argument("--out", required=True, metavar="FILE", help="CSV to write")
    vote.add_argument("--labels", default=None, metavar="A,B", help="names of the inputs, comma-separated")
    vote.add_argument("--json", action="store_true", help="print the table as JSON too")
    vote.set_defaults(handler=_consensus)

