"""Merging annotations: model groups checked against the Cell Ontology; the offline fallback."""

from __future__ import annotations

import cassia
import pandas as pd
import pytest
from cassia import ontology
from cassia.errors import InputError
from cassia.testing import ScriptedProvider
from cassia.workflows.merge import (
    BROAD_GROUPS,
    DETAILED_GROUPS,
    merge_annotations,
    ontology_groups,
)

SUMMARY = pd.DataFrame({
    "Cluster ID": ["0", "1", "2", "3", "4"],
    "Predicted General Cell Type": ["T cell", "B cell", "Monocyte", "Epithelial cell", "Quuxocyte"],
    "Predicted Detailed Cell Type": ["CD8+ cytotoxic T cells", "Naive B cells", "Classical monocytes", None, None],
})


def test_offline_grouping_follows_the_ontology():
    frame = merge_annotations(SUMMARY, provider="offline")
    assert frame[["Merged_Grouping_1", "Merged_Grouping_2", "Merged_Grouping_3"]].values.tolist() == [
        ["T cell", "CD8-positive, alpha-beta T cell", "CD8-positive, alpha-beta cytotoxic T cell"],
        ["lymphocyte of B lineage", "B cell", "naive B cell"],
        ["mononuclear phagocyte", "monocyte", "classical monocyte"],
        ["epithelial cell", "epithelial cell", "epithelial cell"],  # no detailed annotation: the general one
        ["Quuxocyte", "Quuxocyte", "Quuxocyte"],  # not in the ontology: kept as written
    ]
    assert frame["Merge Notes"].isna().all()
    assert "Merged_Grouping_1" not in SUMMARY.columns  # the caller's table is untouched


def test_offline_groups_are_ancestors_and_anchor_ids_are_live():
    for anchor in BROAD_GROUPS + DETAILED_GROUPS:
        assert ontology.label(anchor), anchor
    for name in ["Regulatory T cells", "Plasma cells", "pDC", "Neutrophils", "Hepatocytes", "Pericytes", "NK cells"]:
        member = ontology.map_name(name).cl_id
        for group in ontology_groups(name):
            assert ontology.is_ancestor(ontology.map_name(group).cl_id, member), (name, group)
    assert ontology_groups("Classical monocytes", 1) == ["mononuclear phagocyte"]
    assert ontology_groups("Classical monocytes", 2) == ["mononuclear phagocyte", "classical monocyte"]


def merge_reply(request):
    assert request.task == "merge"
    return {"assignments": [
        {"annotation": "CD8+ cytotoxic T cells", "groups": ["T cells", "CD8 T cells", "Cytotoxic CD8 T cells"]},
        # B cell is not a monocyte: corrected to the lowest common ancestor
        {"annotation": "Classical monocytes", "groups": ["Myeloid cells", "B cell", "Classical monocyte"]},
        {"annotation": "Naive B cells", "groups": ["B cells", "B cells"]},  # one group short
        {"annotation": "Quuxocyte", "groups": ["Weird cells", "Quux", "Quuxocyte"]},  # unknown to the ontology
        {"annotation": "Invented annotation", "groups": ["a", "b", "c"]},  # not asked for: ignored
    ]}


def test_model_groups_kept_when_valid_and_corrected_when_not():
    provider = ScriptedProvider(merge_reply)
    frame = merge_annotations(SUMMARY, provider=provider).set_index("Cluster ID")
    assert len(provider.calls) == 1
    prompt = provider.calls[0].messages[0].content
    assert "CD8+ cytotoxic T cells" in prompt and "very detailed" in prompt

    t = frame.loc["0"]
    assert [t["Merged_Grouping_1"], t["Merged_Grouping_2"], t["Merged_Grouping_3"]] == [
        "T cells", "CD8 T cells", "Cytotoxic CD8 T cells"]
    assert pd.isna(t["Merge Notes"])

    mono = frame.loc["2"]
    assert mono["Merged_Grouping_1"] == "Myeloid cells"  # myeloid cell is an ancestor of monocytes: kept
    lca = ontology.label(ontology.lowest_common_ancestor("CL:0000236", "CL:0000860"))
    assert mono["Merged_Grouping_2"] == lca and lca not in ("B cell", "classical monocyte")
    assert ontology.is_ancestor(ontology.map_name(lca).cl_id, "CL:0000860")
    assert "'B cell' does not contain 'Classical monocytes'" in mono["Merge Notes"]

    b = frame.loc["1"]
    assert [b["Merged_Grouping_1"], b["Merged_Grouping_3"]] == ["lymphocyte of B lineage", "naive B cell"]
    assert "2 groups for 3 levels" in b["Merge Notes"]

    epi = frame.loc["3"]  # left out by the model
    assert epi["Merged_Grouping_1"] == "epithelial cell" and "not grouped by the model" in epi["Merge Notes"]

    quux = frame.loc["4"]
    assert quux["Merged_Grouping_1"] == "Weird cells" and pd.isna(quux["Merge Notes"])


def test_model_failure_falls_back_to_the_ontology():
    provider = ScriptedProvider({"merge": [cassia.ProviderError("server down")]})
    frame = merge_annotations(SUMMARY, provider=provider, levels=("broad", "fine"))
    assert frame["Merged_Grouping_1"].tolist()[0] == "T cell" and "Merged_Grouping_3" not in frame.columns
    assert frame["Merge Notes"].str.contains("model call failed").all()


def test_merge_reads_runs_and_paths(tmp_path):
    run = cassia.run_batch(cassia.load_example_markers(), provider="offline", out_dir=tmp_path / "r", progress=False)
    from_run = merge_annotations(run, provider="offline")
    from_dir = merge_annotations(tmp_path / "r", provider="offline")
    from_csv = merge_annotations(tmp_path / "r" / "summary.csv", provider="offline", column="Predicted General Cell Type")
    assert from_run["Merged_Grouping_3"].tolist() == from_dir["Merged_Grouping_3"].tolist()
    assert from_run["Merged_Grouping_1"].notna().all(), run.to_frame()[["Status", "Error"]].to_dict("records")
    assert from_csv["Merged_Grouping_1"].tolist() == from_run["Merged_Grouping_1"].tolist()


def test_bad_merge_inputs():
    with pytest.raises(InputError, match="column"):
        merge_annotations(SUMMARY, provider="offline", column="nope")
    with pytest.raises(InputError, match="levels"):
        merge_annotations(SUMMARY, provider="offline", levels=())
    with pytest.raises(InputError, match="Predicted"):
        merge_annotations(pd.DataFrame({"x": [1]}), provider="offline")
