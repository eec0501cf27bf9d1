"""Cost from the registry's prices: known models, vendor prefixes and snapshots, unknown and local
models, cached input at the cached price."""

from __future__ import annotations

import pytest

from cassia.models import Usage
from cassia.providers import pricing

MILLION = Usage(input_tokens=1_000_000, output_tokens=1_000_000)


@pytest.mark.parametrize("model,price", [
    ("gpt-4o", (2.50, 10.00)),
    ("gpt-4o-2024-08-06", (2.50, 10.00)),
    ("claude-sonnet-4-5-20250929", (3.00, 15.00)),
    ("anthropic/claude-sonnet-4.5", (3.00, 15.00)),
    ("google/gemini-2.5-flash", (0.30, 2.50)),
    ("DeepSeek-Chat", (0.27, 1.10)),
])
def test_known_models_and_their_aliases(model, price):
    found = pricing.price_of(model)
    assert (found.input, found.output) == price
    assert pricing.cost_usd(model, MILLION) == pytest.approx(sum(price))


def test_unknown_model_costs_none_and_local_costs_nothing():
    assert pricing.price_of("my-finetune") is None
    assert pricing.cost_usd("my-finetune", MILLION) is None
    assert pricing.cost_usd("my-finetune", MILLION, local=True) == 0.0


def test_set_price_adds_a_model():
    pricing.set_price("Lab/New-Model", 1.0, 4.0)
    assert pricing.cost_usd("lab/new-model", Usage(input_tokens=500_000, output_tokens=250_000)) == pytest.approx(1.5)


def test_provider_prompt_cache_hits_are_charged_at_the_cached_price():
    usage = Usage(input_tokens=1_000_000, output_tokens=0, input_cached_tokens=400_000)
    # gpt-4o: $2.50 per 1M input, $1.25 per 1M cached input
    assert pricing.cost_usd("gpt-4o", usage) == pytest.approx(0.6 * 2.50 + 0.4 * 1.25)
    pricing.set_price("no-cache-price", 2.0, 0.0)  # without a cached price, cached input costs list
    assert pricing.cost_usd("no-cache-price", usage) == pytest.approx(2.0)
    # tokens our own response cache answered cost nothing
    assert pricing.cost_usd("gpt-4o", Usage(cached_tokens=5_000_000)) == 0.0
