"""``cassia annotate``, ``cassia pipeline``, ``cassia score`` and ``cassia report``."""

from __future__ import annotations

import argparse
import sys

from ..markers import load_markers


def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", "--backend", dest="provider", default=None,
                        help="vendor (openai, anthropic, openrouter, deepseek, ollama, vllm, lmstudio), "
                             "an OpenAI-compatible base URL, or 'offline' (default: the first vendor with "
                             "a key set, else offline)")
    parser.add_argument("--model", default=None, help="model name (default: the provider's default)")
    parser.add_argument("--max-workers", type=int, default=4, help="clusters processed at once (default 4)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")


def _add_run_options(parser: argparse.ArgumentParser, *, pipeline: bool) -> None:
    parser.add_argument("--input", required=True, metavar="FILE",
                        help="marker table: FindAllMarkers CSV/TSV/.rds, scanpy .h5ad, or cluster + genes")
    parser.add_argument("--tissue", default=None, help="tissue of origin (omit for tissue-blind annotation)")
    parser.add_argument("--species", default="human", help="species (default human)")
    parser.add_argument("--additional-info", default=None, help="free-text notes about the dataset")
    parser.add_argument("--out", default=None, metavar="DIR", help="run directory (default cassia_out/run-<time>)")
    parser.add_argument("--resume", action="store_true", help="finish an interrupted run in --out")
    parser.add_argument("--n-genes", type=int, default=50, help="top markers per cluster (default 50)")
    parser.add_argument("--ranking", default="avg_log2FC",
                        help="rank markers by avg_log2FC (default), p_val_adj, pct_diff or a score column")
    parser.add_argument("--validator-rounds", type=int, default=3, help="maximum validation rounds (default 3)")
    parser.add_argument("--cancer-aware", action="store_true", help="distinguish malignant from normal cells")
    parser.add_argument("--clusters", default=None, help="comma-separated cluster IDs to annotate (default all)")
    _add_backend_options(parser)
    if pipeline:
        parser.add_argument("--score-threshold", type=float, default=75,
                            help="clusters scoring below this are boosted (default 75)")
        parser.add_argument("--scoring-provider", default=None, help="backend for the Scorer (default --provider)")
        parser.add_argument("--scoring-model", default=None, help="model for the Scorer (default --model)")


def _run(args: argparse.Namespace, *, pipeline: bool) -> int:
    from .. import run_batch, run_pipeline

    kwargs = dict(
        tissue=args.tissue, species=args.species, additional_info=args.additional_info, out_dir=args.out,
        resume=args.resume, n_genes=args.n_genes, ranking=args.ranking, validator_rounds=args.validator_rounds,
        cancer_aware=args.cancer_aware, provider=args.provider, model=args.model, max_workers=args.max_workers,
        use_cache=not args.no_cache, progress=not args.quiet,
        clusters=[c.strip() for c in args.clusters.split(",")] if args.clusters else None,
    )
    markers = load_markers(args.input, n_genes=args.n_genes, ranking=args.ranking)
    if pipeline:
        result = run_pipeline(markers, score_threshold=args.score_threshold, scoring_provider=args.scoring_provider,
                              scoring_model=args.scoring_model, **kwargs)
    else:
        result = run_batch(markers, **kwargs)
    _print_outcome(result, quiet=args.quiet)
    return 1 if result.failed and len(result.failed) == len(result.results) else 0


def _print_outcome(result, *, quiet: bool) -> None:
    counts = result.manifest.get("counts", {})
    print(f"{counts.get('ok', 0)} of {counts.get('clusters', 0)} clusters annotated; results in {result.run_dir}")
    for failed in result.failed:
        print(f"  failed: {failed.cluster}: {failed.error}", file=sys.stderr)
    if not quiet and (result.run_dir / "report.html").exists():
        print(f"report: {result.run_dir / 'report.html'}")


def _score(args: argparse.Namespace) -> int:
    from .. import run_score_batch

    result = run_score_batch(args.run, provider=args.provider, model=args.model, max_workers=args.max_workers,
                             use_cache=not args.no_cache, progress=not args.quiet, rescore=args.rescore)
    _print_outcome(result, quiet=args.quiet)
    return 0


def _report(args: argparse.Namespace) -> int:
    from ..report import render_report

    print(f"report: {render_report(args.run)}")
    return 0


def register(subparsers) -> None:
    annotate = subparsers.add_parser("annotate", help="annotate every cluster (Annotator, Validator, Formatter)",
                                     description="Annotate every cluster of a marker table.")
    _add_run_options(annotate, pipeline=False)
    annotate.set_defaults(handler=lambda a: _run(a, pipeline=False))

    pipeline = subparsers.add_parser("pipeline", help="annotate, score, boost and report",
                                     description="Annotate, score and report every cluster of a marker table.")
    _add_run_options(pipeline, pipeline=True)
    pipeline.set_defaults(handler=lambda a: _run(a, pipeline=True))

    score = subparsers.add_parser("score", help="score the annotations of a run directory",
                                  description="Score annotated clusters of an existing run (those not scored yet).")
    score.add_argument("run", metavar="RUN_DIR")
    score.add_argument("--rescore", action="store_true", help="score every cluster again")
    _add_backend_options(score)
    score.set_defaults(handler=_score)

    report = subparsers.add_parser("report", help="re-render the HTML report of a run directory",
                                   description="Re-render report.html from a run directory.")
    report.add_argument("run", metavar="RUN_DIR")
    report.set_defaults(handler=_report)
