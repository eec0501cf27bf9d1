"""The results log (``results.jsonl``) and the small files of a run directory.

One :class:`~cassia.models.ClusterResult` per line, appended as each cluster finishes; the last
line for a cluster wins. A line cut short by a crash is set aside by :func:`repair_results`
(into ``results.jsonl.corrupt``), so the cluster it held simply runs again. Readers stream the
log by byte offsets, so a run of any size is read in little memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import InputError
from ..models import ClusterResult
from ..spelling import spell

__all__ = ["CORRUPT", "RESULTS", "finished_order", "iter_results", "missing_clusters", "now", "read_manifest",
           "read_results", "remove_temp_files", "repair_results", "slug", "write_atomic"]

RESULTS = "results.jsonl"
CORRUPT = "results.jsonl.corrupt"
TMP_SUFFIX = ".tmp"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def slug(cluster: str) -> str:
    """A filesystem-safe, stable name for a cluster; distinct raw names never collide."""
    readable = re.sub(r"[^a-z0-9]+", "-", str(cluster).lower()).strip("-")[:40] or "cluster"
    digest = hashlib.sha1(str(cluster).encode("utf-8")).hexdigest()[:6]
    return f"{readable}-{digest}"


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` in one step; the temp file is removed on every path out."""
    tmp = path.with_name(f".{path.name}{TMP_SUFFIX}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:  # only then is the temp file left (a replace consumes it): no unlink per write
        tmp.unlink(missing_ok=True)
        raise


def repair_results(run_dir: str | Path) -> list[str]:
    """Set aside unreadable lines of the results log; returns what was done, for the user.

    A torn last line (a crash mid-append) is cut off; unreadable lines elsewhere (older
    versions glued an append to a torn line) are moved out by rewriting the log atomically.
    Either way the bytes are appended to ``results.jsonl.corrupt``, never thrown away.
    """
    path = Path(run_dir) / RESULTS
    if not path.exists():
        return []
    bad: list[tuple[int, bytes]] = []
    size = 0
    with open(path, "rb") as handle:
        for line in iter(handle.readline, b""):
            try:  # a record cut short never parses: its closing brace is its last byte
                record = json.loads(line)
                readable = isinstance(record, dict) and "cluster" in record
            except ValueError:
                readable = False
            if not readable:
                bad.append((size, line))
            size += len(line)
    if not bad:
        return []
    with open(path.with_name(CORRUPT), "ab") as aside:
        for _, line in bad:
            aside.write(line if line.endswith(b"\n") else line + b"\n")
        aside.flush()
        os.fsync(aside.fileno())
    if len(bad) == 1 and bad[0][0] + len(bad[0][1]) == size:  # only the tail: cut it off
        with open(path, "r+b") as handle:
            handle.truncate(bad[0][0])
            os.fsync(handle.fileno())
    else:
        offsets = {offset for offset, _ in bad}
        tmp = path.with_name(f".{RESULTS}{TMP_SUFFIX}")
        try:
            with open(path, "rb") as src, open(tmp, "wb") as dst:
                offset = 0
                for line in iter(src.readline, b""):
                    if offset not in offsets:
                        dst.write(line)
                    offset += len(line)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return [f"{path}: {len(bad)} unreadable line(s) (a write cut short by a crash) moved to {CORRUPT}; "
            "the clusters they held are run again"]


def remove_temp_files(run_dir: str | Path) -> list[Path]:
    """Delete the ``.*.tmp`` files a killed write left in the run directory."""
    removed = []
    for tmp in Path(run_dir).rglob(f".*{TMP_SUFFIX}"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "manifest.json"
    if not path.exists():
        raise InputError(f"{run_dir} is not a CASSIA run directory (no manifest.json); pass the folder a run "
                         f"wrote ({spell('out_dir')})")
    return json.loads(path.read_text(encoding="utf-8"))


def _latest_lines(path: Path) -> dict[str, int]:
    """Byte offset of the last readable line of each cluster, in first-seen order.

    Only offsets are kept, so a run of any size is indexed in little memory.
    """
    offsets: dict[str, int] = {}
    with open(path, "rb") as handle:
        while True:
            offset = handle.tell()
            line = handle.readline()
            if not line:
                break
            try:
                cluster = json.loads(line)["cluster"]
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash: that cluster simply reruns
            offsets[str(cluster)] = offset
    return offsets


def finished_order(run_dir: str | Path) -> list[str]:
    """The clusters with a result, in the order they first finished."""
    path = Path(run_dir) / RESULTS
    return list(_latest_lines(path)) if path.exists() else []


def iter_results(run_dir: str | Path, clusters: Iterable[str] | None = None) -> Iterator[ClusterResult]:
    """Stream a run's results one cluster at a time (the last line per cluster wins).

    With ``clusters`` the results come in that order (a run's summary follows its input's
    cluster order, not the order clusters happened to finish); otherwise in first-seen order.
    """
    path = Path(run_dir) / RESULTS
    if not path.exists():
        return
    offsets = _latest_lines(path)
    order = offsets if clusters is None else [c for c in dict.fromkeys(str(c) for c in clusters) if c in offsets]
    with open(path, "rb") as handle:
        for cluster in order:
            handle.seek(offsets[cluster])
            try:
                yield ClusterResult.model_validate_json(handle.readline())
            except ValueError:
                continue


def read_results(run_dir: str | Path, clusters: Iterable[str] | None = None) -> list[ClusterResult]:
    """Results in first-seen order; the last line per cluster wins; a torn line is ignored."""
    return list(iter_results(run_dir, clusters))


def missing_clusters(run_dir: str | Path, clusters: Iterable[str]) -> list[str]:
    """The clusters of ``clusters`` without a readable result in the run's log, in order."""
    have = set(_latest_lines(Path(run_dir) / RESULTS)) if (Path(run_dir) / RESULTS).exists() else set()
    return [c for c in clusters if c not in have]
