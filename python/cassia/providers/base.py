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

from ..errors import mask_url_password, redact
from ..models import AgentName, Message, Usage

ProviderKind = Literal["openai", "anthropic", "cli", "offline"]


@dataclass(frozen=True)
class ProviderConfig:
    """Where and how to call a backend. Holds the *name* of the key variable, never a key.

    ``timeout`` is the read timeout (the longest silence between two bytes of a reply),
    ``connect_timeout`` the time to open a connection, ``deadline`` the most one call may take
    in all (default 3 x ``timeout``), so a server that drips bytes cannot hold a call forever.
    ``timeout_retries``: how often a call that timed out is sent again (each re-send is billed).
    ``max_concurrency``: requests in flight to this backend at most; None leaves it to the
    run's ``max_workers``. ``max_tokens``: the output limit of every call of the stage this
    backend serves (when the request sets none).
    """

    name: str
    kind: ProviderKind
    model: str
    base_url: str | None = None
    key_env: str | None = None
    timeout: float = 120.0
    max_retries: int = 4
    max_concurrency: int | None = None
    options: tuple[tuple[str, Any], ...] = ()
    connect_timeout: float = 10.0
    deadline: float | None = None
    timeout_retries: int = 1
    max_tokens: int | None = None

    @property
    def total_deadline(self) -> float:
        return self.deadline if self.deadline is not None else 3 * self.timeout

    def public(self) -> dict[str, Any]:
        """Settings safe to write into a manifest or report (a password in the URL masked)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "model": self.model,
            "base_url": mask_url_password(self.base_url),
            "key_env": self.key_env,
            "timeout": self.timeout,
            "connect_timeout": self.connect_timeout,
            "deadline": self.total_deadline,
            "timeout_retries": self.timeout_retries,
            "max_retries": self.max_retries,
            "max_concurrency": self.max_concurrency,
            "max_tokens": self.max_tokens,
            "options": {k: redact(v) if isinstance(v, str) else v for k, v in self.options},
        }



def config_of(spec: Any) -> ProviderConfig | None:
    """The config of a backend spec given as a config or a ready provider; None for a name."""
    return spec if isinstance(spec, ProviderConfig) else getattr(spec, "config", None)

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
    # The option that sets this call's output limit, named when a reply is cut off at it.
    max_tokens_option: str = "max_tokens"


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
    saved_usd: float | None = None  # a response-cache hit: what the answer cost the first time
    cached: bool = False
    attempts: int = 1
    batched: bool = False  # answered through a provider batch API (priced at its discount)
    usage_known: bool = True  # False when a reply carried no token counts: its cost is unknown


@runtime_checkable
class Provider(Protocol):
    config: ProviderConfig

    async def complete(self, request: CompletionRequest) -> Completion: ...
