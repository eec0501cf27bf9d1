"""``cassia boost query|run|auto``: Annotation Boost from the command line.

``query`` looks genes up in a cluster's full marker table (no model). ``run`` re-examines one
cluster, inside a run directory or on its own. ``auto`` picks the clusters of a run most worth
a second look (low score first, then possibly mixed, then not validated), boosts up to K of
them one after the other, and writes ``boost/boost_summary.csv`` and ``boost/index.html`` under
the run (plus the refreshed summary and report).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import AuthError, CassiaError
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    add_backend_options,
    add_limit_options,
    add_marker_options,
    backend_spec,
    comma_list,
    limit_kwargs,
    main_backend,
    outcome_code,
    positive_int,
    print_json,
    read_markers,
    say,
)

SUMMARY_NAME = "boost_summary.csv"
@dataclass(frozen=True)
class Candidate:
    cluster: str
    reason: str
    score: int | None


def _types(annotation) -> tuple[str | None, str | None]:
    if annotation is None:
        return None, None
    return annotation.main_cell_type, (annotation.sub_cell_types[0] if annotation.sub_cell_types else None)


def choose_clusters(results, *, threshold: float, max_clusters: int, again: bool = False) -> list[Candidate]:
    """Clusters most worth boosting: low score (lowest first), then possibly mixed, then not validated."""
    low, mixed, unvalidated = [], [], []
    for r in results:
        if r.status != "ok" or (r.boosted and not again):
            continue
        ann = r.annotation or r.diagnosis
        score = r.score.score if r.score else None
        if score is not None and score < threshold:
            low.append(Candidate(r.cluster, f"score {score} < {threshold:g}", score))
        elif (r.score and r.score.possible_mixed_population) or (ann is not None and ann.mixed_cell_types):
            mixed.append(Candidate(r.cluster, "possibly mixed population", score))
        elif not r.validated:
            unvalidated.append(Candidate(r.cluster, "not validated", score))
    low.sort(key=lambda c: c.score)
    return (low + mixed + unvalidated)[:max_clusters]


# ---------------------------------------------------------------- query


def _query(args: argparse.Namespace) -> int:
    from ..workflows.boost import query_genes

    frame = query_genes(args.markers, args.cluster, comma_list(args.genes))
    if args.json:
        print_json({"cluster": str(args.cluster), "genes": frame.astype(object).where(frame.notna(), None)
                    .to_dict(orient="records")})
    else:
        print(frame.to_string(index=False))
    return 0


# ---------------------------------------------------------------- run


def _boost_kwargs(args: argparse.Namespace) -> dict:
    return dict(provider=backend_spec(args, main_backend(args)), model=args.model,
                max_iterations=args.max_iterations, mode=args.mode, use_cache=not args.no_cache,
                progress=not args.quiet, **limit_kwargs(args, ("boost",)))


def _boost_markers(args: argparse.Namespace, run_dir):
    """The markers with the command's selection options; flags not given keep the run's settings."""
    from ..markers import MarkerFilters
    from ..store import read_manifest

    manifest = read_manifest(run_dir) if run_dir is not None else {}
    settings = manifest.get("settings", {})
    recorded = (manifest.get("input") or {}).get("filters")
    fallback = MarkerFilters(**recorded) if isinstance(recorded, dict) else None
    return read_markers(args, args.markers, n_genes=settings.get("n_genes", 50),
                        ranking=settings.get("ranking", "avg_log2FC"), fallback_filters=fallback)


def _boost_row(outcome, *, reason: str = "", score: int | None = None, run_dir: Path | None = None) -> dict:
    before = _types(outcome.original_annotation)
    after = _types(outcome.annotation)
    page = outcome.page
    link = os.path.relpath(page, run_dir / "boost") if page is not None and run_dir is not None else (
        str(page) if page else None)
    return {"Cluster ID": outcome.cluster, "Reason": reason, "Score Before": score,
            "Original General Type": before[0], "Original Detailed Type": before[1],
            "Boosted General Type": after[0], "Boosted Detailed Type": after[1], "Status": outcome.status,
            "Iterations": outcome.iterations, "Converged": outcome.converged, "Error": outcome.error, "Page": link}


def _run(args: argparse.Namespace) -> int:
    from ..workflows.boost import run_annotation_boost

    outcome = run_annotation_boost(_boost_markers(args, args.run), args.cluster, run_dir=args.run, out_dir=args.out,
                                   additional_task=args.additional_task, species=args.species, tissue=args.tissue,
                                   **_boost_kwargs(args))
    row = _boost_row(outcome)
    if args.json:
        print_json({**row, "run_dir": str(outcome.run_dir), "answer": outcome.answer or None})
    else:
        print(f"cluster {outcome.cluster}: {outcome.status}; {row['Original General Type'] or '-'} -> "
              f"{row['Boosted General Type'] or '-'} ({outcome.iterations} rounds); results in {outcome.run_dir}")
        if outcome.answer:
            print(f"answer: {outcome.answer}")
        if outcome.error:
            print(f"  failed: {outcome.error}", file=sys.stderr)
    return EXIT_OK if outcome.status == "ok" else EXIT_FAILED


# ---------------------------------------------------------------- auto


def _auto(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..store import read_manifest, read_results
    from ..workflows.boost import run_annotation_boost

    run_dir = Path(args.run)
    manifest = read_manifest(run_dir)
    settings = manifest.get("settings", {})
    threshold = args.threshold if args.threshold is not None else settings.get("score_threshold", 75)
    chosen = choose_clusters(read_results(run_dir), threshold=threshold, max_clusters=args.max_clusters,
                             again=args.again)
    if args.dry_run or not chosen:
        if args.json:
            print_json({"run_dir": str(run_dir), "dry_run": args.dry_run,
                        "clusters": [c.__dict__ for c in chosen]})
        else:
            print("no cluster needs boosting" if not chosen else
                  "\n".join(f"{c.cluster}: {c.reason}" for c in chosen))
        return 0
    markers = _boost_markers(args, run_dir)
    kwargs = _boost_kwargs(args)
    rows = []
    bar = tqdm(chosen, desc="boosting", unit="cluster", file=sys.stderr, leave=False,
               disable=args.quiet or not sys.stderr.isatty())
    for candidate in bar:
        try:
            outcome = run_annotation_boost(markers, candidate.cluster, run_dir=run_dir, report=False, **kwargs)
        except AuthError:
            raise
        except CassiaError as err:  # one cluster's failure is recorded; the others still run
            rows.append({"Cluster ID": candidate.cluster, "Reason": candidate.reason, "Score Before": candidate.score,
                         "Status": "failed", "Error": f"{type(err).__name__}: {err}", "Iterations": 0})
            continue
        rows.append(_boost_row(outcome, reason=candidate.reason, score=candidate.score, run_dir=run_dir))
    bar.close()
    summary, index = _write_aggregate(run_dir, rows)
    ok = sum(r["Status"] == "ok" for r in rows)
    if args.json:
        print_json({"run_dir": str(run_dir), "boosted": ok, "failed": len(rows) - ok, "summary_csv": str(summary),
                    "index": str(index), "clusters": rows})
    else:
        print(f"{ok} of {len(rows)} clusters boosted; {summary}")
        say(args, f"boost index: {index}")
    for r in rows:
        if r["Status"] != "ok":
            print(f"  failed: {r['Cluster ID']}: {r.get('Error')}", file=sys.stderr)
    return outcome_code(len(rows), len(rows) - ok)


def _write_aggregate(run_dir: Path, rows: list[dict]) -> tuple[Path, Path]:
    import pandas as pd

    from ..report import render_report
    from ..report.render import render_page

    folder = run_dir / "boost"
    folder.mkdir(exist_ok=True)
    columns = ["Cluster ID", "Reason", "Score Before", "Original General Type", "Original Detailed Type",
               "Boosted General Type", "Boosted Detailed Type", "Status", "Iterations", "Converged", "Error", "Page"]
    summary = folder / SUMMARY_NAME
    frame = pd.DataFrame(rows, columns=columns)
    if summary.exists():  # an earlier `boost auto` on this run: keep its rows for clusters not redone now
        earlier = pd.read_csv(summary, dtype={"Cluster ID": str})
        frame = pd.concat([earlier[~earlier["Cluster ID"].isin(frame["Cluster ID"])], frame], ignore_index=True)
    frame.to_csv(summary, index=False)
    full_rows = [{c: (None if pd.isna(v) else v) for c, v in r.items()} for r in frame.to_dict(orient="records")]
    index = render_page(folder / "index.html", "boost_index.html.j2", title=f"Annotation Boost: {run_dir.name}",
                        run=run_dir.name, rows=full_rows)
    render_report(run_dir)  # once, after every cluster was appended; it links boost/index.html
    return summary, index


# ---------------------------------------------------------------- parsers


def _add_boost_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-iterations", type=positive_int, default=5, metavar="N", help="hypothesis rounds (default 5)")
    parser.add_argument("--mode", choices=["breadth", "depth"], default="breadth",
                        help="several hypotheses per round (breadth, default) or one (depth)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    add_marker_options(parser, n_genes=None)
    add_backend_options(parser, workers=False)
    add_limit_options(parser, ("boost",), concurrency=False)  # one cluster's agent: one request at a time


def register(subparsers) -> None:
    parser = subparsers.add_parser("boost", help="Annotation Boost: gene lookups, one cluster, or a run's weakest",
                                   description="Re-examine clusters by testing hypotheses against the full marker "
                                               "statistics.")
    parser.set_defaults(group_parser=parser)
    commands = parser.add_subparsers(dest="boost_command", metavar="COMMAND")

    query = commands.add_parser("query", help="look genes up in one cluster's marker table (no model)",
                                description="Statistics of genes in one cluster's full marker table; no LLM.")
    query.add_argument("--markers", required=True, metavar="FILE", help="the marker table (FindAllMarkers etc.)")
    query.add_argument("--cluster", required=True, metavar="C", help="cluster ID as written in the table")
    query.add_argument("--genes", required=True, metavar="A,B", help="comma-separated genes (CD names work: CD16)")
    query.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    query.set_defaults(handler=_query)

    run = commands.add_parser("run", help="boost one cluster",
                              description="Boost one cluster: inside a run directory (--run; the result is added "
                                          "to it) or on its own (--out).")
    run.add_argument("--markers", required=True, metavar="FILE", help="the full marker table of the run")
    run.add_argument("--cluster", required=True, metavar="C", help="cluster ID")
    run.add_argument("--run", default=None, metavar="DIR", help="run directory holding the cluster's annotation")
    run.add_argument("--out", default=None, metavar="DIR", help="new directory when --run is not given")
    run.add_argument("--additional-task", default=None, metavar="TEXT",
                     help="a question to answer along the way, e.g. 'is this cluster malignant?'")
    run.add_argument("--species", default=None, help="species (default: the run's, else human)")
    run.add_argument("--tissue", default=None, help="tissue (default: the run's)")
    _add_boost_options(run)
    run.set_defaults(handler=_run)

    auto = commands.add_parser("auto", help="boost a run's weakest clusters",
                               description="Boost up to K clusters of a run: low score first (lowest first), then "
                                           "possibly mixed populations, then clusters that failed validation. "
                                           "Writes boost/boost_summary.csv and boost/index.html under the run.")
    auto.add_argument("--run", required=True, metavar="DIR", help="run directory")
    auto.add_argument("--markers", required=True, metavar="FILE", help="the run's full marker table")
    auto.add_argument("--max-clusters", type=positive_int, default=5, metavar="K", help="boost at most K (default 5)")
    auto.add_argument("--threshold", type=float, default=None, metavar="X",
                      help="scores below this count as low (default: the run's threshold, else 75)")
    auto.add_argument("--again", action="store_true", help="also consider clusters boosted before")
    auto.add_argument("--dry-run", action="store_true", help="list the clusters that would be boosted, and why")
    _add_boost_options(auto)
    auto.set_defaults(handler=_auto)
