"""Options and helpers shared by the ``cassia`` sub-commands.

Backends are named on the command line (``--provider openai``, ``--provider claude-cli``, a
base URL, ``offline``); the engine builds them. When the command line carries settings a name
cannot (``--timeout``, ``--shell-command``, ``--backend-arg``), the CLI hands the engine a
:class:`~cassia.providers.ProviderConfig` instead: still a spec, never a built provider, so the
engine builds each stage from it the same way (stage models, response cache, output limits)
whatever flags are given. Keys are never taken on the command line (they would show in ``ps``
and shell history): they come from the environment.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import InputError

# Exit codes, the same for every command (README, "Exit codes"):
EXIT_OK = 0  # everything asked for was done
EXIT_FAILED = 1  # nothing succeeded: every cluster failed, or the engine/backend failed
EXIT_INPUT = 2  # the input or an argument is unusable; nothing was run
EXIT_PARTIAL = 3  # some clusters failed; the others are written (rerun with --resume for the rest)
UNSET: Any = object()  # a marker-filter flag the user did not give


def outcome_code(total: int, failed: int) -> int:
    """The exit code of a command that processed ``total`` clusters, ``failed`` of them failed."""
    if total and failed >= total:
        return EXIT_FAILED
    return EXIT_PARTIAL if failed else EXIT_OK

BACKEND_HELP = ("openai, anthropic, openrouter, deepseek, ollama, vllm, lmstudio, an OpenAI-compatible base URL, "
                "offline (no key), or a local agent CLI: claude-cli, codex-cli, cursor-agent, shell "
                "(default: the first vendor with a key set, else offline)")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 (got {text})")
    return value


def threshold(text: str) -> float | None:
    """A filter threshold from the command line; 'none' or 'off' turns the filter off."""
    if text.strip().lower() in ("none", "off"):
        return None
    try:
        return float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (or 'none' to turn the filter off)") from err


def add_marker_options(group, *, n_genes: int | None = 50, what: str = "cluster") -> None:
    """--n-genes, --ranking and the filters --max-p-adj, --min-log2fc, --min-pct1: how every
    command that reads markers chooses each cluster's top genes (defaults: cassia.MarkerFilters);
    --cluster-col and --gene-col, which a table's unrecognised column names are pointed to."""
    from ..markers import MarkerFilters

    defaults = MarkerFilters()
    shown = f"default {n_genes}" if n_genes is not None else "default: the run's, else 50"
    group.add_argument("--n-genes", type=positive_int, default=n_genes, metavar="N",
                       help=f"top markers per {what} ({shown})")
    group.add_argument("--ranking", default=None if n_genes is None else "avg_log2FC", metavar="COLUMN",
                       help="rank markers by avg_log2FC (default), p_val_adj, pct_diff or a score column")
    for flag, field, rule in (("--max-p-adj", "max_p_val_adj", "adjusted p < X"),
                              ("--min-log2fc", "min_log2fc", "avg_log2FC > X"),
                              ("--min-pct1", "min_pct1", "pct.1 >= X")):
        group.add_argument(flag, dest=field, type=threshold, default=UNSET, metavar="X",
                           help=f"keep genes with {rule} (default {getattr(defaults, field)}; 'none' = off)")
    group.add_argument("--cluster-col", default=None, metavar="C",
                       help="the marker table's cluster column (default: found by name)")
    group.add_argument("--gene-col", default=None, metavar="G",
                       help="the marker table's gene column (default: found by name)")
    group.add_argument("--rank-key", default=None, metavar="KEY",
                       help="an .h5ad's uns entry holding the ranking (default: the only one)")


def marker_filters(args: argparse.Namespace, fallback=None):
    """The MarkerFilters the flags ask for; flags not given take ``fallback``'s value (else the default)."""
    from ..markers import MarkerFilters

    base = fallback or MarkerFilters()
    values = {}
    for name in ("max_p_val_adj", "min_log2fc", "min_pct1"):
        given = getattr(args, name, UNSET)
        values[name] = getattr(base, name) if given is UNSET else given
    return MarkerFilters(**values)


def read_markers(args: argparse.Namespace, source: Any, *, n_genes: int = 50, ranking: str = "avg_log2FC",
                 fallback_filters=None):
    """Load ``source`` with the command's marker options (a MarkerSet the engine then keeps)."""
    from ..markers import load_markers

    return load_markers(source, n_genes=args.n_genes or n_genes, ranking=args.ranking or ranking,
                        filters=marker_filters(args, fallback_filters), cluster_col=args.cluster_col,
                        gene_col=args.gene_col, rank_key=args.rank_key)


def add_cluster_options(group, what: str = "cluster") -> None:
    group.add_argument("--clusters", default=None, metavar="A,B",
                       help=f"comma-separated {what} IDs (default all)")
    group.add_argument("--cluster", dest="cluster_names", action="append", default=None, metavar="NAME",
                       help=f"one {what} ID taken literally, commas included (repeatable; adds to --clusters)")


def selected_clusters(args: argparse.Namespace) -> list[str] | None:
    """--clusters (comma-separated) and every --cluster (literal), in the order given; None = all."""
    names = list(comma_list(args.clusters) or []) + list(args.cluster_names or [])
    return list(dict.fromkeys(names)) or None


def comma_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise InputError(f"{text!r} names nothing; give a comma-separated list such as A,B")
    return items


def add_backend_options(parser: argparse.ArgumentParser, *, workers: bool = True) -> None:
    group = parser.add_argument_group("backend")
    group.add_argument("--provider", "--backend", dest="provider", default=None, metavar="NAME", help=BACKEND_HELP)
    group.add_argument("--model", default=None, metavar="MODEL", help="model name (default: the backend's default)")
    group.add_argument("--timeout", type=positive_float, default=None, metavar="SECONDS",
                       help="seconds one call may take (HTTP default 120; agent CLIs are killed after it)")
    group.add_argument("--shell-command", default=None, metavar="TEMPLATE",
                       help="command template of the 'shell' backend, e.g. 'mytool --in {prompt_file} --out "
                            "{output_file}' (placeholders: {prompt_file} {output_file} {prompt} {cluster} "
                            "{model} {task}); implies --provider shell")
    group.add_argument("--backend-arg", action="append", default=[], metavar="ARG",
                       help="extra argument for an agent CLI (repeatable; use --backend-arg=--flag)")
    group.add_argument("--no-cache", action="store_true", help="do not read or write the response cache")
    if workers:
        group.add_argument("--max-workers", type=positive_int, default=4, metavar="N", help="clusters processed at once (default 4)")


def add_limit_options(parser: argparse.ArgumentParser, stages: tuple[str, ...] = ("",), *,
                      concurrency: bool = True) -> None:
    """--max-concurrency (unless one request is in flight anyway) and an output limit per stage
    ("" annotation, "scoring", "boost")."""
    group = parser.add_argument_group("limits")
    if concurrency:
        group.add_argument("--max-concurrency", type=positive_int, default=None, metavar="N",
                           help="requests in flight per backend at most (default: as many as --max-workers sends)")
    for stage in stages:
        flag = f"--{stage}-max-tokens" if stage else "--max-tokens"
        what = f"{stage} replies" if stage else "annotation replies (Annotator, Validator, Formatter)"
        group.add_argument(flag, type=positive_int, default=None, metavar="N",
                           help=f"output-token limit of {what} (default: the server's)")


def limit_kwargs(args: argparse.Namespace, stages: tuple[str, ...] = ("",)) -> dict[str, Any]:
    """The engine keywords of :func:`add_limit_options`' flags."""
    kwargs: dict[str, Any] = {"max_concurrency": args.max_concurrency} if hasattr(args, "max_concurrency") else {}
    for stage in stages:
        name = f"{stage}_max_tokens" if stage else "max_tokens"
        kwargs[name] = getattr(args, name)
    return kwargs


def _needs_config(args: argparse.Namespace) -> bool:
    return bool(args.timeout is not None or args.shell_command or args.backend_arg)


def backend_spec(args: argparse.Namespace, name: Any):
    """``name`` for the engine to build, or, when CLI-only settings apply, a config of it that
    carries them (the engine builds every stage from either, with its own model and limits)."""
    if not _needs_config(args):
        return name
    from ..providers.agent_cli import AGENT_CLIS
    from ..providers.registry import resolve_config
    from ..providers.stages import auto_provider

    name = auto_provider() if name in (None, "auto") else name
    options = {"extra_args": tuple(args.backend_arg)} if args.backend_arg and name in AGENT_CLIS else None
    if name == "shell" and args.shell_command:
        options = {**(options or {}), "command": args.shell_command}
    return resolve_config(name, timeout=args.timeout, options=options)


def main_backend(args: argparse.Namespace) -> str | None:
    if args.shell_command and args.provider not in (None, "shell"):
        raise InputError(f"--shell-command belongs to the shell backend, not --provider {args.provider}")
    return "shell" if args.shell_command else args.provider


def stage_backends(args: argparse.Namespace, stages: tuple[str, ...] = ()) -> dict[str, Any]:
    """``provider``/``model`` plus ``<stage>_provider``/``<stage>_model`` keyword arguments for the engine."""
    kwargs: dict[str, Any] = {"provider": backend_spec(args, main_backend(args)), "model": args.model}
    for stage in stages:
        own = getattr(args, f"{stage}_provider", None)
        kwargs[f"{stage}_provider"] = backend_spec(args, own) if own is not None else None
        kwargs[f"{stage}_model"] = getattr(args, f"{stage}_model", None)
    return kwargs


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def say(args: argparse.Namespace, text: str) -> None:
    """A status line on stderr, unless --quiet."""
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr)


def untrusted_lines(results) -> list[str]:
    """The run's closing lines: every cluster whose answer must not be taken at face value, by name."""
    lines = []
    found: dict[str, list[str]] = {"unvalidated": [], "failed": []}
    for r in results:  # one pass: ``results`` may be streamed from the run directory
        if r.outcome in found:
            found[r.outcome].append(r.cluster)
    for outcome, what in (("unvalidated", "never passed the Validator"), ("failed", "no answer")):
        names = found[outcome]
        if names:
            shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
            lines.append(f"cassia: not to be taken at face value: {len(names)} {outcome} ({what}): {shown}; "
                         "see Status in summary.csv")
    return lines


def result_rows(results) -> list[dict[str, Any]]:
    """One JSON-ready dict per cluster result (what --json prints)."""
    rows = []
    for r in results:
        ann = r.annotation or r.diagnosis
        rows.append({
            "cluster": r.cluster, "status": r.outcome,  # as summary.csv's Status: ok, unvalidated or failed
            "general": ann.main_cell_type if ann else None,
            "detailed": ann.sub_cell_types[0] if ann and ann.sub_cell_types else None,
            "mixed": list(ann.mixed_cell_types) if ann else [],
            "score": r.score.score if r.score else None,
            "validated": r.validated, "boosted": r.boosted, "cell_ontology_id": r.cell_ontology_id,
            "tokens": r.tokens, "cost_usd": r.cost_usd, "error": r.error,
        })
    return rows
