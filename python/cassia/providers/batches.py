"""Provider batch APIs on the wire: OpenAI Batch and Anthropic Message Batches.

Both take many requests at once, answer within 24 hours at half the price, and have no
per-minute rate limit. This module only speaks their protocols; deciding what goes into a batch,
remembering submitted batches in the run directory and resuming them is the job of
:mod:`cassia.workflows.batch_api`.

OpenAI: upload the requests as a JSONL file (``POST /files``, ``purpose=batch``; one line
``{custom_id, method, url, body}`` per request), create the batch (``POST /batches`` with
``input_file_id``, ``endpoint``, ``completion_window`` and our ``metadata``), poll
``GET /batches/{id}`` (``validating`` → ``in_progress`` → ``finalizing`` → ``completed``, or
``failed``/``expired``/``cancelling``/``cancelled``), then read ``output_file_id`` and
``error_file_id`` (``GET /files/{id}/content``; lines ``{custom_id, response: {status_code,
body}, error}``). Anthropic: ``POST /v1/messages/batches`` with ``{requests: [{custom_id,
params}]}``, poll until ``processing_status == "ended"``, then stream ``results_url`` (lines
``{custom_id, result: {type: succeeded|errored|canceled|expired, ...}}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from ..errors import ProviderError, TransientProviderError
from .http import HttpProvider

__all__ = ["BatchItemResult", "BatchState", "batch_client"]

# Errors worth sending again (in the next batch or live): the server's fault or the clock's.
RETRYABLE_CODES = {"batch_expired", "server_error", "rate_limit_exceeded", "overloaded_error", "api_error",
                   "timeout", "expired"}


@dataclass
class BatchState:
    """One poll of a provider batch."""

    id: str
    status: str  # the provider's own word (in_progress, completed, ended, ...)
    ended: bool
    counts: dict[str, int] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        return f"{self.status}" + (f" ({counts})" if counts else "")


@dataclass
class BatchItemResult:
    """The outcome of one request of a batch."""

    custom_id: str
    data: dict[str, Any] | None = None  # the reply body, exactly as the live endpoint returns it
    status: int | None = None  # HTTP status of a failed request, when the provider gave one
    error: str = ""
    retryable: bool = False

    @property
    def ok(self) -> bool:
        return self.data is not None


class _Client:
    def __init__(self, provider: HttpProvider):
        self.provider = provider

    async def _call(self, method: str, url: str, *, text: bool = False, **kwargs: Any) -> Any:
        """One request to the batch API; ``text=True`` for a JSONL file, else the decoded JSON."""
        state = await self.provider._state()
        try:
            response = await state.client.request(method, url, headers=self.provider._headers(), **kwargs)
        except Exception as err:  # network trouble: the caller polls again later
            raise TransientProviderError(f"could not reach the batch API of {self.provider._who()}: "
                                         f"{type(err).__name__}: {err}") from None
        if text:
            if not 200 <= response.status_code < 300:
                self.provider._decode(response)  # raises the error the status calls for
            return response.text
        return self.provider._decode(response)


class OpenAIBatches(_Client):
    """OpenAI Batch: a JSONL file of chat-completions requests, one batch object to poll."""

    endpoint = "/v1/chat/completions"

    @property
    def base(self) -> str:
        return str(self.provider.config.base_url).rstrip("/")

    async def submit(self, requests: list[tuple[str, dict]], tag: str) -> str:
        lines = "".join(json.dumps({"custom_id": cid, "method": "POST", "url": self.endpoint, "body": body}) + "\n"
                        for cid, body in requests)
        uploaded = await self._call("POST", f"{self.base}/files", data={"purpose": "batch"},
                                    files={"file": (f"{tag}.jsonl", lines.encode("utf-8"), "application/jsonl")})
        batch = await self._call("POST", f"{self.base}/batches", json={
            "input_file_id": uploaded["id"], "endpoint": self.endpoint, "completion_window": "24h",
            "metadata": {"cassia_batch": tag}})
        return str(batch["id"])

    async def find(self, tag: str, created_after: float, size: int = 0, known: set | None = None) -> str | None:
        """The batch created with our ``tag`` (after a crash between creating it and saving its id)."""
        after = None
        while True:
            page = await self._call("GET", f"{self.base}/batches", params={"limit": 100, **({"after": after} if after else {})})
            for batch in page.get("data") or []:
                if (batch.get("metadata") or {}).get("cassia_batch") == tag:
                    return str(batch["id"])
                if float(batch.get("created_at") or 0) < created_after - 60:
                    return None  # listed newest first: older than our attempt, so it was never created
            if not page.get("has_more"):
                return None
            after = page.get("last_id")

    async def poll(self, batch_id: str) -> BatchState:
        batch = await self._call("GET", f"{self.base}/batches/{batch_id}")
        status = str(batch.get("status"))
        ended = status in ("completed", "failed", "expired", "cancelled")
        return BatchState(batch_id, status, ended, dict(batch.get("request_counts") or {}), batch)

    async def results(self, state: BatchState) -> list[BatchItemResult]:
        if state.status == "failed":  # the file itself was refused: every request fails alike
            errors = ((state.raw.get("errors") or {}).get("data") or [])
            reason = "; ".join(str(e.get("message")) for e in errors[:3]) or "the batch failed validation"
            raise ProviderError(f"{self.provider._who()} refused batch {state.id}: {reason}")
        out: list[BatchItemResult] = []
        for key in ("output_file_id", "error_file_id"):
            file_id = state.raw.get(key)
            if not file_id:
                continue
            text = await self._call("GET", f"{self.base}/files/{file_id}/content", text=True)
            out += [self._item(json.loads(line)) for line in text.splitlines() if line.strip()]
        return out

    @staticmethod
    def _item(line: dict) -> BatchItemResult:
        response = line.get("response") or {}
        status = response.get("status_code")
        if status == 200 and isinstance(response.get("body"), dict):
            return BatchItemResult(str(line.get("custom_id")), data=response["body"])
        error = line.get("error") or ((response.get("body") or {}).get("error")) or {}
        code = str(error.get("code") or error.get("type") or "")
        retryable = code in RETRYABLE_CODES or (isinstance(status, int) and (status == 429 or status >= 500))
        return BatchItemResult(str(line.get("custom_id")), status=status, retryable=retryable,
                               error=f"{code or 'error'}: {error.get('message') or 'no message'}")

    async def cancel(self, batch_id: str) -> BatchState:
        batch = await self._call("POST", f"{self.base}/batches/{batch_id}/cancel")
        return BatchState(batch_id, str(batch.get("status")), False, dict(batch.get("request_counts") or {}), batch)


class AnthropicBatches(_Client):
    """Anthropic Message Batches: the requests inline, one batch object to poll, results as JSONL."""

    @property
    def base(self) -> str:
        base = str(self.provider.config.base_url or "").rstrip("/")
        return f"{base}/messages/batches" if base.endswith("/v1") else f"{base}/v1/messages/batches"

    async def submit(self, requests: list[tuple[str, dict]], tag: str) -> str:
        batch = await self._call("POST", self.base, json={
            "requests": [{"custom_id": cid, "params": body} for cid, body in requests]})
        return str(batch["id"])

    async def find(self, tag: str, created_after: float, size: int = 0, known: set | None = None) -> str | None:
        """A batch created since our attempt with as many requests (the API keeps no metadata)."""
        page = await self._call("GET", self.base, params={"limit": 100})
        for batch in page.get("data") or []:
            created = _timestamp(batch.get("created_at"))
            total = sum(int(v or 0) for v in (batch.get("request_counts") or {}).values())
            if created >= created_after - 60 and total == size and batch.get("id") not in (known or set()):
                return str(batch["id"])
        return None

    async def poll(self, batch_id: str) -> BatchState:
        batch = await self._call("GET", f"{self.base}/{batch_id}")
        status = str(batch.get("processing_status"))
        return BatchState(batch_id, status, status == "ended", dict(batch.get("request_counts") or {}), batch)

    async def results(self, state: BatchState) -> list[BatchItemResult]:
        url = state.raw.get("results_url") or f"{self.base}/{state.id}/results"
        if url.startswith("/"):  # a path on the API's own host
            parts = httpx.URL(self.base)
            url = f"{parts.scheme}://{parts.netloc.decode()}{url}"
        text = await self._call("GET", url, text=True)
        return [self._item(json.loads(line)) for line in text.splitlines() if line.strip()]

    @staticmethod
    def _item(line: dict) -> BatchItemResult:
        result = line.get("result") or {}
        kind = str(result.get("type"))
        custom_id = str(line.get("custom_id"))
        if kind == "succeeded" and isinstance(result.get("message"), dict):
            return BatchItemResult(custom_id, data=result["message"])
        if kind in ("expired", "canceled"):
            return BatchItemResult(custom_id, retryable=kind == "expired", error=f"the request was {kind}")
        error = (result.get("error") or {}).get("error") or result.get("error") or {}
        code = str(error.get("type") or "error")
        return BatchItemResult(custom_id, retryable=code in RETRYABLE_CODES,
                               status=400 if code == "invalid_request_error" else None,
                               error=f"{code}: {error.get('message') or 'no message'}")

    async def cancel(self, batch_id: str) -> BatchState:
        batch = await self._call("POST", f"{self.base}/{batch_id}/cancel")
        return BatchState(batch_id, str(batch.get("processing_status")), False,
                          dict(batch.get("request_counts") or {}), batch)


def _timestamp(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def batch_client(provider: Any) -> OpenAIBatches | AnthropicBatches:
    """The batch API client of an HTTP provider (unwrapping the response cache)."""
    inner = getattr(provider, "inner", provider)
    if isinstance(inner, HttpProvider) and inner.config.kind == "openai":
        return OpenAIBatches(inner)
    if isinstance(inner, HttpProvider) and inner.config.kind == "anthropic":
        return AnthropicBatches(inner)
    raise ProviderError(f"the batch API needs an OpenAI or Anthropic backend; {inner.config.name} "
                        f"({inner.config.kind}) has none. Run without --batch-api / batch_api=True.")
