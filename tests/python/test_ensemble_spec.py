"""How ensemble members are named and checked: spec strings, dicts, providers; errors before any file."""

from __future__ import annotations

import pandas as pd
import pytest

import cassia
from cassia.errors import ConfigError, InputError, MissingKeyError
from cassia.ontology.compare import consensus_proportion, is_no_call, vote_entropy
from cassia.testing import ScriptedProvider
from cassia.workflows.ensemble import parse_spec, resolve_models
from cassia.workflows.ensemble.spec import resolve_arbiter


@pytest.mark.parametrize("spec, expected", [
    ("openai:gpt-4.1", ("openai", "gpt-4.1")),
    ("anthropic:claude-sonnet-4-5", ("anthropic", "claude-sonnet-4-5")),
    ("ollama:llama3.1:8b", ("ollama", "llama3.1:8b")),  # the model keeps its own colon
    ("http://127.0.0.1:8000/v1:llama3.1:8b", ("http://127.0.0.1:8000/v1", "llama3.1:8b")),  # the port is safe
    ("http://127.0.0.1:8000/v1", ("http://127.0.0.1:8000/v1", None)),
    ("https://host.example/api/v1:m", ("https://host.example/api/v1", "m")),
    ("offline", ("offline", None)),
    ("claude-cli", ("claude-cli", None)),
])
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


def test_members_get_unique_labels_from_their_specs(tmp_path):
    members = resolve_models(["offline", "http://127.0.0.1:9/v1:m1", "http://127.0.0.1:9/v1:m1",
                              {"provider": "http://127.0.0.1:9/v1", "model": "m2", "label": "second"},
                              ScriptedProvider(lambda r: "x", model="scripted-9"), "claude-cli"],
                             cache_path=tmp_path / "c.sqlite")
    assert [m.label for m in members] == ["offline", "m1", "m1-2", "second", "scripted-9", "claude-cli"]
    assert members[1].provider.config.model == "m1" and members[1].provider.config.base_url == "http://127.0.0.1:9/v1"
    assert type(members[1].provider).__name__ == "CachedProvider"  # every named backend behind the cache
    assert members[0].offline and not members[1].offline
    assert "api_key" not in str(members[3].public())


def test_explicit_labels_must_be_unique_and_safe():
    with pytest.raises(InputError, match="given twice"):
        resolve_models([{"provider": "offline", "label": "x"}, {"provider": "offline", "label": "x"}])
    with pytest.raises(InputError, match="letters, digits"):
        resolve_models([{"provider": "offline", "label": "../x"}, "offline"])


@pytest.mark.parametrize("models, error, message", [
    (["offline"], InputError, "at least two models"),
    ("offline", InputError, "list of at least two"),
    (["nosuchvendor:x", "offline"], ConfigError, "unknown provider 'nosuchvendor'"),
    (["openai:gpt-4.1", "offline"], MissingKeyError, "OPENAI_API_KEY"),
    (["openai:", "offline"], InputError, "names no model"),
    ([{"model": "x"}, "offline"], InputError, "needs a 'provider'"),
])
def test_bad_models_fail_before_anything_is_written(tmp_path, models, error, message):
    out = tmp_path / "ens"
    with pytest.raises(error, match=message):
        cassia.run_ensemble(cassia.example_markers_path(), models=models, out_dir=out, progress=False)
    assert not out.exists()


@pytest.mark.parametrize("options, message", [
    ({"threshold": 0}, "threshold"), ({"threshold": 1.5}, "threshold"), ({"rounds": -1}, "rounds"),
    ({"timeout": 0}, "timeout"), ({"arbiter": "offline"}, "cannot be the arbiter"),
])
def test_bad_settings_fail_before_anything_is_written(tmp_path, options, message):
    out = tmp_path / "ens"
    with pytest.raises((InputError, ConfigError), match=message):
        cassia.run_ensemble(cassia.example_markers_path(), models=["offline", "http://127.0.0.1:9/v1:m"],
                            out_dir=out, progress=False, **options)
    assert not out.exists()


def test_arbiter_defaults_to_the_first_model_that_is_not_offline(tmp_path):
    members = resolve_models(["offline", "http://127.0.0.1:9/v1:m1", "http://127.0.0.1:9/v1:m2"],
                             cache_path=tmp_path / "c.sqlite")
    assert resolve_arbiter(None, None, members).label == "m1"
    assert resolve_arbiter("m2", None, members).label == "m2"
    other = resolve_arbiter(None, "big-model", members, cache_path=tmp_path / "c.sqlite")
    assert other.provider.config.model == "big-model" and other.provider.config.base_url == "http://127.0.0.1:9/v1"
    assert resolve_arbiter(None, None, resolve_models(["offline", "offline"])) is None


def test_two_offline_voters_agree_without_a_call(tmp_path):
    result = cassia.run_ensemble(cassia.example_markers_path(), models=["offline", "offline"],
                                 out_dir=tmp_path / "ens", progress=False)
    assert result.models == ["offline", "offline-2"]
    frame = result.to_frame()
    assert set(frame["Ensemble Status"]) <= {"agreed", "no vote"}
    assert (frame["Deliberation Calls"] == 0).all()
    ok = frame[frame["Status"] == "ok"]
    assert (ok["Predicted General Cell Type"].notna()).all() and (ok["Consensus Proportion"] == 1).all()


def test_agreement_helpers():
    assert consensus_proportion(["a", "a", None]) == pytest.approx(2 / 3)  # a missing vote lowers it
    assert consensus_proportion(["a", "b", "c"]) == pytest.approx(1 / 3)
    assert consensus_proportion([None, None]) == 0 and consensus_proportion([]) is None
    assert vote_entropy(["a", "a", None]) == 0
    assert vote_entropy(["a", "b"]) == pytest.approx(1.0) and vote_entropy(["a", "b", "c", "d"]) == pytest.approx(2.0)
    assert vote_entropy([None]) is None
    assert is_no_call("Unknown") and is_no_call("  ") and is_no_call(None) and is_no_call("T cell", "failed")
    assert not is_no_call("T cell") and is_no_call("not_determined") and is_no_call("Unassigned.")


def test_run_ensemble_is_typed_and_checked():
    with pytest.raises(TypeError, match="did you mean 'threshold'"):
        cassia.run_ensemble(pd.DataFrame(), models=["offline", "offline"], treshold=0.5)
    assert cassia.runCASSIA_ensemble is cassia.run_ensemble and cassia.symphonyCompare is cassia.run_ensemble
