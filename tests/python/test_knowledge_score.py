"""The deterministic scorer and caller: known marker lists, weak evidence, mixtures, species, tissue."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from cassia.knowledge import UNKNOWN, call_cell_type, load_knowledge_base, rank_cell_types
from cassia.knowledge.score import rank_weight

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LARGE_INTESTINE = DATA / "markers" / "large_intestine_findallmarkers.csv"


def top_genes(path: Path, n: int = 50) -> dict[str, list[str]]:
    table = pd.read_csv(path)
    table = table[table["p_val_adj"] < 0.05]
    return {str(c): list(g.sort_values("avg_log2FC", ascending=False)["gene"].head(n))
            for c, g in table.groupby("cluster")}


def family_of(name: str) -> str:
    return load_knowledge_base().root(name)


@pytest.mark.parametrize("genes, tissue, expected_family, expected_type", [
    ("CD3D CD3E CD8A CD8B GZMK CCL5 NKG7 CD2 TRAC LCK", None, "T cell", "CD8-positive, alpha-beta T cell"),
    ("CD3E CD3D CD4 CD40LG FOXP3 IL2RA CTLA4 TNFRSF4", "blood",
     "T cell", "CD4-positive, CD25-positive, alpha-beta regulatory T cell"),
    ("MS4A1 CD79A CD79B CD19 BANK1 PAX5 CD22", None, "B cell", None),
    ("JCHAIN MZB1 IGKC TNFRSF17 SDC1 DERL3 XBP1", None, "plasma cell", None),
    ("CD14 LYZ S100A8 S100A9 FCN1 VCAN CSF1R", "PBMC", "monocyte", None),
    ("KLRF1 NCR1 GNLY NKG7 KLRD1 PRF1 SH2D1B", None, "natural killer cell", None),
    ("LILRA4 CLEC4C IL3RA PLD4 SERPINF1 TCF4", None, "dendritic cell", "plasmacytoid dendritic cell"),
    ("TPSAB1 TPSB2 CPA3 KIT MS4A2 HPGDS", None, "mast cell", "mast cell"),
    ("PPBP PF4 GP9 ITGA2B TUBB1 GNG11", "blood", "platelet", "platelet"),
    ("ALB APOH AHSG FGB TF HP SERPINA1", "liver", "hepatocyte", "hepatocyte"),
    ("SFTPC SFTPB SFTPA1 SFTPA2 NAPSA LAMP3 ABCA3", "lung", "epithelial cell of lung", "pulmonary alveolar type 2 cell"),
    ("MOG MOBP MAG PLP1 MBP CLDN11 OPALIN", "brain", "glial cell", "oligodendrocyte"),
    ("AQP4 GFAP SLC1A2 ALDH1L1 GJA1 SLC1A3", "brain", "glial cell", "astrocyte"),
    ("P2RY12 TMEM119 CX3CR1 C1QA C1QB CSF1R HEXB", "brain", "macrophage", "microglial cell"),
    ("CDH5 PECAM1 VWF CLDN5 ESAM EMCN FLT1", None, "endothelial cell", None),
    ("PROX1 CCL21 MMRN1 FLT4 LYVE1 PDPN CDH5", None, "endothelial cell", "endothelial cell of lymphatic vessel"),
    ("RGS5 KCNJ8 ABCC9 HIGD1B PDGFRB NOTCH3", None, "pericyte", "pericyte"),
    ("DCN LUM COL1A2 COL1A1 PDGFRA FBLN1 C7", None, "fibroblast", "fibroblast"),
    ("MUC2 CLCA1 SPINK4 FCGBP ZG16 TFF3 CDX2", "colon", "intestinal epithelial cell", "intestine goblet cell"),
    ("DEFA5 DEFA6 REG3A ITLN2 LYZ", "small intestine", "intestinal epithelial cell", "paneth cell"),
    ("POU2F3 TRPM5 SH2D6 AVIL LRMP", "colon", "intestinal epithelial cell", "intestinal tuft cell"),
    ("BEST4 OTOP2 CA7 SPIB GUCA2B", "colon", "intestinal epithelial cell", "BEST4+ enterocyte"),
    ("TNNT2 MYH6 MYH7 ACTC1 TNNI3 MYBPC3 NPPA MYL7", "heart", "cardiac muscle cell", "regular atrial cardiac myocyte"),
    ("INS IAPP MAFA NPTX2 CHGA PCSK2", "pancreas", "pancreatic endocrine cell", "type B pancreatic cell"),
])
def test_well_known_marker_lists_rank_the_right_type_first(genes, tissue, expected_family, expected_type):
    call = call_cell_type(genes, tissue=tissue)
    assert call.confident
    assert call.general_type == expected_family
    if expected_type is not None:
        assert call.best.name == expected_type


def test_large_intestine_clusters_get_their_lineage():
    clusters = top_genes(LARGE_INTESTINE)
    expected = {
        "monocyte (inaccurate annotation)": "glial cell",  # a glial cluster mislabelled in the source
        "plasma cell": "plasma cell",
        "cd8-positive, alpha-beta t cell (mixed)": "T cell",
        "intestinal enteroendocrine cell": "intestinal epithelial cell",
        "transit amplifying cell of large intestine": "intestinal epithelial cell",
    }
    for cluster, family in expected.items():
        call = call_cell_type(clusters[cluster], tissue="large intestine")
        assert call.confident and call.general_type == family, cluster
    glial = call_cell_type(clusters["monocyte (inaccurate annotation)"], tissue="large intestine")
    assert glial.best.name == "enteroglial cell"
    assert {"SOX10", "PLP1", "CDH19"} <= set(glial.key_markers)
    eec = call_cell_type(clusters["intestinal enteroendocrine cell"], tissue="large intestine")
    assert eec.best.name in {"intestinal enteroendocrine cell", "type L enteroendocrine cell"}


def test_random_genes_give_an_explicit_unknown():
    universe = sorted(set(pd.read_csv(LARGE_INTESTINE)["gene"]))
    rng = random.Random(7)
    calls = [call_cell_type(rng.sample(universe, n)) for n in (10, 25, 50) for _ in range(20)]
    unknown = [c for c in calls if not c.confident]
    assert len(unknown) >= 57  # random lists rarely reach two matched markers and the score threshold
    assert all(c.label == UNKNOWN and c.general_label == UNKNOWN for c in unknown)
    assert all(c.confidence == "none" and c.reasons for c in unknown)
    nonsense = call_cell_type(["NOT_A_GENE1", "FOO2", "BAR3"])
    assert nonsense.best is None and nonsense.label == UNKNOWN and nonsense.quality == 0


def test_a_single_marker_is_not_a_call():
    call = call_cell_type(["MS4A1", "ZNF91", "RPL13", "ACTB"])
    assert call.best is not None and call.best.general_type == "B cell"
    assert not call.confident and "only 1 marker" in " ".join(call.reasons)


def test_two_unrelated_lineages_are_flagged_as_mixed():
    b_cell = ["MS4A1", "CD79A", "CD19", "BANK1", "PAX5"]
    liver = ["ALB", "APOH", "FGB", "AHSG", "TF"]
    mixed = [g for pair in zip(b_cell, liver) for g in pair]
    call = call_cell_type(mixed)
    assert call.mixed_population and "hepatocyte" in call.mixed_types
    assert any("unrelated lineage" in r for r in call.reasons)
    assert call.quality <= 60
    pure = call_cell_type(b_cell + ["CD22", "FCRLA"])
    assert not pure.mixed_population and pure.mixed_types == ()


def test_related_lineages_are_listed_but_not_flagged():
    t_and_nk = ["CD3E", "KLRF1", "CD3D", "NCR1", "CD3G", "SH2D1B", "TRAC", "KIR2DL1", "CD5", "KLRD1"]
    call = call_cell_type(t_and_nk)
    assert call.general_type in {"T cell", "natural killer cell"}
    assert not call.mixed_population


def test_mouse_symbols_and_mouse_only_markers():
    call = call_cell_type(["Cd3e", "Cd3d", "Cd8b1", "Cd8a", "Ccl5"], species="mouse")
    assert call.best.name == "CD8-positive, alpha-beta T cell"
    assert [h.gene for h in call.best.matched][:2] == ["Cd3e", "Cd3d"]
    neutrophil = ["Ly6g", "Retnlg", "S100a8", "Csf3r", "Cxcr2"]
    as_mouse = rank_cell_types(neutrophil, species="Mus musculus")
    as_human = rank_cell_types([g.upper() for g in neutrophil], species="human")
    assert as_mouse[0].name == "neutrophil"
    score = {c.name: c.score for c in as_human}
    assert as_mouse[0].score > score.get("neutrophil", 0)  # Ly6g/Retnlg only count for mouse
    parietal = rank_cell_types(["Atp4a", "Atp4b", "Gif", "Kcne2"], species="mouse", tissue="stomach")[0]
    assert parietal.name == "parietal cell" and "Gif" in parietal.matched_genes  # mouse Gif = human CBLIF


def test_mouse_symbols_given_as_human_are_read_as_mouse():
    neutrophil = ["Ly6g", "Retnlg", "S100a8", "Csf3r", "Cxcr2"]
    default = call_cell_type(neutrophil)  # species left at "human"
    assert default.species == "mouse"
    assert default.best.score == rank_cell_types(neutrophil, species="mouse")[0].score
    # HGNC symbols, including open reading frames such as C5orf64, stay human
    assert call_cell_type(["CD3E", "CD3D", "C5orf64", "CD2"]).species == "human"


def test_species_restriction_removes_human_only_types():
    genes = "BEST4 OTOP2 CA7 SPIB GUCA2B CDX2"
    human = {c.name for c in rank_cell_types(genes, species="human", top=None)}
    mouse = {c.name for c in rank_cell_types(genes, species="mouse", top=None)}
    assert "BEST4+ enterocyte" in human and "BEST4+ enterocyte" not in mouse


def test_tissue_is_a_soft_prior():
    basal = "KRT5 TP63 KRT15 KRT14"  # basal cells of several stratified/pseudostratified epithelia
    assert call_cell_type(basal, tissue="skin").general_type == "keratinocyte"
    assert call_cell_type(basal, tissue="lung").best.name == "respiratory basal cell"
    assert call_cell_type(basal, tissue="prostate").best.name == "basal cell of prostate epithelium"
    assert call_cell_type(basal, tissue="breast").best.name == "basal-myoepithelial cell of mammary gland"
    # a type from elsewhere still wins when its evidence is strong, flagged as off-tissue
    liver_in_brain = call_cell_type("ALB APOH AHSG FGB FGA TF HP", tissue="brain")
    assert liver_in_brain.best.name == "hepatocyte" and liver_in_brain.best.in_tissue is False
    blind = rank_cell_types(basal, tissue=None)
    assert blind == rank_cell_types(basal, tissue="atlas") == rank_cell_types(basal, tissue="somewhere odd")
    assert all(c.in_tissue is None for c in blind)


def test_rank_order_matters():
    t_first = call_cell_type("CD3E CD3D CD2 TRAC CD14 LYZ FCN1 S100A9".split())
    mono_first = call_cell_type("CD14 LYZ FCN1 S100A9 CD3E CD3D CD2 TRAC".split())
    assert t_first.general_type == "T cell" and mono_first.general_type == "monocyte"
    assert rank_weight(1) == 1.0 and rank_weight(11) == pytest.approx(0.5) and rank_weight(50) < 0.2


def test_negative_markers_lower_the_score():
    clean = {c.name: c for c in rank_cell_types("CD3E CD3D CD2 TRAC CD5".split(), top=None)}
    spoiled = {c.name: c for c in rank_cell_types("MS4A1 CD3E CD3D CD2 TRAC CD5".split(), top=None)}
    assert spoiled["T cell"].score < clean["T cell"].score
    assert [h.gene for h in spoiled["T cell"].negatives] == ["MS4A1"]


def test_candidates_report_hits_ranks_missing_markers_and_margins():
    genes = ["ACTB", "CD3D", "Cd8a", "GZMK", "SDPR"]
    cands = rank_cell_types(genes, top=None)
    scores = [c.score for c in cands]
    assert scores == sorted(scores, reverse=True)
    for a, b in zip(cands, cands[1:]):
        assert a.margin == pytest.approx(a.score - b.score, abs=1e-3)
    cd8 = next(c for c in cands if c.name == "CD8-positive, alpha-beta T cell")
    assert {(h.gene, h.rank) for h in cd8.matched} == {("CD3D", 2), ("Cd8a", 3)}
    assert "CD8B" in cd8.missing_key_markers
    platelet = next(c for c in cands if c.name == "platelet")
    assert [(h.gene, h.marker) for h in platelet.matched] == [("SDPR", "CAVIN2")]  # outdated symbol
    assert len(rank_cell_types(genes, top=3)) == 3


def test_functional_programs_are_reported_with_ranks():
    call = call_cell_type("MKI67 CD3E TOP2A CD3D ISG15 IFI6".split())
    assert call.functional["proliferation"] == (("MKI67", 1), ("TOP2A", 3))
    assert "interferon response" in call.functional


def test_results_are_deterministic():
    genes = top_genes(LARGE_INTESTINE)["plasma cell"]
    assert call_cell_type(genes, tissue="colon") == call_cell_type(list(genes), tissue="colon")


def test_the_score_a_call_needs_grows_with_the_list_length():
    from cassia.knowledge.call import MIN_SCORE, min_score

    assert min_score(5) == min_score(10) == 0.0  # two markers of one type in 10 random genes: < 1%
    assert 0.0 < min_score(20) < min_score(40) < min_score(50) == MIN_SCORE == min_score(500)


def test_a_short_list_with_two_markers_of_one_type_is_a_call_a_long_one_is_not():
    from cassia.knowledge import call_cell_type

    short = ["ITGA2B", "GP9", "LINC00176", "FHIT", "EPHX2", "SPOCD1", "SEC14L5", "LY6G6F", "APBA2", "C14orf64"]
    assert call_cell_type(short[:9] + ["ADTRP"], databases=False).label in ("platelet", "megakaryocyte")
    filler = [f"LINC{i:05d}" for i in range(60)]  # no marker anywhere: only the length changes
    weak = call_cell_type(filler[:40] + ["ITGA2B"] + filler[40:] + ["GP9"], databases=False)
    assert not weak.confident


def test_the_first_subtype_is_the_best_supported_type():
    from cassia.knowledge import call_cell_type

    # a well-supported T cell whose list holds one naive marker: the call stays "T cell"
    call = call_cell_type("CD3E,CD3D,CD3G,TRAC,CD2,CD5,CD6,CD247,SELL,ACTB", databases=False)
    assert call.best.name == "T cell" and call.subtypes[0] == "T cell"
    # a subtype with its own markers leads
    naive = call_cell_type("CCR7,LEF1,SELL,TCF7,CD3E,CD3D,CD4,IL7R,MAL,LDHB", databases=False)
    assert naive.subtypes[0] == naive.best.name != "T cell"
    assert naive.general_type == "T cell"


def test_immunoglobulin_variable_segments_count_as_a_family_up_to_a_limit():
    from cassia.knowledge import call_cell_type
    from cassia.knowledge.score import FAMILY_MAX

    segments = "IGKV1-6,IGHV3-21,IGKV1-39,IGLV3-27,IGLV3-19,IGLV4-69,IGKV3-15,IGHV1-18,IGHV4-34,IGLV2-23"
    call = call_cell_type(segments, databases=False)
    assert call.label == "plasma cell"
    assert len(call.best.matched) == FAMILY_MAX  # each clone's segment is not a marker of its own
    assert {h.marker for h in call.best.matched} == {"IGV"}
    # mouse segments are the same family
    assert call_cell_type("Ighv1-2,Igkv3-2,Iglv1,Gm1,Gm2,Gm3,Gm4,Gm5,Gm6,Gm7", databases=False).label == "plasma cell"


def test_a_single_variable_segment_among_random_genes_is_no_call():
    from cassia.knowledge import call_cell_type

    assert not call_cell_type("TRBV20-1,LINC00176,FHIT,EPHX2,SPOCD1,SEC14L5,LY6G6F,APBA2,ADTRP,NEAT1",
                              databases=False).confident
