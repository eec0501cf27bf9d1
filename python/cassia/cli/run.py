"""``cassia annotate``, ``cassia pipeline``, ``cassia score`` and ``cassia report``."""

from __future__ import annotations

import argparse
import sys

from .common import (
    EXIT_FAILED,
    EXIT_OK,
    add_backend_options,
    add_cluster_options,
    add_limit_options,
    add_marker_options,
    outcome_code,
    positive_int,
    limit_kwargs,
    print_json,
    read_markers,
    result_rows,
    say,
    selected_clusters,
    stage_backends,
    untrusted_lines,
)


def _add_run_options(parser: argparse.ArgumentParser, *, pipeline: bool) -> None:
    data = parser.add_argument_group("input")
    data.add_argument("--input", required=True, metavar="FILE",
                      help="marker table: FindAllMarkers CSV/TSV/.rds, scanpy .h5ad, or cluster + genes")
    data.add_argument("--tissue", default=None, help="tissue of origin (omit for tissue-blind annotation)")
    data.add_argument("--species", default="human", help="species (default human)")
    data.add_argument("--additional-info", default=None, metavar="TEXT", help="free-text notes about the dataset")
    add_marker_options(data)
    add_cluster_options(data)
    data.add_argument("--limit", type=positive_int, default=None, metavar="N",
                      help="only the first N clusters (after --clusters); handy for a trial run")
    run = parser.add_argument_group("run")
    run.add_argument("--out", default=None, metavar="DIR", help="run directory (default cassia_out/run-<time>)")
    run.add_argument("--resume", action="store_true", help="finish an interrupted run in --out")
    run.add_argument("--validator-rounds", type=positive_int, default=3, metavar="N", help="maximum validation rounds (default 3)")
    run.add_argument("--cancer-aware", action="store_true", help="distinguish malignant from normal cells")
    run.add_argument("--rag", action="store_true",
                     help="add marker-database candidates (CellMarker 2.0, PanglaoDB), tissue ontology branches "
                          "and subtype features to the Annotator's prompt")
    run.add_argument("--data-dir", default=None, metavar="DIR",
                     help="folder with the marker databases for --rag (default $CASSIA_DATA_DIR, else downloaded "
                          "once into the user cache)")
    run.add_argument("--batch-api", action="store_true",
                     help="send the calls through the provider's batch API (OpenAI Batch, Anthropic Message "
                          "Batches): half the price, results within 24 h; one batch per agent step; a killed "
                          "run resumes with --resume without resubmitting; see 'cassia batch status'")
    run.add_argument("--batch-poll", type=float, default=30.0, metavar="SECONDS",
                     help="seconds between batch status checks (default 30)")
    run.add_argument("--batch-retry", choices=("batch", "live"), default="batch",
                     help="requests that failed or expired inside a batch: retry in the next batch (default) "
                          "or live at once")
    run.add_argument("--dry-run", action="store_true",
                     help="print the prompts that would be sent (system prompt once, then each cluster's first "
                          "message) and the expected calls, tokens and dollars per stage, and exit; no backend "
                          "is called and nothing is written")
    run.add_argument("--json", action="store_true", help="print a JSON summary (or, with --dry-run, the prompts)")
    add_backend_options(parser)
    add_limit_options(parser, ("", "scoring", "boost") if pipeline else ("",))
    review = parser.add_argument_group("review stage")
    review.add_argument("--review-provider", default=None, metavar="NAME",
                        help="backend of the review call (default --provider)")
    review.add_argument("--review-model", default=None, metavar="MODEL",
                        help="model of the review call (default: the cheaper sibling of --model on a vendor's own "
                             "API, e.g. gpt-4.1 -> gpt-4.1-mini; else --model)")
    review.add_argument("--one-model", action="store_true",
                        help="use --model for review and scoring too (no cheaper sibling)")
    if pipeline:
        stages = parser.add_argument_group("pipeline stages")
        stages.add_argument("--score-threshold", type=float, default=75, metavar="X",
                            help="clusters scoring below this are boosted (default 75)")
        stages.add_argument("--scoring-provider", default=None, metavar="NAME", help="backend of the Scorer (default --provider)")
        stages.add_argument("--scoring-model", default=None, metavar="MODEL", help="model of the Scorer (default --model)")
        stages.add_argument("--boost-provider", default=None, metavar="NAME",
                            help="backend of Annotation Boost (default --provider)")
        stages.add_argument("--boost-model", default=None, metavar="MODEL", help="model of Annotation Boost (default --model)")
        stages.add_argument("--boost-iterations", type=positive_int, default=5, metavar="N", help="boost rounds per cluster (default 5)")
        stages.add_argument("--no-report", action="store_true", help="do not render report.html")


def _selected_markers(args: argparse.Namespace):
    markers = read_markers(args, args.input)
    clusters = selected_clusters(args)
    if clusters is not None:
        markers = markers.subset(clusters)
    if args.limit is not None:
        markers = markers.subset(markers.cluster_ids()[: args.limit])
    return markers


def _dry_run(args: argparse.Namespace, markers, estimate) -> int:
    from ..agents.preview import preview_prompts

    previews = preview_prompts(markers, species=args.species, tissue=args.tissue,
                               additional_info=args.additional_info, cancer_aware=args.cancer_aware)
    if args.json:
        print_json({"dry_run": True, "clusters": [p.to_dict() for p in previews], "estimate": estimate.to_dict()})
        return EXIT_OK
    print("=== system prompt (the same for every cluster) ===")
    print(previews[0].system if previews else "")
    for preview in previews:
        print(f"\n=== cluster {preview.cluster} ({len(preview.markers)} markers): first message ===")
        print(preview.user)
    print(f"\n=== expected cost ===\n{estimate.text()}")
    shown = f"{len(previews)} cluster" + ("" if len(previews) == 1 else "s")
    say(args, f"dry run: {shown} shown; no backend was called and nothing was written")
    return EXIT_OK


def _run(args: argparse.Namespace, *, pipeline: bool) -> int:
    from .. import run_batch, run_pipeline

    markers = _selected_markers(args)
    kwargs = dict(
        tissue=args.tissue, species=args.species, additional_info=args.additional_info, out_dir=args.out,
        resume=args.resume, n_genes=args.n_genes, ranking=args.ranking, validator_rounds=args.validator_rounds,
        cancer_aware=args.cancer_aware, max_workers=args.max_workers, use_cache=not args.no_cache,
        progress=not args.quiet, rag=args.rag, data_dir=args.data_dir,
        batch_api={"poll_interval": args.batch_poll, "retry": args.batch_retry} if args.batch_api else None,
        stage_models=not args.one_model, estimate_cost=args.dry_run,
    )
    if pipeline:
        kwargs.update(stage_backends(args, ("review", "scoring", "boost")), **limit_kwargs(args, ("", "scoring", "boost")))
        result = run_pipeline(markers, score_threshold=args.score_threshold, boost_iterations=args.boost_iterations,
                              report=not args.no_report, **kwargs)
    else:
        kwargs.update(stage_backends(args, ("review",)), **limit_kwargs(args))
        result = run_batch(markers, **kwargs)
    if args.dry_run:  # an estimate came back: nothing was sent
        return _dry_run(args, markers, result)
    failed = _print_outcome(args, result, verb="annotated")
    return outcome_code(result.manifest.get("counts", {}).get("clusters", 0), len(failed))


def _print_outcome(args: argparse.Namespace, result, *, verb: str) -> list:
    """Print the run's closing lines; returns its failed clusters (results are streamed, not loaded)."""
    manifest = result.manifest
    counts = manifest.get("counts", {})
    report = result.run_dir / "report.html"
    if args.json:
        print_json({"run_dir": str(result.run_dir), "status": manifest.get("status"), "counts": counts,
                    "usage": manifest.get("usage"), "cost_usd": manifest.get("cost_usd"),
                    "summary_csv": str(result.run_dir / "summary.csv"),
                    "report": str(report) if report.exists() else None, "clusters": result_rows(result.results)})
    else:
        print(f"{counts.get('ok', 0)} of {counts.get('clusters', 0)} clusters {verb}; results in {result.run_dir}")
        if report.exists() and not args.quiet:
            print(f"report: {report}")
    failed = result.failed
    for one in failed:
        print(f"  failed: {one.cluster}: {one.error}", file=sys.stderr)
    if failed and len(failed) < counts.get("clusters", 0):
        say(args, f"{len(failed)} cluster(s) failed; fix the cause and rerun the same command with --resume")
    for line in untrusted_lines(result.iter_results()):  # last, and even with --quiet: these answers are not calls
        print(line, file=sys.stderr)
    return failed


def _score(args: argparse.Namespace) -> int:
    from .. import run_score_batch

    backends = stage_backends(args)
    result = run_score_batch(args.run, provider=backends["provider"], model=args.model, max_workers=args.max_workers,
                             **limit_kwargs(args, ("scoring",)),
                             use_cache=not args.no_cache, progress=not args.quiet, rescore=args.rescore,
                             report=not args.no_report)
    _print_outcome(args, result, verb="in the run")
    scored = [r for r in result.results if r.score is not None]
    if not args.json:
        print(f"{len(scored)} clusters scored")
    unscored = [r for r in result.results if r.status == "ok" and r.score is None]
    if unscored and not scored:
        return EXIT_FAILED
    return outcome_code(len(scored) + len(unscored), len(unscored))


def _report(args: argparse.Namespace) -> int:
    from ..report import render_report
    from ..store import read_manifest

    read_manifest(args.run)  # a clear InputError when the folder is not a run
    path = render_report(args.run)
    if args.json:
        print_json({"report": str(path)})
    else:
        print(f"report: {path}")
    return EXIT_OK


def register(subparsers) -> None:
    annotate = subparsers.add_parser(
        "annotate", help="annotate every cluster (Annotator, then one review call: verdict and record)",
        description="Annotate every cluster of a marker table and write a run directory "
                    "(manifest.json, results.jsonl, transcripts/, summary.csv).")
    _add_run_options(annotate, pipeline=False)
    annotate.set_defaults(handler=lambda a: _run(a, pipeline=False))

    pipeline = subparsers.add_parser(
        "pipeline", help="annotate, score, boost low scorers and report",
        description="Annotate, score, boost clusters scoring below the threshold, and render report.html.")
    _add_run_options(pipeline, pipeline=True)
    pipeline.set_defaults(handler=lambda a: _run(a, pipeline=True))

    score = subparsers.add_parser("score", help="score the annotations of a run directory",
                                  description="Score annotated clusters of an existing run (those not scored yet).")
    score.add_argument("run", metavar="RUN_DIR")
    score.add_argument("--rescore", action="store_true", help="score every cluster again")
    score.add_argument("--no-report", action="store_true", help="do not re-render report.html")
    score.add_argument("--json", action="store_true", help="print a JSON summary")
    add_backend_options(score)
    add_limit_options(score, ("scoring",))
    score.set_defaults(handler=_score)

    report = subparsers.add_parser("report", help="re-render the HTML report of a run directory",
                                   description="Re-render report.html (and the cluster pages) from a run directory.")
    report.add_argument("run", metavar="RUN_DIR")
    report.add_argument("--json", action="store_true", help="print the report path as JSON")
    report.set_defaults(handler=_report)

