"""Which models take part in an ensemble, and what each is called.

A model is given as a spec string, a dict or a ready provider:

- ``"openai:gpt-4.1"``, ``"anthropic:claude-sonnet-4-5"``, ``"ollama:llama3.1:8b"``: a vendor, then
  the model (everything after the first colon, so model names may hold colons);
- ``"http://127.0.0.1:8000/v1:my-model"``: an OpenAI-compatible base URL, then the model. The URL is
  split after its path begins, so the port's colon is never taken for the separator;
- a bare name (``"offline"``, ``"claude-cli"``, ``"openai"``): the vendor's default model;
- ``{"provider": ..., "model": ..., "label": ..., "api_key": ...}``;
- a :class:`~cassia.providers.base.Provider` object (used as given).

Names and URLs become providers through the public stage resolution, behind the response cache
(the offline annotator needs none). Each model gets a unique label: it names the model's columns
in the ensemble table and its run folder ``models/<label>/``. Everything here fails before a file
is written: unknown vendors, missing keys, fewer than two models, an offline arbiter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ...errors import ConfigError, InputError
from ...providers.base import Provider
from ...providers.stages import resolve_stages

__all__ = ["ModelSpec", "parse_spec", "resolve_arbiter", "resolve_models"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_DICT_KEYS = {"provider", "model", "label", "api_key"}


@dataclass
class ModelSpec:
    """One ensemble member: its label, its provider, and the spec it was given as (no key)."""

    label: str
    provider: Provider
    spec: str

    @property
    def offline(self) -> bool:
        return self.provider.config.kind == "offline"

    def public(self) -> dict[str, Any]:
        return {"label": self.label, "spec": self.spec, **self.provider.config.public()}


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"vendor:model"`` / ``"URL:model"`` / ``"name"`` -> (provider, model or None)."""
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"a model spec must be a non-empty string such as 'openai:gpt-4.1', got {spec!r}")
    spec = spec.strip()
    scheme, sep, rest = spec.partition("://")
    if sep:  # a URL: the model separator is the first colon inside the path
        host, slash, path = rest.partition("/")
        if not slash:
            return spec, None
        base, colon, model = path.partition(":")
        url = f"{scheme}://{host}/{base}".rstrip("/")
        return url, (model.strip() or None) if colon else None
    provider, colon, model = spec.partition(":")
    if colon and not model.strip():
        raise InputError(f"model spec {spec!r} names no model after the colon; write e.g. 'openai:gpt-4.1' or 'openai'")
    return provider.strip(), model.strip() if colon else None


def _safe_label(text: str) -> str:
    label = _UNSAFE.sub("-", text).strip("-.")
    return label or "model"


def _default_label(model: str | None, built: Provider) -> str:
    """The model's name; a backend without one of its own (offline, agent CLIs) by its name."""
    config = built.config
    if config.kind in ("offline", "cli") and not model:
        return _safe_label(config.name)
    return _safe_label(model or config.model or config.name)


def _one(item: Any, *, use_cache: bool, cache_path, max_tokens: int | None = None) -> tuple[ModelSpec, bool]:
    """Build one member; the bool says whether its label was given explicitly."""
    if isinstance(item, Provider):
        config = item.config
        return ModelSpec(_safe_label(config.model or config.name), item, f"{config.name}:{config.model}"), False
    label = api_key = None
    if isinstance(item, Mapping):
        unknown = set(item) - _DICT_KEYS
        if unknown:
            raise InputError(f"model dict has unknown key(s) {sorted(unknown)}; use {sorted(_DICT_KEYS)}")
        if "provider" not in item:
            raise InputError(f"model dict {dict(item, api_key='***') if 'api_key' in item else dict(item)} "
                             "needs a 'provider' (e.g. {'provider': 'openai', 'model': 'gpt-4.1'})")
        provider, model = item["provider"], item.get("model")
        label, api_key = item.get("label"), item.get("api_key")
        if isinstance(provider, Provider):
            built = provider
        else:
            built = _build(str(provider), model, api_key, use_cache=use_cache, cache_path=cache_path,
                           max_tokens=max_tokens)
        name = provider.config.name if isinstance(provider, Provider) else str(provider)
        spec = f"{name}:{model}" if model else name
    elif isinstance(item, str):
        provider, model = parse_spec(item)
        built = _build(provider, model, None, use_cache=use_cache, cache_path=cache_path, max_tokens=max_tokens)
        spec = item.strip()
    else:
        raise InputError(f"a model is a spec string ('openai:gpt-4.1'), a dict or a provider, not "
                         f"{type(item).__name__}")
    if label is not None:
        if not isinstance(label, str) or _safe_label(label) != label.strip():
            raise InputError(f"model label {label!r} must be a non-empty name of letters, digits and . _ + - "
                             "(it names a folder and table columns)")
        return ModelSpec(label.strip(), built, spec), True
    return ModelSpec(_default_label(model, built), built, spec), False


def _build(provider: str, model: str | None, api_key: str | None, *, use_cache: bool, cache_path,
           max_tokens: int | None = None) -> Provider:
    if provider.lower() in ("auto", "none", ""):
        raise InputError("an ensemble names each model; 'auto' is not a model (e.g. 'openai:gpt-4.1', 'offline')")
    return resolve_stages(provider=provider, model=model, api_key=api_key, use_cache=use_cache,
                          cache_path=cache_path, max_tokens=max_tokens).annotator


def resolve_models(models: Sequence[Any], *, use_cache: bool = True, cache_path=None,
                   max_tokens: int | None = None) -> list[ModelSpec]:
    """Every member built and labelled (unique labels), or an error saying what to fix.
    ``max_tokens``: the output limit of the members built here (a ready provider keeps its own)."""
    if isinstance(models, (str, Mapping)) or isinstance(models, Provider) or models is None:
        raise InputError("models= takes a list of at least two models, e.g. ['openai:gpt-4.1', "
                         "'anthropic:claude-sonnet-4-5']")
    items = list(models)
    if len(items) < 2:
        raise InputError(f"an ensemble needs at least two models, got {len(items)}; add another model "
                         "(e.g. 'offline' as one voter)")
    built = [_one(item, use_cache=use_cache, cache_path=cache_path, max_tokens=max_tokens) for item in items]
    explicit = [m.label for m, given in built if given]
    twice = sorted({label for label in explicit if explicit.count(label) > 1})
    if twice:
        raise InputError(f"model label(s) {twice} given twice; labels name folders and columns, so make them unique")
    taken = set(explicit)
    members = []
    for member, given in built:
        if not given:
            base, number = member.label, 1
            while member.label in taken:
                number += 1
                member.label = f"{base}-{number}"
            taken.add(member.label)
        members.append(member)
    return members


def resolve_arbiter(arbiter: Any, arbiter_model: str | None, members: Sequence[ModelSpec], *,
                    use_cache: bool = True, cache_path=None, max_tokens: int | None = None) -> ModelSpec | None:
    """The arbiter: a member's label, a spec, a provider, or by default the first non-offline member.

    None when every member is offline and no arbiter was asked for (clusters the models cannot
    settle stay unresolved). An offline arbiter is refused: it cannot weigh arguments.
    """
    by_label = {m.label: m for m in members}
    if arbiter is None:
        first = next((m for m in members if not m.offline), None)
        if first is None:
            return None
        if arbiter_model is None:
            return first
        provider = first.provider.config.base_url if first.provider.config.name == "custom" else first.provider.config.name
        chosen = ModelSpec("arbiter", _build(provider, arbiter_model, None, use_cache=use_cache,
                                             cache_path=cache_path, max_tokens=max_tokens),
                           f"{provider}:{arbiter_model}")
    elif isinstance(arbiter, str) and arbiter in by_label and arbiter_model is None:
        chosen = by_label[arbiter]
    elif isinstance(arbiter, str):
        provider, model = parse_spec(arbiter)
        model = arbiter_model or model
        chosen = ModelSpec("arbiter", _build(provider, model, None, use_cache=use_cache, cache_path=cache_path,
                                             max_tokens=max_tokens),
                           f"{provider}:{model}" if model else provider)
    elif isinstance(arbiter, Provider):
        chosen = ModelSpec("arbiter", arbiter, f"{arbiter.config.name}:{arbiter.config.model}")
    else:
        raise InputError(f"arbiter= takes a model label, a spec such as 'openai:gpt-4.1' or a provider, not "
                         f"{type(arbiter).__name__}")
    if chosen.offline:
        raise ConfigError("the offline annotator cannot be the arbiter (it has no language model to weigh the "
                          "models' arguments); pass arbiter= an LLM, e.g. 'openai:gpt-4.1'")
    return chosen
