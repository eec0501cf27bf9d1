"""Which backend answers each pipeline stage (annotation, review, scoring, boost), behind the cache.

``provider=None`` picks the first vendor whose key is configured, else the offline
knowledge-base annotator, and says so in one line on stderr.

Stage models that fit the work: when the user names one model of a vendor's own API (OpenAI,
Anthropic, DeepSeek, OpenRouter) and nothing for the review and scoring stages, those two use
the vendor's cheaper sibling of that model (:data:`LIGHTER`: ``gpt-4.1`` -> ``gpt-4.1-mini``,
``claude-sonnet-4-5`` -> ``claude-haiku-4-5``, ...). Reviewing a finished answer and grading it are
lighter work than annotating. The Annotator and Annotation Boost keep the named model.
``review_model=``/``scoring_model=`` (or ``stage_models=False``) override it; a base URL, a local
server, an agent CLI or an unknown model is never switched.
"""

from __future__ import annotations

import fnmatch
import sys
from dataclasses import dataclass
from typing import Any

from ..spelling import spell
from .base import Provider, ProviderConfig


# (glob on the model name without vendor prefix or snapshot date, its cheaper sibling), first match wins.
LIGHTER: tuple[tuple[str, str | None], ...] = (
    ("*-mini*", None), ("*-nano*", None), ("*haiku*", None), ("*flash*", None),  # already the light one
    ("gpt-4o*", "gpt-4o-mini"),
    ("gpt-4.1*", "gpt-4.1-mini"),
    ("gpt-5*", "gpt-5-mini"),
    ("o3*", "o4-mini"),
    ("claude-opus-*", "claude-haiku-4-5"),
    ("claude-sonnet-*", "claude-haiku-4-5"),
    ("claude-3-7-sonnet*", "claude-haiku-4-5"),
    ("deepseek-reasoner*", "deepseek-chat"),
    ("gemini-2.5-pro*", "gemini-2.5-flash"),
)
_OWN_APIS = frozenset({"openai", "anthropic", "deepseek", "openrouter"})


def lighter_model(model: str) -> str | None:
    """The cheaper sibling of ``model`` for review and scoring, or None when there is none.

    An OpenRouter-style ``vendor/`` prefix is kept (``anthropic/claude-sonnet-4.5`` ->
    ``anthropic/claude-haiku-4.5``, dotted as OpenRouter spells it).
    """
    prefix, _, name = model.strip().rpartition("/")
    key = name.lower().replace(".", "-") if name.lower().startswith("claude") else name.lower()
    for pattern, sibling in LIGHTER:
        if fnmatch.fnmatchcase(key, pattern):
            if sibling is None:
                return None
            if prefix and sibling.startswith("claude") and "." in name:
                sibling = sibling[::-1].replace("-", ".", 1)[::-1]  # claude-haiku-4-5 -> claude-haiku-4.5
            return f"{prefix}/{sibling}" if prefix else sibling
    return None


@dataclass
class StageProviders:
    annotator: Provider
    scorer: Provider
    boost: Provider
    review: Provider | None = None  # None: the Annotator's backend reviews too

    @property
    def reviewer(self) -> Provider:
        return self.review if self.review is not None else self.annotator

    def unique(self) -> list[Provider]:
        """Each distinct backend once (stages may share one)."""
        seen: dict[int, Provider] = {}
        for p in (self.annotator, self.reviewer, self.scorer, self.boost):
            seen.setdefault(id(p), p)
        return list(seen.values())

    def public(self) -> dict[str, Any]:
        backends = {"annotator": self.annotator, "review": self.reviewer, "scorer": self.scorer, "boost": self.boost}
        return {name: p.config.public() for name, p in backends.items()}

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
    print(f"cassia: no API key configured; using the offline knowledge-base annotator ({spell('provider', 'offline')}).",
          file=sys.stderr)
    return "offline"


STAGES = ("annotator", "review", "scorer", "boost")


def stage_choices(*, provider, model=None, base_url=None, review_provider=None, review_model=None,
                  scoring_provider=None, scoring_model=None, boost_provider=None, boost_model=None,
                  stage_models: bool = True) -> dict[str, tuple[Any, str | None]]:
    """(backend spec, model) of each stage: what the user named, else the annotation backend's,
    with its cheaper sibling for review and scoring (see the module). Needs no key."""
    light = _lighter_for(provider, model) if stage_models and base_url is None else None  # a custom URL may not serve it

    def own(spec, stage_model, lighter):
        return spec or provider, stage_model or ((lighter or model) if spec is None else None)

    return {"annotator": (provider, model), "review": own(review_provider, review_model, light),
            "scorer": own(scoring_provider, scoring_model, light), "boost": own(boost_provider, boost_model, None)}


def _lighter_for(provider, model: str | None) -> str | None:
    """The cheaper sibling for a name or a config on its vendor's own API, else None.

    A config is a spec like a name (the CLI passes one to carry ``--timeout`` and agent-CLI
    settings), so it gets the same stage models; a ready provider is used as it is.
    """
    if not isinstance(provider, (str, ProviderConfig)):
        return None
    from .registry import VENDORS, resolve_config

    config = resolve_config(provider, model)  # the vendor's name and default model
    vendor = VENDORS.get(config.name)
    if config.name not in _OWN_APIS or vendor is None or config.base_url != vendor.base_url:
        return None
    return lighter_model(config.model)


def resolve_stages(*, provider=None, model=None, api_key=None, base_url=None, scoring_provider=None,
                   scoring_model=None, boost_provider=None, boost_model=None, use_cache: bool = True,
                   cache_path=None, max_tokens: int | None = None, scoring_max_tokens: int | None = None,
                   boost_max_tokens: int | None = None, max_concurrency: int | None = None,
                   review_provider=None, review_model=None, stage_models: bool = True) -> StageProviders:
    """Build one provider per distinct (backend, model, output limit); stages without their own
    backend reuse annotation's.

    Every stage takes the same forms: a vendor name, an OpenAI-compatible base URL,
    ``"offline"``, an agent CLI (``"claude-cli"``, ...), a :class:`ProviderConfig` (a name with
    settings such as ``timeout`` or an agent CLI's options: it gets the stage models as the name
    would), or a ready provider (used as it is, for every stage it is given to). ``max_tokens`` limits the annotation stage's replies,
    ``scoring_max_tokens`` and ``boost_max_tokens`` those of scoring and boost (None: the
    server's default); ``max_concurrency`` limits requests in flight per backend.
    ``review_provider``/``review_model`` choose the review call's backend (default: the
    annotation backend, with its cheaper sibling model when ``stage_models``, see the module).
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

    chosen = stage_choices(provider=provider, model=model, base_url=base_url, review_provider=review_provider,
                           review_model=review_model, scoring_provider=scoring_provider, scoring_model=scoring_model,
                           boost_provider=boost_provider, boost_model=boost_model, stage_models=stage_models)
    limits = {"annotator": max_tokens, "review": max_tokens, "scorer": scoring_max_tokens, "boost": boost_max_tokens}
    built_stages = {stage: build(*chosen[stage], limits[stage]) for stage in STAGES}
    return StageProviders(annotator=built_stages["annotator"], scorer=built_stages["scorer"],
                          boost=built_stages["boost"], review=built_stages["review"])
