"""Ontology agent: tissue-specific Cell Ontology trees around a cluster's candidate types.

Deterministic. The cell types the marker databases record in the tissue (for the species) are
placed on the Cell Ontology: each type hangs under its nearest is_a ancestor that is also in the
set, so the tree shows only types that belong to the tissue, in their ontology order. For one
cluster, :func:`candidate_branches` keeps the branches that hold its retrieved candidates: the
lowest common ancestor of related candidates becomes the branch root (unless it is one of the
catch-all terms such as "cell" or "somatic cell"), with every tissue type below it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..knowledge.markerdb.index import ANY_TISSUE, MarkerIndex, tissue_key
from ..knowledge.markerdb.retrieve import RetrievedCandidate, species_view

MAX_BRANCHES = 3
MAX_NODES = 20  # per branch; the nodes nearest to the candidates are kept
NODE_MARKERS = 6
# Terms too general to root a branch: everything would sit under them.
# (cell, eukaryotic/nucleate/motile/secretory/contractile/electrically active... cell, stem and
# precursor cell, leukocyte, hematopoietic cell, epithelial cell, neural cell, germ line cell)
GENERIC_TERMS = frozenset({
    "CL:0000000", "CL:0000255", "CL:0000226", "CL:0002242", "CL:0000219", "CL:0000010", "CL:0000393",
    "CL:0000211", "CL:0000404", "CL:0000151", "CL:0000183", "CL:0011115", "CL:0000034", "CL:0000723",
    "CL:0000988", "CL:0000738", "CL:0000066", "CL:0000325", "CL:0000039", "CL:0002319",
})


@dataclass(frozen=True)
class TreeNode:
    cl_id: str
    label: str
    parent: str | None
    children: tuple[str, ...]
    in_tissue: bool  # recorded in the tissue by a marker database (False: added as a candidate/root)
    markers: tuple[str, ...]  # best-supported markers in the databases


@dataclass
class TissueTree:
    """A forest of Cell Ontology terms; ``roots`` are the nodes without a parent in it."""

    tissue: str | None
    species: str
    nodes: dict[str, TreeNode] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)

    def __contains__(self, cl_id: str) -> bool:
        return cl_id in self.nodes

    def lines(self, highlight: Iterable[str] = ()) -> list[str]:
        """Indented text of the tree; highlighted terms (the cluster's candidates) are starred."""
        marked = set(highlight)
        out: list[str] = []

        def walk(cl_id: str, depth: int) -> None:
            node = self.nodes[cl_id]
            star = " *" if cl_id in marked else ""
            markers = f" — markers: {', '.join(node.markers)}" if node.markers else ""
            out.append(f"{'  ' * depth}- {node.label} ({cl_id}){star}{markers}")
            for child in node.children:
                walk(child, depth + 1)

        for root in self.roots:
            walk(root, 0)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"tissue": self.tissue, "species": self.species, "roots": list(self.roots),
                "nodes": [{"cl_id": n.cl_id, "label": n.label, "parent": n.parent, "children": list(n.children),
                           "in_tissue": n.in_tissue, "markers": list(n.markers)} for n in self.nodes.values()]}


def tissue_types(index: MarkerIndex, *, tissue: str | None, species: str = "human") -> dict[str, int]:
    """CL ID -> index type of every mapped database type recorded in the tissue (all when blind)."""
    view = index.view(species_view(species))
    wanted = tissue_key(tissue)
    found: dict[str, int] = {}
    for type_id, recorded in view.tissues.items():
        cl_id = index.types[type_id]["cl_id"]
        if not cl_id:
            continue
        if wanted in (None, ANY_TISSUE) or wanted in recorded or ANY_TISSUE in recorded:
            found[cl_id] = type_id
    return found


def build_tissue_tree(
    index: MarkerIndex,
    *,
    tissue: str | None,
    species: str = "human",
    include: Iterable[str] = (),
    within: str | None = None,
) -> TissueTree:
    """The tissue's types (plus ``include``d terms) arranged by the Cell Ontology.

    ``within``: keep only that term and its descendants (a branch).
    """
    from .. import ontology

    view = index.view(species_view(species))
    members = tissue_types(index, tissue=tissue, species=species)
    in_tissue = set(members)
    type_of = {e["cl_id"]: i for i, e in enumerate(index.types) if e["cl_id"]}
    for cl_id in include:
        live = ontology.current_id(cl_id) if cl_id else None
        if live is not None:
            members.setdefault(live, type_of.get(live, -1))
    up = {cl_id: ontology.ancestors(cl_id) for cl_id in members}  # nearest first
    if within is not None:
        members = {c: t for c, t in members.items() if c == within or within in up[c]}
        if within not in members:
            members[within] = type_of.get(within, -1)
            up[within] = ontology.ancestors(within)
    # each term hangs under its nearest ancestor that is also in the tree
    parents = {c: next((a for a in up[c] if a in members), None) for c in members}
    labels = {c: ontology.label(c) or c for c in members}
    children: dict[str, list[str]] = {c: [] for c in members}
    for cl_id, parent in parents.items():
        if parent is not None:
            children[parent].append(cl_id)
    tree = TissueTree(tissue=tissue, species=species)
    for cl_id, type_id in members.items():
        markers = tuple(view.canonical.get(type_id, [])[:NODE_MARKERS]) if type_id >= 0 else ()
        kids = tuple(sorted(children[cl_id], key=lambda c: labels[c].lower()))
        tree.nodes[cl_id] = TreeNode(cl_id, labels[cl_id], parents[cl_id], kids, cl_id in in_tissue, markers)
    tree.roots = sorted((c for c, p in parents.items() if p is None), key=lambda c: labels[c].lower())
    return tree


def branch_roots(cl_ids: list[str], *, max_branches: int = MAX_BRANCHES) -> list[str]:
    """Roots of the branches holding ``cl_ids`` (best candidate first): lowest common ancestors."""
    from .. import ontology

    remaining = [c for c in dict.fromkeys(cl_ids) if c]
    roots: list[str] = []
    while remaining and len(roots) < max_branches:
        lead, group = remaining[0], [remaining[0]]
        root = lead
        for other in remaining[1:]:
            joined = ontology.lowest_common_ancestor(root, other)
            if joined is not None and joined not in GENERIC_TERMS:
                root = joined
                group.append(other)
        if root in GENERIC_TERMS:  # a generic candidate itself ("epithelial cell"): keep it as a leaf branch
            root = lead
        roots.append(root)
        remaining = [c for c in remaining if c not in group and not ontology.is_ancestor(root, c)]
    return roots


def candidate_branches(
    index: MarkerIndex,
    candidates: list[RetrievedCandidate],
    *,
    tissue: str | None,
    species: str = "human",
    focus: int = 5,
    max_nodes: int = MAX_NODES,
) -> list[TissueTree]:
    """One tissue tree per branch holding the top ``focus`` candidates, pruned to ``max_nodes``."""
    ids = [c.cl_id for c in candidates[:focus] if c.cl_id]
    trees = []
    for root in branch_roots(ids):
        tree = build_tissue_tree(index, tissue=tissue, species=species, include=ids, within=root)
        trees.append(_prune(tree, keep=[c for c in ids if c in tree], max_nodes=max_nodes))
    return trees


def _prune(tree: TissueTree, *, keep: list[str], max_nodes: int) -> TissueTree:
    """Keep the candidates, their paths to the root, then the nodes nearest to them."""
    if len(tree.nodes) <= max_nodes:
        return tree
    from .. import ontology

    chosen: set[str] = set()
    for cl_id in keep:
        node: str | None = cl_id
        while node is not None and node not in chosen:
            chosen.add(node)
            node = tree.nodes[node].parent
    rest = sorted((c for c in tree.nodes if c not in chosen),
                  key=lambda c: (min((ontology.distance(c, k) or 99) for k in keep) if keep else 0, c))
    for cl_id in rest:
        if len(chosen) >= max_nodes:
            break
        if tree.nodes[cl_id].parent is None or tree.nodes[cl_id].parent in chosen:
            chosen.add(cl_id)
    pruned = TissueTree(tissue=tree.tissue, species=tree.species)
    for cl_id, node in tree.nodes.items():
        if cl_id in chosen:
            pruned.nodes[cl_id] = TreeNode(node.cl_id, node.label, node.parent,
                                           tuple(c for c in node.children if c in chosen), node.in_tissue, node.markers)
    pruned.roots = [r for r in tree.roots if r in chosen]
    return pruned
