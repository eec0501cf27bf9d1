"""One writer per run directory: an OS-level lock with the holder's pid and start time.

The lock is ``fcntl.flock`` on ``DIR/.cassia.lock``: the kernel drops it when the holding
process dies, however it dies, so a lock left behind by a killed run is taken over by the next
one (with a note naming the dead holder). The file's content (pid, host, start time, command)
is only for the message a second process gets. Within one process, opening the same directory
again shares the lock (the pipeline, boost and scoring steps of one run reopen their store).
Where ``flock`` is missing or refused (Windows, some network file systems), a holder's pid is
checked for life instead.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..errors import InputError
from ..spelling import spell

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "RunLock", "RunLockedError", "acquire"]

LOCK_NAME = ".cassia.lock"
_held: dict[str, "RunLock"] = {}  # real path -> this process's lock on it
_guard = threading.Lock()


class RunLockedError(InputError):
    """Another live process is writing the run directory."""


@dataclass
class RunLock:
    path: Path
    fd: int
    users: int = 1
    took_over: dict | None = None  # the dead holder's record, when a stale lock was taken over

    def release(self) -> None:
        with _guard:
            self.users -= 1
            if self.users > 0:
                return
            _held.pop(str(self.path), None)
            try:
                os.ftruncate(self.fd, 0)  # no stale holder record for the next reader
            except OSError:
                pass
            os.close(self.fd)  # closing drops the flock


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        holder = json.loads(data.decode("utf-8")) if data.strip() else {}
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "another process (no holder details recorded)"
    host = holder.get("host")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return (f"process {holder.get('pid', '?')}{where}, started {holder.get('started', '?')} "
            f"({holder.get('command', '?')})")


def _try_flock(fd: int) -> bool | None:
    """True locked, False held elsewhere, None when this file system cannot lock."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError:  # ENOLCK / EOPNOTSUPP: no flock here
        return None


def acquire(run_dir: Path) -> RunLock:
    """Lock ``run_dir`` for this process, or raise :class:`RunLockedError` naming the holder."""
    path = (Path(run_dir) / LOCK_NAME).resolve()
    with _guard:
        mine = _held.get(str(path))
        if mine is not None:
            mine.users += 1
            return mine
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            holder = _read_holder(fd)
            locked = _try_flock(fd)
            if locked is None:  # no OS lock: trust the record if its process still lives
                pid = holder.get("pid")
                same_host = holder.get("host") in (None, socket.gethostname())
                locked = not (isinstance(pid, int) and pid != os.getpid() and same_host and _alive(pid))
            if not locked:
                raise RunLockedError(
                    f"{run_dir} is being written by {_describe(holder)}; wait for it to finish, or pass "
                    f"another output folder ({spell('out_dir')}). Only one process may write a run at a time"
                )
            record = {"pid": os.getpid(), "host": socket.gethostname(),
                      "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      "command": " ".join(Path(sys.argv[0]).name.split()[:1]) or "python"}
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(record).encode("utf-8"))
        except BaseException:
            os.close(fd)
            raise
        lock = RunLock(path=path, fd=fd, took_over=holder or None)
        _held[str(path)] = lock
        return lock
