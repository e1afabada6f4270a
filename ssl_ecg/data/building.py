"""A cache folder under construction: ``<folder>.partial``, resumable.

Each finished record is appended to the signal shards and then to ``journal.jsonl`` (one JSON
line: where its samples are and what the index needs). A prepare that is killed leaves the
partial folder behind; the next prepare of the same cache (same content hash, so the same
source files and settings) replays the journal, cuts the shards back to what the journal
vouches for and continues with the next record instead of starting over. A ``lock`` file with
the builder's pid keeps two live prepares out of the same folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ssl_ecg.data.preprocess import Processed
from ssl_ecg.errors import DataError
from ssl_ecg.outputs import pid_alive

SHARD_BYTES = 1 << 30
JOURNAL = "journal.jsonl"


def entry_of(key: str, result: Processed, shard: int, offset: int) -> dict[str, Any]:
    """The journal line of a stored record: its index fields and its beats (JSON-ready)."""
    return {
        "key": key, "record_id": result.record_id, "patient_id": result.patient_id,
        "source": result.source, "source_fs": result.source_fs, "shard": shard,
        "offset": offset, "n_samples": int(result.signal.shape[0]),
        "present": result.present.tolist(), "flat_leads": result.flat_leads,
        "labels": result.labels, "fingerprint": result.fingerprint,
        "rpeaks": result.rpeaks.tolist(), "beats": result.beats.tolist(),
        "beat_labels": result.beat_labels or [""] * int(result.beats.size),
    }  # fmt: skip


class ShardWriter:
    """Appends (T, C) arrays to raw shard files, starting a new shard past ``SHARD_BYTES``."""

    def __init__(self, folder: Path, sizes: list[int] | None = None) -> None:
        self.folder = folder
        self.sizes: list[int] = list(sizes or [])  # samples per shard
        self.file: Any = None
        if self.sizes:  # resuming: append to the last shard
            self.file = self._path(len(self.sizes) - 1).open("ab")

    def _path(self, shard: int) -> Path:
        return self.folder / f"signal_{shard:04d}.bin"

    def write(self, arr: np.ndarray) -> tuple[int, int]:
        """Append ``arr`` (T, C); returns (shard, offset in samples)."""
        if self.file is None or self.sizes[-1] * arr.shape[1] * arr.itemsize >= SHARD_BYTES:
            if self.file is not None:
                self.file.close()
            self.file = self._path(len(self.sizes)).open("wb")
            self.sizes.append(0)
        offset = self.sizes[-1]
        self.file.write(np.ascontiguousarray(arr).tobytes())
        self.file.flush()  # the journal line written next vouches for these bytes
        self.sizes[-1] += arr.shape[0]
        return len(self.sizes) - 1, offset

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class Collected:
    """What a cache holds besides the signal shards, gathered record by record."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.rpeaks: list[np.ndarray] = []
        self.beats: list[np.ndarray] = []
        self.beat_labels: list[str] = []
        self.base = 0  # global sample index of the next record

    def add(self, entry: dict[str, Any]) -> None:
        """Add a journal entry (see :func:`entry_of`)."""
        n = entry["n_samples"]
        keep = ("record_id", "patient_id", "source", "source_fs", "shard", "offset")
        self.records.append({
            **{k: entry[k] for k in keep}, "start": self.base, "n_samples": n,
            "present": entry["present"], "flat_leads": entry["flat_leads"],
            "labels": entry["labels"], "fingerprint": entry["fingerprint"],
            "n_rpeaks": len(entry["rpeaks"]), "n_beats": len(entry["beats"]),
        })  # fmt: skip
        self.rpeaks.append(np.asarray(entry["rpeaks"], dtype=np.int64) + self.base)
        self.beats.append(np.asarray(entry["beats"], dtype=np.int64) + self.base)
        self.beat_labels.extend(entry["beat_labels"])
        self.base += n

    def save(self, tmp: Path) -> None:
        """rpeaks.npy, beats.npy, beat_labels.npy, records.json and index.npz into ``tmp``."""
        records = self.records
        np.save(tmp / "rpeaks.npy", np.concatenate(self.rpeaks).astype(np.int64))
        np.save(tmp / "beats.npy", np.concatenate(self.beats).astype(np.int64))
        np.save(tmp / "beat_labels.npy", np.asarray(self.beat_labels, dtype=str))
        (tmp / "records.json").write_text(json.dumps(records))
        np.savez(
            tmp / "index.npz",
            start=np.array([r["start"] for r in records], dtype=np.int64),
            n_samples=np.array([r["n_samples"] for r in records], dtype=np.int64),
            shard=np.array([r["shard"] for r in records], dtype=np.int32),
            present=np.array([r["present"] for r in records], dtype=bool),
            record_id=np.array([r["record_id"] for r in records], dtype=str),
            patient_id=np.array([r["patient_id"] for r in records], dtype=str),
        )


class Partial:
    """``<folder>.partial``: shards, collected index and journal of a cache being built."""

    def __init__(self, folder: Path, row_bytes: int) -> None:
        self.path = folder.with_name(f"{folder.name}.partial")
        self.row_bytes = row_bytes  # bytes of one (C,) sample row in the cache dtype
        self.got = Collected()
        self.skipped: list[dict[str, str]] = []
        self.done = 0  # keys finished (stored or skipped), in order
        self.writer: ShardWriter
        self.journal: Any = None

    def open(self, keys: list[str]) -> int:
        """Lock the folder, replay what an earlier prepare finished; the number of ``keys``
        already done (0 for a fresh build)."""
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        entries = self._replay(keys)
        sizes: list[int] = []
        for e in entries:
            if "reason" in e:
                self.skipped.append({"record": e["key"], "reason": e["reason"]})
                continue
            self.got.add(e)
            sizes += [0] * (e["shard"] + 1 - len(sizes))
            sizes[e["shard"]] = max(sizes[e["shard"]], e["offset"] + e["n_samples"])
        self._cut_shards(sizes)
        self.writer = ShardWriter(self.path, sizes)
        self.done = len(entries)
        self.journal = (self.path / JOURNAL).open("a", encoding="utf-8")
        return self.done

    def _lock(self) -> None:
        lock = self.path / "lock"
        try:
            pid = int(lock.read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None and pid != os.getpid() and pid_alive(pid):
            raise DataError(
                f"{self.path}: another prepare (pid {pid}) is building this cache; wait for it "
                "to finish, or stop it and run again to continue where it stopped"
            )
        lock.write_text(str(os.getpid()))

    def _replay(self, keys: list[str]) -> list[dict[str, Any]]:
        """The journal's complete lines, if they are a prefix of ``keys`` (else start over)."""
        file = self.path / JOURNAL
        if not file.is_file():
            return []
        entries = []
        for line in file.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                break  # the line being written when the prepare was killed
        if [e.get("key") for e in entries] != keys[: len(entries)]:
            entries = []  # the records changed order: nothing to continue from
        file.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
        return entries

    def _cut_shards(self, sizes: list[int]) -> None:
        """Drop the bytes (and shards) written after the journal's last line."""
        for shard in sorted(self.path.glob("signal_*.bin")):
            index = int(shard.stem.split("_")[1])
            if index >= len(sizes):
                shard.unlink()
            else:
                with shard.open("r+b") as f:
                    f.truncate(sizes[index] * self.row_bytes)

    def store(self, key: str, result: Processed) -> None:
        """Append a record's samples, then its journal line."""
        entry = entry_of(key, result, *self.writer.write(result.signal))
        self.got.add(entry)
        self._log(entry)

    def skip(self, key: str, reason: str) -> None:
        self.skipped.append({"record": key, "reason": reason})
        self._log({"key": key, "reason": reason})

    def _log(self, entry: dict[str, Any]) -> None:
        self.journal.write(json.dumps(entry) + "\n")
        self.journal.flush()
        self.done += 1

    def close(self) -> None:
        self.writer.close()
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def finish(self, folder: Path) -> None:
        """Rename the complete cache into place (keep another process's if it won)."""
        self.close()
        for name in (JOURNAL, "lock"):
            (self.path / name).unlink(missing_ok=True)
        try:
            self.path.rename(folder)
        except OSError:
            shutil.rmtree(self.path, ignore_errors=True)

    def discard(self) -> None:
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)
