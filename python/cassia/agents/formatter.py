"""Formatter: the structured result, or a diagnosis when validation never passed.

On success it sees only the final validated exchange; on failure, the whole history, so the
diagnosis can say what kept going wrong.
"""

from __future__ import annotations

from ..models import DiagnosisOutput, FormatterOutput, Message, ValidationRound
from ..prompts import render
from ..providers.base import Provider
from .session import ClusterSession


def _history(conversation: list[Message], rounds: list[ValidationRound], *, full: bool) -> str:
    answers = [m.content for m in conversation if m.role == "assistant"]
    if not full:
        last = rounds[-1] if rounds else None
        verdict = f"\n\nReview: passed. {last.llm.feedback}" if last and last.llm else ""
        return answers[-1] + verdict
    parts = []
    for number, answer in enumerate(answers, start=1):
        parts.append(f"Attempt {number}:\n{answer}")
        review = next((r for r in rounds if r.round == number), None)
        if review is not None:
            parts.append(f"Review of attempt {number}: " + (" ".join(review.reasons) or "passed"))
    return "\n\n".join(parts)


async def format_annotation(
    session: ClusterSession, provider: Provider, conversation: list[Message], rounds: list[ValidationRound], *, passed: bool
) -> FormatterOutput | DiagnosisOutput:
    schema = FormatterOutput if passed else DiagnosisOutput
    prompt = render("formatter_user.j2", diagnostic=not passed, iterations=len(rounds),
                    history=_history(conversation, rounds, full=not passed))
    completion = await session.call(
        provider, stage="formatter", task="formatter", schema=schema,
        system=render("formatter_system.j2"), messages=[Message(role="user", content=prompt)],
        context=session.context(annotation=conversation[-1].content if conversation else ""),
    )
    result = completion.parsed
    return result.model_copy(update={"sub_cell_types": result.sub_cell_types[:3]})
