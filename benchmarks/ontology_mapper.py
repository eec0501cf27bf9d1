"""Accuracy of ``cassia.ontology.map_name`` against names curated by people.

Data: ``../shared/data/gptcelltype/cl_name_map.csv`` (Hou & Ji, Nature Methods 2024): free-text
cell type names with the Cell Ontology name(s)/ID(s) the authors assigned (``NA`` when they
found none; several comma-separated IDs for names like "A / B").

Run from the repository root::

    .venv/bin/python benchmarks/ontology_mapper.py [--min-confidence 0.8] [--show 30]

Reported, for rows with one curated ID (old IDs followed to their current replacement):
exact ID accuracy, "within 1 step" (same term, parent or child), wrong and unmapped rates.
Rows with several IDs ("A / B") count as correct when the mapped ID or one of the compound's
parts is one of them ("one of them"), and as fully read when the parts cover every curated ID. Rows the curators
left unmapped are reported as the share we map anyway (often a term added to CL since).

``--cellmarker`` adds a second, independent check that was not used to tune the rules: the
cell names of CellMarker 2.0 (``../shared/data/markerdb/cellmarker2.tsv.gz``) with the CL IDs
its curators attached. Those IDs are often a broad parent ("incisor epithelial stem cell" ->
"stem cell"), so read its exact figure as a lower bound.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
DEFAULT_DATA = SHARED / "gptcelltype" / "cl_name_map.csv"
CELLMARKER = SHARED / "markerdb" / "cellmarker2.tsv.gz"


@dataclass
class Case:
    name: str
    gold: list[str]  # live CL IDs; empty when the curators gave none


def load_cases(path: Path) -> list[Case]:
    from cassia import ontology

    cases = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            gold = []
            for raw in row["CLID"].split(","):
                raw = raw.strip()
                if raw.upper().startswith("CL") and ontology.current_id(raw):
                    gold.append(ontology.current_id(raw))
            cases.append(Case(row["originalname"], gold))
    return cases


def load_cellmarker_cases(path: Path = CELLMARKER) -> list[Case]:
    """One case per distinct CellMarker cell name that carries a live CL ID."""
    import gzip

    from cassia import ontology

    cases: dict[str, Case] = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            name, raw = (row["cell_name"] or "").strip(), (row["cellontology_id"] or "").strip()
            if name in cases or not raw.upper().startswith("CL") or not ontology.current_id(raw):
                continue
            cases[name] = Case(name, [ontology.current_id(raw)])
    return list(cases.values())


def evaluate(cases: list[Case], *, min_confidence: float = 0.8) -> dict[str, float]:
    """Accuracy figures for ``map_name`` on the cases (fractions in 0..1)."""
    from cassia import ontology

    single = multi = na = 0
    exact = near = unmapped = multi_hit = multi_all = na_mapped = 0
    seconds = []
    for case in cases:
        start = time.perf_counter()
        match = ontology.map_name(case.name, min_confidence=min_confidence)
        seconds.append(time.perf_counter() - start)
        if not case.gold:
            na += 1
            na_mapped += match.cl_id is not None
        elif len(case.gold) == 1:
            single += 1
            gold = case.gold[0]
            if match.cl_id is None:
                unmapped += 1
            else:
                exact += match.cl_id == gold
                steps = ontology.distance(match.cl_id, gold)
                near += steps is not None and steps <= 1
        else:
            multi += 1
            found = {match.cl_id} | {p.cl_id for p in match.parts}
            multi_hit += bool(found & set(case.gold))
            multi_all += set(case.gold) <= found
    return {
        "single_rows": single,
        "exact": exact / single,
        "within_1_step": near / single,
        "wrong": (single - exact - unmapped) / single,
        "unmapped": unmapped / single,
        "multi_rows": multi,
        "multi_any": multi_hit / multi if multi else 0.0,
        "multi_all": multi_all / multi if multi else 0.0,
        "na_rows": na,
        "na_mapped": na_mapped / na if na else 0.0,
        "mean_ms_per_name": 1000 * statistics.fmean(seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--min-confidence", type=float, default=0.8)
    parser.add_argument("--show", type=int, default=0, help="print this many misses")
    parser.add_argument("--cellmarker", action="store_true", help="also score CellMarker 2.0 names")
    args = parser.parse_args()

    from cassia import ontology

    start = time.perf_counter()
    info = ontology.index_info()
    first_use = time.perf_counter() - start
    cases = load_cases(args.data)
    result = evaluate(cases, min_confidence=args.min_confidence)

    print(f"Cell Ontology {info['cl_version']}: {info['live_terms']} live terms, "
          f"{info['index_entries']} index entries")
    print(f"ontology load {info['load_seconds']:.3f} s, index build {info['index_build_seconds']:.3f} s, "
          f"first use total {first_use:.3f} s, {result['mean_ms_per_name']:.2f} ms per name")
    print(f"rows with one curated ID: {result['single_rows']}")
    print(f"  exact ID        {result['exact']:.1%}")
    print(f"  within 1 step   {result['within_1_step']:.1%}")
    print(f"  wrong           {result['wrong']:.1%}")
    print(f"  unmapped        {result['unmapped']:.1%}")
    print(f"rows with several IDs: {result['multi_rows']}, mapped to one of them {result['multi_any']:.1%}, "
          f"all of them as parts {result['multi_all']:.1%}")
    print(f"rows curated as NA: {result['na_rows']}, mapped anyway {result['na_mapped']:.1%}")

    if args.cellmarker:
        extra = evaluate(load_cellmarker_cases(), min_confidence=args.min_confidence)
        print(f"CellMarker 2.0 names with a CL ID: {extra['single_rows']}: exact {extra['exact']:.1%}, "
              f"within 1 step {extra['within_1_step']:.1%}, wrong {extra['wrong']:.1%}, "
              f"unmapped {extra['unmapped']:.1%}")

    if args.show:
        shown = 0
        for case in cases:
            if len(case.gold) != 1:
                continue
            match = ontology.map_name(case.name, min_confidence=args.min_confidence)
            if match.cl_id != case.gold[0] and shown < args.show:
                shown += 1
                print(f"  {case.name!r}: got {match.label!r} ({match.method} {match.confidence}), "
                      f"curated {ontology.label(case.gold[0])!r}")


if __name__ == "__main__":
    main()
