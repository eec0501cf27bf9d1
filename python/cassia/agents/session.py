"""What every agent needs about the cluster it works on, and the one way agents call a backend.

:class:`ClusterSession` carries the cluster's inputs, and :meth:`ClusterSession.call` sends a
request, records the transcript in the run store and adds usage/cost to the stage's totals.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..models import AgentName, Message, StageInfo
from ..providers.base import Completion, CompletionRequest, Provider
from ..store import RunStore

# The option that sets each stage's output limit (named when a reply is cut off at it).
_LIMIT_OPTIONS = {"scorer": "scoring_max_tokens", "boost": "boost_max_tokens"}


@dataclass
class ClusterSession:
    cluster: str
    markers: list[str]
    species: str = "human"
    tissue: str | None = None
    additional_info: str | None = None
    cancer_aware: bool = False
    store: RunStore | None = None
    stages: dict[str, StageInfo] = field(default_factory=dict)
    extra_context: str | None = None  # retrieved knowledge (RAG) for the Annotator's first message
    rag: dict[str, Any] | None = None  # its structured part; sent to providers as context["rag"]
    table_genes: tuple[str, ...] = ()  # every gene of the cluster's full statistics table (answers may cite them)

    @property
    def tissue_blind(self) -> bool:
        return not self.tissue or self.tissue.strip().lower() in {"unknown", "none", "atlas", "multiple", "any"}

    def context(self, **extra: Any) -> dict[str, Any]:
        """Structured description of the request (what the offline annotator answers from)."""
        return {
            "cluster": self.cluster,
            "markers": list(self.markers),
            "species": self.species,
            "tissue": None if self.tissue_blind else self.tissue,
            "additional_info": self.additional_info,
            "cancer_aware": self.cancer_aware,
            **({"rag": self.rag} if self.rag is not None else {}),
            **extra,
        }

    async def call(
        self,
        provider: Provider,
        *,
        stage: str,
        task: AgentName,
        messages: list[Message],
        system: str | None = None,
        schema=None,
        context: dict[str, Any] | None = None,
    ) -> Completion:
        request = CompletionRequest(
            messages=messages, system=system, schema=schema, task=task,
            context=context if context is not None else self.context(),
            max_tokens_option=_LIMIT_OPTIONS.get(stage, "max_tokens"),
        )
        started = time.perf_counter()
        completion = await provider.complete(request)
        self._account(stage, provider, completion)
        if self.store is not None:  # on the loop: in a thread, 10,000 batch-mode records waited at once (+40 MB)
            self.store.transcript(self.cluster, task, {
                "stage": stage,
                "provider": completion.provider or provider.config.name,
                "model": completion.model or provider.config.model,
                "system": system,
                "messages": [m.model_dump() for m in messages],
                "schema": schema.__name__ if schema else None,
                "response": completion.text,
                "parsed": completion.parsed.model_dump() if completion.parsed is not None else None,
                "usage": completion.usage.model_dump(),
                "cost_usd": completion.cost_usd,
                "latency_s": round(completion.latency_s or (time.perf_counter() - started), 4),
                "cached": completion.cached,
                "attempts": completion.attempts,
            })
        return completion

    def _account(self, stage: str, provider: Provider, completion: Completion) -> None:
        info = self.stages.get(stage)
        if info is None:
            info = StageInfo(provider=completion.provider or provider.config.name,
                             model=completion.model or provider.config.model, cost_usd=0.0)
        cost = None if info.cost_usd is None or completion.cost_usd is None else info.cost_usd + completion.cost_usd
        self.stages[stage] = info.model_copy(update={
            "usage": info.usage + completion.usage,
            "cost_usd": cost,
            "saved_usd": info.saved_usd + (completion.saved_usd or 0.0),
            "calls": info.calls + 1,
        })
