"""Speed and recall of the marker-database retrieval (measurement only; nothing here tunes it).

1. Speed: building the CellMarker 2.0 + PanglaoDB index from the table files (cold, no cache),
   loading it from the on-disk cache (warm), and ranking candidates per cluster.
2. Recall on the GPTCelltype development benchmark (Hou & Ji 2024; ../shared/data/gptcelltype,
   790 clusters, top-10 markers and tissue per cluster): how often the manual label's Cell
   Ontology term (column ``manual_CLID``) is among the top-5 retrieved candidates, as the same
   CL ID ("exact") or one is-a step away ("within 1 step"); top-1 for context, and the same for
   the CellMarker 2.0 annotation column of the benchmark file (a single label per cluster).
3. The offline annotator's call (first subtype, else general type) with and without the opt-in
   retrieval refinement (:mod:`cassia.knowledge.retrieved`), graded the same way.

Run from the repository root: ``.venv/bin/python benchmarks/rag_retrieval.py``. The databases
are read from ``$CASSIA_DATA_DIR`` (default here: ../shared/data/markerdb); the cold build uses
a temporary cache folder so the user's cache is left alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

DATA = Path("../shared/data")


def _ids(text: str) -> list[str]:
    """Live CL IDs of a benchmark cell (some name two terms: "CL:0000129,CL:0000881")."""
    from cassia import ontology

    parts = [p.strip() for p in str(text).split(",") if p.strip().startswith("CL:")]
    return [ontology.current_id(p) or p for p in parts]


def _grade(truths: list[str], predicted: list[str | None]) -> tuple[bool, bool]:
    """(same CL ID as one of the truths, or within one is-a step of one)."""
    from cassia import ontology

    exact = any(t in predicted for t in truths)
    near = exact or any(p is not None and ontology.distance(t, p) == 1 for t in truths for p in predicted)
    return exact, near


def _call_id(call) -> str | None:
    """The CL term of an offline call: its first subtype, else its general type (None: no call)."""
    from cassia import ontology
    from cassia.knowledge import load_knowledge_base

    if not call.confident:
        return None
    kb = load_knowledge_base()
    for name in [*call.subtypes[:1], call.general_type]:
        if name in kb.types:
            return kb.types[name].cl_id
        match = ontology.map_name(name)
        if match.cl_id:
            return match.cl_id
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N benchmark rows")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("CASSIA_DATA_DIR", str(DATA / "markerdb"))

    from cassia import ontology
    from cassia.knowledge import call_cell_type
    from cassia.knowledge.retrieved import call_with_retrieval
    from cassia.rag import RagRetriever
    from cassia.knowledge.markerdb import index as rag_index
    from cassia.knowledge.markerdb.retrieve import rank_candidates

    with tempfile.TemporaryDirectory() as cache:
        os.environ["CASSIA_CACHE_DIR"] = cache
        ontology.map_name("T cell")  # the ontology itself loads once per process; not part of the index build
        started = time.perf_counter()
        index = rag_index.load_index()
        cold = time.perf_counter() - started
        rag_index._memory.clear()
        started = time.perf_counter()
        index = rag_index.load_index()
        warm = time.perf_counter() - started
    print(f"index: {index.info['cell_types']} cell types from {index.info['records']} records")
    print(f"cold build (read + map names + index + write cache): {cold:.2f} s "
          f"(of which reading the tables {index.info.get('read_seconds', 0):.2f} s)")
    print(f"warm load from the disk cache: {warm:.3f} s")

    bench = pd.read_csv(DATA / "gptcelltype" / "benchmark_dev.csv")
    if args.limit:
        bench = bench.head(args.limit)
    bench = bench[bench["manual_CLID"].fillna("").str.startswith("CL:")]
    retriever = RagRetriever()
    retriever._index = index
    times, context_times, exact5, near5, exact1, near1, cm_exact, cm_near = [], [], 0, 0, 0, 0, 0, 0
    offline = {"knowledge base alone": [0, 0], "with retrieval": [0, 0]}
    rows = zip(bench["marker"], bench["tissue"], bench["manual_CLID"], bench["CellMarker2.0_CLID"])
    for markers, tissue, manual, baseline in rows:
        genes = [g.strip() for g in str(markers).split(",") if g.strip()]
        started = time.perf_counter()
        found = rank_candidates(genes, index, species="human", tissue=tissue, top=args.top)
        times.append(time.perf_counter() - started)
        started = time.perf_counter()
        retriever.build(genes, species="human", tissue=tissue).prompt_text()  # + trees, features, text
        context_times.append(time.perf_counter() - started)
        truth = _ids(manual)
        ids = [c.cl_id for c in found]
        e, n = _grade(truth, ids)
        exact5 += e
        near5 += n
        e1, n1 = _grade(truth, ids[:1])
        exact1 += e1
        near1 += n1
        retrieved = [c.as_dict() for c in retriever.retrieve(genes, species="human", tissue=tissue)]
        for label, call in (("knowledge base alone", call_cell_type(genes, tissue=tissue)),
                            ("with retrieval", call_with_retrieval(genes, retrieved=retrieved, tissue=tissue))):
            predicted = _call_id(call)
            if predicted is not None:
                oe, on = _grade(truth, [predicted])
                offline[label][0] += oe
                offline[label][1] += on
        if isinstance(baseline, str) and baseline.startswith("CL:"):
            be, bn = _grade(truth, _ids(baseline))
            cm_exact += be
            cm_near += bn
    total = len(bench)
    ms = [t * 1000 for t in times]
    print(f"retrieval per cluster (top {args.top}, 10 genes): median {statistics.median(ms):.2f} ms, "
          f"p95 {sorted(ms)[int(0.95 * (len(ms) - 1))]:.2f} ms, max {max(ms):.2f} ms")
    cms = [t * 1000 for t in context_times]
    print(f"whole context without a model (top 10 + ontology trees + features + prompt text) per cluster: "
          f"median {statistics.median(cms):.2f} ms, p95 {sorted(cms)[int(0.95 * (len(cms) - 1))]:.2f} ms")
    print(f"GPTCelltype dev benchmark, {total} clusters with a manual CL ID:")
    print(f"  correct type in top {args.top}: exact CL ID {exact5 / total:.1%} ({exact5}), "
          f"within 1 is-a step {near5 / total:.1%} ({near5})")
    print(f"  top 1: exact {exact1 / total:.1%}, within 1 step {near1 / total:.1%}")
    print(f"  for context, the benchmark's CellMarker2.0 column (one label): exact {cm_exact / total:.1%}, "
          f"within 1 step {cm_near / total:.1%}")
    for label, (e, n) in offline.items():
        print(f"  offline annotator, {label}: exact {e / total:.1%}, within 1 step {n / total:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
