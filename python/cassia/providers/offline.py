"""The offline knowledge-base annotator: a provider that needs no key and no network.

It answers every agent role from ``request.context`` (the structured inputs the agents send
alongside their prompts), never from the prompt prose, by scoring the curated knowledge base
(:mod:`cassia.knowledge`) against the ranked markers:

- ``annotator`` (and ``boost``): a step-by-step evidence text (:func:`cassia.knowledge.explain.explain_call`);
- ``review``: :class:`~cassia.models.ReviewOutput`, the verdict (consistent when the knowledge
  base makes a confident call) and the record (general type, subtypes, mixed types, key markers
  from the input) in one answer;
- ``scorer``: :class:`~cassia.models.ScorerOutput` for the annotation it is given (context keys
  ``annotation``, the general type, and ``sub_cell_types``): the evidence for that named type
  (:func:`cassia.knowledge.named.named_support`), so a wrong answer scores low.

Context keys (the agents' contract): ``cluster`` (str), ``markers`` (ranked list of str),
``species`` (str), ``tissue`` (str | None), ``additional_info`` (str | None), ``cancer_aware``
(bool), and in RAG runs ``rag`` (retrieved database candidates, see :mod:`cassia.knowledge.retrieved`).
An ``annotation`` key may be present for the later stages; it is prose, so the answer is
recomputed from the markers instead. Answers are deterministic: the same context always gives
the same reply, at zero tokens and zero cost.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ModelOutputError
from ..knowledge import KBCall, call_cell_type
from ..knowledge.explain import explain_call, hits_text, summary_sentence
from ..knowledge.named import named_support
from ..knowledge.retrieved import call_with_retrieval, retrieval_note
from ..models import Usage
from .base import Completion, CompletionRequest, ProviderConfig

MODEL_NAME = "cassia-kb"
PROVIDER_NAME = "offline"
DEFAULT_CONFIG = ProviderConfig(name=PROVIDER_NAME, kind="offline", model=MODEL_NAME, max_concurrency=32)

_TEXT_TASKS = {"annotator", "boost"}
_SCHEMA_TASKS = {"review", "scorer"}


class OfflineProvider:
    """Provider protocol implementation backed by the curated knowledge base."""

    def __init__(self, config: ProviderConfig | None = None) -> None:
        self.config = config or DEFAULT_CONFIG

    async def complete(self, request: CompletionRequest) -> Completion:
        started = time.perf_counter()
        task = request.task
        if task not in _TEXT_TASKS | _SCHEMA_TASKS:
            raise ModelOutputError(
                f"the offline annotator does not support the {task!r} task; "
                "use an LLM provider for this stage"
            )
        ctx = request.context or {}
        call = _call_from_context(ctx)
        if task in _TEXT_TASKS:
            if request.schema is not None:
                raise ModelOutputError(
                    f"the offline annotator answers the {task!r} task with free text only, "
                    f"not with {request.schema.__name__}; drop the schema or use an LLM provider"
                )
            text = explain_call(
                call,
                cluster=_opt_str(ctx.get("cluster")),
                cancer_aware=bool(ctx.get("cancer_aware", False)),
                additional_info=_opt_str(ctx.get("additional_info")),
            )
            if ctx.get("rag"):  # RAG run: say what the marker databases retrieved
                text += "\n\n" + retrieval_note(ctx["rag"])
            return self._completion(text, None, started)
        if task == "review":
            obj = review_answer(call)
        else:
            obj = scorer_answer(call, named=_opt_str(ctx.get("annotation")),
                                subtypes=[str(t) for t in ctx.get("sub_cell_types") or []])
        parsed = _validate(obj, request.schema, task) if request.schema is not None else None
        return self._completion(json.dumps(obj), parsed, started)

    def _completion(self, text: str, parsed: BaseModel | None, started: float) -> Completion:
        return Completion(
            text=text,
            parsed=parsed,
            usage=Usage(),
            latency_s=time.perf_counter() - started,
            model=MODEL_NAME,
            provider=PROVIDER_NAME,
            cost_usd=0.0,
        )


# ---------------------------------------------------------------- per-task answers


def review_answer(call: KBCall) -> dict[str, Any]:
    """The verdict (consistent when the knowledge base makes a call; concerns list every caveat)
    and the record, as one :class:`~cassia.models.ReviewOutput`."""
    concerns = list(call.reasons)
    if call.best is not None and call.best.negatives:
        concerns.append(f"markers arguing against {call.best.name}: {hits_text(call.best.negatives)}")
    if call.confident and call.best is not None and call.best.missing_key_markers:
        n = len(call.best.missing_key_markers)
        concerns.append(f"{n} key marker(s) of {call.best.name} are absent from the list")
    if call.confident:
        feedback = (f"The markers support {call.label} ({call.general_label}): "
                    f"{hits_text(call.best.matched, 6)}.")
        if call.mixed_types:
            feedback += " Mention the possible admixture of " + ", ".join(call.mixed_types) + "."
    else:
        feedback = ("The evidence does not support a specific cell type; report the cluster as Unknown "
                    "or gather more markers (top 50 by fold change) before naming it.")
    return {"consistent": call.confident, "concerns": concerns, "feedback": feedback, **formatter_answer(call)}


def formatter_answer(call: KBCall) -> dict[str, Any]:
    if not call.confident or call.best is None:
        return {"main_cell_type": call.general_label, "sub_cell_types": [], "mixed_cell_types": [],
                "key_markers": call.key_markers[:10]}
    subtypes = list(call.subtypes) or [call.best.name]
    return {
        "main_cell_type": call.general_label,
        "sub_cell_types": subtypes[:3],
        "mixed_cell_types": list(call.mixed_types),
        "key_markers": call.key_markers[:10],
    }


def scorer_answer(call: KBCall, *, named: str | None = None, subtypes: list[str] | None = None) -> dict[str, Any]:
    """Score the annotation the Scorer was given (``named`` general type, first of ``subtypes``):
    the evidence for THAT type against the markers, so a wrong answer scores low. Without a
    name, the strength of the knowledge base's own call."""
    if named:
        return _named_score(call, named, subtypes or [])
    score = call.quality
    if call.best is None:
        reasoning = "No marker of the list is a curated marker of any cell type: the annotation has no support."
    else:
        best = call.best
        top10 = [h for h in best.matched if h.rank <= 10]
        reasoning = (
            f"{summary_sentence(call)} {len(best.matched)} supporting marker(s), {len(top10)} of them in the "
            f"top 10 ranks; knowledge-base score {best.score:.2f} (rank- and specificity-weighted), "
            f"confidence {call.confidence}."
        )
        if call.reasons:
            reasoning += " Caveats: " + "; ".join(call.reasons) + "."
    return {"score": score, "reasoning": reasoning, "possible_mixed_population": call.mixed_population}


SUBTYPE_WEIGHT = 0.3  # share of the score that judges the top subtype (as in the CS score's weights)


def _named_score(call: KBCall, named: str, subtypes: list[str]) -> dict[str, Any]:
    main = named_support(named, call.genes, species=call.species, tissue=call.tissue, call=call)
    score, reasoning = main.score, main.reasoning
    sub = named_support(subtypes[0], call.genes, species=call.species, tissue=call.tissue, call=call) \
        if subtypes and subtypes[0].strip() else None
    if sub is not None and sub.resolved is not None:
        score = round((1 - SUBTYPE_WEIGHT) * main.score + SUBTYPE_WEIGHT * sub.score)
        reasoning += f" Subtype: {sub.reasoning}"
    if call.reasons:
        reasoning += " Caveats: " + "; ".join(call.reasons) + "."
    return {"score": max(0, min(100, score)), "reasoning": reasoning,
            "possible_mixed_population": call.mixed_population}


# ---------------------------------------------------------------- helpers


def _call_from_context(ctx: dict[str, Any]) -> KBCall:
    markers = ctx.get("markers")
    if not markers:
        raise ModelOutputError(
            "the offline annotator needs the ranked markers in request.context['markers']; "
            "the calling agent must send its structured context"
        )
    genes = markers if isinstance(markers, str) else [str(m) for m in markers]
    species, tissue = _opt_str(ctx.get("species")) or "human", _opt_str(ctx.get("tissue"))
    if ctx.get("rag"):  # opt-in: retrieved database candidates refine the knowledge base's subtypes
        return call_with_retrieval(genes, retrieved=ctx["rag"].get("candidates", []), species=species, tissue=tissue)
    return call_cell_type(genes, species=species, tissue=tissue)


def _validate(obj: dict[str, Any], schema: type[BaseModel], task: str) -> BaseModel:
    try:
        return schema.model_validate(obj)
    except ValidationError as exc:
        raise ModelOutputError(
            f"the offline annotator cannot answer the {task!r} task with {schema.__name__}: {exc.errors()[0]['msg']}; "
            "use an LLM provider for this stage"
        ) from None


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
