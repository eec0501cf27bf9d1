"""Kill ``cassia pipeline`` in every phase and resume: each cluster once, resume redoes only what was left.

The full run (20 kills, figures printed) is ``benchmarks/chaos_resume.py``; this is one kill per phase.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cassia.testing import FakeLLMServer
from cassia.testing.chaos import PHASES, calibrate, environment, run_trial

LARGE_INTESTINE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "markers" / \
    "large_intestine_findallmarkers.csv"


@pytest.fixture(scope="module")
def chaos(tmp_path_factory):
    work = tmp_path_factory.mktemp("chaos")
    with FakeLLMServer(latency=0.05) as server:
        env = environment(work)
        yield server, work, env, calibrate(server, LARGE_INTESTINE, work, env=env)


@pytest.mark.parametrize("phase", PHASES)
def test_kill_and_resume(chaos, phase):
    server, work, env, line = chaos
    assert line.clusters == 6 and line.boost_starts == 6  # every cluster is boosted (threshold 100)
    trial = run_trial(server, LARGE_INTESTINE, work, phase, line, rng=random.Random(PHASES.index(phase)), env=env,
                      number=PHASES.index(phase))
    assert trial.problems == []
    assert trial.rows == 6 and trial.duplicates == 0 and trial.missing == 0 and trial.status == "complete"
    assert trial.annotated_on_resume == trial.left_at_kill
    assert trial.boosted_on_resume == trial.boosts_expected_on_resume
