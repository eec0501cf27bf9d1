"""The run directory's writer thread (store/journal.py) and the cluster pages written as a run goes."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from pathlib import Path

import pytest

import cassia
from cassia.models import ClusterResult
from cassia.report import PageStream, render_report
from cassia.store import RunStore, read_results
from cassia.store import journal as journal_module

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "markers"
LARGE_INTESTINE = DATA / "large_intestine_findallmarkers.csv"


def _result(cluster: str) -> ClusterResult:
    return ClusterResult(cluster=cluster, status="failed", markers=["CD3E"], error="test")


def test_a_result_is_durable_only_after_the_transcripts_handed_in_before_it(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "run")
    seen_at_append: list[int] = []
    real = journal_module.Journal._append_lines

    def watch(self, lines):  # what the transcripts folder holds when the log line is written
        seen_at_append.append(len(list((tmp_path / "run" / "transcripts").rglob("*.json"))))
        return real(self, lines)

    monkeypatch.setattr(journal_module.Journal, "_append_lines", watch)
    paths = [store.transcript("c1", "annotator", {"n": n}) for n in range(20)]
    store.append(_result("c1"))
    assert seen_at_append == [20]
    assert [p.name for p in paths[:2]] == ["01-annotator.json", "02-annotator.json"]
    assert json.loads(paths[-1].read_text())["n"] == 19
    assert [r.cluster for r in read_results(tmp_path / "run")] == ["c1"]
    store.close()


def test_results_handed_in_together_share_one_fsync_in_their_order(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "run")
    writes: list[int] = []
    real = journal_module.Journal._append_lines
    gate = threading.Event()

    def slow(self, lines):
        gate.wait(5)  # the first write waits, so the next results queue up behind it
        writes.append(len(lines))
        return real(self, lines)

    monkeypatch.setattr(journal_module.Journal, "_append_lines", slow)

    async def many():
        tasks = [asyncio.create_task(store.append_async(_result(f"c{n}"))) for n in range(30)]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(many())
    assert sum(writes) == 30 and len(writes) < 30
    assert [r.cluster for r in read_results(tmp_path / "run")] == [f"c{n}" for n in range(30)]
    store.close()


def test_a_failed_transcript_write_fails_the_results_after_it(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "run")

    def refuse(path, text):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal_module, "write_atomic", refuse)
    store.transcript("c1", "annotator", {"n": 1})
    with pytest.raises(OSError, match="No space left"):
        store.append(_result("c1"))
    with pytest.raises(OSError, match="No space left"):  # and every one after: the run stops, nothing half-logged
        asyncio.run(store.append_async(_result("c2")))
    assert read_results(tmp_path / "run") == []
    store.close()


def test_the_writer_thread_ends_when_idle_and_pending_work_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "MAX_PENDING", 4)
    store = RunStore(tmp_path / "run")
    assert store._journal._room._value == 4
    release = threading.Event()
    real = journal_module.write_atomic
    monkeypatch.setattr(journal_module, "write_atomic", lambda path, text: (release.wait(5), real(path, text)))
    done = threading.Event()

    def producer():
        for n in range(12):
            store.transcript("c1", "annotator", {"n": n})
        done.set()

    threading.Thread(target=producer).start()
    assert not done.wait(0.3)  # held back: at most 4 items wait for the stalled writer
    release.set()
    assert done.wait(5)
    store.flush()
    assert len(list((tmp_path / "run" / "transcripts").rglob("*.json"))) == 12
    thread = store._journal._thread
    if thread is not None:  # it may still be closing its last batch
        thread.join(5)
    assert store._journal._thread is None
    store.close()


def _pages(run: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((run / "clusters").glob("*.html"))}


def test_pages_written_during_the_run_are_the_pages_the_report_writes(tmp_path):
    run = tmp_path / "run"
    cassia.run_pipeline(LARGE_INTESTINE, tissue="large intestine", provider="offline", out_dir=run, progress=False)
    streamed = _pages(run)
    shutil.rmtree(run / "clusters")
    render_report(run)
    assert streamed and streamed == _pages(run)


def test_a_page_whose_neighbour_has_no_result_is_written_again(tmp_path):
    run = tmp_path / "run"
    store = RunStore(run)
    pages = PageStream(run, ["1", "2", "3"], 75)
    store.listeners.append(pages)
    for cluster in ("1", "3"):  # "2" never answers (a stopped run)
        store.append(_result(cluster))
    store.flush()
    early = _pages(run)
    assert len(early) == 2 and all('rel="next"' in text or 'rel="prev"' in text for text in early.values())
    assert any("Next: 2" in text for text in early.values())  # linked the neighbour the input had
    render_report(run, manifest={"score_threshold": 75}, pages=pages)
    final = _pages(run)
    assert not any("Next: 2" in text or "Previous: 2" in text for text in final.values())
    assert any("Next: 3" in text for text in final.values())
    store.close()
