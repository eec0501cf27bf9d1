"""The combined RAG context for one cluster: retrieval, trees, features, cross-species notes.

:class:`RagRetriever` holds the database index for a run; :meth:`RagRetriever.build` (no model)
and (with the run's language model, :func:`cassia.workflows.rag.build_context`, for the Hierarchical Feature and
Cross-species agents) return a :class:`RagContext`. Its :meth:`~RagContext.prompt_text` is the
block the Annotator receives; :meth:`~RagContext.as_dict` is what the run stores in
``ClusterResult.rag`` and the report shows. Every retrieved fact keeps its source: the
databases (with PubMed IDs where given) behind each gene, the Cell Ontology term of each type, and
which agent (model or rules) produced each part.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ..knowledge.markerdb.files import DATABASES
from ..knowledge.markerdb.index import MarkerIndex, load_index
from ..knowledge.markerdb.retrieve import DEFAULT_TOP, RetrievedCandidate, rank_candidates
from ..prompts import render
from .features import HierarchicalFeatures, features_from_trees
from .species import CrossSpeciesNotes, needs_cross_species, rules_cross_species
from .tree import TissueTree, candidate_branches

FOCUS = 5  # candidates whose ontology branches are shown
PROMPT_CANDIDATES = 8  # candidates written into the Annotator's prompt (all of them are on the report page)
MODEL_SOURCE, RULES_SOURCE = "language model", "rules (no language model)"


@dataclass
class RagContext:
    """Everything retrieved for one cluster, with sources."""

    cluster: str | None
    species: str
    tissue: str | None
    genes: list[str]
    candidates: list[RetrievedCandidate]
    trees: list[TissueTree]
    features: HierarchicalFeatures | None = None
    features_source: str | None = None
    cross_species: CrossSpeciesNotes | None = None
    cross_species_source: str | None = None
    sources: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def prompt_text(self) -> str:
        """The block added to the Annotator's first message."""
        titles = {name: spec.title for name, spec in DATABASES.items()}
        candidates = []
        for c in self.candidates:
            item = c.as_dict()
            for e in item["matched"]:
                e["titles"] = [titles.get(d, d) for d in e["databases"]]
            candidates.append(item)
        highlight = [c.cl_id for c in self.candidates[:FOCUS] if c.cl_id]
        return render(
            "rag_context.j2", tissue=self.tissue, candidates=candidates, max_candidates=PROMPT_CANDIDATES,
            database_titles=[spec.title for spec in DATABASES.values()],
            tree_lines=[line for tree in self.trees for line in tree.lines(highlight)],
            features=self.features, features_source=self.features_source,
            cross_species=self.cross_species, cross_species_source=self.cross_species_source,
        )

    def offline_view(self) -> dict[str, Any]:
        """The compact structured part the offline annotator reads from ``request.context["rag"]``."""
        return {"candidates": [c.as_dict() for c in self.candidates], "species": self.species, "tissue": self.tissue}

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe record for ``ClusterResult.rag`` (and the report page)."""
        return {
            "species": self.species,
            "tissue": self.tissue,
            "candidates": [c.as_dict() for c in self.candidates],
            "trees": [t.as_dict() for t in self.trees],
            "tree_lines": [line for t in self.trees for line in t.lines([c.cl_id for c in self.candidates[:FOCUS]
                                                                           if c.cl_id])],
            "features": self.features.model_dump() if self.features else None,
            "features_source": self.features_source,
            "cross_species": self.cross_species.model_dump() if self.cross_species else None,
            "cross_species_source": self.cross_species_source,
            "sources": self.sources,
            "errors": list(self.errors),
            "seconds": round(self.seconds, 4),
            "prompt": self.prompt_text(),
        }


class RagRetriever:
    """The marker-database index for a run, and the RAG context per cluster.

    ``data_dir``/``download``/``client`` say where the databases come from (see
    :mod:`cassia.knowledge.markerdb.files`); ``top`` is how many candidates go into the context;
    ``use_model=False`` keeps every agent rule-based even with a language model provider.
    """

    def __init__(self, *, data_dir: str | Path | None = None, download: bool = True,
                 client: httpx.Client | None = None, top: int = DEFAULT_TOP, use_model: bool = True):
        self.data_dir, self.download, self.client = data_dir, download, client
        self.top, self.use_model = top, use_model
        self._index: MarkerIndex | None = None
        self._sources: dict[str, Any] | None = None

    @property
    def index(self) -> MarkerIndex:
        if self._index is None:
            self._index = load_index(data_dir=self.data_dir, download=self.download, client=self.client)
        return self._index

    def sources(self) -> dict[str, Any]:
        """Database versions and checksums plus the Cell Ontology release (for the manifest)."""
        from .. import ontology

        if self._sources is None:
            self._sources = {"databases": self.index.databases, "cell_ontology": ontology.index_info()["cl_version"],
                             "index": {k: v for k, v in self.index.info.items() if k != "loaded_from"}}
        return self._sources

    def retrieve(self, genes: Sequence[str], *, species: str = "human", tissue: str | None = None,
                 top: int | None = None) -> list[RetrievedCandidate]:
        return rank_candidates(genes, self.index, species=species, tissue=tissue, top=top or self.top)

    def build(self, genes: Sequence[str], *, species: str = "human", tissue: str | None = None,
              cluster: str | None = None) -> RagContext:
        """The context without any language model (rule-based features and cross-species notes)."""
        context = self.retrieve_context(list(genes), species=species, tissue=tissue, cluster=cluster)
        self.fill_by_rules(context)
        return context

    def retrieve_context(self, genes: list[str], *, species: str, tissue: str | None, cluster: str | None) -> RagContext:
        started = time.perf_counter()
        candidates = self.retrieve(genes, species=species, tissue=tissue)
        trees = candidate_branches(self.index, candidates, tissue=tissue, species=species, focus=FOCUS)
        return RagContext(cluster=cluster, species=species, tissue=tissue, genes=genes, candidates=candidates,
                          trees=trees, sources=self.sources(), seconds=time.perf_counter() - started)

    def fill_by_rules(self, context: RagContext) -> None:
        if context.features is None:
            context.features = features_from_trees(context.trees, context.genes)
            context.features_source = RULES_SOURCE
        if context.cross_species is None and needs_cross_species(context.species):
            context.cross_species = rules_cross_species(context.species, context.genes, self.index)
            context.cross_species_source = RULES_SOURCE
