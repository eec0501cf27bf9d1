"""What a call cost, from a table of list prices.

Prices are US dollars per one million tokens (input, output), as the vendors published them
for their well-known models. They change; a model missing from the table costs ``None``
(unknown) rather than a guess, and :func:`set_price` lets a user add or correct one. Calls to a
server on this machine (Ollama, vLLM, LM Studio, a local URL) cost 0.
"""

from __future__ import annotations

import re

from ..models import Usage

__all__ = ["PRICES", "cost_usd", "price_of", "set_price"]

# model name -> (USD per 1M input tokens, USD per 1M output tokens)
PRICES: dict[str, tuple[float, float]] = {
    # OpenAI
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    # Anthropic
    "claude-opus-4": (15.00, 75.00),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-5-haiku": (0.80, 4.00),
    # DeepSeek
    "deepseek-chat": (0.27, 1.10),
    "deepseek-reasoner": (0.55, 2.19),
    # Google (reached through OpenRouter)
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
}

# Batch APIs (OpenAI Batch, Anthropic Message Batches) charge half the list price.
BATCH_DISCOUNT = 0.5

# Suffixes that name a snapshot of a model priced like the model itself.
_SNAPSHOT = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-latest)$")


def _candidates(model: str) -> list[str]:
    """Names to look up, most specific first: as given, without vendor prefix, without snapshot."""
    name = model.strip().lower()
    names = [name]
    if "/" in name:  # OpenRouter style "anthropic/claude-sonnet-4.5"
        name = name.rsplit("/", 1)[1]
        names.append(name)
    dotted = name.replace(".", "-") if name.startswith("claude") else name
    names.append(dotted)
    names.append(_SNAPSHOT.sub("", dotted))
    return names


def price_of(model: str) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens for ``model``, or None when the table does not know it."""
    for name in _candidates(model):
        if name in PRICES:
            return PRICES[name]
    return None


def set_price(model: str, input_per_million: float, output_per_million: float) -> None:
    """Add or correct the price of a model (USD per one million tokens)."""
    PRICES[model.strip().lower()] = (float(input_per_million), float(output_per_million))


def cost_usd(model: str, usage: Usage, *, local: bool = False, batch: bool = False) -> float | None:
    """Cost of one call; 0 for a local server, None when the model's price is unknown.

    ``batch``: the call went through a provider batch API, at :data:`BATCH_DISCOUNT` of the price.
    """
    if local:
        return 0.0
    price = price_of(model)
    if price is None:
        return None
    full = (usage.input_tokens * price[0] + usage.output_tokens * price[1]) / 1_000_000
    return full * BATCH_DISCOUNT if batch else full
