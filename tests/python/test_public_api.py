"""The public surface: explicit, sorted, importable, and free of side effects on import."""

from __future__ import annotations

import subprocess
import sys

import cassia


def test_all_is_sorted_and_every_name_exists():
    assert cassia.__all__ == sorted(cassia.__all__)
    missing = [name for name in cassia.__all__ if not hasattr(cassia, name)]
    assert missing == []


def test_cassia_compatible_aliases_point_at_the_engine():
    assert cassia.runCASSIA_pipeline is cassia.run_pipeline
    assert cassia.runCASSIA_batch is cassia.run_batch
    assert cassia.runCASSIA_score_batch is cassia.run_score_batch
    assert cassia.runCASSIA_annotationboost is cassia.run_annotation_boost
    assert cassia.runCASSIA_subclusters is cassia.run_subclusters


def test_example_markers_load_in_both_forms():
    raw = cassia.load_example_markers()
    assert {"gene", "cluster", "avg_log2FC"} <= set(raw.columns) and raw["cluster"].nunique() == 3
    processed = cassia.load_example_markers(processed=True)
    assert list(processed.columns[:2]) == ["cluster", "markers"] and len(processed) == 3
    assert cassia.loadmarker().equals(raw)


def test_import_has_no_side_effects():
    code = (
        "import logging, os, sys, warnings, pandas, httpx, pydantic, jinja2, tqdm.auto;"  # their own filters
        "before = dict(os.environ); filters = list(warnings.filters);"
        "import cassia;"
        "assert dict(os.environ) == before; assert list(warnings.filters) == filters;"
        "assert not logging.getLogger().handlers;"
        "assert 'rpy2' not in sys.modules and 'anndata' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_is_lazy_so_the_cli_starts_fast():
    """``import cassia`` loads no pandas; a run's entry point does not drag in the evaluation layer."""
    code = (
        "import sys, cassia;"
        "assert 'pandas' not in sys.modules and 'cassia.workflows' not in sys.modules;"
        "assert cassia.run_pipeline is cassia.runCASSIA_pipeline;"
        "assert 'cassia.evaluate' not in sys.modules;"
        "from cassia import *;"
        "assert grade is cassia.grade and 'cassia.evaluate' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with_error = subprocess.run([sys.executable, "-c", "import cassia; cassia.no_such_name"], capture_output=True,
                                text=True)
    assert "has no attribute 'no_such_name'" in with_error.stderr
