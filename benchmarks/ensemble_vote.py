"""The voting stage of ``run_ensemble`` on real answers: is the consensus of three models better
than each model alone, and how many deliberation calls does the two-stage design save?

Data: ``../shared/data/gptcelltype/benchmark_dev.csv`` (Hou & Ji, Nature Methods 2024; the
development part only): 790 clusters, each annotated by GPT-4 (Aug 2023), GPT-4 (Mar 2023) and
GPT-3.5. Those three answers play the three ensemble members' first answers (one name each, no
subtype). The vote is the ensemble's own (:func:`cassia.workflows.ensemble.vote.tally`: answers
unified on the Cell Ontology, Unknown and blank answers are no vote), at the default threshold
2/3, which was not tuned here. Every label, the consensus and each model alone, is graded
against the manual label (its Cell Ontology ID where it has one, as the grader benchmark does) with :func:`cassia.evaluate.grade` (1 full match, 0.5 same
category, 0 mismatch). Ties (three different answers) go to the first model's answer, as in
``run_ensemble`` before deliberation; those are the clusters stage two would discuss.

Calls: each deliberation round asks every voting model once. The two-stage design asks only the
clusters below the threshold; deliberating every cluster asks all of them. No LLM is called.

Run from the repository root::

    .venv/bin/python benchmarks/ensemble_vote.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from cassia.evaluate import grade
from cassia.evaluate.agreement import gold_for_row
from cassia.workflows.ensemble import ModelAnswer
from cassia.workflows.ensemble.api import DEFAULT_THRESHOLD
from cassia.workflows.ensemble.vote import tally
from cassia.ontology.compare import is_no_call

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gptcelltype" / "benchmark_dev.csv"
MODELS = {"gpt4aug3": "GPT-4 (Aug 2023)", "gpt4mar23": "GPT-4 (Mar 2023)", "gpt3.5aug3": "GPT-3.5"}


def answer(name) -> ModelAnswer:
    text = name.strip() if isinstance(name, str) else None
    return ModelAnswer(general=text, status="no call" if is_no_call(text) else "ok")


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--rounds", type=int, default=2, help="deliberation rounds at most (default 2)")
    args = parser.parse_args()
    table = pd.read_csv(args.data, dtype=str, keep_default_na=False, na_values=[""])
    started = time.perf_counter()
    rows = []
    for _, record in table.iterrows():
        answers = {m: answer(record[f"{m}_annotation"]) for m in MODELS}
        vote = tally(answers, len(MODELS))
        gold = gold_for_row(record, "id")  # manual_CLID when it is one live CL ID, else the manual label
        row = {"dataset": record["dataset"], "voters": vote.answered,
               "disputed": vote.answered > 0 and not (vote.proportion >= args.threshold - 1e-9) and not vote.unanimous,
               "ensemble": grade(vote.general, gold).score}
        for m in MODELS:
            row[m] = grade(answers[m].general if answers[m].votes else None, gold).score
            row[f"{m}_human"] = pd.to_numeric(record[f"{m}_agreement"], errors="coerce")
            row[f"{m}_voted"] = answers[m].votes
        rows.append(row)
    frame = pd.DataFrame(rows)
    seconds = time.perf_counter() - started

    print(f"{len(frame)} clusters ({', '.join(f'{d} {n}' for d, n in frame['dataset'].value_counts().items())}); "
          f"threshold {args.threshold:.3g}; graded with cassia.evaluate.grade against the manual label (CL ID); {seconds:.1f} s")
    datasets = sorted(frame["dataset"].unique())
    print("votes cast (a model without an answer is a missing vote; it lowers the consensus proportion):")
    for m, name in MODELS.items():
        print(f"  {name:22s} " + ", ".join(f"{d} {int(frame.loc[frame['dataset'] == d, f'{m}_voted'].sum())}"
                                            f"/{int((frame['dataset'] == d).sum())}" for d in datasets))
    print("\nmean grade (full match = 1, same category = 0.5), and share of full matches:")
    print(f"  {'':22s} {'all':>6s} {'full':>6s}  " + "  ".join(f"{d:>14s}" for d in sorted(frame["dataset"].unique())))
    for column, name in [("ensemble", "ensemble consensus"), *MODELS.items()]:
        per = "  ".join(f"{frame.loc[frame['dataset'] == d, column].mean():14.3f}"
                        for d in sorted(frame["dataset"].unique()))
        print(f"  {name:22s} {frame[column].mean():6.3f} {(frame[column] == 1).mean():6.3f}  {per}")
    best = max(MODELS, key=lambda m: frame[m].mean())
    print(f"  consensus minus the best single model ({MODELS[best]}): {frame['ensemble'].mean() - frame[best].mean():+.3f}")
    print("  (human grades of the single models, for reference: "
          + ", ".join(f"{MODELS[m]} {frame[f'{m}_human'].mean():.3f}" for m in MODELS) + ")")

    disputed = frame["disputed"]
    print(f"\nclusters below the threshold (stage two would discuss them): {int(disputed.sum())} of {len(frame)} "
          f"({disputed.mean():.1%})")
    for label, part in (("agreed", frame[~disputed]), ("disputed", frame[disputed])):
        print(f"  {label:9s} {len(part):4d} clusters: consensus grade {part['ensemble'].mean():.3f}; best single "
              f"model there {max(part[m].mean() for m in MODELS):.3f}")
    voters = frame["voters"]
    per_round_two_stage = int(voters[disputed].sum())
    per_round_all = int(voters[voters > 0].sum())
    print("\ndeliberation calls (one per voting model and round):")
    print(f"  first round: two-stage {per_round_two_stage}, deliberating every cluster {per_round_all}: "
          f"{1 - per_round_two_stage / per_round_all:.1%} saved "
          f"({per_round_all / max(per_round_two_stage, 1):.1f}x fewer)")
    print(f"  at most ({args.rounds} rounds + 1 arbiter call per cluster): two-stage "
          f"{args.rounds * per_round_two_stage + int(disputed.sum())}, every cluster "
          f"{args.rounds * per_round_all + int((voters > 0).sum())}")


if __name__ == "__main__":
    main()
