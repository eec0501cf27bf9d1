"""Issue 14: the Validator's hard checks are code, and names outside the Cell Ontology are advice."""

from __future__ import annotations

import pandas as pd
import pytest

import cassia
from cassia.testing import ScriptedProvider

MONOCYTES = pd.DataFrame({
    "cluster": ["mono"] * 6,
    "gene": ["S100A8", "S100A9", "LYZ", "CD14", "FCN1", "VCAN"],
    "avg_log2FC": [4.0, 3.8, 3.5, 3.0, 2.5, 2.0],
    "p_val_adj": [1e-20] * 6, "pct.1": [0.95] * 6, "pct.2": [0.2] * 6,
})
FORMATTED = {"main_cell_type": "monocyte", "sub_cell_types": ["classical monocyte"], "mixed_cell_types": [],
             "key_markers": ["CD14", "LYZ"]}
# the review call answers the verdict and the record together
CONSISTENT = {"consistent": True, "concerns": [], "feedback": "Sound.", **FORMATTED}


def run(replies, tmp_path, markers=MONOCYTES, **options):
    provider = ScriptedProvider(replies)
    result = cassia.run_batch(markers, provider=provider, out_dir=tmp_path / "run", progress=False,
                              use_cache=False, **{"tissue": "blood", **options})
    return result.results[0], provider


def test_reasoning_from_genes_not_in_the_input_never_ends_validated(tmp_path):
    """The reported case: a CD14-monocyte cluster annotated from CD3E, CD3D and CD2, reviewer says fine."""
    invented = "CD3E, CD3D and CD2 are the leading markers, so this is a T cell cluster."
    result, provider = run({"annotator": [invented],
                            "review": [{**CONSISTENT, "main_cell_type": "T cell", "key_markers": ["CD3E"]}]},
                           tmp_path)
    assert not result.validated and result.iterations == 3
    assert all(r.invented_genes == ["CD3E", "CD3D", "CD2"] for r in result.validation)
    assert result.diagnosis.key_markers == []  # CD3E is not in the input: not shown as evidence
    assert "CD3E" in result.diagnosis.what_went_wrong  # the code's finding, said in the diagnosis
    revision = [c for c in provider.calls if c.task == "annotator"][1].messages[-1].content
    assert "CD3E" in revision and "not in the cluster's marker list" in revision


def test_formatter_key_markers_not_in_the_input_are_dropped_and_said(tmp_path):
    sound = "S100A8, S100A9, LYZ and CD14 are classic classical-monocyte markers; no CD3E, so not T cells."
    result, _ = run({"annotator": [sound], "review": [{**CONSISTENT, "key_markers": ["CD14", "CD3E", "CD8A", "LYZ"]}]},
                    tmp_path)
    assert result.validated and result.iterations == 1
    assert result.annotation.key_markers == ["CD14", "LYZ"]
    assert any("CD3E, CD8A" in note for note in result.notes)


def test_genes_of_the_full_table_may_be_cited(tmp_path):
    table = pd.concat([MONOCYTES, pd.DataFrame({"cluster": ["mono"], "gene": ["CCR2"], "avg_log2FC": [0.1],
                                                "p_val_adj": [0.5], "pct.1": [0.2], "pct.2": [0.1]})])
    text = "CD14, LYZ and CCR2 mark classical monocytes."
    result, _ = run({"annotator": [text], "review": [CONSISTENT]}, tmp_path, markers=table, n_genes=6)
    assert "CCR2" not in result.markers
    assert result.validated and result.validation[0].invented_genes == []


@pytest.mark.parametrize("name, species", [
    ("mesophyll cell", "Arabidopsis thaliana"),
    ("Doublets", "human"),
    ("Low-quality cells", "human"),
    ("Tumor-associated macrophages", "human"),
    ("Cancer-associated fibroblasts", "human"),
    ("Malignant melanoma cells", "human"),
])
def test_names_outside_the_cell_ontology_pass_with_a_note(tmp_path, name, species):
    text = "S100A8, S100A9, LYZ and CD14 lead the list; the call follows them."
    verdict = {**CONSISTENT, "main_cell_type": name}
    result, provider = run({"annotator": [text], "review": [verdict]}, tmp_path, species=species)
    assert result.validated and result.iterations == 1  # never sent back for its name
    assert result.validation[0].notes and name in result.validation[0].notes[0]
    assert [c.task for c in provider.calls].count("annotator") == 1


def test_only_a_name_the_markers_contradict_is_sent_back_and_feedback_never_asks_to_rename(tmp_path):
    text = "S100A8, S100A9, LYZ and CD14 lead the list."
    contradicted = {**FORMATTED, "main_cell_type": "B cell", "consistent": False,
                    "concerns": ["no B-cell marker in the list"], "feedback": "The markers are myeloid."}
    supported = {**CONSISTENT, "main_cell_type": "Tumor-associated macrophages"}
    result, provider = run({"annotator": [text, text], "review": [contradicted, supported]}, tmp_path)
    assert [r.passed for r in result.validation] == [False, True]
    revision = [c for c in provider.calls if c.task == "annotator"][1].messages[-1].content
    assert "no B-cell marker" in revision
    assert "Cell Ontology" not in revision and "standard cell type name" not in revision
    system = [c for c in provider.calls if c.task == "review"][0].system
    assert "Never ask to rename an answer the markers support" in system


def test_genes_named_in_the_recorded_cell_type_are_checked_too(tmp_path):
    """The record is the final answer: a type named after a gene the cluster lacks is not accepted."""
    text = "S100A8, S100A9, LYZ and CD14 lead the list: classical monocytes."
    invented_name = {**CONSISTENT, "sub_cell_types": ["SPP1+ macrophage"]}
    result, provider = run({"annotator": [text, text], "review": [invented_name, CONSISTENT]}, tmp_path)
    first = result.validation[0]
    assert not first.passed and first.invented_genes == ["SPP1"]
    assert any("recorded cell-type names" in reason for reason in first.reasons)
    assert result.validated and result.iterations == 2
    # a phenotype name from the input's own genes (CD14+) is fine
    result, _ = run({"annotator": [text], "review": [{**CONSISTENT, "sub_cell_types": ["CD14+ monocyte", "LYZ-high monocyte"]}]},
                    tmp_path / "again")
    assert result.validated and result.iterations == 1
