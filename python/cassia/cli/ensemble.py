"""``cassia ensemble``: several models annotate every cluster; they deliberate only where they disagree.

``cassia ensemble --input markers.csv --model openai:gpt-4.1 --model anthropic:claude-sonnet-4-5
--model http://127.0.0.1:11434/v1:llama3.1:8b --out ens`` calls :func:`cassia.run_ensemble`.
Each ``--model`` is a spec (``vendor:model``, ``URL:model``, ``offline``, an agent CLI name).
"""

from __future__ import annotations

import argparse

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    add_cluster_options,
    add_limit_options,
    add_marker_options,
    limit_kwargs,
    positive_float,
    positive_int,
    print_json,
    read_markers,
    say,
    selected_clusters,
)

SHOWN = ["Cluster ID", "Predicted General Cell Type", "Predicted Detailed Cell Type", "Ensemble Status",
         "Consensus Proportion", "Rounds"]


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number such as 0.67") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a share of the models above 0 and at most 1 (got {text})")
    return value


def _rounds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value})")
    return value


def _ensemble(args: argparse.Namespace) -> int:
    from ..workflows.ensemble import run_ensemble

    result = run_ensemble(
        read_markers(args, args.input), models=args.models, tissue=args.tissue, species=args.species,
        additional_info=args.additional_info, clusters=selected_clusters(args), threshold=args.threshold,
        rounds=args.rounds, arbiter=args.arbiter, arbiter_model=args.arbiter_model,
        validator_rounds=args.validator_rounds, out_dir=args.out, max_workers=args.max_workers,
        timeout=args.timeout, resume=args.resume, use_cache=not args.no_cache, progress=not args.quiet,
        report=not args.no_report, **limit_kwargs(args),
    )
    frame = result.to_frame()
    if args.json:
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        print_json({"out_dir": str(result.out_dir), "status": result.manifest.get("status"),
                    "models": result.manifest.get("models"), "counts": result.manifest.get("counts"),
                    "clusters": records})
    else:
        print(frame[SHOWN].to_string(index=False))
        counts = result.manifest.get("counts", {})
        say(args, f"{counts.get('agreed', 0)} agreed, {counts.get('deliberated', 0)} settled by discussion, "
                  f"{counts.get('arbitrated', 0)} by the arbiter, {counts.get('unresolved', 0)} unresolved, "
                  f"{counts.get('no vote', 0)} without a vote ({counts.get('deliberation_calls', 0)} deliberation "
                  f"calls); results in {result.out_dir}")
        for model in result.manifest.get("models", []):
            if model.get("status") not in ("complete", None):
                say(args, f"cassia: warning: model {model['label']}: its run {model['status']}"
                          + (f" ({model['error']})" if model.get("error") else "") + "; rerun with --resume")
    no_vote = int((frame["Status"] != "ok").sum())
    if len(frame) and no_vote == len(frame):
        return EXIT_FAILED
    return EXIT_OK if result.manifest.get("status") == "complete" else EXIT_PARTIAL


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ensemble", help="several models annotate every cluster; only disputed clusters are discussed",
        description="Annotate every cluster with each --model (the full team per model, all models at once), "
                    "measure their agreement on the Cell Ontology, let the models discuss the clusters below "
                    "--threshold for up to --rounds rounds, and let an arbiter settle what stays disputed.")
    parser.add_argument("--input", required=True, metavar="FILE", help="marker table (FindAllMarkers, ...)")
    parser.add_argument("--model", dest="models", action="append", required=True, metavar="SPEC",
                        help="a member, repeat for each (at least two): vendor:model (openai:gpt-4.1, "
                             "ollama:llama3.1:8b), URL:model (http://127.0.0.1:8000/v1:name), offline, claude-cli")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output folder (models/<label>/, summary.csv, ensemble.jsonl, report.html)")
    parser.add_argument("--tissue", default=None, help="tissue of origin")
    parser.add_argument("--species", default="human", help="species (default human)")
    parser.add_argument("--additional-info", default=None, metavar="TEXT", help="free-text notes about the dataset")
    add_cluster_options(parser)
    add_marker_options(parser)
    parser.add_argument("--threshold", type=_share, default=2 / 3, metavar="X",
                        help="clusters whose consensus proportion is below X are discussed (default 2/3)")
    parser.add_argument("--rounds", type=_rounds, default=2, metavar="N", help="discussion rounds at most (default 2)")
    parser.add_argument("--arbiter", default=None, metavar="LABEL|SPEC",
                        help="who settles what the discussion did not (default: the first model that is not offline)")
    parser.add_argument("--arbiter-model", default=None, metavar="MODEL", help="the arbiter's model")
    parser.add_argument("--timeout", type=positive_float, default=None, metavar="SECONDS",
                        help="seconds each model's run may take; a model past it loses its votes")
    parser.add_argument("--validator-rounds", type=positive_int, default=3, metavar="N",
                        help="validator feedback rounds per model (default 3)")
    parser.add_argument("--max-workers", type=positive_int, default=4, metavar="N",
                        help="clusters at once per model (default 4)")
    add_limit_options(parser, concurrency=False)
    parser.add_argument("--resume", action="store_true", help="finish an interrupted ensemble in --out")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    parser.add_argument("--no-report", action="store_true", help="do not write report.html")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    parser.set_defaults(handler=_ensemble)
