"""``cassia doctor``: what this installation has, for bug reports and first steps.

Python and engine versions, R and the R package CASSIA when present, which providers have a
key set (only "set"/"not set" and the variable's name: never a key), which agent CLIs are on
PATH, which backend a run would pick by default, and the response cache's location and size.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from .common import print_json

R_TIMEOUT = 20.0  # seconds; R starts in well under a second, a broken library path can hang


def _run_r(rscript: str, code: str) -> tuple[str | None, str | None]:
    try:
        done = subprocess.run([rscript, "--vanilla", "-e", code], capture_output=True, text=True, timeout=R_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, f"Rscript did not answer within {R_TIMEOUT:g} s"
    except OSError as err:
        return None, f"could not run Rscript ({err})"
    if done.returncode != 0:
        return None, (done.stderr.strip().splitlines() or ["error"])[-1]
    return done.stdout.strip(), None


def r_info(skip: bool = False) -> dict:
    if skip:
        return {"rscript": None, "version": None, "cassia_package": None, "note": "not checked (--skip-r)"}
    rscript = shutil.which("Rscript")
    if rscript is None:
        return {"rscript": None, "version": None, "cassia_package": None,
                "note": "R not found on PATH (only needed for the R package)"}
    version, error = _run_r(rscript, "cat(R.version.string)")
    package, missing = _run_r(rscript, 'cat(as.character(utils::packageVersion("CASSIA")))')
    return {"rscript": rscript, "version": version, "cassia_package": package,
            "note": error or (None if package else "R package CASSIA not installed")}


def key_rows() -> list[dict]:
    """One row per key variable: the providers using it and "set"/"not set" (never the value)."""
    from ..providers.keys import find_key
    from ..providers.registry import CUSTOM_KEY_ENV, VENDORS

    groups: dict[str, list[str]] = {}
    for vendor in VENDORS.values():
        if vendor.key_env:
            groups.setdefault(vendor.key_env, []).append(vendor.name)
    groups.setdefault(CUSTOM_KEY_ENV, []).append("custom URL")
    return [{"providers": names, "key_env": env, "key": "set" if find_key(env) is not None else "not set"}
            for env, names in groups.items()]


def cache_info() -> dict:
    from ..providers.cache import ResponseCache, check_cache, default_cache_path

    path = default_cache_path()
    if not path.exists():  # do not create it just to look at it
        return {"path": str(path), "exists": False, "entries": 0, "bytes": 0, "problem": None}
    problem = check_cache(path)  # read-only: doctor reports damage, the next run moves the file aside
    if problem is not None:
        return {"path": str(path), "exists": True, "entries": None, "bytes": path.stat().st_size, "problem": problem}
    stats = ResponseCache(path).stats()
    extra = sum(p.stat().st_size for p in path.parent.glob(path.name + "-*") if p.is_file())  # WAL files
    return {"path": str(path), "exists": True, "entries": stats["entries"], "bytes": stats["bytes"] + extra,
            "problem": None}


def default_backend() -> str:
    from ..providers.keys import configured_vendors

    vendors = configured_vendors()
    return vendors[0] if vendors else "offline"


def collect(*, skip_r: bool = False) -> dict:
    from ..providers.agent_cli import AGENT_CLIS, cli_status
    from ..version import __version__

    return {
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "cassia": {"version": __version__, "location": str(Path(__file__).resolve().parents[1])},
        "r": r_info(skip_r),
        "keys": key_rows(),
        "agent_clis": [cli_status(name) for name in AGENT_CLIS],
        "default_backend": default_backend(),
        "cache": cache_info(),
    }


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _doctor(args: argparse.Namespace) -> int:
    info = collect(skip_r=args.skip_r)
    if args.json:
        print_json(info)
        return 0
    r = info["r"]
    print(f"python      {info['python']['version']} ({info['python']['executable']})")
    print(f"cassia      {info['cassia']['version']} ({info['cassia']['location']})")
    print(f"R           {r['version'] or '-'}" + (f" ({r['rscript']})" if r["rscript"] else ""))
    print(f"R CASSIA    {r['cassia_package'] or '-'}" + (f"  [{r['note']}]" if r["note"] else ""))
    print("API keys (values are never shown):")
    for row in info["keys"]:
        print(f"  {row['key_env']:<20} {row['key']:<8} {', '.join(row['providers'])}")
    print("agent CLIs:")
    for row in info["agent_clis"]:
        print(f"  {row['name']:<14} {'yes' if row['available'] else 'no':<4} {row['detail']}")
    print(f"default backend: {info['default_backend']} (used when --provider is not given)")
    cache = info["cache"]
    state = f"{cache['entries']} responses, {_size(cache['bytes'])}" if cache["exists"] else "not created yet"
    if cache["problem"]:
        state = (f"DAMAGED: {cache['problem']}; the next run moves it aside and starts a fresh one, "
                 "or delete it; --no-cache runs without it")
    print(f"cache: {cache['path']} ({state}; CASSIA_CACHE_DIR moves it)")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("doctor", help="check the installation: versions, R, keys, agent CLIs, cache",
                                   description="Show Python and engine versions, R and the R package CASSIA, which "
                                               "providers have keys set (never the keys), agent CLIs on PATH, and "
                                               "the response cache.")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--skip-r", action="store_true", help="do not start R to look for the R package")
    parser.set_defaults(handler=_doctor)
