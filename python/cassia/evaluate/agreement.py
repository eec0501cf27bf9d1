"""How often the grader agrees with people: the GPTCelltype human grades.

``benchmark_dev.csv`` (Hou & Ji, Nature Methods 2024) holds, for each cluster, a manual label
and six methods' predicted labels, each with the human grade the authors gave it
(``<method>_agreement``: 1 full match, 0.5 partial, 0 mismatch). We grade each method's
**free-text label** (``<method>_annotation``), because that is what the people graded and what an
annotator outputs; the ``<method>_CLname``/``_CLID`` columns are the authors' own curation of
those labels, and grading them would measure that curation instead of our mapper.

The gold side is the manual label. ``gold="id"`` (default) uses ``manual_CLID`` when it holds
one live CL ID (gold tables often come with CL IDs) and the manual label text otherwise;
``gold="label"`` always uses the text. A row the grader leaves ungraded (None) counts as a
disagreement in :attr:`Agreement.overall`; :attr:`Agreement.graded_agreement` leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import ontology
from ..errors import InputError
from .grade import grade
from .names import looks_like_id

GPTCELLTYPE_METHODS = ("gpt4aug3", "gpt4mar23", "gpt3.5aug3", "CellMarker2.0", "SingleR", "ScType")
NOT_GRADED = "not graded"


@dataclass
class Agreement:
    """Grader vs human grades, one row per (cluster, method) the people graded."""

    rows: pd.DataFrame  # method, dataset, tissue, predicted, gold, human, score, rule

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def overall(self) -> float:
        """Share of rows where the grader's score equals the human grade (None never does)."""
        return float((self.rows["score"] == self.rows["human"]).mean())

    @property
    def coverage(self) -> float:
        return float(self.rows["score"].notna().mean())

    @property
    def graded_agreement(self) -> float:
        graded = self.rows[self.rows["score"].notna()]
        return float((graded["score"] == graded["human"]).mean()) if len(graded) else float("nan")

    def per_method(self) -> pd.DataFrame:
        rows = []
        for method, part in self.rows.groupby("method", sort=False):
            graded = part[part["score"].notna()]
            rows.append({
                "method": method, "rows": len(part),
                "agreement": round(float((part["score"] == part["human"]).mean()), 4),
                "coverage": round(float(part["score"].notna().mean()), 4),
                "graded_agreement": round(float((graded["score"] == graded["human"]).mean()), 4) if len(graded) else None,
                "human_mean": round(float(part["human"].mean()), 4),
                "grader_mean": round(float(graded["score"].mean()), 4) if len(graded) else None,
            })
        return pd.DataFrame(rows)

    def confusion(self) -> pd.DataFrame:
        """Counts: human grade (rows) x grader score (columns, plus "not graded")."""
        grader = self.rows["score"].map(lambda s: NOT_GRADED if pd.isna(s) else f"{s:g}")
        table = pd.crosstab(self.rows["human"].map(lambda s: f"{s:g}"), grader)
        columns = [c for c in ("0", "0.5", "1", NOT_GRADED) if c in table.columns]
        table = table.reindex(columns=columns, fill_value=0)
        table.index.name, table.columns.name = "human", "grader"
        return table

    def per_dataset(self) -> pd.DataFrame:
        """Agreement per dataset of the benchmark (rows, agreement, coverage)."""
        agree = self.rows["score"] == self.rows["human"]
        table = self.rows.assign(agree=agree, graded=self.rows["score"].notna()).groupby("dataset")
        return table.agg(rows=("agree", "size"), agreement=("agree", "mean"), coverage=("graded", "mean")).round(4)

    def cross_dataset(self, *, min_rows: int = 10) -> pd.DataFrame:
        """Would grades fitted per rule on one dataset agree better on another? (see :func:`fit_rule_grades`)

        For each dataset: the agreement of the grader as it is, and of the grader whose rule
        grades are replaced by those fitted on the *other* datasets' rows; "changed" lists the
        rules whose fitted grade differs from the rubric's.
        """
        out = []
        for dataset, test in self.rows.groupby("dataset"):
            train = self.rows[self.rows["dataset"] != dataset]
            fitted = fit_rule_grades(train, min_rows=min_rows)
            adjusted = apply_rule_grades(test, fitted)
            out.append({"test dataset": dataset, "fitted on": ", ".join(sorted(train["dataset"].unique())),
                        "rows": len(test), "rubric": round(float((test["score"] == test["human"]).mean()), 4),
                        "fitted": round(float((adjusted == test["human"]).mean()), 4),
                        "changed": ", ".join(f"{k}->{v:g}" for k, v in sorted(fitted.items())
                                             if _rubric_grade(train, k) != v) or "none"})
        return pd.DataFrame(out)

    def rule_table(self) -> pd.DataFrame:
        """Per grading rule: rows, agreeing rows, share."""
        agree = self.rows["score"] == self.rows["human"]
        table = self.rows.assign(agree=agree).groupby("rule")["agree"].agg(["count", "sum"])
        table["share"] = (table["sum"] / table["count"]).round(3)
        return table.rename(columns={"sum": "agree"}).sort_values("count", ascending=False)


def fit_rule_grades(rows: pd.DataFrame, *, min_rows: int = 10) -> dict[str, float]:
    """Per grading rule, the grade people gave most often (rules with at least ``min_rows`` rows).

    Rules whose rows the grader left ungraded get a grade too (what people gave them), so a
    fitted table also says what an unmappable name tends to be worth.
    """
    fitted = {}
    for rule, part in rows.groupby("rule"):
        if len(part) >= min_rows:
            counts = part["human"].value_counts()
            fitted[str(rule)] = float(counts.index[0])
    return fitted


def apply_rule_grades(rows: pd.DataFrame, fitted: dict[str, float]) -> pd.Series:
    """The grader's scores with every fitted rule's grade put in place."""
    return rows.apply(lambda r: fitted.get(r["rule"], r["score"]), axis=1)


def _rubric_grade(rows: pd.DataFrame, rule: str) -> float | None:
    scores = rows.loc[rows["rule"] == rule, "score"].dropna()
    return float(scores.mode().iloc[0]) if len(scores) else None


def load_gptcelltype(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist; pass the path of benchmark_dev.csv (GPTCelltype benchmark).")
    return pd.read_csv(path)


def gold_for_row(row: pd.Series, gold: str) -> str:
    """The gold value of one benchmark row (see the module docstring)."""
    label = row.get("manual_annotation")
    if gold == "id":
        clid = row.get("manual_CLID")
        if isinstance(clid, str) and "," not in clid and looks_like_id(clid) \
                and ontology.current_id(clid) is not None:
            return clid.strip()
    elif gold != "label":
        raise InputError(f"gold must be 'id' or 'label', got {gold!r}.")
    return label


def grader_agreement(table: pd.DataFrame | str | Path, *, methods: tuple[str, ...] = GPTCELLTYPE_METHODS,
                     gold: str = "id") -> Agreement:
    """Grade every method's label the people graded and compare with their grade."""
    frame = load_gptcelltype(table) if isinstance(table, (str, Path)) else table
    missing = [c for m in methods for c in (f"{m}_annotation", f"{m}_agreement") if c not in frame.columns]
    if missing or "manual_annotation" not in frame.columns:
        raise InputError(f"the table lacks GPTCelltype columns: {(missing or ['manual_annotation'])[:4]}")
    rows = []
    for method in methods:
        graded = frame[frame[f"{method}_agreement"].notna()]
        for _, row in graded.iterrows():
            predicted = row[f"{method}_annotation"]
            result = grade(None if pd.isna(predicted) else str(predicted), gold_for_row(row, gold))
            rows.append({
                "method": method, "dataset": row.get("dataset"), "tissue": row.get("tissue"),
                "predicted": predicted, "gold": row["manual_annotation"],
                "human": float(row[f"{method}_agreement"]), "score": result.score, "rule": result.rule,
                "predicted_category": result.predicted_category, "gold_category": result.gold_category,
            })
    return Agreement(pd.DataFrame(rows))
