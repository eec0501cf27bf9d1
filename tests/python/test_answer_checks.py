"""The deterministic answer checks (agents/checks.py) on real-looking transcripts."""

from __future__ import annotations

import pytest

import cassia
from cassia.agents.checks import check_answer, cited_genes
from cassia.markers.examples import example_markers_path


MONOCYTE_MARKERS = ["S100A8", "S100A9", "LYZ", "CD14", "FCN1", "VCAN", "CST3", "TYROBP", "LST1", "HLA-DRA",
                    "CD68", "FCER1G", "AIF1", "MNDA", "CSF1R"]

# What a model wrote for a CD14-monocyte cluster, reasoning from T-cell genes it was never given.
INVENTED = """1. Functional markers: CD3E, CD3D and CD2 are among the strongest genes, indicating T-cell receptor signalling.
2. Cell-type markers: CD3E and CD2 mark T cells; IL7R suggests a naive or memory state.
3. The combination CD3E/CD3D with LYZ is unusual, but the T-cell signal dominates.
4. General cell type: T cell.
FINAL ANSWER: T cell"""

# A sound answer for the same cluster, in the style of GPT-4 transcripts: phenotype names
# (CD14+ monocytes, CD4+ T), protein spellings (IL-1β, HLA-DR), MHC class II, and genes
# named as absent (no CD3E / FCGR3A), none of which is an invented citation.
SOUND = """Step 1. Key functional markers: S100A8 and S100A9 (calprotectin) point to an inflammatory, IL-1β-producing
state; LYZ and CST3 to antigen processing. HLA-DRA and other MHC class II genes (HLA-DR) are expressed.
Step 2. Key cell-type markers: CD14, FCN1, VCAN and LYZ are classic markers of CD14+ monocytes. TYROBP and FCER1G
are shared with NK cells, but there is no CD3E, CD3D or NKG7, so CD4+ T and CD8-positive, alpha-beta T cells are
unlikely. FCGR3A is absent, which argues against CD16+ (non-classical) monocytes.
Step 3. Cross-reference: PanglaoDB and CellMarker list S100A8/A9, LYZ and CD14 for classical monocytes (CL:0000860).
Step 4. General cell type: monocyte. Step 5. Subtypes: 1. classical monocyte 2. intermediate monocyte 3. type II
conventional dendritic cell (cDC2). Step 6. No sign of doublets; not ILC2 or MAIT cells.
FINAL ANSWER: classical monocyte (CD14+ monocytes)."""


def test_invented_t_cell_genes_are_caught_whatever_a_reviewer_says():
    check = check_answer(INVENTED, markers=MONOCYTE_MARKERS)
    assert not check.passed
    assert check.invented == ["CD3E", "CD3D", "CD2", "IL7R"]
    assert "CD3E" in check.reasons[0]


def test_a_sound_answer_passes_with_phenotype_names_proteins_and_absent_genes():
    check = check_answer(SOUND, markers=MONOCYTE_MARKERS)
    assert check.passed, check.reasons
    assert {"CD3E", "CD3D", "NKG7", "FCGR3A"} <= set(check.mentioned_absent)
    assert {"S100A8", "S100A9", "CD14", "LYZ", "HLA-DRA"} <= set(check.cited)


def test_formatter_key_markers_are_checked():
    check = check_answer(SOUND, markers=MONOCYTE_MARKERS, key_markers=["CD14", "LYZ", "CD3E", "CD8A"])
    assert check.invented_key_markers == ["CD3E", "CD8A"]
    assert not check.passed


def test_the_full_statistics_table_counts_as_input():
    text = "SELL and CCR2 support a classical monocyte; CD14 is the top marker."
    assert check_answer(text, markers=["CD14"]).invented == ["SELL", "CCR2"]
    assert check_answer(text, markers=["CD14"], table_genes=["SELL", "CCR2", "GAPDH"]).passed


def test_families_aliases_and_slashes():
    markers = ["CD3E", "HLA-DRB1", "KRT8", "FCGR3A", "S100A8", "S100A9"]
    text = "CD3 and HLA-DR are high, keratins (KRT) too; CD16 is expressed; S100A8/A9 as well."
    assert check_answer(text, markers=markers).passed
    assert [m.symbol for m in cited_genes("S100A8/A9 high")] == ["S100A8", "S100A9"]
    # CD1 is not a family prefix of CD14
    assert check_answer("CD1 is expressed.", markers=["CD14"]).invented == ["CD1"]


@pytest.mark.parametrize("text", [
    "IL-2 and IFN-γ signalling; TNF-α production",
    "MHC class II, type I interferon, G2M phase, UMAP cluster, PBMC sample, FDR < 0.05",
    "CD4+ T cells, CD8 T cells, CD14 monocytes, CD56bright NK, HLA-DRhi dendritic cells",
    "Cluster: CD8+/CD45RA+ Naive Cytotoxic; CD45RO+ memory T cells",  # isoform phenotypes (pbmc68k's labels)
    "ILC2, MAIT, Th17, cDC1 and AT2 cells; CA1 pyramidal neurons; L2/3 IT neurons",
    "The cell type is NOT a B cell. FINAL ANSWER: T cell (CL:0000084).",
])
def test_words_that_are_not_gene_citations(text):
    assert check_answer(text, markers=["GAPDH"]).passed


def test_negation_covers_a_whole_list_but_not_the_next_clause():
    text = "There is no CD3E, CD3D or CD2 expression; MS4A1 and CD79A are strongly expressed, not T cells."
    mentions = {m.symbol: m.asserted for m in cited_genes(text)}
    assert mentions == {"CD3E": False, "CD3D": False, "CD2": False, "MS4A1": True, "CD79A": True}
    assert check_answer(text, markers=["PAX5"]).invented == ["MS4A1", "CD79A"]


def test_a_gene_positive_subtype_name_asserts_the_gene():
    assert check_answer("SPP1+ macrophages", markers=["CD68"]).invented == ["SPP1"]
    assert check_answer("MKI67-high cycling cells", markers=["TOP2A"]).invented == ["MKI67"]


def test_species_shapes():
    mouse = "Cd3e, Cd3g and Trbc2 mark T cells; Ptprc is high. CD4+ T cells are likely; Cd8a is absent."
    found = {m.symbol: m.asserted for m in cited_genes(mouse, species="mouse", known=["Ptprc"])}
    assert found == {"Cd3e": True, "Cd3g": True, "Trbc2": True, "Ptprc": True, "Cd8a": False}
    assert check_answer(mouse, markers=["Cd3e", "Cd3g", "Trbc2", "Ptprc"], species="mouse").passed
    # human shapes: a title-case word is prose, not a symbol
    assert cited_genes("These Cells express Cd3e", species="human") == []
    plant = "LHCB1, RBCS1A and AT1G67090 point to a mesophyll cell; CAB1 too."
    check = check_answer(plant, markers=["LHCB1", "RBCS1A", "AT1G67090"], species="Arabidopsis thaliana")
    assert check.invented == ["CAB1"]


def test_offline_run_transcripts_cite_only_their_input(tmp_path):
    """Real transcripts: the offline annotator's reasoning on the packaged PBMC example."""
    result = cassia.run_batch(example_markers_path(), provider="offline", tissue="blood", out_dir=tmp_path / "run", progress=False)
    assert result.results
    for r in result.results:
        answer = r.annotation or r.diagnosis
        texts = [m.content for m in r.conversation if m.role == "assistant"]
        assert texts
        for text in texts:
            check = check_answer(text, markers=r.markers, key_markers=answer.key_markers)
            assert check.passed, (r.cluster, check.reasons)
            assert check.cited
