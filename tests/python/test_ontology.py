"""Cell Ontology module: name mapping, normalisation, graph lookups (offline CL release)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cassia import ontology
from cassia.errors import InputError
from cassia.ontology._text import tokens

T_CELL = "CL:0000084"
B_CELL = "CL:0000236"
LYMPHOCYTE = "CL:0000542"
CD8_AB_T = "CL:0000625"
CD4_AB_T = "CL:0000624"
ROOT = "CL:0000000"


# -- normalisation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CD8+ T cells", ["cd8", "positive", "t", "cell"]),
        ("CD8-positive, alpha-beta T cell", ["cd8", "positive", "alphabeta", "t", "cell"]),
        ("αβ T-cells", ["alphabeta", "t", "cell"]),
        ("γδ T cells", ["gammadelta", "t", "cell"]),
        ("pre-B_cell_CD34-", ["pre", "b", "cell", "cd34", "negative"]),
        ("NK_CD56bright", ["nk", "cd56", "bright"]),
        ("type II pneumocytes", ["type", "2", "pneumocyte"]),
        ("Müller glia", ["muller", "glia"]),
        ("haematopoietic progenitors", ["hematopoietic", "progenitor"]),
        ("renal tubular cells", ["kidney", "tubule", "cell"]),
        ("Tregs", ["treg"]),
        ("cDC1s", ["cdc1"]),
        ("myo-epithelial cell", ["myoepithelial", "cell"]),
        ("non-β endocrine cell", ["nonbeta", "endocrine", "cell"]),
        ("layer 5 neuron", ["l5", "neuron"]),
        ("insulin-producing cells", ["insulin", "secreting", "cell"]),
    ],
)
def test_tokens_normalise_names(text, expected):
    assert tokens(text) == expected


# -- mapping ----------------------------------------------------------------------------------
def test_exact_label_and_synonym():
    exact = ontology.map_name("T cell")
    assert (exact.cl_id, exact.method, exact.confidence) == (T_CELL, "exact", 1.0)
    assert exact.label == "T cell" and exact.query == "T cell"
    synonym = ontology.map_name("T lymphocyte")
    assert (synonym.cl_id, synonym.method) == (T_CELL, "synonym")
    assert synonym.confidence < exact.confidence


@pytest.mark.parametrize(
    ("name", "cl_id"),
    [
        ("CD8+ T cells", CD8_AB_T),
        ("cd8 positive t-cells", CD8_AB_T),
        ("CD4 T", CD4_AB_T),
        ("T-cells", T_CELL),
        ("gamma delta T cells", "CL:0000798"),
        ("B lymphocytes", B_CELL),
        ("Hepatocytes", "CL:0000182"),
        ("Effector CD4+ T cells", "CL:0001044"),
        ("naive CD4+ T cells", "CL:0000895"),  # "naive thymus-derived CD4-positive, ..."
        ("CD14 monocytes", "CL:0001054"),
        ("pericyte 1", "CL:0000669"),
        ("epithelial", "CL:0000066"),
    ],
)
def test_normalised_names(name, cl_id):
    match = ontology.map_name(name)
    assert match.cl_id == cl_id, match
    assert match.method in {"exact", "synonym", "normalised"}
    assert 0.8 <= match.confidence <= 1.0


@pytest.mark.parametrize(
    ("name", "cl_id"),
    [
        ("NK cells", "CL:0000623"),
        ("NK", "CL:0000623"),
        ("Tregs", "CL:0000815"),
        ("Tfh", "CL:0002038"),
        ("pDC", "CL:0000784"),
        ("cDC", "CL:0000990"),
        ("MAIT cells", "CL:0000940"),
        ("ILC2", "CL:0001069"),
        ("ILCs", "CL:0001065"),
        ("OPCs", "CL:0002453"),
        ("TA cells", "CL:0009010"),
        ("HSC", "CL:0000037"),
        ("MSCs", "CL:0000134"),
        ("RBC", "CL:0000232"),
        ("ECs", "CL:0000115"),
        ("SMC", "CL:0000192"),
        ("Th17 cells", "CL:0000899"),
    ],
)
def test_abbreviations(name, cl_id):
    match = ontology.map_name(name)
    assert match.cl_id == cl_id, match
    assert match.method in {"synonym", "normalised", "abbreviation"}


def test_qualifiers_map_to_base_type_with_less_confidence():
    plain = ontology.map_name("hepatocytes")
    for name in ("proliferating hepatocytes", "activated hepatocytes", "mature hepatocytes"):
        qualified = ontology.map_name(name)
        assert qualified.cl_id == plain.cl_id == "CL:0000182"
        assert qualified.confidence < plain.confidence
    assert ontology.map_name("Kupffer-like cells").cl_id == "CL:0000091"


def test_an_existing_qualified_term_wins_over_the_base_type():
    # CL has "activated CD4-positive, alpha-beta T cell": no need to strip "activated".
    match = ontology.map_name("activated CD4-positive, alpha-beta T cells")
    assert match.cl_id == "CL:0000896"


def test_brackets_abbreviations_and_refinements():
    assert ontology.map_name("alveolar type 2 cell (AT2)").cl_id == "CL:0002063"
    assert ontology.map_name("T helper 17 (Th17) cell").cl_id == "CL:0000899"
    # the bracket names a subtype of the outside: keep the subtype
    assert ontology.map_name("immune cell (B cells)").cl_id == B_CELL
    assert ontology.map_name("epithelial cell (ciliated)").cl_id == "CL:0000067"
    assert ontology.map_name("T cell (CD8+)").cl_id == CD8_AB_T


def test_lists_map_to_every_part_and_stand_for_their_common_ancestor():
    match = ontology.map_name("Dendritic cells / macrophages")
    assert match.method == "compound"
    assert [p.cl_id for p in match.parts] == ["CL:0000451", "CL:0000235"]
    assert match.cl_id == "CL:0000113"  # mononuclear phagocyte, not one of the parts
    assert match.confidence < ontology.map_name("dendritic cells").confidence
    assert ontology.is_cell_type("Dendritic cells / macrophages")


def test_compound_names_no_longer_collapse_to_one_part():
    nk_t = ontology.map_name("NK/T cells")
    assert [p.label for p in nk_t.parts] == ["natural killer cell", "T cell"]
    assert nk_t.label == "lymphocyte"
    mk = ontology.map_name("Megakaryocytes/platelets")
    assert [p.label for p in mk.parts] == ["megakaryocyte", "platelet"]
    assert mk.cl_id not in {p.cl_id for p in mk.parts}
    # unrelated lineages share only "eukaryotic cell": the parts are kept, no term is claimed
    mixed = ontology.map_name("epithelial/endothelial cells")
    assert mixed.cl_id is None and len(mixed.parts) == 2 and mixed.method == "compound"


def test_a_hedge_towards_an_ancestor_keeps_the_specific_part():
    assert ontology.map_name("dendritic cell or immune cell").label == "dendritic cell"


def test_disease_and_state_words_are_kept_as_qualifiers():
    malignant = ontology.map_name("Malignant epithelial cells")
    assert malignant.label == "epithelial cell" and malignant.qualifiers == ("malignant",)
    assert ontology.map_name("tumor cells").qualifiers == ()  # the term itself says malignant
    assert ontology.map_name("epithelial cells").qualifiers == ()


def test_everyday_names_of_islet_and_retinal_cells():
    assert ontology.map_name("beta cells").label == "type B pancreatic cell"
    assert ontology.map_name("δ cell").label == "pancreatic D cell"
    assert ontology.map_name("rod photoreceptors").label == "retinal rod cell"
    assert ontology.map_name("monocyte-derived macrophage").label == "macrophage"
    # the letter alone does not rename other types
    assert ontology.map_name("alpha-beta T cell").label != "pancreatic A cell"


def test_a_label_blended_with_a_synonym_is_a_confident_fuzzy_match():
    # "pulmonary alveolar type 2 cell" has the synonym "type II pneumocyte"
    match = ontology.map_name("alveolar type II pneumocytes")
    assert (match.cl_id, match.method) == ("CL:0002063", "fuzzy")


def test_spelling_mistakes_are_fuzzy_matches():
    match = ontology.map_name("hematopoeitic stem cells")
    assert (match.cl_id, match.method) == ("CL:0000037", "fuzzy")
    assert match.confidence < 0.95


@pytest.mark.parametrize(
    "name",
    ["banana", "cluster 7", "Unknown", "unassigned", "Doublets", "low quality cells", "", "   ",
     "???", "proliferating cells", "asdfgh cells", "mitochondrial genes"],
)
def test_nonsense_stays_unmapped(name):
    match = ontology.map_name(name)
    assert (match.cl_id, match.label, match.method, match.confidence) == (None, None, "unmapped", 0.0)
    assert not ontology.is_cell_type(name)


def test_min_confidence_decides_what_is_mapped():
    weak = ontology.map_name("Metanephric cells", min_confidence=0.5)
    assert weak.cl_id is not None and weak.method == "fuzzy"
    assert ontology.map_name("Metanephric cells", min_confidence=weak.confidence + 0.01).cl_id is None
    assert ontology.map_name("T cell", min_confidence=1.0).cl_id == T_CELL


def test_candidates_are_ranked_and_consistent_with_map_name():
    found = ontology.candidates("naive CD4 T cell", top=5)
    assert 1 < len(found) <= 5
    assert [m.confidence for m in found] == sorted((m.confidence for m in found), reverse=True)
    assert len({m.cl_id for m in found}) == len(found)
    assert all(m.cl_id.startswith("CL:") for m in found)
    assert ontology.candidates("naive CD4 T cell", top=1) == found[:1]
    assert ontology.candidates("banana") == []


def test_is_cell_type():
    assert ontology.is_cell_type("CD8+ T cells")
    assert ontology.is_cell_type("Kupffer cells")
    assert not ontology.is_cell_type("cluster 7")
    assert not ontology.is_cell_type("Metanephric cells")  # only a weak fuzzy match
    assert ontology.is_cell_type("rod cell", min_confidence=0.6)


def test_bad_arguments_raise_input_errors():
    with pytest.raises(InputError, match="between 0 and 1"):
        ontology.map_name("T cell", min_confidence=1.5)
    with pytest.raises(InputError, match="must be text"):
        ontology.map_name(None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="positive integer"):
        ontology.candidates("T cell", top=0)


# -- IDs and the graph ------------------------------------------------------------------------
def test_ids_accept_underscore_form_and_follow_replacements():
    assert ontology.label("CL_0000084") == ontology.label("cl:0000084") == "T cell"
    assert ontology.normalise_id("CL_0000084") == T_CELL
    assert ontology.label("CL:9999999") is None
    assert ontology.map_name("CL_0000084").cl_id == T_CELL
    # deprecated "male germ line stem cell (sensu Vertebrata)" -> its replacement
    assert ontology.current_id("CL:0000089") == "CL:0000016"
    assert ontology.current_id(T_CELL) == T_CELL
    with pytest.raises(InputError, match="CL:0000084"):
        ontology.label("UBERON:0002107")


def test_mapper_never_returns_deprecated_or_foreign_terms():
    for name in ("male germ line stem cell (sensu Vertebrata)", "obsolete native cell", "liver"):
        for match in ontology.candidates(name, top=5):
            assert match.cl_id.startswith("CL:")
            assert ontology.current_id(match.cl_id) == match.cl_id


def test_ancestors():
    up = ontology.ancestors(CD8_AB_T)
    assert T_CELL in up and LYMPHOCYTE in up and ROOT in up
    assert CD8_AB_T not in up
    assert all(a.startswith("CL:") for a in up)
    assert ontology.distance(CD8_AB_T, up[0]) == 1  # nearest first
    assert up[-1] == ROOT
    assert ontology.ancestors(ROOT) == []
    assert ontology.ancestors("CL:9999999") == []


def test_lowest_common_ancestor():
    assert ontology.lowest_common_ancestor(B_CELL, T_CELL) == LYMPHOCYTE
    assert ontology.lowest_common_ancestor(T_CELL, CD8_AB_T) == T_CELL
    assert ontology.lowest_common_ancestor(CD8_AB_T, CD8_AB_T) == CD8_AB_T
    assert ontology.lowest_common_ancestor("CL_0000625", "CL:0000624") == "CL:0000791"  # mature ab T
    assert ontology.lowest_common_ancestor(T_CELL, "CL:9999999") is None


def test_distance():
    assert ontology.distance(T_CELL, T_CELL) == 0
    assert ontology.distance(CD8_AB_T, T_CELL) == ontology.distance(T_CELL, CD8_AB_T) == 3
    assert ontology.distance(B_CELL, T_CELL) == 3  # B cell -> B lineage -> lymphocyte <- T cell
    assert ontology.distance(CD8_AB_T, CD4_AB_T) == 2
    assert ontology.distance(T_CELL, "CL:9999999") is None
    assert ontology.is_ancestor(LYMPHOCYTE, CD8_AB_T)
    assert ontology.is_ancestor(T_CELL, T_CELL)
    assert not ontology.is_ancestor(B_CELL, CD8_AB_T)


def test_index_info_reports_release_and_timings():
    info = ontology.index_info()
    assert str(info["cl_version"]).startswith("v20")
    assert info["live_terms"] > 3000 and info["index_entries"] > info["live_terms"]
    assert info["index_build_seconds"] > 0


def test_import_does_no_work():
    code = (
        "import cassia.ontology as o\n"
        "from cassia.ontology import _match, _terms\n"
        "assert _terms._loaded is None and _match._index is None\n"
        "o.label('CL:0000084')\n"
        "assert _terms._loaded is not None and _match._index is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_compound_and_qualified_answers_are_different_answers_for_consensus():
    from cassia.ontology.compare import cl_key, display_name

    assert cl_key("NK/T cells") != cl_key("NK cells")
    assert cl_key("Megakaryocytes/platelets") not in {cl_key("megakaryocyte"), cl_key("platelets")}
    assert cl_key("Malignant epithelial cells") != cl_key("Epithelial cells")
    assert cl_key("Platelets/megakaryocytes") == cl_key("Megakaryocytes / platelets")
    assert display_name(cl_key("Malignant epithelial cells")) == "malignant epithelial cell"
    assert display_name(cl_key("epithelial/endothelial cells")) == "epithelial cell/endothelial cell"


# -- names seen in published annotations ------------------------------------------------------
@pytest.mark.parametrize(("name", "expected"), [
    ("Alpha cells", "CL:0000171"),          # the islet cell, not the mouse retinal ganglion cell
    ("δ cell", "CL:0000173"),               # Greek letter alone
    ("Capillary Aerocyte", "CL:4028003"),   # aCap of the lung (Gillich et al. 2020)
    ("gCap", "CL:4028002"),
    ("Fibromyocytes", "CL:0000186"),        # closest term: myofibroblast
    ("preB", "CL:0000817"),
    ("Ascending Thin Limb", "CL:1001107"),  # word order of the kidney atlases
    ("atrial cardiomyocytes", "CL:0002129"),
    ("CD56-bright natural killer", "CL:0000938"),
    ("Granule neurons", "CL:0000120"),
    ("Hemoglobin-producing cells", "CL:0000764"),
    ("Immune system cells", "CL:0000738"),
    ("conventional dendritic cell type 1", "CL:0000990"),  # a numbered subset of the term
])
def test_everyday_names_map_to_their_terms(name, expected):
    assert ontology.map_name(name).cl_id == expected


def test_other_species_terms_yield_to_the_general_term_but_stay_reachable():
    assert ontology.map_name("alpha retinal ganglion cell (Mmus)").cl_id == "CL:0004117"
    assert ontology.map_name("alpha cell").cl_id != "CL:0004117"


def test_organ_adjectives_fold_to_their_noun():
    assert tokens("tonsillar epithelial cell") == ["tonsil", "epithelial", "cell"]
