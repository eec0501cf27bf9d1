"""Retrieval-augmented annotation: marker databases, tissue ontology trees, subtype features and
cross-species notes, combined into one context block for the Annotator.

>>> import cassia
>>> cassia.run_pipeline("markers.csv", tissue="lung", rag=True)            # doctest: +SKIP
>>> from cassia.rag import RagRetriever
>>> RagRetriever().retrieve(["CD3D", "CD3E", "IL7R", "CCR7"], tissue="blood")[0].name  # doctest: +SKIP

Four agents (see DESIGN.md), one module each: the Marker Database agent (:mod:`.retrieve`,
deterministic, over the index of :mod:`.index` built from :mod:`.databases`), the Ontology agent
(:mod:`.tree`, deterministic), the Hierarchical Feature agent (:mod:`.features`) and the
Cross-species agent (:mod:`.species`), the last two answered by the run's language model, or by
rules with the offline provider. :mod:`.context` combines them; :mod:`.run` wires them into a run.
The databases are CellMarker 2.0 and PanglaoDB, downloaded on first use into the user cache
(or read from ``$CASSIA_DATA_DIR`` / ``data_dir=``).
"""

from __future__ import annotations

from .context import RagContext, RagRetriever
from .databases import DATABASES, ENV_VAR, DatabaseFile, download_database, ensure_database
from .features import FeatureAxis, FeatureLevel, HierarchicalFeatures, features_from_trees, hierarchical_features
from .index import MarkerIndex, load_index
from .retrieve import MarkerEvidence, RetrievedCandidate, rank_candidates
from .species import CrossSpeciesNotes, cross_species_notes, needs_cross_species, rules_cross_species
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
    "cross_species_notes",
    "download_database",
    "ensure_database",
    "features_from_trees",
    "hierarchical_features",
    "load_index",
    "needs_cross_species",
    "rank_candidates",
    "rules_cross_species",
]
