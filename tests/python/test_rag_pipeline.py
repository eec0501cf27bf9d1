"""run_pipeline / run_batch with rag=True (scripted provider and offline), the report page with
sources, and the offline annotator's opt-in use of retrieved candidates."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cassia
import pytest
from cassia.knowledge import call_cell_type
from cassia.knowledge.retrieved import agreement, call_with_retrieval, retrieval_note
from cassia.store import read_results, slug
from cassia.testing import ScriptedProvider

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
MARKERDB = SHARED / "markerdb"
PBMC = SHARED / "markers" / "pbmc3k_findallmarkers.csv"
LARGE_INTESTINE = SHARED / "markers" / "large_intestine_findallmarkers.csv"

FORMATTED = {"main_cell_type": "B cell", "sub_cell_types": ["naive B cell"], "mixed_cell_types": [],
             "key_markers": ["MS4A1"]}
REVIEWED = {"consistent": True, "concerns": [], "feedback": "Sound.", **FORMATTED}
SCORED = {"score": 90, "reasoning": "Agreeing markers.", "possible_mixed_population": False}
FEATURES = {"axes": [{"axis": "maturation", "parent_type": "B cell",
                      "levels": [{"name": "naive B cell", "markers": ["TCL1A", "IGHD"]},
                                 {"name": "memory B cell", "markers": ["CD27"]}],
                      "cluster_reading": "TCL1A points to naive B cells"}], "notes": []}


@pytest.fixture(autouse=True)
def markerdb(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("CASSIA_DATA_DIR", str(MARKERDB))
    monkeypatch.setenv("CASSIA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rag-cache"))


def scripted():
    return ScriptedProvider({"annotator": ["B cell, from the leading markers."], "review": [REVIEWED], "scorer": [SCORED], "rag": [FEATURES]})


def test_pipeline_with_rag_and_a_scripted_model(tmp_path):
    provider = scripted()
    result = cassia.run_pipeline(PBMC, tissue="PBMC", species="human", provider=provider, rag=True,
                                 out_dir=tmp_path / "run", clusters=["3", "8"], progress=False, use_cache=False)
    run_dir = result.run_dir
    assert all(r.status == "ok" for r in result.results)

    first_prompts = [c.messages[0].content for c in provider.calls if c.task == "annotator"]
    assert len(first_prompts) == 2
    for prompt in first_prompts:
        assert "Retrieved knowledge for this cluster" in prompt and "CellMarker 2.0" in prompt
        assert "maturation (within B cell)" in prompt  # the feature agent's answer reached the Annotator
    rag_calls = [c for c in provider.calls if c.task == "rag"]
    assert [c.context["rag_task"] for c in rag_calls] == ["features", "features"]  # no cross-species for human

    stored = {r.cluster: r for r in read_results(run_dir)}
    rag = stored["3"].rag
    assert rag["candidates"][0]["cl_id"] == "CL:0000236" and rag["features_source"] == "language model"
    assert stored["3"].stages["rag"].calls == 1 and stored["3"].tokens > 0
    page_link = stored["3"].pages["Retrieved knowledge (RAG)"]
    assert page_link == f"rag/{slug('3')}.html"

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["settings"]["rag"] is True
    for name, info in manifest["rag"]["databases"].items():
        assert info["sha256"] == hashlib.sha256((MARKERDB / info["file"]).read_bytes()).hexdigest()
    assert manifest["rag"]["cell_ontology"]

    page = (run_dir / page_link).read_text()
    assert "Retrieved knowledge: cluster 3" in page and "B cell" in page and "CL:0000236" in page
    assert "https://pubmed.ncbi.nlm.nih.gov/" in page and "PanglaoDB" in page
    assert manifest["rag"]["databases"]["cellmarker2"]["sha256"] in page
    rank = 1 + [c["cl_id"] for c in rag["candidates"]].index(stored["3"].cell_ontology_id)  # naive B cell
    assert "maturation" in page and f"retrieved as candidate {rank}" in page
    cluster_page = (run_dir / "clusters" / f"{slug('3')}.html").read_text()
    assert f'href="../{page_link}"' in cluster_page


def test_pipeline_with_rag_offline(tmp_path):
    result = cassia.run_pipeline(LARGE_INTESTINE, tissue="large intestine", provider="offline", rag=True,
                                 out_dir=tmp_path / "run", progress=False)
    frame = result.to_frame().set_index("Cluster ID")
    assert (frame["Status"] == "ok").all()
    glial = frame.loc["monocyte (inaccurate annotation)", "Predicted General Cell Type"].lower()
    assert "glia" in glial or "schwann" in glial
    for r in result.results:
        annotation_text = r.conversation[2].content
        assert "Marker databases (CellMarker 2.0, PanglaoDB)" in annotation_text
        assert r.rag["features_source"].startswith("rules") and "rag" not in r.stages
        assert (result.run_dir / r.pages["Retrieved knowledge (RAG)"]).exists()


def test_batch_with_rag_for_a_non_model_species(tmp_path):
    provider = ScriptedProvider({
        "annotator": ["B cell."], "review": [REVIEWED],
        "rag": [FEATURES, {"organism": "cat", "reference_species": ["human"], "conserved_markers": ["MS4A1"],
                         "divergent_markers": [], "orthology_caveats": ["check IGH loci"],
                         "reading_advice": "Read as human."}],
    })
    result = cassia.run_batch(PBMC, species="cat", provider=provider, rag=True, out_dir=tmp_path / "run",
                              clusters=["3"], progress=False, use_cache=False)
    record = result.results[0].rag
    assert record["cross_species"]["orthology_caveats"] == ["check IGH loci"]
    first_prompt = next(c for c in provider.calls if c.task == "annotator").messages[0].content
    assert "Cross-species notes for cat" in first_prompt and "check IGH loci" in first_prompt


def test_without_rag_nothing_changes(tmp_path):
    provider = scripted()
    result = cassia.run_batch(PBMC, provider=provider, out_dir=tmp_path / "run", clusters=["3"], progress=False,
                              use_cache=False)
    assert result.results[0].rag is None
    assert all("Retrieved knowledge" not in c.messages[0].content for c in provider.calls)
    assert "rag" not in result.manifest and result.manifest["settings"]["rag"] is False


def test_offline_call_is_refined_by_retrieved_candidates():
    genes = ["CD3D", "CD3E", "CD8A", "CD8B", "CCR7", "SELL", "LEF1", "TCF7"]
    plain = call_cell_type(genes, tissue="blood")
    retrieved = [{"name": "naive thymus-derived CD8-positive, alpha-beta T cell", "cl_id": "CL:0000900", "score": 0.9,
                  "matched": [{"gene": "CCR7", "rank": 5}]},
                 {"name": "central memory CD8-positive, alpha-beta T cell", "cl_id": "CL:0000907", "score": 0.5,
                  "matched": []}]
    refined = call_with_retrieval(genes, retrieved=retrieved, tissue="blood")
    assert refined.general_type == plain.general_type  # the knowledge base keeps the general type
    assert agreement("CL:0000900", retrieved) == 1.0 and agreement("CL:0000236", retrieved) == 0.0
    assert set(plain.subtypes) <= set(plain.subtypes) | set(refined.subtypes) and len(refined.subtypes) <= 3
    supported = [s for s in refined.subtypes if "CD8" in s]
    assert supported, refined.subtypes
    unchanged = call_with_retrieval(genes, retrieved=[], tissue="blood")
    assert unchanged.best == plain.best and unchanged.subtypes == plain.subtypes
    note = retrieval_note({"candidates": retrieved})
    assert "1. naive thymus-derived CD8-positive, alpha-beta T cell (CL:0000900)" in note and "CCR7 (#5)" in note


def test_rag_agents_over_http_with_the_fake_server(fake_server, tmp_path):
    result = cassia.run_pipeline(PBMC, species="cat", tissue="blood", provider=fake_server.url, rag=True,
                                 out_dir=tmp_path / "run", clusters=["3"], progress=False, use_cache=False)
    record = result.results[0].rag
    assert result.results[0].status == "ok"
    assert record["features_source"] == record["cross_species_source"] == "language model"
    assert record["cross_species"]["organism"] == "cat" and record["features"]["axes"]
    rag = [json.loads(p.read_text()) for p in (result.run_dir / "transcripts").rglob("*-rag.json")]
    assert sorted(t["schema"] for t in rag) == ["CrossSpeciesNotes", "HierarchicalFeatures"]
