"""``cassia backends list``: every backend CASSIA can use here, and whether it is ready.

Hosted vendors are ready when their key variable is set (the key itself is never shown), local
servers (Ollama, vLLM, LM Studio) are checked only with ``--probe`` (one GET of ``/models`` on
localhost), agent CLIs when their program is on PATH, and the offline annotator always.
"""

from __future__ import annotations

import argparse

from .common import print_json


def backend_rows(*, probe: bool = False) -> list[dict]:
    """One dict per backend: name, kind, available (True/False/None = not checked), detail, model."""
    from ..providers.agent_cli import AGENT_CLIS, cli_status
    from ..providers.keys import find_key
    from ..providers.registry import CUSTOM_KEY_ENV, VENDORS

    rows = []
    for vendor in VENDORS.values():
        row = {"name": vendor.name, "kind": vendor.kind, "default_model": vendor.default_model,
               "key_env": vendor.key_env}
        if vendor.kind == "offline":
            row.update(available=True, detail="built-in knowledge-base annotator; no key, no network")
        elif vendor.kind == "cli":
            status = cli_status(vendor.name)
            row.update(available=status["available"], detail=f"{status['detail']}; {AGENT_CLIS[vendor.name].description}",
                       path=status["path"])
        elif vendor.key_env == CUSTOM_KEY_ENV:  # a server on this machine
            row.update(available=_probe(vendor.base_url) if probe else None,
                       detail=f"local server at {vendor.base_url}" + ("" if probe else " (not checked; --probe)"))
        else:
            present = find_key(vendor.key_env) is not None
            row.update(available=present, detail=f"{vendor.key_env} {'set' if present else 'not set'}")
        rows.append(row)
    return rows


def _probe(base_url: str | None) -> bool:
    import httpx

    try:
        return httpx.get(f"{base_url}/models", timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


def _mark(value) -> str:
    return {True: "yes", False: "no", None: "?"}[value]


def _list(args: argparse.Namespace) -> int:
    rows = backend_rows(probe=args.probe)
    if args.json:
        print_json({"backends": rows})
        return 0
    width = max(len(r["name"]) for r in rows)
    print(f"{'BACKEND':<{width}}  {'KIND':<10} {'READY':<5} DETAIL")
    for r in rows:
        print(f"{r['name']:<{width}}  {r['kind']:<10} {_mark(r['available']):<5} {r['detail']}")
    print("Any OpenAI-compatible server also works: --provider http://HOST:PORT/v1 (key, if any, in CASSIA_API_KEY).")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("backends", help="list the backends and whether each is ready",
                                   description="Backends: hosted vendors, local servers, agent CLIs and offline.")
    parser.set_defaults(handler=_list, json=False, probe=False)  # plain `cassia backends` lists them too
    commands = parser.add_subparsers(dest="backends_command", metavar="COMMAND")
    listing = commands.add_parser("list", help="every backend with its availability",
                                  description="List every backend with its availability (keys are never shown).")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.add_argument("--probe", action="store_true", help="check local servers (Ollama, vLLM, LM Studio) on localhost")
    listing.set_defaults(handler=_list)
