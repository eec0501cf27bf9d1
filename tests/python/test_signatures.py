"""The public functions have real signatures: every option visible, typos named, aliases thin."""

from __future__ import annotations

import asyncio
import inspect

import pytest

import cassia
from cassia.options import checked, did_you_mean

# Public run functions, their async forms, and options each must show.
PUBLIC = {
    "run_pipeline": {"tissue", "species", "n_genes", "ranking", "max_p_val_adj", "min_log2fc", "min_pct1",
                     "provider", "model", "scoring_provider", "scoring_model", "boost_provider", "boost_model",
                     "score_threshold", "out_dir", "max_workers", "resume", "report", "review_provider",
                     "review_model", "stage_models", "estimate_cost"},
    "arun_pipeline": {"tissue", "scoring_provider", "boost_provider", "min_pct1"},
    "run_batch": {"tissue", "species", "n_genes", "max_p_val_adj", "provider", "model", "out_dir", "review_model",
                  "estimate_cost"},
    "arun_batch": {"tissue", "min_log2fc", "provider"},
    "run_score_batch": {"provider", "model", "rescore", "report"},
    "arun_score_batch": {"provider", "rescore"},
    "run_uncertainty": {"n", "tissue", "weights", "threshold", "unify_provider", "temperature", "min_log2fc",
                        "max_tokens"},
    "arun_uncertainty": {"n", "unify_model"},
    "run_n_times": {"n", "seed", "temperature", "tissue", "n_genes", "max_tokens"},
    "run_annotation_boost": {"run_dir", "previous", "max_iterations", "mode", "additional_task", "provider",
                             "boost_max_tokens"},
    "run_subclusters": {"major_cluster_info", "group_size", "scoring_provider", "max_p_val_adj", "max_tokens",
                        "scoring_max_tokens"},
    "arun_subclusters": {"major_cluster_info", "group_size"},
    "score_runs": {"weights", "labels", "agents", "out_dir", "max_tokens"},
    "run_ensemble": {"models", "threshold", "rounds", "arbiter", "arbiter_model", "timeout", "tissue", "n_genes",
                     "max_tokens",
                     "min_pct1", "out_dir", "resume"},
    "arun_ensemble": {"models", "threshold", "arbiter"},
    "merge_annotations": {"levels", "column", "provider"},
    "annotate_anndata": {"groupby", "key_added", "rank_key", "gene_symbols", "provider", "tissue", "n_genes",
                         "min_pct1", "scoring_provider", "out_dir", "review_model", "stage_models"},
}
# Entry points that run the whole pipeline take all of run_pipeline's options (a cut-off reply
# names max_tokens=; an entry point without it leaves that advice impossible to follow).
PIPELINE_LIKE = {"annotate_anndata": {"markers", "estimate_cost"}}


@pytest.mark.parametrize("name", sorted(PIPELINE_LIKE))
def test_pipeline_entry_points_take_every_pipeline_option(name):
    pipeline = set(inspect.signature(cassia.run_pipeline).parameters) - PIPELINE_LIKE[name]
    assert pipeline - set(inspect.signature(getattr(cassia, name)).parameters) == set()


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_signature_shows_every_option_keyword_only_and_typed(name):
    function = getattr(cassia, name)
    parameters = inspect.signature(function).parameters
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()), f"{name} takes **kwargs"
    missing = PUBLIC[name] - set(parameters)
    assert missing == set(), f"{name} does not show {missing}"
    options = [p for p in list(parameters.values())[1:] if p.name != "cluster"]  # data first, options after
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in options), name
    untyped = [p.name for p in parameters.values() if p.annotation is inspect.Parameter.empty]
    assert untyped == [], f"{name}: untyped {untyped}"
    assert function.__doc__ and function.__doc__.strip()


def test_async_forms_are_coroutine_functions_with_the_same_options():
    for sync, aio in (("run_pipeline", "arun_pipeline"), ("run_batch", "arun_batch"),
                      ("run_uncertainty", "arun_uncertainty"), ("run_subclusters", "arun_subclusters"),
                      ("run_score_batch", "arun_score_batch"), ("run_ensemble", "arun_ensemble")):
        assert inspect.iscoroutinefunction(getattr(cassia, aio))
        assert (list(inspect.signature(getattr(cassia, sync)).parameters)
                == list(inspect.signature(getattr(cassia, aio)).parameters)), sync


@pytest.mark.parametrize("call, wrong, right", [
    (lambda: cassia.run_pipeline("m.csv", tisue="blood"), "tisue", "tissue"),
    (lambda: cassia.run_batch("m.csv", n_gene=10), "n_gene", "n_genes"),
    (lambda: cassia.run_uncertainty("m.csv", treshold=80), "treshold", "threshold"),
    (lambda: cassia.run_subclusters("m.csv", major_cluster_info="T", grup_size=3), "grup_size", "group_size"),
    (lambda: cassia.run_annotation_boost("m.csv", "1", max_iteration=2), "max_iteration", "max_iterations"),
    (lambda: cassia.score_runs([], wieghts=(1, 0)), "wieghts", "weights"),
    (lambda: cassia.merge_annotations("x", Levels=("a",)), "Levels", "levels"),
])
def test_misspelled_option_is_a_type_error_naming_the_closest(call, wrong, right):
    with pytest.raises(TypeError) as caught:
        call()  # raised before anything is read: "m.csv" does not exist
    message = str(caught.value)
    assert f"unexpected keyword argument '{wrong}'" in message  # Python's own clause, kept for parsers
    assert f"did you mean '{right}'?" in message


def test_misspelling_in_the_async_form_raises_on_await():
    with pytest.raises(TypeError, match="did you mean 'scoring_model'"):
        asyncio.run(cassia.arun_pipeline("m.csv", scoring_modle="x"))


def test_unknown_option_without_a_close_match_lists_the_valid_ones():
    with pytest.raises(TypeError) as caught:
        cassia.run_score_batch("run", zzzzzz=1)
    assert "its keyword arguments are:" in str(caught.value) and "rescore" in str(caught.value)


def test_checked_leaves_real_errors_and_valid_calls_alone():
    @checked
    def f(a, *, alpha: int = 1, beta: int = 2) -> int:
        return a + alpha + beta

    assert f(1, beta=5) == 7
    assert inspect.signature(f) == inspect.signature(f.__wrapped__)
    with pytest.raises(TypeError, match="did you mean 'alpha'"):
        f(1, aplha=3)
    assert did_you_mean("SPECIES", ["species", "tissue"]) == "species"
    assert did_you_mean("qqq", ["species", "tissue"]) is None


def test_a_marker_set_keeps_its_selection_unless_an_option_asks_otherwise(tmp_path):
    markers = cassia.load_markers(cassia.example_markers_path(), n_genes=10, ranking="p_val_adj")
    kept = cassia.run_batch(markers, provider="offline", out_dir=tmp_path / "kept", progress=False)
    assert kept.manifest["settings"]["n_genes"] == 10 and kept.manifest["settings"]["ranking"] == "p_val_adj"
    assert all(len(r.markers) <= 10 for r in kept.results)
    wider = cassia.run_batch(markers, n_genes=20, provider="offline", out_dir=tmp_path / "wider", progress=False)
    assert wider.manifest["settings"]["n_genes"] == 20
    assert max(len(r.markers) for r in wider.results) > 10


def test_marker_filters_reach_the_selection(tmp_path):
    strict = cassia.run_batch(cassia.example_markers_path(), provider="offline", min_log2fc=2.0, n_genes=50,
                              out_dir=tmp_path / "strict", progress=False)
    loose = cassia.run_batch(cassia.example_markers_path(), provider="offline", min_log2fc=None, n_genes=50,
                             out_dir=tmp_path / "loose", progress=False)
    assert strict.manifest["input"]["filters"]["min_log2fc"] == 2.0
    assert loose.manifest["input"]["filters"]["min_log2fc"] is None
    assert sum(len(r.markers) for r in strict.results) < sum(len(r.markers) for r in loose.results)


def test_cassia_compatible_aliases_stay_thin():
    assert cassia.runCASSIA_batch_n_times is cassia.run_n_times
    assert cassia.runCASSIA_similarity_score_batch is cassia.score_runs
    assert inspect.signature(cassia.runCASSIA_pipeline) == inspect.signature(cassia.run_pipeline)
