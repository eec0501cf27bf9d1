"""RAG inside a run: build the context, hand it to the Annotator, keep it with the result.

``run_pipeline(..., rag=True)`` / ``run_batch(..., rag=True)`` call :func:`annotate_with_rag`
instead of :func:`~cassia.agents.team.annotate_cluster` for each cluster. The context goes into
the Annotator's first message (``ClusterSession.extra_context``) and, in structured form, into
every request's ``context["rag"]`` (what the offline annotator reads). The full record is stored
as ``ClusterResult.rag`` and, inside a run directory, shown on ``rag/<slug>.html``,
linked from the cluster's report page.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from ..agents.rag_features import hierarchical_features
from ..agents.rag_species import cross_species_notes
from ..agents.session import ClusterSession
from ..agents.team import Team, annotate_cluster
from ..errors import AuthError, CassiaError
from ..models import ClusterResult
from ..providers.base import Provider
from ..rag.context import MODEL_SOURCE, RagContext, RagRetriever
from ..rag.species import database_support, needs_cross_species
from ..report.rag import render_rag_page

PAGE_TITLE = "Retrieved knowledge (RAG)"


def retriever_for_run(*, data_dir: str | Path | None = None, client: httpx.Client | None = None) -> RagRetriever:
    """A retriever with its index loaded now, so a missing database fails before any cluster runs."""
    retriever = RagRetriever(data_dir=data_dir, client=client)
    _ = retriever.index  # load (or download) and index the databases up front
    return retriever


async def annotate_with_rag(session: ClusterSession, team: Team, retriever: RagRetriever, *,
                            validator_rounds: int = 3, check_ontology: bool = True) -> ClusterResult:
    """:func:`~cassia.agents.team.annotate_cluster` with the cluster's retrieved knowledge."""
    context = await build_context(retriever, session, team.annotator)
    session.extra_context = context.prompt_text()
    session.rag = context.offline_view()
    result = await annotate_cluster(session, team, validator_rounds=validator_rounds, check_ontology=check_ontology)
    record = context.as_dict()
    result = result.model_copy(update={"rag": record})
    if session.store is not None:
        page = render_rag_page(session.store.run_dir, result)
        result.pages = {**result.pages, PAGE_TITLE: page.relative_to(session.store.run_dir).as_posix()}
    return result


async def build_context(retriever: RagRetriever, session: ClusterSession, provider: Provider | None = None) -> RagContext:
    """The RAG context for a session; the model answers the feature/cross-species agents when it can.

    The offline provider (and ``retriever.use_model=False``) means rules. A model failure other
    than an authentication error falls back to rules and is noted in ``errors``.
    """
    started = time.perf_counter()
    tissue = None if session.tissue_blind else session.tissue
    context = retriever.retrieve_context(list(session.markers), species=session.species, tissue=tissue,
                                         cluster=session.cluster)
    if retriever.use_model and provider is not None and provider.config.kind != "offline":
        try:
            context.features = await hierarchical_features(session, provider, context.trees, context.candidates)
            context.features_source = MODEL_SOURCE
        except AuthError:
            raise
        except CassiaError as err:
            context.errors.append(f"hierarchical features: {type(err).__name__}: {err}; used rules instead")
        if needs_cross_species(session.species):
            unmatched = database_support(session.markers, retriever.index)["neither"]
            try:
                context.cross_species = await cross_species_notes(session, provider, context.candidates, unmatched)
                context.cross_species_source = MODEL_SOURCE
            except AuthError:
                raise
            except CassiaError as err:
                context.errors.append(f"cross-species notes: {type(err).__name__}: {err}; used rules instead")
    retriever.fill_by_rules(context)
    context.seconds = time.perf_counter() - started
    return context
