"""The offline knowledge-base provider: every agent role, answered from the structured context."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from cassia.errors import ModelOutputError
from cassia.knowledge import load_knowledge_base
from cassia.models import FormatterOutput, Message, ReviewOutput, ScorerOutput
from cassia.providers.base import CompletionRequest, Provider, ProviderConfig
from cassia.providers.offline import DEFAULT_CONFIG, OfflineProvider

CD8 = ["CD3D", "CD3E", "CD8A", "CD8B", "GZMK", "CCL5", "NKG7", "CD2", "TRAC", "LCK"]
WEAK = ["ZNF91", "RPL13", "ACTB", "MALAT1", "NEAT1", "TMSB4X", "EEF1A1", "GAPDH", "FTL", "TPT1"]
MIXED = ["MS4A1", "ALB", "CD79A", "APOH", "CD19", "FGB", "BANK1", "AHSG", "PAX5", "TF"]
# (B cell and hepatocyte markers interleaved: tested tissue-blind, as a PBMC prior would discount liver)
PROSE = [Message(role="user", content="Please annotate T cells from CD14 and LYZ.")]  # never parsed


def context(markers, **extra):
    return {"cluster": "c1", "markers": markers, "species": "human", "tissue": "PBMC",
            "additional_info": None, "cancer_aware": False, **extra}


def run(task, markers=CD8, schema=None, **extra):
    provider = OfflineProvider(ProviderConfig(name="offline", kind="offline", model="cassia-kb"))
    request = CompletionRequest(messages=PROSE, task=task, schema=schema, context=context(markers, **extra))
    return asyncio.run(provider.complete(request))


def genes_named(text: str) -> set[str]:
    """Knowledge-base gene symbols that appear as words in ``text``."""
    kb = load_knowledge_base()
    symbols = {m.upper() for ct in kb.types.values() for m in ct.markers + ct.negative_markers + ct.mouse_markers}
    words = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9\-\.]*", text))
    return {w for w in words if w.upper() in symbols}


def test_is_a_provider_with_a_default_config():
    assert isinstance(OfflineProvider(), Provider)
    assert OfflineProvider().config == DEFAULT_CONFIG and DEFAULT_CONFIG.kind == "offline"


def test_annotator_gives_a_step_by_step_evidence_text():
    completion = run("annotator")
    text = completion.text
    assert completion.parsed is None
    for step in ("Step 1. Key functional markers", "Step 2. Key cell-type markers", "Step 3.",
                 "Step 4. Most probable general cell type", "Step 5. Top 3 most probable subtypes", "Step 6. Summary"):
        assert step in text
    assert "T cell" in text and "CD8-positive, alpha-beta T cell" in text
    assert "CD8A (#3)" in text and "margin" in text
    assert genes_named(text) <= set(CD8)  # never names a gene the cluster does not have
    assert "CD14" not in text  # answers from the context, not from the prompt prose


def test_annotator_states_weak_and_mixed_evidence():
    weak = run("annotator", WEAK).text
    assert "No confident call" in weak and "Unknown" in weak
    mixed = run("annotator", MIXED, tissue=None).text
    assert "unrelated lineage" in mixed and "hepatocyte" in mixed
    assert genes_named(mixed) <= set(MIXED)


def test_annotator_tissue_blind_and_cancer_aware_modes():
    text = run("annotator", CD8 + ["MKI67", "TOP2A"], tissue=None, cancer_aware=True,
               additional_info="tumour biopsy").text
    assert "tissue-blind" in text
    assert "Cancer-aware note" in text and "MKI67" in text
    assert "does not interpret free text" in text


def test_review_gives_the_verdict_and_the_record_from_input_genes():
    completion = run("review", schema=ReviewOutput)
    review = completion.parsed
    assert isinstance(review, ReviewOutput) and review.consistent
    assert review.main_cell_type == "T cell"
    assert review.sub_cell_types[0] == "CD8-positive, alpha-beta T cell" and len(review.sub_cell_types) <= 3
    assert review.key_markers and set(review.key_markers) <= set(CD8)
    assert json.loads(completion.text) == review.model_dump()
    weak = run("review", WEAK, schema=ReviewOutput).parsed
    assert not weak.consistent and weak.concerns and weak.main_cell_type == "Unknown"
    assert set(weak.key_markers) <= set(WEAK)
    mixed = run("review", MIXED, schema=ReviewOutput, tissue=None).parsed
    assert "hepatocyte" in mixed.mixed_cell_types


def test_scorer_reflects_evidence_strength():
    strong = run("scorer", schema=ScorerOutput).parsed
    weak = run("scorer", WEAK, schema=ScorerOutput).parsed
    mixed = run("scorer", MIXED, schema=ScorerOutput, tissue=None).parsed
    assert isinstance(strong, ScorerOutput)
    assert strong.score >= 75 > mixed.score and weak.score < 30
    assert mixed.possible_mixed_population and not strong.possible_mixed_population
    assert "CD8A (#3)" in strong.reasoning
    assert genes_named(strong.reasoning) <= set(CD8)


def test_completion_metadata():
    completion = run("scorer", schema=ScorerOutput)
    assert completion.model == "cassia-kb" and completion.provider == "offline"
    assert completion.cost_usd == 0.0 and completion.usage.total == 0
    assert json.loads(completion.text) == completion.parsed.model_dump()


def test_answers_are_deterministic():
    assert run("annotator").text == run("annotator").text
    assert run("scorer", schema=ScorerOutput).text == run("scorer", schema=ScorerOutput).text


def test_mouse_context():
    review = run("review", ["Cd3e", "Cd3d", "Cd8b1", "Cd8a", "Ccl5"], schema=ReviewOutput, species="mouse").parsed
    assert review.consistent and set(review.key_markers) <= {"Cd3e", "Cd3d", "Cd8b1", "Cd8a", "Ccl5"}


@pytest.mark.parametrize("task, schema, message", [
    ("subcluster", FormatterOutput, "does not support the 'subcluster' task"),
    ("other", ScorerOutput, "does not support the 'other' task"),
    ("annotator", FormatterOutput, "free text only"),
    ("review", ScorerOutput, "cannot answer the 'review' task with ScorerOutput"),
    ("validator", ReviewOutput, "does not support the 'validator' task"),
])
def test_unsupported_requests_raise(task, schema, message):
    with pytest.raises(ModelOutputError, match=message):
        run(task, schema=schema)


def test_missing_markers_in_context_raise():
    provider = OfflineProvider()
    request = CompletionRequest(messages=PROSE, task="annotator", context={"cluster": "c1"})
    with pytest.raises(ModelOutputError, match="context\\['markers'\\]"):
        asyncio.run(provider.complete(request))
