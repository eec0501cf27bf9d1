"""What every interface shares: one exit-code contract for the CLI, the same marker options
everywhere, and messages that name an option the way the user's interface spells it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cassia.cli import main
from cassia.cli.common import EXIT_FAILED, EXIT_INPUT, EXIT_OK, EXIT_PARTIAL, outcome_code
from cassia.errors import InputError
from cassia.markers import MarkerFilters, load_markers
from cassia.spelling import interface, spell

SMALL = Path(__file__).resolve().parents[2] / "python/cassia/data/pbmc_small_markers.csv"
DEAD_URL = "http://127.0.0.1:9/v1"


# ---------------------------------------------------------------- spelling


@pytest.mark.parametrize("where, resume, off, flag", [
    ("python", "resume=True", "max_p_val_adj=None", "max_p_val_adj"),
    ("cli", "--resume", "--max-p-adj none", "--max-p-adj"),
    ("r", "resume = TRUE", "max_p_val_adj = NULL", "max_p_val_adj"),
])
def test_options_are_spelled_the_way_each_interface_writes_them(where, resume, off, flag):
    with interface(where):
        assert spell("resume", True) == resume
        assert spell("max_p_val_adj", None) == off
        assert spell("max_p_val_adj") == flag
    assert spell("resume", True) == "resume=True"  # the block's spelling does not leak out


def test_filter_errors_name_the_option_of_the_interface_in_use():
    def message() -> str:
        with pytest.raises(InputError) as err:
            load_markers(SMALL, filters=MarkerFilters(min_log2fc=100))
        return str(err.value)

    assert "lower min_log2fc (the best avg_log2FC here is" in message()
    with interface("cli"):
        cli = message()
    assert "lower --min-log2fc (" in cli and "-- none turns a filter off" not in cli
    assert "none turns a filter off" in cli and "=None" not in cli
    with interface("r"):
        r = message()
    assert "lower min_log2fc (" in r and "= NULL turns a filter off" in r and "=None" not in r


# ---------------------------------------------------------------- exit codes


def test_exit_codes_say_all_done_partial_or_nothing():
    assert outcome_code(3, 0) == EXIT_OK == 0
    assert outcome_code(3, 1) == EXIT_PARTIAL == 3
    assert outcome_code(3, 3) == EXIT_FAILED == 1
    assert outcome_code(0, 0) == EXIT_OK
    assert EXIT_INPUT == 2


def test_annotate_exits_3_on_partial_failure_and_0_after_resume(tmp_path, fake_server, capsys):
    fake_server.fail_when("FCER2")  # cluster 2's marker: that cluster fails, the others succeed
    out = tmp_path / "run"
    args = ["--quiet", "annotate", "--input", str(SMALL), "--provider", fake_server.url, "--out", str(out),
            "--no-cache"]
    assert main(args) == EXIT_PARTIAL
    err = capsys.readouterr().err
    assert "failed: 2:" in err
    summary = pd.read_csv(out / "summary.csv", dtype={"Cluster ID": str})
    assert list(summary["Cluster ID"]) == ["0", "1", "2"]  # the input's order
    assert list(summary["Status"]) == ["ok", "ok", "failed"]

    fake_server.reset()
    assert main([*args, "--resume"]) == EXIT_OK
    assert list(pd.read_csv(out / "summary.csv")["Status"]) == ["ok", "ok", "ok"]


def test_pipeline_exits_1_when_every_cluster_failed(tmp_path, capsys):
    code = main(["--quiet", "pipeline", "--input", str(SMALL), "--provider", DEAD_URL, "--out", str(tmp_path / "r"),
                 "--no-cache", "--clusters", "0"])
    assert code == EXIT_FAILED
    assert "failed: 0:" in capsys.readouterr().err


# ---------------------------------------------------------------- marker options on the command line


def _dry_run(capsys, *args: str) -> dict:
    assert main(["annotate", "--dry-run", "--json", *args]) == EXIT_OK
    return json.loads(capsys.readouterr().out)


def test_filter_flags_change_the_markers_sent(capsys):
    default = _dry_run(capsys, "--input", str(SMALL))
    strict = _dry_run(capsys, "--input", str(SMALL), "--min-log2fc", "2")
    sizes = {c["cluster"]: len(c["markers"]) for c in default["clusters"]}
    assert all(len(c["markers"]) <= sizes[c["cluster"]] for c in strict["clusters"])
    assert any(len(c["markers"]) < sizes[c["cluster"]] for c in strict["clusters"])
    expected = load_markers(SMALL, filters=MarkerFilters(min_log2fc=2))
    assert [list(c["markers"]) for c in strict["clusters"]] == [list(cm.genes) for cm in expected]
    opened = _dry_run(capsys, "--input", str(SMALL), "--max-p-adj", "none", "--min-pct1", "off", "--n-genes", "500")
    expected = load_markers(SMALL, n_genes=500, filters=MarkerFilters(max_p_val_adj=None, min_pct1=None))
    assert [list(c["markers"]) for c in opened["clusters"]] == [list(cm.genes) for cm in expected]


def test_filter_flags_exist_on_every_command_that_reads_markers():
    from cassia.cli import build_parser

    parser = build_parser()
    for command in (["annotate"], ["pipeline"], ["subcluster", "run"], ["uncertainty"], ["ensemble"], ["boost", "run"],
                    ["boost", "auto"], ["validate"]):
        sub = parser
        for word in command:
            sub = next(a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction").choices[word]
        flags = {s for action in sub._actions for s in action.option_strings}
        assert {"--n-genes", "--ranking", "--max-p-adj", "--min-log2fc", "--min-pct1", "--cluster-col",
                "--gene-col"} <= flags, command


@pytest.mark.parametrize("column, flag", [("cluster", "--cluster-col"), ("gene", "--gene-col")])
def test_an_unrecognised_column_names_a_flag_the_command_has(column, flag, tmp_path, capsys):
    table = tmp_path / "markers.csv"
    pd.read_csv(SMALL).rename(columns={column: "my_col"}).to_csv(table, index=False)
    args = ["--quiet", "annotate", "--input", str(table), "--provider", "offline", "--no-cache"]
    assert main([*args, "--out", str(tmp_path / "refused")]) == EXIT_INPUT
    assert f"or pass {flag}." in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "run"), flag, "my_col"]) == EXIT_OK


def test_a_filter_that_empties_clusters_names_the_flag(tmp_path, capsys):
    code = main(["pipeline", "--input", str(SMALL), "--provider", DEAD_URL, "--out", str(tmp_path / "r"),
                 "--max-p-adj", "1e-300"])
    assert code == EXIT_INPUT
    err = capsys.readouterr().err
    assert "raise --max-p-adj (the best p_val_adj here is" in err
    assert "max_p_val_adj=None" not in err and "resume=True" not in err


def test_a_cluster_name_with_a_comma_can_be_selected(tmp_path, capsys):
    table = tmp_path / "markers.csv"
    pd.DataFrame({"cluster": ["T, NK", "T, NK", "B"], "gene": ["CD3D", "NKG7", "MS4A1"],
                  "avg_log2FC": [2.0, 1.5, 3.0], "p_val_adj": [1e-10, 1e-8, 1e-12], "pct.1": [0.9, 0.8, 0.9]}
                 ).to_csv(table, index=False)
    shown = _dry_run(capsys, "--input", str(table), "--cluster", "T, NK")
    assert [c["cluster"] for c in shown["clusters"]] == ["T, NK"]
    both = _dry_run(capsys, "--input", str(table), "--clusters", "B", "--cluster", "T, NK")
    assert [c["cluster"] for c in both["clusters"]] == ["T, NK", "B"]  # kept in the table's order


def test_missing_key_advice_fits_the_interface(monkeypatch):
    from cassia.errors import MissingKeyError
    from cassia.providers import get_provider

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    def advice() -> str:
        with pytest.raises(MissingKeyError) as err:
            get_provider("openai")
        return str(err.value)

    assert "cassia.set_api_key(key, provider='openai')" in advice()
    with interface("r"):
        r = advice()
    assert 'setLLMApiKey(key, provider = "openai")' in r and "api_key=" not in r
    with interface("cli"):
        cli = advice()
    assert "OPENAI_API_KEY" in cli and "api_key" not in cli


@pytest.mark.parametrize("command", [
    ["boost", "run", "--run", "{run}", "--markers", str(SMALL), "--cluster", "1"],
    ["subcluster", "run", "--markers", str(SMALL), "--major-cluster-info", "T cells", "--out", "{run}"],
])
def test_a_workflow_that_needs_a_model_names_the_flag_that_chooses_one(command, tmp_path, monkeypatch, capsys):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    run = tmp_path / "run"
    if command[0] == "boost":
        assert main(["--quiet", "annotate", "--input", str(SMALL), "--provider", "offline", "--out", str(run),
                     "--no-cache"]) == EXIT_OK
    capsys.readouterr()
    assert main(["--quiet", *[a.replace("{run}", str(run)) for a in command]]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "offline knowledge-base annotator (--provider offline)" in err  # the notice, then the refusal
    assert "Pass --provider (a vendor name" in err and "provider=" not in err


# ---------------------------------------------------------------- marker options in Python


def test_python_entry_points_take_the_filter_keywords(tmp_path):
    import cassia

    default = cassia.run_batch(SMALL, provider="offline", out_dir=tmp_path / "a", progress=False)
    strict = cassia.run_batch(SMALL, provider="offline", out_dir=tmp_path / "b", progress=False, min_log2fc=2)
    expected = load_markers(SMALL, filters=MarkerFilters(min_log2fc=2))
    assert [list(r.markers) for r in strict.results] == [list(cm.genes) for cm in expected]
    assert [len(r.markers) for r in strict.results] != [len(r.markers) for r in default.results]
    assert strict.manifest["input"]["filters"]["min_log2fc"] == 2
    with pytest.raises(InputError, match="lower min_log2fc"):
        cassia.run_subclusters(SMALL, major_cluster_info="PBMC", provider="offline", out_dir=tmp_path / "c",
                               progress=False, min_log2fc=100)
    with pytest.raises(InputError, match="raise max_p_val_adj"):
        cassia.run_n_times(SMALL, n=1, provider="offline", out_dir=tmp_path / "d", progress=False,
                           max_p_val_adj=1e-300)


def test_a_marker_set_keeps_its_filters_unless_new_ones_are_asked_for(tmp_path):
    import cassia

    own = load_markers(SMALL, filters=MarkerFilters(min_log2fc=2))
    kept = cassia.run_batch(own, provider="offline", out_dir=tmp_path / "a", progress=False)
    assert [list(r.markers) for r in kept.results] == [list(cm.genes) for cm in own]
    reselected = cassia.run_batch(own, provider="offline", out_dir=tmp_path / "b", progress=False, min_log2fc=3)
    assert [list(r.markers) for r in reselected.results] == [
        list(cm.genes) for cm in load_markers(SMALL, filters=MarkerFilters(min_log2fc=3))]


def _subcommands(parser, path=()):
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    if not actions:
        yield path, parser
    for action in actions:
        for name, sub in action.choices.items():
            yield from _subcommands(sub, (*path, name))


def test_every_command_that_calls_a_model_takes_its_output_limit():
    # a reply cut off at the limit names the flag to raise it; a command without one strands the user
    from cassia.cli import build_parser

    for path, sub in _subcommands(build_parser()):
        flags = {s for action in sub._actions for s in action.option_strings}
        if flags & {"--provider", "--model"}:  # the ensemble names its models with --model
            assert {f for f in flags if f.endswith("max-tokens")}, path


@pytest.mark.parametrize("command", [
    ["uncertainty", "--input", str(SMALL), "--n", "2", "--no-agents", "--out"],
    ["subcluster", "run", "--markers", str(SMALL), "--major-cluster-info", "PBMCs", "--no-score", "--out"],
    ["ensemble", "--input", str(SMALL), "--model", "offline", "--out"],
])
def test_the_output_limit_reaches_the_requests(command, tmp_path, fake_server, capsys):
    backend = ["--model", f"{fake_server.url}:m"] if command[0] == "ensemble" else ["--provider", fake_server.url]
    main(["--quiet", *command, str(tmp_path / "out"), *backend, "--max-tokens", "432", "--no-cache"])
    assert {r.body.get("max_tokens") for r in fake_server.requests if r.method == "POST"} == {432}


def test_evaluate_pipeline_limits_reach_the_scorer_and_batch_mode_refuses_them(tmp_path, fake_server, capsys):
    table = tmp_path / "bench.csv"
    pd.DataFrame({"marker": ["CD3E, CD3D, CD2, IL7R", "CD14, LYZ, S100A8, FCN1"], "gold": ["T cell", "monocyte"],
                  "tissue": ["blood", "blood"], "dataset": ["d", "d"]}).to_csv(table, index=False)
    evaluate = ["--quiet", "evaluate", "--table", str(table), "--provider", fake_server.url, "--no-cache", "--no-report"]
    main([*evaluate, "--mode", "pipeline", "--out", str(tmp_path / "p"), "--max-tokens", "432",
          "--scoring-max-tokens", "321"])
    scorer = [r for r in fake_server.requests if r.method == "POST" and (r.schema() or (None, None))[1] == "ScorerOutput"]
    assert scorer and {r.body.get("max_tokens") for r in scorer} == {321}
    assert main([*evaluate, "--out", str(tmp_path / "b"), "--scoring-max-tokens", "321"]) == EXIT_INPUT
    assert "--mode pipeline" in capsys.readouterr().err


def test_scoring_a_mistyped_run_folder_creates_nothing_and_names_the_option(tmp_path, capsys):
    missing = tmp_path / "typo"
    assert main(["--quiet", "score", str(missing)]) == EXIT_INPUT
    assert not missing.exists()
    assert "pass the folder a run wrote (--out)" in capsys.readouterr().err
    import cassia

    with pytest.raises(InputError, match=r"\(out_dir\)"):
        cassia.run_score_batch(missing, provider="offline")
    with interface("r"), pytest.raises(InputError, match=r"\(out_dir\)"):
        cassia.RunResult.load(missing)
    assert not missing.exists()
