"""``cassia batch status RUN`` and ``cassia batch cancel RUN``: a run's provider batches."""

from __future__ import annotations

import argparse

from .common import print_json


def _print(rows: list[dict], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    if not rows:
        print("no open provider batches")
        return
    for row in rows:
        counts = ", ".join(f"{k} {v}" for k, v in (row["counts"] or {}).items() if v)
        note = f"  [{row['note']}]" if row["note"] else ""
        print(f"{row['batch']}  {row['provider']}/{row['model']}  {row['id'] or '-'}  {row['requests']} requests  "
              f"{row['state']}" + (f" ({counts})" if counts else "") + note)


def _status(args: argparse.Namespace) -> int:
    from ..workflows.batch_admin import batch_status

    _print(batch_status(args.run, refresh=not args.no_refresh), args.json)
    return 0


def _cancel(args: argparse.Namespace) -> int:
    from ..workflows.batch_admin import batch_cancel

    _print(batch_cancel(args.run), args.json)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("batch", help="provider batches of a --batch-api run: status, cancel",
                                   description="Show or cancel the provider batches (OpenAI Batch, Anthropic "
                                               "Message Batches) of a run started with --batch-api.")
    parser.set_defaults(group_parser=parser)
    commands = parser.add_subparsers(dest="batch_command", metavar="COMMAND")
    status = commands.add_parser("status", help="state and request counts of each batch of a run",
                                 description="One line per provider batch of RUN: id, state, request counts.")
    status.add_argument("run", metavar="RUN", help="the run directory (--out of the run)")
    status.add_argument("--no-refresh", action="store_true", help="show the saved states; do not ask the providers")
    status.add_argument("--json", action="store_true", help="print JSON records")
    status.set_defaults(handler=_status)
    cancel = commands.add_parser("cancel", help="cancel the batches of a run still running",
                                 description="Ask the providers to cancel RUN's open batches. Finished requests "
                                             "are kept; --resume retries the rest.")
    cancel.add_argument("run", metavar="RUN", help="the run directory (--out of the run)")
    cancel.add_argument("--json", action="store_true", help="print JSON records")
    cancel.set_defaults(handler=_cancel)
