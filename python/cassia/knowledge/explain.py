"""Plain-text, step-by-step explanations of a knowledge-base call.

The text follows the Annotator's structure (functional markers, cell-type markers, candidates,
general type, subtypes, summary) so offline runs read like LLM runs in transcripts and reports.
It only ever names genes from the input list: absent expected markers are counted, not named,
so a gene check on the text never finds a gene the cluster does not have.
"""

from __future__ import annotations

from .call import KBCall
from .score import Candidate, MarkerHit

_CONFIDENCE_WORDS = {
    "high": "High confidence: several specific, top-ranked markers agree and no other lineage comes close.",
    "moderate": "Moderate confidence: the call is supported by specific markers, with some caveats below.",
    "low": "Low confidence: the best candidate is supported, but the evidence is thin or another lineage is close.",
    "none": "No confident call: the evidence is too weak to name a cell type.",
}


def hits_text(hits: tuple[MarkerHit, ...] | list[MarkerHit], limit: int = 8) -> str:
    """'CD3D (#1), CD3E (#2), ...' for the best-ranked ``limit`` hits."""
    shown = sorted(hits, key=lambda h: h.rank)[:limit]
    more = len(hits) - len(shown)
    text = ", ".join(f"{h.gene} (#{h.rank})" for h in shown)
    return text + (f" and {more} more" if more > 0 else "")


def candidate_line(i: int, c: Candidate) -> str:
    parts = [f"{i}. {c.name} ({c.cl_id}): score {c.score:.2f}, margin to next {c.margin:.2f}"]
    parts.append(f"   supporting markers: {hits_text(c.matched) or 'none'}")
    if c.negatives:
        parts.append(f"   markers arguing against it: {hits_text(c.negatives)}")
    if c.missing_key_markers:
        n = len(c.missing_key_markers)
        parts.append(f"   {n} of its key markers {'is' if n == 1 else 'are'} not in the list")
    if c.in_tissue is False:
        parts.append("   not usually found in this tissue (down-weighted)")
    return "\n".join(parts)


def explain_call(
    call: KBCall,
    *,
    cluster: str | None = None,
    cancer_aware: bool = False,
    additional_info: str | None = None,
    max_candidates: int = 5,
) -> str:
    """The step-by-step annotation text for one cluster."""
    lines = ["Offline knowledge-base annotation "
             "(CASSIA curated marker knowledge base; deterministic, no language model)."]
    tissue = call.tissue or "tissue-blind (no known tissue given)"
    lines.append(f"Cluster: {cluster or '-'} | species: {call.species} | tissue prior: {tissue} | "
                 f"{len(call.genes)} ranked markers.")
    if additional_info:
        lines.append("Additional information was provided; the offline annotator does not interpret free text, "
                     "so only the markers, species and tissue were used.")

    lines += ["", "Step 1. Key functional markers"]
    if call.functional:
        for program, found in call.functional.items():
            lines.append(f"- {program}: " + ", ".join(f"{g} (#{r})" for g, r in found[:8]))
    else:
        lines.append("- No curated functional program (proliferation, interferon, stress, ...) "
                     "has two or more genes in the list.")

    lines += ["", "Step 2. Key cell-type markers"]
    families_seen: set[str] = set()
    for c in call.candidates:
        if c.general_type in families_seen or len(families_seen) >= 3:
            continue
        families_seen.add(c.general_type)
        lines.append(f"- {c.general_type} family: {hits_text(c.matched)}")
    if not call.candidates:
        lines.append("- None of the markers is a curated marker of any cell type.")

    lines += ["", "Step 3. Cross-reference with the knowledge base (rank- and specificity-weighted scores)"]
    for i, c in enumerate(call.candidates[:max_candidates], 1):
        lines.append(candidate_line(i, c))

    lines += ["", "Step 4. Most probable general cell type"]
    if call.confident and call.general_type:
        lines.append(f"- {call.general_type}")
    else:
        tentative = f" (tentative, unsupported: {call.general_type})" if call.general_type else ""
        lines.append(f"- Unknown{tentative}")

    lines += ["", "Step 5. Top 3 most probable subtypes"]
    subtypes = call.subtypes or ((call.best.name,) if call.best else ())
    if subtypes and call.confident:
        lines += [f"{i}. {name}" for i, name in enumerate(subtypes, 1)]
    else:
        lines.append("- None can be named with the available evidence.")

    lines += ["", "Step 6. Summary"]
    lines.append(summary_sentence(call))
    lines.append(_CONFIDENCE_WORDS[call.confidence])
    for reason in call.reasons:
        lines.append(f"- {reason}")
    if call.mixed_types:
        lines.append("Possible mixed cell types: " + ", ".join(call.mixed_types) + ".")
    if cancer_aware:
        lines += ["", "Cancer-aware note: marker lists alone cannot tell malignant from normal cells of the same type."]
        prolif = call.functional.get("proliferation")
        if prolif:
            lines.append("The cluster proliferates (" + ", ".join(g for g, _ in prolif[:5]) +
                         "); in a tumour sample this is compatible with malignant cells of the called lineage.")
        lines.append("Confirm malignancy with copy-number inference or known driver/fusion transcripts.")
    return "\n".join(lines) + "\n"


def summary_sentence(call: KBCall) -> str:
    if call.best is None:
        return "No marker of the list matches the knowledge base, so the cluster stays unannotated."
    if not call.confident:
        return (f"The best candidate, {call.best.name}, rests on {hits_text(call.best.matched, 4) or 'no markers'}, "
                "which is too little to call a cell type: the answer is Unknown.")
    return (f"The cluster is most likely {call.best.name} (general type: {call.general_type}), "
            f"supported by {hits_text(call.best.matched, 6)}; margin over the runner-up {call.margin:.2f}, "
            f"over the best other lineage {call.lineage_margin:.2f}.")
