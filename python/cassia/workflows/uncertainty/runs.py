"""The n independent batch runs behind an uncertainty analysis.

Runs bypass the response cache on purpose (a cached rerun would repeat the first answer), also
when the caller hands in a provider already wrapped in a cache (the CLI wraps one when
``--timeout``, ``--shell-command`` or ``--backend-arg`` is given): the wrapper is taken off.
Runs differ in their sampling seed; a ``temperature`` is sent too when given. What reaches the
model depends on the backend: OpenAI-compatible servers get both seed and temperature,
Anthropic gets the temperature (it has no seed), agent CLIs and the offline annotator get
neither. The offline annotator is deterministic, so :func:`check_independent` refuses it for
an uncertainty analysis (its n runs would be one answer n times). Each run is a normal run
directory ``out_dir/run-1 .. run-n``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from ...errors import ConfigError, InputError
from ...options import checked
from ...providers.base import Completion, CompletionRequest, Provider, config_of
from ...providers.cache import CachedProvider
from ...providers.stages import StageProviders, auto_provider, resolve_stages
from ...spelling import spell
from ..engine import RunResult, run_sync
from ..inputs import DEFAULT_FILTERS, MarkerSource, PathLike, ProviderLike, select_markers
from ..pipeline import arun_batch

__all__ = ["SamplingProvider", "arun_n_times", "check_independent", "default_uncertainty_dir", "run_n_times",
           "uncached"]

_SEED_KINDS = {"openai"}
_TEMPERATURE_KINDS = {"openai", "anthropic"}


class SamplingProvider:
    """Wraps a provider: every request carries this run's seed (and temperature, when given).

    ``aclose`` does nothing: the wrapped provider serves all n runs and is closed once at the end.
    """

    def __init__(self, inner: Provider, *, seed: int | None, temperature: float | None = None):
        self.inner = inner
        self.config = inner.config
        self.seed = seed if self.config.kind in _SEED_KINDS else None
        self.temperature = temperature if self.config.kind in _TEMPERATURE_KINDS else None

    async def complete(self, request: CompletionRequest) -> Completion:
        changes: dict[str, Any] = {}
        if self.seed is not None:
            changes["seed"] = self.seed
        if self.temperature is not None:
            changes["temperature"] = self.temperature
        return await self.inner.complete(dataclasses.replace(request, **changes) if changes else request)

    async def aclose(self) -> None:
        """The shared provider is closed by :func:`arun_n_times`, not after each run."""


def default_uncertainty_dir() -> Path:
    return Path("cassia_out") / datetime.now().strftime("uncertainty-%Y%m%d-%H%M%S")


def uncached(provider: ProviderLike) -> ProviderLike:
    """The provider without any response-cache wrapper: no run may replay another's answers."""
    while isinstance(provider, CachedProvider):
        provider = provider.inner
    return provider


def check_independent(n: int, provider: ProviderLike) -> None:
    """Refuse an uncertainty analysis that could only measure a backend agreeing with itself."""
    if isinstance(n, int) and not isinstance(n, bool) and n < 2:
        raise ConfigError(f"an uncertainty analysis needs n >= 2 runs (got {spell('n', n)}): the CS measures how much "
                          "independent answers agree, and one run agrees with itself by construction.")
    kind = provider if isinstance(provider, str) else getattr(config_of(provider), "kind", None)
    if kind == "offline":
        raise ConfigError("the offline annotator is deterministic: its n runs would repeat one answer, which is "
                          f"not agreement. Measure uncertainty with a language model ({spell('provider')}: a vendor "
                          "or an OpenAI-compatible URL); score_runs can still compare runs you already have.")


def _check(n: int, temperature: float | None) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a whole number of runs >= 1, got {n!r}.")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
                                    or not 0 <= temperature <= 2):
        raise InputError(f"temperature must be between 0 and 2 (or None for the provider's default), got {temperature!r}.")


@checked
async def arun_n_times(
    markers: MarkerSource, *, n: int = 5,
    tissue: str | None = None, species: str = "human", additional_info: str | None = None,
    clusters: Sequence[str] | None = None,
    n_genes: int = 50, ranking: str = "avg_log2FC", max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
    min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc, min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, max_tokens: int | None = None, temperature: float | None = None, seed: int = 0,
    validator_rounds: int = 3, cancer_aware: bool = False, check_ontology: bool = True,
    rag: bool = False, data_dir: PathLike | None = None,
    out_dir: PathLike | None = None, max_workers: int = 4, resume: bool = False, progress: bool = True,
) -> list[RunResult]:
    """Async :func:`run_n_times`."""
    _check(n, temperature)
    # read once, reused by every run
    marker_set = select_markers(markers, n_genes=n_genes, ranking=ranking, max_p_val_adj=max_p_val_adj,
                                min_log2fc=min_log2fc, min_pct1=min_pct1, clusters=clusters)
    if provider is None or provider == "auto":
        provider = auto_provider()
    shared = resolve_stages(provider=uncached(provider), model=model, api_key=api_key, base_url=base_url, use_cache=False,
                            max_tokens=max_tokens)
    root = Path(out_dir) if out_dir is not None else default_uncertainty_dir()
    batch = dict(tissue=tissue, species=species, additional_info=additional_info, validator_rounds=validator_rounds,
                 cancer_aware=cancer_aware, check_ontology=check_ontology, rag=rag, data_dir=data_dir,
                 max_workers=max_workers, resume=resume, progress=progress)
    results = []
    try:
        for k in range(1, n + 1):
            sampled = SamplingProvider(shared.annotator, seed=seed + k, temperature=temperature)
            stages = StageProviders(annotator=sampled, scorer=sampled, boost=sampled)
            results.append(await arun_batch(marker_set, out_dir=root / f"run-{k}", providers=stages, **batch))
    finally:
        await shared.aclose()
    return results


@checked
def run_n_times(
    markers: MarkerSource, *, n: int = 5,
    tissue: str | None = None, species: str = "human", additional_info: str | None = None,
    clusters: Sequence[str] | None = None,
    n_genes: int = 50, ranking: str = "avg_log2FC", max_p_val_adj: float | None = DEFAULT_FILTERS.max_p_val_adj,
    min_log2fc: float | None = DEFAULT_FILTERS.min_log2fc, min_pct1: float | None = DEFAULT_FILTERS.min_pct1,
    provider: ProviderLike = None, model: str | None = None, api_key: str | None = None,
    base_url: str | None = None, max_tokens: int | None = None, temperature: float | None = None, seed: int = 0,
    validator_rounds: int = 3, cancer_aware: bool = False, check_ontology: bool = True,
    rag: bool = False, data_dir: PathLike | None = None,
    out_dir: PathLike | None = None, max_workers: int = 4, resume: bool = False, progress: bool = True,
) -> list[RunResult]:
    """Annotate every cluster ``n`` times, independently (``runCASSIA_batch_n_times``).

    Returns the n :class:`~cassia.workflows.pipeline.RunResult` objects, run k written to
    ``out_dir/run-k``. Keywords: ``n`` (default 5), ``out_dir``, ``provider``, ``model``,
    ``api_key``, ``base_url``, ``max_tokens`` (the output limit of every reply), ``temperature``
    (None: the provider's default sampling), ``seed`` (run k uses ``seed + k``), ``resume`` (finish the runs an interrupted call left),
    and any :func:`cassia.run_batch` option (``tissue``, ``species``, ``max_workers``,
    ``n_genes``, ``progress``, ...). The response cache is always bypassed.
    """
    options = dict(locals())
    return run_sync(lambda: arun_n_times(**options))
