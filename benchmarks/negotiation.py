"""What negotiating with a strict server costs: calls per cluster with and without refusals.

Runs the pipeline on the pbmc3k clusters through the fake server in each strict vendor mode
(and, with ``--real``, through the real llama-cpp-python server with SmolLM2), with nothing
learned beforehand, and counts the HTTP requests the server received. A refusal is learned per
(server, model) the first time, so the extra requests are the refusals themselves: at most one
per refused parameter or structured mode, plus the calls already in flight when the first
refusal came back; none after. A server that takes json_object's schema but ignores it
(``deepseek`` mode with a model the registry does not know) costs one repair per call in flight
when that shows, once, the same way. Prints, per mode: requests per cluster, refusals, and the
extra requests against the same run on a server that refuses nothing.

    .venv/bin/python benchmarks/negotiation.py                 # fake server modes (seconds)
    .venv/bin/python benchmarks/negotiation.py --real --clusters 3   # plus the real server (minutes)
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

import pandas as pd

import cassia
from cassia.providers import forget_learned
from cassia.testing import FakeLLMServer

PBMC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "markers" / "pbmc3k_findallmarkers.csv"
# (mode, model name sent): unknown names, so the registry does not know what the server refuses.
MODES = [(None, "plain-model"), ("llama-cpp", "plain-model"), ("deepseek", "plain-model"),
         ("no-structured", "plain-model"), ("openai-reasoning", "plain-model")]


def markers(n_clusters: int) -> pd.DataFrame:
    table = pd.read_csv(PBMC)
    keep = sorted(table["cluster"].unique())[:n_clusters]
    return table[table["cluster"].isin(keep)]


def fake_run(vendor: str | None, model: str, table: pd.DataFrame, workers: int) -> dict:
    forget_learned()
    with FakeLLMServer(vendor=vendor) as server, tempfile.TemporaryDirectory() as tmp:
        result = cassia.run_pipeline(table, tissue="blood", provider=server.url, model=model, max_tokens=800,
                                     out_dir=Path(tmp) / "run", max_workers=workers, progress=False,
                                     use_cache=False)
        return {"mode": vendor or "accepts everything", "requests": len(server.requests),
                "refused": server.refused, "ok": result.manifest["counts"]["ok"]}


def real_run(table: pd.DataFrame, workers: int) -> dict:
    from cassia.testing.real_server import RealServer

    forget_learned()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        with RealServer(log_path=log) as server:
            result = cassia.run_pipeline(table, tissue="blood", provider=server.url, model="smollm2-135m",
                                         max_tokens=1536, scoring_max_tokens=768, boost_max_tokens=1024,
                                         validator_rounds=1, boost_iterations=1, out_dir=Path(tmp) / "run",
                                         max_workers=workers, progress=False, use_cache=False)
        text = log.read_text(errors="replace")
        requests = len(re.findall(r'"POST /v1/chat/completions HTTP/1.1" \d+', text))
        refused = len(re.findall(r'"POST /v1/chat/completions HTTP/1.1" 500', text))
        return {"mode": "real llama-cpp-python + SmolLM2", "requests": requests, "refused": refused,
                "ok": result.manifest["counts"]["ok"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=9, help="pbmc3k clusters to run (default all 9)")
    parser.add_argument("--workers", type=int, default=4, help="clusters at once (default 4)")
    parser.add_argument("--real", action="store_true", help="also run the real llama-cpp-python server")
    args = parser.parse_args()
    table = markers(args.clusters)
    n = table["cluster"].nunique()
    rows = [fake_run(vendor, model, table, args.workers) for vendor, model in MODES]
    for row in rows:
        row["extra"] = row["requests"] - rows[0]["requests"]
    if args.real:  # the real server always refuses json_schema: its extra requests are its refusals
        rows.append({**real_run(table, args.workers)})
        rows[-1]["extra"] = rows[-1]["refused"]
    print(f"pbmc3k, {n} clusters, {args.workers} at once, nothing learned beforehand")
    print(f"{'server':<34} {'requests':>8} {'per cluster':>11} {'refused':>7} {'extra':>5} {'ok':>3}")
    for row in rows:
        print(f"{row['mode']:<34} {row['requests']:>8} {row['requests'] / n:>11.2f} {row['refused']:>7} "
              f"{row['extra']:>5} {row['ok']:>3}")
    print("extra = requests beyond the run on a server that refuses nothing (real server: its refusals);"
          f" at most (refused or ignored modes and parameters) x {args.workers} calls in flight, whatever the"
          " cluster count")


if __name__ == "__main__":
    main()
