"""Retrieval-augmented annotation: marker databases, tissue ontology trees, subtype features and
cross-species notes, combined into one context block for the Annotator.

>>> import cassia
>>> cassia.run_pipeline("markers.csv", tissue="lung", rag=True)            # doctest: +SKIP
>>> from cassia.rag import RagRetriever
>>> RagRetriever().retrieve(["CD3D", "CD3E", "IL7R", "CCR7"], tissue="blood")[0].name  # doctest: +SKIP

Four parts: the Marker Database retrieval (:mod:`cassia.knowledge.markerdb`: deterministic, an
index built from the database files; it lives in the knowledge package because the offline
annotator also weighs its evidence), the Ontology trees (:mod:`.tree`, deterministic), the
Hierarchical Features (:mod:`.features`) and the Cross-species notes (:mod:`.species`). The last two
come from rules here, or from the run's language model through the agents
:mod:`cassia.agents.rag_features` and :mod:`cassia.agents.rag_species`. :mod:`.context` combines
them; :mod:`cassia.workflows.rag` wires them into a run (this package is knowledge: it calls no model).
The databases are CellMarker 2.0 and PanglaoDB, downloaded on first use into the user cache
(or read from ``$CASSIA_DATA_DIR`` / ``data_dir=``).
"""

from __future__ import annotations

from ..knowledge.markerdb import (
    DATABASES,
    ENV_VAR,
    DatabaseFile,
    MarkerEvidence,
    MarkerIndex,
    RetrievedCandidate,
    download_database,
    ensure_database,
    load_index,
    rank_candidates,
)
from .context import RagContext, RagRetriever
from .features import (
    FeatureAxis,
    FeatureLevel,
    HierarchicalFeatures,
    features_from_trees,
)
from .species import CrossSpeciesNotes, needs_cross_species, rules_cross_species
from .tree import TissueTree, TreeNode, build_tissue_tree, candidate_branches

__all__ = [
    "DATABASES",
    "ENV_VAR",
    "CrossSpeciesNotes",
    "DatabaseFile",
    "FeatureAxis",
    "FeatureLevel",
    "HierarchicalFeatures",
    "MarkerEvidence",
    "MarkerIndex",
    "RagContext",
    "RagRetriever",
    "RetrievedCandidate",
    "TissueTree",
    "TreeNode",
    "build_tissue_tree",
    "candidate_branches",
    "download_database",
    "ensure_database",
    "features_from_trees",
    "load_index",
    "needs_cross_species",
    "rank_candidates",
    "rules_cross_species",
]
