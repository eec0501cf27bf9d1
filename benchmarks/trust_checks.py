"""Answers a biologist can trust (issue 14): three figures, on the offline backend and through the fake server.

    .venv/bin/python benchmarks/trust_checks.py [--clusters 60] [--pairs 200] [--lists 50] [--n 3]

1. **Invented genes that end validated.** The first ``--clusters`` rows of
   ``../shared/data/gptcelltype/benchmark_dev.csv`` (their top-10 markers as a processed list)
   are annotated by ``run_batch`` with an *inventing* Annotator: a wrapper adds two genes the
   cluster does not have, asserted as evidence, to every second Annotator reply. Printed: how
   many replies were doctored, how many clusters' final answer (last reasoning + key markers)
   still cites a gene not in the input, and the share of those that ended validated (target 0).
2. **The Scorer's AUC, right vs wrong annotation of the same clusters.** For ``--pairs`` dev
   rows: the manual label's Cell Ontology name (right) and the name of another row of a
   different broad type (wrong), each graded by the Scorer with no reasoning to lean on. AUC =
   P(right scores above wrong), ties half. The fake server's Scorer is a canned reply (80 for
   everything), so its AUC is 0.5 by construction: it measures the plumbing, not a model.
3. **CS on random-gene lists** (the ``random`` lists of ``simulated_null.csv``, target: none at
   or above the threshold 75): the offline annotator (refused by ``run_uncertainty``; its runs
   scored with ``score_runs``), the unscripted fake server (one canned answer, repeated), and the
   fake server as a model that picks 1 of 7 types at random per run (seeded), scored with the
   CS formula as shipped and, for comparison, with the old rule that credited every run with the
   subtype weight when no run named a subtype.

No label of the benchmark's held-out part is read; nothing here is tuned on these rows.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd

import cassia
from cassia.agents.checks import check_answer
from cassia.agents.scorer import score
from cassia.agents.session import ClusterSession
from cassia.models import FormatterOutput
from cassia.providers import get_provider
from cassia.providers.offline import OfflineProvider
from cassia.testing import FakeLLMServer
from cassia.workflows.uncertainty import run_n_times, run_uncertainty, score_runs

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gptcelltype"
ABSENT_POOL = ["CD3E", "MS4A1", "ALB", "INS", "PTPRC", "EPCAM", "COL1A1", "PECAM1", "LYZ", "NKG7", "HBB", "KRT18"]
TYPES = ["T cell", "B cell", "natural killer cell", "monocyte", "fibroblast", "endothelial cell", "neutrophil"]
THRESHOLD = 75


def genes_of(text: str) -> list[str]:
    return [g.strip() for g in str(text).split(",") if g.strip()]


# ---------------------------------------------------------------- 1. invented genes


class Inventing:
    """Wraps a backend: every second Annotator reply (counted over the run) asserts two absent genes."""

    def __init__(self, inner):
        self.inner, self.config, self.replies, self.doctored = inner, inner.config, 0, 0

    async def complete(self, request):
        completion = await self.inner.complete(request)
        if request.task != "annotator":
            return completion
        self.replies += 1
        if self.replies % 2:
            return completion
        have = {g.upper() for g in request.context.get("markers", [])}
        absent = [g for g in ABSENT_POOL if g not in have][:2]
        self.doctored += 1
        return dataclasses.replace(completion, text=completion.text
                                   + f"\nStrong expression of {absent[0]} and {absent[1]} supports this call.")

    async def aclose(self) -> None:
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()


def invented_share(markers: pd.DataFrame, backend, out: Path) -> str:
    inventing = Inventing(backend)
    run = cassia.run_batch(markers, provider=inventing, out_dir=out, progress=False, use_cache=False, max_workers=1)
    citing = validated = 0
    for r in run.results:
        ann = r.annotation or r.diagnosis
        final = next((m.content for m in reversed(r.conversation) if m.role == "assistant"), "")
        check = check_answer(final, markers=r.markers, key_markers=ann.key_markers if ann else [])
        if not check.passed:
            citing += 1
            validated += r.outcome == "ok"
    outcomes = Counter(r.outcome for r in run.results)
    share = f"{validated / citing:.3f}" if citing else "n/a (none)"
    return (f"{len(run.results)} clusters, {inventing.doctored} of {inventing.replies} Annotator replies doctored; "
            f"final answer cites an absent gene: {citing}; of those validated: {validated} (share {share}); "
            f"outcomes {dict(outcomes)}")


# ---------------------------------------------------------------- 2. the Scorer's AUC


def pairs(dev: pd.DataFrame, limit: int, seed: int) -> list[tuple[dict, str, str]]:
    rng = random.Random(seed)
    rows = dev.dropna(subset=["manual_CLname", "manual_broadtype"]).reset_index(drop=True)
    out = []
    for i in range(min(limit, len(rows))):
        row = rows.iloc[i]
        others = rows[rows["manual_broadtype"] != row["manual_broadtype"]]
        out.append((row.to_dict(), row["manual_CLname"], others.iloc[rng.randrange(len(others))]["manual_CLname"]))
    return out


async def scorer_auc(items, provider) -> str:
    async def grade(row, name):
        session = ClusterSession(cluster=str(row["marker"])[:40], markers=genes_of(row["marker"]), tissue=row["tissue"])
        answer = FormatterOutput(main_cell_type=name, sub_cell_types=[], mixed_cell_types=[], key_markers=[])
        return (await score(session, provider, [], answer)).score

    wins = 0.0
    right_scores, wrong_scores = [], []
    for row, right, wrong in items:
        a, b = await grade(row, right), await grade(row, wrong)
        right_scores.append(a)
        wrong_scores.append(b)
        wins += 1.0 if a > b else 0.5 if a == b else 0.0
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return (f"AUC {wins / len(items):.3f} over {len(items)} pairs (same cluster, right vs wrong); mean score "
            f"right {mean(right_scores):.1f}, wrong {mean(wrong_scores):.1f}")


# ---------------------------------------------------------------- 3. CS on random-gene lists


def cs_line(result, *, old_rule: bool = False) -> str:
    scores = [c.cs for c in result.clusters]
    na = sum(s is None for s in scores)
    high = sum(s is not None and s >= THRESHOLD for s in scores)
    line = f"{len(scores)} lists: at or above {THRESHOLD}: {high}; CS not computed (NA): {na}"
    if old_rule:  # no run names a subtype here, so the old rule was 100 * (0.7 * share on G + 0.3)
        old = [100 * (0.7 * c.general_agreement + 0.3) for c in result.clusters if c.general_agreement is not None]
        line += f"; with the old no-subtype rule: {sum(s >= THRESHOLD for s in old)} of {len(old)}"
    return line


def random_picker(server: FakeLLMServer, lists: dict[str, list[str]]) -> None:
    """The fake server as a model that answers 1 of 7 types at random per run (seeded by the run's seed)."""
    def cluster_of(request) -> str:
        return next(c for c, genes in lists.items() if genes[0] in request.text and genes[1] in request.text)

    def pick(request) -> str:
        return random.Random(f"{request.body.get('seed')}|{cluster_of(request)}").choice(TYPES)

    def is_review(request) -> bool:
        return "ReviewOutput" in str(request.body.get("response_format"))

    def annotate(request):
        genes = lists[cluster_of(request)]
        return f"Run {request.body.get('seed')}: {genes[0]} and {genes[1]} lead; perhaps {pick(request)}."

    def review(request):
        genes = lists[cluster_of(request)]
        return {"consistent": True, "concerns": [], "feedback": "plausible", "main_cell_type": pick(request),
                "sub_cell_types": [], "mixed_cell_types": [], "key_markers": genes[:1]}

    server.add_rule(lambda r: isinstance(r.body, dict) and r.body.get("seed") is not None and is_review(r), review)
    server.add_rule(lambda r: isinstance(r.body, dict) and r.body.get("seed") is not None
                    and "response_format" not in r.body, annotate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=60, help="dev rows annotated by the inventing Annotator")
    parser.add_argument("--pairs", type=int, default=200, help="dev rows scored right vs wrong")
    parser.add_argument("--lists", type=int, default=50, help="random-gene lists for the CS")
    parser.add_argument("--n", type=int, default=3, help="runs per list for the CS")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    dev = pd.read_csv(DATA / "benchmark_dev.csv")
    head = dev.head(args.clusters)
    markers = pd.DataFrame({"cluster": [f"{d}-{i}" for i, d in enumerate(head["dataset"])], "markers": head["marker"]})
    null = pd.read_csv(DATA / "simulated_null.csv")
    randoms = null[null["celltype"] == "random"].head(args.lists)
    lists = {f"random-{i}": genes_of(g) for i, g in enumerate(randoms["gene"])}
    random_markers = pd.DataFrame({"cluster": list(lists), "markers": [", ".join(g) for g in lists.values()]})
    items = pairs(dev, args.pairs, args.seed)

    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer() as server:
        out = Path(tmp)
        print("1. clusters whose final answer cites a gene not in the input, and how many end validated (target 0)")
        print("   offline:     " + invented_share(markers, OfflineProvider(), out / "inv-offline"))
        print("   fake server: " + invented_share(markers, get_provider(server.url), out / "inv-fake"))

        print("2. the Scorer's AUC for right vs wrong annotations of the same clusters (benchmark_dev.csv)")
        print("   offline:     " + asyncio.run(scorer_auc(items, OfflineProvider())))
        print("   fake server: " + asyncio.run(scorer_auc(items, get_provider(server.url)))
              + " (a canned Scorer: 0.5 by construction)")

        print(f"3. CS on {len(lists)} random-gene lists, n = {args.n} runs (target: none at or above {THRESHOLD})")
        try:
            run_uncertainty(random_markers, n=args.n, provider="offline", out_dir=out / "cs-refused", progress=False)
            print("   offline run_uncertainty: NOT refused")
        except cassia.ConfigError as err:
            print(f"   offline run_uncertainty: refused ({str(err).split(':')[0]})")
        runs = run_n_times(random_markers, n=args.n, provider="offline", out_dir=out / "cs-offline", progress=False)
        print("   offline runs, score_runs: " + cs_line(score_runs(runs, agents=False, progress=False)))
        canned = run_uncertainty(random_markers, n=args.n, provider=server.url, agents=False, seed=args.seed,
                                 out_dir=out / "cs-fake", progress=False, report=False)
        print("   fake server, unscripted: " + cs_line(canned))
        random_picker(server, lists)
        picked = run_uncertainty(random_markers, n=args.n, provider=server.url, agents=False, seed=args.seed,
                                 out_dir=out / "cs-picker", progress=False, report=False)
        agreeing = sum(c.general_agreement == 1.0 for c in picked.clusters if c.general_agreement is not None)
        print("   fake server, random 1-of-7 picker: " + cs_line(picked, old_rule=True)
              + f"; lists where all {args.n} runs picked the same type by chance: {agreeing}"
              + f" (expected {len(lists) / len(TYPES) ** (args.n - 1):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
