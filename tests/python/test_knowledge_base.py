"""The curated knowledge base: structure, Cell Ontology identity, coverage, tissue vocabulary."""

from __future__ import annotations

import json

import pytest
from cellxgene_ontology_guide.ontology_parser import OntologyParser

from cassia.errors import InputError
from cassia.knowledge import load_knowledge_base
from cassia.knowledge.kb import DEFAULT_PATH


@pytest.fixture(scope="module")
def kb():
    return load_knowledge_base()


@pytest.fixture(scope="module")
def onto():
    return OntologyParser()


def test_has_at_least_150_cell_types(kb):
    assert len(kb) >= 150


def test_every_id_exists_and_its_label_is_the_name(kb, onto):
    wrong = []
    for ct in kb.types.values():
        if not onto.is_valid_term_id(ct.cl_id) or onto.is_term_deprecated(ct.cl_id):
            wrong.append((ct.name, ct.cl_id, "not a current CL term"))
        elif onto.get_term_label(ct.cl_id) != ct.name:
            wrong.append((ct.name, ct.cl_id, onto.get_term_label(ct.cl_id)))
    assert wrong == []


def test_ids_are_unique(kb):
    ids = [ct.cl_id for ct in kb.types.values()]
    assert len(ids) == len(set(ids))


def test_no_duplicate_names_in_the_file():
    names = [entry["name"] for entry in json.loads(DEFAULT_PATH.read_text())["cell_types"]]
    assert len(names) == len(set(names))


def test_parents_exist_and_are_more_general_in_the_ontology(kb, onto):
    for ct in kb.types.values():
        if ct.parent is None:
            continue
        parent = kb.get(ct.parent)
        assert parent.cl_id in onto.get_term_ancestors(ct.cl_id), (ct.name, ct.parent)


def test_markers_are_usable(kb):
    for ct in kb.types.values():
        assert len(ct.markers) >= 2, ct.name
        assert len({m.upper() for m in ct.markers}) == len(ct.markers), ct.name
        assert not set(ct.markers) & set(ct.negative_markers), ct.name
        assert all(m == m.strip() and m for m in ct.markers), ct.name
    roots = [ct for ct in kb.types.values() if ct.parent is None]
    assert all(len(ct.markers) >= 3 for ct in roots)


def test_every_type_has_a_lineage_inherited_from_its_root(kb):
    for ct in kb.types.values():
        assert ct.lineage == kb.get(kb.root(ct.name)).lineage


@pytest.mark.parametrize("cl_id", [
    "CL:0000624", "CL:0000625", "CL:0000792", "CL:0000623", "CL:0000236",
    "CL:0000786", "CL:0000860", "CL:0000875", "CL:0000784", "CL:0000097", "CL:0000233", "CL:0000232",
    "CL:0000037", "CL:0000584", "CL:0019031", "CL:0000510", "CL:1001516", "CL:0019032", "CL:0002250",
    "CL:4030026", "CL:0002063", "CL:0000182", "CL:0002306", "CL:0000169", "CL:0000312", "CL:0000128",
    "CL:0002453", "CL:0000127", "CL:0000129", "CL:0002573", "CL:4040002", "CL:0000746", "CL:0008002",
    "CL:0000136", "CL:0000115", "CL:0002138", "CL:0000669", "CL:0000192", "CL:0000057", "CL:0000077",
    "CL:0000020", "CL:0000186",
])
def test_covers_the_common_types_of_major_tissues(kb, cl_id):
    assert cl_id in {ct.cl_id for ct in kb.types.values()}


@pytest.mark.parametrize("text, expected", [
    ("Large Intestine", "intestine"), ("colon", "intestine"), ("PBMC", "blood"), ("peripheral blood", "blood"),
    ("human lung tissue", "lung"), ("kidney cortex", "kidney"), ("Bone_Marrow", "bone marrow"),
    ("atlas", None), ("unknown", None), (None, None), ("", None), ("planet mars", None),
])
def test_tissue_names_resolve_to_canonical_tissues(kb, text, expected):
    assert kb.resolve_tissue(text) == expected


def test_tissues_of_types_are_known(kb):
    for ct in kb.types.values():
        assert ct.tissues <= set(kb.tissues) | {"any", "solid"}, ct.name


def test_mouse_tables_refer_to_knowledge_base_markers(kb):
    listed = {m.upper() for ct in kb.types.values() for m in ct.markers + ct.negative_markers}
    assert set(kb.mouse_orthologs) <= listed
    assert kb.human_only_genes <= listed | {g.upper() for p in kb.functional_programs.values() for g in p}


def test_ancestry_helpers(kb):
    name = "naive thymus-derived CD8-positive, alpha-beta T cell"
    assert kb.ancestors(name) == ["CD8-positive, alpha-beta T cell", "T cell"]
    assert kb.root(name) == "T cell" and kb.root("T cell") == "T cell"
    assert "CD8-positive, alpha-beta T cell" in kb.children("T cell")
    with pytest.raises(InputError):
        kb.get("not a cell type")


def _write(tmp_path, types):
    base = json.loads(DEFAULT_PATH.read_text())
    base["cell_types"] = types
    path = tmp_path / "kb.json"
    path.write_text(json.dumps(base))
    return path


def test_broken_files_fail_with_a_clear_message(tmp_path):
    root = {"name": "T cell", "cl_id": "CL:0000084", "parent": None, "lineage": "lymphoid",
            "tissues": ["any"], "markers": ["CD3E", "CD3D"]}
    orphan = {**root, "name": "orphan", "parent": "missing type", "lineage": ""}
    with pytest.raises(InputError, match="unknown parent"):
        load_knowledge_base(_write(tmp_path, [root, orphan]))
    with pytest.raises(InputError, match="listed twice"):
        load_knowledge_base(_write(tmp_path, [root, root]))
    with pytest.raises(InputError, match="unknown tissues"):
        load_knowledge_base(_write(tmp_path, [{**root, "tissues": ["moon"]}]))
    with pytest.raises(InputError, match="lacks field"):
        load_knowledge_base(_write(tmp_path, [{k: v for k, v in root.items() if k != "markers"}]))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="cannot read knowledge base"):
        load_knowledge_base(bad)
    assert len(load_knowledge_base(_write(tmp_path, [root]))) == 1


@pytest.mark.parametrize(("genes", "tissue", "expected"), [
    ("SLC8A1,CALB1,TRPV5,HSD11B2,SCNN1G,KL,PAX8,CDH16,MECOM,TMEM52B", "kidney", "kidney connecting tubule epithelial cell"),
    ("EDNRB,HPGD,SOSTDC1,TBX2,S100A3,APLN,CA4,CDH5,PECAM1,CLDN5", "lung", "alveolar capillary type 2 endothelial cell"),
    ("FOXN1,PSMB11,PRSS16,CCL25,PAX1,LY75,KRT5,KRT8,EPCAM,CLDN4", "thymus", "epithelial cell of thymus"),
    ("CRYBB2,CRYAA,CRYBB1,CRYBA1,CRYGC,BFSP1,MIP,LIM2,BFSP2,CRYBA4", "eye", "lens fiber cell"),
    ("TNMD,SCX,MKX,THBS4,FMOD,COMP,DCN,COL1A1,COL3A1,CILP2", "skeletal muscle", "tendon cell"),
    ("SLC13A1,LINC01020,SLC36A2,AGXT2,CDH9,ACMSD,SLC5A2,GATM,PDZK1IP1,NEAT1", "kidney",
     "epithelial cell of proximal tubule"),  # single-nucleus proximal tubule: transporters, no LRP2
])
def test_organ_types_of_version_3_are_called(genes, tissue, expected):
    from cassia.knowledge import call_cell_type

    call = call_cell_type(genes, tissue=tissue, databases=False)
    assert call.confident and expected in (call.best.name, *call.subtypes), (call.label, call.subtypes)


def test_types_added_in_version_3_cite_their_sources():
    kb = load_knowledge_base()
    added = ["kidney connecting tubule epithelial cell", "alveolar capillary type 2 endothelial cell",
             "epithelial cell of thymus", "lens fiber cell", "tendon cell", "hepatoblast", "keratocyte"]
    assert kb.version >= 3
    assert all(kb.get(name).sources for name in added)


@pytest.mark.parametrize(("text", "expected"), [
    ("AdultKidney", "kidney"), ("FetalLiver", "liver"), ("Adult-Lung", "lung"), ("fetal_stomach", "stomach"),
])
def test_atlas_sample_names_resolve_to_their_tissue(text, expected):
    assert load_knowledge_base().resolve_tissue(text) == expected
