"""The batch APIs of the fake server: OpenAI Batch (files + batches) and Anthropic Message Batches.

Switched on with ``FakeLLMServer.enable_batches()`` (or ``--batch-time-scale`` on the command
line). Each request line is answered exactly as the live endpoint would answer it (the server's
rules, scripts and schema-shaped defaults), but only once the batch's emulated processing time
has passed. ``time_scale`` compresses time: at 3600 an emulated hour passes in one real second,
so a test sees ``validating -> in_progress -> finalizing -> completed`` in a fraction of a second.
Requests finish evenly over ``processing_s``; a batch older than ``expire_after_s`` expires with
the unfinished requests in its error file (OpenAI ``batch_expired``) or as ``expired`` results
(Anthropic). ``fail_next`` makes the next requests fail inside a batch (partial failure);
``expire_next`` expires them. Timestamps are real time; only durations are compressed.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from .fake_request import FakeRequest

__all__ = ["FakeBatches"]

CUSTOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
OPENAI_ENDPOINT = "/v1/chat/completions"


@dataclass
class Reply:
    """An HTTP answer (the fake server's handler sends any object with these three fields)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


def _json(status: int, payload: Any) -> Reply:
    return Reply(status, json.dumps(payload).encode())


def _error(status: int, message: str, kind: str = "invalid_request_error") -> Reply:
    return _json(status, {"type": "error", "error": {"type": kind, "message": message}})


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class _Batch:
    id: str
    vendor: str  # openai | anthropic
    requests: list[tuple[str, dict]]  # (custom_id, body)
    created: float  # real time
    meta: dict[str, Any] = field(default_factory=dict)
    cancel_at: float | None = None  # real time the cancel arrived
    outcome: dict[str, tuple[str, Any]] | None = None  # custom_id -> (kind, payload), once ended
    ended_at: float | None = None
    final: str = "completed"  # OpenAI's last state: completed, expired or cancelled
    problems: list[str] = field(default_factory=list)  # OpenAI validation failures


class FakeBatches:
    """Batch endpoints on a fake server, answering each request as its live endpoint would."""

    def __init__(self, server: Any, *, time_scale: float = 1.0,
                 validating_s: float = 10.0, processing_s: float = 600.0, finalizing_s: float = 10.0,
                 expire_after_s: float = 24 * 3600.0, clock: Callable[[], float] = time.time):
        self.server = server  # the FakeLLMServer whose rules and defaults answer each request
        self.clock = clock  # tests pass their own to step time without sleeping
        self.time_scale = float(time_scale)
        self.validating_s, self.processing_s, self.finalizing_s = validating_s, processing_s, finalizing_s
        self.expire_after_s = expire_after_s
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, _Batch] = {}
        self.faults: list[str] = []  # per request, in processing order: server_error | invalid_request | expire
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    # ------------------------------------------------------------ scripting

    def fail_next(self, n: int = 1, kind: str = "server_error") -> None:
        """The next ``n`` requests processed inside a batch fail (``server_error`` or ``invalid_request``)."""
        with self._lock:
            self.faults.extend([kind] * n)

    def expire_next(self, n: int = 1) -> None:
        """The next ``n`` requests processed inside a batch expire unanswered."""
        with self._lock:
            self.faults.extend(["expire"] * n)

    @property
    def submitted(self) -> int:
        return len(self.batches)

    def _emulated(self, batch: _Batch, now: float) -> float:
        return (now - batch.created) * self.time_scale

    # ------------------------------------------------------------ routing

    @staticmethod
    def handles(path: str) -> bool:
        route = urlsplit(path).path.rstrip("/")
        return route.startswith(("/v1/files", "/v1/batches", "/v1/messages/batches"))

    def serve(self, handler: Any, raw: bytes) -> bool:
        """Answer a batch-API request on the server's handler; False for any other path."""
        if not self.handles(handler.path):
            return False
        headers = {k.lower(): v for k, v in handler.headers.items()}
        handler._send(self.answer(handler.command, handler.path, headers, raw))
        return True

    def _reply(self, path: str, body: dict) -> tuple[int, Any]:
        """What the live endpoint would answer to one request of a batch."""
        request = FakeRequest("POST", path, {}, body)
        with self.server._lock:
            reply = self.server._pick(request)
        answer = self.server._render(request, reply, None)
        return answer.status, json.loads(answer.body)

    def answer(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        parts = urlsplit(path)
        route, query = parts.path.rstrip("/"), {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            if route.startswith("/v1/messages/batches"):
                return self._anthropic(method, route.removeprefix("/v1/messages/batches").strip("/"), query, raw)
            if route.startswith("/v1/files"):
                return self._files(method, route.removeprefix("/v1/files").strip("/"), headers, raw)
            return self._openai(method, route.removeprefix("/v1/batches").strip("/"), query, raw)

    # ------------------------------------------------------------ OpenAI files

    def _files(self, method: str, rest: str, headers: dict[str, str], raw: bytes) -> Reply:
        if method == "POST" and not rest:
            form = _multipart(headers.get("content-type", ""), raw)
            if form.get("purpose") != "batch" or "file" not in form:
                return _error(400, "upload a file with purpose=batch")
            file_id = f"file-fake{next(self._ids)}"
            self.files[file_id] = {"content": form["file"], "purpose": "batch", "created_at": int(self.clock())}
            return _json(200, {"id": file_id, "object": "file", "bytes": len(form["file"]), "purpose": "batch",
                               "created_at": int(self.clock()), "filename": form.get("filename", "input.jsonl")})
        file_id, _, tail = rest.partition("/")
        if method == "GET" and tail == "content" and file_id in self.files:
            return Reply(200, self.files[file_id]["content"], {"Content-Type": "application/octet-stream"})
        return _error(404, f"no such file {file_id}")

    # ------------------------------------------------------------ OpenAI batches

    def _openai(self, method: str, rest: str, query: dict, raw: bytes) -> Reply:
        if method == "POST" and not rest:
            body = json.loads(raw or b"{}")
            source = self.files.get(str(body.get("input_file_id")))
            if source is None:
                return _error(400, "input_file_id is not an uploaded file")
            if body.get("endpoint") != OPENAI_ENDPOINT or body.get("completion_window") != "24h":
                return _error(400, "endpoint must be /v1/chat/completions and completion_window 24h")
            batch = _Batch(f"batch_fake{next(self._ids)}", "openai", [], self.clock(),
                           {"input_file_id": body["input_file_id"], "metadata": body.get("metadata")})
            seen: set[str] = set()
            for number, line in enumerate(source["content"].decode("utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                item = json.loads(line)
                cid = str(item.get("custom_id"))
                if cid in seen or item.get("url") != OPENAI_ENDPOINT or item.get("method") != "POST":
                    batch.problems.append(f"line {number}: duplicate custom_id or wrong url/method")
                seen.add(cid)
                batch.requests.append((cid, item.get("body") or {}))
            self.batches[batch.id] = batch
            return _json(200, self._openai_view(batch))
        if method == "GET" and not rest:
            listed = sorted((b for b in self.batches.values() if b.vendor == "openai"), key=lambda b: -b.created)
            if "after" in query:
                ids = [b.id for b in listed]
                listed = listed[ids.index(query["after"]) + 1:] if query["after"] in ids else []
            page = listed[: int(query.get("limit", 20))]
            return _json(200, {"object": "list", "data": [self._openai_view(b) for b in page],
                               "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None,
                               "has_more": len(listed) > len(page)})
        batch_id, _, tail = rest.partition("/")
        batch = self.batches.get(batch_id)
        if batch is None or batch.vendor != "openai":
            return _error(404, f"no such batch {batch_id}")
        if method == "POST" and tail == "cancel":
            batch.cancel_at = batch.cancel_at or self.clock()
        return _json(200, self._openai_view(batch))

    def _openai_view(self, batch: _Batch) -> dict:
        status = self._advance(batch)
        view = {"id": batch.id, "object": "batch", "endpoint": OPENAI_ENDPOINT, "completion_window": "24h",
                "input_file_id": batch.meta["input_file_id"], "metadata": batch.meta.get("metadata"),
                "created_at": int(batch.created), "status": status, "output_file_id": None, "error_file_id": None,
                "errors": None, "request_counts": {"total": len(batch.requests), "completed": 0, "failed": 0}}
        if status == "failed":
            view["errors"] = {"object": "list", "data": [{"code": "invalid_request", "message": p}
                                                         for p in batch.problems]}
        if batch.outcome is not None:
            ok = {cid: v for cid, (kind, v) in batch.outcome.items() if kind == "succeeded"}
            bad = {cid: (kind, v) for cid, (kind, v) in batch.outcome.items() if kind != "succeeded"}
            view["request_counts"].update(completed=len(ok), failed=len(bad))
            view["output_file_id"] = self._store_file(batch, "output", [
                {"id": f"batch_req_{cid}", "custom_id": cid, "error": None,
                 "response": {"status_code": 200, "request_id": f"req_{cid}", "body": body}}
                for cid, body in ok.items()]) if ok else None
            view["error_file_id"] = self._store_file(batch, "error", [
                {"id": f"batch_req_{cid}", "custom_id": cid, **_openai_error(kind, value)}
                for cid, (kind, value) in bad.items()]) if bad else None
        return view

    def _store_file(self, batch: _Batch, which: str, lines: list[dict]) -> str:
        file_id = f"file-{batch.id}-{which}"
        if file_id not in self.files:
            content = "".join(json.dumps(line) + "\n" for line in lines).encode()
            self.files[file_id] = {"content": content, "purpose": f"batch_{which}", "created_at": int(self.clock())}
        return file_id

    # ------------------------------------------------------------ Anthropic

    def _anthropic(self, method: str, rest: str, query: dict, raw: bytes) -> Reply:
        if method == "POST" and not rest:
            requests = (json.loads(raw or b"{}") or {}).get("requests") or []
            ids = [str(r.get("custom_id")) for r in requests]
            if not requests or len(set(ids)) != len(ids) or not all(CUSTOM_ID.match(i) for i in ids):
                return _error(400, "requests: custom_id values must be unique and match ^[a-zA-Z0-9_-]{1,64}$")
            batch = _Batch(f"msgbatch_fake{next(self._ids)}", "anthropic",
                           [(str(r["custom_id"]), r.get("params") or {}) for r in requests], self.clock())
            self.batches[batch.id] = batch
            return _json(200, self._anthropic_view(batch))
        if method == "GET" and not rest:
            listed = sorted((b for b in self.batches.values() if b.vendor == "anthropic"), key=lambda b: -b.created)
            page = listed[: int(query.get("limit", 20))]
            return _json(200, {"data": [self._anthropic_view(b) for b in page], "has_more": len(listed) > len(page),
                               "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None})
        batch_id, _, tail = rest.partition("/")
        batch = self.batches.get(batch_id)
        if batch is None or batch.vendor != "anthropic":
            return _error(404, f"no such message batch {batch_id}", "not_found_error")
        if method == "POST" and tail == "cancel":
            batch.cancel_at = batch.cancel_at or self.clock()
        if method == "GET" and tail == "results":
            if self._advance(batch) != "ended":
                return _error(400, "the batch is still processing; results are ready once it has ended")
            lines = [{"custom_id": cid, "result": _anthropic_result(kind, value)}
                     for cid, (kind, value) in batch.outcome.items()]
            return Reply(200, "".join(json.dumps(line) + "\n" for line in lines).encode(),
                         {"Content-Type": "application/binary"})
        return _json(200, self._anthropic_view(batch))

    def _anthropic_view(self, batch: _Batch) -> dict:
        status = self._advance(batch)
        counts = {"processing": len(batch.requests), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if batch.outcome is not None:
            counts["processing"] = 0
            for kind, _ in batch.outcome.values():
                counts[{"succeeded": "succeeded", "expired": "expired", "canceled": "canceled"}.get(kind, "errored")] += 1
        return {"id": batch.id, "type": "message_batch", "processing_status": status, "request_counts": counts,
                "created_at": _iso(batch.created), "expires_at": _iso(batch.created + 24 * 3600),
                "ended_at": _iso(batch.ended_at), "cancel_initiated_at": _iso(batch.cancel_at), "archived_at": None,
                "results_url": f"/v1/messages/batches/{batch.id}/results" if status == "ended" else None}

    # ------------------------------------------------------------ the state machine

    def _advance(self, batch: _Batch) -> str:
        """The batch's state now (emulated time), answering its requests when it ends."""
        now = self.clock()
        age = self._emulated(batch, now)
        openai = batch.vendor == "openai"
        if openai and batch.problems:
            return "failed" if age >= self.validating_s else "validating"
        start = self.validating_s if openai else 0.0
        done_by = start + self.processing_s
        if batch.outcome is None:
            if batch.cancel_at is not None and self._emulated(batch, now) - self._emulated(batch, batch.cancel_at) \
                    >= self.finalizing_s:
                self._finish(batch, min(age, done_by), "canceled", now)
            elif age >= min(done_by, self.expire_after_s):
                self._finish(batch, min(age, done_by), "expired", now)
            elif batch.cancel_at is not None:
                return "cancelling" if openai else "canceling"
            elif openai:
                return "validating" if age < start else "in_progress"
            else:
                return "in_progress"
        if not openai:
            return "ended"
        if batch.final != "completed":
            return batch.final
        return "finalizing" if age < done_by + self.finalizing_s else "completed"

    def _finish(self, batch: _Batch, reached: float, unfinished: str, now: float) -> None:
        start = self.validating_s if batch.vendor == "openai" else 0.0
        n = len(batch.requests)
        outcome: dict[str, tuple[str, Any]] = {}
        for i, (cid, body) in enumerate(batch.requests):
            if start + self.processing_s * (i + 1) / n > reached + 1e-9:
                outcome[cid] = (unfinished, None)
                continue
            fault = self.faults.pop(0) if self.faults else None
            if fault == "expire":
                outcome[cid] = ("expired", None)
            elif fault in ("server_error", "invalid_request"):
                outcome[cid] = (fault, None)
            else:
                path = OPENAI_ENDPOINT if batch.vendor == "openai" else "/v1/messages"
                status, payload = self._reply(path, body)
                outcome[cid] = ("succeeded", payload) if status == 200 else ("invalid_request", payload)
        batch.outcome, batch.ended_at = outcome, now
        if unfinished == "canceled":
            batch.final = "cancelled"
        elif reached < start + self.processing_s:
            batch.final = "expired"


def _openai_error(kind: str, value: Any) -> dict:
    if kind == "server_error":
        return {"response": {"status_code": 500, "request_id": "req_fake",
                             "body": {"error": {"type": "server_error", "message": "the fake server failed"}}},
                "error": None}
    if kind == "invalid_request":
        message = ((value or {}).get("error") or {}).get("message") if isinstance(value, dict) else None
        return {"response": {"status_code": 400, "request_id": "req_fake",
                             "body": {"error": {"type": "invalid_request_error",
                                               "message": message or "the request is invalid"}}}, "error": None}
    code = "batch_expired" if kind == "expired" else "batch_cancelled"
    return {"response": None, "error": {"code": code, "message": f"the request was {kind} before it ran"}}


def _anthropic_result(kind: str, value: Any) -> dict:
    if kind == "succeeded":
        return {"type": "succeeded", "message": value}
    if kind in ("expired", "canceled"):
        return {"type": kind}
    error_type = "api_error" if kind == "server_error" else "invalid_request_error"
    return {"type": "errored", "error": {"type": "error", "error": {"type": error_type, "message": f"fake {kind}"}}}


def _multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    """Fields of a multipart/form-data body: text fields as str, the file as bytes (and its filename)."""
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    form: dict[str, Any] = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename():
            form[name], form["filename"] = payload, part.get_filename()
        else:
            form[name] = payload.decode("utf-8")
    return form
