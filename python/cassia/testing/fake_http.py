"""The HTTP plumbing of the fake LLM server: a threading server, its handler, canned answers.

:class:`Answer` is what the server sends back; with ``drip`` set its body goes out one byte
at a time, that many seconds apart (a server that never goes quiet long enough for a read
timeout, so only a total deadline can stop the call).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .fake_request import FakeRequest

__all__ = ["Answer", "Handler", "Server", "json_answer"]


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0  # seconds between the bytes of the body (0: all at once)


def json_answer(status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout) closes its socket mid-reply: expected, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # headers and body go out in two writes; do not stall on ACKs
    fake: Any  # the FakeLLMServer this handler serves

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.fake.batches is None or not self.fake.batches.serve(self, b""):
            self._serve(None)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.fake.batches is not None and self.fake.batches.serve(self, raw):
            return
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            self._send(json_answer(400, {"error": {"message": "the request body is not JSON"}}))
            return
        self._serve(body)

    def _serve(self, body: Any) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._send(self.fake._answer(FakeRequest(self.command, self.path, headers, body)))

    def _send(self, answer: Any) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        drip = getattr(answer, "drip", 0.0)  # the batch API's replies have none
        if not drip:
            self.wfile.write(answer.body)
            return
        for i in range(len(answer.body)):
            self.wfile.write(answer.body[i:i + 1])
            self.wfile.flush()
            time.sleep(drip)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stdout
        pass


