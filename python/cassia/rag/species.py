"""Cross-species agent: how human/mouse marker knowledge carries over to other organisms.

Marker databases describe human and mouse. For any other organism (cat, tiger, pangolin, shark,
zebrafish, ...) the agent compares it with the reference species and returns
:class:`CrossSpeciesNotes`: the cluster's markers whose meaning is conserved, markers known to
diverge, orthology caveats, and how to read the list. Human and mouse runs skip it. Without a
language model :func:`rules_cross_species` gives a database-based reading: which of the
cluster's genes are markers in both human and mouse records (likely conserved), in one only, or
in neither (no reference knowledge), plus the caveats that hold for any symbol-based transfer.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..knowledge import normalise_species
from ..knowledge.markerdb import MarkerIndex

REFERENCE_SPECIES = ("human", "mouse")


def needs_cross_species(species: str | None) -> bool:
    """True for organisms other than human and mouse (by name or scientific name)."""
    return normalise_species(species) not in REFERENCE_SPECIES


class CrossSpeciesNotes(BaseModel):
    """The Cross-species agent's answer."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "organism": "cat",
        "reference_species": ["human", "mouse"],
        "conserved_markers": ["CD3E", "PTPRC"],
        "divergent_markers": [],
        "orthology_caveats": ["Some immune receptor families differ in copy number between carnivores and primates."],
        "reading_advice": "Read the markers by their human orthologs; lineage markers carry over well.",
    }]}, extra="ignore")
    organism: str = Field(description="The organism of the data.")
    reference_species: list[str] = Field(description="Species whose marker knowledge is used as the reference.")
    conserved_markers: list[str] = Field(description="Cluster markers whose cell-type meaning is conserved.")
    divergent_markers: list[str] = Field(description="Markers whose expression or function is known to differ.")
    orthology_caveats: list[str] = Field(description="Orthology problems that matter for this list.")
    reading_advice: str = Field(description="How to read this cluster's markers for this organism.")


def database_support(genes: list[str], index: MarkerIndex) -> dict[str, list[str]]:
    """The cluster's genes by where they are recorded as markers: both species, one, or neither."""
    human, mouse = index.view("human").postings, index.view("mouse").postings
    out: dict[str, list[str]] = {"both": [], "human": [], "mouse": [], "neither": []}
    for gene in genes:
        key = gene.strip().upper()
        where = "both" if key in human and key in mouse else "human" if key in human else (
            "mouse" if key in mouse else "neither")
        out[where].append(gene.strip())
    return out


def rules_cross_species(species: str, genes: list[str], index: MarkerIndex) -> CrossSpeciesNotes:
    """A database-based cross-species reading, without a model (deterministic)."""
    support = database_support(genes, index)
    caveats = [
        "Genes are matched to human and mouse records by identical symbols (case-insensitive); "
        "a symbol that is not a true one-to-one ortholog can mislead.",
    ]
    unnamed = [g for g in genes if g.upper().startswith(("LOC", "ENS", "NEWGENE", "NOVEL"))]
    if unnamed:
        caveats.append(f"{len(unnamed)} gene(s) have placeholder identifiers ({', '.join(unnamed[:5])}); "
                       "their orthologs are unknown here, so they carry no reference knowledge.")
    if support["neither"]:
        caveats.append(f"{len(support['neither'])} gene(s) of the list are markers in neither human nor mouse records.")
    one_species = support["human"] + support["mouse"]
    return CrossSpeciesNotes(
        organism=species,
        reference_species=list(REFERENCE_SPECIES),
        conserved_markers=support["both"],
        divergent_markers=one_species,
        orthology_caveats=caveats,
        reading_advice=(
            f"Read the {species} markers by their human and mouse counterparts, trusting most the genes recorded "
            "as markers in both species (listed as conserved); genes recorded in only one reference species may "
            "behave differently in this organism, and candidate types were retrieved from both species' records."
        ),
    )
