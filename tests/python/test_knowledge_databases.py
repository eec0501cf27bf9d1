"""The offline annotator with the marker databases' evidence (CellMarker 2.0 + PanglaoDB from
../shared/data/markerdb): rescued abstentions, standing calls, random genes still Unknown."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cassia import ontology
from cassia.knowledge import call, call_cell_type, database_call, load_knowledge_base
from cassia.knowledge.markerdb import local_index

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MARKERDB = SHARED / "markerdb"
# types the curated knowledge base lacks
PURKINJE = "PCP2,CAR8,PCP4,CALB1,GRID2,ITPR1,SLC1A6,PPP1R17,GNG13,CA8"
OLFACTORY = "OMP,GNG13,CNGA2,ADCY3,GNAL,STOML3,LHX2,EBF2,ANO2,SLC17A6"
OSTEOCYTE = "SOST,DMP1,PHEX,MEPE,FGF23,PDPN,IRX5,DKK1,CD44,ENPP1"
NAIVE_T = "CD3D,CD3E,IL7R,CCR7,LEF1,TCF7,CD2,CD3G,LDHB,MAL"


@pytest.fixture()
def index(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("CASSIA_DATA_DIR", str(MARKERDB))
    monkeypatch.setenv("CASSIA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rag-cache"))
    found = local_index()
    assert found is not None, "the shared marker databases should be found"
    return found


def test_without_the_tables_the_knowledge_base_answers_alone(monkeypatch, tmp_path):
    monkeypatch.setenv("CASSIA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CASSIA_CACHE_DIR", str(tmp_path))
    assert local_index() is None
    assert call_cell_type(PURKINJE).label == call_cell_type(PURKINJE, databases=False).label == "Unknown"


def test_an_abstention_is_rescued_by_the_databases_with_low_confidence(index):
    alone = call_cell_type(PURKINJE, databases=False)
    assert not alone.confident
    rescued = call_cell_type(PURKINJE, databases=index)
    assert rescued.confidence == "low"
    assert rescued.best.cl_id == "CL:0000121"  # Purkinje cell
    assert rescued.general_type == "neuron"  # under its nearest curated ancestor
    assert rescued.subtypes == ("Purkinje cell",)
    assert any("marker databases" in r for r in rescued.reasons)


def test_a_database_type_without_a_curated_ancestor_type_falls_back_to_its_lineage(index):
    found = call_cell_type(OLFACTORY, databases=index)
    assert ontology.is_ancestor("CL:0000066", found.best.cl_id)  # an epithelial cell of the nose
    assert found.general_type == "epithelial cell"


def test_a_better_supported_database_type_replaces_a_weak_call(index):
    alone = call_cell_type(OSTEOCYTE, databases=False)
    assert alone.label == "osteoblast" and alone.confidence == "low"
    found = call_cell_type(OSTEOCYTE, databases=index)
    assert found.best.cl_id == "CL:0000137" and found.confidence == "low"  # osteocyte
    assert any(r.startswith("knowledge base: osteoblast") for r in found.reasons)


def test_a_strong_knowledge_base_call_stands(index):
    alone = call_cell_type(NAIVE_T, databases=False)
    both = call_cell_type(NAIVE_T, databases=index)
    assert alone.confidence == "high"
    assert (both.label, both.confidence, both.subtypes) == (alone.label, alone.confidence, alone.subtypes)


def test_random_genes_stay_unknown_with_the_databases(index):
    null = pd.read_csv(SHARED / "gptcelltype" / "simulated_null.csv")
    lists = [g.split(",") for g in null.loc[null["celltype"] == "random", "gene"]]
    unknown = sum(not call_cell_type(g, databases=index).confident for g in lists)
    assert unknown >= 0.95 * len(lists)


def test_the_knowledge_base_unit_is_its_abstention_threshold():
    assert database_call.KB_NULL == call.MIN_SCORE


def test_the_scorer_judges_a_name_against_a_database_decided_call(index):
    from cassia.knowledge.named import named_support

    call = call_cell_type(PURKINJE, databases=index)
    assert call.best.name not in load_knowledge_base().types  # decided by the databases
    right = named_support("Purkinje cell", PURKINJE, call=call)
    general = named_support("neuron", PURKINJE, call=call)
    wrong = named_support("T cell", PURKINJE, call=call)
    assert right.score == general.score == call.quality > wrong.score


def test_rag_refinement_leaves_a_database_decided_call_alone(index):
    from cassia.knowledge.markerdb import rank_candidates
    from cassia.knowledge.retrieved import call_with_retrieval

    for genes in (PURKINJE, OLFACTORY):
        retrieved = [c.as_dict() for c in rank_candidates(genes.split(","), index, top=5)]
        refined = call_with_retrieval(genes, retrieved=retrieved)
        assert refined.best.name == call_cell_type(genes, databases=index).best.name
