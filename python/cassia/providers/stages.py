"""Which backend answers each pipeline stage (annotation, scoring, boost), behind the cache.

``provider=None`` picks the first vendor whose key is configured, else the offline
knowledge-base annotator, and says so in one line on stderr.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from .base import Provider


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
                   cache_path=None) -> StageProviders:
    """Build one provider per distinct (backend, model); stages without their own reuse annotation's."""
    from . import get_provider
    from .cache import CachedProvider, ResponseCache

    if provider is None or (isinstance(provider, str) and provider == "auto"):
        provider = auto_provider()
    cache = ResponseCache(cache_path) if use_cache else None
    built: dict[tuple, Provider] = {}

    def build(name, stage_model) -> Provider:
        if not isinstance(name, str):
            return name  # an already constructed provider (tests, advanced users)
        key = (name, stage_model)
        if key not in built:
            instance = get_provider(name, stage_model, api_key=api_key if name == provider else None,
                                    base_url=base_url if name == provider else None)
            if cache is not None and instance.config.kind != "offline":
                instance = CachedProvider(instance, cache)
            built[key] = instance
        return built[key]

    annotator = build(provider, model)
    scorer = build(scoring_provider or provider, scoring_model or (model if scoring_provider is None else None))
    boost = build(boost_provider or provider, boost_model or (model if boost_provider is None else None))
    return StageProviders(annotator=annotator, scorer=scorer, boost=boost)
