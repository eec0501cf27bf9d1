"""Stage models that fit the work, and the cost preview (estimate_cost=, cassia --dry-run)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import cassia
from cassia.agents.estimate import CostEstimate
from cassia.providers import pricing
from cassia.providers.stages import lighter_model, resolve_stages, stage_choices
from cassia.testing import FakeLLMServer

MARKERS = pd.DataFrame({"cluster": ["t"] * 3 + ["b"] * 3, "gene": ["CD3D", "CD3E", "CD2", "MS4A1", "CD79A", "CD19"],
                        "avg_log2FC": [3.0, 2.0, 1.0] * 2, "p_val_adj": [1e-9] * 6, "pct.1": [0.9] * 6,
                        "pct.2": [0.1] * 6})


@pytest.mark.parametrize("model, sibling", [
    ("gpt-4.1", "gpt-4.1-mini"), ("gpt-4o-2024-08-06", "gpt-4o-mini"), ("gpt-5", "gpt-5-mini"),
    ("claude-sonnet-4-5-20250929", "claude-haiku-4-5"), ("claude-opus-4-1", "claude-haiku-4-5"),
    ("anthropic/claude-sonnet-4.5", "anthropic/claude-haiku-4.5"), ("google/gemini-2.5-pro", "google/gemini-2.5-flash"),
    ("deepseek-reasoner", "deepseek-chat"),
    ("gpt-4.1-mini", None), ("claude-haiku-4-5", None), ("gemini-2.5-flash", None), ("llama3.1:8b", None),
])
def test_cheaper_sibling_of_a_model(model, sibling):
    assert lighter_model(model) == sibling


def test_review_and_scoring_default_to_the_cheaper_sibling_and_stay_overridable():
    chosen = stage_choices(provider="anthropic", model="claude-sonnet-4-5")
    assert chosen["annotator"] == ("anthropic", "claude-sonnet-4-5") and chosen["boost"] == ("anthropic", "claude-sonnet-4-5")
    assert chosen["review"] == chosen["scorer"] == ("anthropic", "claude-haiku-4-5")
    named = stage_choices(provider="anthropic", model="claude-sonnet-4-5", scoring_model="claude-opus-4-1",
                          review_model="claude-sonnet-4-5")
    assert named["scorer"][1] == "claude-opus-4-1" and named["review"][1] == "claude-sonnet-4-5"
    same = stage_choices(provider="anthropic", model="claude-sonnet-4-5", stage_models=False)
    assert {model for _, model in same.values()} == {"claude-sonnet-4-5"}
    # the vendor's default model gets its sibling too; a custom URL or a local server never switches
    assert stage_choices(provider="openai")["review"] == ("openai", "gpt-4.1-mini")
    assert stage_choices(provider="openai", model="gpt-4o", base_url="http://127.0.0.1:9/v1")["review"][1] == "gpt-4o"
    assert stage_choices(provider="http://127.0.0.1:9/v1", model="gpt-4o")["scorer"][1] == "gpt-4o"
    assert stage_choices(provider="ollama", model="llama3.1:8b")["review"][1] == "llama3.1:8b"


def test_resolved_stages_build_the_sibling_and_say_it_in_the_manifest_settings():
    stages = resolve_stages(provider="openai", model="gpt-4.1", api_key="sk-test-stage-models", use_cache=False)
    public = stages.public()
    assert public["annotator"]["model"] == "gpt-4.1" and public["boost"]["model"] == "gpt-4.1"
    assert public["review"]["model"] == public["scorer"]["model"] == "gpt-4.1-mini"
    assert stages.reviewer is stages.scorer  # one backend per distinct (vendor, model, limit)


def test_estimate_cost_sends_nothing_and_prices_every_stage(tmp_path):
    with FakeLLMServer() as server:
        estimate = cassia.run_pipeline(MARKERS, provider="anthropic", model="claude-sonnet-4-5", tissue="blood",
                                       out_dir=tmp_path / "run", estimate_cost=True, progress=False)
        batch = cassia.run_batch(MARKERS, provider=server.url, model="gpt-4o", out_dir=tmp_path / "b",
                                 estimate_cost=True, progress=False)
        assert server.requests == []
    assert isinstance(estimate, CostEstimate) and not (tmp_path / "run").exists()  # no key, no run directory
    assert [(s.stage, s.model, s.calls) for s in estimate.stages] == [
        ("annotator", "claude-sonnet-4-5", 2), ("review", "claude-haiku-4-5", 2), ("scorer", "claude-haiku-4-5", 2)]
    for s in estimate.stages:
        usage = cassia.models.Usage(input_tokens=s.input_tokens, output_tokens=s.output_tokens)
        assert s.cost_usd == pytest.approx(pricing.cost_usd(s.model, usage), abs=1e-6) and s.cost_usd > 0
    assert estimate.calls == 6 and estimate.cost_usd == pytest.approx(sum(s.cost_usd for s in estimate.stages))
    assert "claude-haiku-4-5: 2 calls" in estimate.text() and "Boost" in estimate.text()
    # batch: two calls per cluster; a server on this machine costs nothing
    assert batch.calls == 4 and [s.stage for s in batch.stages] == ["annotator", "review"] and batch.cost_usd == 0
    # the estimate follows the real prompts: more markers, more input tokens
    bigger = pd.concat([MARKERS, MARKERS.assign(gene=MARKERS["gene"] + "X", avg_log2FC=0.5)])
    more = cassia.run_batch(bigger, provider="openai", estimate_cost=True, progress=False)
    assert more.stages[0].input_tokens > cassia.run_batch(MARKERS, provider="openai", estimate_cost=True,
                                                          progress=False).stages[0].input_tokens


def test_cli_dry_run_prints_the_expected_calls_tokens_and_dollars(tmp_path, monkeypatch, capsys):
    from cassia.cli import main

    table = tmp_path / "markers.csv"
    MARKERS.to_csv(table, index=False)
    monkeypatch.chdir(tmp_path)
    command = ["pipeline", "--input", str(table), "--provider", "openai", "--model", "gpt-4.1", "--dry-run"]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "=== expected cost ===" in out and "openai/gpt-4.1-mini: 2 calls" in out
    assert "total     6 calls" in out and "$" in out
    assert main([*command, "--json", "--one-model"]) == 0
    estimate = json.loads(capsys.readouterr().out)["estimate"]
    assert {s["model"] for s in estimate["stages"]} == {"gpt-4.1"} and estimate["calls"] == 6
    assert not (tmp_path / "cassia_out").exists()
