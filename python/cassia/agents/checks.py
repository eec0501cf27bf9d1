"""The hard checks of an answer, computed by code: which genes it cites, and are they in the input.

Public API (used by the Validator, the Formatter step, Annotation Boost and the benchmarks;
keep the names stable):

- :func:`cited_genes` — every gene symbol a free text mentions, each marked *asserted* (cited as
  evidence) or not (mentioned as absent / hypothetical).
- :func:`check_answer` — the deterministic verdict on one answer: asserted genes and key markers
  that are not in the cluster's input (nor in its full statistics table), as an :class:`AnswerCheck`.
- :func:`unsupported` — which of a list of symbols (e.g. the Formatter's key markers) the input lacks.
- :func:`name_note` — advice (never a failure) when a cell-type name has no Cell Ontology term.

How a gene mention is recognised (decided here once, tested on real transcripts):

- Shape by species. Human: upper case (``CD3E``, ``HLA-DRA``, ``C1orf56``). Mouse: title case
  (``Cd3e``, ``H2-Ab1``), upper case too (models often write mouse genes in capitals). Other
  organisms: symbols are taken as given, so a token counts when it mixes letters and digits
  (``AT1G01010``, ``cd79a``). A token without a digit counts only when it has 3+ capitals
  (human/mouse) or is a known symbol (the cluster's genes, the knowledge base's markers).
  Two-character tokens (``G1``, ``M2``, ``C3``) count only when they are in the input.
- Not genes: acronyms of the field (``MHC``, ``TCR``, ``PBMC``, ``UMAP``, ``ILC2``, ``MAIT``...),
  shouted prose (``NOT``, ``FINAL``), Roman numerals (``II``, ``IV``), ontology IDs (``CL:0000236``).
- Cell-type names: a CD antigen or HLA-D* used as phenotype notation (``CD4+ T``, ``CD8-positive``,
  ``CD14 monocytes``, ``HLA-DRhi``) names a cell type, not evidence, and is skipped. Any other
  symbol in that position (``SPP1+ macrophages``) still asserts expression and is checked.
- Protein spellings (``IL-2``, ``IL-7R``, ``PD-1``, ``CTLA-4``, ``TNF-α``, ``HLA-DR``, ``Ki-67``)
  describe a protein or pathway as often as a marker: they count (as their gene, ``IL-2`` ->
  ``IL2``) when the input holds that gene, and are never reported as invented.
- Families and aliases: ``CD3`` is supported by ``CD3E``, ``HLA-DR`` by ``HLA-DRB1``, ``KRT`` by
  ``KRT8``, ``CD16`` by ``FCGR3A`` (the alias table of :mod:`.boost_stats`); ``S100A8/A9`` reads
  as ``S100A8`` and ``S100A9``.
- Negation: a gene named as absent (``no CD3E``, ``lacks CD3E, CD3D or CD2``, ``CD3E is not
  expressed``, ``would expect CD3E``, ``CD3E-negative``) is *mentioned*, not asserted, and may be
  missing from the input; reasoning about what is absent is sound.

Comparison is case-insensitive and ignores hyphens, dots and clone versions (``HLA-DRA`` = ``HLADRA``,
``AC090679`` = ``AC090679.1``).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .. import ontology
from .boost_stats import ALIASES

__all__ = ["AnswerCheck", "GeneMention", "check_answer", "cited_genes", "gene_key", "name_note", "unsupported"]

# Words of the field written in capitals that are not gene symbols (compared case-insensitively).
NOT_GENES = frozenset("""
dna rna mrna cdna mirna lncrna mhc tcr bcr ig igg iga igm ige igd nk nkt ilc ilc1 ilc2 ilc3 mait
cassia kb pbmc pbmcs qc umi umis scrna scrnaseq hvg hvgs pca umap tsne fdr lfc logfc deg degs kegg gsea gsva
ecm emt upr ros atp gtp lps ifn tgf vegf pdgf fgf bmp hla kir cdr abc sasp dam tam tams caf cafs
hsc hscs hspc hspcs mpp mpps lmpp cmp gmp mep clp opc opcs ipsc ipscs esc escs msc mscs smc smcs
vsmc vsmcs pdc pdcs cdc cdc1 cdc2 modc mdsc mdscs treg tregs tfh trm tem tcm temra th1 th2 th17 th9
th22 tc1 tc17 ctl ctls nkt gdt gcb asdc lec lecs hev hevs tec tecs sec secs lsec lsecs ipc rgc rgcs
ast astro oligo micro exc inh mgc cnc ctx hip str ca1 ca2 ca3 dg sst vip pvalb lamp5 l1 l2 l3 l4 l5
l6 it pt ct np at1 at2 ati atii pnec tal dct cnt pct ccd omcd imcd pod mes jga ec ecs enteroendocrine
cns pns gi bm ln pb ihc if facs cite adt atac crispr wt ko kd oe tpm cpm fpkm rpkm auc roc gpt llm
api csv json tsv pdf html url id ids na nan ok yes no not and or but the all any none unknown high low
key note final answer summary step top markers marker cell cells type types gene genes score cluster
clusters tissue species human mouse expression positive negative plus also possibly likely
hiv ebv cmv hpv sars covid covid19 hbv hcv bmi gwas snp snps eqtl qtl chr utr orf cds tss ptm
g0 g1 g2 g2m s1 s2 m1 m2 b1 b2 t1 t2 n1 n2 sn sc nb ng ml ul um mm nm
""".split())
_ROMAN = re.compile(r"^[IVXLC]+$")
# An uppercase token, then what may follow it in a cell-type name (phenotype notation).
_PHENOTYPE_SUFFIX = ("positive", "negative", "pos", "neg", "high", "low", "hi", "lo", "bright", "dim", "int",
                     "intermediate", "expressing", "like")
_NEGATIVE_SUFFIX = ("negative", "neg", "low", "lo", "dim")
_CONTEXT_SUFFIX = ("derived", "associated", "mediated", "dependent", "driven", "induced", "responsive",
                   "signalling", "signaling", "family", "pathway", "related", "stimulated", "treated",
                   "activated", "producing", "secreting", "type", "class", "specific", "restricted")
_CELL_NOUNS = frozenset("""
t b nk cell cells lymphocyte lymphocytes monocyte monocytes macrophage macrophages neutrophil neutrophils
dc dcs treg tregs ilc ilcs mait nkt progenitor progenitors stem subset subsets population populations
""".split())
_PRE_CUES = frozenset("""no not without lack lacks lacking absence absent missing neither nor negative
expect expected expecting would unlike instead rather except excluding""".split())
_POST_CUES = frozenset("absent missing lacking not negative undetected undetectable unexpressed none".split())
_CD = re.compile(r"^(CD\d+[A-Z]{0,2}|HLA-?D[RPQ])$", re.IGNORECASE)  # CD8, CD11B, CD45RA (an isoform)
_PROTEIN = re.compile(r"^[A-Z]{1,5}-\d+[A-Z]?$", re.IGNORECASE)  # IL-2, IL-7R, CTLA-4, Ki-67
_GREEK = "αβγδεκλµμνωΑΒΓΔ"
_TOKEN = re.compile(r"(?<![A-Za-z0-9\-])[A-Za-z0-9][A-Za-z0-9\-.]*")
_ONTOLOGY_ID = re.compile(r"\b[A-Z]{2,10}[:_]\d{5,}\b")
_LINK = re.compile(r"^[\s,/&()#\d]*(?:\b(?:and|or|nor|as well as|plus)\b[\s,/&()#\d]*)?$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z\-']*")
# compiled once: cited_genes runs them on every token of every answer
_SUFFIX = re.compile(r"[A-Z]{0,2}\d*[A-Z]?")
_ORF = re.compile(r"[A-Z0-9]+orf\d+")
_TITLE = re.compile(r"[A-Z][a-z0-9]*(?:-[A-Za-z0-9]+)*")
_LOW_SUFFIX = re.compile(r"^(.*?)-([a-z][a-z]+)$")
_GLUED = re.compile(r"^([A-Z0-9\-]*[A-Z0-9])(hi|lo|high|low|bright|dim|int)$")
_NEXT_WORD = re.compile(r"[\s+\-]*([A-Za-z]+)")
_DIGIT_HYPHEN = re.compile(r"-(?=\d)")
_CLAUSE_END = re.compile(r"[,;.:!?\n]")


# symbol -> gene_key: an atlas cluster's 4,700 table genes are keyed for its checks and the same
# names recur across clusters; a plain dict, so _GeneKeys can look a whole list up with a C-level map
_KEYS: dict[str, str] = {}
_KEYS_MAX = 1 << 18


def gene_key(symbol: str) -> str:
    """The comparison key of a symbol: upper case, without a clone version (``AC090679.1``), hyphens and dots."""
    key = _KEYS.get(symbol)
    if key is None:
        if len(_KEYS) > _KEYS_MAX:
            _KEYS.clear()
        key = _KEYS[symbol] = re.sub(r"[-.]", "", re.sub(r"\.\d+$", "", str(symbol).strip())).upper()
    return key


@dataclass(frozen=True)
class GeneMention:
    """One gene symbol found in a text."""

    symbol: str  # as written (a protein spelling is given as its gene: IL-2 -> IL2)
    start: int
    asserted: bool  # False: named as absent, negative or hypothetical
    protein_style: bool = False  # IL-2, HLA-DR, TNF-α: counted only when the input supports it


class _GeneKeys:
    """The comparison keys of a gene list as a set; sorted (for prefix search) only when first asked."""

    def __init__(self, genes: tuple[str, ...]):
        keys = list(map(_KEYS.get, genes))  # names seen before: no Python-level call per gene
        if None in keys:
            keys = list(map(gene_key, genes))
        self.set = set(keys)  # never changed after this (shared through the cache below)
        self.set.discard("")  # blank names
        self._sorted: tuple[str, ...] | None = None

    @property
    def sorted(self) -> tuple[str, ...]:
        if self._sorted is None:  # most answers never need it: every gene they cite is in the set
            self._sorted = tuple(sorted(self.set))
        return self._sorted


@functools.lru_cache(maxsize=256)  # one cluster's input and table genes are checked every round
def _gene_keys(genes: tuple[str, ...]) -> _GeneKeys:
    return _GeneKeys(genes)


class _Reference:
    """The genes an answer may cite: the input markers plus the full table, compared by key."""

    def __init__(self, genes: Iterable[str]):
        self._keys = _gene_keys(tuple(genes))
        self._set = self._keys.set

    def supports(self, symbol: str) -> bool:
        key = gene_key(symbol)
        if not key:
            return True
        if key in self._set:
            return True
        alias = ALIASES.get(symbol.strip().upper()) or ALIASES.get(key)
        if alias and gene_key(alias) in self._set:
            return True
        return self._family(key)

    def _family(self, key: str) -> bool:
        """``CD3`` -> ``CD3E``, ``HLADR`` -> ``HLADRB1``, ``KRT`` -> ``KRT8`` (not ``CD1`` -> ``CD14``)."""
        if len(key) < 3:
            return False
        keys = self._keys.sorted
        i = bisect.bisect_left(keys, key)
        while i < len(keys) and keys[i].startswith(key):
            rest = keys[i][len(key):]
            if _SUFFIX.fullmatch(rest) and not (key[-1].isdigit() and rest[:1].isdigit()):
                return True
            i += 1
        return False


def _gene_shaped(token: str, species: str, known: set[str]) -> bool:
    key = gene_key(token)
    if key in known:
        return True
    if len(key) < 3 or key.lower() in NOT_GENES or _ROMAN.match(token):
        return False
    has_digit = any(c.isdigit() for c in token)
    upper = token == token.upper() and any(c.isalpha() for c in token)
    if _ORF.fullmatch(token):  # C1orf56
        return True
    if species == "human":
        return upper and token[0].isalpha()
    if species == "mouse":
        title = bool(_TITLE.fullmatch(token))
        return (upper and token[0].isalpha()) or (title and has_digit)
    return has_digit and token[0].isalpha() and any(c.isalpha() for c in token[1:] + token[0])


def _species(species: str | None) -> str:
    text = (species or "human").strip().lower()
    if text in ("human", "homo sapiens", "hs", "hsa"):
        return "human"
    if text in ("mouse", "mus musculus", "mm", "mmu", "murine"):
        return "mouse"
    return "other"


def cited_genes(text: str, *, species: str = "human", known: Iterable[str] = ()) -> list[GeneMention]:
    """Every gene symbol ``text`` mentions, in order, each marked asserted or not.

    ``known``: symbols to recognise whatever their shape (the cluster's input genes, its table).
    Deterministic; the rules are in the module documentation.
    """
    species = _species(species)
    known_keys = _gene_keys(tuple(known)).set
    text = _ONTOLOGY_ID.sub(lambda m: " " * len(m.group(0)), text or "")
    raw: list[tuple[str, int, int, bool, bool]] = []  # symbol, start, end, negative, protein_style
    previous: str | None = None
    previous_end = -10
    for match in _TOKEN.finditer(text):
        token, start = match.group(0).rstrip(".-"), match.start()
        end = start + len(token)
        base, suffix = token, ""
        low = _LOW_SUFFIX.match(token)  # CD8-positive, SPP1-high, IFN-induced
        if low:
            base, suffix = low.group(1), low.group(2)
        else:
            glued = _GLUED.match(token)  # HLA-DRhi, CD56bright
            if glued:
                base, suffix = glued.group(1), glued.group(2)
        follow = text[end:end + 24]
        greek = follow[:2].lstrip("-")[:1] in _GREEK and follow[:1] in "-" + _GREEK
        # S100A8/A9, CD3D/E: a short fragment after a slash completes the previous symbol
        if previous and text[previous_end:start] == "/" and len(base) < len(previous):
            completed = previous[: len(previous) - len(base)] + base.upper()
            raw.append((completed, start, end, False, True))
            previous_end = end
            continue
        if suffix in _CONTEXT_SUFFIX or not _gene_shaped(base, species, known_keys):
            previous = None
            continue
        sign = follow[:1]
        next_word = (_NEXT_WORD.match(follow) or [None, ""])[1].lower()
        phenotype = sign in "+⁺" or suffix in _PHENOTYPE_SUFFIX or next_word in _CELL_NOUNS
        if _CD.match(base) and phenotype and gene_key(base) not in known_keys:
            previous = None
            continue  # CD4+ T, CD8-positive, CD14 monocytes: a cell-type name
        protein = greek or bool(_PROTEIN.match(base)) or ("-" in base and base.upper() in ALIASES)
        symbol = _DIGIT_HYPHEN.sub("", base) if _PROTEIN.match(base) else base
        negative = suffix in _NEGATIVE_SUFFIX or sign in "-−" and follow[1:2] in (" ", "") and not greek
        raw.append((symbol, start, end, negative, protein))
        previous, previous_end = base.upper(), end
    return _with_negation(text, raw)


def _with_negation(text: str, raw: list[tuple[str, int, int, bool, bool]]) -> list[GeneMention]:
    """Group adjacent mentions (``CD3E, CD3D or CD2``) and look for cues around each group."""
    out: list[GeneMention] = []
    i = 0
    while i < len(raw):
        j = i
        while j + 1 < len(raw) and _LINK.match(text[raw[j][2]:raw[j + 1][1]]):
            j += 1
        clause_start = max(text.rfind(c, 0, raw[i][1]) for c in ".;:!?\n") + 1
        before = _WORD.findall(text[clause_start:raw[i][1]])[-3:]
        after_text = _CLAUSE_END.split(text[raw[j][2]:], maxsplit=1)[0]
        after = _WORD.findall(after_text)[:5]
        negated = any(w.lower() in _PRE_CUES for w in before) or any(w.lower() in _POST_CUES for w in after)
        for symbol, start, _, negative, protein in raw[i:j + 1]:
            out.append(GeneMention(symbol=symbol, start=start, asserted=not (negated or negative),
                                   protein_style=protein))
        i = j + 1
    return out


def unsupported(symbols: Iterable[str], genes: Iterable[str]) -> list[str]:
    """The symbols (e.g. key markers) that ``genes`` does not hold, once each, in order."""
    reference = _Reference(genes)
    seen: set[str] = set()
    out = []
    for symbol in symbols:
        text = str(symbol).strip().rstrip("+").strip()
        key = gene_key(text)
        if key and key not in seen and not reference.supports(text):
            seen.add(key)
            out.append(text)
    return out


@dataclass(frozen=True)
class AnswerCheck:
    """The code's verdict on one answer."""

    invented: list[str] = field(default_factory=list)  # asserted in the text, absent from the input
    invented_key_markers: list[str] = field(default_factory=list)
    cited: list[str] = field(default_factory=list)  # asserted and found in the input
    mentioned_absent: list[str] = field(default_factory=list)  # named as absent/hypothetical

    @property
    def passed(self) -> bool:
        return not self.invented and not self.invented_key_markers

    @property
    def reasons(self) -> list[str]:
        reasons = []
        if self.invented:
            reasons.append("Cites genes that are not in the cluster's marker list: " + ", ".join(self.invented)
                           + ". Reason only from the genes given, or say that a gene is absent.")
        if self.invented_key_markers:
            reasons.append("Key markers not in the cluster's marker list: " + ", ".join(self.invented_key_markers) + ".")
        return reasons


def check_answer(
    text: str, *, markers: Iterable[str], table_genes: Iterable[str] = (), key_markers: Iterable[str] = (),
    species: str = "human",
) -> AnswerCheck:
    """Check one answer: every gene ``text`` asserts and every key marker must be in ``markers``
    or ``table_genes`` (the cluster's full statistics table, where one exists).

    The code is the authority here: a reviewer model's own list of cited genes is an opinion
    kept in the record, never a substitute (it misses genes, and lists genes named as absent).
    """
    genes = list(markers) + list(table_genes)
    reference = _Reference(genes)
    mentions = cited_genes(text, species=species, known=genes)
    invented, cited, absent = [], [], []
    seen: set[str] = set()
    for m in mentions:
        key = gene_key(m.symbol)
        if key in seen:
            continue
        if reference.supports(m.symbol):
            seen.add(key)
            if m.asserted:
                cited.append(m.symbol)
        elif not m.asserted:
            absent.append(m.symbol)
            seen.add(key)
        elif not m.protein_style:
            invented.append(m.symbol)
            seen.add(key)
    return AnswerCheck(invented=invented, invented_key_markers=unsupported(key_markers, genes), cited=cited,
                       mentioned_absent=absent)


# ---------------------------------------------------------------- cell-type names

_STATES = (
    (re.compile(r"doublet|multiplet|heterotypic", re.I),
     "a doublet / multiplet label, not a cell type; consider removing the cluster"),
    (re.compile(r"low[- ]quality|dying|damaged|apoptotic|stressed|ambient|empty droplet|high mitochondrial|debris", re.I),
     "a low-quality label, not a cell type; consider filtering the cluster"),
    (re.compile(r"tumou?r|cancer|malignan|neoplas|carcinoma|sarcoma|leuka?emi|lymphoma|melanoma|glioma|blastoma"
                r"|metasta|-associated", re.I),
     "a malignant or disease state; the Cell Ontology names healthy cell types, so the state is kept as a qualifier"),
)


def name_note(name: str, *, species: str = "human") -> str | None:
    """Advice for a name the Cell Ontology does not know; None when it maps (or says Unknown).

    Never a reason to send an answer back: non-model organisms, doublets, low-quality clusters
    and malignant or disease states have no Cell Ontology term, and renaming a marker-supported
    answer to fit one would make it worse. Only the markers decide whether a name is wrong.
    """
    text = str(name or "").strip()
    if not text or text.lower() in ("unknown", "unassigned", "unclear") or ontology.is_cell_type(text):
        return None
    for pattern, what in _STATES:
        if pattern.search(text):
            return f"'{text}' is {what}; kept as given (no Cell Ontology ID)."
    if _species(species) == "other":
        return (f"'{text}' has no Cell Ontology term; the ontology covers animal (mostly human and mouse) cell "
                f"types, so names for {species} are kept as given.")
    return f"'{text}' has no Cell Ontology term; kept as given (the Cell Ontology ID stays empty)."
