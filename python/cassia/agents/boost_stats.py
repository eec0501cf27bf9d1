"""Deterministic answers to Annotation Boost's gene questions, read from a cluster's full table.

No model is involved here: every number the boost agent sees comes from the marker table.
Genes are matched case-insensitively (so ``Cd8a`` finds ``CD8A``); a short table of protein
and CD names that people and models habitually use instead of gene symbols (``CD16`` for
``FCGR3A``) is tried when the name itself is absent. A gene the table does not hold is said to
be absent, never guessed.

A processed marker list (cluster + genes, no statistics) is only a ranked list: a lookup can say
whether a gene is in it and where (:attr:`GeneIndex.evidence` is ``"ranked list"``), and a gene
outside it cannot be checked at all, which :meth:`~cassia.models.GeneStat.describe` says.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..markers import ClusterMarkers
from ..models import Evidence, GeneStat

# Protein / CD names -> HGNC symbol; only names that are not themselves gene symbols.
ALIASES: dict[str, str] = {
    "CD3": "CD3E", "CD8": "CD8A", "CD11B": "ITGAM", "CD11C": "ITGAX", "CD16": "FCGR3A",
    "CD20": "MS4A1", "CD21": "CR2", "CD23": "FCER2", "CD25": "IL2RA", "CD31": "PECAM1",
    "CD32": "FCGR2A", "CD45": "PTPRC", "CD45RA": "PTPRC", "CD45RO": "PTPRC", "CD49A": "ITGA1",
    "CD56": "NCAM1", "CD57": "B3GAT1", "CD62L": "SELL", "CD64": "FCGR1A", "CD10": "MME",
    "CD90": "THY1", "CD103": "ITGAE", "CD105": "ENG", "CD117": "KIT", "CD127": "IL7R",
    "CD133": "PROM1", "CD138": "SDC1", "CD140A": "PDGFRA", "CD140B": "PDGFRB", "CD161": "KLRB1",
    "CD206": "MRC1", "CD326": "EPCAM", "HLA-DR": "HLA-DRA", "PD-1": "PDCD1", "PD1": "PDCD1",
    "PD-L1": "CD274", "PDL1": "CD274", "CTLA-4": "CTLA4", "TIM-3": "HAVCR2", "TIM3": "HAVCR2",
    "LAG-3": "LAG3", "KI67": "MKI67", "KI-67": "MKI67", "NKP46": "NCR1",
    "GITR": "TNFRSF18", "4-1BB": "TNFRSF9", "OX40": "TNFRSF4", "TCF-1": "TCF7", "TCF1": "TCF7",
    "GRANZYME B": "GZMB", "PERFORIN": "PRF1", "ALPHA-SMA": "ACTA2", "ASMA": "ACTA2",
    "SMA": "ACTA2", "VE-CADHERIN": "CDH5", "E-CADHERIN": "CDH1", "VIMENTIN": "VIM",
    "T-BET": "TBX21", "TBET": "TBX21", "EOMESODERMIN": "EOMES", "FOXP-3": "FOXP3",
    "INSULIN": "INS", "GLUCAGON": "GCG", "ALBUMIN": "ALB", "MYOGLOBIN": "MB",
}
# Numbers shown for each gene, in this order (Seurat's names).
SHOWN = ("avg_log2FC", "pct.1", "pct.2", "p_val_adj")


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _exact(value) -> float | None:
    """A float32 (the compact table) as the decimal it stands for: 2.2, not 2.2000000476837."""
    return _number(str(value)) if isinstance(value, np.float32) else _number(value)


class GeneIndex:
    """Case-insensitive access to one cluster's full statistics table, built once per cluster.

    Holds one position per gene and the cluster's statistic columns (views of the shared table
    where pandas allows): a row becomes numbers only when asked for. A record per row for a
    4,700-gene atlas cluster was megabytes, times every cluster boosted at once.
    """

    def __init__(self, cluster_markers: ClusterMarkers):
        genes = cluster_markers.table_genes()
        self.size = len(genes)
        self._genes = genes
        self._position: dict[str, int] = {}
        for i, gene in enumerate(genes):
            self._position.setdefault(gene.upper(), i)  # first occurrence wins
        present = set(cluster_markers.table.columns)
        self._columns = {c: pd.to_numeric(cluster_markers.column(c), errors="coerce").to_numpy()
                         for c in SHOWN if c in present}
        self.evidence: Evidence = ("statistics" if any((~np.isnan(v)).any() for v in self._columns.values())
                                   else "ranked list")
        self._rank: dict[str, int] = {}
        fold = self._columns.get("avg_log2FC")
        if self.evidence == "ranked list":  # the list's own order is all there is
            order = range(len(genes))
        elif fold is not None and not np.isnan(fold).all():
            known = np.flatnonzero(~np.isnan(fold))
            order = known[np.argsort(-fold[known], kind="stable")]  # largest change first, ties in table order
        else:
            order = ()
        for position, row in enumerate(order, start=1):
            self._rank.setdefault(genes[row].upper(), position)

    def _value(self, column: str, row: int) -> float | None:
        values = self._columns.get(column)
        return None if values is None else _exact(values[row])

    def lookup(self, query: str) -> GeneStat:
        asked = str(query).strip()
        key = asked.upper()
        via_alias = False
        if key not in self._position and key in ALIASES:
            key, via_alias = ALIASES[key], True
        row = self._position.get(key)
        if row is None:
            return GeneStat(query=asked, table_size=self.size)
        return GeneStat(
            query=asked, gene=self._genes[row], found=True, via_alias=via_alias,
            avg_log2FC=self._value("avg_log2FC", row), pct_1=self._value("pct.1", row),
            pct_2=self._value("pct.2", row), p_val_adj=self._value("p_val_adj", row),
            rank=self._rank.get(key), table_size=self.size,
        )

    def lookup_all(self, genes: Iterable[str]) -> list[GeneStat]:
        """Each distinct query once (case-insensitive), in the order asked; blanks skipped."""
        seen: set[str] = set()
        out = []
        for gene in genes:
            key = str(gene).strip().upper()
            if key and key not in seen:
                seen.add(key)
                out.append(self.lookup(gene))
        return out


def stats_frame(stats: list[GeneStat]) -> pd.DataFrame:
    """The table :func:`cassia.query_genes` returns (Seurat column names)."""
    columns = ["query", "gene", "found", "via_alias", *SHOWN, "rank", "table_size"]
    rows = [{**s.model_dump(), "pct.1": s.pct_1, "pct.2": s.pct_2} for s in stats]
    frame = pd.DataFrame(rows, columns=columns)
    frame["found"] = frame["found"].astype(bool)
    frame["via_alias"] = frame["via_alias"].astype(bool)
    frame["rank"] = frame["rank"].astype("Int64")
    return frame
