"""AnnData in, AnnData out, on scanpy's bundled pbmc68k_reduced (no download).

pbmc68k_reduced ships a ``uns["rank_genes_groups"]`` computed with logreg for ``bulk_labels``:
exactly the stale default key that must never be used for another grouping.
"""

from __future__ import annotations

import json
import sys
import warnings

import anndata
import numpy as np
import pandas as pd
import pytest
import scanpy as sc  # the scanpy extra, which scripts/setup.sh installs

import cassia
from cassia.errors import ConfigError, InputError, ProviderError
from cassia.providers import get_provider
from cassia.providers.stages import StageProviders


OBS = ["general", "detailed", "score", "ontology_id", "status"]


@pytest.fixture(scope="module")
def pbmc68k() -> anndata.AnnData:
    return sc.datasets.pbmc68k_reduced()


@pytest.fixture
def adata(pbmc68k) -> anndata.AnnData:
    return pbmc68k.copy()


def run(adata, out, **options):
    options.setdefault("provider", "offline")
    return cassia.annotate_anndata(adata, out_dir=out, progress=False, **options)


def per_group(adata, groupby, column) -> dict[str, object]:
    """The one value each group's cells have in ``column`` (fails if a group's cells disagree)."""
    values = adata.obs.groupby(groupby, observed=True)[column].agg(lambda s: list(dict.fromkeys(s.astype(object))))
    assert all(len(v) == 1 for v in values), f"{column} differs within a group"
    return {str(g): v[0] for g, v in values.items()}


def assert_written_from(adata, result, groupby: str, key: str = "cassia") -> None:
    """Every cell carries its group's row of the run's summary."""
    summary = result.to_frame().set_index("Cluster ID")
    for name in ("general", "detailed", "ontology_id", "status"):
        assert isinstance(adata.obs[f"{key}_{name}"].dtype, pd.CategoricalDtype), name
    assert adata.obs[f"{key}_score"].dtype == float
    general = per_group(adata, groupby, f"{key}_general")
    scores = per_group(adata, groupby, f"{key}_score")
    for group, row in summary.iterrows():
        assert general[group] == row["Predicted General Cell Type"]
        assert scores[group] == row["Score"]
    # every group is labelled; an answer that never passed the Validator says so in its status
    assert per_group(adata, groupby, f"{key}_status") == summary["Status"].to_dict()
    assert set(adata.obs[f"{key}_status"]) <= {"ok", "unvalidated"}


def test_bulk_labels_uses_the_stored_ranking_and_writes_every_cell(adata, tmp_path):
    result = run(adata, tmp_path / "bulk", groupby="bulk_labels", tissue="blood", api_key="sk-never-stored-42")
    assert_written_from(adata, result, "bulk_labels")
    assert per_group(adata, "bulk_labels", "cassia_general")["CD19+ B"] == "B cell"
    record = adata.uns["cassia"]
    assert record["groupby"] == "bulk_labels" and record["run_dir"] == str(result.run_dir.resolve())
    assert record["rank_genes_groups"]["computed"] is False
    assert record["rank_genes_groups"]["method"] == "logreg"
    assert record["settings"]["tissue"] == "blood" and "cassia" in record["versions"]
    assert sorted(record["groups"]["group"]) == sorted(adata.obs["bulk_labels"].unique())
    assert list(record["columns"]) == [f"cassia_{n}" for n in OBS[:2]] + ["cassia_score", "cassia_ontology_id",
                                                                           "cassia_status"]
    assert "sk-never-stored-42" not in json.dumps(record, default=str)
    assert "sk-never-stored-42" not in (result.run_dir / "manifest.json").read_text()
    path = tmp_path / "annotated.h5ad"
    adata.write_h5ad(path)  # the record is stored in forms h5ad can hold
    back = anndata.read_h5ad(path)
    assert back.uns["cassia"]["groupby"] == "bulk_labels"
    assert back.obs["cassia_general"].equals(adata.obs["cassia_general"])


def test_louvain_refuses_the_stale_default_key_then_computes_its_own(adata, tmp_path):
    with pytest.raises(InputError, match="groupby='bulk_labels', not 'louvain'"):
        run(adata, tmp_path / "stale", groupby="louvain")
    assert not (tmp_path / "stale").exists()  # refused before any run started
    result = run(adata, tmp_path / "louvain", groupby="louvain", rank_key="rgg_louvain", key_added="cl")
    assert_written_from(adata, result, "louvain", key="cl")
    assert len(result.results) == adata.obs["louvain"].nunique() == 11
    computed = adata.uns["cl"]["rank_genes_groups"]
    assert computed["computed"] is True and computed["method"] == "wilcoxon"
    assert computed["params"]["groupby"] == "louvain" and computed["params"]["pts"] is True
    assert adata.uns["rgg_louvain"]["params"]["groupby"] == "louvain"  # scanpy wrote where we said
    assert adata.uns["rank_genes_groups"]["params"]["method"] == "logreg"  # the old key is untouched
    assert "cassia_general" not in adata.obs  # key_added decides the column names


def test_groups_too_small_to_rank_are_left_out_and_named(adata, tmp_path):
    groups = adata.obs["louvain"].astype(str)
    groups.iloc[0] = "single"  # one cell: scanpy cannot rank it; "unused": a category with no cells
    adata.obs["g"] = pd.Categorical(groups, categories=sorted(set(groups)) + ["unused"])
    result = run(adata, tmp_path / "small", groupby="g", rank_key="rgg_g")
    assert sorted(r.cluster for r in result.results) == sorted(set(groups) - {"single"})
    record = adata.uns["cassia"]
    assert record["rank_genes_groups"]["not_ranked"] == {"single": 1, "unused": 0}
    assert any("single (1 cells)" in note for note in record["notes"])
    assert adata.obs.loc[adata.obs["g"] == "single", "cassia_status"].tolist() == ["not annotated"]
    assert (adata.obs.loc[adata.obs["g"] != "single", "cassia_status"].isin(["ok", "unvalidated"])).all()
    adata.obs["two"] = pd.Categorical(["a"] * (adata.n_obs - 1) + ["b"])
    with pytest.raises(InputError, match="at least two to compare"):
        run(adata, tmp_path / "one", groupby="two", rank_key="rgg_two")


def test_custom_rank_key_is_used_and_the_default_never_wins(adata, tmp_path):
    sc.tl.rank_genes_groups(adata, "louvain", method="t-test", key_added="ttest_louvain")
    result = run(adata, tmp_path / "custom", groupby="louvain", rank_key="ttest_louvain", clusters=["0", "4"],
                 max_p_val_adj=None, min_log2fc=None, min_pct1=None)
    used = adata.uns["cassia"]["rank_genes_groups"]
    assert used == {**used, "key": "ttest_louvain", "computed": False, "method": "t-test"}
    top = pd.DataFrame(adata.uns["ttest_louvain"]["names"])["4"].head(5).tolist()
    b_cells = next(r for r in result.results if r.cluster == "4")
    assert b_cells.markers[:5] == top  # scanpy's order (ranking="scores")
    status = per_group(adata, "louvain", "cassia_status")
    assert status["0"] == status["4"] == "ok" and status["1"] == "not annotated"
    with pytest.raises(InputError, match="several rank_genes_groups results"):
        cassia.load_markers(adata)  # two results stored: which one must be said


def ensembl_copy(pbmc68k) -> anndata.AnnData:
    """The 10x layout: Ensembl IDs as var_names, symbols in var['gene_symbols']."""
    symbols = pbmc68k.raw.var_names
    ids = [f"ENSG{100000 + i:011d}" for i in range(len(symbols))]
    return anndata.AnnData(X=pbmc68k.raw.X.copy(), obs=pbmc68k.obs[["louvain"]].copy(),
                           var=pd.DataFrame({"gene_symbols": list(symbols)}, index=ids))


def test_ensembl_ids_need_gene_symbols_and_work_with_them(pbmc68k, tmp_path):
    adata = ensembl_copy(pbmc68k)
    with pytest.raises(InputError) as caught:
        run(adata, tmp_path / "ids", groupby="louvain", clusters=["4"])
    assert "Ensembl IDs" in str(caught.value) and "gene_symbols=" in str(caught.value)
    assert "'gene_symbols', which looks like symbols" in str(caught.value)
    with pytest.raises(InputError, match="Did you mean 'gene_symbols'"):
        run(adata, tmp_path / "typo", groupby="louvain", gene_symbols="gene_symbol", clusters=["4"])
    result = run(adata, tmp_path / "symbols", groupby="louvain", gene_symbols="gene_symbols", clusters=["4"])
    markers = result.results[0].markers
    assert markers and not any(m.startswith("ENSG") for m in markers)
    assert set(markers) <= set(adata.var["gene_symbols"])
    assert per_group(adata, "louvain", "cassia_general")["4"] == result.to_frame()["Predicted General Cell Type"][0]


class FailFor:
    """The offline annotator, except that the clusters named fail like an unreachable server."""

    def __init__(self, clusters: set[str]):
        self.inner = get_provider("offline")
        self.config = self.inner.config
        self.clusters = clusters

    async def complete(self, request):
        if request.context.get("cluster") in self.clusters:
            raise ProviderError("server unreachable (test)")
        return await self.inner.complete(request)


def failing(clusters: set[str]) -> StageProviders:
    provider = FailFor(clusters)
    return StageProviders(annotator=provider, scorer=provider, boost=provider)


def test_failed_groups_keep_earlier_labels_and_are_named(adata, tmp_path):
    groups = ["CD19+ B", "CD56+ NK", "CD34+"]
    first = run(adata, tmp_path / "first", groupby="bulk_labels", clusters=groups)
    before = adata.obs[[f"cassia_{n}" for n in OBS]].copy()
    with pytest.warns(cassia.AnnotationWarning, match=r"'CD56\+ NK' \(failed \(earlier label kept\)\)"):
        second = run(adata, tmp_path / "second", groupby="bulk_labels", clusters=groups,
                     providers=failing({"CD56+ NK"}))
    assert [r.cluster for r in second.failed] == ["CD56+ NK"]
    nk = adata.obs["bulk_labels"] == "CD56+ NK"
    for name in OBS[:4]:
        assert adata.obs.loc[nk, f"cassia_{name}"].astype(object).equals(before.loc[nk, f"cassia_{name}"].astype(object))
    assert adata.obs.loc[nk, "cassia_general"].notna().all()
    assert set(adata.obs.loc[nk, "cassia_status"]) == {"failed (earlier label kept)"}
    assert set(adata.obs.loc[adata.obs["bulk_labels"] == "CD19+ B", "cassia_status"]) == {"ok"}
    assert list(adata.uns["cassia"]["failed"]) == ["CD56+ NK"]
    assert set(adata.uns["cassia"]["not_in_run"]) == set(adata.obs["bulk_labels"]) - set(groups)
    assert first.run_dir != second.run_dir


def test_failed_group_without_earlier_labels_says_so(adata, tmp_path):
    with pytest.warns(cassia.AnnotationWarning, match=r"'CD34\+' \(failed\)"):
        run(adata, tmp_path / "run", groupby="bulk_labels", clusters=["CD34+", "CD19+ B"],
            providers=failing({"CD34+"}))
    cd34 = adata.obs["bulk_labels"] == "CD34+"
    assert set(adata.obs.loc[cd34, "cassia_status"]) == {"failed"}  # the NaN label is explained
    assert adata.obs.loc[cd34, "cassia_general"].isna().all()


def test_to_adata_from_a_run_directory(adata, pbmc68k, tmp_path):
    result = run(adata, tmp_path / "run", groupby="bulk_labels", clusters=["CD19+ B", "CD14+ Monocyte"])
    fresh = pbmc68k.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", cassia.AnnotationWarning)  # nothing failed: no warning
        record = cassia.RunResult.load(result.run_dir).to_adata(fresh)  # groupby and key from the manifest
    for name in OBS:
        column = f"cassia_{name}"
        assert fresh.obs[column].astype(object).equals(adata.obs[column].astype(object)), column
    assert record["run_dir"] == str(result.run_dir.resolve())
    other = pbmc68k.copy()
    cassia.RunResult.load(result.run_dir).to_adata(other, groupby="bulk_labels", key_added="again")
    assert other.obs["again_general"].astype(object).equals(adata.obs["cassia_general"].astype(object))
    with pytest.raises(InputError, match="not a CASSIA run directory"):
        cassia.RunResult.load(tmp_path / "nothing")


def test_to_adata_of_a_marker_table_run_needs_groupby(adata, tmp_path):
    table = sc.get.rank_genes_groups_df(adata, None).rename(columns={"group": "cluster"})
    result = cassia.run_batch(table, provider="offline", clusters=["CD19+ B"], ranking="scores",
                              out_dir=tmp_path / "table", progress=False)
    with pytest.raises(InputError, match="pass groupby="):
        result.to_adata(adata)
    with pytest.raises(InputError, match="none of the annotated groups"):
        result.to_adata(adata, groupby="louvain")
    result.to_adata(adata, groupby="bulk_labels")
    status = per_group(adata, "bulk_labels", "cassia_status")
    assert status["CD19+ B"] == "ok" and status["CD34+"] == "not annotated"


def test_without_scanpy_the_missing_ranking_is_a_clear_error(adata, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "scanpy", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"cassia\[scanpy\]"):
        run(adata, tmp_path / "x", groupby="louvain", rank_key="not_there")


def test_bad_groupby_and_non_anndata_are_named(adata, tmp_path):
    with pytest.raises(InputError, match="Did you mean 'louvain'"):
        run(adata, tmp_path / "x", groupby="louvian")
    with pytest.raises(InputError, match="needs an AnnData"):
        run(pd.DataFrame({"a": [1]}), tmp_path / "y", groupby="a")
    assert np.all(adata.obs.columns == cassia_free_columns(adata))


def cassia_free_columns(adata) -> list[str]:
    return [c for c in adata.obs.columns if not c.startswith("cassia_")]


def test_output_limits_reach_every_stage_as_in_run_pipeline(pbmc68k, tmp_path, fake_server):
    # a cut-off reply says "raise max_tokens=...": annotate_anndata must take it like run_pipeline
    adata = pbmc68k.copy()
    run(adata, tmp_path / "run", groupby="bulk_labels", provider=fake_server.url, clusters=["CD14+ Monocyte"],
        max_tokens=777, scoring_max_tokens=555, use_cache=False)
    limits = {(r.body or {}).get("max_tokens") for r in fake_server.requests if r.method == "POST"}
    assert limits == {777, 555}
