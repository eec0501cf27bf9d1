"""An LLM judge for the names the Cell Ontology cannot map.

The judge is asked only when :func:`cassia.evaluate.grade` cannot decide (a name maps to no CL
term and no broad category). It returns a structured :class:`JudgeVerdict` (reasoning first,
then the verdict) through the normal provider path, so its answers land in the response cache
like any agent call and a rerun costs nothing. Grades it decides carry ``rule == "llm_judge"``.
"""

from __future__ import annotations

import threading
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..models import Message
from ..prompts import render
from ..providers.base import CompletionRequest, Provider

VERDICT_SCORES = {"fully correct": 1.0, "partially correct": 0.5, "incorrect": 0.0}


class JudgeVerdict(BaseModel):
    """The judge's structured answer."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{
            "reasoning": "Both name the same lineage but the prediction is more general.",
            "verdict": "partially correct",
        }]},
    )
    reasoning: str = Field(description="Why the prediction matches the reference or not, in one or two sentences.")
    verdict: Literal["fully correct", "partially correct", "incorrect"]

    @property
    def score(self) -> float:
        return VERDICT_SCORES[self.verdict]


class Judge:
    """Grades a prediction with an LLM: ``Judge("openai", "gpt-4o").judge("Tenocytes", ["tendon cell"])``.

    ``provider`` is a vendor name, an OpenAI-compatible base URL, or a provider object; string
    providers go through the response cache (``use_cache``, ``cache_path``) like any run.
    Verdicts are also remembered in memory for the judge's lifetime.
    """

    def __init__(self, provider: str | Provider, model: str | None = None, *, api_key: str | None = None,
                 base_url: str | None = None, use_cache: bool = True, cache_path=None):
        from ..providers.stages import resolve_stages

        self.provider: Provider = resolve_stages(provider=provider, model=model, api_key=api_key,
                                                 base_url=base_url, use_cache=use_cache,
                                                 cache_path=cache_path).annotator
        self._memo: dict[tuple[str, tuple[str, ...]], JudgeVerdict] = {}
        self._lock = threading.Lock()
        self.calls = 0

    def describe(self) -> str:
        config = self.provider.config
        return f"LLM judge {config.name}/{config.model}"

    def request(self, predicted: str, gold: list[str], note: str | None = None) -> CompletionRequest:
        return CompletionRequest(
            system=render("judge_system.j2"),
            messages=[Message(role="user", content=render("judge_user.j2", predicted=predicted, gold=list(gold),
                                                          note=note))],
            schema=JudgeVerdict,
            temperature=0,
            task="other",
            context={"predicted": predicted, "gold": list(gold)},
        )

    async def ajudge(self, predicted: str, gold: list[str]) -> JudgeVerdict:
        key = (predicted, tuple(gold))
        if key in self._memo:
            return self._memo[key]
        completion = await self.provider.complete(self.request(predicted, gold))
        verdict = completion.parsed
        if not isinstance(verdict, JudgeVerdict):
            verdict = JudgeVerdict.model_validate(verdict.model_dump() if verdict is not None else {})
        with self._lock:
            self._memo[key] = verdict
            self.calls += 1
        return verdict

    def judge(self, predicted: str, gold: list[str]) -> JudgeVerdict:
        """Synchronous :meth:`ajudge` (works inside a running event loop too)."""
        from ..workflows.pipeline import run_sync

        return run_sync(lambda: self.ajudge(predicted, gold))
