"""Where ssl-ecg writes: output folders checked before any work, a run directory owned by one
process at a time, and stale temporary files cleared."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from ssl_ecg.errors import SslEcgError


def output_dir(path: Path, what: str) -> Path:
    """Make sure ``path`` is (or can become) a writable folder, before any work is done.

    ``what`` names the option for the message, e.g. "--run-dir"."""
    if path.exists() and not path.is_dir():
        raise SslEcgError(f"{what} {path}: exists and is not a folder; give a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".ssl-ecg-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SslEcgError(
            f"{what} {path}: cannot write there ({reason}); choose a folder you can write to"
        ) from None
    return path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold an OS lock on ``run_dir`` for as long as a run writes into it; a second process
    is refused with the first one's pid. The lock goes with the process (even on kill -9)."""
    import fcntl

    path = run_dir / ".lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        handle.seek(0)
        other = handle.read().strip() or "?"
        handle.close()
        raise SslEcgError(
            f"{run_dir}: another ssl-ecg process (pid {other}) is writing to this run directory; "
            "wait for it to finish or use another --run-dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        handle.close()


def remove_stale(folder: Path, pattern: str) -> list[Path]:
    """Delete leftovers of killed writers matching ``pattern`` (names ending in ``-<pid>``)
    whose process is gone; returns what was removed."""
    import shutil

    removed = []
    for path in folder.glob(pattern):
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and pid_alive(int(pid)) and int(pid) != os.getpid():
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write a file so that a kill at any moment leaves either the old file or the new one
    (a synced temporary file renamed into place), never half of it."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
