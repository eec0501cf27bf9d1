"""Query rewrites: how people shorten and decorate cell type names.

Written from general single-cell vocabulary (not from any benchmark file). Each rewrite makes
another *reading* of a name; ``_match`` looks every reading up in the ontology index and keeps
the most confident hit, so a rewrite only ever adds a chance to match.
Rewrites work on normalised tokens (see ``_text.tokens``); the expansions below are written
in plain words and normalised the same way when used.
"""

from __future__ import annotations

import re

from ._text import tokens

# Abbreviation -> words. Digits glued to a known abbreviation are kept ("cDC2" -> "conventional
# dendritic cell 2"; the trailing number may later be dropped by strip_numbering).
ABBREVIATIONS: dict[str, str] = {
    "nk": "natural killer", "nkt": "natural killer t", "ilc": "innate lymphoid cell",
    "dc": "dendritic cell", "pdc": "plasmacytoid dendritic cell",
    "cdc": "conventional dendritic cell", "mdc": "myeloid dendritic cell",
    "modc": "monocyte derived dendritic cell", "treg": "regulatory t cell",
    "tfh": "t follicular helper cell", "th": "t helper", "ctl": "cytotoxic t cell",
    "tcm": "central memory t cell", "tem": "effector memory t cell",
    "trm": "tissue resident memory t cell", "mait": "mucosal associated invariant t cell",
    "gc": "germinal center", "opc": "oligodendrocyte precursor cell",
    "ta": "transit amplifying", "tac": "transit amplifying cell",
    "hsc": "hematopoietic stem cell", "hspc": "hematopoietic progenitor cell",
    "hpc": "hematopoietic progenitor cell", "lmpp": "lymphoid primed multipotent progenitor",
    "cmp": "common myeloid progenitor", "clp": "common lymphoid progenitor",
    "gmp": "granulocyte monocyte progenitor", "mep": "megakaryocyte erythroid progenitor",
    "msc": "mesenchymal stem cell", "rbc": "red blood cell", "wbc": "white blood cell",
    "ec": "endothelial cell", "lec": "lymphatic endothelial cell", "smc": "smooth muscle cell",
    "vsmc": "vascular smooth muscle cell", "caf": "cancer associated fibroblast",
    "tam": "tumor associated macrophage", "mk": "megakaryocyte", "mono": "monocyte",
    "mac": "macrophage", "macro": "macrophage", "neut": "neutrophil", "eos": "eosinophil",
    "baso": "basophil", "tec": "thymus epithelial cell", "tal": "thick ascending limb",
    "pt": "proximal tubule", "pct": "proximal convoluted tubule",
    "dct": "distal convoluted tubule", "epi": "epithelial", "endo": "endothelial",
    "fib": "fibroblast", "fibro": "fibroblast", "cm": "cardiomyocyte",
    "oligo": "oligodendrocyte", "astro": "astrocyte", "olig": "oligodendrocyte",
    "exc": "excitatory", "inh": "inhibitory", "ipsc": "induced pluripotent stem cell",
    "esc": "embryonic stem cell", "npc": "neural progenitor cell", "nsc": "neural stem cell",
    "rgc": "retinal ganglion cell", "rpe": "retinal pigment epithelial cell",
    "pbmc": "peripheral blood mononuclear cell", "mdsc": "myeloid derived suppressor cell",
    "at1": "type 1 pneumocyte", "ati": "type 1 pneumocyte",
    "at2": "type 2 pneumocyte", "atii": "type 2 pneumocyte",
    "ilc1": "group 1 innate lymphoid cell", "ilc2": "group 2 innate lymphoid cell",
    "ilc3": "group 3 innate lymphoid cell", "pnec": "pulmonary neuroendocrine cell",
    "icc": "interstitial cell of cajal", "iel": "intraepithelial lymphocyte",
    "gd": "gammadelta", "gdt": "gammadelta t", "mz": "marginal zone", "ens": "enteric",
    # B and T cell precursors written as one word ("preB", "pro-B" is two words already)
    "preb": "precursor b cell", "prob": "pro b cell", "pret": "precursor t cell",
    # lung capillary endothelium (Gillich et al., Nature 2020): aerocytes and general capillaries
    "acap": "alveolar capillary type 2 endothelial cell", "gcap": "alveolar capillary type 1 endothelial cell",
}
# Everyday words for the ontology's terms.
WORD_SYNONYMS: dict[str, str] = {"cancer": "malignant", "tumor": "malignant"}

# Everyday phrases for the ontology's terms, as written in published annotations (matched on
# normalised tokens, anywhere in a reading): the ontology files these under longer names.
PHRASES: dict[str, str] = {
    "tenocyte": "tendon cell",
    "rod photoreceptor": "retinal rod cell", "rod cell": "retinal rod cell",
    "cone photoreceptor": "retinal cone cell", "cone cell": "retinal cone cell",
    "lymphoid cell": "lymphocyte", "erythroid cell": "erythroid lineage cell",
    "antigen presenting cell": "professional antigen presenting cell",
    "thick ascending limb": "kidney loop of henle thick ascending limb epithelial cell",
    "thin ascending limb": "kidney loop of henle thin ascending limb epithelial cell",
    "ascending thin limb": "kidney loop of henle thin ascending limb epithelial cell",
    "thin descending limb": "kidney loop of henle thin descending limb epithelial cell",
    "descending thin limb": "kidney loop of henle thin descending limb epithelial cell",
    "atrial cardiomyocyte": "regular atrial cardiac myocyte",
    "ventricular cardiomyocyte": "regular ventricular cardiac myocyte",
    "cd56 bright natural killer": "cd16 negative cd56 bright natural killer cell human",
    "cd56 dim natural killer": "cd16 positive cd56 dim natural killer cell human",
    "fast twitch muscle fiber": "fast muscle cell", "slow twitch muscle fiber": "slow muscle cell",
    "granule neuron": "granule cell",
    "duct cell": "duct epithelial cell",
    "loop of henle cell": "kidney loop of henle epithelial cell",
    "basal keratinocyte": "basal cell of epidermis",
    "spermatogonial stem cell": "male germ line stem cell",
    # lung capillary endothelium (Gillich et al., Nature 2020)
    "capillary aerocyte": "alveolar capillary type 2 endothelial cell",
    "aerocyte": "alveolar capillary type 2 endothelial cell",
    "general capillary": "alveolar capillary type 1 endothelial cell",
    # smooth-muscle-derived cells with a fibroblast phenotype (Wirka et al., Nat Med 2019); the
    # ontology has no term, its closest is the contractile fibroblast
    "fibromyocyte": "myofibroblast cell",
    "hemoglobin secreting cell": "erythroid lineage cell",  # "haemoglobin-producing cells"
    "spermatogenic cell": "male germ cell",
    "zona fasciculata cell": "cortical cell of adrenal gland",
    "zona reticularis cell": "cortical cell of adrenal gland",
}
# Pancreatic islet cells are named by a letter alone ("beta cells", "δ cell", "PP cells").
ISLET_LETTERS: dict[str, str] = {
    "alpha": "pancreatic A cell", "beta": "type B pancreatic cell", "delta": "pancreatic D cell",
    "epsilon": "pancreatic epsilon cell", "gamma": "pancreatic PP cell", "pp": "pancreatic PP cell",
}

# Nouns for tissues used in place of their cells ("basal epithelium" -> "basal epithelial cell").
TISSUE_NOUNS: dict[str, str] = {
    "epithelium": "epithelial cell", "epithelia": "epithelial cell",
    "endothelium": "endothelial cell", "endothelia": "endothelial cell",
    "stroma": "stromal cell", "mesenchyme": "mesenchymal cell", "glia": "glial cell",
    "microglia": "microglial cell", "oligodendroglia": "oligodendrocyte", "immune": "leukocyte",
    "neuronal": "neuron",
}

# States and hedges that qualify a cell type without changing which type it is. Dropping them
# costs confidence: an exact term ("activated CD4-positive ...") is preferred when it exists.
QUALIFIERS = frozenset({
    "activated", "proliferating", "proliferative", "cycling", "dividing", "mitotic",
    "resting", "quiescent", "stressed", "mature", "immature", "fetal", "adult", "embryonic",
    "early", "late", "differentiated", "differentiating", "terminal", "terminally",
    "putative", "likely", "possible", "probable", "potential", "presumed", "presumptive",
    "reactive", "like", "specialized", "specialised", "human", "mouse", "murine", "normal",
    "healthy", "functional", "classic", "typical", "other", "various", "specific",
    # where the cell was found, not what it is ("tumor endothelial cell")
    "tumor", "cancer", "malignant", "benign",
})

# Words that only say "a group of": dropped at a small cost.
FILLERS = frozenset({"subset", "subpopulation", "population", "lineage", "subtype", "subcluster",
                     "type", "state", "program", "signature", "rich", "enriched", "pan", "system"})

_PHRASE_TOKENS = sorted(((tuple(tokens(k)), tuple(tokens(v))) for k, v in PHRASES.items()),
                        key=lambda kv: -len(kv[0]))

# A name containing one of these is not a cell type and is never mapped.
NOT_A_TYPE = frozenset({
    "unknown", "unknow", "unassigned", "unclassified", "undetermined", "unidentified",
    "undefined", "doublet", "ambiguous", "mixed", "contaminant", "contamination", "artifact",
    "artefact", "debris", "novel", "cluster", "na", "nan", "none", "quality", "ribosomal",
    "mitochondrial", "noise",
})

# Head words that already say which kind of cell a marker-only name is about.
_CELL_HEADS = frozenset({"t", "b", "nk", "natural", "nkt", "dendritic", "dc", "monocyte",
                         "macrophage", "thymocyte", "lymphocyte", "treg", "ilc", "cell"})
_CD_MARKER = re.compile(r"^cd[0-9]+[a-z]?$")
_MARKER_STATES = {"positive", "negative", "high", "low", "bright", "dim", "intermediate"}
_KEEP_NUMBER_AFTER = frozenset({"type", "group", "class", "stage", "layer", "grade", "helper",
                                "l", "lamina", "cd"})

Toks = tuple[str, ...]


def expand_abbreviations(toks: Toks) -> Toks:
    out: list[str] = []
    for tok in toks:
        if tok in ABBREVIATIONS:
            out.extend(tokens(ABBREVIATIONS[tok]))
            continue
        if tok.endswith("s") and tok[:-1] in ABBREVIATIONS:  # "ECs", "DCs" (too short to singularise)
            out.extend(tokens(ABBREVIATIONS[tok[:-1]]))
            continue
        if len(tok) >= 4 and tok[0] in "hm" and tok[1:] in ABBREVIATIONS:
            out.extend(tokens(ABBREVIATIONS[tok[1:]]))  # species prefix: "hESC", "mESC"
            continue
        glued = re.match(r"^([a-z]+?)([0-9]+)$", tok)
        if glued and glued.group(1) in ABBREVIATIONS and not _CD_MARKER.match(tok):
            out.extend(tokens(ABBREVIATIONS[glued.group(1)]))
            out.append(glued.group(2))
            continue
        out.append(tok)
    return tuple(out)


def use_word_synonyms(toks: Toks) -> Toks:
    return tuple(WORD_SYNONYMS.get(t, t) for t in toks)


def use_phrases(toks: Toks) -> Toks:
    """"rod photoreceptors" -> "retinal rod cell"; "beta islet cells" -> "type B pancreatic cell"."""
    rest = [t for t in toks if t not in {"islet", "pancreatic", "cell"}]
    if len(rest) == 1 and rest[0] in ISLET_LETTERS and "cell" in toks:
        return tuple(tokens(ISLET_LETTERS[rest[0]]))
    out = list(toks)
    for phrase, words in _PHRASE_TOKENS:
        n = len(phrase)
        for i in range(len(out) - n + 1):
            if tuple(out[i:i + n]) == phrase:
                out[i:i + n] = words
                break
    return tuple(out)


def drop_origin(toks: Toks) -> Toks:
    """"monocyte-derived macrophage" -> "macrophage": where a cell came from is not its type."""
    out: list[str] = []
    for tok in toks:
        if tok == "derived" and out:
            out.pop()
            continue
        out.append(tok)
    return tuple(out)


def expand_tissue_nouns(toks: Toks) -> Toks:
    out: list[str] = []
    for i, tok in enumerate(toks):
        if i and toks[i - 1] in TISSUE_NOUNS and tok == "cell":
            continue  # "immune cell" -> "leukocyte": the expansion brings its own head noun
        out.extend(tokens(TISSUE_NOUNS[tok]) if tok in TISSUE_NOUNS else [tok])
    return tuple(out)


def add_head(toks: Toks) -> Toks:
    """Marker-only T cell names ("CD4 effector") get "T cell"; adjectives get "cell"."""
    if any(_CD_MARKER.match(t) and t in {"cd4", "cd8"} for t in toks) and not _CELL_HEADS & set(toks):
        return (*toks, "t", "cell")
    if "cell" not in toks:
        return (*toks, "cell")
    return toks


def mark_positive(toks: Toks) -> Toks:
    """"CD14 monocyte" -> "CD14 positive monocyte"; CD4/CD8 T cells are alpha-beta T cells."""
    out: list[str] = []
    for i, tok in enumerate(toks):
        out.append(tok)
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if _CD_MARKER.match(tok) and nxt not in _MARKER_STATES:
            out.append("positive")
    result = tuple(out)
    has_cd4_cd8 = bool({"cd4", "cd8"} & set(result))
    if has_cd4_cd8 and "t" in result and not {"alphabeta", "gammadelta", "nk", "natural"} & set(result):
        at = result.index("t")
        result = (*result[:at], "alphabeta", *result[at:])
    return result


def drop_signs(toks: Toks) -> Toks:
    """"PVALB+ GABAergic neuron" -> "PVALB GABAergic ..." (the ontology often omits the sign)."""
    return tuple(t for t in toks if t not in _MARKER_STATES)


def drop_markers(toks: Toks) -> Toks:
    """"CD34+ hematopoietic stem cell" -> "hematopoietic stem cell" (marker and sign dropped)."""
    out: list[str] = []
    for tok in toks:
        if tok in _MARKER_STATES and out and any(c.isdigit() for c in out[-1]):
            out.pop()
            continue
        out.append(tok)
    return tuple(out)


def drop_trailing_type(toks: Toks) -> Toks:
    """"conventional dendritic cell type 1" -> "conventional dendritic cell" (a numbered subset)."""
    if len(toks) > 3 and toks[-2] == "type" and toks[-1].isdigit():
        return toks[:-2]
    return toks


def drop_cell(toks: Toks) -> Toks:
    """"fibroblast cell" -> "fibroblast": the ontology does not repeat "cell" after a cell noun."""
    return toks[:-1] if len(toks) > 1 and toks[-1] == "cell" else toks


def strip_numbering(toks: Toks) -> Toks:
    """Drop cluster numbers: "pericyte 1", "2) cardiomyocytes", "conventional dendritic cell 2"."""
    out = [
        tok for i, tok in enumerate(toks)
        if not (tok.isdigit() and (i == 0 or toks[i - 1] not in _KEEP_NUMBER_AFTER))
    ]
    return tuple(out)


def strip_qualifiers(toks: Toks) -> Toks:
    return tuple(t for t in toks if t not in QUALIFIERS)


def strip_fillers(toks: Toks) -> Toks:
    """Drop "subset", "population", ...; "type" only when no number follows ("type 2" stays)."""
    return tuple(
        t for i, t in enumerate(toks)
        if t not in FILLERS or (t == "type" and i + 1 < len(toks) and toks[i + 1].isdigit())
    )


# (rewrite, confidence factor, counts as an abbreviation expansion)
REWRITES = [
    (expand_abbreviations, 0.95, True),
    (use_phrases, 0.95, False),
    (drop_origin, 0.93, False),
    (expand_tissue_nouns, 0.97, False),
    (use_word_synonyms, 0.95, False),
    (strip_numbering, 0.97, False),
    (strip_fillers, 0.95, False),
    (add_head, 0.97, False),
    (mark_positive, 0.98, False),
    (drop_signs, 0.95, False),
    (drop_markers, 0.9, False),
    (strip_qualifiers, 0.88, False),
    (drop_trailing_type, 0.88, False),
    (drop_cell, 0.97, False),
]
