"""The ``cassia`` command: a thin layer that parses arguments and calls the public API.

Each sub-command lives in its own module under ``cassia.cli`` and exposes
``register(subparsers)``; the module list below is the whole command set. Every command exits
with the same codes (``cassia.cli.common``): 0 all done, 3 some clusters failed (the rest is
written; rerun with ``--resume``), 1 nothing succeeded or the engine failed, 2 unusable input
or a file that cannot be read or written. Errors (and warnings) become one clear line on stderr, with options spelled as flags (``--resume``, not
``resume=True``); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from ..errors import CassiaError, InputError
from ..spelling import interface
from ..version import __version__
from .common import EXIT_FAILED, EXIT_INPUT

COMMAND_MODULES = ("doctor", "backends", "examples", "validate", "run", "batch", "boost", "subcluster", "uncertainty", "ensemble", "evaluate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cassia",
        description="Annotate single-cell RNA-seq clusters with cell types from their marker genes.",
    )
    parser.add_argument("--version", action="version", version=f"cassia {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or status lines")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    for leaf in _leaf_parsers(parser):
        _add_global_flags(leaf)
    return parser


def _leaf_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser that runs a command (``cassia boost query`` as well as ``cassia report``)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                found.extend(_leaf_parsers(child) or [child])
    return found


def _add_global_flags(parser: argparse.ArgumentParser) -> None:
    # Also accepted after the command (cassia annotate ... --quiet); SUPPRESS keeps the top-level value.
    taken = {s for action in parser._actions for s in action.option_strings}
    if "--quiet" not in taken:
        parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                            help="no progress bars or status lines")
    if "--debug" not in taken:
        parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                            help="show full tracebacks on errors")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (a repaired run directory, a damaged cache moved aside) as one line each."""
    print(f"cassia: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        # A command group without its sub-command (cassia boost) shows that group's help.
        (getattr(args, "group_parser", None) or parser).print_help(sys.stderr)
        return 2
    try:
        with interface("cli"), warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return int(args.handler(args) or 0)
    except BrokenPipeError:  # stdout closed early (cassia ... | head): not an error worth a message
        sys.stderr.close()
        return 141
    except KeyboardInterrupt:
        print("cassia: interrupted; rerun with --resume to finish what is missing", file=sys.stderr)
        return 130
    except CassiaError as err:
        if args.debug:
            raise
        print(f"cassia: error: {err}", file=sys.stderr)
        return EXIT_INPUT if isinstance(err, InputError) else EXIT_FAILED
    except OSError as err:  # reading or writing a file failed: permissions, disk full, a vanished folder
        if args.debug:
            raise
        where = f": {err.filename}" if err.filename else ""
        print(f"cassia: error: {err.strerror or err}{where}; check the path, its permissions and free disk space",
              file=sys.stderr)
        return EXIT_INPUT
    except Exception as err:  # an unexpected failure still gets one line unless --debug
        if args.debug:
            raise
        print(f"cassia: unexpected error ({type(err).__name__}): {err}. Rerun with --debug for details.",
              file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
