"""Per-call overhead of the provider layer, against bare httpx, on the fake server at zero latency.

    .venv/bin/python benchmarks/overhead.py [--calls 500] [--repeats 3] [--in-process]

Both sides send the same chat-completions body to the same fake server (started as a separate
process by default, so its work does not share this process's GIL), with 1 and then 8 requests
in flight. The cassia side goes through ``get_provider(url).complete`` (request building,
concurrency limit, retry wrapper, usage, pricing); the bare side is ``httpx.AsyncClient.post``
plus ``response.json()``. Prints calls per second for both, their ratio, and the extra time
per call. The fake server, not the client, usually limits the rate, so the client's own CPU
time per call (``time.process_time``) is printed too: that is where framework overhead shows.
A last line repeats the comparison over ``httpx.MockTransport`` (no sockets, no server): the
pure cost of the layer. The best of ``--repeats`` runs is kept for each.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Awaitable, Callable, Iterator

import httpx

from cassia.models import Message
from cassia.providers import CompletionRequest, get_provider

REQUEST = CompletionRequest(messages=[Message(role="user", content="Ranked markers: CD3D, CD3E, CD2, IL7R")])


@contextmanager
def fake_server(in_process: bool) -> Iterator[str]:
    if in_process:
        from cassia.testing import FakeLLMServer

        with FakeLLMServer() as server:
            yield server.url
        return
    process = subprocess.Popen([sys.executable, "-m", "cassia.testing.fake_server", "--port", "0", "--latency", "0"],
                               stdout=subprocess.PIPE, text=True)
    try:
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


async def drive(call: Callable[[], Awaitable[object]], calls: int, concurrency: int) -> tuple[float, float]:
    """Make ``calls`` calls with ``concurrency`` workers; return (calls per second, CPU us per call)."""
    remaining = iter(range(calls))

    async def worker() -> None:
        for _ in remaining:
            await call()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return calls / (time.perf_counter() - started), (time.process_time() - cpu) / calls * 1e6


CANNED = {"model": "bench", "choices": [{"index": 0, "message": {"role": "assistant", "content": "T cell."},
           "finish_reason": "stop"}], "usage": {"prompt_tokens": 10, "completion_tokens": 2}}
MOCK = httpx.MockTransport(lambda request: httpx.Response(200, json=CANNED))


async def cassia_rate(url: str, calls: int, concurrency: int, transport=None) -> tuple[float, float]:
    provider = get_provider(url, "bench", max_concurrency=concurrency, transport=transport)
    await drive(lambda: provider.complete(REQUEST), 20, concurrency)  # warm the connections
    rate = await drive(lambda: provider.complete(REQUEST), calls, concurrency)
    await provider.aclose()
    return rate


async def bare_rate(url: str, calls: int, concurrency: int, transport=None) -> tuple[float, float]:
    provider = get_provider(url, "bench")
    body = provider.build_body(REQUEST, REQUEST.messages, REQUEST.system)  # the same bytes
    async with httpx.AsyncClient(timeout=120, transport=transport) as client:
        async def call() -> object:
            response = await client.post(f"{url}/chat/completions", json=body)
            response.raise_for_status()
            return response.json()

        await drive(call, 20, concurrency)
        return await drive(call, calls, concurrency)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--in-process", action="store_true", help="run the fake server in this process")
    args = parser.parse_args(argv)
    with fake_server(args.in_process) as url:
        print(f"fake server {url}, {args.calls} calls per run, best of {args.repeats}")
        print(f"{'in flight':>9}  {'bare httpx/s':>12}  {'cassia/s':>9}  {'ratio':>6}  {'extra/call':>10}"
              f"  {'CPU/call bare':>13}  {'CPU/call cassia':>15}")
        for concurrency, transport in ((1, None), (8, None), (1, MOCK)):
            bare, cassia = (0.0, float("inf")), (0.0, float("inf"))
            for _ in range(args.repeats):  # alternate so drift hurts both sides alike
                b = asyncio.run(bare_rate(url, args.calls, concurrency, transport))
                c = asyncio.run(cassia_rate(url, args.calls, concurrency, transport))
                bare = (max(bare[0], b[0]), min(bare[1], b[1]))
                cassia = (max(cassia[0], c[0]), min(cassia[1], c[1]))
            extra_us = (1 / cassia[0] - 1 / bare[0]) * 1e6
            label = f"{concurrency}" if transport is None else f"{concurrency} (mock)"
            print(f"{label:>9}  {bare[0]:>12.0f}  {cassia[0]:>9.0f}  {cassia[0] / bare[0]:>6.2f}"
                  f"  {extra_us:>7.0f} us  {bare[1]:>10.0f} us  {cassia[1]:>12.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
