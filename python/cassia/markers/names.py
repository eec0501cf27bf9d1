"""Column names of marker tables: the accepted spellings of each normalised column.

Shared by :mod:`cassia.markers.read` (which columns to parse as numbers while reading) and
:mod:`cassia.markers.columns` (which input column becomes which normalised one).
"""

from __future__ import annotations

import re

# Normalised name -> accepted spellings, most specific first (the first present one wins).
ALIASES: dict[str, tuple[str, ...]] = {
    "cluster": ("cluster", "group", "clusters", "cluster_id", "ident", "identity", "cell_type",
                "broad.cell.type"),
    "gene": ("gene", "names", "gene_symbol", "symbol", "gene_name", "feature", "genes"),
    "avg_log2FC": ("avg_log2FC", "logfoldchanges", "log2FC", "log2FoldChange", "logFC"),
    "pct.1": ("pct.1", "pct_nz_group", "pct1"),
    "pct.2": ("pct.2", "pct_nz_reference", "pct2"),
    "p_val": ("p_val", "pvals", "pval", "p.value", "pvalue"),
    "p_val_adj": ("p_val_adj", "pvals_adj", "padj", "p_adj", "p.adjust", "fdr", "qval"),
    "score": ("score", "scores"),
}
# Seurat < 4 wrote natural-log fold changes under this name.
NATURAL_LOG_FC = "avg_logFC"
# A first column with one of these headers holds R's row names (make.unique'd genes).
ROWNAME_HEADERS = {"", "unnamed: 0", "rownames", "row.names"}
# Spellings of a missing number in a statistics column.
NA_TEXT = {"", "na", "nan", "null", "none", "n/a", "#n/a", "<na>"}


def key(name: str) -> str:
    """Spelling-insensitive form of a column name: 'P_Val.Adj' -> 'pvaladj'."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


# Spelling-insensitive names of every statistic column (parsed as numbers while reading).
NUMERIC_KEYS = frozenset({key(a) for name, spellings in ALIASES.items() if name not in ("cluster", "gene")
                          for a in (name, *spellings)} | {key(NATURAL_LOG_FC)})
# p-values keep double precision: float32 would flush the 1e-300s of scRNA-seq tables to 0.
EXACT_KEYS = frozenset(key(a) for name in ("p_val", "p_val_adj") for a in (name, *ALIASES[name]))
