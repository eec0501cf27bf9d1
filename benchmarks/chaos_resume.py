"""Chaos: SIGKILL ``cassia pipeline`` at random moments of every phase, resume, check nothing is lost.

    .venv/bin/python benchmarks/chaos_resume.py [--kills 20] [--seed 16] [--latency 0.05] [--workers 2]

Runs the pbmc3k marker table (9 clusters, ../shared/data) against the local fake LLM server:
one uninterrupted calibration run, then ``--kills`` trials spread evenly over the phases
annotation, scoring, boost, summary and report. Each trial starts a fresh run, kills it at a
random point of its phase, resumes it, and checks: every input cluster exactly once in
summary.csv, status complete, no temp file left, and the calls of the resume equal what was
left (annotations started == clusters without a result; boosts started == clusters still
waiting for their boost). Prints one line per trial and the totals.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from cassia.testing import FakeLLMServer
from cassia.testing.chaos import PHASES, calibrate, environment, run_trial

PBMC3K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "markers" / "pbmc3k_findallmarkers.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.05, help="fake server seconds per call")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--markers", type=Path, default=PBMC3K)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="cassia-chaos-") as folder, FakeLLMServer(latency=args.latency) as server:
        work = Path(folder)
        env = environment(work)
        line = calibrate(server, args.markers, work, workers=args.workers, env=env)
        print(f"calibration: {line.clusters} clusters, {line.calls} calls ({line.annotator_starts} annotations, "
              f"{line.scorer_calls} scorer calls, {line.boost_starts} boosts in {line.boost_calls} calls), "
              f"{line.seconds:.1f} s; last call -> summary {line.last_call_to_summary_s:.2f} s, "
              f"summary -> report {line.summary_to_report_s:.2f} s")
        print("trial  target      hit         killed_s  done  left  in_flight  annot_resume  boosts_expected  "
              "boosted_resume  rows  dup  missing  status    problems")
        trials = []
        for number in range(args.kills):
            phase = PHASES[number % len(PHASES)]
            t = run_trial(server, args.markers, work, phase, line, rng=rng, workers=args.workers, env=env,
                          number=number)
            trials.append(t)
            print(f"{number + 1:>5}  {t.target:<10}  {t.phase_hit:<10}  {t.kill_after_s:>8.2f}  {t.done_at_kill:>4}  "
                  f"{t.left_at_kill:>4}  {t.in_flight_at_kill:>9}  {t.annotated_on_resume:>12}  "
                  f"{t.boosts_expected_on_resume:>15}  {t.boosted_on_resume:>14}  {t.rows:>4}  {t.duplicates:>3}  "
                  f"{t.missing:>7}  {t.status:<8}  {'; '.join(t.problems) or '-'}", flush=True)
    hits: dict[str, int] = {}
    for t in trials:
        hits[t.phase_hit] = hits.get(t.phase_hit, 0) + 1
    clean = sum(not t.problems for t in trials)
    print(f"kills: {len(trials)}; phases hit: {', '.join(f'{k} {v}' for k, v in sorted(hits.items()))}")
    print(f"trials with every cluster exactly once, status complete, resume calls == work left: {clean}/{len(trials)}")
    print(f"summary rows: {sum(t.rows for t in trials)} for {sum(line.clusters for _ in trials)} expected; "
          f"duplicates {sum(t.duplicates for t in trials)}, missing {sum(t.missing for t in trials)}; "
          f"annotations re-run beyond what was left: {sum(t.annotated_on_resume - t.left_at_kill for t in trials)}; "
          f"clusters in flight at the kills: {sum(t.in_flight_at_kill for t in trials)}")
    return 0 if clean == len(trials) else 1


if __name__ == "__main__":
    sys.exit(main())
