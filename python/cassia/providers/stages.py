"""Which backend answers each pipeline stage (annotation, scoring, boost), behind the cache.

``provider=None`` picks the first vendor whose key is configured, else the offline
knowledge-base annotator, and says so in one line on stderr.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from .base import Provider, ProviderConfig


@dataclass
class StageProviders:
    annotator: Provider
    scorer: Provider
    boost: Provider

    def unique(self) -> list[Provider]:
        """Each distinct backend once (stages may share one)."""
        seen: dict[int, Provider] = {}
        for p in (self.annotator, self.scorer, self.boost):
            seen.setdefault(id(p), p)
        return list(seen.values())

    def public(self) -> dict[str, Any]:
        return {name: getattr(self, name).config.public() for name in ("annotator", "scorer", "boost")}

    async def aclose(self) -> None:
        for provider in self.unique():
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()


def auto_provider() -> str:
    """The first vendor with a key set, else ``offline`` (announced once on stderr)."""
    from .keys import configured_vendors

    vendors = configured_vendors()
    if vendors:
        return vendors[0]
    print("cassia: no API key configured; using the offline knowledge-base annotator (provider='offline').",
          file=sys.stderr)
    return "offline"


def resolve_stages(*, provider=None, model=None, api_key=None, base_url=None, scoring_provider=None,
                   scoring_model=None, boost_provider=None, boost_model=None, use_cache: bool = True,
                   cache_path=None, max_tokens: int | None = None, scoring_max_tokens: int | None = None,
                   boost_max_tokens: int | None = None, max_concurrency: int | None = None) -> StageProviders:
    """Build one provider per distinct (backend, model, output limit); stages without their own
    backend reuse annotation's.

    Every stage takes the same forms: a vendor name, an OpenAI-compatible base URL,
    ``"offline"``, an agent CLI (``"claude-cli"``, ...), a :class:`ProviderConfig`, or a ready
    provider (used as it is). ``max_tokens`` limits the annotation stage's replies,
    ``scoring_max_tokens`` and ``boost_max_tokens`` those of scoring and boost (None: the
    server's default); ``max_concurrency`` limits requests in flight per backend.
    """
    from . import get_provider
    from .cache import CachedProvider, ResponseCache

    if provider is None or (isinstance(provider, str) and provider == "auto"):
        provider = auto_provider()
    cache = ResponseCache(cache_path) if use_cache else None
    built: dict[tuple, Provider] = {}

    def build(spec, stage_model, limit) -> Provider:
        if not isinstance(spec, (str, ProviderConfig)):
            return spec  # an already constructed provider (tests, advanced users)
        key = (repr(spec), stage_model, limit)
        if key not in built:
            own = spec is provider or spec == provider  # the annotation backend takes api_key/base_url
            instance = get_provider(spec, stage_model, api_key=api_key if own else None,
                                    base_url=base_url if own else None,
                                    max_tokens=limit, max_concurrency=max_concurrency)
            if cache is not None and instance.config.kind != "offline":
                instance = CachedProvider(instance, cache)
            built[key] = instance
        return built[key]

    annotator = build(provider, model, max_tokens)
    scorer = build(scoring_provider or provider, scoring_model or (model if scoring_provider is None else None),
                   scoring_max_tokens)
    boost = build(boost_provider or provider, boost_model or (model if boost_provider is None else None),
                  boost_max_tokens)
    return StageProviders(annotator=annotator, scorer=scorer, boost=boost)
