"""The offline annotator with the marker databases' evidence (CellMarker 2.0 + PanglaoDB from
../shared/data/markerdb): rescued abstentions, standing calls, random genes still Unknown."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cassia import ontology
from cassia.knowledge import call_cell_type, call, database_call
from cassia.knowledge.markerdb import local_index

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MARKERDB = SHARED / "markerdb"
TENOCYTE = "TNMD,SCX,MKX,THBS4,FMOD,COMP,TNC,EGR1,COL11A1,CILP"  # tendon: no curated type
THYMIC_EPITHELIUM = "FOXN1,PSMB11,PRSS16,CCL25,KRT8,KRT5,LY75,CD83,AIRE,FEZF2"
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
    assert call_cell_type(TENOCYTE).label == call_cell_type(TENOCYTE, databases=False).label == "Unknown"


def test_an_abstention_is_rescued_by_the_databases_with_low_confidence(index):
    alone = call_cell_type(TENOCYTE, databases=False)
    assert not alone.confident
    rescued = call_cell_type(TENOCYTE, databases=index)
    assert rescued.confidence == "low"
    assert rescued.best.cl_id == "CL:0000388"  # tendon cell
    assert rescued.general_type == "fibroblast"  # under its nearest curated ancestor
    assert rescued.subtypes == ("tendon cell",)
    assert any("marker databases" in r for r in rescued.reasons)


def test_a_database_type_without_a_curated_ancestor_type_falls_back_to_its_lineage(index):
    found = call_cell_type(THYMIC_EPITHELIUM, databases=index)
    assert found.best.cl_id == "CL:0002293" and ontology.is_ancestor("CL:0000066", found.best.cl_id)
    assert found.general_type == "epithelial cell"


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
