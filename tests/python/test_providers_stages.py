"""Every stage takes the same provider forms and limits; runs go past 8 in flight; reruns cost 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cassia
from cassia.cli import main
from cassia.providers import ProviderConfig, get_provider, set_model_capabilities
from cassia.providers.cache import CachedProvider, ResponseCache
from cassia.providers.stages import StageProviders, resolve_stages
from cassia.testing import FakeLLMServer

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "markers"
PBMC = DATA / "pbmc3k_findallmarkers.csv"


def inner(provider):
    return getattr(provider, "inner", provider)


def test_each_stage_takes_every_provider_form_and_its_own_output_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-stage-forms-0000")
    ready = get_provider("offline")
    config = ProviderConfig(name="custom", kind="openai", model="cfg-model", base_url="http://127.0.0.1:9/v1")
    stages = resolve_stages(provider="http://127.0.0.1:9/v1", model="m", scoring_provider=config,
                            boost_provider=ready, max_tokens=900, scoring_max_tokens=300, max_concurrency=3,
                            cache_path=tmp_path / "c.sqlite")
    assert inner(stages.annotator).config.max_tokens == 900 and inner(stages.annotator).config.max_concurrency == 3
    assert inner(stages.scorer).config.model == "cfg-model" and inner(stages.scorer).config.max_tokens == 300
    assert stages.boost is ready
    named = resolve_stages(provider="offline", scoring_provider="claude-cli", boost_provider="openai",
                           boost_max_tokens=200, use_cache=False)
    assert [inner(p).config.kind for p in (named.annotator, named.scorer, named.boost)] == ["offline", "cli", "openai"]
    assert named.boost.config.max_tokens == 200 and named.annotator.config.max_tokens is None


def test_the_cli_sends_more_than_8_requests_at_once_and_passes_the_limits(tmp_path, capsys):
    with FakeLLMServer(latency=0.3) as server:
        code = main(["pipeline", "--input", str(PBMC), "--provider", server.url, "--out", str(tmp_path / "run"),
                     "--max-workers", "9", "--max-tokens", "700", "--scoring-max-tokens", "250", "--no-cache",
                     "--quiet", "--json"])
        assert code == 0 and server.max_in_flight > 8
        limits = {r.body.get("max_tokens") for r in server.requests}
        assert limits == {700, 250}
    server_limited = FakeLLMServer(latency=0.2).start()
    try:
        main(["annotate", "--input", str(PBMC), "--provider", server_limited.url, "--out", str(tmp_path / "r2"),
              "--max-workers", "9", "--max-concurrency", "2", "--no-cache", "--quiet", "--json"])
        assert server_limited.max_in_flight == 2
    finally:
        server_limited.stop()


def test_a_rerun_from_the_response_cache_costs_nothing_and_says_what_it_saved(tmp_path):
    set_model_capabilities("priced-model", price=(3.0, 15.0))
    with FakeLLMServer() as server:
        def stages():
            provider = get_provider(server.url, "priced-model")
            provider.local = False  # priced as a hosted model would be
            cached = CachedProvider(provider, ResponseCache(tmp_path / "c.sqlite"))
            return StageProviders(annotator=cached, scorer=cached, boost=cached)

        first = cassia.run_pipeline(PBMC, tissue="blood", providers=stages(), out_dir=tmp_path / "a", progress=False)
        calls = len(server.requests)
        again = cassia.run_pipeline(PBMC, tissue="blood", providers=stages(), out_dir=tmp_path / "b", progress=False)
        assert len(server.requests) == calls  # no HTTP call at all
    spent = json.loads((first.run_dir / "manifest.json").read_text())
    rerun = json.loads((again.run_dir / "manifest.json").read_text())
    assert spent["cost_usd"] > 0 and spent["saved_usd"] == 0
    assert rerun["cost_usd"] == 0 and rerun["saved_usd"] == pytest.approx(spent["cost_usd"])
    assert rerun["usage"]["cached_tokens"] == spent["usage"]["input_tokens"] + spent["usage"]["output_tokens"]
    assert rerun["usage"]["input_tokens"] == 0
    saved = f"${spent['cost_usd']:.2f}" if spent["cost_usd"] >= 0.01 else f"${spent['cost_usd']:.4f}"
    assert f"{saved} saved by the response cache" in (again.run_dir / "report.html").read_text()


def test_a_password_in_the_url_never_reaches_the_run_directory(tmp_path):
    with FakeLLMServer() as server:
        url = server.url.replace("http://", "http://user:pw-4-secret-xyz@")
        result = cassia.run_batch(PBMC, tissue="blood", provider=url, out_dir=tmp_path / "run", progress=False,
                                  clusters=["0", "1"], cache_path=tmp_path / "c.sqlite")
        assert result.manifest["counts"]["ok"] == 2
    for path in result.run_dir.rglob("*"):
        if path.is_file():
            assert "pw-4-secret-xyz" not in path.read_text(errors="replace"), path
    assert "pw-4-secret-xyz" not in (tmp_path / "c.sqlite").read_bytes().decode("latin-1")


def _openai_on(server, monkeypatch):
    """The vendor 'openai' answered by the fake server: stage models apply to a vendor's own API only."""
    import dataclasses

    from cassia.providers.registry import VENDORS

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-stage-wire-0000")
    monkeypatch.setitem(VENDORS, "openai", dataclasses.replace(VENDORS["openai"], base_url=server.url))


def _models_by_call(server) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for r in server.requests:
        wanted = r.schema()
        seen.setdefault(wanted[1] if wanted else "annotator", set()).add(r.body["model"])
    return seen


@pytest.mark.parametrize("flags", [[], ["--timeout", "45"]], ids=["names", "timeout"])
def test_the_cli_sends_the_review_model_on_the_wire_whatever_other_flags_it_has(tmp_path, monkeypatch, flags):
    # --timeout once made the CLI build the provider itself, and a ready provider served every
    # stage with the named model: the review and scoring calls went out as gpt-4.1
    with FakeLLMServer() as server:
        _openai_on(server, monkeypatch)
        command = ["pipeline", "--input", str(PBMC), "--clusters", "0,1", "--provider", "openai", "--model",
                   "gpt-4.1", "--no-cache", "--quiet", "--json", *flags]
        assert main([*command, "--out", str(tmp_path / "staged")]) == 0
        assert _models_by_call(server) == {"annotator": {"gpt-4.1"}, "ReviewOutput": {"gpt-4.1-mini"},
                                           "ScorerOutput": {"gpt-4.1-mini"}}
        manifest = json.loads((tmp_path / "staged" / "manifest.json").read_text())
        assert {p["timeout"] for p in manifest["providers"].values()} == {45.0 if flags else 120.0}
        server.reset()
        assert main([*command, "--one-model", "--out", str(tmp_path / "one")]) == 0
        assert {m for models in _models_by_call(server).values() for m in models} == {"gpt-4.1"}
        server.reset()
        assert main([*command, "--review-model", "gpt-4o", "--out", str(tmp_path / "named")]) == 0
        assert _models_by_call(server)["ReviewOutput"] == {"gpt-4o"}


def test_cli_settings_reach_every_stage_backend_the_cli_names(tmp_path, monkeypatch):
    with FakeLLMServer() as server:
        _openai_on(server, monkeypatch)
        assert main(["pipeline", "--input", str(PBMC), "--clusters", "0", "--provider", "openai", "--model",
                     "gpt-4.1", "--scoring-provider", server.url, "--scoring-model", "judge", "--timeout", "33",
                     "--no-cache", "--quiet", "--json", "--out", str(tmp_path / "run")]) == 0
        assert _models_by_call(server)["ScorerOutput"] == {"judge"}
    providers = json.loads((tmp_path / "run" / "manifest.json").read_text())["providers"]
    assert providers["scorer"]["name"] == "custom" and providers["scorer"]["timeout"] == 33.0
    assert providers["review"]["model"] == "gpt-4.1-mini" and providers["review"]["timeout"] == 33.0


def test_a_config_is_judged_like_the_name_it_configures():
    from cassia.errors import ConfigError
    from cassia.providers.registry import resolve_config
    from cassia.providers.stages import stage_choices
    from cassia.workflows.uncertainty.runs import check_independent

    with pytest.raises(ConfigError, match="deterministic"):  # `cassia uncertainty --provider offline --timeout 5`
        check_independent(3, resolve_config("offline", timeout=5))
    config = resolve_config("anthropic", timeout=5)
    assert stage_choices(provider=config, model="claude-opus-4-1")["review"] == (config, "claude-haiku-4-5")
    elsewhere = resolve_config("openai", base_url="http://127.0.0.1:9/v1")  # a custom URL may not serve the sibling
    assert stage_choices(provider=elsewhere, model="gpt-4.1")["review"][1] == "gpt-4.1"
