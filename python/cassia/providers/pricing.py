"""What a call cost: arithmetic over the prices in the model capability registry.

Prices live with the rest of what is known about a model (:mod:`.capabilities`, US dollars per
one million tokens: input, output, cached input). A model without a price costs ``None``
(unknown) rather than a guess; :func:`set_price` adds or corrects one. Calls to a server on
this machine (Ollama, vLLM, LM Studio, a local URL) cost 0. Of the input tokens, those the
provider served from its prompt cache (``Usage.input_cached_tokens``) are charged at the cached
price, those written to it (``Usage.input_cache_write_tokens``) at the cache-write price; tokens our
own response cache answered (``Usage.cached_tokens``) cost nothing at all.
"""

from __future__ import annotations

from ..models import Usage
from .capabilities import Price, capabilities_for, set_model_capabilities

__all__ = ["BATCH_DISCOUNT", "cost_usd", "price_of", "set_price", "usage_cost"]

# Batch APIs (OpenAI Batch, Anthropic Message Batches) charge half the list price.
BATCH_DISCOUNT = 0.5
_MILLION = 1_000_000


def price_of(model: str) -> Price | None:
    """The registry's price of ``model`` (USD per 1M tokens), or None when it is unknown."""
    return capabilities_for(model).price


def set_price(model: str, input_per_million: float, output_per_million: float,
              cached_input_per_million: float | None = None) -> None:
    """Add or correct the price of a model (a name or glob; USD per one million tokens)."""
    set_model_capabilities(model, price=Price(float(input_per_million), float(output_per_million),
                                              None if cached_input_per_million is None
                                              else float(cached_input_per_million)))


def usage_cost(price: Price, usage: Usage) -> float:
    """Dollars for ``usage`` at ``price``: cached input at the cached price, input written to the
    prompt cache at the cache-write price, the rest at list."""
    cached = min(usage.input_cached_tokens, usage.input_tokens)
    written = min(usage.input_cache_write_tokens, usage.input_tokens - cached)
    cached_rate = price.input if price.cached_input is None else price.cached_input
    write_rate = price.input if price.cache_write is None else price.cache_write
    return ((usage.input_tokens - cached - written) * price.input + cached * cached_rate + written * write_rate
            + usage.output_tokens * price.output) / _MILLION


def cost_usd(model: str, usage: Usage, *, local: bool = False, batch: bool = False) -> float | None:
    """Cost of one call; 0 for a local server, None when the model's price is unknown.

    ``batch``: the call went through a provider batch API, at :data:`BATCH_DISCOUNT` of the price.
    """
    if local:
        return 0.0
    price = price_of(model)
    if price is None:
        return None
    full = usage_cost(price, usage)
    return full * BATCH_DISCOUNT if batch else full
