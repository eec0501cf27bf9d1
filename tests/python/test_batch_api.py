"""Provider batch APIs: the fake server's emulation, batch-mode runs, partial failure, resume."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

import cassia
from cassia.providers import get_provider, pricing
from cassia.providers.batches import batch_client
from cassia.testing import FakeLLMServer
from cassia.workflows.batch_admin import batch_cancel, batch_status
from cassia.workflows.batch_journal import BatchJournal

ROOT = Path(__file__).resolve().parents[2]
FAST = {"poll_interval": 0.01}


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def markers(n: int) -> pd.DataFrame:
    genes = ["CD3D", "CD3E", "CD2", "IL7R", "MS4A1", "CD79A", "LYZ", "CD14", "GNLY", "NKG7"]
    return pd.DataFrame({"cluster": [f"c{i}" for i in range(n)],
                         "markers": [", ".join(genes[i % 5:] + genes[: i % 5]) for i in range(n)]})


def chat(text: str) -> dict:
    return {"model": "fake-model", "messages": [{"role": "user", "content": text}]}


def upload_and_create(server, lines: list[dict]) -> dict:
    content = "".join(json.dumps(line) + "\n" for line in lines)
    file = httpx.post(f"{server.url}/files", data={"purpose": "batch"},
                      files={"file": ("in.jsonl", content.encode(), "application/jsonl")}).json()
    return httpx.post(f"{server.url}/batches", json={"input_file_id": file["id"], "endpoint": "/v1/chat/completions",
                                                     "completion_window": "24h", "metadata": {"k": "v"}}).json()


def test_openai_batch_state_machine_output_and_error_files():
    clock = Clock()
    with FakeLLMServer() as server:
        fake = server.enable_batches(clock=clock, validating_s=10, processing_s=100, finalizing_s=10)
        fake.fail_next(1, "server_error")
        lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": chat(f"q{i}")}
                 for i in range(3)]
        batch = upload_and_create(server, lines)
        seen = [batch["status"]]
        for step in (20, 95, 10):
            clock.now += step
            seen.append(httpx.get(f"{server.url}/batches/{batch['id']}").json()["status"])
        assert seen == ["validating", "in_progress", "finalizing", "completed"]
        done = httpx.get(f"{server.url}/batches/{batch['id']}").json()
        assert done["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
        output = httpx.get(f"{server.url}/files/{done['output_file_id']}/content").text.splitlines()
        errors = httpx.get(f"{server.url}/files/{done['error_file_id']}/content").text.splitlines()
        bodies = {json.loads(x)["custom_id"]: json.loads(x)["response"] for x in output}
        assert set(bodies) == {"r1", "r2"} and bodies["r1"]["status_code"] == 200
        assert bodies["r1"]["body"]["object"] == "chat.completion"
        assert json.loads(errors[0])["custom_id"] == "r0" and json.loads(errors[0])["response"]["status_code"] == 500
        listed = httpx.get(f"{server.url}/batches", params={"limit": 10}).json()
        assert [b["id"] for b in listed["data"]] == [batch["id"]] and listed["data"][0]["metadata"] == {"k": "v"}


def test_openai_batch_expiry_and_validation_failure():
    clock = Clock()
    with FakeLLMServer() as server:
        server.enable_batches(clock=clock, validating_s=0, processing_s=100, expire_after_s=50)
        lines = [{"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": chat(f"q{i}")}
                 for i in range(4)]
        batch = upload_and_create(server, lines)
        clock.now += 60
        expired = httpx.get(f"{server.url}/batches/{batch['id']}").json()
        assert expired["status"] == "expired" and expired["request_counts"]["completed"] == 2
        errors = [json.loads(x) for x in
                  httpx.get(f"{server.url}/files/{expired['error_file_id']}/content").text.splitlines()]
        assert {e["error"]["code"] for e in errors} == {"batch_expired"} and len(errors) == 2
        bad = upload_and_create(server, [lines[0], lines[0]])  # duplicate custom_id
        clock.now += 1
        refused = httpx.get(f"{server.url}/batches/{bad['id']}").json()
        assert refused["status"] == "failed" and refused["errors"]["data"]


def test_anthropic_message_batch_results_and_cancel():
    clock = Clock()
    with FakeLLMServer() as server:
        server.enable_batches(clock=clock, processing_s=100)
        base = f"{server.anthropic_url}/v1/messages/batches"
        params = {"model": "claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
        created = httpx.post(base, json={"requests": [{"custom_id": f"a{i}", "params": params} for i in range(2)]}).json()
        assert created["processing_status"] == "in_progress" and created["results_url"] is None
        assert httpx.post(base, json={"requests": [{"custom_id": "bad id!", "params": params}]}).status_code == 400
        clock.now += 100
        ended = httpx.get(f"{base}/{created['id']}").json()
        assert ended["processing_status"] == "ended" and ended["request_counts"]["succeeded"] == 2
        results = [json.loads(x) for x in httpx.get(f"{server.anthropic_url}{ended['results_url']}").text.splitlines()]
        assert {r["result"]["type"] for r in results} == {"succeeded"}
        assert results[0]["result"]["message"]["type"] == "message"
        other = httpx.post(base, json={"requests": [{"custom_id": "c0", "params": params}]}).json()
        httpx.post(f"{base}/{other['id']}/cancel")
        clock.now += 20
        cancelled = httpx.get(f"{base}/{other['id']}").json()
        assert cancelled["processing_status"] == "ended" and cancelled["request_counts"]["canceled"] == 1


def live_calls(server) -> list:
    return [r for r in server.requests if r.path.rstrip("/").endswith(("/chat/completions", "/messages"))]


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
def test_batch_mode_run_sends_one_batch_per_step_and_no_live_call(tmp_path, vendor):
    with FakeLLMServer() as server:
        fake = server.enable_batches(time_scale=1e6)
        provider = (get_provider(server.url, "gpt-4o-mini") if vendor == "openai"
                    else get_provider("anthropic", "claude-haiku-4-5", base_url=server.anthropic_url))
        provider.local = False  # priced as the vendor would price it (a loopback server is free)
        result = cassia.run_batch(markers(6), provider=provider, out_dir=tmp_path / "run", use_cache=False,
                                  progress=False, tissue="blood", batch_api=FAST)
        assert [r.status for r in result.results] == ["ok"] * 6
        assert live_calls(server) == []
        steps = max(sum(s.calls for s in r.stages.values()) for r in result.results)
        assert fake.submitted == steps  # one batch per agent step, every cluster in it
        assert result.manifest["batch_api"]["batches"] == steps
        assert all(len(b.requests) == 6 for b in fake.batches.values())
    stage = result.results[0].stages["annotator"]
    full = pricing.cost_usd(stage.model, stage.usage)
    assert full > 0 and stage.cost_usd == pytest.approx(full / 2)  # batch price: half the list price


@pytest.mark.parametrize("retry", ["batch", "live"])
def test_partial_failures_are_retried_in_the_next_batch_or_live(tmp_path, retry):
    with FakeLLMServer() as server:
        fake = server.enable_batches(time_scale=1e6)
        fake.fail_next(1, "server_error")
        fake.expire_next(1)
        result = cassia.run_batch(markers(4), provider=get_provider(server.url, "gpt-4o-mini"),
                                  out_dir=tmp_path / "run", use_cache=False, progress=False,
                                  batch_api={**FAST, "retry": retry})
        assert [r.status for r in result.results] == ["ok"] * 4
        sizes = [len(b.requests) for b in fake.batches.values()]
        if retry == "live":
            assert len(live_calls(server)) == 2 and sizes[0] == 4
        else:
            assert live_calls(server) == [] and 2 in sizes[1:]  # the two failures went out together


def test_a_request_the_provider_rejects_fails_its_cluster_only(tmp_path):
    with FakeLLMServer() as server:
        fake = server.enable_batches(time_scale=1e6)
        fake.fail_next(1, "invalid_request")
        result = cassia.run_batch(markers(3), provider=get_provider(server.url, "gpt-4o-mini"),
                                  out_dir=tmp_path / "run", use_cache=False, progress=False, batch_api=FAST)
        statuses = sorted(r.status for r in result.results)
        assert statuses == ["failed", "ok", "ok"]
        assert "in a batch" in next(r.error for r in result.results if r.status == "failed")


def test_cache_hits_never_go_into_a_batch(tmp_path):
    with FakeLLMServer() as server:
        fake = server.enable_batches(time_scale=1e6)
        provider = dict(provider=server.url, model="gpt-4o-mini")  # built by the run: behind the cache
        cache = tmp_path / "cache.sqlite"
        cassia.run_batch(markers(3), **provider, out_dir=tmp_path / "a", cache_path=cache,
                         progress=False, batch_api=FAST)
        first = fake.submitted
        again = cassia.run_batch(markers(3), **provider, out_dir=tmp_path / "b", cache_path=cache,
                                 progress=False, batch_api=FAST)
        assert [r.status for r in again.results] == ["ok"] * 3 and fake.submitted == first


def test_resume_adopts_a_batch_whose_submission_was_cut_off(tmp_path):
    """Killed between creating a batch and saving its id: resume finds it, never submits it again."""
    with FakeLLMServer() as server:
        fake = server.enable_batches(time_scale=1e6)
        provider = get_provider(server.url, "gpt-4o-mini")
        cassia.run_batch(markers(3), provider=provider, out_dir=tmp_path / "ref", use_cache=False,
                         progress=False, batch_api=FAST)
        complete = fake.submitted
        ref = BatchJournal(tmp_path / "ref").records["b0001"]  # the first step, as a killed run left it:
        run = tmp_path / "run"
        record = BatchJournal(run).create(ref.provider, ref.requests)  # journaled,
        asyncio.run(batch_client(provider).submit(fake.batches[ref.batch_id].requests, record.tag))  # sent, no id
        before = fake.submitted
        result = cassia.run_batch(markers(3), provider=provider, out_dir=run, use_cache=False, progress=False,
                                  resume=True, batch_api=FAST)
        assert [r.status for r in result.results] == ["ok"] * 3
        assert fake.submitted - before == complete - 1  # every step but the adopted first one
        assert BatchJournal(run).records["b0001"].batch_id is not None


def _journal_events(run: Path) -> list[dict]:
    path = run / "batches" / "journal.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _submitted_bodies(url: str, batches: list[dict]) -> list[str]:
    """Every request body the server was sent in a batch, one entry per submission (from the input files)."""
    bodies = []
    for batch in batches:
        content = httpx.get(f"{url}/files/{batch['input_file_id']}/content").text
        bodies += [json.dumps(json.loads(line)["body"], sort_keys=True) for line in content.splitlines() if line.strip()]
    return bodies


@pytest.mark.parametrize("kill_after", [("create", 1), ("submitted", 1), ("ended", 1)],
                         ids=["step-journaled", "mid-batch", "between-steps"])
def test_sigkill_then_resume_polls_without_resubmitting(tmp_path, kill_after):
    """SIGKILL while the first step is being created/sent, while it runs, or once it ended: resume
    finishes the run and no request ever reaches the provider twice."""
    event, count = kill_after
    server = subprocess.Popen([sys.executable, "-m", "cassia.testing.fake_server", "--port", "0",
                               "--batch-time-scale", "200"], stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        table = tmp_path / "markers.csv"
        markers(5).to_csv(table, index=False)
        run = tmp_path / "run"
        command = [str(ROOT / ".venv" / "bin" / "cassia"), "--quiet", "annotate", "--input", str(table),
                   "--provider", url, "--model", "gpt-4o-mini", "--out", str(run), "--no-cache",
                   "--batch-api", "--batch-poll", "0.05"]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
        first = subprocess.Popen(command, env=env)
        deadline = time.time() + 120
        while sum(e["event"] == event for e in _journal_events(run)) < count and time.time() < deadline:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)  # a batch takes 3 s here: the run is mid-step or between steps
        first.wait()
        assert first.returncode == -signal.SIGKILL  # killed, not finished
        assert any(e["event"] == event for e in _journal_events(run))
        done = subprocess.run(command + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        listed = httpx.get(f"{url}/batches", params={"limit": 100}).json()["data"]
        journal = BatchJournal(run)
        ids = [r.batch_id for r in journal.records.values() if r.batch_id]
        assert sorted(b["id"] for b in listed) == sorted(ids) and len(set(ids)) == len(ids)
        bodies = _submitted_bodies(url, listed)
        assert bodies and len(bodies) == len(set(bodies))  # zero duplicate submissions
        summary = pd.read_csv(run / "summary.csv")
        assert (summary["Status"] == "ok").all() and len(summary) == 5
        status = subprocess.run([str(ROOT / ".venv" / "bin" / "cassia"), "batch", "status", str(run), "--json"],
                                env=env, capture_output=True, text=True, timeout=60)
        rows = json.loads(status.stdout)
        assert [r["id"] for r in rows] == [r.batch_id for r in journal.records.values()]
        assert {r["state"] for r in rows if r["id"]} == {"completed"}
        assert {r["state"] for r in rows if not r["id"]} <= {"never submitted"}  # killed before its submission
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_batch_cancel_cancels_open_batches(tmp_path):
    with FakeLLMServer() as server:
        fake = server.enable_batches(time_scale=1e-3)  # batches that never finish in a test
        provider = get_provider(server.url, "gpt-4o-mini")
        run = tmp_path / "run"
        journal = BatchJournal(run)
        record = journal.create(provider.config.public(), [("r000000", "h")])
        batch_id = asyncio.run(batch_client(provider).submit(
            [("r000000", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})], record.tag))
        journal.submitted(record, batch_id)
        assert [r["state"] for r in batch_status(run)] == ["validating"]
        rows = batch_cancel(run)
        assert rows[0]["id"] == batch_id and rows[0]["state"] == "cancelling"
        assert fake.batches[batch_id].cancel_at is not None
