"""The one provider protocol every backend implements.

A provider is a frozen :class:`ProviderConfig` plus one async call
``complete(request) -> Completion``. Agents build a :class:`CompletionRequest`; when it names
a pydantic ``schema`` the provider returns the validated object in ``Completion.parsed``
(structured output natively where the server supports it, JSON-in-prompt with one repair retry
otherwise). ``task`` and ``context`` describe the request in structured form: HTTP backends
ignore them, the offline knowledge-base annotator answers from them instead of from prose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from ..models import AgentName, Message, Usage

ProviderKind = Literal["openai", "anthropic", "cli", "offline"]


@dataclass(frozen=True)
class ProviderConfig:
    """Where and how to call a backend. Holds the *name* of the key variable, never a key."""

    name: str
    kind: ProviderKind
    model: str
    base_url: str | None = None
    key_env: str | None = None
    timeout: float = 120.0
    max_retries: int = 4
    max_concurrency: int = 8
    options: tuple[tuple[str, Any], ...] = ()

    def public(self) -> dict[str, Any]:
        """Settings safe to write into a manifest or report."""
        return {
            "name": self.name,
            "kind": self.kind,
            "model": self.model,
            "base_url": self.base_url,
            "key_env": self.key_env,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "max_concurrency": self.max_concurrency,
            "options": dict(self.options),
        }


@dataclass
class CompletionRequest:
    """One agent call, independent of the backend."""

    messages: list[Message]
    system: str | None = None
    schema: type[BaseModel] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    task: AgentName = "other"
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class Completion:
    """What a backend answered."""

    text: str
    parsed: BaseModel | None = None
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    model: str = ""
    provider: str = ""
    cost_usd: float | None = None
    cached: bool = False
    attempts: int = 1
    batched: bool = False  # answered through a provider batch API (priced at its discount)


@runtime_checkable
class Provider(Protocol):
    config: ProviderConfig

    async def complete(self, request: CompletionRequest) -> Completion: ...
