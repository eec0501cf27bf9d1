"""Loading the curated cell-type knowledge base shipped with CASSIA.

The data live in ``cell_types.json`` beside this module: one entry per cell type with its Cell
Ontology ID and label, a parent type (the more general type it refines), the tissues it is found
in, ordered positive markers (human symbols, most specific first), negative markers, optional
mouse-only markers and the sources of added markers. A few *fallback* types (``"fallback": true``:
epithelial cell, stromal cell) describe a whole lineage with genes its members
share; they answer only when no specific type fits (see :mod:`cassia.knowledge.score`). Top-level tables give tissue names and their aliases, mouse orthologs whose
symbols differ from the human ones, human genes without a mouse ortholog, outdated symbols still
seen in older marker tables, and functional gene programs (proliferation, interferon, ...).

Loading validates the structure (unique names, existing parents, no cycles, known tissues), so a
hand edit that breaks the file fails loudly on first use.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import InputError

DEFAULT_PATH = Path(__file__).with_name("cell_types.json")

# Tissue keywords in cell-type entries that expand to many tissues.
ANY_TISSUE = "any"  # found everywhere (circulating and resident immune cells, red cells)
SOLID_TISSUE = "solid"  # every tissue except blood (stroma, vessels, resident macrophages)

# Species names the knowledge base distinguishes; anything else is matched like human symbols.
_SPECIES_ALIASES = {
    "human": "human", "homo sapiens": "human", "hs": "human", "hsa": "human",
    "mouse": "mouse", "mus musculus": "mouse", "mm": "mouse", "mmu": "mouse",
}
# Tissue values that mean "no single tissue": annotate tissue-blind.
_BLIND_TISSUES = {"", "none", "unknown", "na", "n/a", "atlas", "multiple", "mixed", "all", "any", "various"}


@dataclass(frozen=True)
class CellType:
    """One curated cell type."""

    name: str
    cl_id: str
    parent: str | None
    lineage: str
    tissues: frozenset[str]
    markers: tuple[str, ...]
    negative_markers: tuple[str, ...] = ()
    mouse_markers: tuple[str, ...] = ()
    species: frozenset[str] = frozenset({"human", "mouse"})
    notes: str | None = None
    fallback: bool = False  # a lineage-level type, used only when no specific type fits
    sources: tuple[str, ...] = ()

    def found_in(self, tissue: str) -> bool:
        """Is this type expected in the canonical ``tissue``?"""
        if ANY_TISSUE in self.tissues or tissue in self.tissues:
            return True
        return SOLID_TISSUE in self.tissues and tissue != "blood"


@dataclass(frozen=True)
class KnowledgeBase:
    """The curated cell types plus the lookup tables that go with them."""

    types: dict[str, CellType]
    tissues: dict[str, tuple[str, ...]]
    mouse_orthologs: dict[str, tuple[str, ...]]
    human_only_genes: frozenset[str]
    symbol_aliases: dict[str, str]
    functional_programs: dict[str, tuple[str, ...]]
    version: int = 1

    def __len__(self) -> int:
        return len(self.types)

    def get(self, name: str) -> CellType:
        try:
            return self.types[name]
        except KeyError:
            raise InputError(f"unknown cell type {name!r}: use a name from the knowledge base") from None

    def ancestors(self, name: str) -> list[str]:
        """Parent, grandparent, ... up to the root (the general type)."""
        chain = []
        parent = self.get(name).parent
        while parent is not None:
            chain.append(parent)
            parent = self.types[parent].parent
        return chain

    def root(self, name: str) -> str:
        """The most general type above ``name`` (``name`` itself for a root)."""
        chain = self.ancestors(name)
        return chain[-1] if chain else name

    def children(self, name: str) -> list[str]:
        return [t.name for t in self.types.values() if t.parent == name]

    def resolve_tissue(self, tissue: str | None) -> str | None:
        """Map free text ("Large Intestine", "PBMC") to a canonical tissue, or None (tissue-blind)."""
        if tissue is None:
            return None
        # "AdultKidney", "FetalLiver" (atlas sample names written in camel case) read as words
        text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(tissue).strip())
        text = re.sub(r"[\s_]+", " ", text.lower())
        if text in _BLIND_TISSUES:
            return None
        best: tuple[int, str] | None = None
        for canonical, aliases in self.tissues.items():
            for alias in aliases:
                if text == alias:
                    return canonical
                # the alias as whole words inside longer text, e.g. "human colon (sigmoid)"
                if re.search(rf"(?<![a-z]){re.escape(alias)}(?![a-z])", text):
                    if best is None or len(alias) > best[0]:
                        best = (len(alias), canonical)
        return best[1] if best else None


def normalise_species(species: str | None) -> str:
    """'Homo sapiens' -> 'human', 'Mus musculus' -> 'mouse'; other species are kept lower-cased."""
    text = (species or "human").strip().lower()
    return _SPECIES_ALIASES.get(text, text or "human")


_HUMAN_ORF = re.compile(r"^C\d+orf\d+$")  # human open reading frames are written "C5orf64"


def symbols_species(genes: list[str] | tuple[str, ...], species: str | None) -> str:
    """The species to score ``genes`` as: ``species`` normalised, except that human (the default)
    becomes mouse when most symbols are written the mouse way ("Cd3e", "Hba-a1"; HGNC symbols are
    upper case), so a mouse table annotated without ``species="mouse"`` still uses mouse orthologs
    and mouse-only markers."""
    name = normalise_species(species)
    if name != "human":
        return name
    written = [g for g in genes if any(ch.isalpha() for ch in g) and not _HUMAN_ORF.match(g)]
    mouse_like = sum(1 for g in written if g[0].isupper() and any(ch.islower() for ch in g[1:]))
    return "mouse" if len(written) >= 3 and mouse_like >= 0.7 * len(written) else name


def load_knowledge_base(path: str | Path | None = None) -> KnowledgeBase:
    """Read and validate a knowledge-base JSON file (default: the one shipped with CASSIA)."""
    if path is None:
        return _default_kb()
    return _parse(Path(path))


@lru_cache(maxsize=1)
def _default_kb() -> KnowledgeBase:
    return _parse(DEFAULT_PATH)


def _parse(path: Path) -> KnowledgeBase:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read knowledge base {path}: {exc}; check the path and the JSON syntax") from exc
    tissues = {k: tuple(v) for k, v in raw["tissues"].items()}
    known_tissues = set(tissues) | {ANY_TISSUE, SOLID_TISSUE}
    types: dict[str, CellType] = {}
    for entry in raw["cell_types"]:
        ct = _cell_type(entry, path)
        if ct.name in types:
            raise InputError(f"{path}: cell type {ct.name!r} is listed twice; merge the entries")
        unknown = ct.tissues - known_tissues
        if unknown:
            raise InputError(f"{path}: {ct.name!r} names unknown tissues {sorted(unknown)}; add them to 'tissues'")
        types[ct.name] = ct
    _check_parents(types, path)
    return KnowledgeBase(
        types=types,
        tissues=tissues,
        mouse_orthologs={k.upper(): tuple(v) for k, v in raw.get("mouse_orthologs", {}).items()},
        human_only_genes=frozenset(g.upper() for g in raw.get("human_only_genes", [])),
        symbol_aliases={k.upper(): v for k, v in raw.get("symbol_aliases", {}).items()},
        functional_programs={k: tuple(v) for k, v in raw.get("functional_programs", {}).items()},
        version=int(raw.get("version", 1)),
    )


def _cell_type(entry: dict[str, Any], path: Path) -> CellType:
    try:
        return CellType(
            name=entry["name"],
            cl_id=entry["cl_id"],
            parent=entry.get("parent"),
            lineage=entry.get("lineage", ""),
            tissues=frozenset(entry["tissues"]),
            markers=tuple(entry["markers"]),
            negative_markers=tuple(entry.get("negative_markers", ())),
            mouse_markers=tuple(entry.get("mouse_markers", ())),
            species=frozenset(entry.get("species", ("human", "mouse"))),
            notes=entry.get("notes"),
            fallback=bool(entry.get("fallback", False)),
            sources=tuple(entry.get("sources", ())),
        )
    except KeyError as exc:
        raise InputError(f"{path}: entry {entry.get('name', entry)!r} lacks field {exc}") from None


def _check_parents(types: dict[str, CellType], path: Path) -> None:
    """Parents must exist, chains must end at a root, and roots carry the lineage."""
    for ct in types.values():
        seen = {ct.name}
        node = ct
        while node.parent is not None:
            if node.parent not in types:
                raise InputError(f"{path}: {node.name!r} has unknown parent {node.parent!r}")
            if node.parent in seen:
                raise InputError(f"{path}: parent cycle through {node.parent!r}")
            seen.add(node.parent)
            node = types[node.parent]
        if not node.lineage:
            raise InputError(f"{path}: root type {node.name!r} needs a 'lineage'")
    # subtypes inherit the lineage of their root
    for name, ct in list(types.items()):
        if not ct.lineage:
            root = ct
            while root.parent is not None:
                root = types[root.parent]
            types[name] = CellType(**{**ct.__dict__, "lineage": root.lineage})
