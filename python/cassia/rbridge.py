"""The Python side of the R package's bridge: JSON text in, JSON text out.

The R package ``CASSIA`` sends one JSON request per call and gets one JSON answer back. Nothing
but text and files crosses the boundary, so the R side works with any NumPy/pandas/reticulate
versions (reticulate 1.28 cannot convert NumPy 2 or pandas 3 objects). Two transports carry the
text:

- in process, through reticulate: R evaluates ``handle_base64('<base64 of the request>')``
  with ``py_eval`` and keeps no Python object (R's garbage collector never touches Python);
- in a child process: ``python -m cassia.rbridge --request FILE --answer FILE`` (see
  :func:`main`), used when R itself runs inside Python through rpy2, or when reticulate is
  bound to a Python without the engine.

Requests are ``{"op": NAME, ...fields}``; answers are ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": {"type": "InputError", "message": "..."}}``. Errors are answers, not
exceptions, so R raises them as plain ``stop()`` messages without a Python traceback.

Tables cross as :mod:`cassia.rtables` describes: from R as binary column files, to R as JSON.
Messages name options the way R spells them (``resume = TRUE``; see :mod:`cassia.spelling`).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from .errors import CassiaError, InputError, redact
from .rtables import (
    CONSENSUS_TYPES,
    SUBCLUSTER_TYPES,
    SUMMARY_TYPES,
    UNCERTAINTY_TYPES,
    ensemble_types,
    frame_from_r,
    frame_to_r,
)
from .spelling import interface
from .version import __version__

__all__ = ["DISTRIBUTION", "frame_from_r", "frame_to_r", "handle", "handle_base64"]

# The engine's name on the package index (the import name stays ``cassia``; PyPI's ``cassia`` is
# another program). The R package's cassia_install_engine() refuses to install that one.
DISTRIBUTION = "cassia-annotate"

# The columns of a cost estimate (CostEstimate.to_frame) as R gets them.
ESTIMATE_TYPES = {"stage": "character", "provider": "character", "model": "character", "calls": "integer",
                  "input_tokens": "integer", "output_tokens": "integer", "cost_usd": "double"}

# Run verbs R may call, by the name the R functions send.
_RUN_VERBS = {
    "annotationboost": "run_annotation_boost",
    "batch": "run_batch",
    "batch_n_times": "run_n_times",
    "ensemble": "run_ensemble",
    "pipeline": "run_pipeline",
    "score_batch": "run_score_batch",
    "subclusters": "run_subclusters",
    "uncertainty": "run_uncertainty",
}



# ---------------------------------------------------------------- operations


def _op_roundtrip(request: dict[str, Any]) -> dict[str, Any]:
    return frame_to_r(frame_from_r(request["table"]))


def _op_run(request: dict[str, Any]) -> dict[str, Any]:
    import cassia

    verb = request.get("verb")
    if verb not in _RUN_VERBS:
        raise InputError(f"unknown run verb {verb!r}; expected one of {sorted(_RUN_VERBS)}")
    options = dict(request.get("options") or {})
    function: Callable[..., Any] = getattr(cassia, _RUN_VERBS[verb])
    first = request["run_dir"] if verb == "score_batch" else _markers(verb, request, options)
    try:
        result = function(first, **options)
    except TypeError as err:
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(err))
        if unknown is None:
            raise
        raise InputError(f"{unknown[1]} is not an argument of {request.get('caller') or _RUN_VERBS[verb]}(); "
                         f"{_valid_arguments(request)}") from None
    from .agents.estimate import CostEstimate

    if isinstance(result, CostEstimate):  # estimate_cost = TRUE: nothing was run
        return {"estimate": frame_to_r(result.to_frame(), ESTIMATE_TYPES), "text": result.text(),
                "totals": {"clusters": result.clusters, "calls": result.calls, "tokens": result.tokens,
                           "cost_usd": result.cost_usd}}
    if verb == "annotationboost":
        return _boost_answer(result)
    if verb == "batch_n_times":
        return {"runs": [_run_answer(run) for run in result]}
    if verb == "uncertainty":
        return _uncertainty_answer(result)
    if verb == "ensemble":
        return _ensemble_answer(result)
    return _run_answer(result, SUBCLUSTER_TYPES if verb == "subclusters" else SUMMARY_TYPES)


def _markers(verb: str, request: dict[str, Any], options: dict[str, Any]) -> Any:
    """The MarkerSet a run verb starts from, selected with R's marker arguments.

    ``request["filters"]`` holds the filter arguments the R user gave (``null`` turns a filter
    off). Annotation Boost inside an earlier run keeps that run's selection for whatever was not
    given, as ``cassia boost`` does; every other verb starts from :class:`MarkerFilters`' defaults.
    """
    from .markers import MarkerFilters, load_markers

    markers = request.get("markers") or {}
    data = frame_from_r(markers["table"]) if "table" in markers else markers.get("path")
    if data is None:
        raise InputError("no markers given: pass a FindAllMarkers data frame, a file path or a Seurat object")
    given = dict(request.get("filters") or {})
    valid = list(vars(MarkerFilters()))
    if unknown := sorted(set(given) - set(valid)):
        raise InputError(f"unknown marker filter(s) {unknown}; the filters are {valid}")
    settings, recorded = {}, {}
    if verb == "annotationboost" and options.get("run_dir"):
        from .store import read_manifest

        manifest = read_manifest(options["run_dir"])
        settings = manifest.get("settings") or {}
        recorded = (manifest.get("input") or {}).get("filters") or {}
    filters = MarkerFilters(**{**vars(MarkerFilters()), **recorded, **given})
    return load_markers(data, n_genes=options.get("n_genes") or settings.get("n_genes") or 50,
                        ranking=options.get("ranking") or settings.get("ranking") or "avg_log2FC", filters=filters)


def _valid_arguments(request: dict[str, Any]) -> str:
    known = request.get("arguments")
    if known:
        return "its arguments are " + ", ".join(known) + " (and the further engine options its help page lists)"
    return "check the spelling against its help page"


def _run_answer(result: Any, types: dict[str, str] = SUMMARY_TYPES) -> dict[str, Any]:
    """A RunResult for R: its directory, summary table and manifest."""
    return {
        "run_dir": str(result.run_dir),
        "summary": frame_to_r(result.to_frame(), types),
        "manifest": _plain(result.manifest),
    }


def _uncertainty_answer(result: Any) -> dict[str, Any]:
    """An UncertaintyResult for R: the per-cluster table, where it was written, and its runs."""
    return {
        "out_dir": str(result.out_dir) if result.out_dir is not None else None,
        "table": frame_to_r(result.to_frame(), UNCERTAINTY_TYPES),
        "manifest": _plain(result.manifest),
        "runs": [_run_answer(run) for run in result.runs],
    }


def _ensemble_answer(result: Any) -> dict[str, Any]:
    """An EnsembleResult for R: the ensemble table, where it was written, and its manifest."""
    return {
        "out_dir": str(result.out_dir),
        "table": frame_to_r(result.to_frame(), ensemble_types(result.models)),
        "manifest": _plain(result.manifest),
    }


def _inputs(request: dict[str, Any], field: str) -> list[Any]:
    """Runs or tables R sent as ``[{"path": ...} | {"table": ...}, ...]``."""
    items = request.get(field)
    if not isinstance(items, list):
        raise InputError(f"internal: the R bridge sent no list of {field}")
    return [frame_from_r(item["table"]) if "table" in item else item.get("path") for item in items]


def _op_score_runs(request: dict[str, Any]) -> dict[str, Any]:
    from .workflows.uncertainty import score_runs

    return _uncertainty_answer(score_runs(_inputs(request, "runs"), **dict(request.get("options") or {})))


def _op_consensus(request: dict[str, Any]) -> dict[str, Any]:
    from .workflows.consensus import run_consensus

    return frame_to_r(run_consensus(_inputs(request, "runs"), **dict(request.get("options") or {})), CONSENSUS_TYPES)


def _op_merge(request: dict[str, Any]) -> dict[str, Any]:
    from .store import SUMMARY_COLUMNS
    from .workflows.merge import merge_annotations

    (results,) = _inputs(request, "results")
    merged = merge_annotations(results, **dict(request.get("options") or {}))
    # A summary.csv read back by pandas turns empty text columns into floats: keep them text.
    types = {**{name: "character" for name in SUMMARY_COLUMNS}, **SUMMARY_TYPES}
    types.update({name: "character" for name in merged.columns
                  if str(name).startswith("Merged_Grouping_") or name == "Merge Notes"})
    return frame_to_r(merged, types)


def _boost_answer(result: Any) -> dict[str, Any]:
    """A BoostResult for R: its summary row, run, and what the boost did."""
    from .store import read_manifest

    return {
        "run_dir": str(result.run_dir),
        "summary": frame_to_r(result.to_frame(), SUMMARY_TYPES),
        "manifest": _plain(read_manifest(result.run_dir)) if result.run_dir is not None else {},
        "boost": {
            "status": result.status,
            "error": result.error,
            "iterations": result.iterations,
            "converged": result.converged,
            "answer": result.answer,
            "hypotheses": frame_to_r(result.hypotheses_frame()),
            "genes_checked": frame_to_r(result.genes_frame()),
        },
    }


def _plain(value: Any) -> Any:
    """JSON-ready copy (paths, dates and other objects become strings)."""
    return json.loads(json.dumps(value, default=str))


def _op_set_api_key(request: dict[str, Any]) -> dict[str, Any]:
    from .providers import set_api_key
    from .providers.registry import key_env_var

    provider = request.get("provider")
    set_api_key(request["api_key"], provider=provider)
    return {"env_var": key_env_var(provider)}


def _op_clear_api_keys(request: dict[str, Any]) -> dict[str, Any]:
    from .providers import clear_api_keys

    clear_api_keys()
    return {}


def _op_doctor(request: dict[str, Any]) -> dict[str, Any]:
    from .providers.keys import find_key
    from .providers.registry import key_env_vars

    key_vars = {name: var for name, var in key_env_vars().items() if var}
    versions = {}
    for name in ("pandas", "numpy", "pydantic", "httpx", "rpy2"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # reported as absent: showing that is the doctor's job
            versions[name] = None
    return {
        "engine_version": __version__,
        "distribution": DISTRIBUTION,
        "engine_location": str(Path(__file__).resolve().parent),
        "python": sys.executable,
        "python_version": platform.python_version(),
        "modules": versions,
        "keys_set": {name: find_key(var) is not None for name, var in key_vars.items()},
        "key_vars": key_vars,
    }


_OPS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "clear_api_keys": _op_clear_api_keys,
    "consensus": _op_consensus,
    "doctor": _op_doctor,
    "merge": _op_merge,
    "roundtrip": _op_roundtrip,
    "run": _op_run,
    "score_runs": _op_score_runs,
    "set_api_key": _op_set_api_key,
}


def _sync_key_environment(variables: dict[str, str] | None) -> None:
    """Mirror R's key variables into ``os.environ``.

    Python copies the process environment once, when reticulate starts it; a key the user sets
    later with ``Sys.setenv()`` (or removes) would otherwise never reach the engine. R sends
    every ``*_API_KEY`` variable it has with each request, and R's view wins.
    """
    if variables is None:
        return
    for name in [n for n in os.environ if n.endswith("_API_KEY") and n not in variables]:
        del os.environ[name]
    for name, value in variables.items():
        if name.endswith("_API_KEY"):
            os.environ[name] = value


def handle(request_json: str) -> str:
    """Carry out one request from R; always returns a JSON answer (errors included)."""
    try:
        request = json.loads(request_json)
    except ValueError as err:
        return _error_answer("InputError", f"the R bridge sent a request that is not JSON: {err}")
    return _handle(request)


def _handle(request: dict[str, Any]) -> str:
    with interface("r"):  # messages name options as R spells them: resume = TRUE, max_p_val_adj = NULL
        return _handle_r(request)


def _handle_r(request: dict[str, Any]) -> str:
    try:
        _sync_key_environment(request.pop("environment", None))
        op = _OPS.get(request.get("op"))
        if op is None:
            raise InputError(f"unknown bridge operation {request.get('op')!r}; expected one of {sorted(_OPS)}")
        return json.dumps({"ok": True, "result": op(request)}, allow_nan=False)
    except CassiaError as err:
        return _error_answer(type(err).__name__, str(err))
    except Exception as err:  # noqa: BLE001 - reported to R as one line, never a traceback
        message = f"unexpected error in the CASSIA engine ({type(err).__name__}): {err}"
        return _error_answer(type(err).__name__, message)


def handle_base64(request_base64: str) -> str:
    """:func:`handle` for a request sent as base64 of its UTF-8 JSON (how R sends it: the
    text can then sit in a Python expression as a plain literal)."""
    try:
        request_json = base64.b64decode(request_base64).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as err:
        return _error_answer("InputError", f"the R bridge sent an undecodable request: {err}")
    return handle(request_json)


def _error_answer(kind: str, message: str) -> str:
    return json.dumps({"ok": False, "error": {"type": kind, "message": redact(message)}})


def main(argv: list[str] | None = None) -> int:
    """``python -m cassia.rbridge --request FILE --answer FILE``: the R package's subprocess transport.

    Keys are not in the request file; R passes them in ``CASSIA_BRIDGE_SECRETS`` (JSON with
    ``api_key`` and/or ``options.api_key``), which is removed from the environment on arrival.
    """
    parser = argparse.ArgumentParser(prog="python -m cassia.rbridge", description=main.__doc__)
    parser.add_argument("--request", required=True, type=Path, help="JSON request written by the R package")
    parser.add_argument("--answer", required=True, type=Path, help="where to write the JSON answer")
    args = parser.parse_args(argv)
    secrets = json.loads(os.environ.pop("CASSIA_BRIDGE_SECRETS", None) or "{}")
    try:
        request = json.loads(args.request.read_text(encoding="utf-8"))
    except ValueError as err:
        answer = _error_answer("InputError", f"the R bridge sent a request that is not JSON: {err}")
    else:
        if "api_key" in secrets:
            request["api_key"] = secrets["api_key"]
        if "options.api_key" in secrets:
            request.setdefault("options", {})["api_key"] = secrets["options.api_key"]
        answer = _handle(request)
    args.answer.write_text(answer, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
