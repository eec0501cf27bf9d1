"""Merging annotations into broader groups (``Merged_Grouping_1..N``) for plots and summaries.

An LLM proposes each annotation's group at every level (broadest first), and the Cell Ontology
checks it: where the ontology knows both the annotation and its group, the group must be the
annotation's own term or one of its ancestors. A group that is not (a sibling, an unrelated
type) is replaced by the label of the lowest common ancestor of the two, and the fix is noted
in ``Merge Notes``. Annotations the model leaves out get the ontology grouping below.

With ``provider="offline"`` (also what ``provider=None`` resolves to when no key is set) no
model is asked: groups come from the ontology alone, deterministically. The broadest level is
the first ancestor-or-self of the annotation's CL term in :data:`BROAD_GROUPS` (T cell,
mononuclear phagocyte, epithelial cell, ...), the most specific level is the term's own label,
and levels in between use :data:`DETAILED_GROUPS` (CD4-positive T cell, monocyte, hepatocyte,
...), falling back to the term itself. An annotation the ontology cannot map keeps its own text
at every level.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .. import ontology
from ..agents.merge import group_annotations
from ..agents.session import ClusterSession
from ..errors import CassiaError, InputError, redact
from ..options import checked
from ..ontology.compare import text_key
from ..providers.stages import resolve_stages
from ..store import read_results, restore_csv, summary_frame
from .engine import run_sync
from .inputs import PathLike, ProviderLike

__all__ = ["BROAD_GROUPS", "DETAILED_GROUPS", "merge_annotations", "ontology_groups"]

# Broad groups, in priority order: the first one that is the term or an ancestor of it wins.
BROAD_GROUPS = (
    "CL:0000084",  # T cell
    "CL:0000623",  # natural killer cell
    "CL:0001065",  # innate lymphoid cell
    "CL:0000945",  # lymphocyte of B lineage (B cells and plasma cells)
    "CL:0000113",  # mononuclear phagocyte (monocytes, macrophages, dendritic cells)
    "CL:0000766",  # myeloid leukocyte (granulocytes, mast cells)
    "CL:0000764",  # erythroid lineage cell
    "CL:0000556",  # megakaryocyte
    "CL:0000233",  # platelet
    "CL:0008001",  # hematopoietic precursor cell
    "CL:0000738",  # leukocyte
    "CL:0000115",  # endothelial cell
    "CL:0000066",  # epithelial cell
    "CL:0000057",  # fibroblast
    "CL:0000669",  # pericyte
    "CL:0000192",  # smooth muscle cell
    "CL:0000187",  # muscle cell
    "CL:0000136",  # adipocyte
    "CL:0000125",  # glial cell
    "CL:0000540",  # neuron
    "CL:0000586",  # germ cell
    "CL:0001064",  # malignant cell
    "CL:0000499",  # stromal cell
    "CL:0002320",  # connective tissue cell
    "CL:0000034",  # stem cell
    "CL:0000988",  # hematopoietic cell
)

# Intermediate groups, more specific ones first.
DETAILED_GROUPS = (
    "CL:0000815",  # regulatory T cell
    "CL:0000624",  # CD4-positive, alpha-beta T cell
    "CL:0000625",  # CD8-positive, alpha-beta T cell
    "CL:0000798",  # gamma-delta T cell
    "CL:0000814",  # mature NK T cell
    "CL:0000940",  # mucosal-associated invariant T cell
    "CL:0000623",  # natural killer cell
    "CL:0001065",  # innate lymphoid cell
    "CL:0000980",  # plasmablast
    "CL:0000786",  # plasma cell
    "CL:0000236",  # B cell
    "CL:0000576",  # monocyte
    "CL:0000235",  # macrophage
    "CL:0000784",  # plasmacytoid dendritic cell
    "CL:0000451",  # dendritic cell
    "CL:0000775",  # neutrophil
    "CL:0000771",  # eosinophil
    "CL:0000767",  # basophil
    "CL:0000097",  # mast cell
    "CL:0000232",  # erythrocyte
    "CL:0000556",  # megakaryocyte
    "CL:0000233",  # platelet
    "CL:0000037",  # hematopoietic stem cell
    "CL:0002138",  # endothelial cell of lymphatic vessel
    "CL:0002139",  # endothelial cell of vascular tree
    "CL:0000182",  # hepatocyte
    "CL:1000488",  # cholangiocyte
    "CL:0000584",  # enterocyte
    "CL:0000160",  # goblet cell
    "CL:0000164",  # enteroendocrine cell
    "CL:0000510",  # paneth cell
    "CL:0002204",  # tuft cell
    "CL:0000312",  # keratinocyte
    "CL:0000646",  # basal cell
    "CL:0000064",  # ciliated cell
    "CL:0000158",  # club cell
    "CL:0002063",  # pulmonary alveolar type 2 cell
    "CL:0000669",  # pericyte
    "CL:0000186",  # myofibroblast cell
    "CL:0000057",  # fibroblast
    "CL:0000359",  # vascular associated smooth muscle cell
    "CL:0000192",  # smooth muscle cell
    "CL:0000746",  # cardiac muscle cell
    "CL:0000127",  # astrocyte
    "CL:0002453",  # oligodendrocyte precursor cell
    "CL:0000128",  # oligodendrocyte
    "CL:0000129",  # microglial cell
    "CL:0002573",  # Schwann cell
    "CL:0000540",  # neuron
    "CL:0000136",  # adipocyte
)

_GENERAL_COLUMNS = ("Predicted General Cell Type", "Predicted Main Cell Type")
_DETAILED_COLUMNS = ("Predicted Detailed Cell Type",)
_SUBTYPE_LIST_COLUMNS = ("Predicted Sub Cell Types",)
_BATCH = 60  # annotations per model call


@lru_cache(maxsize=4096)
def _term(name: str) -> str | None:
    return ontology.map_name(name).cl_id


@lru_cache(maxsize=4096)
def _lineage(cl_id: str) -> frozenset[str]:
    return frozenset([cl_id, *ontology.ancestors(cl_id)])


def _first_anchor(cl_id: str, anchors: Sequence[str]) -> str | None:
    lineage = _lineage(cl_id)
    return next((a for a in anchors if a in lineage), None)


def ontology_groups(annotation: str, n_levels: int = 3) -> list[str]:
    """The deterministic grouping of one annotation, broadest level first (see the module doc)."""
    if n_levels < 1:
        raise InputError(f"merging needs at least one level, got {n_levels}.")
    text = str(annotation).strip()
    cl_id = _term(text) if text else None
    if cl_id is None:
        return [text] * n_levels
    own = ontology.label(cl_id) or text
    broad = ontology.label(_first_anchor(cl_id, BROAD_GROUPS) or cl_id) or own
    detailed = ontology.label(_first_anchor(cl_id, DETAILED_GROUPS) or cl_id) or own
    if n_levels == 1:
        return [broad]
    return [broad] + [detailed] * (n_levels - 2) + [own]


def _checked_group(member: str, group: str) -> tuple[str, str | None]:
    """The group, or its correction when the ontology says it does not contain the member."""
    member_id, group_id = _term(member), _term(group)
    if member_id is None or group_id is None or ontology.is_ancestor(group_id, member_id):
        return group, None
    common = ontology.lowest_common_ancestor(group_id, member_id)
    fixed = ontology.label(common) if common else None
    if not fixed:
        return member, f"'{group}' does not contain '{member}'; kept the annotation itself"
    return fixed, f"'{group}' does not contain '{member}' in the Cell Ontology; replaced by '{fixed}'"


# ---------------------------------------------------------------- input


def _frame_of(results: Any) -> pd.DataFrame:
    if isinstance(results, pd.DataFrame):
        return results.copy()
    if hasattr(results, "to_frame") and hasattr(results, "results"):
        return results.to_frame()
    if isinstance(results, (str, Path)):
        path = Path(results)
        if path.is_dir():
            if (path / "summary.csv").exists():
                path = path / "summary.csv"
            else:
                return summary_frame(read_results(path))
        if not path.exists():
            raise InputError(f"{path} does not exist; pass a summary.csv, a run directory, a DataFrame or a RunResult.")
        return restore_csv(pd.read_csv(path, dtype={"Cluster ID": str}))
    raise InputError(f"cannot merge a {type(results).__name__}; pass a summary.csv, a run directory, "
                     "a DataFrame or a RunResult.")


def _clean(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _annotations(frame: pd.DataFrame, column: str | None) -> list[str | None]:
    if column is not None:
        if column not in frame.columns:
            raise InputError(f"column {column!r} is not in the table (columns: {', '.join(map(str, frame.columns))}).")
        return [_clean(v) for v in frame[column]]
    general = next((c for c in _GENERAL_COLUMNS if c in frame.columns), None)
    detailed = next((c for c in _DETAILED_COLUMNS if c in frame.columns), None)
    listed = next((c for c in _SUBTYPE_LIST_COLUMNS if c in frame.columns), None)
    if general is None and detailed is None:
        raise InputError("the table has no 'Predicted Detailed Cell Type' or 'Predicted General Cell Type' column; "
                         "pass a CASSIA summary or name the column to merge with column=.")
    values = []
    for _, row in frame.iterrows():
        value = _clean(row[detailed]) if detailed else None
        if value is None and listed is not None:
            value = next((s.strip() for s in (_clean(row[listed]) or "").split(",") if s.strip()), None)
        values.append(value if value is not None else (_clean(row[general]) if general else None))
    return values


# ---------------------------------------------------------------- model


async def _ask_model(names: list[str], levels: Sequence[str], *, provider, species: str, tissue: str | None,
                     notes: dict[str, list[str]]) -> dict[str, list[str]]:
    given = {text_key(n): n for n in names}
    answers: dict[str, list[str]] = {}
    session = ClusterSession(cluster="merge", markers=[], species=species, tissue=tissue)
    batches = [names[i:i + _BATCH] for i in range(0, len(names), _BATCH)]
    replies = await asyncio.gather(*(group_annotations(session, provider, batch, levels) for batch in batches),
                                   return_exceptions=True)
    for batch, reply in zip(batches, replies):
        if isinstance(reply, CassiaError):
            for name in batch:
                notes[name].append(redact(f"model call failed ({type(reply).__name__}: {reply}); ontology grouping used"))
            continue
        if isinstance(reply, BaseException):
            raise reply
        for item in reply.assignments:
            original = given.get(text_key(item.annotation))
            if original is None or original not in batch:
                continue  # an annotation nobody asked about
            groups = [g.strip() for g in item.groups]
            if len(groups) != len(levels) or not all(groups):
                notes[original].append(f"model gave {len(groups)} groups for {len(levels)} levels; ontology grouping used")
                continue
            answers[original] = groups
    return answers


@checked
async def amerge_annotations(results: Any, *, provider: ProviderLike = None, model: str | None = None,
                             levels: Sequence[str] = ("broad", "detailed", "very detailed"),
                             column: str | None = None, species: str = "human", tissue: str | None = None,
                             api_key: str | None = None, base_url: str | None = None, use_cache: bool = True,
                             cache_path: PathLike | None = None) -> pd.DataFrame:
    """Async :func:`merge_annotations`."""
    levels = [str(level) for level in levels]
    if not levels:
        raise InputError("levels is empty; give at least one level name, e.g. ('broad', 'detailed').")
    frame = _frame_of(results)
    values = _annotations(frame, column)
    names = list(dict.fromkeys(v for v in values if v is not None))
    notes: dict[str, list[str]] = {name: [] for name in names}
    answers: dict[str, list[str]] = {}
    llm = resolve_stages(provider=provider, model=model, api_key=api_key, base_url=base_url,
                         use_cache=use_cache, cache_path=cache_path).annotator
    try:
        if llm.config.kind != "offline" and names:
            answers = await _ask_model(names, levels, provider=llm, species=species, tissue=tissue, notes=notes)
    finally:
        close = getattr(llm, "aclose", None)
        if close is not None:
            await close()
    grouped: dict[str, list[str]] = {}
    for name in names:
        proposed = answers.get(name)
        if proposed is None:
            if llm.config.kind != "offline" and not notes[name]:
                notes[name].append("not grouped by the model; ontology grouping used")
            grouped[name] = ontology_groups(name, len(levels))
            continue
        checked = []
        for group in proposed:
            fixed, note = _checked_group(name, group)
            checked.append(fixed)
            if note:
                notes[name].append(note)
        grouped[name] = checked
    for k in range(len(levels)):
        frame[f"Merged_Grouping_{k + 1}"] = [grouped[v][k] if v is not None else None for v in values]
    frame["Merge Notes"] = ["; ".join(notes[v]) or None if v is not None else None for v in values]
    frame.attrs["merge_levels"] = list(levels)
    return frame


@checked
def merge_annotations(
    results: Any, *, provider: ProviderLike = None, model: str | None = None,
    levels: Sequence[str] = ("broad", "detailed", "very detailed"), column: str | None = None,
    species: str = "human", tissue: str | None = None, api_key: str | None = None, base_url: str | None = None,
    use_cache: bool = True, cache_path: PathLike | None = None,
) -> pd.DataFrame:
    """Add ``Merged_Grouping_1..N`` (one per level, broadest first) and ``Merge Notes`` columns.

    ``results``: a summary DataFrame, a ``summary.csv`` or run directory path, or a RunResult.
    The annotation merged per row is ``column`` when given, else the detailed (top subtype)
    annotation, else the general one. Keywords: ``provider`` / ``model`` / ``api_key`` /
    ``base_url`` (None picks the first vendor with a key, else offline), ``levels`` (default
    ``("broad", "detailed", "very detailed")``), ``species``, ``tissue``, ``use_cache``.
    Model groups are checked against the Cell Ontology (see the module doc); with
    ``provider="offline"`` the grouping is the deterministic ontology fallback. The caller's
    DataFrame is not modified; a new one is returned.
    """
    options = dict(locals())
    return run_sync(lambda: amerge_annotations(**options))
