"""RAG inside a run: build the context, hand it to the Annotator, keep it with the result.

``run_pipeline(..., rag=True)`` / ``run_batch(..., rag=True)`` call :func:`annotate_with_rag`
instead of :func:`~cassia.agents.team.annotate_cluster` for each cluster. The context goes into
the Annotator's first message (``ClusterSession.extra_context``) and, in structured form, into
every request's ``context["rag"]`` (what the offline annotator reads). The full record is stored
as ``ClusterResult.extra["rag"]`` and, inside a run directory, shown on ``rag/<slug>.html``,
linked from the cluster's report page.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from ..agents.session import ClusterSession
from ..agents.team import Team, annotate_cluster
from ..models import ClusterResult
from .context import RagRetriever

PAGE_TITLE = "Retrieved knowledge (RAG)"


def retriever_for_run(*, data_dir: str | Path | None = None, client: httpx.Client | None = None) -> RagRetriever:
    """A retriever with its index loaded now, so a missing database fails before any cluster runs."""
    retriever = RagRetriever(data_dir=data_dir, client=client)
    _ = retriever.index  # load (or download) and index the databases up front
    return retriever


async def annotate_with_rag(session: ClusterSession, team: Team, retriever: RagRetriever, *,
                            validator_rounds: int = 3, check_ontology: bool = True) -> ClusterResult:
    """:func:`~cassia.agents.team.annotate_cluster` with the cluster's retrieved knowledge."""
    context = await retriever.abuild(session, team.annotator)
    session.extra_context = context.prompt_text()
    session.rag = context.offline_view()
    result = await annotate_cluster(session, team, validator_rounds=validator_rounds, check_ontology=check_ontology)
    record = context.as_dict()
    extra = {**result.extra, "rag": record}
    if session.store is not None:
        from ..report.rag import render_rag_page

        page = render_rag_page(session.store.run_dir, result.model_copy(update={"extra": extra}))
        extra["pages"] = {**extra.get("pages", {}), PAGE_TITLE: page.relative_to(session.store.run_dir).as_posix()}
    return result.model_copy(update={"extra": extra})
