"""CASSIA from scanpy: cluster, rank marker genes, annotate, plot the labels on the UMAP.

Run it (no key, no network: the offline annotator answers; pass --provider openai or any other
backend to use a language model):

    python docs/tutorial_scanpy.py --out tutorial_out

It uses scanpy's bundled ``pbmc68k_reduced`` (700 PBMCs, already normalised, with PCA, a
neighbour graph and a UMAP), so nothing is downloaded. The test suite runs this script
(tests/python/test_tutorial.py) and checks the plot it saves.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write files, open no window

import scanpy as sc  # noqa: E402  (after choosing the backend)

import cassia  # noqa: E402


def main(out: Path, provider: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)

    # 1. Data: normalised, with PCA and a neighbour graph already computed.
    adata = sc.datasets.pbmc68k_reduced()

    # 2. Clustering: Leiden on the neighbour graph.
    sc.tl.leiden(adata, resolution=0.8, flavor="igraph", n_iterations=2, directed=False, key_added="leiden")

    # 3. Marker genes per cluster. pts=True adds the fraction of cells expressing each gene,
    #    which CASSIA's pct.1 filter uses. (Skip this and annotate_anndata computes it.)
    sc.tl.rank_genes_groups(adata, "leiden", method="wilcoxon", pts=True, key_added="rank_genes_groups_leiden")

    # 4. Annotation: every cluster through CASSIA's agents; the labels land in adata.obs.
    result = cassia.annotate_anndata(
        adata, groupby="leiden", rank_key="rank_genes_groups_leiden", tissue="peripheral blood",
        species="human", provider=provider, out_dir=out / "run", progress=False,
    )
    print(result.to_frame()[["Cluster ID", "Predicted General Cell Type", "Predicted Detailed Cell Type",
                             "Score"]].to_string(index=False))
    print(f"run directory (report, transcripts): {result.run_dir}")
    print(adata.obs[["leiden", "cassia_general", "cassia_detailed", "cassia_score"]].head())

    # 5. The labels on the UMAP.
    figure = sc.pl.umap(adata, color="cassia_detailed", show=False, return_fig=True)
    png = out / "umap_cassia_detailed.png"
    figure.savefig(png, dpi=100, bbox_inches="tight")
    adata.write_h5ad(out / "pbmc68k_annotated.h5ad")  # the run record in .uns["cassia"] is stored too
    print(f"plot: {png}")
    return png


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tutorial_out"), help="folder for the run, plot and h5ad")
    parser.add_argument("--provider", default="offline", help="backend (default: the offline annotator)")
    args = parser.parse_args()
    main(args.out, args.provider)
