"""What a run would cost, before anything is sent: calls, tokens and dollars per stage.

Built from the agents' real first requests for every cluster (the Annotator's prompts, the
review and the Scorer's prompts around an answer of typical length, each structured call's JSON
schema) and the model registry's prices (:mod:`cassia.providers.pricing`). Tokens are counted as
characters / 4, the usual rough rule for English and gene symbols; replies are assumed to be as
long as typical ones (:data:`REPLY_CHARS`). The estimate is for clusters that pass review first
time; every extra review round adds one Annotator and one review call, and Annotation Boost (for
clusters scored below the threshold) adds up to its number of rounds. Provider prompt caching is
not counted, so dollars are an upper bound for that part.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ..markers import MarkerSet
from ..models import FormatterOutput, Message, ReviewOutput, ScorerOutput, Usage
from ..providers import pricing
from ..providers.registry import is_local_url, resolve_config
from ..providers.structured import strict_schema
from . import annotator, scorer, validator
from .session import ClusterSession

__all__ = ["REPLY_CHARS", "CostEstimate", "StageEstimate", "estimate_run"]

# Typical reply lengths in characters: a step-by-step annotation, a review with its record, a score.
REPLY_CHARS = {"annotator": 2500, "review": 700, "scorer": 450}
_SCHEMAS = {"review": ReviewOutput, "scorer": ScorerOutput}


@dataclass(frozen=True)
class StageEstimate:
    stage: str
    provider: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None: the registry has no price for the model


@dataclass(frozen=True)
class CostEstimate:
    """The expected calls, tokens and dollars of a run, per stage; nothing was sent."""

    clusters: int
    stages: list[StageEstimate]
    extra_round_calls: int = 2  # per extra review round (Annotator + review)
    notes: list[str] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.stages)

    @property
    def tokens(self) -> int:
        return sum(s.input_tokens + s.output_tokens for s in self.stages)

    @property
    def cost_usd(self) -> float | None:
        costs = [s.cost_usd for s in self.stages]
        return None if any(c is None for c in costs) else sum(costs)

    def to_dict(self) -> dict[str, Any]:
        return {"clusters": self.clusters, "calls": self.calls, "tokens": self.tokens, "cost_usd": self.cost_usd,
                "stages": [asdict(s) for s in self.stages], "notes": list(self.notes)}

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([asdict(s) for s in self.stages])

    def text(self) -> str:
        """The estimate as a few lines for a terminal."""
        lines = [f"Estimated cost of {self.clusters} cluster(s), nothing sent:"]
        for s in self.stages:
            lines.append(f"  {s.stage:9} {s.provider}/{s.model}: {s.calls} calls, "
                         f"{s.input_tokens + s.output_tokens:,} tokens, {_dollars(s.cost_usd)}")
        per = self.tokens / self.clusters if self.clusters else 0
        lines.append(f"  total     {self.calls} calls, {self.tokens:,} tokens ({per:,.0f} per cluster), "
                     f"{_dollars(self.cost_usd)}")
        return "\n".join(lines + [f"  {note}" for note in self.notes])

    def __str__(self) -> str:
        return self.text()


def _dollars(cost: float | None) -> str:
    return "price unknown" if cost is None else f"${cost:,.4f}"


def _config(spec: Any, model: str | None, base_url: str | None):
    if hasattr(spec, "config"):  # a ready provider
        return spec.config
    return resolve_config(spec, model, base_url=base_url)


def estimate_run(markers: MarkerSet, chosen: dict[str, tuple[Any, str | None]], *, base_url: str | None = None,
                 scoring: bool = True, species: str = "human", tissue: str | None = None,
                 additional_info: str | None = None, cancer_aware: bool = False,
                 validator_rounds: int = 3) -> CostEstimate:
    """The estimate for ``markers`` with the stage backends ``chosen`` (stage -> (spec, model),
    as :func:`cassia.providers.stages.stage_choices` gives them). Needs no key and sends nothing."""
    annotation = "x" * REPLY_CHARS["annotator"]
    record = FormatterOutput(main_cell_type="cell type", sub_cell_types=["subtype"], mixed_cell_types=[],
                             key_markers=[])
    tokens = {stage: [0, 0] for stage in ("annotator", "review", "scorer")}
    for cm in markers:
        session = ClusterSession(cluster=cm.cluster, markers=list(cm.genes), species=species, tissue=tissue,
                                 additional_info=additional_info, cancer_aware=cancer_aware)
        first = annotator.first_message(session)
        sent = {
            "annotator": annotator.system_prompt(session) + first.content,
            "review": "".join(validator.prompts(session, annotation)),
            "scorer": "".join(scorer.prompts(session, [first, Message(role="assistant", content=annotation)], record)),
        }
        for stage, text in sent.items():
            schema = _SCHEMAS.get(stage)
            tokens[stage][0] += (len(text) + (len(json.dumps(strict_schema(schema))) if schema else 0)) // 4
            tokens[stage][1] += REPLY_CHARS[stage] // 4
    stages = []
    annotation_spec = chosen["annotator"][0]
    for stage in ("annotator", "review", "scorer") if scoring else ("annotator", "review"):
        spec, model = chosen[stage]
        config = _config(spec, model, base_url if spec is annotation_spec or spec == annotation_spec else None)
        offline = config.kind == "offline"
        usage = Usage() if offline else Usage(input_tokens=tokens[stage][0], output_tokens=tokens[stage][1])
        cost = pricing.cost_usd(config.model, usage, local=offline or is_local_url(config.base_url))
        stages.append(StageEstimate(stage=stage, provider=config.name, model=config.model, calls=len(markers),
                                    input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                                    cost_usd=None if cost is None else round(cost, 6)))
    notes = [f"Assumes every cluster passes review first time; each extra round (up to {validator_rounds}) "
             "adds an Annotator and a review call."]
    if scoring:
        notes.append("Annotation Boost of clusters scored below the threshold is not included.")
    notes.append("Tokens are characters / 4; prompt caching would lower the dollars.")
    return CostEstimate(clusters=len(markers), stages=stages, notes=notes)
