"""Hierarchical Feature agent: the axes that separate subtypes in a cluster's ontology branches.

With a language model, the agent reads the tissue trees of :mod:`cassia.rag.tree` and returns
:class:`HierarchicalFeatures` (structured output): per axis (lineage, excitatory/inhibitory,
layer, projection, activation state, ...) its levels and the markers that discriminate them,
and where the cluster's own markers place it. Without one (the offline provider, or when the
model's answer is unusable) :func:`features_from_trees` derives the same structure from the
trees alone: each branching node of a tree is an axis "subtypes of X", its children the levels,
and the levels' database markers that their siblings do not share the discriminating markers.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from ..models import with_example
from .tree import TissueTree

MAX_AXES = 4
MAX_LEVELS = 6
LEVEL_MARKERS = 4




class FeatureLevel(BaseModel):
    """One level of an axis: a subtype or state and the genes that mark it against the others."""

    name: str = Field(description="The subtype or state (a Cell Ontology name where one exists).")
    markers: list[str] = Field(description="Genes that mark this level relative to the other levels of the axis.")


class FeatureAxis(BaseModel):
    """One way the subtypes of a parent type differ."""

    axis: str = Field(description="What separates the levels, e.g. lineage, excitatory vs inhibitory, layer, "
                                  "projection target, activation state.")
    parent_type: str = Field(description="The cell type whose subtypes this axis separates.")
    levels: list[FeatureLevel] = Field(description="The levels along the axis, each with discriminating markers.")
    cluster_reading: str = Field(description="Where the cluster's own markers place it on this axis, citing only "
                                             "genes from its list, or 'undetermined'.")


class HierarchicalFeatures(BaseModel):
    """The Hierarchical Feature agent's answer."""

    model_config = with_example(
        axes=[{
            "axis": "CD4 versus CD8 lineage",
            "parent_type": "alpha-beta T cell",
            "levels": [{"name": "CD4-positive, alpha-beta T cell", "markers": ["CD4", "CD40LG"]},
                       {"name": "CD8-positive, alpha-beta T cell", "markers": ["CD8A", "CD8B"]}],
            "cluster_reading": "undetermined",
        }],
        notes=[],
    )
    axes: list[FeatureAxis] = Field(description="Axes that separate the subtypes in the branches, most relevant first.")
    notes: list[str] = Field(default_factory=list, description="Other points the annotator should keep in mind.")


def features_from_trees(trees: list[TissueTree], genes: list[str], *, max_axes: int = MAX_AXES) -> HierarchicalFeatures:
    """The axes read off the trees without a model (deterministic)."""
    present = {g.upper(): g for g in genes}
    axes: list[FeatureAxis] = []
    for tree in trees:
        queue = list(tree.roots)
        while queue and len(axes) < max_axes:
            cl_id = queue.pop(0)
            node = tree.nodes[cl_id]
            queue.extend(node.children)
            if len(node.children) < 2:
                continue
            axes.append(_axis(tree, cl_id, present))
    notes = [] if axes else ["The ontology branches of the candidates have no subtypes recorded in this tissue."]
    return HierarchicalFeatures(axes=axes[:max_axes], notes=notes)


def _axis(tree: TissueTree, cl_id: str, present: dict[str, str]) -> FeatureAxis:
    node = tree.nodes[cl_id]
    children = [tree.nodes[c] for c in node.children][:MAX_LEVELS]
    counts: dict[str, int] = {}
    for child in children:
        for marker in child.markers:
            counts[marker] = counts.get(marker, 0) + 1
    levels, reading = [], []
    for child in children:
        own = [m for m in child.markers if counts[m] == 1 and m not in node.markers]
        levels.append(FeatureLevel(name=child.label, markers=own[:LEVEL_MARKERS]))
        found = [present[m] for m in own if m in present]
        if found:
            reading.append(f"{child.label} ({', '.join(found)})")
    return FeatureAxis(
        axis=f"subtypes of {node.label}", parent_type=node.label, levels=levels,
        cluster_reading="cluster markers found for " + "; ".join(reading) if reading else "undetermined",
    )
