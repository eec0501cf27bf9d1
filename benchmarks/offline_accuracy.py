"""Accuracy of the offline knowledge-base annotator (measurement only; nothing here tunes the KB).

1. Real marker tables in ../shared/data/markers: top 50 genes per cluster (p_val_adj < 0.05,
   sorted by avg_log2FC), predicted type against the reference label of each cluster, graded on
   the Cell Ontology (exact / finer / coarser / same family / mismatch) plus a hand judgement.
2. The GPTCelltype development benchmark (Hou & Ji 2024; ../shared/data/gptcelltype): top-10
   markers per cluster; how often the top-1 call's CL ID equals the manual label's CL ID, and how
   often one is an ancestor or descendant of the other. The GPT-4 column of the same file is
   graded the same way for context. Simulated null and mixed lists are also measured.

Run from the repository root: ``.venv/bin/python benchmarks/offline_accuracy.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
from cellxgene_ontology_guide.ontology_parser import OntologyParser

from cassia.knowledge import call_cell_type, load_knowledge_base

DATA = Path("../shared/data")

# Reference labels of the example tables as Cell Ontology terms, with our hand judgement written
# after looking at each prediction (see the report printed below).
REFERENCE = {
    ("large_intestine", "cd8-positive, alpha-beta t cell (mixed)"): "CL:0000625",
    ("large_intestine", "intestinal crypt stem cell"): "CL:0002250",
    ("large_intestine", "intestinal enteroendocrine cell"): "CL:1001516",
    ("large_intestine", "monocyte (inaccurate annotation)"): "CL:0000125",  # glial markers: graded as glial cell
    ("large_intestine", "plasma cell"): "CL:0000786",
    ("large_intestine", "transit amplifying cell of large intestine"): "CL:0009010",
    ("pbmc3k", "0"): "CL:0000895",  # naive CD4 T
    ("pbmc3k", "1"): "CL:0000860",  # CD14+ (classical) monocyte
    ("pbmc3k", "2"): "CL:0000897",  # memory CD4 T
    ("pbmc3k", "3"): "CL:0000236",  # B
    ("pbmc3k", "4"): "CL:0000625",  # CD8 T
    ("pbmc3k", "5"): "CL:0000875",  # FCGR3A+ (non-classical) monocyte
    ("pbmc3k", "6"): "CL:0000623",  # NK
    ("pbmc3k", "7"): "CL:0000451",  # dendritic cell
    ("pbmc3k", "8"): "CL:0000233",  # platelet
}
# Hand judgement of each prediction (written after reading the cluster's top genes).
JUDGEMENT = {
    ("large_intestine", "cd8-positive, alpha-beta t cell (mixed)"): "correct (effector memory CD8 T; NK admixture not flagged)",
    ("large_intestine", "intestinal crypt stem cell"): "correct, low confidence (LGR5 #7, ASCL2 #14 among pseudogenes)",
    ("large_intestine", "intestinal enteroendocrine cell"): "correct (GCG/PYY/INSL5: L cell subtype)",
    ("large_intestine", "monocyte (inaccurate annotation)"): "correct: glial, as the markers say (label is wrong)",
    ("large_intestine", "plasma cell"): "correct",
    ("large_intestine", "transit amplifying cell of large intestine"): "correct",
    ("pbmc3k", "0"): "partly: naive T cell right, CD8 instead of CD4 (CD8B #49)",
    ("pbmc3k", "1"): "correct",
    ("pbmc3k", "2"): "defensible: FOXP3/CTLA4/IL2RA rank high, Treg is a CD4 memory-phenotype subset",
    ("pbmc3k", "3"): "correct",
    ("pbmc3k", "4"): "correct",
    ("pbmc3k", "5"): "correct",
    ("pbmc3k", "6"): "correct",
    ("pbmc3k", "7"): "correct general type (pDC markers rank highest in this DC cluster)",
    ("pbmc3k", "8"): "correct",
}
TISSUE = {"large_intestine": "large intestine", "pbmc3k": "PBMC", "cd8_subcluster": "large intestine"}


def top_markers(path: Path, n: int = 50) -> dict[str, list[str]]:
    table = pd.read_csv(path)
    table = table[table["p_val_adj"] < 0.05]
    return {
        str(cluster): list(group.sort_values("avg_log2FC", ascending=False)["gene"].head(n))
        for cluster, group in table.groupby("cluster", sort=False)
    }


def relation(onto: OntologyParser, predicted: str | None, reference: str, general: str | None = None) -> str:
    """exact / finer (prediction below the reference) / coarser / same general type / mismatch / unknown.

    "same general type": the prediction's knowledge-base general type (CL ID ``general``) is the
    reference or one of its ancestors, e.g. naive CD8 T predicted for naive CD4 T (both T cells).
    """
    if predicted is None:
        return "unknown"
    if predicted == reference:
        return "exact"
    if reference in onto.get_term_ancestors(predicted):
        return "finer"
    if predicted in onto.get_term_ancestors(reference):
        return "coarser"
    if general is not None and general in onto.get_term_ancestors(reference, include_self=True):
        return "same general type"
    return "mismatch"


def general_id(call) -> str | None:
    kb = load_knowledge_base()
    return kb.get(call.general_type).cl_id if call.general_type else None


def example_tables(onto: OntologyParser) -> None:
    print("== Example marker tables (top 50 genes per cluster) ==")
    grades: dict[str, int] = {}
    for path in sorted((DATA / "markers").glob("*_findallmarkers.csv")):
        name = path.name.removesuffix("_findallmarkers.csv")
        for cluster, genes in top_markers(path).items():
            call = call_cell_type(genes, species="human", tissue=TISSUE.get(name))
            predicted = call.best.cl_id if call.confident and call.best else None
            ref = REFERENCE.get((name, cluster))
            grade = relation(onto, predicted, ref, general_id(call)) if ref else "no reference"
            if ref:
                grades[grade] = grades.get(grade, 0) + 1
            ref_label = onto.get_term_label(ref) if ref else "-"
            print(f"{name:16} {cluster[:42]:42} -> {call.label} [{call.general_label}; {call.confidence}, "
                  f"quality {call.quality}] | reference: {ref_label} | {grade}"
                  + (f" | judgement: {JUDGEMENT[(name, cluster)]}" if (name, cluster) in JUDGEMENT else ""))
    print("grades:", grades)


def gptcelltype(onto: OntologyParser, limit: int | None) -> None:
    frame = pd.read_csv(DATA / "gptcelltype" / "benchmark_dev.csv")
    if limit:
        frame = frame.head(limit)
    valid = frame["manual_CLID"].map(lambda x: isinstance(x, str) and onto.is_valid_term_id(x))
    skipped = int((~valid).sum())
    frame = frame[valid]
    counts = {"exact": 0, "finer": 0, "coarser": 0, "same general type": 0, "mismatch": 0, "unknown": 0}
    raw_counts = dict(counts)  # top-1 candidate even when the call is not confident
    gpt4 = dict(counts)
    started = time.perf_counter()
    for row in frame.itertuples(index=False):
        ref = row.manual_CLID
        genes = [g.strip() for g in str(row.marker).split(",")]
        call = call_cell_type(genes, species="human", tissue=row.tissue)
        general = general_id(call)
        counts[relation(onto, call.best.cl_id if call.confident and call.best else None, ref, general)] += 1
        raw_counts[relation(onto, call.best.cl_id if call.best else None, ref, general)] += 1
        gpt = row.gpt4aug3_CLID if isinstance(row.gpt4aug3_CLID, str) and onto.is_valid_term_id(row.gpt4aug3_CLID) else None
        gpt4[relation(onto, gpt, ref)] += 1
    elapsed = time.perf_counter() - started
    n = len(frame)

    def show(title: str, c: dict[str, int]) -> None:
        related = c["finer"] + c["coarser"]
        print(f"{title}: exact CL ID {c['exact']}/{n} ({100 * c['exact'] / n:.1f}%), "
              f"ancestor/descendant {related}/{n} ({100 * related / n:.1f}%), "
              f"exact or related {100 * (c['exact'] + related) / n:.1f}%, "
              + (f"same general type only {c['same general type']}, " if c["same general type"] else "")
              + f"mismatch {c['mismatch']}, unknown {c['unknown']}")

    print(f"\n== GPTCelltype benchmark_dev ({n} clusters with a valid manual CL ID, {skipped} skipped; "
          f"top-10 markers; {elapsed:.1f} s) ==")
    show("offline KB, confident calls", counts)
    show("offline KB, top-1 always", raw_counts)
    show("GPT-4 (Aug 2023) column, same grading", gpt4)


def simulated() -> None:
    null = pd.read_csv(DATA / "gptcelltype" / "simulated_null.csv")
    null = null[null["celltype"] == "random"]  # the file also holds real lists as controls
    unknown = sum(not call_cell_type(str(g).split(",")).confident for g in null["gene"])
    mixed = pd.read_csv(DATA / "gptcelltype" / "simulated_mixed.csv")
    flagged = 0
    for genes in mixed["gene"]:
        call = call_cell_type([g.strip() for g in str(genes).split(",")])
        flagged += bool(call.mixed_population or call.mixed_types)
    print(f"\n== Simulated lists ==\nrandom genes called Unknown: {unknown}/{len(null)}; "
          f"two-type mixtures flagged as mixed: {flagged}/{len(mixed)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N benchmark rows")
    args = parser.parse_args(argv)
    onto = OntologyParser()
    print(f"knowledge base: {len(load_knowledge_base())} cell types")
    example_tables(onto)
    gptcelltype(onto, args.limit)
    simulated()
    return 0


if __name__ == "__main__":
    sys.exit(main())
