"""Pydantic schemas shared by the agents, the providers, the run store and the reports.

Agent output models (``*Output``) are what a model must return; they are sent to providers as
JSON schemas. Each carries one example in its schema: the fake test server answers with it
when no scripted reply matches, so every schema stays answerable end to end.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Role = Literal["system", "user", "assistant"]
AgentName = Literal[
    "annotator", "review", "scorer", "boost", "subcluster", "unification", "consensus", "merge",
    "rag", "deliberation", "arbiter", "other",
]


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(frozen=True)
    role: Role
    content: str


class Usage(BaseModel):
    """Tokens of one or more calls. ``input_cached_tokens``: of the input, those the provider's
    prompt cache served (billed at its cached price); ``cached_tokens``: tokens our own response
    cache answered without any call (billed nothing)."""

    input_tokens: int = 0
    output_tokens: int = 0
    input_cached_tokens: int = 0
    cached_tokens: int = 0
    input_cache_write_tokens: int = 0  # of the input, written to the provider's prompt cache (Anthropic bills more)

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            input_cached_tokens=self.input_cached_tokens + other.input_cached_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            input_cache_write_tokens=self.input_cache_write_tokens + other.input_cache_write_tokens,
        )


# ---------------------------------------------------------------- agent outputs


def with_example(**example: Any) -> ConfigDict:
    """Model config carrying one example answer in the schema (what the fake server replies with).

    Property titles are left out of the schema: they only repeat the property names, and the
    schema goes out with every structured call.
    """
    def extra(schema: dict[str, Any], _model: Any) -> None:
        for prop in (schema.get("properties") or {}).values():
            prop.pop("title", None)
        schema["examples"] = [example]

    return ConfigDict(json_schema_extra=extra, extra="ignore")


class ValidatorOutput(BaseModel):
    """The Validator's reading of one annotation attempt (kept per round in ``ValidationRound.llm``)."""

    model_config = with_example(
        cell_type="T cell",
        cited_genes=[],
        consistent=True,
        concerns=[],
        feedback="The markers support the annotation.",
    )
    cell_type: str = Field(description="The most probable general cell type the annotation names.")
    cited_genes: list[str] = Field(description="Every gene the annotation cites as evidence.")
    consistent: bool = Field(description="Do the cited markers support the named cell type?")
    concerns: list[str] = Field(description="Specific problems found; empty when none.")
    feedback: str = Field(description="What the annotator should reconsider, or why it is sound.")


class FormatterOutput(BaseModel):
    """The structured result of an annotation."""

    model_config = with_example(
        main_cell_type="T cell",
        sub_cell_types=["CD4-positive, alpha-beta T cell", "CD8-positive, alpha-beta T cell", "NK T cell"],
        mixed_cell_types=[],
        key_markers=["CD3D", "CD3E"],
    )
    main_cell_type: str = Field(description="Most probable general cell type.")
    sub_cell_types: list[str] = Field(description="Up to three subtypes, most probable first.")
    mixed_cell_types: list[str] = Field(description="Other cell types that may be mixed into the cluster.")
    key_markers: list[str] = Field(description="The markers that decided the call, from the input list.")


class ReviewOutput(BaseModel):
    """A review verdict and the annotation's record."""

    # No field descriptions: the review's system prompt says what each field holds, and the
    # schema goes out with every review call (no text sent twice in one request).
    model_config = with_example(
        consistent=True,
        concerns=[],
        feedback="The markers support the annotation.",
        main_cell_type="T cell",
        sub_cell_types=["CD4-positive, alpha-beta T cell", "CD8-positive, alpha-beta T cell", "NK T cell"],
        mixed_cell_types=[],
        key_markers=["CD3D", "CD3E"],
    )
    consistent: bool
    concerns: list[str]
    feedback: str
    main_cell_type: str
    sub_cell_types: list[str]
    mixed_cell_types: list[str]
    key_markers: list[str]

    @field_validator("main_cell_type")
    @classmethod
    def _named(cls, value: str) -> str:
        # an empty name is a malformed record: the structured layer asks the model to repair it
        if not value.strip():
            raise ValueError("main_cell_type is empty; name the general cell type")
        return value.strip()

    def record(self) -> FormatterOutput:
        return FormatterOutput(main_cell_type=self.main_cell_type, sub_cell_types=self.sub_cell_types[:3],
                               mixed_cell_types=self.mixed_cell_types, key_markers=self.key_markers)

    def verdict(self, cited: list[str]) -> ValidatorOutput:
        """The review as a Validator record; ``cited`` is the code's reading of the cited genes."""
        return ValidatorOutput(cell_type=self.main_cell_type, cited_genes=cited, consistent=self.consistent,
                               concerns=self.concerns, feedback=self.feedback)


class DiagnosisOutput(BaseModel):
    """The record of an annotation that never passed review, with what went wrong."""

    model_config = with_example(
        main_cell_type="T cell",
        sub_cell_types=[],
        mixed_cell_types=[],
        key_markers=["CD3D"],
        what_went_wrong="The annotation cited genes that are not in the marker list.",
        what_to_do="Rerun with more markers or boost this cluster.",
    )
    main_cell_type: str
    sub_cell_types: list[str]
    mixed_cell_types: list[str]
    key_markers: list[str]
    what_went_wrong: str
    what_to_do: str


class ScorerOutput(BaseModel):
    """The Scorer's 0-100 judgement of an annotation."""

    model_config = with_example(
        score=80,
        reasoning="Several top-ranked markers agree on the call.",
        possible_mixed_population=False,
    )
    score: int = Field(ge=0, le=100)
    reasoning: str
    possible_mixed_population: bool


Mode = Literal["breadth", "depth"]
Evidence = Literal["statistics", "ranked list"]  # what Annotation Boost can read for a cluster


class GeneStat(BaseModel):
    """One looked-up gene: the query as asked and what the cluster's table says about it."""

    query: str
    gene: str | None = None
    found: bool = False
    via_alias: bool = False
    avg_log2FC: float | None = None
    pct_1: float | None = None
    pct_2: float | None = None
    p_val_adj: float | None = None
    rank: int | None = None  # 1 = highest avg_log2FC in the cluster's table (a ranked list: its position)
    table_size: int = 0

    def describe(self, evidence: "Evidence" = "statistics") -> str:
        """One line for the boost agent. With only a ``"ranked list"`` (no statistics) a gene outside
        the list cannot be checked, and the line says so rather than reading its absence as evidence."""
        name = f"{self.query} (as {self.gene})" if self.found and (self.via_alias or self.gene != self.query) else self.query
        if evidence == "ranked list":
            if not self.found:
                return (f"{self.query}: not in this cluster's ranked list; genes outside the list cannot be "
                        "checked (no statistics were given), so this says nothing about its expression")
            place = f"position {self.rank} of {self.table_size}" if self.rank else "in the list"
            return f"{name}: in the cluster's ranked list, {place} (no statistics were given)"
        if not self.found:
            return (f"{self.query}: not in this cluster's table (not reported as differentially expressed; "
                    "it may be unexpressed, or expressed about as much in other clusters)")
        numbers = [f"avg_log2FC {_fmt(self.avg_log2FC)}", f"pct.1 {_fmt(self.pct_1)}",
                   f"pct.2 {_fmt(self.pct_2)}", f"p_val_adj {_fmt(self.p_val_adj, p=True)}"]
        rank = f", rank {self.rank} of {self.table_size} by avg_log2FC" if self.rank else ""
        return f"{name}: " + ", ".join(numbers) + rank


def _fmt(value: float | None, *, p: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2e}" if p else f"{value:.3g}"


# ---------------------------------------------------------------- what Annotation Boost records


class HypothesisRecord(BaseModel):
    round: int
    hypothesis: str
    genes: list[str] = []
    rationale: str = ""
    verdict: Literal["supported", "refuted", "uncertain", "untested"] = "untested"
    evidence: str = ""


class CheckedGene(GeneStat):
    round: int
    hypothesis: str


class BoostDetails(BaseModel):
    """Everything one boost did; stored as ``ClusterResult.boost``."""

    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    evidence: Evidence = "statistics"  # full statistics, or only a processed ranked list of genes
    mode: Mode = "breadth"
    additional_task: str | None = None
    max_iterations: int = 5
    iterations: int = 0
    converged: bool = False  # the agent concluded before the iteration limit forced it to
    confidence: str | None = None
    summary: str = ""
    answer: str = ""
    annotation: FormatterOutput | None = None
    original_annotation: FormatterOutput | None = None
    hypotheses: list[HypothesisRecord] = []
    genes: list[CheckedGene] = []
    table_size: int = 0
    original_cell_ontology_id: str | None = None
    conversation: list[Message] = []


class SubclusterInfo(BaseModel):
    """Where a subcluster's answer came from (stored as ``ClusterResult.subcluster``)."""

    population: str
    group: int
    attempts: int
    main_cell_type: str | None = None
    sub_cell_type: str | None = None
    reasoning: str = ""
    consistency_note: str = ""
    before_consistency: str | None = None


# ---------------------------------------------------------------- results


class ValidationRound(BaseModel):
    """One pass of the Validator over an annotation attempt."""

    round: int
    passed: bool
    invented_genes: list[str] = []
    unknown_cell_type: bool = False
    llm: ValidatorOutput | None = None
    reasons: list[str] = []  # why the round failed (what goes back to the annotator)
    notes: list[str] = []  # advice that does not fail the round (e.g. a name without a Cell Ontology term)


class StageInfo(BaseModel):
    """Who answered a stage: provider and model, plus usage."""

    provider: str
    model: str
    usage: Usage = Usage()
    cost_usd: float | None = None
    saved_usd: float = 0.0  # what the answers served from the response cache cost the first time
    calls: int = 0


class ClusterResult(BaseModel):
    """Everything known about one cluster after a run: one line of results.jsonl."""

    cluster: str
    status: Literal["ok", "failed"]
    error: str | None = None
    markers: list[str] = []
    tissue: str | None = None
    species: str | None = None
    annotation: FormatterOutput | None = None
    diagnosis: DiagnosisOutput | None = None
    validated: bool = False
    iterations: int = 0
    validation: list[ValidationRound] = []
    conversation: list[Message] = []
    score: ScorerOutput | None = None
    cell_ontology_id: str | None = None
    boosted: bool = False
    original_annotation: FormatterOutput | None = None
    stages: dict[str, StageInfo] = {}
    boost: BoostDetails | None = None  # what Annotation Boost did (also when it failed)
    original_score: ScorerOutput | None = None  # the score before a boosted answer was re-scored
    rag: dict[str, Any] | None = None  # the retrieved knowledge (cassia.rag.RagContext.as_dict())
    subcluster: SubclusterInfo | None = None
    pages: dict[str, str] = {}  # report pages other steps wrote, by title -> path in the run directory
    notes: list[str] = []  # what the code's checks changed or flag (e.g. key markers not in the input, dropped)

    @model_validator(mode="before")
    @classmethod
    def _from_older_runs(cls, data: Any) -> Any:
        """Results written before these fields existed kept them in one ``extra`` dict."""
        if isinstance(data, dict) and isinstance(data.get("extra"), dict):
            data = {**data}
            for key, value in data.pop("extra").items():
                data.setdefault(key, value)
        return data

    @property
    def outcome(self) -> Literal["ok", "unvalidated", "failed"]:
        """What a user may take from the cluster: ``ok`` (an answer that passed the checks),
        ``unvalidated`` (only a diagnosis: the answer never passed the Validator) or ``failed``."""
        if self.status != "ok" or (self.annotation is None and self.diagnosis is None):
            return "failed"
        return "ok" if self.annotation is not None else "unvalidated"

    @property
    def tokens(self) -> int:
        return sum(s.usage.total for s in self.stages.values())

    @property
    def cost_usd(self) -> float | None:
        costs = [s.cost_usd for s in self.stages.values()]
        return None if not costs or any(c is None for c in costs) else sum(costs)
