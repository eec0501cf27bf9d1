"""Every kind of bad input gets one InputError that names the problem and the fix."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anndata
import numpy as np
import pandas as pd
import pyreadr
import pytest

from cassia.errors import InputError
from cassia.markers import MarkerFilters, load_markers

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "markers"
PBMC = DATA / "pbmc3k_findallmarkers.csv"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def pbmc() -> pd.DataFrame:
    return pd.read_csv(PBMC)


def error_of(source, **kwargs) -> str:
    with pytest.raises(InputError) as err:
        load_markers(source, **kwargs)
    return str(err.value)


# ---- columns --------------------------------------------------------------------------------

def test_misspelled_cluster_column_suggests_the_nearest():
    message = error_of(FIXTURES / "misspelled_columns.csv")
    assert "no cluster column" in message and "Did you mean 'clustr'" in message
    assert "cluster_col" in message


def test_missing_gene_column_lists_the_columns(pbmc):
    message = error_of(pbmc.drop(columns="gene"))
    assert "no gene column" in message and "gene_col" in message and "'p_val_adj'" in message


def test_findmarkers_table_without_cluster_column(pbmc):
    message = error_of(pbmc.drop(columns="cluster"))
    assert "no cluster column" in message and "FindAllMarkers" in message


def test_explicit_column_that_does_not_exist(pbmc):
    message = error_of(pbmc, cluster_col="clusterr")
    assert "cluster_col='clusterr'" in message and "Did you mean 'cluster'" in message
    renamed = pbmc.rename(columns={"cluster": "leiden_res1", "gene": "symbol_x"})
    ms = load_markers(renamed, cluster_col="leiden_res1", gene_col="symbol_x")
    assert ms.columns["cluster"] == "leiden_res1" and len(ms) == 9


def test_misspelled_fold_change_column_named_when_ranking_needs_it(pbmc):
    message = error_of(pbmc.rename(columns={"avg_log2FC": "avg_log2F"}))
    assert "avg_log2FC" in message and "'avg_log2F'" in message


def test_misspelled_filter_column_is_named(pbmc):
    message = error_of(pbmc.rename(columns={"p_val_adj": "p_val_adjj"}))
    assert "'p_val_adjj'" in message and "max_p_val_adj=None" in message


def test_absent_filter_column_skips_that_filter_with_a_note(pbmc):
    ms = load_markers(pbmc.drop(columns=["pct.1", "pct.2"]))
    assert any("pct.1 >= 0.1 not applied" in note for note in ms.notes)


# ---- empty ----------------------------------------------------------------------------------

def test_empty_tables(tmp_path, pbmc):
    empty_file = tmp_path / "empty.csv"
    empty_file.write_text("")
    assert "is empty" in error_of(empty_file)
    header_only = tmp_path / "header.csv"
    header_only.write_text("p_val,avg_log2FC,pct.1,pct.2,p_val_adj,cluster,gene\n")
    assert "has no rows" in error_of(header_only)
    assert "has no rows" in error_of(pbmc.iloc[0:0])
    assert "has no rows" in error_of(pd.DataFrame())


# ---- a cluster emptied by the filters --------------------------------------------------------

def test_cluster_emptied_by_filters_is_named_with_counts():
    message = error_of(FIXTURES / "messy_seurat.csv", filters=MarkerFilters(min_log2fc=3.5))
    assert message.startswith("cluster 'cd8-positive, alpha-beta t cell (mixed)' has no genes left")
    assert "of its 2 rows" in message and "avg_log2FC > 3.5 removed 2" in message
    assert "p_val_adj < 0.05 removed 1" in message and "pct.1 >= 0.1 removed 0" in message
    assert "lower min_log2fc (the best avg_log2FC here is 3.1)" in message
    assert "max_p_val_adj=None turns a filter off" in message
    assert "'7_0'" not in message and "'007'" not in message


def test_several_emptied_clusters_in_one_error():
    message = error_of(FIXTURES / "messy_seurat.csv", filters=MarkerFilters(min_pct1=0.999))
    assert message.startswith("3 clusters have no genes left after filtering")
    for name in ("'7_0'", "'cd8-positive, alpha-beta t cell (mixed)'", "'007'"):
        assert name in message


# ---- values ---------------------------------------------------------------------------------

def test_non_numeric_statistics_name_column_and_value(pbmc, tmp_path):
    bad = pbmc.astype({"p_val_adj": object})
    bad.loc[10, "p_val_adj"] = "n.s."
    message = error_of(bad)
    assert "'p_val_adj'" in message and "'n.s.'" in message and "row 11" in message
    path = tmp_path / "shifted.csv"
    pbmc.assign(avg_log2FC=pbmc["avg_log2FC"].astype(str).where(pbmc.index != 3, "CD3E")).to_csv(path, index=False)
    message = error_of(path)
    assert "'avg_log2FC'" in message and "'CD3E'" in message


def test_non_numeric_ranking_column(pbmc):
    message = error_of(pbmc.assign(note="high"), ranking="note")
    assert "'note'" in message and "'high'" in message and "numeric" in message


@pytest.mark.parametrize("ids,kind", [
    (lambda i: f"ENSG{i:011d}", "Ensembl"),
    (lambda i: f"ENSMUSG{i:011d}.2", "Ensembl"),
    (lambda i: str(1000 + i), "Entrez"),
])
def test_gene_ids_instead_of_symbols(pbmc, ids, kind):
    genes = {g: ids(i) for i, g in enumerate(pbmc["gene"].unique())}
    message = error_of(pbmc.assign(gene=pbmc["gene"].map(genes)))
    assert f"{kind} IDs" in message and "convert them to symbols" in message


def test_ensembl_fixture_file():
    assert "Ensembl IDs" in error_of(FIXTURES / "ensembl_ids.csv")


def test_a_few_id_like_names_among_symbols_are_fine(pbmc):
    mixed = pbmc.copy()
    mixed.loc[:20, "gene"] = [f"ENSG{i:011d}" for i in range(21)]
    assert len(load_markers(mixed)) == 9


def test_duplicated_cluster_gene_rows(pbmc):
    doubled = pd.concat([pbmc, pbmc[pbmc["cluster"] == 4].head(3)], ignore_index=True)
    message = error_of(doubled)
    assert "duplicated (cluster, gene)" in message and "cluster '4'" in message
    assert "3 duplicated" in message and "drop_duplicates" in message


def test_missing_gene_names(pbmc):
    message = error_of(pbmc.assign(gene=pbmc["gene"].where(pbmc.index != 5, None)))
    assert "no gene name" in message and "row 6" in message


# ---- arguments ------------------------------------------------------------------------------

def test_unknown_ranking_suggests(pbmc):
    message = error_of(pbmc, ranking="avg_lgFC")
    assert "unknown ranking 'avg_lgFC'" in message and "Did you mean 'avg_log2FC'" in message
    assert "pct_diff" in message


def test_ranking_on_a_missing_statistic(pbmc):
    message = error_of(pbmc.drop(columns="pct.2"), ranking="pct_diff")
    assert "pct.2" in message


@pytest.mark.parametrize("kwargs,fragment", [
    ({"n_genes": 0}, "n_genes"),
    ({"n_genes": 2.5}, "n_genes"),
    ({"filters": MarkerFilters(min_log2fc="1")}, "min_log2fc"),
    ({"filters": {"min_log2fc": 1}}, "MarkerFilters"),
])
def test_bad_arguments(pbmc, kwargs, fragment):
    assert fragment in error_of(pbmc, **kwargs)


# ---- sources --------------------------------------------------------------------------------

def test_bad_sources(tmp_path):
    assert "not found" in error_of(tmp_path / "nope.csv")
    assert "cannot read markers from a int" in error_of(42)
    (tmp_path / "m.xlsx").write_bytes(b"PK")
    assert "save the sheet as CSV" in error_of(tmp_path / "m.xlsx")
    assert "is a directory" in error_of(tmp_path)


def test_rds_that_is_not_a_data_frame(tmp_path):
    garbage = tmp_path / "garbage.rds"
    garbage.write_bytes(b"not an rds file")
    assert "cannot read garbage.rds as an R data.frame" in error_of(garbage)
    a_list = tmp_path / "list.rds"
    subprocess.run(["Rscript", "-e", f"saveRDS(list(a = 1, b = 'x'), '{a_list}')"], check=True)
    assert "holds no data.frame" in error_of(a_list)


def test_rds_with_r_row_names_reads(tmp_path, pbmc):
    path = tmp_path / "m.rds"
    pyreadr.write_rds(str(path), pbmc.set_index(pbmc["gene"] + "." + pbmc["cluster"].astype(str)))
    assert load_markers(path)["0"].genes == load_markers(pbmc)["0"].genes


def test_anndata_without_rank_genes_groups(tmp_path):
    adata = anndata.AnnData(X=np.zeros((2, 2), dtype=np.float32))
    assert "sc.tl.rank_genes_groups" in error_of(adata)
    path = tmp_path / "plain.h5ad"
    adata.write_h5ad(path)
    assert "sc.tl.rank_genes_groups" in error_of(path)


def test_processed_table_problems(tmp_path):
    repeated = pd.DataFrame({"cluster": ["a", "a"], "markers": ["CD3E, CD8A", "LYZ, CD14"]})
    assert "cluster 'a' has more than one row" in error_of(repeated)
    empty_list = pd.DataFrame({"cluster": ["a", "b"], "markers": ["CD3E, CD8A", " , "]})
    assert "cluster 'b' has an empty marker list" in error_of(empty_list)
    one_column = pd.DataFrame({"markers": ["CD3E, CD8A"]})
    assert "cannot recognise" in error_of(one_column)
    long_dup = pd.DataFrame({"cluster": ["a", "a"], "gene": ["CD3E", "CD3E"]})
    assert "duplicated (cluster, gene)" in error_of(long_dup)
    unquoted = tmp_path / "unquoted.csv"
    unquoted.write_text("cluster,markers\n0,CD3E,CD8A\n1,LYZ,CD14\n")
    assert "put each comma-separated gene list in quotes" in error_of(unquoted)


def test_r_na_gene_name_in_a_text_file(tmp_path):
    path = tmp_path / "na.csv"
    path.write_text("p_val,avg_log2FC,pct.1,pct.2,p_val_adj,cluster,gene\n"
                    "1e-9,2,0.5,0.1,1e-5,0,CD3E\n1e-9,2,0.5,0.1,1e-5,0,NA\n")
    assert "1 row(s) of" in error_of(path) and "no gene name (first at row 2)" in error_of(path)


def test_ranking_advice_names_the_option_as_the_interface_spells_it():
    from cassia.spelling import interface

    scored = pd.DataFrame({"cluster": ["a", "a", "b", "b"], "gene": ["CD3E", "CD2", "MS4A1", "CD79A"],
                           "score": [5.0, 4.0, 6.0, 3.0], "p_val_adj": [0.0] * 4})
    with interface("cli"), pytest.raises(InputError, match=r"Choose one with --ranking \w+\.$"):
        load_markers(scored, ranking="avg_log2FC", filters=MarkerFilters(None, None, None))
    with interface("r"), pytest.raises(InputError, match=r"ranking = \"pct_diff\" needs pct.1"):
        load_markers(scored, ranking="pct_diff", filters=MarkerFilters(None, None, None))


def test_a_missing_gene_column_lists_the_other_columns_in_the_users_words():
    from cassia.spelling import interface

    no_gene = pd.DataFrame({"cluster": ["a", "b"], "symbolz": ["CD3E", "MS4A1"], "avg_log2FC": [1.0, 2.0]})
    with interface("r"), pytest.raises(InputError) as caught:
        load_markers(no_gene)
    message = str(caught.value)
    assert message.startswith("the data frame has no gene column")
    assert "The other columns are: ['symbolz', 'avg_log2FC']" in message  # cluster was matched already
    with pytest.raises(InputError, match="^the DataFrame has no gene column"):
        load_markers(no_gene)
