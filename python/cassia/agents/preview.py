"""What the Annotator would be sent for each cluster, without calling any backend (``--dry-run``).

Uses the Annotator's own :func:`~cassia.agents.annotator.system_prompt` and
:func:`~cassia.agents.annotator.first_message`, so the preview is the real first request, not a
copy of the prompt text.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..markers import MarkerSet
from . import annotator
from .session import ClusterSession

__all__ = ["PromptPreview", "preview_prompts"]


@dataclass(frozen=True)
class PromptPreview:
    cluster: str
    markers: list[str]
    system: str
    user: str

    def to_dict(self) -> dict:
        return asdict(self)


def preview_prompts(markers: MarkerSet, *, species: str = "human", tissue: str | None = None,
                    additional_info: str | None = None, cancer_aware: bool = False) -> list[PromptPreview]:
    """The Annotator's system prompt and first user message for every cluster of ``markers``."""
    previews = []
    for cm in markers:
        session = ClusterSession(cluster=cm.cluster, markers=list(cm.genes), species=species, tissue=tissue,
                                 additional_info=additional_info, cancer_aware=cancer_aware)
        previews.append(PromptPreview(cluster=cm.cluster, markers=list(cm.genes),
                                      system=annotator.system_prompt(session),
                                      user=annotator.first_message(session).content))
    return previews
