"""Options and helpers shared by the ``cassia`` sub-commands.

Backends are named on the command line (``--provider openai``, ``--provider claude-cli``, a
base URL, ``offline``); the engine builds them. Only when the command line carries settings a
name cannot (``--timeout``, ``--shell-command``, ``--backend-arg``) does the CLI build the
provider itself and hand the engine the object, wrapped in the response cache like the engine
would. Keys are never taken on the command line (they would show in ``ps`` and shell history):
they come from the environment.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import InputError

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


def _needs_building(args: argparse.Namespace) -> bool:
    return bool(args.timeout is not None or args.shell_command or args.backend_arg)


def build_backend(args: argparse.Namespace, name: Any, model: str | None):
    """``name`` itself for the engine to build, or a ready provider when CLI-only settings apply."""
    if not _needs_building(args):
        return name
    from ..providers import get_provider
    from ..providers.agent_cli import AGENT_CLIS
    from ..providers.cache import CachedProvider, ResponseCache
    from ..providers.stages import auto_provider

    name = name or auto_provider()
    options = {"extra_args": tuple(args.backend_arg)} if args.backend_arg and name in AGENT_CLIS else None
    provider = get_provider(name, model, timeout=args.timeout, options=options,
                            command=args.shell_command if name == "shell" else None)
    if args.no_cache or provider.config.kind == "offline":
        return provider
    return CachedProvider(provider, ResponseCache())


def main_backend(args: argparse.Namespace) -> str | None:
    if args.shell_command and args.provider not in (None, "shell"):
        raise InputError(f"--shell-command belongs to the shell backend, not --provider {args.provider}")
    return "shell" if args.shell_command else args.provider


def stage_backends(args: argparse.Namespace, stages: tuple[str, ...] = ()) -> dict[str, Any]:
    """``provider``/``model`` plus ``<stage>_provider``/``<stage>_model`` keyword arguments for the engine."""
    main = main_backend(args)
    kwargs: dict[str, Any] = {"provider": build_backend(args, main, args.model), "model": args.model}
    for stage in stages:
        own, own_model = getattr(args, f"{stage}_provider", None), getattr(args, f"{stage}_model", None)
        if _needs_building(args) and (own or own_model):
            name = own or main
            model = own_model or (args.model if own is None else None)
            kwargs[f"{stage}_provider"] = build_backend(args, name, model)
            kwargs[f"{stage}_model"] = model
        else:
            kwargs[f"{stage}_provider"], kwargs[f"{stage}_model"] = own, own_model
    return kwargs


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def say(args: argparse.Namespace, text: str) -> None:
    """A status line on stderr, unless --quiet."""
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr)


def result_rows(results) -> list[dict[str, Any]]:
    """One JSON-ready dict per cluster result (what --json prints)."""
    rows = []
    for r in results:
        ann = r.annotation or r.diagnosis
        rows.append({
            "cluster": r.cluster, "status": r.status,
            "general": ann.main_cell_type if ann else None,
            "detailed": ann.sub_cell_types[0] if ann and ann.sub_cell_types else None,
            "mixed": list(ann.mixed_cell_types) if ann else [],
            "score": r.score.score if r.score else None,
            "validated": r.validated, "boosted": r.boosted, "cell_ontology_id": r.cell_ontology_id,
            "tokens": r.tokens, "cost_usd": r.cost_usd, "error": r.error,
        })
    return rows
