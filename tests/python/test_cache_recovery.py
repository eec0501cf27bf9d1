"""A damaged response cache is moved aside with a warning; runs and ``cassia doctor`` go on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cassia
from cassia.providers.cache import ResponseCache, check_cache

CASSIA = Path(sys.executable).parent / "cassia"
PBMC = Path(cassia.__file__).parent / "data" / "pbmc_small_markers.csv"


def _garbage(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not an SQLite database\n" * 200)
    return path


def test_damaged_cache_is_moved_aside_and_replaced(tmp_path):
    path = _garbage(tmp_path / "responses.sqlite")
    assert "not a database" in check_cache(path)
    with pytest.warns(UserWarning, match=rf"{path}.*damaged.*responses\.sqlite\.corrupt-.*--no-cache"):
        cache = ResponseCache(path)
    cache.put("k", {"text": "x"})
    assert cache.get("k") == {"text": "x"} and check_cache(path) is None
    aside = list(tmp_path.glob("responses.sqlite.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")


def test_run_and_doctor_with_a_damaged_cache(tmp_path, fake_server):
    path = _garbage(tmp_path / "cache" / "responses.sqlite")
    env = {**os.environ, "CASSIA_CACHE_DIR": str(path.parent), "PYTHONPATH": str(Path(cassia.__file__).parents[1])}
    doctor = subprocess.run([str(CASSIA), "doctor", "--skip-r", "--json"], env=env, capture_output=True, text=True)
    assert doctor.returncode == 0, doctor.stderr
    assert "not a database" in json.loads(doctor.stdout)["cache"]["problem"]
    plain = subprocess.run([str(CASSIA), "doctor", "--skip-r"], env=env, capture_output=True, text=True)
    assert plain.returncode == 0 and f"{path} (DAMAGED" in plain.stdout and "--no-cache" in plain.stdout
    assert path.read_bytes().startswith(b"this is not")  # doctor only looks
    run = subprocess.run([str(CASSIA), "annotate", "--input", str(PBMC), "--provider", fake_server.url, "--out",
                          str(tmp_path / "run"), "--quiet"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    warning = [line for line in run.stderr.splitlines() if "damaged" in line]
    assert len(warning) == 1 and warning[0].startswith("cassia: warning:") and str(path) in warning[0]
    assert check_cache(path) is None and list(path.parent.glob("responses.sqlite.corrupt-*"))
