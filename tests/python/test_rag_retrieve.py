"""Marker Database agent on real clusters (CellMarker 2.0 + PanglaoDB from ../shared/data/markerdb)."""

from __future__ import annotations

from pathlib import Path

import pytest

import cassia
from cassia import ontology
from cassia.rag import RagRetriever, load_index, rank_candidates
from cassia.knowledge.markerdb.retrieve import species_view

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MARKERDB = SHARED / "markerdb"
PBMC = SHARED / "markers" / "pbmc3k_findallmarkers.csv"
LARGE_INTESTINE = SHARED / "markers" / "large_intestine_findallmarkers.csv"


@pytest.fixture(autouse=True)
def markerdb(monkeypatch, tmp_path_factory):
    """The databases from the shared folder; the built index cached once per test session."""
    monkeypatch.setenv("CASSIA_DATA_DIR", str(MARKERDB))
    monkeypatch.setenv("CASSIA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rag-cache"))


@pytest.fixture()
def index():
    return load_index(download=False)


def _top(index, genes, tissue, n=3):
    return rank_candidates(list(genes), index, species="human", tissue=tissue, top=n)


def _has(found, cl_id, *, within=False):
    """A candidate is the term, or (within=True) the term or one of its descendants."""
    return any(c.cl_id == cl_id or (within and c.cl_id and ontology.is_ancestor(cl_id, c.cl_id)) for c in found)


# pbmc3k tutorial clusters: the expected major type (or a subtype of it) among the top 3
PBMC_EXPECTED = {
    "0": ("CL:0000084", True),  # naive CD4 T -> T cell family
    "1": ("CL:0000576", True),  # CD14+ monocyte -> monocyte family
    "2": ("CL:0000084", True),  # memory CD4 T
    "3": ("CL:0000236", True),  # B
    "4": ("CL:0000084", True),  # CD8 T
    "5": ("CL:0000576", True),  # FCGR3A+ monocyte
    "6": ("CL:0000623", True),  # NK
    "7": ("CL:0000451", True),  # dendritic cell
    "8": ("CL:0000233", False),  # platelet
}


def test_pbmc3k_major_types_rank_near_the_top(index):
    markers = cassia.load_markers(PBMC, n_genes=50)
    for cm in markers:
        cl_id, within = PBMC_EXPECTED[cm.cluster]
        found = _top(index, cm.genes, "PBMC")
        assert _has(found, cl_id, within=within), (cm.cluster, [c.name for c in found])


LARGE_INTESTINE_EXPECTED = {
    "plasma cell": "CL:0000786",
    "cd8-positive, alpha-beta t cell (mixed)": "CL:0000084",  # T cell (CD8 and NK-like markers)
    "intestinal enteroendocrine cell": "CL:0000164",
    "monocyte (inaccurate annotation)": "CL:0000125",  # glial markers: glial cells and Schwann cells
}


def test_large_intestine_clusters(index):
    markers = cassia.load_markers(LARGE_INTESTINE, n_genes=50)
    for cm in markers:
        if cm.cluster in LARGE_INTESTINE_EXPECTED:
            found = _top(index, cm.genes, "large intestine", n=5)
            assert _has(found, LARGE_INTESTINE_EXPECTED[cm.cluster], within=True), (cm.cluster, [c.name for c in found])
    glial = markers.subset(["monocyte (inaccurate annotation)"])
    found = _top(index, next(iter(glial)).genes, "large intestine", n=10)
    assert all(not ontology.is_ancestor("CL:0000576", c.cl_id or "CL:0000000") for c in found[:3])  # not monocytes


def test_every_match_keeps_its_sources(index):
    found = _top(index, ["MS4A1", "CD79A", "CD79B", "BANK1", "CD19", "IGHM"], "blood", n=5)
    assert found[0].cl_id == "CL:0000236" and found[0].name == "B cell"
    for candidate in found:
        assert [e.rank for e in candidate.matched] == sorted(e.rank for e in candidate.matched)
        for evidence in candidate.matched:
            assert set(evidence.databases) <= {"cellmarker2", "panglaodb"} and evidence.databases
            assert all(p.isdigit() for p in evidence.pmids)
        assert candidate.canonical_markers and candidate.database_names
    data = found[0].as_dict()
    assert data["matched"][0]["gene"] == "MS4A1" and "cellmarker2" in data["matched"][0]["databases"]


def test_gene_symbols_match_case_insensitively_across_species(index):
    human = _top(index, ["CD79A", "MS4A1", "CD19", "PAX5"], None)
    mouse_cased = rank_candidates(["Cd79a", "Ms4a1", "Cd19", "Pax5"], index, species="mouse", top=3)
    upper_in_mouse = rank_candidates(["CD79A", "MS4A1", "CD19", "PAX5"], index, species="mouse", top=3)
    assert [c.cl_id for c in mouse_cased] == [c.cl_id for c in upper_in_mouse]
    assert all(ontology.is_ancestor("CL:0000236", c.cl_id) for c in (human[0], mouse_cased[0]))
    assert mouse_cased[0].matched_genes[:2] == ["Cd79a", "Ms4a1"]
    assert species_view("Mus musculus") == "mouse" and species_view("cat") == "any"
    assert rank_candidates(["Cd79a", "Ms4a1"], index, species="cat", top=1)[0].cl_id == "CL:0000236"


def test_tissue_is_a_soft_prior(index):
    macrophage_genes = ["C1QA", "C1QB", "C1QC", "CD163", "MARCO", "VSIG4", "CD5L", "P2RY12", "TMEM119"]
    in_liver = {c.cl_id: (i, c) for i, c in enumerate(rank_candidates(macrophage_genes, index, tissue="liver", top=None))}
    in_brain = {c.cl_id: (i, c) for i, c in enumerate(rank_candidates(macrophage_genes, index, tissue="brain", top=None))}
    kupffer, microglia = "CL:0000091", "CL:0000129"
    assert in_liver[kupffer][1].in_tissue is True and in_brain[kupffer][1].in_tissue is False
    assert in_brain[microglia][1].in_tissue is True
    assert in_liver[kupffer][0] < in_brain[kupffer][0] and in_brain[microglia][0] < in_liver[microglia][0]
    blind = rank_candidates(macrophage_genes, index, tissue=None, top=3)
    assert all(c.in_tissue is None for c in blind)


def test_unknown_genes_retrieve_nothing(index):
    assert rank_candidates(["NOTAGENE1", "NOTAGENE2"], index) == []


def test_retriever_reports_sources(index):
    retriever = RagRetriever(download=False)
    sources = retriever.sources()
    assert set(sources["databases"]) == {"cellmarker2", "panglaodb"}
    assert all(len(d["sha256"]) == 64 for d in sources["databases"].values())
    assert sources["cell_ontology"].startswith("v")
    assert retriever.retrieve(["PPBP", "PF4", "GP9"], tissue="blood")[0].cl_id in {"CL:0000233", "CL:0000556"}
