"""Mixed-population simulation: can the pipeline tell that a cluster holds two cell types?

From two clusters' ranked markers a mixture takes the top ``share`` of its markers from the
majority cluster A and the rest from B, interleaved A1 B1 A2 B2 ... (the longer list's tail
follows), at 50:50, 60:40, 70:30 and 80:20 with 30, 50 and 70 markers (:func:`mix_markers`).
Every mixture runs through :func:`cassia.run_pipeline` (any backend) and is scored:

* **detected**: the Formatter lists mixed cell types, or the Scorer flags a possible mixed
  population;
* **dominant right**: the main call (general or top subtype, the better) grades at least 0.5
  against A's label (for 50:50, against either label);
* **minor named**: one of the listed mixed types grades at least 0.5 against B's label.

:func:`run_simulation` also runs the 99 simulated mixtures and 99 random-gene lists of the
GPTCelltype paper (``simulated_mixed.csv``, ``simulated_null.csv``) when given their folder:
random genes should come back as unknown or with a low score. Results: ``simulation.csv``
(per share and marker count), ``mixtures.csv`` (per mixture), ``reference.csv`` and
``simulation.html`` with an SVG plot.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..errors import InputError
from .categories import category_of
from .grade import grade
from .names import is_no_call, read_label

SHARES = (0.5, 0.6, 0.7, 0.8)
SIZES = (30, 50, 70)
LOW_SCORE = 75.0  # the pipeline's default review threshold


def mix_markers(a: Sequence[str], b: Sequence[str], *, share: float, n: int) -> list[str]:
    """``n`` markers: the top ``round(n * share)`` of ``a`` and the rest from the top of ``b``,
    interleaved a1 b1 a2 b2 ...; a gene already taken is skipped (the next one is used)."""
    if not 0 < share < 1:
        raise InputError(f"share must be between 0 and 1 (exclusive), got {share}.")
    if n < 2:
        raise InputError(f"a mixture needs at least 2 markers, got n={n}.")
    n_a = round(n * share)
    taken: set[str] = set()
    from_a = _take(a, n_a, taken)
    from_b = _take(b, n - n_a, taken)
    mixed = [gene for pair in itertools.zip_longest(from_a, from_b) for gene in pair if gene is not None]
    return mixed


def _take(genes: Sequence[str], count: int, taken: set[str]) -> list[str]:
    picked = []
    for gene in genes:
        if len(picked) == count:
            break
        if gene not in taken:
            taken.add(gene)
            picked.append(gene)
    return picked


def build_mixtures(markers: dict[str, Sequence[str]], labels: dict[str, str], *, shares=SHARES, sizes=SIZES,
                   pairs: Sequence[tuple[str, str]] | None = None, distinct_categories: bool = True) -> pd.DataFrame:
    """All mixtures of the given (or every ordered) cluster pairs; one row per mixture.

    By default only pairs whose labels fall in different broad categories are mixed (two
    T cell subsets are not a "mixed population" anyone could detect). For 50:50 each unordered
    pair is used once; for other shares both orders (A the majority, then B).
    """
    missing = [c for c in markers if c not in labels]
    if missing:
        raise InputError(f"no label for cluster(s) {missing[:5]}; give labels for every cluster to mix.")
    if pairs is None:
        pairs = [(a, b) for a, b in itertools.permutations(markers, 2)
                 if not distinct_categories or _different(labels[a], labels[b])]
    rows = []
    for a, b in pairs:
        for share in shares:
            if share == 0.5 and (b, a) in pairs and str(b) < str(a):
                continue
            for n in sizes:
                if len(markers[a]) < n * share or len(markers[b]) < n * (1 - share):
                    continue  # not enough genes for this size
                genes = mix_markers(markers[a], markers[b], share=share, n=n)
                percent = round(share * 100)
                rows.append({"mixture": f"{a} + {b} @{percent}:{100 - percent} n{n}", "a": a, "b": b,
                             "share": share, "n_genes": n, "markers": ", ".join(genes),
                             "gold_a": labels[a], "gold_b": labels[b]})
    return pd.DataFrame(rows)


def _different(x: str, y: str) -> bool:
    cx, cy = read_label(x).parts, read_label(y).parts
    if not cx or not cy or not cx[0].cl_id or not cy[0].cl_id:
        return x != y
    return category_of(cx[0].cl_id) != category_of(cy[0].cl_id)


@dataclass
class SimulationResult:
    out_dir: Path
    table: pd.DataFrame  # per share and marker count
    mixtures: pd.DataFrame  # per mixture
    reference: pd.DataFrame | None  # GPTCelltype simulated mixtures and random lists, summarised
    report_path: Path | None


def run_simulation(markers, labels: dict[str, str], *, out_dir: str | Path, provider=None, model=None,
                   tissue: str | None = None, species: str = "human", shares=SHARES, sizes=SIZES,
                   pairs=None, gptcelltype_dir: str | Path | None = None, max_workers: int = 4,
                   use_cache: bool = True, resume: bool = True, report: bool = True, progress: bool = False,
                   **run_options) -> SimulationResult:
    """Build the mixtures of ``markers`` (anything :func:`cassia.load_markers` reads), run the
    pipeline on them, and measure detection and dominant-type accuracy (module docstring)."""
    from ..markers import load_markers

    out_dir = Path(out_dir)
    marker_set = load_markers(markers, n_genes=max(sizes))
    ranked = {c.cluster: list(c.genes) for c in marker_set}
    labels = {str(k): v for k, v in labels.items()}
    mixtures = build_mixtures({c: g for c, g in ranked.items() if c in labels}, labels, shares=shares,
                              sizes=sizes, pairs=pairs)
    if mixtures.empty:
        raise InputError("no mixture could be built: check the labels and that clusters have enough genes.")
    options = dict(provider=provider, model=model, max_workers=max_workers, use_cache=use_cache,
                   progress=progress, species=species, **run_options)
    results = _run(mixtures.rename(columns={"mixture": "cluster"})[["cluster", "markers"]],
                   out_dir / "runs" / "mixtures", tissue, resume, options)
    mixtures = pd.concat([mixtures, pd.DataFrame([_measure(results.get(m), a, b, share)
                                                  for m, a, b, share in zip(mixtures["mixture"], mixtures["gold_a"],
                                                                            mixtures["gold_b"], mixtures["share"])])],
                         axis=1)
    table = summarise(mixtures)
    reference = None
    if gptcelltype_dir is not None:
        reference = _reference(Path(gptcelltype_dir), out_dir, resume, options)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_dir / "simulation.csv", index=False)
    mixtures.to_csv(out_dir / "mixtures.csv", index=False)
    if reference is not None:
        reference.to_csv(out_dir / "reference.csv", index=False)
    report_path = _render(out_dir, table, reference) if report else None
    return SimulationResult(out_dir, table, mixtures, reference, report_path)


def _run(frame: pd.DataFrame, run_dir: Path, tissue, resume: bool, options: dict) -> dict:
    from ..workflows.pipeline import run_pipeline

    again = resume and (run_dir / "results.jsonl").exists()
    result = run_pipeline(frame, tissue=tissue, out_dir=run_dir, resume=again, report=False,
                          n_genes=max(len(m.split(",")) for m in frame["markers"]), **options)
    return {r.cluster: r for r in result.results}


def _measure(result, gold_a: str, gold_b: str, share: float) -> dict:
    """detected / dominant right / minor named / no call / score for one mixture's result."""
    ann = (result.annotation or result.diagnosis) if result is not None and result.status == "ok" else None
    if ann is None:  # a diagnosis (validation never passed) still carries the best answer
        return {"status": "failed", "main_call": None, "mixed_types": None, "flagged": None, "score": None,
                "detected": None, "dominant_right": None, "minor_named": None}
    calls = [c for c in (ann.main_cell_type, ann.sub_cell_types[0] if ann.sub_cell_types else None) if c]
    targets = [gold_a, gold_b] if share == 0.5 else [gold_a]
    dominant = max((grade(c, t).score or 0.0) for c in calls for t in targets) if calls else 0.0
    minor = max(((grade(m, gold_b).score or 0.0) for m in ann.mixed_cell_types), default=0.0)
    flagged = bool(result.score.possible_mixed_population) if result.score else False
    return {"status": "ok", "main_call": ann.main_cell_type, "mixed_types": ", ".join(ann.mixed_cell_types),
            "flagged": flagged, "score": result.score.score if result.score else None,
            "detected": bool(ann.mixed_cell_types) or flagged, "dominant_right": dominant >= 0.5,
            "minor_named": minor >= 0.5}


def summarise(mixtures: pd.DataFrame) -> pd.DataFrame:
    """Rates per (share, n_genes) over the mixtures that ran."""
    ok = mixtures[mixtures["status"] == "ok"]
    rows = []
    for (share, n), part in ok.groupby(["share", "n_genes"]):
        rows.append({"share": f"{round(share * 100)}:{100 - round(share * 100)}", "n_genes": int(n),
                     "mixtures": len(part), "detected": round(float(part["detected"].mean()), 3),
                     "by_formatter": round(float((part["mixed_types"].fillna("") != "").mean()), 3),
                     "by_scorer": round(float(part["flagged"].mean()), 3),
                     "dominant_right": round(float(part["dominant_right"].mean()), 3),
                     "minor_named": round(float(part["minor_named"].mean()), 3),
                     "mean_score": round(float(part["score"].mean()), 1) if part["score"].notna().any() else None})
    return pd.DataFrame(rows)


def _reference(folder: Path, out_dir: Path, resume: bool, options: dict) -> pd.DataFrame:
    """The paper's 99 simulated mixtures and 99 random-gene lists through the pipeline."""
    rows = []
    for name, kind in (("simulated_mixed.csv", "mixture"), ("simulated_null.csv", "random genes")):
        path = folder / name
        if not path.exists():
            raise InputError(f"{path} does not exist; pass the folder holding simulated_mixed.csv and simulated_null.csv.")
        table = pd.read_csv(path)
        if kind == "random genes":  # the file also holds real marker lists as controls
            table = table[table["celltype"].astype(str).str.lower() == "random"].reset_index(drop=True)
        frame = pd.DataFrame({"cluster": [f"{kind}-{i:03d}" for i in range(len(table))],
                              "markers": [", ".join(g.strip() for g in str(v).split(",") if g.strip())
                                          for v in table["gene"]]})
        results = _run(frame, out_dir / "runs" / kind.replace(" ", "_"), None, resume, options)
        for cluster, types in zip(frame["cluster"], table["celltype"]):
            result = results.get(cluster)
            # a call that never passed validation still has the Formatter's best answer (diagnosis)
            answer = (result.annotation or result.diagnosis) if result is not None and result.status == "ok" else None
            ok = answer is not None
            main = answer.main_cell_type if ok else None
            score = result.score.score if ok and result.score else None
            record = {"set": kind, "cluster": cluster, "truth": types, "main_call": main, "score": score,
                      "unknown": bool(ok and is_no_call(main or "")),
                      "low_score": bool(score is not None and score < LOW_SCORE)}
            if kind == "mixture" and ok:
                parts = [t.strip() for t in str(types).split(",")]
                mixed = answer.mixed_cell_types
                flagged = bool(result.score.possible_mixed_population) if result.score else False
                record.update({"detected": bool(mixed) or flagged,
                               "one_type_right": max((grade(main, p).score or 0) for p in parts) >= 0.5,
                               "both_named": all(max(((grade(c, p).score or 0) for c in [main, *mixed]), default=0) >= 0.5
                                                 for p in parts)})
            rows.append(record)
    return pd.DataFrame(rows)


def reference_summary(reference: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for kind, part in reference.groupby("set", sort=False):
        row = {"set": kind, "lists": len(part), "unknown": round(float(part["unknown"].mean()), 3),
               "low_score": round(float(part["low_score"].mean()), 3),
               "unknown_or_low": round(float((part["unknown"] | part["low_score"]).mean()), 3)}
        if kind == "mixture":
            row.update({c: round(float(part[c].astype(float).mean()), 3)
                        for c in ("detected", "one_type_right", "both_named") if c in part})
        rows.append(row)
    return pd.DataFrame(rows)


def _render(out_dir: Path, table: pd.DataFrame, reference: pd.DataFrame | None) -> Path:
    from . import plots
    from .report import render_simulation_report, table_view

    shares = sorted(table["share"].unique(), key=lambda s: int(s.split(":")[0]))
    series = []
    for n in sorted(table["n_genes"].unique()):
        part = table[table["n_genes"] == n].set_index("share")
        series.append((f"detected, {n} genes", [part["detected"].get(s) for s in shares]))
    for n in sorted(table["n_genes"].unique()):
        part = table[table["n_genes"] == n].set_index("share")
        series.append((f"dominant right, {n} genes", [part["dominant_right"].get(s) for s in shares]))
    chart = plots.line_chart([int(s.split(":")[0]) for s in shares], series,
                             x_label="majority share (%)", y_label="rate")
    extra = {}
    if reference is not None:
        extra["GPTCelltype simulated mixtures and random gene lists"] = table_view(reference_summary(reference))
    return render_simulation_report(out_dir, table, chart, extra)
