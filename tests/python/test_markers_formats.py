"""Every input format load_markers reads, checked against the real FindAllMarkers fixtures."""

from __future__ import annotations

import time
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pyreadr
import pytest
import scipy.sparse as sp

from cassia.markers import MarkerFilters, MarkerSet, load_markers

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "markers"
FIXTURES = Path(__file__).parent / "fixtures"
REAL = ["pbmc3k", "cd8_subcluster", "large_intestine"]


def real_path(name: str) -> Path:
    return DATA / f"{name}_findallmarkers.csv"


def expected_top(table: pd.DataFrame, *, gene="gene", lfc="avg_log2FC", padj="p_val_adj",
                 pct1="pct.1", n=50) -> list[str]:
    """The selection done by hand: default filters, highest fold change first, file order on ties."""
    keep = table[(table[padj] < 0.05) & (table[lfc] > 0.25) & (table[pct1] >= 0.1)]
    return keep.sort_values(lfc, ascending=False, kind="mergesort")[gene].head(n).tolist()


@pytest.mark.parametrize("name", REAL)
def test_real_findallmarkers_csv(name):
    table = pd.read_csv(real_path(name))
    ms = load_markers(real_path(name))
    assert ms.source_format == "seurat"
    assert ms.ranking == "avg_log2FC" and ms.n_genes == 50
    assert ms.cluster_ids() == [str(c) for c in table["cluster"].unique()]
    for cm in ms:
        part = table[table["cluster"].astype(str) == cm.cluster]
        assert list(cm.genes) == expected_top(part)
        assert len(cm.stats) == len(part)  # the full, unfiltered table is kept
        assert list(cm.stats.columns[:6]) == ["gene", "avg_log2FC", "pct.1", "pct.2", "p_val", "p_val_adj"]
        assert cm.stats.loc[cm.stats["selected"], "gene"].tolist() == sorted(
            cm.genes, key=lambda g: part["gene"].tolist().index(g))


def test_large_intestine_rownames_and_string_clusters_and_speed():
    started = time.perf_counter()
    ms = load_markers(real_path("large_intestine"))
    elapsed = time.perf_counter() - started
    print(f"\nload_markers(large_intestine, 31,313 rows): {elapsed:.3f} s")
    assert "cd8-positive, alpha-beta t cell (mixed)" in ms.cluster_ids()
    wrong = ms["monocyte (inaccurate annotation)"]
    assert {"SOX10", "PLP1", "CDH19"} <= set(wrong.genes)  # the glial markers, by their gene column
    table = pd.read_csv(real_path("large_intestine"))
    rownames_only = set(table["Unnamed: 0"]) - set(table["gene"])  # e.g. LGI4.1, CRYAB.2
    assert len(rownames_only) > 1000
    assert not rownames_only & {g for cm in ms for g in cm.stats["gene"]}
    assert "" not in ms.columns.values() and ms.columns["gene"] == "gene"
    assert (wrong.stats.loc[wrong.stats["selected"], "avg_log2FC"] > 0.25).all()
    assert (wrong.stats["avg_log2FC"] < 0).any()  # negative rows stay in the full table


def test_messy_r_written_csv(tmp_path):
    ms = load_markers(FIXTURES / "messy_seurat.csv")
    assert ms.cluster_ids() == ["7_0", "cd8-positive, alpha-beta t cell (mixed)", "007"]
    assert ms["7_0"].genes == ("CD3E", "CD8A", "GZMK")  # Inf first; NA p-value and -Inf excluded
    assert ms["7_0"].stats["avg_log2FC"].iloc[0] == np.inf
    assert ms["7_0"].stats.loc[3, "gene"] == "NKG7" and np.isnan(ms["7_0"].stats.loc[3, "p_val_adj"])
    assert ms["007"].genes == ("MS4A1", "CD79A")
    assert ms["cd8-positive, alpha-beta t cell (mixed)"].genes == ("CD8A",)


def test_old_seurat_natural_log_tsv_with_short_header():
    ms = load_markers(FIXTURES / "old_seurat_avg_logFC.tsv")
    assert "natural log" in ms.columns["avg_log2FC"]
    assert any("avg_logFC" in note for note in ms.notes)
    assert ms["0"].stats["avg_log2FC"].round(3).tolist() == pytest.approx([2.0, 1.0, 0.144], abs=1e-6)  # float32
    assert ms["0"].genes == ("LYZ", "S100A8") and ms["1"].genes == ("MS4A1",)


@pytest.mark.parametrize("suffix,sep", [(".tsv", "\t"), (".txt", "\t"), (".csv", ";"), (".csv.gz", ",")])
def test_delimiters_are_sniffed(tmp_path, suffix, sep):
    table = pd.read_csv(real_path("cd8_subcluster"))
    path = tmp_path / f"markers{suffix}"
    table.to_csv(path, sep=sep, index=False)
    ms = load_markers(path)
    reference = load_markers(real_path("cd8_subcluster"))
    assert [c.genes for c in ms] == [c.genes for c in reference]


def test_rds_written_with_pyreadr(tmp_path):
    table = pd.read_csv(real_path("large_intestine"), index_col=0)  # R row names as the index
    table["cluster"] = pd.Categorical(table["cluster"])  # a factor, as FindAllMarkers returns it
    path = tmp_path / "markers.rds"
    pyreadr.write_rds(str(path), table)
    ms = load_markers(path)
    reference = load_markers(real_path("large_intestine"))
    assert ms.cluster_ids() == reference.cluster_ids()  # first appearance, not factor level order
    assert [c.genes for c in ms] == [c.genes for c in reference]


def test_dataframe_with_factor_and_integer_clusters():
    table = pd.read_csv(real_path("pbmc3k"))
    as_factor = table.assign(cluster=pd.Categorical(table["cluster"]))
    ms = load_markers(as_factor)
    assert ms.cluster_ids() == [str(i) for i in range(9)]
    assert all(isinstance(c, str) for c in ms.cluster_ids())
    assert [c.genes for c in ms] == [c.genes for c in load_markers(real_path("pbmc3k"))]


def test_cluster_names_stay_exactly_as_written(tmp_path):
    path = tmp_path / "m.csv"
    pd.DataFrame({"cluster": ["007", "007", "1.0"], "gene": ["CD3E", "CD8A", "LYZ"],
                  "avg_log2FC": [1.0, 2.0, 3.0], "p_val_adj": [0.0] * 3, "pct.1": [0.5] * 3}
                 ).to_csv(path, index=False)
    assert load_markers(path).cluster_ids() == ["007", "1.0"]


# ---- Scanpy -------------------------------------------------------------------------------

def pbmc_rank_genes_groups(top: int = 100) -> tuple[anndata.AnnData, pd.DataFrame]:
    """An AnnData whose uns['rank_genes_groups'] is shaped as scanpy writes it, from pbmc3k numbers.

    Returns the AnnData and the long table the test expects (per group, genes by score).
    """
    table = pd.read_csv(real_path("pbmc3k"))
    table["score"] = -np.log10(table["p_val"].clip(lower=1e-300))  # a stand-in, monotone in p
    groups = [str(c) for c in table["cluster"].unique()]
    per = {g: table[table["cluster"].astype(str) == g]
           .sort_values("score", ascending=False, kind="mergesort").head(top) for g in groups}

    def record(column: str, dtype: str) -> np.recarray:
        return np.rec.fromarrays([per[g][column].to_numpy().astype(dtype) for g in groups],
                                 dtype=[(g, dtype) for g in groups])

    genes = sorted(set(table["gene"]))
    pts = pd.DataFrame(0.0, index=genes, columns=groups)
    pts_rest = pd.DataFrame(0.0, index=genes, columns=groups)
    for g in groups:
        pts.loc[per[g]["gene"], g] = per[g]["pct.1"].to_numpy()
        pts_rest.loc[per[g]["gene"], g] = per[g]["pct.2"].to_numpy()
    uns = {"rank_genes_groups": {
        "params": {"groupby": "leiden", "reference": "rest", "method": "wilcoxon", "use_raw": False,
                   "layer": "", "corr_method": "benjamini-hochberg"},
        "names": record("gene", "U30"), "scores": record("score", "float32"),
        "logfoldchanges": record("avg_log2FC", "float32"), "pvals": record("p_val", "float64"),
        "pvals_adj": record("p_val_adj", "float64"), "pts": pts, "pts_rest": pts_rest,
    }}
    obs = pd.DataFrame({"leiden": pd.Categorical(np.repeat(groups, 3))},
                       index=[f"cell{i}" for i in range(3 * len(groups))])
    adata = anndata.AnnData(X=sp.csr_matrix((len(obs), len(genes)), dtype=np.float32), obs=obs,
                            var=pd.DataFrame(index=genes), uns=uns)
    long = pd.concat([per[g].assign(group=g) for g in groups], ignore_index=True)
    for column in ("score", "avg_log2FC"):
        long[column] = long[column].astype("float32").astype(float)
    return adata, long


def scanpy_df(adata: anndata.AnnData) -> pd.DataFrame:
    """What sc.get.rank_genes_groups_df(adata, None) returns, built the way scanpy builds it."""
    result = adata.uns["rank_genes_groups"]
    groups = list(result["names"].dtype.names)
    names = ["names", "scores", "logfoldchanges", "pvals", "pvals_adj"]
    frame = pd.concat([pd.DataFrame(result[c])[groups] for c in names], axis=1,
                      names=[None, "group"], keys=names)
    frame = frame.stack(level=1, future_stack=True).reset_index()
    frame["group"] = pd.Categorical(frame["group"], categories=groups)
    frame = frame.sort_values(["group", "level_0"]).drop(columns="level_0")
    for key, column in (("pts", "pct_nz_group"), ("pts_rest", "pct_nz_reference")):
        melted = result[key][groups].rename_axis(index="names").reset_index().melt(
            id_vars="names", var_name="group", value_name=column)
        frame = frame.merge(melted, on=["names", "group"], how="left")
    return frame.reset_index(drop=True)


def test_anndata_object():
    adata, long = pbmc_rank_genes_groups()
    before = {k: np.array(v, copy=True) for k, v in adata.uns["rank_genes_groups"].items()
              if isinstance(v, np.ndarray)}
    ms = load_markers(adata)
    assert ms.source_format == "scanpy"
    assert ms.columns["gene"] == "names" and ms.columns["avg_log2FC"] == "logfoldchanges"
    assert ms.columns["pct.1"] == "pct_nz_group" and ms.columns["score"] == "scores"
    assert ms.cluster_ids() == [str(i) for i in range(9)]
    for cm in ms:
        part = long[long["group"] == cm.cluster]
        assert list(cm.genes) == expected_top(part)
        assert len(cm.stats) == 100
    for key, value in before.items():  # the caller's AnnData is untouched
        assert np.array_equal(adata.uns["rank_genes_groups"][key], value)


def test_anndata_ranked_by_scores_keeps_scanpy_order():
    adata, long = pbmc_rank_genes_groups()
    ms = load_markers(adata, ranking="scores", n_genes=20)
    assert ms.ranking == "score"
    part = long[long["group"] == "3"]
    passing = part[(part["p_val_adj"] < 0.05) & (part["avg_log2FC"] > 0.25) & (part["pct.1"] >= 0.1)]
    assert list(ms["3"].genes) == passing["gene"].head(20).tolist()


def test_h5ad_file_matches_anndata_object(tmp_path):
    adata, _ = pbmc_rank_genes_groups()
    path = tmp_path / "pbmc.h5ad"
    adata.write_h5ad(path)
    from_file = load_markers(path)
    assert [c.genes for c in from_file] == [c.genes for c in load_markers(adata)]
    assert from_file.source_format == "scanpy"


def test_an_h5ad_with_two_rankings_is_read_by_the_one_named(tmp_path, capsys):
    import copy

    from cassia.cli import main
    from cassia.errors import InputError

    adata, _ = pbmc_rank_genes_groups()
    second = copy.deepcopy(adata.uns["rank_genes_groups"])
    second["names"] = np.array(second["names"].tolist()[::-1], dtype=second["names"].dtype)  # other genes first
    adata.uns["other"] = second
    path = tmp_path / "two.h5ad"
    adata.write_h5ad(path)
    with pytest.raises(InputError, match=r"several rank_genes_groups results .*rank_key="):
        load_markers(path)
    default = load_markers(path, rank_key="rank_genes_groups")
    other = load_markers(path, rank_key="other")
    assert [c.genes for c in default] == [c.genes for c in load_markers(adata, rank_key="rank_genes_groups")]
    assert [c.genes for c in other] != [c.genes for c in default]
    with pytest.raises(InputError, match=r"no rank_genes_groups result under uns\['othr'\].*Did you mean 'other'"):
        load_markers(path, rank_key="othr")
    with pytest.raises(InputError, match="names a ranking inside an AnnData"):
        load_markers(scanpy_df(adata), rank_key="other")
    # the command line: told which flag to use, then reads the ranking named
    assert main(["--quiet", "validate", str(path)]) == 2
    assert "say which one with --rank-key " in capsys.readouterr().err
    assert main(["--quiet", "validate", str(path), "--rank-key", "other", "--json"]) == 0


def test_rank_genes_groups_df_frame():
    adata, _ = pbmc_rank_genes_groups()
    frame = scanpy_df(adata)
    assert list(frame.columns) == ["group", "names", "scores", "logfoldchanges", "pvals", "pvals_adj",
                                   "pct_nz_group", "pct_nz_reference"]
    ms = load_markers(frame)
    assert ms.source_format == "scanpy" and ms.columns["cluster"] == "group"
    assert [c.genes for c in ms] == [c.genes for c in load_markers(adata)]


def test_anndata_without_pts_skips_the_pct_filter():
    adata, long = pbmc_rank_genes_groups()
    del adata.uns["rank_genes_groups"]["pts"], adata.uns["rank_genes_groups"]["pts_rest"]
    ms = load_markers(adata)
    assert any("pct.1" in note and "pts=True" in note for note in ms.notes)
    part = long[long["group"] == "0"]
    keep = part[(part["p_val_adj"] < 0.05) & (part["avg_log2FC"] > 0.25)]
    assert list(ms["0"].genes) == keep.sort_values("avg_log2FC", ascending=False, kind="mergesort")[
        "gene"].head(50).tolist()


def test_filtered_rank_genes_groups_nan_names_are_dropped():
    adata, _ = pbmc_rank_genes_groups(top=10)
    result = adata.uns["rank_genes_groups"]
    names = pd.DataFrame(result["names"]).astype(object)
    names.iloc[5:, :] = np.nan  # what sc.tl.filter_rank_genes_groups leaves behind
    adata.uns["rank_genes_groups_filtered"] = {**result, "names": names}
    del adata.uns["rank_genes_groups"]
    ms = load_markers(adata, filters=MarkerFilters(None, None, None))
    assert all(len(c.stats) == 5 for c in ms)
    assert any("rank_genes_groups_filtered" in note for note in ms.notes)


# ---- processed tables and MarkerSets --------------------------------------------------------

def test_processed_file():
    ms = load_markers(FIXTURES / "processed_markers.csv", n_genes=4)
    assert ms.source_format == "processed"
    assert ms.columns == {"cluster": "cluster", "gene": "markers"}
    assert ms.cluster_ids() == ["monocyte", "7_0", "cd8-positive, alpha-beta t cell (mixed)"]
    assert ms["monocyte"].genes == ("CD14", "LYZ", "FCN1", "S100A8")  # given order, first n
    assert ms["7_0"].genes == ("CD3E", "CD8A", "GZMK")  # stripped, repeat dropped
    assert any("repeated" in note for note in ms.notes)
    assert ms["monocyte"].stats["avg_log2FC"].isna().all()


def test_processed_round_trip_and_long_form():
    ms = load_markers(real_path("pbmc3k"), n_genes=10)
    again = load_markers(ms.to_frame())
    assert again.source_format == "processed"
    assert [c.genes for c in again] == [c.genes for c in ms]
    long = pd.DataFrame({"cell_type": ["B", "B", "T"], "gene": ["MS4A1", "CD79A", "CD3E"]})
    ms_long = load_markers(long)
    assert ms_long.cluster_ids() == ["B", "T"] and ms_long["B"].genes == ("MS4A1", "CD79A")


def test_marker_set_source_reselects_only_when_needed():
    ms = load_markers(real_path("pbmc3k"), n_genes=30, filters=MarkerFilters(min_log2fc=1.0))
    assert load_markers(ms, n_genes=30) is ms  # same arguments; filters=None keeps its own
    fewer = load_markers(ms, n_genes=5)
    assert isinstance(fewer, MarkerSet) and fewer.filters == ms.filters
    assert all(f.genes == c.genes[:5] for f, c in zip(fewer, ms))
    by_p = load_markers(ms.subset(["3", "7"]), n_genes=30, ranking="p_val_adj")
    assert by_p.cluster_ids() == ["3", "7"] and by_p.ranking == "p_val_adj"
