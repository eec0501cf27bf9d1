"""The accuracy benchmark: annotate clusters with known labels, grade, summarise, plot.

``run_benchmark(table, provider=..., out_dir=...)`` takes either

* a **cluster table**: one row per cluster with a comma-separated marker list (``marker_col``),
  the gold label (``gold_col``: a name or CL ID; several alternatives separated by ``|``), and
  optionally dataset, tissue and species columns; or
* a **FindAllMarkers table** (``gene`` and ``cluster`` columns) with ``gold_map``
  (cluster -> gold label) and one ``tissue``/``dataset`` for the whole table.

Rows are annotated per (dataset, tissue, species) group with :func:`cassia.run_batch` or
:func:`cassia.run_pipeline`, each group in its own run directory under ``out_dir/runs/`` with
``resume=True``: an interrupted benchmark picks up where it stopped, and with the response
cache a finished one reruns without a single call. Then every answer is graded
(:func:`cassia.evaluate.grade`) and the tables, plots and ``report.html`` are written
(:mod:`cassia.evaluate.outputs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..errors import InputError
from ..providers.base import config_of
from ..store import slug
from .grade import grade
from .judge import Judge
from .outputs import BenchmarkResult, write_outputs

SWEEP_DEFAULT = (10, 30, 50, 70, 100)
PREDICT_CHOICES = ("general", "detailed", "best")


def run_benchmark(
    table: pd.DataFrame | str | Path,
    *,
    provider=None,
    model: str | None = None,
    mode: str = "batch",
    out_dir: str | Path,
    marker_col: str = "marker",
    gold_col: str = "gold",
    tissue_col: str | None = "tissue",
    dataset_col: str | None = "dataset",
    species: str = "human",
    species_col: str | None = None,
    cluster_col: str | None = None,
    gold_map: dict[str, Any] | None = None,
    tissue: str | None = None,
    dataset: str | None = None,
    n_genes: int = 50,
    n_genes_sweep: Sequence[int] | None = None,
    predict: str = "detailed",
    method: str | None = None,
    compare_labels: dict[str, str] | None = None,
    compare_scores: dict[str, str] | None = None,
    judge: Judge | None = None,
    weight: float = 2.0,
    max_workers: int = 4,
    use_cache: bool = True,
    resume: bool = True,
    report: bool = True,
    progress: bool = False,
    **run_options,
) -> BenchmarkResult:
    """Annotate, grade and summarise a labelled table (see the module docstring).

    ``mode``: "batch" (annotate) or "pipeline" (annotate + score + boost; needed for score
    calibration and the score box plots). ``predict``: which answer is graded, "detailed"
    (default: the Formatter's top subtype, its most specific call, else the main type),
    "general" (the main type) or "best" (the better of the two; lenient, labelled as such);
    :func:`regrade` grades a finished table another way without rerunning. ``n_genes_sweep``: e.g. (10, 30, 50,
    70, 100); each size runs on the rows with at least that many genes. ``compare_labels``
    maps a method name to a column of predicted labels graded the same way; ``compare_scores``
    to a column of existing grades (e.g. human grades) shown side by side. Other keyword
    arguments (``api_key``, ``base_url``, ``validator_rounds``, ``providers``, ``cache_path``,
    ...) go to the run functions.
    """
    if mode not in ("batch", "pipeline"):
        raise InputError(f"mode must be 'batch' or 'pipeline', got {mode!r}.")
    if predict not in PREDICT_CHOICES:
        raise InputError(f"predict must be one of {PREDICT_CHOICES}, got {predict!r}.")
    out_dir = Path(out_dir)
    frame = _read_table(table)
    rows = _benchmark_rows(frame, marker_col=marker_col, gold_col=gold_col, tissue_col=tissue_col,
                           dataset_col=dataset_col, species=species, species_col=species_col,
                           cluster_col=cluster_col, gold_map=gold_map, tissue=tissue, dataset=dataset)
    options = dict(provider=provider, model=model, max_workers=max_workers, use_cache=use_cache,
                   progress=progress, **run_options)
    label = method or _method_label(provider, model)
    answers = _annotate(rows, frame if gold_map is not None else None, mode=mode, n_genes=n_genes,
                        root=out_dir / "runs", resume=resume, options=options)
    graded = _grade_rows(rows, answers, predict=predict, judge=judge, method=label, n_genes=n_genes)
    extras = _compare(rows, frame, compare_labels or {}, compare_scores or {}, judge)
    sweep = None
    if n_genes_sweep:
        sweep = _sweep(rows, frame if gold_map is not None else None, sizes=n_genes_sweep, mode=mode,
                       root=out_dir / "sweep", resume=resume, options=options, predict=predict, method=label)
    return write_outputs(out_dir, graded, extras, sweep, mode=mode, method=label, weight=weight,
                         report=report, settings={"mode": mode, "predict": predict, "n_genes": n_genes,
                                                  "provider": label, "species": species})


# ---------------------------------------------------------------- input


def _read_table(table) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        return table.reset_index(drop=True)
    path = Path(table)
    if not path.exists():
        raise InputError(f"{path} does not exist; pass a CSV/TSV of clusters with markers and gold labels.")
    sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    return pd.read_csv(path, sep=sep)


def _benchmark_rows(frame: pd.DataFrame, *, marker_col, gold_col, tissue_col, dataset_col, species,
                    species_col, cluster_col, gold_map, tissue, dataset) -> pd.DataFrame:
    """One row per cluster: dataset, tissue, species, cluster, genes (list), gold (tuple)."""
    if gold_map is not None:
        if "gene" not in frame.columns or "cluster" not in frame.columns:
            raise InputError("with gold_map the table must be a FindAllMarkers table with 'gene' and 'cluster' columns.")
        clusters = list(dict.fromkeys(frame["cluster"].astype(str)))
        gold = {str(k): v for k, v in gold_map.items()}
        missing = [c for c in clusters if c not in gold]
        if missing:
            raise InputError(f"gold_map has no label for cluster(s) {missing[:5]}; add them or drop those clusters.")
        genes = {c: list(g["gene"].astype(str)) for c, g in frame.groupby(frame["cluster"].astype(str), sort=False)}
        return pd.DataFrame({
            "dataset": dataset or "dataset", "tissue": tissue, "species": species, "cluster": clusters,
            "genes": [genes[c] for c in clusters], "gold": [_gold_tuple(gold[c]) for c in clusters],
        })
    for needed in (marker_col, gold_col):
        if needed not in frame.columns:
            raise InputError(f"the table has no {needed!r} column; name the marker and gold columns with "
                             f"marker_col=/gold_col= (columns: {list(frame.columns)[:12]}).")
    out = pd.DataFrame({
        "dataset": _column(frame, dataset_col, dataset or "dataset"),
        "tissue": _column(frame, tissue_col, tissue),
        "species": _column(frame, species_col, species),
        "cluster": frame[cluster_col].astype(str) if cluster_col else [f"row-{i:05d}" for i in range(len(frame))],
        "genes": [_genes(v) for v in frame[marker_col]],
        "gold": [_gold_tuple(v) for v in frame[gold_col]],
        "row": range(len(frame)),
    })
    if out["cluster"].duplicated().any():
        raise InputError(f"cluster IDs in {cluster_col!r} repeat; give each row a unique ID or leave cluster_col unset.")
    empty = out[out["genes"].map(len) == 0]
    if len(empty):
        raise InputError(f"row(s) {list(empty['row'][:5])} have no marker genes in {marker_col!r}.")
    return out


def _column(frame: pd.DataFrame, name: str | None, default):
    if name and name in frame.columns:
        return frame[name].where(frame[name].notna(), default)
    return [default] * len(frame)


def _genes(value) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(g).strip() for g in value if str(g).strip()]
    if value is None or (isinstance(value, float) and value != value):
        return []
    return [g.strip() for g in str(value).split(",") if g.strip()]


def _gold_tuple(value) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    if value is None or (isinstance(value, float) and value != value):
        return ()
    return tuple(part.strip() for part in str(value).split("|") if part.strip())


def _method_label(provider, model) -> str:
    name = provider if isinstance(provider, str) else getattr(config_of(provider), "name", None)
    name = name or "auto"
    return f"{name}/{model}" if model else str(name)


# ---------------------------------------------------------------- runs


def _annotate(rows: pd.DataFrame, findallmarkers: pd.DataFrame | None, *, mode: str, n_genes: int, root: Path,
              resume: bool, options: dict) -> dict[str, Any]:
    """Run every (dataset, tissue, species) group; return {cluster: ClusterResult}."""
    from ..workflows.pipeline import run_batch, run_pipeline

    runner = run_pipeline if mode == "pipeline" else run_batch
    answers: dict[str, Any] = {}
    for (dataset, tissue, species), group in rows.groupby(["dataset", "tissue", "species"], sort=False, dropna=False):
        tissue = None if pd.isna(tissue) else tissue
        run_dir = root / slug(f"{dataset}/{tissue}/{species}")
        if findallmarkers is not None:
            markers = findallmarkers
        else:
            markers = pd.DataFrame({"cluster": group["cluster"], "markers": group["genes"].map(", ".join)})
        again = resume and (run_dir / "results.jsonl").exists()
        extra = {"report": False} if mode == "pipeline" else {}
        result = runner(markers, tissue=tissue, species=species, out_dir=run_dir, n_genes=n_genes,
                        resume=again, **extra, **options)
        answers.update({r.cluster: r for r in result.results})
    return answers


def _prediction(result, predict: str) -> tuple[str | None, str | None]:
    """(general, detailed) from a ClusterResult (None when the cluster failed)."""
    if result is None or result.status != "ok":
        return None, None
    ann = result.annotation or result.diagnosis
    if ann is None:
        return None, None
    detailed = ann.sub_cell_types[0] if ann.sub_cell_types else None
    return ann.main_cell_type, detailed


def _grade_rows(rows: pd.DataFrame, answers: dict, *, predict: str, judge, method: str, n_genes: int) -> pd.DataFrame:
    records = []
    for row in rows.itertuples(index=False):
        result = answers.get(row.cluster)
        general, detailed = _prediction(result, predict)
        record = {"method": method, "dataset": row.dataset, "tissue": row.tissue, "species": row.species,
                  "cluster": row.cluster, "gold": " | ".join(row.gold), "n_genes": min(n_genes, len(row.genes)),
                  "predicted_general": general, "predicted_detailed": detailed,
                  "status": result.status if result is not None else "missing",
                  "quality_score": result.score.score if result is not None and result.score else None,
                  "possible_mixed": bool(result.score.possible_mixed_population) if result is not None and result.score else None,
                  "mixed_types": ", ".join((result.annotation.mixed_cell_types if result and result.annotation else [])),
                  "tokens": result.tokens if result is not None else 0,
                  "cost_usd": result.cost_usd if result is not None else None}
        record.update(_graded_answer(general, detailed, row.gold, predict, judge))
        records.append(record)
    return pd.DataFrame(records)


def _graded_answer(general, detailed, gold, predict, judge) -> dict[str, Any]:
    if not gold:
        return {"predicted": general, "score": None, "rule": "no_gold", "reason": "no gold label"}
    candidates = {"general": [general], "detailed": [detailed or general], "best": [general, detailed]}[predict]
    best = None
    for text in candidates:
        if text is None and best is not None:
            continue
        result = grade(text, list(gold), judge=judge)
        if best is None or (result.score or -1) > (best[1].score or -1):
            best = (text, result)
    text, result = best
    return {"predicted": text, **result.as_row()}


def regrade(graded: pd.DataFrame, predict: str, *, judge: Judge | None = None,
            method: str | None = None) -> pd.DataFrame:
    """Grade the answers of a :func:`run_benchmark` table another way (no annotation calls)."""
    if predict not in PREDICT_CHOICES:
        raise InputError(f"predict must be one of {PREDICT_CHOICES}, got {predict!r}.")
    out = graded.copy()
    records = []
    for row in graded.itertuples(index=False):
        general = None if pd.isna(row.predicted_general) else row.predicted_general
        detailed = None if pd.isna(row.predicted_detailed) else row.predicted_detailed
        records.append(_graded_answer(general, detailed, _gold_tuple(row.gold), predict, judge))
    for column, values in pd.DataFrame(records, index=graded.index).items():
        out[column] = values
    if method is not None:
        out["method"] = method
    return out


def _compare(rows: pd.DataFrame, frame: pd.DataFrame, labels: dict[str, str], scores: dict[str, str],
             judge) -> pd.DataFrame:
    """Extra methods of the same rows: graded label columns and given score columns.

    A missing label is "no answer" (graded 0), except in a dataset where the method has no
    label at all: it was not run there, and those rows are left out for it. Rows without a
    given score are left out too.
    """
    if (labels or scores) and "row" not in rows.columns:
        raise InputError("compare_labels/compare_scores need a cluster table (not a FindAllMarkers table).")
    records = []
    for name, column in labels.items():
        if column not in frame.columns:
            raise InputError(f"compare_labels: no column {column!r} in the table.")
        values = frame[column].to_numpy()[rows["row"].to_numpy()]
        present = pd.Series(values, index=rows.index).notna()
        run_in = set(rows.loc[present, "dataset"])
        for row, value in zip(rows.itertuples(index=False), values):
            if row.dataset not in run_in:
                continue
            text = None if pd.isna(value) else str(value)
            result = grade(text, list(row.gold), judge=judge) if row.gold else None
            records.append({"method": name, "dataset": row.dataset, "tissue": row.tissue, "cluster": row.cluster,
                            "gold": " | ".join(row.gold), "predicted": text,
                            "score": result.score if result else None, "rule": result.rule if result else "no_gold"})
    for name, column in scores.items():
        if column not in frame.columns:
            raise InputError(f"compare_scores: no column {column!r} in the table.")
        values = frame[column].to_numpy()[rows["row"].to_numpy()]
        for row, value in zip(rows.itertuples(index=False), values):
            if pd.isna(value):
                continue
            records.append({"method": name, "dataset": row.dataset, "tissue": row.tissue, "cluster": row.cluster,
                            "gold": " | ".join(row.gold), "predicted": None, "score": float(value), "rule": "given"})
    return pd.DataFrame(records)


def _sweep(rows: pd.DataFrame, findallmarkers, *, sizes, mode, root, resume, options, predict, method) -> pd.DataFrame:
    """Mean score per marker count, on the rows with at least that many genes."""
    records = []
    for size in sorted({int(s) for s in sizes}):
        if findallmarkers is not None:
            eligible = rows  # FindAllMarkers tables are cut to the top ``size`` genes by the loader
        else:
            eligible = rows[rows["genes"].map(len) >= size]
        if eligible.empty:
            records.append({"n_genes": size, "clusters": 0, "mean_score": None, "fully": None, "partially": None})
            continue
        answers = _annotate(eligible, findallmarkers, mode=mode, n_genes=size, root=root / f"n{size}",
                            resume=resume, options=options)
        graded = _grade_rows(eligible, answers, predict=predict, judge=None, method=method, n_genes=size)
        scores = graded["score"].dropna()
        records.append({"n_genes": size, "clusters": len(eligible), "graded": len(scores),
                        "mean_score": round(float(scores.mean()), 4) if len(scores) else None,
                        "fully": round(float((scores == 1).mean()), 4) if len(scores) else None,
                        "partially": round(float((scores == 0.5).mean()), 4) if len(scores) else None})
    return pd.DataFrame(records)
