"""Ontology agent (tissue trees), Hierarchical Feature agent (structured output) and Cross-species
agent (when it runs, what it is asked), with the scripted provider and with rules."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cassia import ontology
from cassia.agents.session import ClusterSession
from cassia.errors import AuthError, ModelOutputError
from cassia.providers.offline import OfflineProvider
from cassia.rag import (
    CrossSpeciesNotes,
    HierarchicalFeatures,
    RagRetriever,
    build_tissue_tree,
    candidate_branches,
    features_from_trees,
    load_index,
    needs_cross_species,
    rank_candidates,
)
from cassia.testing import ScriptedProvider
from cassia.workflows.rag import build_context

MARKERDB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "markerdb"
KUPFFER, MICROGLIA, MACROPHAGE = "CL:0000091", "CL:0000129", "CL:0000235"
GLIAL = ["SOX10", "PLP1", "CDH19", "S100B", "MPZ", "NGFR", "GFRA3", "SCN7A"]
T_CELL = ["CD3D", "CD3E", "IL7R", "CCR7", "LEF1", "TCF7", "MAL", "CD8A", "CD8B", "CD4"]

FEATURES = {
    "axes": [{
        "axis": "myelinating versus non-myelinating",
        "parent_type": "Schwann cell",
        "levels": [{"name": "myelinating Schwann cell", "markers": ["MPZ", "PMP22"]},
                   {"name": "non-myelinating Schwann cell", "markers": ["NGFR", "SCN7A"]}],
        "cluster_reading": "NGFR and SCN7A suggest non-myelinating glia",
    }],
    "notes": ["enteric glia share most Schwann cell markers"],
}
CROSS = {
    "organism": "cat", "reference_species": ["human"], "conserved_markers": ["SOX10", "PLP1"],
    "divergent_markers": [], "orthology_caveats": ["feline genome annotation is incomplete"],
    "reading_advice": "Read the lineage markers as in human.",
}


@pytest.fixture(autouse=True)
def markerdb(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("CASSIA_DATA_DIR", str(MARKERDB))
    monkeypatch.setenv("CASSIA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rag-cache"))


@pytest.fixture()
def index():
    return load_index(download=False)


def test_tissue_trees_are_filtered_to_the_tissue(index):
    liver = build_tissue_tree(index, tissue="liver", within=MACROPHAGE)
    brain = build_tissue_tree(index, tissue="brain", within=MACROPHAGE)
    assert KUPFFER in liver and MICROGLIA not in liver
    assert MICROGLIA in brain and KUPFFER not in brain
    for tree in (liver, brain):
        assert tree.roots == [MACROPHAGE]
        for node in tree.nodes.values():
            assert ontology.is_ancestor(MACROPHAGE, node.cl_id)
            if node.parent is not None:  # every edge is an is_a path in the Cell Ontology
                assert ontology.is_ancestor(node.parent, node.cl_id) and node.cl_id in tree.nodes[node.parent].children
    assert liver.nodes[KUPFFER].in_tissue and liver.nodes[KUPFFER].markers
    assert any("Kupffer cell (CL:0000091)" in line for line in liver.lines())


def test_candidate_branches_hold_the_candidates(index):
    candidates = rank_candidates(T_CELL, index, tissue="blood", top=10)
    trees = candidate_branches(index, candidates, tissue="blood", focus=5)
    top_ids = [c.cl_id for c in candidates[:5] if c.cl_id]
    assert trees and all(len(t.nodes) <= 20 for t in trees)
    covered = {cl for t in trees for cl in t.nodes}
    assert set(top_ids) <= covered
    starred = [line for t in trees for line in t.lines(top_ids) if line.rstrip().split(" — ")[0].endswith("*")]
    assert len(starred) == len(set(top_ids))


def test_rule_based_features_have_the_schema(index):
    candidates = rank_candidates(GLIAL, index, tissue="large intestine", top=10)
    trees = candidate_branches(index, candidates, tissue="large intestine")
    features = features_from_trees(trees, GLIAL)
    assert isinstance(features, HierarchicalFeatures) and features.axes
    HierarchicalFeatures.model_validate(features.model_dump())
    for axis in features.axes:
        assert axis.axis.startswith("subtypes of ") and len(axis.levels) >= 2
        names = [level.name for level in axis.levels]
        assert len(names) == len(set(names))
        for level in axis.levels:  # discriminating: no marker is shared by two levels
            others = {m for lv in axis.levels if lv is not level for m in lv.markers}
            assert not set(level.markers) & others
    readings = " ".join(a.cluster_reading for a in features.axes)
    assert "Schwann cell" in readings


def rag_script(features=FEATURES, species=CROSS):
    """A scripted model answering the two RAG agents (task "rag") by ``context["rag_task"]``."""
    def reply(request):
        assert request.task == "rag"
        answer = {"features": features, "species": species}[request.context["rag_task"]]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    return ScriptedProvider(reply)


def asked(provider):
    """Which RAG agents were called, in order, by their output schema."""
    return [c.schema.__name__ for c in provider.calls if c.task == "rag"]


def _session(species="human", tissue="large intestine", genes=GLIAL):
    return ClusterSession(cluster="c1", markers=list(genes), species=species, tissue=tissue)


def test_feature_agent_asks_the_model_for_structured_axes():
    provider = rag_script()
    session = _session()
    context = asyncio.run(build_context(RagRetriever(download=False), session, provider))
    assert asked(provider) == ["HierarchicalFeatures"]  # human: no cross-species call
    request = provider.calls[0]
    assert request.schema is HierarchicalFeatures
    prompt = request.messages[0].content
    assert "SOX10, PLP1, CDH19" in prompt and "Schwann cell (CL:0002573) *" in prompt
    assert context.features_source == "language model" and context.features.axes[0].parent_type == "Schwann cell"
    assert session.stages["rag"].calls == 1
    text = context.prompt_text()
    assert "myelinating versus non-myelinating" in text and "NGFR and SCN7A suggest" in text
    assert "CellMarker 2.0" in text and "PMID" in text and "(CL:0002573)" in text


@pytest.mark.parametrize("species", ["cat", "Felis catus", "pangolin"])
def test_non_model_species_trigger_the_cross_species_agent(species):
    provider = rag_script()
    context = asyncio.run(build_context(RagRetriever(download=False), _session(species=species), provider))
    assert asked(provider) == ["HierarchicalFeatures", "CrossSpeciesNotes"]
    request = provider.calls[1]
    assert request.schema is CrossSpeciesNotes
    assert f"Organism: {species}" in request.messages[0].content
    assert "human" in request.system.lower() and "1. Schwann cell" in request.messages[0].content
    assert context.cross_species.orthology_caveats == ["feline genome annotation is incomplete"]
    assert "Cross-species notes for cat" in context.prompt_text()


@pytest.mark.parametrize("species", ["human", "mouse", "Homo sapiens", "Mus musculus"])
def test_human_and_mouse_skip_the_cross_species_agent(species):
    assert not needs_cross_species(species)
    provider = rag_script()
    context = asyncio.run(build_context(RagRetriever(download=False), _session(species=species), provider))
    assert asked(provider) == ["HierarchicalFeatures"]
    assert context.cross_species is None and "Cross-species" not in context.prompt_text()


def test_offline_provider_uses_rules_for_every_agent():
    session = _session(species="cat")
    context = asyncio.run(build_context(RagRetriever(download=False), session, OfflineProvider()))
    assert context.features_source == context.cross_species_source == "rules (no language model)"
    assert "SOX10" in context.cross_species.conserved_markers
    assert not session.stages  # no call was made


def test_a_failing_model_falls_back_to_rules_but_auth_errors_stop():
    failing = rag_script(features=ModelOutputError("not JSON"))
    context = asyncio.run(build_context(RagRetriever(download=False), _session(species="cat"), failing))
    assert context.features_source.startswith("rules") and "ModelOutputError" in context.errors[0]
    assert context.cross_species_source == "language model"
    refused = ScriptedProvider({"*": [AuthError("bad key", status=401)]})
    with pytest.raises(AuthError):
        asyncio.run(build_context(RagRetriever(download=False), _session(), refused))


def test_context_record_is_json_safe_and_keeps_sources():
    import json

    context = RagRetriever(download=False).build(GLIAL, species="human", tissue="large intestine", cluster="glia")
    record = json.loads(json.dumps(context.as_dict()))
    assert record["candidates"][0]["matched"][0]["databases"]
    assert record["sources"]["databases"]["cellmarker2"]["sha256"]
    assert record["trees"] and record["tree_lines"] and record["prompt"].startswith("Retrieved knowledge")
    assert record["features_source"].startswith("rules")
